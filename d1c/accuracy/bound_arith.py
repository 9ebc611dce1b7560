"""Forward error propagation through fp32 arithmetic: the elementwise primitives of
:mod:`d1c.accuracy.bounds` (sums and matrix products are in :mod:`d1c.accuracy.bound_linalg`).

A :class:`Bounded` is a float64 reference value ``ref`` (the exact graph value, see
:mod:`d1c.accuracy.ref64`) and two sound bounds on how far the quantized program's value may be from it:

- ``err``, elementwise: |x̂ - x| <= err (``inf``: unbounded; for integer and ``i1`` values
  ``err > 0`` means "may differ");
- ``row``, per row along the last axis: ||x̂[..., :] - x[..., :]||_2 <= row.

The elementwise track alone (interval-style) is what the textbook rules give, but through a matrix
product it grows by Σ_k|W_kj| per layer where errors really grow by about ||W||_2, so over a deep
network it loses orders of magnitude; the row track follows errors through matrix products with
spectral norms. Both are kept, and after every primitive each is tightened by the other
(err <= row, row <= ||err||_2): the minimum of two sound bounds is sound.

Each primitive bounds |fp32 op(x̂) - op(x)| as *propagated* error (how far the exact op moves when
its inputs move) plus *local* error (the op's own fp32 roundings, the interpreter's order), with
u = 2^-24 and η = 2^-150 (fp32 unit roundoff and half the denormal spacing):

==========  =================================================================================
op          elementwise bound (p: propagated part)       row bound (Δ: error vectors)
==========  =================================================================================
a ± b       p = e_a + e_b;  p + u(|r| + p)               ||Δa|| + ||Δb|| + ||local||
a × b       p = |a|e_b + |b|e_a + e_a e_b;  + u(|r|+p)+η  ||Δa|| max|b̂| + ||Δb|| max|a|
a / b       p = (e_a|b| + |a|e_b) / (|b|(|b| - e_b))      ||Δa|| max 1/|b̂| + ||Δb|| max|a/(b b̂)|
max, min    max(e_a, e_b)                                  sqrt(||Δa||² + ||Δb||²)
f(x)        max|f(x±e) - f(x)| (monotone f) or L·e,        max_j sup|f'| on [x_j ± e_j] · ||Δx||
            plus the fpmath bound (ulp + 1)·2^-23·(|r| + p) + (ulp + 1)·2^-149 in its measured
            domain, a measured tail bound below it (:data:`TAILS`), unbounded elsewhere
==========  =================================================================================

(an operand broadcast along the last axis is a per-row scalar: its row contribution is exact,
|Δb|·||a||). u is inflated by 2^-20 so that the bound also covers the float64 rounding of the
reference and of the bound's own arithmetic (both about 2^-53 relative per operation).

Validity: fp32 overflow (|r| + e > FLT_MAX), division by an interval holding zero and leaving an
fpmath domain are unbounded; an element whose reference is ±inf/NaN is exact when its inputs are
(IEEE gives the same special value in fp32 and float64), and -inf minus a finite value is exact
(masked attention scores). Any unbounded element makes its row unbounded.

:func:`round_to_format` is the storage rounding that ends an op: half the format's grid step at
|r| + e (:func:`d1c.accuracy.grid.rounding_bound`: at most u_f(|r| + e) with u_f = 2^-(mantissa
bits + 1), and half the smallest denormal below the normals; twice that for stochastic
rounding); past the largest value an IEEE format overflows to ±inf (unbounded) and a CFloat
format saturates (error at most |value| - max).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from d1c.accuracy import grid
from d1c.accuracy.ref64 import UNARY64, sigmoid64
from d1c.ir import FP32, ElemType
from d1c.isa import trig
from d1c.isa.fpmath import FUNCTIONS
from d1c.isa.numerics import FORMATS, max_value

F64 = np.float64
U32 = 2.0**-24 * (1.0 + 2.0**-20)
ETA32 = 2.0**-150
FLT_MAX = float(np.finfo(np.float32).max)
INF = math.inf

# Below the measured domain of an fpmath bound the functions tend to 0 and their fp32 results are
# denormals: absolute error bounds measured on a dense grid down to -200 (tests/accuracy/test_bounds.py
# re-measures them) and doubled, rounded up to a power of two.
TAILS = {"exp": 2.0**-148, "silu": 2.0**-141, "gelu_tanh": 2.0**-144, "gelu_erf": 2.0**-148}
# sup|f'| over the reals (rounded up; re-measured in the tests) and where f starts increasing.
LIPSCHITZ = {"gelu_erf": 1.13, "gelu_tanh": 1.13, "silu": 1.1, "sin": 1.0, "cos": 1.0}
INCREASING_FROM = {"gelu_erf": -0.75, "gelu_tanh": -0.75, "silu": -1.27}
MONOTONE = ("exp", "log", "sqrt", "rsqrt", "reciprocal", "tanh", "sigmoid", "erf")
MONOTONE += ("floor", "ceil", "trunc", "round")
EXACT_UNARY = ("neg", "abs", "relu", "floor", "ceil", "trunc", "round")
SIGN_OPS = {"neg": np.negative, "abs": np.abs, "relu": lambda v: np.where(v < 0, 0.0, v)}


@dataclass(frozen=True, slots=True)
class Bounded:
    """A reference value with an elementwise and a per-row (last axis) error bound."""

    ref: np.ndarray
    err: np.ndarray
    row: np.ndarray | None = None  # None: derived from err


def clean(x: np.ndarray) -> np.ndarray:
    """NaN bounds (from inf - inf or 0 * inf) mean unbounded."""
    return np.nan_to_num(np.asarray(x, F64), nan=INF, posinf=INF)


def box_row(err: np.ndarray) -> np.ndarray:
    """||err[..., :]||_2 per row (a rank-0 value is its own row)."""
    err = np.asarray(err, F64)
    if err.ndim == 0:
        return err
    with np.errstate(over="ignore"):
        return np.sqrt(np.sum(err * err, axis=-1))


def rows(b: Bounded) -> np.ndarray:
    """The row bound of ``b``: the tighter of its row track and its elementwise track."""
    r = box_row(b.err)
    return r if b.row is None else np.minimum(b.row, r)


def exact(ref: np.ndarray) -> Bounded:
    ref = np.asarray(ref)
    return Bounded(ref, np.zeros(ref.shape, F64))


def is_row_scalar(b: Bounded, shape: tuple[int, ...]) -> bool:
    """``b`` is one value per row of a result of ``shape`` (broadcast along the last axis)."""
    return bool(shape) and shape[-1] != 1 and (b.ref.ndim == 0 or b.ref.shape[-1] == 1)


def row_in(b: Bounded, shape: tuple[int, ...]) -> np.ndarray:
    """Row bounds of operand ``b`` broadcast to a result of ``shape``."""
    if not shape:
        return np.asarray(b.err, F64).reshape(())
    if is_row_scalar(b, shape):
        per_row = b.err if b.ref.ndim == 0 else b.err[..., 0]
        return np.broadcast_to(math.sqrt(shape[-1]) * per_row, shape[:-1])
    return np.broadcast_to(rows(b), shape[:-1])


def row_max(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """max_j x[..., j] of ``x`` broadcast to ``shape`` (per row)."""
    xb = np.broadcast_to(np.asarray(x, F64), shape)
    return xb if not shape else np.max(xb, axis=-1, initial=0.0)


def row_norm(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return box_row(np.broadcast_to(np.asarray(x, F64), shape))


def scalar_per_row(b: Bounded) -> np.ndarray:
    """The per-row values of a row-scalar ``b`` (drops its length-1 last axis)."""
    return b.err if b.ref.ndim == 0 else b.err[..., 0]


def finish(
    ref: np.ndarray,
    err: np.ndarray,
    row: np.ndarray,
    exact_in: np.ndarray | bool,
    limit: float = FLT_MAX,
) -> Bounded:
    """Tighten the two tracks by each other, then apply the validity rules (overflow past
    ``limit``, special references) and make rows with an unbounded element unbounded."""
    ref = np.asarray(ref)
    err = np.broadcast_to(clean(err), ref.shape)
    row = np.broadcast_to(clean(row), ref.shape[:-1])
    err = np.minimum(err, row[..., None] if ref.ndim else row)
    row = np.minimum(row, box_row(err))
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(np.abs(ref) + err > limit, INF, err)
    err = np.where(np.isfinite(ref), err, np.where(exact_in, 0.0, INF))
    row = np.where(np.any(np.isinf(err), axis=-1), INF, row) if ref.ndim else err
    return Bounded(ref, err, row)


def local_part(ref: np.ndarray, local: np.ndarray) -> np.ndarray:
    """An op's own rounding bound, 0 at special references (the validity rules decide them)."""
    return np.where(np.isfinite(ref), np.broadcast_to(local, np.shape(ref)), 0.0)


