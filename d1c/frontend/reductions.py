"""Lowerings of reductions: sum, mean, amax/amin, max/min, any/all, var.

ATen's dim conventions are normalised here: negative dims, an int or a list, and ``None`` or ``[]``
meaning "every dim" (``x.sum()`` exports as ``sum.dim_IntList(x, [])``). Sums of integer or bool
tensors accumulate in int64 as torch does; an explicit ``dtype=`` casts the input first.
"""

from __future__ import annotations

from collections.abc import Sequence

from d1c.frontend.common import (
    Ctx,
    Unsupported,
    aten,
    elem_of_dtype,
    norm_dims,
    numel,
    register_lowering,
)
from d1c.frontend.elementwise import truth
from d1c.ir import I64, Value

Dims = int | Sequence[int] | None


def reduce(ctx: Ctx, op: str, x: Value, dims: Dims, keepdim: bool = False) -> Value:
    """``op`` over normalised ``dims`` of ``x``."""
    dims = norm_dims(dims, x.type.rank)
    return ctx.emit(op, [x], {"dims": dims, "keepdim": bool(keepdim)})


def _with_dtype(ctx: Ctx, x: Value, dtype: object) -> Value:
    if dtype is not None:
        return ctx.cast(x, elem_of_dtype(dtype))
    return ctx.cast(x, I64) if x.type.elem.is_int else x


@register_lowering(aten.sum.dim_IntList)
def _sum_dims(ctx: Ctx, x: Value, dims: Dims, keepdim: bool = False, *, dtype=None) -> Value:
    return reduce(ctx, "reduce_sum", _with_dtype(ctx, x, dtype), dims, keepdim)


@register_lowering(aten.sum.default)
def _sum_all(ctx: Ctx, x: Value, *, dtype: object = None) -> Value:
    return reduce(ctx, "reduce_sum", _with_dtype(ctx, x, dtype), None)


def _float_input(x: Value, dtype: object, what: str) -> object:
    if dtype is None and not x.type.elem.is_float:
        raise Unsupported(f"{what} of an integer tensor needs a float dtype")
    return dtype


@register_lowering(aten.mean.dim)
def _mean_dims(ctx: Ctx, x: Value, dims: Dims, keepdim: bool = False, *, dtype=None) -> Value:
    x = _with_dtype(ctx, x, _float_input(x, dtype, "mean"))
    return reduce(ctx, "reduce_mean", x, dims, keepdim)


@register_lowering(aten.mean.default)
def _mean_all(ctx: Ctx, x: Value, *, dtype: object = None) -> Value:
    x = _with_dtype(ctx, x, _float_input(x, dtype, "mean"))
    return reduce(ctx, "reduce_mean", x, None)


@register_lowering(aten.amax.default)
def _amax(ctx: Ctx, x: Value, dims: Dims = (), keepdim: bool = False) -> Value:
    return reduce(ctx, "reduce_max", x, dims, keepdim)


@register_lowering(aten.amin.default)
def _amin(ctx: Ctx, x: Value, dims: Dims = (), keepdim: bool = False) -> Value:
    return reduce(ctx, "reduce_min", x, dims, keepdim)


@register_lowering(aten.max.default)
def _max_all(ctx: Ctx, x: Value) -> Value:
    return reduce(ctx, "reduce_max", x, None)


@register_lowering(aten.min.default)
def _min_all(ctx: Ctx, x: Value) -> Value:
    return reduce(ctx, "reduce_min", x, None)


@register_lowering(aten.any.dim, aten.any.dims)
def _any_dims(ctx: Ctx, x: Value, dims: Dims = None, keepdim: bool = False) -> Value:
    """any = max over booleans."""
    return reduce(ctx, "reduce_max", truth(ctx, x), dims, keepdim)


@register_lowering(aten.any.default)
def _any_all(ctx: Ctx, x: Value) -> Value:
    return reduce(ctx, "reduce_max", truth(ctx, x), None)


@register_lowering(aten.all.dim, aten.all.dims)
def _all_dims(ctx: Ctx, x: Value, dims: Dims = None, keepdim: bool = False) -> Value:
    """all = min over booleans."""
    return reduce(ctx, "reduce_min", truth(ctx, x), dims, keepdim)


@register_lowering(aten.all.default)
def _all_all(ctx: Ctx, x: Value) -> Value:
    return reduce(ctx, "reduce_min", truth(ctx, x), None)


@register_lowering(aten.var.correction)
def _var(
    ctx: Ctx, x: Value, dims: Dims = None, *, correction: float | None = None, keepdim=False
) -> Value:
    """sum((x - mean)^2) / max(N - correction, 0), N the number of reduced elements (correction
    1 by default): as in torch, no degrees of freedom left gives NaN (or inf)."""
    if not x.type.elem.is_float:
        raise Unsupported("var of an integer tensor is not supported")
    axes = norm_dims(dims, x.type.rank)
    count = numel([x.type.shape[d] for d in axes])
    mean = reduce(ctx, "reduce_mean", x, axes, True)
    diff = ctx.emit("sub", [x, mean])
    total = reduce(ctx, "reduce_sum", ctx.emit("mul", [diff, diff]), axes, keepdim)
    dof = max(count - (1 if correction is None else correction), 0)
    return ctx.emit("div", [total, ctx.full(dof, x.type.elem)])


@register_lowering(aten.linalg_vector_norm.default)
def _vector_norm(ctx: Ctx, x: Value, ord=2, dims: Dims = None, keepdim=False, *, dtype=None):
    """The Euclidean norm sqrt(sum(x * x)); other orders are not supported."""
    if ord != 2:
        raise Unsupported(f"vector norm of order {ord} is not supported (only 2)")
    x = _with_dtype(ctx, x, _float_input(x, dtype, "norm"))
    total = reduce(ctx, "reduce_sum", ctx.emit("mul", [x, x]), dims, keepdim)
    return ctx.emit("sqrt", [total])
