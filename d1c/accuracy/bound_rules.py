"""Per-op error rules of :mod:`d1c.accuracy.bounds`: how each op of a quantized module moves and adds error.

A rule ``fn(op, args, data) -> err`` gets the op's operands as :class:`Bounded` (reference and
bound) and returns the bound of the op's result *before* it is rounded to its storage format (the
walker adds that rounding). Arithmetic rules follow the interpreter's fp32 evaluation order with
the primitives of :mod:`d1c.accuracy.bound_arith`; composite ops are bounded through that same
decomposition (each step's error propagated, nothing guessed):

- softmax = max, x - max, exp, sum, divide; log_softmax ends with x - max - log(sum);
- layer_norm = sum / n, x - mean, sum of squares / n, rsqrt(var + eps), times, times weight,
  plus bias; batch_norm = (x - mean) / sqrt(var + eps) * weight + bias;
- conv2d = im2col then the matrix-product rule (K = C/groups × KH × KW), plus bias;
  avg pools = window sums divided by the divisor; max pools = the max of the window bounds.

Data is exact where the compiler knows it: a constant's bound is |stored data - graph data|
elementwise, ``full``/``iota``/pad values the same. Layout ops move bounds with their values.
Comparisons are exact where the operand intervals decide them, else the ``i1`` may flip (bound
inf); ``where`` with an undecided condition is bounded by max(e_a, e_b) + |a - b|. Integer ops are
exact when their operands are, else unbounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from d1c.accuracy import bound_nn, ref64
from d1c.accuracy.bound_arith import (
    F64,
    INF,
    U32,
    Bounded,
    add,
    div,
    exact,
    maxmin,
    mul,
    row_in,
    rows,
    sub,
    unary,
)
from d1c.accuracy.bound_linalg import dot, reduce_max, reduce_sum, scale
from d1c.errors import UnsupportedError
from d1c.ir import I1, Op
from d1c.isa.numerics import FORMATS, quantize


@dataclass(frozen=True, slots=True)
class Data:
    """Constant data of the two modules: the graph's (reference) and the quantized one's."""

    graph: dict[str, np.ndarray]
    quantized: dict[str, np.ndarray]


Rule = Callable[[Op, list[Bounded], Data], "Bounded | np.ndarray"]
RULES: dict[str, Rule] = {}
STRUCTURAL = ("reshape", "broadcast_to", "permute", "slice", "concat", "pad", "embedding")
# Ops whose result values are operand values or exactly known data: no rounding at the end.
EXACT_RESULT = frozenset(
    (*STRUCTURAL, "neg", "abs", "relu", "maximum", "minimum", "where", "reduce_max", "reduce_min")
) | {"max_pool2d", "const", "full", "iota", "floor", "ceil", "trunc", "round"}


def rule(*names: str) -> Callable[[Rule], Rule]:
    """Register ``fn`` as the error-bound rule of the ops ``names``."""

    def wrap(fn: Rule) -> Rule:
        for n in names:
            if n in RULES:
                raise ValueError(f"op '{n}' has two error-bound rules")
            RULES[n] = fn
        return fn

    return wrap


def data_error(q: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|q - ref| elementwise, 0 where both are the same infinity or both NaN."""
    q = np.asarray(q).astype(F64)
    with np.errstate(invalid="ignore"):
        same = (q == ref) | (np.isnan(q) & np.isnan(ref))
        d = np.where(same, 0.0, np.abs(q - ref))
    return np.nan_to_num(d, nan=INF)


def stored(value: np.ndarray, op: Op) -> np.ndarray:
    """``value`` (fp32-representable) as the op's float result type holds it."""
    e = op.result.type.elem
    x = np.asarray(value, np.float32)
    return x if e.name == "fp32" else quantize(x, e.name, bias=e.bias)


