"""Linearisation rules of :mod:`d1c.accuracy.adjoint`: for each op, the linear map A with which
its deviation Δ = t - y (trace minus reference) follows its operands', and its transpose.

    lin = LINEAR[op.name](op, t, y, fixed)  # t, y: float64 (or integer) operand arrays;
                                        # fixed[i]: operand i is exactly known data (Δ = 0)
    lin.jvp(deltas)                     # A Δ: the result's deviation to first order
    lin.vjp(g)                          # Aᵀ g for a batch g [C, *result shape] (None: operand
                                        # without a float deviation, or one the rule keeps fixed)

A rule returns None when it cannot linearise (a live weight of a matmul, non-finite slopes): the
adjoint bound is then not computed. The driver computes the remainder op(t) - op(y) - A Δ from
the numbers, so A need not be exact: the rules pick exact secants where there are (bilinear:
t_a Δ_b + y_b Δ_a; elementwise f: (f(t) - f(y)) / (t - y); selections: the trace's choice, whose
gap to the reference's choice lands in the remainder) and the Jacobian at the reference for
softmax, log_softmax and layer_norm. A new op needs a rule here to get the adjoint bound; without
one the forward bound of :mod:`d1c.accuracy.bounds` stands alone (no error).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from d1c.accuracy import ref64
from d1c.ir import Op

F64 = np.float64
Arrays = Sequence[np.ndarray]


@dataclass(frozen=True)
class Lin:
    jvp: Callable[[Arrays], np.ndarray]
    vjp: Callable[[np.ndarray], list[np.ndarray | None]]


Rule = Callable[[Op, Arrays, Arrays, list[bool]], "Lin | None"]
LINEAR: dict[str, Rule] = {}


def _rule(*names: str) -> Callable[[Rule], Rule]:
    def wrap(fn: Rule) -> Rule:
        for n in names:
            LINEAR[n] = fn
        return fn

    return wrap


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a batch of cotangents ``g [C, *broadcast shape]`` back to ``[C, *shape]``."""
    lead = g.ndim - 1 - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(1, 1 + lead)))
    axes = tuple(i + 1 for i, n in enumerate(shape) if n == 1 and g.shape[i + 1] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _floats(op: Op) -> list[bool]:
    return [v.type.elem.is_float for v in op.operands]


def _scaled(coeffs: list[np.ndarray | float | None], shapes: list[tuple[int, ...]]) -> Lin:
    """Δ = Σ_i c_i Δ_i, each coefficient broadcast against the result."""

    def jvp(ds: Arrays) -> np.ndarray:
        return sum(c * d for c, d in zip(coeffs, ds, strict=True) if c is not None)

    def vjp(g: np.ndarray) -> list[np.ndarray | None]:
        return [
            None if c is None else unbroadcast(g * c, s)
            for c, s in zip(coeffs, shapes, strict=True)
        ]

    return Lin(jvp, vjp)


def _shapes(op: Op) -> list[tuple[int, ...]]:
    return [v.type.shape for v in op.operands]


@_rule("add", "sub", "convert")
def _additive(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    sign = {"add": [1.0, 1.0], "sub": [1.0, -1.0], "convert": [1.0]}[op.name]
    coeffs = [c if f else None for c, f in zip(sign, _floats(op), strict=True)]
    return _scaled(coeffs, _shapes(op))


@_rule("mul")
def _mul(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    return _scaled([y[1], t[0]], _shapes(op))  # t_a t_b - y_a y_b = y_b Δ_a + t_a Δ_b


@_rule("div")
def _div(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin | None:
    with np.errstate(all="ignore"):
        ca, cb = 1.0 / t[1], -y[0] / (t[1] * y[1])  # t_a/t_b - y_a/y_b
    if not (np.all(np.isfinite(ca)) and np.all(np.isfinite(cb))):
        return None
    return _scaled([ca, cb], _shapes(op))


def _secant(f: Callable, t: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    with np.errstate(all="ignore"):
        same = t == y
        s = np.where(same, 0.0, (f(t) - f(y)) / np.where(same, 1.0, t - y))
    return s if np.all(np.isfinite(s)) else None


UNARY = {**ref64.UNARY64, "neg": np.negative, "abs": np.abs, "relu": lambda x: np.maximum(x, 0)}


@_rule(*(n for n in UNARY if not n.startswith("gelu")), "gelu")
def _unary(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin | None:
    f = UNARY[ref64.gelu_name(op) if op.name == "gelu" else op.name]
    s = _secant(f, t[0], y[0])
    return None if s is None else _scaled([s], _shapes(op))


@_rule("maximum", "minimum")
def _maxmin(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    first = t[0] >= t[1] if op.name == "maximum" else t[0] <= t[1]  # the trace's choice
    first = first | np.isnan(t[0])
    return _scaled([first.astype(F64), (~first).astype(F64)], _shapes(op))


@_rule("where")
def _where(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    c = np.asarray(t[0]).astype(bool)
    floats = _floats(op)
    coeffs = [None, c.astype(F64) if floats[1] else None, (~c).astype(F64) if floats[2] else None]
    return _scaled(coeffs, _shapes(op))


def _right(g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``g [C, ..., M, N] @ b [..., N, K]``, one BLAS call when ``b`` is a plain matrix."""
    if b.ndim == 2:
        return (g.reshape(-1, g.shape[-1]) @ b).reshape(*g.shape[:-1], b.shape[-1])
    return np.matmul(g, b)


def _left(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``a [..., K, M] @ g [C, ..., M, N]``, one BLAS call when ``a`` is a plain matrix."""
    if a.ndim == 2:
        moved = np.moveaxis(g, -2, 0)  # [M, C, ..., N]
        out = (a @ moved.reshape(moved.shape[0], -1)).reshape(a.shape[0], *moved.shape[1:])
        return np.moveaxis(out, 0, -2)
    return np.matmul(a, g)


@_rule("matmul")
def _matmul(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    sa, sb = _shapes(op)
    bt, at = np.swapaxes(y[1], -1, -2), np.swapaxes(t[0], -1, -2)

    def jvp(ds: Arrays) -> np.ndarray:
        return np.matmul(ds[0], y[1]) + np.matmul(t[0], ds[1])

    def vjp(g: np.ndarray) -> list[np.ndarray | None]:
        ga = None if fixed[0] else unbroadcast(_right(g, bt), sa)
        gb = None if fixed[1] else unbroadcast(_left(at, g), sb)
        return [ga, gb]

    return Lin(jvp, vjp)


@_rule("reshape")
def _reshape(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    shape, src = op.result.type.shape, op.operands[0].type.shape
    return Lin(lambda ds: ds[0].reshape(shape), lambda g: [g.reshape(g.shape[0], *src)])


@_rule("broadcast_to")
def _broadcast(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    shape, src = op.result.type.shape, op.operands[0].type.shape
    return Lin(lambda ds: np.broadcast_to(ds[0], shape), lambda g: [unbroadcast(g, src)])


@_rule("permute")
def _permute(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    dims = list(op.attrs["dims"])
    back = [0, *(1 + i for i in np.argsort(dims))]
    return Lin(lambda ds: np.transpose(ds[0], dims), lambda g: [np.transpose(g, back)])


@_rule("slice")
def _slice(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    src = op.operands[0].type.shape
    index = ref64.slice_index(op, len(src))

    def vjp(g: np.ndarray) -> list[np.ndarray | None]:
        out = np.zeros((g.shape[0], *src))
        out[(slice(None), *index)] = g
        return [out]

    return Lin(lambda ds: ds[0][index], vjp)


@_rule("concat")
def _concat(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    dim = op.attrs["dim"]
    cuts = np.cumsum([v.type.shape[dim] for v in op.operands])[:-1]

    def jvp(ds: Arrays) -> np.ndarray:
        return np.concatenate(list(ds), axis=dim)

    return Lin(jvp, lambda g: list(np.split(g, cuts, axis=dim + 1)))


@_rule("pad")
def _pad(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    src = op.operands[0].type.shape
    widths = ref64.pad_widths(op, len(src))
    crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, src, strict=True))

    def jvp(ds: Arrays) -> np.ndarray:
        return np.pad(ds[0], widths) if src else ds[0]

    return Lin(jvp, lambda g: [g[(slice(None), *crop)]])


def _axes(op: Op) -> tuple[int, ...]:
    return tuple(op.attrs["dims"])


def _expand(g: np.ndarray, op: Op) -> np.ndarray:
    """A cotangent of a reduction, with the reduced dims back (size 1) if they were dropped."""
    if op.attrs["keepdim"]:
        return g
    return np.expand_dims(g, tuple(1 + d for d in sorted(_axes(op))))


@_rule("reduce_sum", "reduce_mean")
def _reduce_sum(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    src, axes = op.operands[0].type.shape, _axes(op)
    n = math.prod(src[d] for d in axes) if op.name == "reduce_mean" else 1

    def jvp(ds: Arrays) -> np.ndarray:
        return np.sum(ds[0], axis=axes, keepdims=op.attrs["keepdim"]) / n

    return Lin(jvp, lambda g: [np.broadcast_to(_expand(g, op), (g.shape[0], *src)) / n])


@_rule("reduce_max", "reduce_min")
def _reduce_max(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    axes, x = _axes(op), t[0]
    pick = np.max if op.name == "reduce_max" else np.min
    best = pick(x, axis=axes, keepdims=True)
    first = _first_along(x == best, axes)  # one-hot: the trace's (first) choice

    def jvp(ds: Arrays) -> np.ndarray:
        return np.sum(ds[0] * first, axis=axes, keepdims=op.attrs["keepdim"])

    return Lin(jvp, lambda g: [_expand(g, op) * first])


def _first_along(mask: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``mask`` keeping only its first True over ``axes`` (row-major), as 0/1 floats."""
    moved = np.moveaxis(mask, axes, tuple(range(-len(axes), 0)))
    flat = moved.reshape(*moved.shape[: moved.ndim - len(axes)], -1)
    one = np.zeros(flat.shape)
    np.put_along_axis(one, np.argmax(flat, axis=-1)[..., None], 1.0, axis=-1)
    back = one.reshape(moved.shape)
    return np.moveaxis(back, tuple(range(-len(axes), 0)), axes)
