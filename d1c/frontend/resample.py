"""Lowerings of padding, resampling and reordering views: ``constant_pad_nd``, ``flip``,
``diagonal``, nearest and bilinear ``interpolate`` (``upsample_*.vec``).

``constant_pad_nd`` is the IR ``pad`` (negative amounts crop first, with ``slice``); reflect and
replicate padding export as ``index.Tensor`` with constant indices (d1c/frontend/indexing.py).

Each is a row gather (``index_select``, hence ``embedding``) along one dim with an index vector
built from ``iota`` by fp32/integer arithmetic that folds to a constant at compile time, so the
device only moves data (bilinear adds the four weighted neighbours):

- ``flip(x, dims)``: index ``n - 1 - i`` along each flipped dim;
- ``diagonal(x, offset, d1, d2)``: d1 and d2 moved last and flattened, then the flat indices
  ``(i + r0) * n2 + i + c0`` (``r0 = max(-offset, 0)``, ``c0 = max(offset, 0)``);
- nearest: source ``min(floor(i * scale), n_in - 1)`` in fp32 with torch's ``scale``
  (``1/scale_factor`` when given, else ``n_in / n_out``), per spatial dim;
- bilinear: per spatial dim the source ``s = max(scale * (i + 0.5) - 0.5, 0)`` (or
  ``scale * i`` with ``align_corners``, scale ``(n_in - 1)/(n_out - 1)``), ``i0 = floor(s)``,
  ``i1 = i0 + (i0 < n_in - 1)``, ``l1 = s - i0``, ``l0 = 1 - l1``, all fp32 as torch's CPU
  kernel; along W then H: ``h0l * (w0l * x00 + w1l * x01) + h1l * (w0l * x10 + w1l * x11)``,
  torch's order of operations.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np

from d1c.frontend.common import (
    Ctx,
    Unavailable,
    Unsupported,
    aten,
    norm_dim,
    norm_dims,
    pair,
    register_lowering,
)
from d1c.frontend.indexing import index_select
from d1c.ir import FP32, I64, TensorType, Value

F32 = np.float32


def _iota(ctx: Ctx, n: int, elem=I64) -> Value:
    return ctx.emit("iota", [], {"dim": 0}, TensorType((n,), elem))


def _affine(ctx: Ctx, n: int, scale: float, shift: int) -> Value:
    """The i64 vector ``i * scale + shift``, i < n (folds to a constant)."""
    v = ctx.emit("mul", [_iota(ctx, n), ctx.full(scale, I64)])
    return ctx.emit("add", [v, ctx.full(shift, I64)]) if shift else v


@register_lowering(aten.constant_pad_nd.default)
def _constant_pad(ctx: Ctx, x: Value, pad: Sequence[int], value: float = 0.0) -> Value:
    """``pad`` = (lo, hi) pairs from the last dim backwards; negative amounts crop."""
    rank = x.type.rank
    if len(pad) % 2 or len(pad) // 2 > rank:
        raise Unsupported(f"constant_pad_nd with {len(pad)} pad amounts for rank {rank}")
    pads = [0] * (2 * rank)
    for k in range(len(pad) // 2):
        d = rank - 1 - k
        lo, hi = pad[2 * k], pad[2 * k + 1]
        n = x.type.shape[d]
        if lo < 0 or hi < 0:
            start, end = max(-lo, 0), n - max(-hi, 0)
            if end <= start:
                raise Unsupported(f"constant_pad_nd crops dim {d} of size {n} to nothing")
            x = ctx.emit("slice", [x], {"dim": d, "start": start, "end": end, "step": 1})
        pads[2 * d], pads[2 * d + 1] = max(lo, 0), max(hi, 0)
    if not any(pads):
        return x
    return ctx.emit("pad", [x], {"pads": pads, "value": float(value)})


@register_lowering(aten.flip.default)
def _flip(ctx: Ctx, x: Value, dims: Sequence[int]) -> Value:
    for d in norm_dims(dims, x.type.rank):
        n = x.type.shape[d]
        if n > 1:
            x = index_select(ctx, x, d, _affine(ctx, n, -1, n - 1))
    return x


@register_lowering(aten.diagonal.default)
def _diagonal(ctx: Ctx, x: Value, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Value:
    rank = x.type.rank
    d1, d2 = norm_dim(dim1, rank), norm_dim(dim2, rank)
    if d1 == d2:
        raise Unsupported("diagonal with dim1 == dim2")
    shape = x.type.shape
    n1, n2 = shape[d1], shape[d2]
    r0, c0 = max(-offset, 0), max(offset, 0)
    length = max(0, min(n1 - r0, n2 - c0))
    rest = [d for d in range(rank) if d not in (d1, d2)]
    out = (*tuple(shape[d] for d in rest), length)
    if length == 0:
        return ctx.full(0, x.type.elem, out)
    moved = ctx.emit("permute", [x], {"dims": (*rest, d1, d2)}) if rest or d1 > d2 else x
    flat = ctx.reshape(moved, (*out[:-1], n1 * n2))
    return index_select(ctx, flat, len(rest), _affine(ctx, length, n2 + 1, r0 * n2 + c0))


def _out_sizes(x: Value, output_size, scale_factors) -> tuple[list[int], list[float | None]]:
    spatial = x.type.shape[2:]
    if output_size is not None:
        return list(output_size), [None] * len(spatial)
    if scale_factors is None:
        raise Unsupported("interpolate without output_size or scale_factor")
    return [int(np.floor(n * s)) for n, s in zip(spatial, scale_factors, strict=True)], list(
        scale_factors
    )


def _scale(n_in: int, n_out: int, factor: float | None) -> np.float32:
    """torch's compute_scales_value: 1/scale_factor if given, else n_in/n_out (as float)."""
    return F32(1.0 / factor if factor is not None and factor > 0 else n_in / n_out)