@rule("const")
def _const(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    name = op.attrs["name"].name
    if not op.result.type.elem.is_float:
        return np.zeros(op.result.type.shape, F64)
    return data_error(d.quantized[name], d.graph[name].astype(F64))


@rule("full", "iota")
def _source(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    ref = ref64.evaluate_op(op, [], {})
    if not op.result.type.elem.is_float:
        return np.zeros(ref.shape, F64)
    return data_error(stored(ref, op), ref)


def _reshape_rows(a: Bounded, new: tuple[int, ...]) -> np.ndarray | None:
    """Row bounds after a reshape: rows kept, merged (root of sum of squares) or split."""
    old = a.ref.shape
    if not old or not new or 0 in old:
        return None
    r = rows(a).reshape(-1)
    if new[-1] == old[-1]:
        return r.reshape(new[:-1])
    if new[-1] % old[-1] == 0:
        return np.sqrt(np.sum((r * r).reshape(-1, new[-1] // old[-1]), axis=-1)).reshape(new[:-1])
    if old[-1] % new[-1] == 0:
        return np.repeat(r, old[-1] // new[-1]).reshape(new[:-1])
    return None


@rule("reshape", "broadcast_to", "permute", "slice")
def _move(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    x, at, shape = a[0], op.attrs, op.result.type.shape
    err = ref64.OPS64[op.name]([x.err], op)
    row = None
    if op.name == "reshape":
        row = _reshape_rows(x, shape)
    elif op.name == "broadcast_to" and shape:
        row = row_in(x, shape)
    elif op.name == "permute" and shape and at["dims"][-1] == len(shape) - 1:
        row = np.transpose(rows(x), at["dims"][:-1])
    elif op.name == "slice" and at["dim"] == len(shape) - 1:
        row = rows(x)
    elif op.name == "slice":
        row = rows(x)[ref64.slice_index(op, len(shape) - 1)]
    return Bounded(x.ref, err, row)


@rule("concat")
def _concat(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    dim, rank = op.attrs["dim"], a[0].ref.ndim
    err = np.concatenate([x.err for x in a], axis=dim)
    if dim == rank - 1:
        row = np.sqrt(sum(rows(x) ** 2 for x in a))
    else:
        row = np.concatenate([rows(x) for x in a], axis=dim)
    return Bounded(a[0].ref, err, row)


@rule("pad")
def _pad(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    fill = ref64.fill_value(op)
    fill_err = data_error(stored(fill, op), np.asarray(float(fill)))
    if a[0].err.ndim == 0:  # rank 0: the identity (numpy cannot pad a 0-d array)
        return a[0].err.copy()
    widths = ref64.pad_widths(op, a[0].ref.ndim)
    return np.pad(a[0].err, widths, constant_values=float(fill_err))


@rule("embedding")
def _embedding(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    w, idx = a
    bad = idx.err > 0
    err = np.where(bad[..., None], INF, w.err[idx.ref])
    return Bounded(w.ref, err, np.where(bad, INF, rows(w)[idx.ref]))


UNARY = (*ref64.UNARY64, "neg", "abs", "relu")


@rule(*[n for n in UNARY if not n.startswith("gelu")], "gelu")
def _unary(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    name = ref64.gelu_name(op) if op.name == "gelu" else op.name
    return unary(name, a[0])


@rule("add", "sub", "mul", "div")
def _binary(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    fn = {"add": add, "sub": sub, "mul": mul, "div": div}[op.name]
    return fn(a[0], a[1])


@rule("maximum", "minimum")
def _maxmin(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    return maxmin(a[0], a[1], np.maximum if op.name == "maximum" else np.minimum)


_DECIDED = {
    "lt": lambda lo_a, hi_a, lo_b, hi_b: (hi_a < lo_b) | (lo_a >= hi_b),
    "le": lambda lo_a, hi_a, lo_b, hi_b: (hi_a <= lo_b) | (lo_a > hi_b),
    "gt": lambda lo_a, hi_a, lo_b, hi_b: (lo_a > hi_b) | (hi_a <= lo_b),
    "ge": lambda lo_a, hi_a, lo_b, hi_b: (lo_a >= hi_b) | (hi_a < lo_b),
    "eq": lambda lo_a, hi_a, lo_b, hi_b: (hi_a < lo_b) | (lo_a > hi_b),
    "ne": lambda lo_a, hi_a, lo_b, hi_b: (hi_a < lo_b) | (lo_a > hi_b),
}


@rule(*_DECIDED)
def _compare(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    """0 where the operand intervals decide the comparison (or both are exact), else inf."""
    x, y = a
    with np.errstate(invalid="ignore"):
        decided = _DECIDED[op.name](x.ref - x.err, x.ref + x.err, y.ref - y.err, y.ref + y.err)
    decided = decided | ((x.err == 0) & (y.err == 0))
    return np.where(decided, 0.0, INF)


@rule("where")
def _where(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    c, x, y = a
    shape = op.result.type.shape
    with np.errstate(invalid="ignore"):
        either = np.maximum(x.err, y.err) + np.abs(x.ref.astype(F64) - y.ref)
    chosen = np.where(c.ref, x.err, y.err)
    err = np.nan_to_num(np.where(c.err == 0, chosen, either), nan=INF)
    if not shape or np.any(c.err > 0):
        return err
    return Bounded(c.ref, err, np.sqrt(row_in(x, shape) ** 2 + row_in(y, shape) ** 2))


@rule("convert")
def _convert(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    x, src, dst = a[0], op.operands[0].type.elem, op.result.type.elem
    if src.is_float and dst.is_float:
        return x  # decoding is exact; the walker adds the rounding to dst
    if not src.is_float:
        bad = np.where(x.err > 0, INF, 0.0)
        big = np.abs(x.ref.astype(F64)) > 2.0**24
        return bad + np.where(big & dst.is_float, U32 * np.abs(x.ref.astype(F64)), 0.0)
    if dst == I1:
        return np.where((x.err > 0) & (np.abs(x.ref) <= x.err), INF, 0.0)
    t = ref64.OPS64["convert"]
    y = t([x.ref], op).astype(F64)
    up, down = t([x.ref + x.err], op).astype(F64), t([x.ref - x.err], op).astype(F64)
    return np.nan_to_num(np.maximum(np.abs(up - y), np.abs(down - y)), nan=INF)


def _reduce_axes(op: Op) -> tuple[int, ...]:
    return tuple(op.attrs["dims"])


@rule("reduce_sum", "reduce_mean", "reduce_max", "reduce_min")
def _reduce(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    axes, keep = _reduce_axes(op), op.attrs["keepdim"]
    if op.name in ("reduce_max", "reduce_min"):
        return reduce_max(a[0], axes, keep)
    s = reduce_sum(a[0], axes, keep)
    if op.name == "reduce_mean":
        s = scale(s, math.prod(a[0].ref.shape[i] for i in axes))
    return s


@rule("softmax", "log_softmax")
def _softmax(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    fn = bound_nn.softmax if op.name == "softmax" else bound_nn.log_softmax
    return fn(a[0], op.attrs["dim"])


def _scalar(value: float) -> Bounded:
    return exact(np.asarray(float(np.float32(value))))


@rule("layer_norm")
def _layer_norm(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    eps = float(np.float32(op.attrs["eps"]))
    return bound_nn.layer_norm_affine(a[0], a[1:], op.attrs["ndim"], eps)


def _channel(p: Bounded, rank: int) -> Bounded:
    shape = [1] * rank
    shape[1] = -1
    return Bounded(p.ref.reshape(shape), p.err.reshape(shape))


@rule("batch_norm")
def _batch_norm(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    x, mean, var, w, b = a[0], *(_channel(p, a[0].ref.ndim) for p in a[1:])
    std = unary("sqrt", add(var, _scalar(op.attrs["eps"])))
    return add(mul(div(sub(x, mean), std), w), b)


def products_exact(op: Op) -> bool:
    """fp32 products of the two operand formats are exact (significands fit in 24 bits)."""
    bits = [FORMATS[v.type.elem.name].man_bits + 1 for v in op.operands[:2]]
    return op.operands[0].type.elem.is_float and sum(bits) <= 24


@rule("matmul")
def _matmul(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    return dot(a[0], a[1], products_exact(op))


@rule("conv2d")
def _conv2d(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    x, w = a[0], a[1]
    cols, wmat = ref64.conv_operands(x.ref, w.ref, op)
    cols_e, wmat_e = ref64.conv_operands(x.err, w.err, op)
    y = dot(Bounded(cols, cols_e), Bounded(wmat, wmat_e), products_exact(op))
    y = Bounded(ref64.conv_result(y.ref, op), ref64.conv_result(y.err, op))
    return add(y, _channel(a[2], 4)) if len(a) == 3 else y


@rule("max_pool2d")
def _max_pool(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    return ref64.windows(a[0].err, op, op.attrs["kernel"], 0.0).max(axis=(4, 5))


@rule("avg_pool2d")
def _avg_pool(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    k = op.attrs["kernel"]
    win = Bounded(ref64.windows(a[0].ref, op, k, 0.0), ref64.windows(a[0].err, op, k, 0.0))
    s = reduce_sum(win, (4, 5), keepdims=False)
    return div(s, exact(ref64.pool_divisors(op, a[0].ref.shape[2:])))


@rule("adaptive_avg_pool2d")
def _adaptive_avg_pool(op: Op, a: list[Bounded], d: Data) -> Bounded | np.ndarray:
    x, out = a[0], np.empty(op.result.type.shape, F64)
    rows, cols = (ref64.adaptive_cells(x.ref.shape[2 + i], out.shape[2 + i]) for i in (0, 1))
    for i, (h0, h1) in enumerate(rows):
        for j, (w0, w1) in enumerate(cols):
            cell = Bounded(x.ref[:, :, h0:h1, w0:w1], x.err[:, :, h0:h1, w0:w1])
            s = reduce_sum(cell, (2, 3), keepdims=False)
            out[:, :, i, j] = scale(s, (h1 - h0) * (w1 - w0)).err
    return out


def integer_rule(op: Op, a: list[Bounded], shape: tuple[int, ...]) -> np.ndarray:
    """Integer and i1 results: exact where every operand is exact, else unbounded."""
    if op.name in STRUCTURAL or op.name == "where":
        out = RULES[op.name](op, a, Data({}, {}))
        return out.err if isinstance(out, Bounded) else out
    if op.name.startswith("reduce_"):
        keep = np.max(a[0].err, axis=_reduce_axes(op), keepdims=op.attrs["keepdim"])
        return np.where(keep > 0, INF, 0.0)
    worst = np.zeros(shape, F64)
    for x in a:
        try:
            worst = np.maximum(worst, np.broadcast_to(x.err, shape))
        except ValueError:  # not elementwise (an integer matmul...): any error anywhere
            worst = np.maximum(worst, x.err.max(initial=0.0))
    return np.where(worst > 0, INF, 0.0)


def op_bound(op: Op, args: list[Bounded], data: Data) -> Bounded:
    """The bounds of ``op``'s result before the rounding to its storage format (``ref`` is the
    rule's own float64 value; the walker replaces it by :func:`d1c.accuracy.ref64.evaluate_op`'s)."""
    shape = op.result.type.shape
    floats = any(v.type.elem.is_float for v in op.operands)
    is_source = op.name in ("const", "full", "iota")
    if not op.result.type.elem.is_float and op.name != "convert" and not floats and not is_source:
        return Bounded(np.zeros(shape), integer_rule(op, args, shape))
    rule = RULES.get(op.name)
    if rule is None:
        raise UnsupportedError(
            f"no error-bound rule for op '{op.name}'",
            op.where(),
            hint="d1c.accuracy.bound_rules.RULES lists the ops d1c can bound",
        )
    with np.errstate(all="ignore"):
        out = rule(op, args, data)
    if not isinstance(out, Bounded):
        return Bounded(np.zeros(shape), np.array(np.broadcast_to(out, shape), dtype=F64))
    err = np.array(np.broadcast_to(out.err, shape), dtype=F64)
    row = None if out.row is None else np.array(np.broadcast_to(out.row, shape[:-1]), dtype=F64)
    return Bounded(out.ref, err, row)


from d1c.accuracy import bound_math  # noqa: E402, F401  (registers its rules)
