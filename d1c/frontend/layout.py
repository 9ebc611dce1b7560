"""Lowerings of shape and layout ops: view/reshape, permute/transpose, expand, (un)squeeze,
select/slice, cat, split/unbind, repeat.

Views become value-semantics IR ops (``reshape``, ``permute``, ``slice``, ``broadcast_to``); result
shapes are computed here from ATen's rules (``-1`` in sizes, Python slice clamping, negative dims),
and the importer checks them against the shapes torch recorded.
"""

from __future__ import annotations

from collections.abc import Sequence

from d1c.frontend.common import (
    Ctx,
    Unsupported,
    aten,
    norm_dim,
    numel,
    promote,
    register_lowering,
)
from d1c.ir import Value

INT64_MAX = 2**63 - 1


def infer_size(size: Sequence[int], total: int) -> tuple[int, ...]:
    """Resolve one ``-1`` in a view size so the element count is ``total``."""
    holes = [i for i, s in enumerate(size) if s == -1]
    if len(holes) > 1:
        raise Unsupported(f"view size {list(size)} has more than one -1")
    known = numel([s for s in size if s != -1])
    out = list(size)
    if holes:
        if known == 0 or total % known:
            raise Unsupported(f"cannot view {total} elements as {list(size)}")
        out[holes[0]] = total // known
    if numel(out) != total:
        raise Unsupported(f"cannot view {total} elements as {list(size)}")
    return tuple(out)


@register_lowering(aten.view.default, aten._unsafe_view.default, aten.reshape.default)
def _view(ctx: Ctx, x: Value, size: Sequence[int]) -> Value:
    return ctx.reshape(x, infer_size(size, x.type.numel))


@register_lowering(aten.permute.default)
def _permute(ctx: Ctx, x: Value, dims: Sequence[int]) -> Value:
    return ctx.emit("permute", [x], {"dims": tuple(norm_dim(d, x.type.rank) for d in dims)})


def transpose(ctx: Ctx, x: Value, a: int, b: int) -> Value:
    """Swap dims ``a`` and ``b`` (negative allowed)."""
    dims = list(range(x.type.rank))
    a, b = norm_dim(a, x.type.rank), norm_dim(b, x.type.rank)
    dims[a], dims[b] = dims[b], dims[a]
    return ctx.emit("permute", [x], {"dims": tuple(dims)})


@register_lowering(aten.transpose.int)
def _transpose(ctx: Ctx, x: Value, a: int, b: int) -> Value:
    return transpose(ctx, x, a, b)


@register_lowering(aten.t.default)
def _t(ctx: Ctx, x: Value) -> Value:
    return transpose(ctx, x, 0, -1) if x.type.rank == 2 else x


def expanded_shape(shape: tuple[int, ...], size: Sequence[int]) -> tuple[int, ...]:
    """ATen ``expand``: new leading dims, ``-1`` keeps a dim, size-1 dims stretch."""
    lead = len(size) - len(shape)
    if lead < 0:
        raise Unsupported(f"cannot expand shape {list(shape)} to fewer dims {list(size)}")
    out = []
    for i, s in enumerate(size):
        old = shape[i - lead] if i >= lead else None
        if s == -1 and old is None:
            raise Unsupported(f"expand size -1 is not allowed for a new leading dim: {list(size)}")
        new = old if s == -1 else s
        if old not in (None, 1, new):
            raise Unsupported(f"cannot expand shape {list(shape)} to {list(size)}")
        out.append(new)
    return tuple(out)


@register_lowering(aten.expand.default)
def _expand(ctx: Ctx, x: Value, size: Sequence[int], *, implicit: bool = False) -> Value:
    shape = expanded_shape(x.type.shape, size)
    return ctx.emit("broadcast_to", [x], {}, x.type.with_shape(shape))


@register_lowering(aten.unsqueeze.default)
def _unsqueeze(ctx: Ctx, x: Value, dim: int) -> Value:
    shape = list(x.type.shape)
    shape.insert(norm_dim(dim, x.type.rank + 1), 1)
    return ctx.reshape(x, shape)


def squeeze(ctx: Ctx, x: Value, dims: Sequence[int]) -> Value:
    """Drop the listed dims that have size 1 (others are kept, as in torch)."""
    drop = {norm_dim(d, x.type.rank) for d in dims}
    shape = [s for i, s in enumerate(x.type.shape) if not (i in drop and s == 1)]
    return ctx.reshape(x, shape)


@register_lowering(aten.squeeze.dims)
def _squeeze_dims(ctx: Ctx, x: Value, dims: Sequence[int]) -> Value:
    return squeeze(ctx, x, dims)


@register_lowering(aten.squeeze.dim)
def _squeeze_dim(ctx: Ctx, x: Value, dim: int) -> Value:
    return squeeze(ctx, x, [dim])