def _exact_in(*xs: Bounded) -> np.ndarray:
    out = np.asarray(True)
    for x in xs:
        out = out & (x.err == 0)
    return out


def add(a: Bounded, b: Bounded, sign: float = 1.0) -> Bounded:
    """a + b (sign 1) or a - b (sign -1) in fp32."""
    ref = a.ref + sign * b.ref
    shape = ref.shape
    p = a.err + b.err
    local = local_part(ref, U32 * (np.abs(ref) + p))
    row = row_in(a, shape) + row_in(b, shape) + box_row(local)
    fa, fb = np.isfinite(a.ref), np.isfinite(b.ref)
    inf_plus_finite = (~fa & (a.err == 0) & fb & np.isfinite(b.err)) | (
        ~fb & (b.err == 0) & fa & np.isfinite(a.err)
    )
    return finish(ref, p + local, row, _exact_in(a, b) | inf_plus_finite)


def sub(a: Bounded, b: Bounded) -> Bounded:
    return add(a, b, -1.0)


def _times(x: Bounded, other_mag: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Row bound of Δx ⊙ other, with |other| <= ``other_mag``."""
    if is_row_scalar(x, shape):
        return np.broadcast_to(scalar_per_row(x), shape[:-1]) * row_norm(other_mag, shape)
    return row_in(x, shape) * row_max(other_mag, shape)


def mul(a: Bounded, b: Bounded) -> Bounded:
    """a × b in fp32: Δ(ab) = Δa·b̂ + a·Δb."""
    ref = a.ref * b.ref
    shape = ref.shape
    ma, mb = np.abs(a.ref), np.abs(b.ref)
    p = ma * b.err + mb * a.err + a.err * b.err
    local = local_part(ref, U32 * (np.abs(ref) + p) + ETA32)
    with np.errstate(invalid="ignore"):
        row = _times(a, mb + b.err, shape) + _times(b, ma, shape) + box_row(local)
    return finish(ref, p + local, row, _exact_in(a, b))


def div(a: Bounded, b: Bounded) -> Bounded:
    """a / b in fp32: â/b̂ - a/b = Δa/b̂ - Δb·a/(b b̂)."""
    ref = a.ref / b.ref
    shape = ref.shape
    mb = np.abs(b.ref)
    safe = mb > b.err
    low = np.where(safe, mb - b.err, 1.0)
    inv = np.where(safe, 1.0 / low, INF)  # >= 1/|b̂|
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(
            safe, (a.err * mb + np.abs(a.ref) * b.err) / (np.where(safe, mb, 1) * low), INF
        )
        local = local_part(ref, U32 * (np.abs(ref) + p) + ETA32)
        ratio = np.abs(a.ref) / np.where(mb > 0, mb, 1.0) * inv
        row = _times(a, inv, shape) + _times(b, ratio, shape) + box_row(local)
    return finish(ref, p + local, row, _exact_in(a, b))


def maxmin(a: Bounded, b: Bounded, fn: np.ufunc) -> Bounded:
    """maximum/minimum: 1-Lipschitz in each operand, exact in fp32."""
    ref = fn(a.ref, b.ref)
    shape = ref.shape
    row = np.sqrt(row_in(a, shape) ** 2 + row_in(b, shape) ** 2)
    err = np.broadcast_to(np.maximum(a.err, b.err), shape)
    return finish(ref, err, row, np.isfinite(err))


def _endpoints(f: object, x: np.ndarray, e: np.ndarray, y: np.ndarray) -> np.ndarray:
    """max |f(x±e) - f(x)|: the exact propagated error of a monotone f (0 where e = 0)."""
    up, down = np.abs(f(x + e) - y), np.abs(f(x - e) - y)
    return np.where(e == 0, 0.0, clean(np.maximum(up, down)))


def propagated(name: str, x: np.ndarray, e: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bound on |f(x̂) - f(x)| for |x̂ - x| <= e."""
    if name in SIGN_OPS:
        return e
    if name in ("sin", "cos"):
        return np.minimum(e, 2.0)
    f = UNARY64[name]
    if name == "reciprocal":
        crosses = (x - e <= 0) & (x + e >= 0)
        return np.where(crosses & (e > 0), INF, _endpoints(f, x, e, y))
    if name in MONOTONE:
        return _endpoints(f, x, e, y)
    mono = x - e >= INCREASING_FROM[name]
    return np.where(mono, _endpoints(f, x, e, y), LIPSCHITZ[name] * e)


def slope(name: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """sup |f'| over [lo, hi] (inf where f is not Lipschitz there)."""
    c = np.clip(0.0, lo, hi)  # the point of the interval nearest 0
    pos = np.where(lo > 0, lo, np.nan)
    table = {
        "exp": lambda: np.exp(hi),
        "log": lambda: 1.0 / pos,
        "sqrt": lambda: 0.5 / np.sqrt(pos),
        "rsqrt": lambda: 0.5 * pos**-1.5,
        "reciprocal": lambda: 1.0 / np.where(lo * hi > 0, np.minimum(lo * lo, hi * hi), np.nan),
        "tanh": lambda: 1.0 - np.tanh(c) ** 2,
        "sigmoid": lambda: sigmoid64(c) * (1.0 - sigmoid64(c)),
        "erf": lambda: 2.0 / math.sqrt(math.pi) * np.exp(-c * c),
    }
    if name in SIGN_OPS:
        return np.ones_like(lo)
    if name in LIPSCHITZ:
        return np.full_like(lo, LIPSCHITZ[name])
    if name in table:
        with np.errstate(all="ignore"):
            return clean(table[name]())
    return np.full_like(lo, INF)  # floor, ceil: jumps


def compute_error(name: str, x: np.ndarray, e: np.ndarray, mag: np.ndarray) -> np.ndarray:
    """Bound on |fp32 f(x̂) - f(x̂)| where |f(x̂)| <= ``mag``."""
    if name in EXACT_UNARY:
        return np.zeros_like(mag)
    if name == "sqrt":
        return U32 * mag + ETA32
    if name in ("sin", "cos"):  # the d1c.isa.trig sequence (docs/lowering.md, sin and cos)
        return trig.error_bound(np.abs(x) + e)
    fn = FUNCTIONS[name]
    err = (fn.ulp_bound + 1) * (2.0**-23 * mag + 2.0**-149)
    lo, hi = x - e, x + e
    if name == "reciprocal":
        lo, hi = np.minimum(np.abs(lo), np.abs(hi)), np.maximum(np.abs(lo), np.abs(hi))
    tail = TAILS.get(name)
    below = lo < fn.lo
    err = err + (np.where(below, tail, 0.0) if tail is not None else np.where(below, INF, 0.0))
    return np.where(hi > fn.hi, INF, err)


def unary(name: str, a: Bounded) -> Bounded:
    """Elementwise f in fp32 (``name``: a ref64.UNARY64 key, or neg/abs/relu)."""
    x, e = a.ref, a.err
    ref = SIGN_OPS[name](x) if name in SIGN_OPS else UNARY64[name](x)
    shape = ref.shape
    with np.errstate(all="ignore"):
        p = propagated(name, x, e, ref)
        local = local_part(ref, compute_error(name, x, e, np.abs(ref) + p))
        lip = row_max(slope(name, x - e, x + e), shape)
    row = lip * row_in(a, shape) + box_row(local)
    return finish(ref, p + local, np.where(lip == 0, box_row(local), row), a.err == 0)


def flag(b: Bounded, bad: np.ndarray) -> Bounded:
    """``b`` with the elements ``bad`` unbounded (and their rows)."""
    err = np.where(bad, INF, b.err)
    row = rows(b)
    if err.ndim:
        row = np.where(np.any(np.isinf(err), axis=-1), INF, row)
    return Bounded(b.ref, err, row if err.ndim else err)


def round_to_format(b: Bounded, elem: ElemType, rounding: str = "rne") -> Bounded:
    """``b`` after its computed value z is rounded to the storage format ``elem``: half the grid
    step at |z| <= |r| + e to nearest, the whole step stochastically (:mod:`d1c.accuracy.grid`).
    Past the largest finite value ``top`` an IEEE format gives ±inf (unbounded where |z| may reach
    the rounding boundary above ``top``); a CFloat format saturates to ±top, an error of at most
    |z| - top, which is added instead."""
    if elem == FP32 or not elem.is_float:
        return b
    has_inf_nan = FORMATS[elem.name].has_inf_nan
    top = max_value(elem.name, elem.bias)
    ref = np.asarray(b.ref, F64)
    finite = np.isfinite(ref)
    with np.errstate(invalid="ignore", over="ignore"):
        mag = np.abs(ref) + b.err
        step = grid.rounding_bound(np.minimum(mag, top), elem, rounding)
        excess = np.maximum(mag - top, 0.0)
        local = local_part(ref, step + (0.0 if has_inf_nan else excess))
        out = finish(ref, b.err + local, rows(b) + box_row(local), b.err == 0, INF)
    if not has_inf_nan:
        return flag(out, ~finite)
    boundary = 0.0 if rounding == "sr" else float(grid.rounding_bound(np.asarray(top), elem))
    return flag(out, finite & (excess > 0) & (mag >= top + boundary))
