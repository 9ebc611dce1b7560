"""Lowerings of indexing, selection and scans onto primitives: ``index_select``, ``gather``,
advanced indexing (``index.Tensor``), ``scatter`` of a value, ``scatter_add``, ``index_put`` with accumulation,
``argmax``/``argmin``, ``max``/``min`` with indices, ``cumsum``, ``sort``/``argsort``/``topk``.

Reads by run-time index become ``embedding`` (a row gather) from a 2-D view of the source: the
indexed dims flattened into rows, the others into columns, and a row index computed with integer
arithmetic (constant parts are ``iota`` ops that fold at compile time). Selections and scans are
compare/``where``/reduction chains whose every step is an exact primitive:

- ``scatter(x, d, index, v)`` (a one-hot of the targets) = ``where(hit, v, x)``, ``hit_p`` =
  some element of ``index`` in ``p``'s line along ``d`` equals ``p_d``; ``scatter_add`` (the
  backward of ``gather``, so of cross-entropy) adds ``where(hit_j, src_j, 0)`` slice by slice;
- ``index_put(x, [i], v, accumulate=True)`` (embedding's backward) = ``x + onehot(i)^T @ v``;
- ``argmax(x, d)`` = the smallest index i where ``x_i == max(x)`` or ``x_i`` is NaN (torch's
  first maximal element; NaN counts as the maximum, as ``max`` propagates it);
- ``cumsum(x, d)_i`` = the sequential sum over ``j`` of ``where(j <= i, x_j, 0)`` (one
  [n, n] masked row per element: quadratic in the scanned length);
- ``sort`` = stable ranks by counting (:func:`sort_last`), ``topk`` its first k: quadratic too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from d1c.frontend.common import (
    Ctx,
    Unsupported,
    aten,
    elem_of_dtype,
    norm_dim,
    register_lowering,
)
from d1c.frontend.layout import transpose
from d1c.frontend.reductions import reduce
from d1c.ir import I1, I64, TensorType, Value


def _iota(ctx: Ctx, shape: Sequence[int], dim: int) -> Value:
    return ctx.emit("iota", [], {"dim": dim}, TensorType(tuple(shape), I64))


def _i64(ctx: Ctx, v: Value) -> Value:
    if not v.type.elem.is_int or v.type.elem == I1:
        raise Unsupported(f"index of type {v.type.elem} (only integer indices)")
    return ctx.cast(v, I64)


def _rows(ctx: Ctx, x: Value, lead: int) -> Value:
    """``x`` as a 2-D [prod(first ``lead`` dims), prod(the rest)] view (embedding's weight)."""
    shape = x.type.shape
    return ctx.reshape(x, (math.prod(shape[:lead]), math.prod(shape[lead:])))


def _gather_rows(ctx: Ctx, table: Value, rows: Value, shape: Sequence[int]) -> Value:
    """Rows ``rows`` (any shape R) of the 2-D ``table`` [V, D], reshaped to ``shape``."""
    return ctx.reshape(ctx.emit("embedding", [table, rows]), shape)


def _wrap_negative(ctx: Ctx, i: Value, size: int) -> Value:
    """Python's negative indexing: ``i + size`` where ``i < 0``."""
    negative = ctx.emit("lt", [i, ctx.full(0, I64)])
    return ctx.emit("where", [negative, ctx.emit("add", [i, ctx.full(size, I64)]), i])


def _permute(ctx: Ctx, x: Value, dims: Sequence[int]) -> Value:
    dims = tuple(dims)
    if dims == tuple(range(len(dims))):
        return x
    return ctx.emit("permute", [x], {"dims": dims})


@register_lowering(aten.index_select.default)
def index_select(ctx: Ctx, x: Value, dim: int, index: Value) -> Value:
    """Rows ``index`` of ``x`` along ``dim``: that dim moved first, gathered, moved back."""
    rank = x.type.rank
    dim = norm_dim(dim, rank)
    if rank == 0:
        return _gather_rows(ctx, ctx.reshape(x, (1, 1)), _i64(ctx, index), index.type.shape)
    order = [dim] + [d for d in range(rank) if d != dim]
    moved = _permute(ctx, x, order)
    k = index.type.numel
    rest = [x.type.shape[d] for d in order[1:]]
    rows = ctx.reshape(_i64(ctx, index), (k,))
    y = _gather_rows(ctx, _rows(ctx, moved, 1), rows, (k, *rest))
    return _permute(ctx, y, [order.index(d) for d in range(rank)])


@register_lowering(aten.gather.default)
def _gather(ctx: Ctx, x: Value, dim: int, index: Value, *, sparse_grad: bool = False) -> Value:
    """``out[p] = x[p with coordinate dim replaced by index[p]]``: a flat element index
    ``index * stride_dim + sum_{d != dim} p_d * stride_d`` gathered from ``x`` as [numel, 1]."""
    shape, out = x.type.shape, index.type.shape
    if x.type.rank == 0 or index.type.rank == 0:
        return _gather_rows(ctx, ctx.reshape(x, (1, 1)), _i64(ctx, index), out)
    dim = norm_dim(dim, x.type.rank)
    strides = [math.prod(shape[d + 1 :]) for d in range(len(shape))]
    flat = ctx.emit("mul", [_i64(ctx, index), ctx.full(strides[dim], I64)])
    for d in range(len(out)):
        if d != dim and out[d] > 1:
            part = ctx.emit("mul", [_iota(ctx, out, d), ctx.full(strides[d], I64)])
            flat = ctx.emit("add", [flat, part])
    return _gather_rows(ctx, ctx.reshape(x, (x.type.numel, 1)), flat, out)


@register_lowering(aten.index.Tensor)
def _index(ctx: Ctx, x: Value, indices: Sequence[Value | None]) -> Value:
    """Advanced indexing ``x[i0, :, i2]``: the index tensors broadcast to B; the indexed dims
    flattened into rows (row = the indices combined row-major), the others into columns; B
    replaces the indexed dims where they were if they are adjacent, else leads."""
    shape = x.type.shape
    dims = [d for d, i in enumerate(indices) if i is not None]
    if not dims:
        return x
    idx = [i for i in indices if i is not None]
    if any(i.type.elem == I1 for i in idx):
        raise Unsupported("boolean mask indexing has a data-dependent shape")
    b = tuple(np.broadcast_shapes(*[i.type.shape for i in idx]))
    rest = [d for d in range(len(shape)) if d not in dims]
    row = None
    for d, i in zip(dims, idx, strict=True):
        i = _wrap_negative(ctx, _i64(ctx, i), shape[d])
        if i.type.shape != b:
            i = ctx.emit("broadcast_to", [i], {}, i.type.with_shape(b))
        scale = math.prod(shape[e] for e in dims if e > d)
        term = i if scale == 1 else ctx.emit("mul", [i, ctx.full(scale, I64)])
        row = term if row is None else ctx.emit("add", [row, term])
    moved = _permute(ctx, x, dims + rest)
    y = _gather_rows(ctx, _rows(ctx, moved, len(dims)), row, b + tuple(shape[d] for d in rest))
    adjacent = dims == list(range(dims[0], dims[-1] + 1))
    if not adjacent or dims[0] == 0:
        return y
    lead = dims[0]  # rest dims before the indexed ones go back in front of B
    nb = len(b)
    order = [nb + j for j in range(lead)] + list(range(nb)) + list(range(nb + lead, y.type.rank))
    return _permute(ctx, y, order)


def _scatter_hits(ctx: Ctx, x: Value, dim: int, index: Value) -> list[Value]:
    """Per slice ``j`` of ``index`` along ``dim``: where it points, as an i1 mask shaped like
    ``x`` (``index`` must match ``x`` in the other dims; torch allows it smaller)."""
    shape, ishape = x.type.shape, index.type.shape
    if any(ishape[d] != shape[d] for d in range(len(shape)) if d != dim):
        raise Unsupported(f"scatter with index {list(ishape)} smaller than the input {list(shape)}")
    index = _i64(ctx, index)
    coord = _iota(ctx, shape, dim)
    return [
        ctx.emit("eq", [coord, _spread(ctx, _part(ctx, index, dim, j), shape)])
        for j in range(ishape[dim])
    ]


def _part(ctx: Ctx, v: Value, dim: int, j: int) -> Value:
    if v.type.shape[dim] == 1:
        return v
    return ctx.emit("slice", [v], {"dim": dim, "start": j, "end": j + 1, "step": 1})


def _spread(ctx: Ctx, v: Value, shape: Sequence[int]) -> Value:
    if v.type.shape == tuple(shape):
        return v
    return ctx.emit("broadcast_to", [v], {}, v.type.with_shape(tuple(shape)))


def _rank1(fn, ctx: Ctx, x: Value, index: Value, *rest: Value | float) -> Value:
    """``fn`` on rank-0 operands viewed as [1]."""
    vs = [ctx.reshape(v, (1,)) if isinstance(v, Value) else v for v in (x, index, *rest)]
    return ctx.reshape(fn(ctx, vs[0], 0, vs[1], *vs[2:]), ())


@register_lowering(aten.scatter.value)
def _scatter_value(ctx: Ctx, x: Value, dim: int, index: Value, value: float) -> Value:
    """``out = x`` with ``out[p with coordinate dim = index[p]] = value`` for every ``p`` of
    ``index``; every written value is the same, so the order of the writes does not matter."""
    if x.type.rank == 0:
        return _rank1(_scatter_value, ctx, x, index, value)
    hits = _scatter_hits(ctx, x, norm_dim(dim, x.type.rank), index)
    if not hits:  # an empty index writes nothing
        return x
    hit = hits[0]
    for h in hits[1:]:
        hit = ctx.emit("logical_or", [hit, h])
    return ctx.emit("where", [hit, ctx.full(value, x.type.elem), x])


@register_lowering(aten.scatter_add.default)
def _scatter_add(ctx: Ctx, x: Value, dim: int, index: Value, src: Value) -> Value:
    """``out = x``, then ``out[p with coordinate dim = index[p]] += src[p]`` for the ``p`` of
    ``index`` in order along ``dim`` (torch's CPU order; the other slices add an exact 0)."""
    if x.type.rank == 0:
        return _rank1(_scatter_add, ctx, x, index, src)
    dim = norm_dim(dim, x.type.rank)
    ishape = index.type.shape
    for d in range(src.type.rank):  # only src[:index.shape] is read
        if src.type.shape[d] > ishape[d]:
            src = ctx.emit("slice", [src], {"dim": d, "start": 0, "end": ishape[d], "step": 1})
    zero = ctx.full(0, x.type.elem)
    for j, hit in enumerate(_scatter_hits(ctx, x, dim, index)):
        part = _spread(ctx, _part(ctx, ctx.cast(src, x.type.elem), dim, j), x.type.shape)
        x = ctx.emit("add", [x, ctx.emit("where", [hit, part, zero])])
    return x


@register_lowering(aten.index_put.default)
def _index_put(
    ctx: Ctx, x: Value, indices: Sequence[Value | None], values: Value, accumulate: bool = False
) -> Value:
    """``x[idx] += values`` (``accumulate``; embedding's backward) for one index tensor on dim 0:
    ``x + onehot(idx)^T @ values``, a matmul whose K loop adds the rows of ``values`` in index
    order (a finite v times 0 adds an exact 0; a NaN or infinite value makes its whole column
    NaN, where torch changes only its own row: a known gap, docs/training.md). Writes without
    accumulation are unsupported (with repeated indices torch leaves their order unspecified)."""
    if not accumulate:
        raise Unsupported("index_put without accumulate is not supported")
    if len(indices) != 1 or indices[0] is None or x.type.rank == 0:
        raise Unsupported("index_put supports one index tensor, on the first dim")
    if not x.type.elem.is_float:
        raise Unsupported(f"index_put into a {x.type.elem} tensor is not supported")
    elem, rows, cols = x.type.elem, x.type.shape[0], math.prod(x.type.shape[1:])
    idx = _wrap_negative(ctx, _i64(ctx, indices[0]), rows)
    n = idx.type.numel
    flat = _spread(ctx, ctx.reshape(idx, (1, n)), (rows, n))
    onehot = ctx.cast(ctx.emit("eq", [_iota(ctx, (rows, n), 0), flat]), elem)
    want = (*idx.type.shape, *x.type.shape[1:])
    v = ctx.reshape(_spread(ctx, ctx.cast(values, elem), want), (n, cols))
    acc = ctx.reshape(ctx.emit("matmul", [onehot, v]), x.type.shape)
    return ctx.emit("add", [x, acc])


def arg_extreme(ctx: Ctx, x: Value, dim: int | None, keepdim: bool, kind: str) -> Value:
    """Index of the first maximum (``reduce_max``) or minimum (``reduce_min``) along ``dim``;
    NaN counts as the extreme. ``dim=None`` searches the flattened tensor."""
    if dim is None:
        flat = ctx.reshape(x, (x.type.numel,))
        i = arg_extreme(ctx, flat, 0, False, kind)
        return ctx.reshape(i, (1,) * x.type.rank) if keepdim else i
    if x.type.rank == 0:
        return ctx.full(0, I64)
    dim = norm_dim(dim, x.type.rank)
    m = reduce(ctx, kind, x, dim, True)
    hit = ctx.emit("eq", [x, m])
    if x.type.elem.is_float:
        hit = ctx.emit("logical_or", [hit, ctx.emit("ne", [x, x])])
    size = x.type.shape[dim]
    where = ctx.emit("where", [hit, _iota(ctx, x.type.shape, dim), ctx.full(size, I64)])
    return reduce(ctx, "reduce_min", where, dim, keepdim)


@register_lowering(aten.argmax.default)
def _argmax(ctx: Ctx, x: Value, dim: int | None = None, keepdim: bool = False) -> Value:
    return arg_extreme(ctx, x, dim, keepdim, "reduce_max")


@register_lowering(aten.argmin.default)
def _argmin(ctx: Ctx, x: Value, dim: int | None = None, keepdim: bool = False) -> Value:
    return arg_extreme(ctx, x, dim, keepdim, "reduce_min")


@register_lowering(aten.max.dim)
def _max_dim(ctx: Ctx, x: Value, dim: int, keepdim: bool = False) -> list:
    values = reduce(ctx, "reduce_max", x, dim, keepdim)
    return [values, arg_extreme(ctx, x, dim, keepdim, "reduce_max")]


@register_lowering(aten.min.dim)
def _min_dim(ctx: Ctx, x: Value, dim: int, keepdim: bool = False) -> list:
    values = reduce(ctx, "reduce_min", x, dim, keepdim)
    return [values, arg_extreme(ctx, x, dim, keepdim, "reduce_min")]


@register_lowering(aten.cumsum.default)
def _cumsum(ctx: Ctx, x: Value, dim: int, *, dtype: object = None) -> Value:
    """Masked sequential sums: ``y_i = sum_j where(j <= i, x_j, 0)`` along ``dim``."""
    elem = elem_of_dtype(dtype) if dtype is not None else x.type.elem
    if dtype is None and (elem.is_int or elem == I1):
        elem = I64
    x = ctx.cast(x, elem)
    if x.type.rank == 0:
        return x
    dim = norm_dim(dim, x.type.rank)
    last = x.type.rank - 1
    xt = transpose(ctx, x, dim, last) if dim != last else x
    n = xt.type.shape[-1]
    mask = ctx.emit("le", [_iota(ctx, (n, n), 1), _iota(ctx, (n, n), 0)])  # [i, j]: j <= i
    rows = ctx.reshape(xt, (*xt.type.shape[:-1], 1, n))
    masked = ctx.emit("where", [mask, rows, ctx.full(0, elem)])
    y = reduce(ctx, "reduce_sum", masked, -1, False)
    return transpose(ctx, y, dim, last) if dim != last else y


def sort_last(ctx: Ctx, x: Value, descending: bool) -> tuple[Value, Value]:
    """(values, indices) of ``x`` sorted along its last dim, stable (ties keep index order),
    NaN the largest value (torch's order): element i goes to rank
    ``r_i = #{j : x_j before x_i}`` with ``before = x_j < x_i`` (``>`` descending), NaN against
    a number, or a tie (equal or both NaN) with ``j < i``; position k takes the i with
    ``r_i == k`` (a masked integer sum), and the values are gathered at those indices.
    Quadratic in the sorted length: [..., n, n] masks."""
    n = x.type.shape[-1]
    lead = x.type.shape[:-1]
    xi = ctx.reshape(x, (*lead, n, 1))  # [.., i, j]
    xj = ctx.reshape(x, (*lead, 1, n))
    before = ctx.emit("gt" if descending else "lt", [xj, xi])
    tie = ctx.emit("eq", [xj, xi])
    j_first = ctx.emit("lt", [_iota(ctx, (n, n), 1), _iota(ctx, (n, n), 0)])
    if x.type.elem.is_float:
        nan_i, nan_j = ctx.emit("ne", [xi, xi]), ctx.emit("ne", [xj, xj])
        tie = ctx.emit("logical_or", [tie, ctx.emit("logical_and", [nan_i, nan_j])])
        nan_wins = (nan_j, nan_i) if descending else (nan_i, nan_j)
        over_nan = ctx.emit("logical_and", [nan_wins[0], ctx.emit("logical_not", [nan_wins[1]])])
        before = ctx.emit("logical_or", [before, over_nan])
    before = ctx.emit("logical_or", [before, ctx.emit("logical_and", [tie, j_first])])
    rank = reduce(ctx, "reduce_sum", ctx.cast(before, I64), -1, False)  # [.., i]
    hit = ctx.emit("eq", [ctx.reshape(rank, (*lead, 1, n)), _iota(ctx, (n, 1), 0)])  # [.., k, i]
    picked = ctx.emit("where", [hit, _iota(ctx, (n, n), 1), ctx.full(0, I64)])
    index = reduce(ctx, "reduce_sum", picked, -1, False)  # [.., k]
    return _gather(ctx, x, x.type.rank - 1, index), index


def _sorted(ctx: Ctx, x: Value, dim: int, descending: bool, k: int | None = None) -> list:
    if x.type.rank == 0:
        return [x, ctx.full(0, I64)]
    if x.type.elem == I1:
        x = ctx.cast(x, I64)  # comparisons of 0/1; the values go back to bool
        values, index = _sorted(ctx, x, dim, descending, k)
        return [ctx.cast(values, I1), index]
    dim = norm_dim(dim, x.type.rank)
    last = x.type.rank - 1
    xt = transpose(ctx, x, dim, last) if dim != last else x
    values, index = sort_last(ctx, xt, descending)
    if k is not None:
        values, index = (
            ctx.emit("slice", [v], {"dim": last, "start": 0, "end": k, "step": 1})
            for v in (values, index)
        )
    if dim != last:
        values, index = transpose(ctx, values, dim, last), transpose(ctx, index, dim, last)
    return [values, index]


@register_lowering(aten.sort.default)
def _sort(ctx: Ctx, x: Value, dim: int = -1, descending: bool = False) -> list:
    return _sorted(ctx, x, dim, descending)


@register_lowering(aten.sort.stable)
def _sort_stable(
    ctx: Ctx, x: Value, *, stable: bool | None = None, dim: int = -1, descending: bool = False
) -> list:
    return _sorted(ctx, x, dim, descending)


@register_lowering(aten.topk.default)
def _topk(
    ctx: Ctx, x: Value, k: int, dim: int = -1, largest: bool = True, sorted: bool = True
) -> list:
    """The first k of the stable sort (largest first, or smallest with ``largest=False``)."""
    n = x.type.shape[norm_dim(dim, x.type.rank)] if x.type.rank else 1
    if not 0 <= k <= n:
        raise Unsupported(f"topk k={k} out of range for a dim of size {n}")
    if k == 0:
        raise Unsupported("topk with k=0 (empty result)")
    return _sorted(ctx, x, dim, largest, k)
