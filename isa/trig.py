"""sin and cos as one fixed sequence of FP32 primitive operations, shared by the IR interpreter
and ``decompose`` (which emits the same steps as IR ops), so both compute the same bits.

The D1 has no ``vfn`` for sin/cos; the sequence uses only ops the tile runs exactly as IEEE
binary32 (``*``, ``+``, ``-``, ``vround`` nearest-even and floor, compares, selects, min/max):

1. ``k = round(x * fp32(2/pi))``; ``q = (k + shift) mod 4`` with ``shift`` 0 for sin, 1 for cos
   (``cos(x) = sin(x + pi/2)``), as ``q = j - 4 * floor(j / 4)`` (exact for |j| < 2^24).
2. Cody-Waite reduction ``r = ((x - k*P1) - k*P2) - k*P3`` with ``P1 + P2 + P3 = pi/2`` to
   ~1.8e-15: P1 has 8 significant bits and P2 11 (Cephes' ``sinf`` constants, doubled), so
   ``k*P1`` is exact for |k| < 2^16, ``k*P2`` for |k| < 2^13, and ``x - k*P1`` is exact
   (Sterbenz).
3. ``s = r + r*z*S(z)``, ``c = 1 - z/2 + z*z*C(z)`` with ``z = r*r`` and the Taylor
   coefficients up to r^11 and r^12 (truncation < 1e-10 for |r| <= pi/4 + 0.2).
4. ``q`` odd selects c, else s; ``q >= 2`` negates; the result is clamped to [-1, 1] (NaN
   passes: ``maximum``/``minimum`` propagate it; x = +-inf gives NaN through ``inf - inf``).

Error bound (:func:`error_bound`, docs/lowering.md "sin and cos"): for ``|x| <= LIMIT``,
``|y - sin(x)| <= 2^-22 + 2^-22 * |x|`` (absolute); beyond, only ``|y - sin(x)| <= 2``.
The term in |x| covers the rounded ``k*P1`` (|k| >= 2^16) and ``k*P2`` products and the
fp32 rounding of ``x*2/pi`` moving k by one; the constant the polynomial's few rounding
errors. The measured worst cases (tests/passes/test_trig.py re-measures them on 2^20 random
fp32 inputs per decade and on the neighbours of multiples of pi/2) are below half of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import numpy as np

F32 = np.float32
T = TypeVar("T")

TWO_OVER_PI = F32(2.0 / np.pi)
P1, P2, P3 = F32(1.5703125), F32(4.837512969970703125e-4), F32(7.54978995489188216e-8)
SIN_COEFFS = tuple(F32(c) for c in (-1 / 6, 1 / 120, -1 / 5040, 1 / 362880, -1 / 39916800))
COS_COEFFS = tuple(F32(c) for c in (1 / 24, -1 / 720, 1 / 40320, -1 / 3628800, 1 / 479001600))
LIMIT = 2.0**22  # beyond it the reduction may be off by a quadrant: bound 2


class Ops(Protocol, Generic[T]):
    """The primitive operations the sequence uses (one FP32 rounding each)."""

    def const(self, value: np.float32) -> T: ...
    def binary(self, name: str, a: T, b: T) -> T: ...  # add sub mul maximum minimum eq ge
    def unary(self, name: str, a: T) -> T: ...  # round floor neg
    def where(self, cond: T, a: T, b: T) -> T: ...


def sin_cos(ops: Ops[T], x: T, kind: str) -> T:
    """sin (``kind='sin'``) or cos of x by the sequence of the module docstring."""
    b, c = ops.binary, ops.const
    k = ops.unary("round", b("mul", x, c(TWO_OVER_PI)))
    j = b("add", k, c(F32(1))) if kind == "cos" else k
    q = b("sub", j, b("mul", ops.unary("floor", b("mul", j, c(F32(0.25)))), c(F32(4))))
    r = b("sub", b("sub", b("sub", x, b("mul", k, c(P1))), b("mul", k, c(P2))), b("mul", k, c(P3)))
    z = b("mul", r, r)
    s = b("add", r, b("mul", b("mul", r, z), _horner(ops, SIN_COEFFS, z)))
    cz = b(
        "add",
        b("sub", c(F32(1)), b("mul", z, c(F32(0.5)))),
        b("mul", b("mul", z, z), _horner(ops, COS_COEFFS, z)),
    )
    half = b("sub", q, b("mul", ops.unary("floor", b("mul", q, c(F32(0.5)))), c(F32(2))))
    y = ops.where(b("eq", half, c(F32(1))), cz, s)
    y = ops.where(b("ge", q, c(F32(2))), ops.unary("neg", y), y)
    return b("minimum", b("maximum", y, c(F32(-1))), c(F32(1)))


def _horner(ops: Ops[T], coeffs: tuple[np.float32, ...], z: T) -> T:
    acc = ops.const(coeffs[-1])
    for coeff in reversed(coeffs[:-1]):
        acc = ops.binary("add", ops.binary("mul", acc, z), ops.const(coeff))
    return acc


def error_bound(x: np.ndarray) -> np.ndarray:
    """Bound on ``|sin_cos(x) - f(x)|`` (f = sin or cos, exact) for float64 arrays x."""
    ax = np.abs(np.asarray(x, np.float64))
    return np.where(ax <= LIMIT, 2.0**-22 + 2.0**-22 * ax, 2.0)


_NUMPY_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "eq": np.equal,
    "ge": np.greater_equal,
}
_NUMPY_UNARY = {"round": np.rint, "floor": np.floor, "neg": np.negative}


class NumpyOps:
    """:class:`Ops` on float32 arrays (the interpreter's evaluator)."""

    def const(self, value: np.float32) -> np.ndarray:
        return np.asarray(value, F32)

    def binary(self, name: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _NUMPY_BINARY[name](a, b)

    def unary(self, name: str, a: np.ndarray) -> np.ndarray:
        return _NUMPY_UNARY[name](a)

    def where(self, cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(cond, a, b)


def sin_cos_f32(x: np.ndarray, kind: str) -> np.ndarray:
    """The sequence on a float32 array (same shape)."""
    a = np.asarray(x, F32)
    with np.errstate(all="ignore"):
        return np.asarray(sin_cos(NumpyOps(), a, kind), F32).reshape(a.shape)