def _nearest(ctx: Ctx, x: Value, output_size, scale_factors) -> Value:
    sizes, factors = _out_sizes(x, output_size, scale_factors)
    for k, (n_out, f) in enumerate(zip(sizes, factors, strict=True)):
        d, n_in = 2 + k, x.type.shape[2 + k]
        if n_out == n_in:
            continue
        src = ctx.emit("mul", [_iota(ctx, n_out, FP32), ctx.full(_scale(n_in, n_out, f), FP32)])
        src = ctx.emit("minimum", [ctx.emit("floor", [src]), ctx.full(n_in - 1, FP32)])
        x = index_select(ctx, x, d, ctx.cast(src, I64))
    return x


for _t in ("upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d"):
    register_lowering(getattr(aten, _t).vec)(_nearest)


def _linear_weights(
    ctx: Ctx, n_in: int, n_out: int, align: bool, f: float | None
) -> tuple[Value, Value, Value, Value]:
    """(i0, i1, l0, l1) of one spatial dim (module docstring), as folded constants."""
    scale = F32((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0) if align else _scale(n_in, n_out, f)
    i = _iota(ctx, n_out, FP32)
    if align:
        src = ctx.emit("mul", [i, ctx.full(scale, FP32)])
    else:
        half = ctx.full(0.5, FP32)
        src = ctx.emit("mul", [ctx.emit("add", [i, half]), ctx.full(scale, FP32)])
        src = ctx.emit("maximum", [ctx.emit("sub", [src, half]), ctx.full(0, FP32)])
    i0 = ctx.emit("trunc", [src])
    step = ctx.cast(ctx.emit("lt", [i0, ctx.full(n_in - 1, FP32)]), FP32)
    l1 = ctx.emit("sub", [src, i0])
    l0 = ctx.emit("sub", [ctx.full(1, FP32), l1])
    i1 = ctx.emit("add", [i0, step])
    return ctx.cast(i0, I64), ctx.cast(i1, I64), l0, l1


def _along(ctx: Ctx, x: Value, d: int, w: tuple[Value, Value, Value, Value]) -> Value:
    """``l0 * x[i0] + l1 * x[i1]`` along dim d (weights broadcast over the dims after d)."""
    i0, i1, l0, l1 = w
    tail = (1,) * (x.type.rank - d - 1)
    l0, l1 = (ctx.cast(ctx.reshape(v, (v.type.shape[0], *tail)), x.type.elem) for v in (l0, l1))
    a = ctx.emit("mul", [l0, index_select(ctx, x, d, i0)])
    return ctx.emit("add", [a, ctx.emit("mul", [l1, index_select(ctx, x, d, i1)])])


@register_lowering(aten.upsample_bilinear2d.vec)
def _bilinear(ctx: Ctx, x: Value, output_size, align_corners: bool, scale_factors) -> Value:
    if not x.type.elem.is_float:
        raise Unsupported("bilinear interpolation of an integer tensor")
    sizes, factors = _out_sizes(x, output_size, scale_factors)
    (h_in, w_in), (h_out, w_out) = x.type.shape[2:], sizes
    wh = _linear_weights(ctx, h_in, h_out, align_corners, factors[0])
    ww = _linear_weights(ctx, w_in, w_out, align_corners, factors[1])
    return _along(ctx, _along(ctx, x, 3, ww), 2, wh)


def uses_output(ctx: Ctx, k: int) -> bool:
    """Whether output ``k`` of the multi-output node being lowered is read."""
    return any(u.target is operator.getitem and u.args[1] == k for u in ctx.node.users if u.args)


def _axis(ctx: Ctx, out: int, s: int, p: int, d: int, first: int | None) -> Value:
    """i64 [out]: input index ``o*s - p + first*d`` of window element ``first`` along one dim,
    or (``first`` None) the window's first in-bounds index: its start stepped by the dilation
    until it is >= 0 (torch's initial maxindex). Built from iota: folds to a constant."""
    v = _affine(ctx, out, s, -p + (first or 0) * d)
    if first is not None:
        return v
    zero = ctx.full(0, I64)
    steps = ctx.emit("div", [ctx.emit("sub", [ctx.full(d - 1, I64), v]), ctx.full(d, I64)])
    moved = ctx.emit("add", [v, ctx.emit("mul", [steps, ctx.full(d, I64)])])
    return ctx.emit("where", [ctx.emit("lt", [v, zero]), moved, v])


def _plane_index(ctx: Ctx, rows: Value, cols: Value, w: int) -> Value:
    """i64 [OH, OW]: ``rows[i] * w + cols[j]``."""
    r = ctx.emit("mul", [ctx.reshape(rows, (rows.type.shape[0], 1)), ctx.full(w, I64)])
    return ctx.emit("add", [r, ctx.reshape(cols, (1, cols.type.shape[0]))])


def max_pool_indices(ctx: Ctx, x: Value, y_shape: Sequence[int], attrs: dict) -> Value:
    """torch's max_pool2d indices (flat ``h * W + w`` in the input plane): the windows scanned
    row-major, an element taken when it is greater than the running maximum or NaN (so a later
    NaN wins, and padding never does); the start is the first in-bounds element."""
    x4 = ctx.reshape(x, (1, *x.type.shape)) if x.type.rank == 3 else x
    n, c, h, w = x4.type.shape
    oh, ow = y_shape[-2:]
    (kh, kw), (sh, sw) = attrs["kernel"], attrs["stride"]
    (ph, pw), (dh, dw) = attrs["padding"], attrs["dilation"]
    lowest = float("-inf") if x4.type.elem.is_float else -(2**31)
    big_h = (oh - 1) * sh + (kh - 1) * dh + 1
    big_w = (ow - 1) * sw + (kw - 1) * dw + 1
    pads = [0, 0, 0, 0, ph, max(big_h - h - ph, 0), pw, max(big_w - w - pw, 0)]
    xp = ctx.emit("pad", [x4], {"pads": pads, "value": lowest}) if any(pads) else x4
    acc = ctx.full(lowest, x4.type.elem, (n, c, oh, ow))
    idx = _plane_index(ctx, _axis(ctx, oh, sh, ph, dh, None), _axis(ctx, ow, sw, pw, dw, None), w)
    for i in range(kh):
        for j in range(kw):
            win = _strided(ctx, xp, i * dh, sh, oh, j * dw, sw, ow)
            take = ctx.emit("gt", [win, acc])
            if x4.type.elem.is_float:
                take = ctx.emit("logical_or", [take, ctx.emit("ne", [win, win])])
            cand = _plane_index(
                ctx, _axis(ctx, oh, sh, ph, dh, i), _axis(ctx, ow, sw, pw, dw, j), w
            )
            acc = ctx.emit("where", [take, win, acc])
            idx = ctx.emit("where", [take, cand, idx])
    idx = ctx.emit("broadcast_to", [idx], {}, TensorType((n, c, oh, ow), I64))
    return ctx.reshape(idx, tuple(y_shape)) if x.type.rank == 3 else idx


def _strided(ctx: Ctx, x: Value, h0: int, sh: int, oh: int, w0: int, sw: int, ow: int) -> Value:
    x = ctx.emit("slice", [x], {"dim": 2, "start": h0, "end": h0 + (oh - 1) * sh + 1, "step": sh})
    return ctx.emit(
        "slice", [x], {"dim": 3, "start": w0, "end": w0 + (ow - 1) * sw + 1, "step": sw}
    )


def adaptive_max_pool2d(ctx: Ctx, x: Value, size: Sequence[int]) -> tuple[Value, Value | None]:
    """Cell (i, j) covers rows ``floor(i*H/OH) .. ceil((i+1)*H/OH)`` (columns likewise): its
    ``reduce_max`` (NaN propagates); indices as torch's CPU kernel (first maximum, a later NaN
    wins) when the node's indices are read."""
    x4 = ctx.reshape(x, (1, *x.type.shape)) if x.type.rank == 3 else x
    n, c, h, w = x4.type.shape
    oh, ow = size
    rows, idx_rows = [], []
    want_idx = uses_output(ctx, 1)
    for i in range(oh):
        h0, h1 = i * h // oh, -(-(i + 1) * h // oh)
        cells, idx_cells = [], []
        for j in range(ow):
            w0, w1 = j * w // ow, -(-(j + 1) * w // ow)
            cell = ctx.emit("slice", [x4], {"dim": 2, "start": h0, "end": h1, "step": 1})
            cell = ctx.emit("slice", [cell], {"dim": 3, "start": w0, "end": w1, "step": 1})
            k = (h1 - h0) * (w1 - w0)
            flat = ctx.reshape(cell, (n, c, k))
            m = ctx.emit("reduce_max", [flat], {"dims": (2,), "keepdim": True})
            cells.append(m)
            if want_idx:
                pos = np.add.outer(np.arange(h0, h1) * w, np.arange(w0, w1)).reshape(-1)
                idx_cells.append(_first_max_index(ctx, flat, m, pos))
        rows.append(ctx.emit("concat", cells, {"dim": 2}) if ow > 1 else cells[0])
        if want_idx:
            idx_rows.append(ctx.emit("concat", idx_cells, {"dim": 2}) if ow > 1 else idx_cells[0])
    shape = (n, c, oh, ow)
    y = ctx.reshape(ctx.emit("concat", rows, {"dim": 2}) if oh > 1 else rows[0], shape)
    idx = None
    if want_idx:
        idx = ctx.reshape(
            ctx.emit("concat", idx_rows, {"dim": 2}) if oh > 1 else idx_rows[0], shape
        )
    if x.type.rank == 3:
        y = ctx.reshape(y, shape[1:])
        idx = ctx.reshape(idx, shape[1:]) if idx is not None else None
    return y, idx


def _first_max_index(ctx: Ctx, flat: Value, m: Value, pos: np.ndarray) -> Value:
    """``pos`` of the first element equal to the maximum ``m``, or of the last NaN."""
    hit = ctx.emit("eq", [flat, m])
    big = ctx.full(-1, I64)
    cand = _pos_vector(ctx, pos)
    first = ctx.emit("where", [hit, cand, ctx.full(int(pos.max()) + 1, I64)])
    first = ctx.emit("reduce_min", [first], {"dims": (2,), "keepdim": True})
    if flat.type.elem.is_float:
        nan = ctx.emit("ne", [flat, flat])
        last_nan = ctx.emit(
            "reduce_max", [ctx.emit("where", [nan, cand, big])], {"dims": (2,), "keepdim": True}
        )
        first = ctx.emit("where", [ctx.emit("ge", [last_nan, ctx.full(0, I64)]), last_nan, first])
    return first


def _pos_vector(ctx: Ctx, pos: np.ndarray) -> Value:
    """The i64 vector ``pos`` (rows of a window: runs of consecutive flat indices) from iota."""
    k = len(pos)
    i = ctx.emit("iota", [], {"dim": 0}, TensorType((k,), I64))
    if k == 1 or np.all(np.diff(pos) == 1):
        return ctx.emit("add", [i, ctx.full(int(pos[0]), I64)])
    width = int(np.argmax(np.diff(pos) != 1)) + 1
    stride = int(pos[width] - pos[0])
    row = ctx.emit("div", [i, ctx.full(width, I64)])  # folds: constants only
    col = ctx.emit("sub", [i, ctx.emit("mul", [row, ctx.full(width, I64)])])
    v = ctx.emit("add", [ctx.emit("mul", [row, ctx.full(stride, I64)]), col])
    return ctx.emit("add", [v, ctx.full(int(pos[0]), I64)])


@register_lowering(aten.adaptive_max_pool2d.default)
def _adaptive_max_pool2d(ctx: Ctx, x: Value, size: Sequence[int]) -> list:
    if x.type.rank not in (3, 4):
        raise Unsupported(f"2-D adaptive pooling of a rank-{x.type.rank} input")
    y, idx = adaptive_max_pool2d(ctx, x, pair(size, "output_size"))
    return [y, idx if idx is not None else Unavailable("indices")]
