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

from collections.abc import Sequence

import numpy as np

from d1c.frontend.common import Ctx, Unsupported, aten, norm_dim, norm_dims, register_lowering
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
