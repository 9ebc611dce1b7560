"""``decompose`` rules for ``conv2d`` (im2col, read as an implicit GEMM) and the pools (slices combined).

conv2d, NCHW input ``[N, C, H, W]``, weight ``[O, C/g, KH, KW]``, output ``[N, O, OH, OW]``:

1. ``pad`` the input with zeros (in its storage format: exact).
2. For each kernel offset (kh, kw), in that order, a strided ``slice`` of the padded input along
   H and W (start ``kh*dilation``, step ``stride``) gives ``[N, C, OH, OW]``, viewed as
   ``[N, g, C/g, OH*OW]``.
3. ``concat`` of the slices along the channel axis gives the im2col matrix ``[N*g, K, OH*OW]``
   with K = KH*KW*C/g in the order (kh, kw, input channel); the weight, permuted to
   ``[O, KH, KW, C/g]`` and reshaped to ``[g, O/g, K]`` (constant: folded), is broadcast over
   the batch (a view).
4. One ``matmul`` ``[N*g, O/g, K] @ [N*g, K, OH*OW]`` whose fp32 accumulator runs over K
   sequentially (the matrix unit's order), reshaped to ``[N, O, OH, OW]``: the output is NCHW
   with no transpose. The bias is added in fp32, then one convert to the storage format.

The slices, reshapes and concat are no kernels: ``fuse-windows`` makes them the matmul's
operand window (:mod:`d1c.codegen.windows`), so the matmul reads the padded input directly and
no im2col tensor is materialised (implicit GEMM, docs/lowering.md §2).

So the accumulation is one matmul over the concatenated K, not fp32 adds of per-offset matmuls:
the same sequential fp32 sum in the order (kh, kw, c). The interpreter's composite ``conv2d``
sums in the order (c, kh, kw), so the decomposed module is a new reference: equal to the graph
up to fp32 rounding (bit-identical when only one of C/g, KH*KW is above 1, e.g. 1x1 convs).

Pools: the input is padded (``-inf`` for max, 0 for avg; on the bottom/right as far as ceil-mode
windows reach), and each kernel offset (kh, kw) is a strided slice ``[N, C, OH, OW]``; they are
combined in the order (kh, kw) — the interpreter's order, so pools are bit-identical:
``max_pool2d`` by ``maximum`` in the input's format (exact); ``avg_pool2d`` in fp32 as
``((+0 + s0) + s1) + ...`` (the sequential sum from +0) divided by torch's divisor (a scalar
``full`` when every window has the same one, else an ``[OH, OW]`` constant).
``adaptive_avg_pool2d`` with windows that tile the input evenly is a reshape, permute and one
last-dim ``reduce_sum`` over each window (row-major), divided by the window size; uneven windows
are summed one output cell at a time and concatenated.
"""

from __future__ import annotations

import math

import numpy as np

from d1c.ir import FP32, Op, TensorType, Value
from d1c.passes.decompose_emit import Emitter

F32 = np.float32


