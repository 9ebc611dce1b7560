"""Error-bound rules of elementwise math beyond + - * /: ``pow``, logic on float operands.

Registered into :data:`d1c.accuracy.bound_rules.RULES` (imported there). Each rule follows the
interpreter's evaluation (:mod:`d1c.interp.elementwise`) step for step with the primitives of
:mod:`d1c.accuracy.bound_arith`, so the bound covers every fp32 rounding the op makes.
"""

from __future__ import annotations

import numpy as np

from d1c.accuracy.bound_arith import INF, Bounded, div, exact, mul, unary
from d1c.accuracy.bound_rules import Data, rule
from d1c.ir import Op

F64 = np.float64


def _pick(mask: np.ndarray, a: Bounded, b: Bounded) -> Bounded:
    """Elementwise ``a`` where ``mask``, else ``b`` (a selection: no rounding, no row track)."""
    return Bounded(np.where(mask, a.ref, b.ref), np.where(mask, a.err, b.err))


def _int_power(a: Bounded, n: np.ndarray) -> Bounded:
    """``a ** n`` (0 <= n < 32) by the interpreter's binary powering: r *= a^(2^i) per set bit."""
    r, base = exact(np.ones(np.broadcast_shapes(a.ref.shape, n.shape))), a
    for bit in range(5):
        r = _pick((n >> bit) & 1 == 1, mul(r, base), r)
        base = mul(base, base)
    return r


def _general_power(a: Bounded, b: Bounded) -> Bounded:
    """``exp(b * log|a|)`` (the magnitude of the interpreter's non-integral path)."""
    mag = Bounded(np.abs(a.ref), a.err)
    return unary("exp", mul(b, unary("log", mag)))


@rule("pow")
def _pow(op: Op, args: list[Bounded], d: Data) -> Bounded | np.ndarray:
    """Integral exponents |b| < 32 known exactly: binary powering (then ``1/r`` for b < 0);
    other exponents ``exp(b log|a|)``, signed for a negative a and odd integral b. An exponent
    with an error could change path: unbounded, unless a > 0 (the exp/log path throughout)."""
    a, b = args
    shape = np.broadcast_shapes(a.ref.shape, b.ref.shape)
    a = Bounded(np.broadcast_to(a.ref, shape), np.broadcast_to(a.err, shape))
    b = Bounded(np.broadcast_to(b.ref, shape), np.broadcast_to(b.err, shape))
    whole = (np.floor(b.ref) == b.ref) & (b.err == 0)
    small = whole & (np.abs(b.ref) < 32)
    n = np.where(small, np.abs(b.ref), 0).astype(np.int64)
    r = _int_power(a, n)
    r = _pick(b.ref < 0, div(exact(np.ones(shape)), r), r)
    general = _general_power(a, b)
    err = np.where(small, r.err, general.err)
    positive = a.ref - a.err > 0
    return np.where(whole | positive, err, INF)


@rule("logical_and", "logical_or", "logical_not")
def _logic(op: Op, args: list[Bounded], d: Data) -> Bounded | np.ndarray:
    """0/1 results: exact where every operand's zero-ness is decided (exact, or its interval
    excludes 0), else they may flip (unbounded)."""
    shape = op.result.type.shape
    decided = np.ones(shape, bool)
    for x in args:
        decided &= np.broadcast_to((x.err == 0) | (np.abs(x.ref) > x.err), shape)
    return np.where(decided, 0.0, INF)