@register_lowering(aten.squeeze.default)
def _squeeze_all(ctx: Ctx, x: Value) -> Value:
    return squeeze(ctx, x, range(x.type.rank))


def slice_bounds(size: int, start: int | None, end: int | None) -> tuple[int, int]:
    """Python slice clamping of ``start:end`` for a dim of ``size`` (None = open end)."""
    start = 0 if start is None else start
    end = size if end is None or end == INT64_MAX else end
    start = min(max(start + size if start < 0 else start, 0), size)
    end = min(max(end + size if end < 0 else end, 0), size)
    return start, max(start, end)


@register_lowering(aten.slice.Tensor)
def _slice(ctx: Ctx, x: Value, dim: int = 0, start=None, end=None, step: int = 1) -> Value:
    if step < 1:
        raise Unsupported(f"slice step {step} must be positive")
    dim = norm_dim(dim, x.type.rank)
    lo, hi = slice_bounds(x.type.shape[dim], start, end)
    return ctx.emit("slice", [x], {"dim": dim, "start": lo, "end": hi, "step": step})


def select(ctx: Ctx, x: Value, dim: int, index: int) -> Value:
    """``x`` indexed by ``index`` along ``dim`` (that dim disappears)."""
    dim = norm_dim(dim, x.type.rank)
    size = x.type.shape[dim]
    if not -size <= index < size:
        raise Unsupported(f"index {index} is out of range for size {size}")
    index %= size
    part = ctx.emit("slice", [x], {"dim": dim, "start": index, "end": index + 1, "step": 1})
    return ctx.reshape(part, x.type.shape[:dim] + x.type.shape[dim + 1 :])


@register_lowering(aten.select.int)
def _select(ctx: Ctx, x: Value, dim: int, index: int) -> Value:
    return select(ctx, x, dim, index)


@register_lowering(aten.cat.default)
def _cat(ctx: Ctx, tensors: Sequence[Value], dim: int = 0) -> Value:
    """Concatenate in the promoted dtype; legacy empty 1-D operands are skipped, as in torch."""
    parts = [t for t in tensors if t.type.shape != (0,)] or list(tensors[:1])
    elem = promote(*parts)
    dim = norm_dim(dim, parts[0].type.rank)
    return ctx.emit("concat", [ctx.cast(t, elem) for t in parts], {"dim": dim})


def split(ctx: Ctx, x: Value, sizes: Sequence[int], dim: int) -> list[Value]:
    """Consecutive slices of the given sizes along ``dim``."""
    dim = norm_dim(dim, x.type.rank)
    if sum(sizes) != x.type.shape[dim] or min(sizes, default=0) < 0:
        raise Unsupported(f"split sizes {list(sizes)} do not add up to {x.type.shape[dim]}")
    out, start = [], 0
    for size in sizes:
        attrs = {"dim": dim, "start": start, "end": start + size, "step": 1}
        out.append(ctx.emit("slice", [x], attrs))
        start += size
    return out


@register_lowering(aten.split_with_sizes.default)
def _split_with_sizes(ctx: Ctx, x: Value, sizes: Sequence[int], dim: int = 0) -> list[Value]:
    return split(ctx, x, sizes, dim)


@register_lowering(aten.split.Tensor)
def _split(ctx: Ctx, x: Value, size: int, dim: int = 0) -> list[Value]:
    total = x.type.shape[norm_dim(dim, x.type.rank)]
    if size < 1:
        raise Unsupported(f"split size {size} must be positive")
    sizes = [min(size, total - s) for s in range(0, total, size)] or [0]
    return split(ctx, x, sizes, dim)


@register_lowering(aten.unbind.int)
def _unbind(ctx: Ctx, x: Value, dim: int = 0) -> list[Value]:
    size = x.type.shape[norm_dim(dim, x.type.rank)]
    return [select(ctx, x, dim, i) for i in range(size)]


@register_lowering(aten.repeat.default)
def _repeat(ctx: Ctx, x: Value, repeats: Sequence[int]) -> Value:
    """Tile ``x``: view as [1, s0, 1, s1, ...], broadcast to [r0, s0, r1, s1, ...], flatten pairs."""
    if len(repeats) < x.type.rank:
        raise Unsupported(f"repeat needs at least {x.type.rank} repeats, got {list(repeats)}")
    shape = (1,) * (len(repeats) - x.type.rank) + x.type.shape
    spread = ctx.reshape(x, [d for s in shape for d in (1, s)])
    tiled_shape = tuple(d for r, s in zip(repeats, shape, strict=True) for d in (r, s))
    tiled = ctx.emit("broadcast_to", [spread], {}, x.type.with_shape(tiled_shape))
    return ctx.reshape(tiled, [r * s for r, s in zip(repeats, shape, strict=True)])