def conv2d(op: Op, e: Emitter) -> Value:
    x, w = op.operands[:2]
    n, _, _, _ = x.type.shape
    o, cg, kh, kw = w.type.shape
    out = op.result.type
    oh, ow = out.shape[2:]
    g, (sh, sw), (ph, pw), (dh, dw) = (
        op.attrs[k] for k in ("groups", "stride", "padding", "dilation")
    )
    xp = e.pad(x, (0, 0, 0, 0, ph, ph, pw, pw), 0.0)
    pieces = []
    for i in range(kh):
        rows = e.slice(xp, 2, i * dh, oh, sh)
        for j in range(kw):
            pieces.append(e.reshape(e.slice(rows, 3, j * dw, ow, sw), (n, g, cg, oh * ow)))
    k = kh * kw * cg
    cols = e.reshape(e.concat(pieces, 2), (n * g, k, oh * ow))
    wm = e.reshape(e.permute(w, (0, 2, 3, 1)), (1, g, o // g, k))
    wm = e.reshape(e.broadcast(wm, (n, g, o // g, k)), (n * g, o // g, k))
    y = e.reshape(e.matmul(wm, cols), out.shape)
    if len(op.operands) == 3:
        y = e.op("add", [y, e.reshape(e.f32(op.operands[2]), (1, o, 1, 1))])
    return e.cast(y, out.elem)


def _padded(e: Emitter, op: Op, x: Value, dilation: tuple[int, int], fill: float) -> Value:
    """``x`` padded as the pool's windows need (bottom/right extended for ceil mode)."""
    h, w = x.type.shape[2:]
    oh, ow = op.result.type.shape[2:]
    (kh, kw), (sh, sw), (ph, pw) = op.attrs["kernel"], op.attrs["stride"], op.attrs["padding"]
    bottom = max(ph, (oh - 1) * sh + dilation[0] * (kh - 1) + 1 - h - ph)
    right = max(pw, (ow - 1) * sw + dilation[1] * (kw - 1) + 1 - w - pw)
    return e.pad(x, (0, 0, 0, 0, ph, bottom, pw, right), fill)


def _windows(e: Emitter, op: Op, xp: Value, dilation: tuple[int, int]) -> list[Value]:
    """The strided slices of the padded input, one per kernel offset, in (kh, kw) order."""
    oh, ow = op.result.type.shape[2:]
    (kh, kw), (sh, sw) = op.attrs["kernel"], op.attrs["stride"]
    out = []
    for i in range(kh):
        rows = e.slice(xp, 2, i * dilation[0], oh, sh)
        out += [e.slice(rows, 3, j * dilation[1], ow, sw) for j in range(kw)]
    return out


def _lowest(elem_host: type) -> float:
    dtype = np.dtype(elem_host)
    if dtype.kind == "f":
        return float("-inf")
    return 0.0 if dtype.kind == "b" else float(np.iinfo(dtype).min)


def max_pool2d(op: Op, e: Emitter) -> Value:
    x = op.operands[0]
    dilation = op.attrs["dilation"]
    xp = _padded(e, op, x, dilation, _lowest(x.type.elem.host_dtype))
    acc = None
    for s in _windows(e, op, xp, dilation):
        acc = s if acc is None else e.op("maximum", [acc, s])
    return acc


def pool_divisors(op: Op) -> np.ndarray:
    """torch's avg_pool2d divisor of each output position, ``[OH, OW]`` float32."""
    out_hw = op.result.type.shape[2:]
    if op.attrs["divisor"]:
        return np.full(out_hw, F32(op.attrs["divisor"]))
    sizes = []
    for axis in (0, 1):
        size, k = op.operands[0].type.shape[2 + axis], op.attrs["kernel"][axis]
        s, p = op.attrs["stride"][axis], op.attrs["padding"][axis]
        start = np.arange(out_hw[axis]) * s - p
        end = np.minimum(start + k, size + p)
        if op.attrs["count_include_pad"]:
            sizes.append(end - start)
        else:
            sizes.append(np.minimum(end, size) - np.maximum(start, 0))
    return np.outer(sizes[0], sizes[1]).astype(F32)


def avg_pool2d(op: Op, e: Emitter) -> Value:
    x = e.f32(op.operands[0])
    xp = _padded(e, op, x, (1, 1), 0.0)
    acc = e.full(0.0)
    for s in _windows(e, op, xp, (1, 1)):
        acc = e.op("add", [acc, s])
    div = pool_divisors(op)
    if np.all(div == div.flat[0]):
        divisor = e.full(float(div.flat[0]))
    else:
        divisor = e.const("pool_divisor", div, TensorType(div.shape, FP32))
    return e.cast(e.op("div", [acc, divisor]), op.result.type.elem)


def adaptive_avg_pool2d(op: Op, e: Emitter) -> Value:
    x = e.f32(op.operands[0])
    n, c, h, w = x.type.shape
    oh, ow = op.result.type.shape[2:]
    if h % oh == 0 and w % ow == 0:
        kh, kw = h // oh, w // ow
        y = e.permute(e.reshape(x, (n, c, oh, kh, ow, kw)), (0, 1, 2, 4, 3, 5))
        s = e.reduce_last(e.reshape(y, (n, c, oh, ow, kh * kw)), "reduce_sum")
        y = e.op("div", [e.reshape(s, (n, c, oh, ow)), e.full(kh * kw)])
    else:
        y = e.concat([_adaptive_row(e, x, i, (oh, ow)) for i in range(oh)], 2)
    return e.cast(y, op.result.type.elem)


def _adaptive_row(e: Emitter, x: Value, i: int, out_hw: tuple[int, int]) -> Value:
    """Output row ``i`` ``[N, C, 1, OW]``: each cell a last-dim sum divided by its size."""
    n, c, h, w = x.type.shape
    oh, ow = out_hw
    h0, h1 = i * h // oh, -(-(i + 1) * h // oh)
    rows = e.slice(x, 2, h0, h1 - h0)
    cells = []
    for j in range(ow):
        w0, w1 = j * w // ow, -(-(j + 1) * w // ow)
        cell = e.reshape(e.slice(rows, 3, w0, w1 - w0), (n, c, (h1 - h0) * (w1 - w0)))
        count = math.prod(cell.type.shape[2:])
        cells.append(e.op("div", [e.reduce_last(cell, "reduce_sum"), e.full(count)]))
    return e.reshape(e.concat(cells, 2), (n, c, 1, ow))
