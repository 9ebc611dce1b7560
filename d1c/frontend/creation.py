"""Lowerings of tensor factories: full/zeros/ones (and their ``_like`` forms), scalar_tensor, arange.

dtypes follow torch's inference when ``dtype=`` is absent: a bool fill gives bool, an int fill
int64, a float fill the default float (fp32); ``arange`` is int64 when start, end and step are all
ints. ``arange`` becomes ``iota`` (0, 1, ...) scaled by ``step`` and offset by ``start`` in the
result type; for float aranges torch accumulates ``start + i * step`` in double, so a
non-representable step can differ from it in the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from d1c.frontend.common import Ctx, Unsupported, aten, elem_of_dtype, register_lowering
from d1c.ir import FP32, I1, I64, ElemType, TensorType, Value


def _infer_elem(value: object, dtype: object) -> ElemType:
    if dtype is not None:
        return elem_of_dtype(dtype)
    if isinstance(value, bool):
        return I1
    return I64 if isinstance(value, int) else FP32


def _check_size(size: Sequence[int]) -> tuple[int, ...]:
    if any(s < 0 for s in size):
        raise Unsupported(f"negative size {list(size)}")
    return tuple(size)


@register_lowering(aten.full.default)
def _full(ctx: Ctx, size: Sequence[int], value: float, *, dtype=None, **_: object) -> Value:
    return ctx.full(value, _infer_elem(value, dtype), _check_size(size))


@register_lowering(aten.zeros.default)
def _zeros(ctx: Ctx, size: Sequence[int], *, dtype=None, **_: object) -> Value:
    return ctx.full(0, _infer_elem(0.0, dtype), _check_size(size))


@register_lowering(aten.empty_permuted.default)
def _empty_permuted(
    ctx: Ctx, size: Sequence[int], order: Sequence[int], *, dtype=None, **_
) -> Value:
    """Uninitialized memory (the joint graph fills it with ``full_like`` next): zeros, so the
    program stays deterministic; the physical ``order`` is a layout d1c chooses itself."""
    return ctx.full(0, _infer_elem(0.0, dtype), _check_size(size))


@register_lowering(aten.ones.default)
def _ones(ctx: Ctx, size: Sequence[int], *, dtype=None, **_: object) -> Value:
    return ctx.full(1, _infer_elem(1.0, dtype), _check_size(size))


def _like_elem(x: Value, dtype: object) -> ElemType:
    return x.type.elem if dtype is None else elem_of_dtype(dtype)


@register_lowering(aten.full_like.default)
def _full_like(ctx: Ctx, x: Value, value: float, *, dtype=None, **_: object) -> Value:
    return ctx.full(value, _like_elem(x, dtype), x.type.shape)


@register_lowering(aten.zeros_like.default)
def _zeros_like(ctx: Ctx, x: Value, *, dtype=None, **_: object) -> Value:
    return ctx.full(0, _like_elem(x, dtype), x.type.shape)


@register_lowering(aten.ones_like.default)
def _ones_like(ctx: Ctx, x: Value, *, dtype=None, **_: object) -> Value:
    return ctx.full(1, _like_elem(x, dtype), x.type.shape)


@register_lowering(aten.scalar_tensor.default)
def _scalar_tensor(ctx: Ctx, value: float, *, dtype=None, **_: object) -> Value:
    elem = FP32 if dtype is None else elem_of_dtype(dtype)
    return ctx.full(value, elem)


def arange(ctx: Ctx, start: float, end: float, step: float, dtype: object) -> Value:
    """``start, start + step, ...`` below ``end`` (above it for a negative step)."""
    if step == 0:
        raise Unsupported("arange step must not be zero")
    whole = all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end, step))
    elem = (I64 if whole else FP32) if dtype is None else elem_of_dtype(dtype)
    if elem == I1:
        raise Unsupported("arange of dtype bool is not supported")
    work = FP32 if elem.is_float else elem  # narrow floats: compute in fp32, round once
    count = max(0, math.ceil((end - start) / step))
    y = ctx.emit("iota", [], {"dim": 0}, TensorType((count,), work))
    if step != 1:
        y = ctx.emit("mul", [y, ctx.full(step, work)])
    if start != 0:
        y = ctx.emit("add", [y, ctx.full(start, work)])
    return ctx.cast(y, elem)


@register_lowering(aten.arange.default)
def _arange_end(ctx: Ctx, end: float, *, dtype=None, **_: object) -> Value:
    return arange(ctx, 0, end, 1, dtype)


@register_lowering(aten.arange.start)
def _arange_start(ctx: Ctx, start: float, end: float, *, dtype=None, **_: object) -> Value:
    return arange(ctx, start, end, 1, dtype)


@register_lowering(aten.arange.start_step)
def _arange(ctx: Ctx, start: float, end: float, step: float = 1, *, dtype=None, **_) -> Value:
    return arange(ctx, start, end, step, dtype)
