"""Bit-exact FP32 transcendentals shared by the D1 simulator and the IR interpreter.

Every function here is a FIXED sequence of IEEE-754 binary32 operations: ``+ - * /``,
``np.sqrt`` (correctly rounded), comparisons/selects (``np.where``, ``np.minimum``,
``np.abs``, ``np.copysign``), ``np.rint`` and integer bit manipulation on ``view``s. Each
operation is rounded to FP32 on its own (numpy float32 ufuncs; no fused multiply-add, no
contraction), all constants are ``np.float32`` and no intermediate is ever float64, so the
result bits are the same on every host. The host libm (``np.exp``, ``math.*``...) is never
on the data path; it only appears in the float64 *reference* functions used for tests/docs.

Method (docs/design.md §4): range reduction, then a polynomial fitted offline (Lawson's iteratively
reweighted least squares toward minimax, in float64 against 40-digit mpmath values, then
rounded to FP32); the bounds below are *measured* on the FP32 code, not the fit error.
Where an argument must be known to more than 24 bits (``exp(-y*y/2)`` in the Gaussian tail,
the cubic of tanh-GELU) the code carries it as an unevaluated FP32 pair ``hi + lo`` built
with Dekker's exact ``two_prod``/``two_sum`` (still only FP32 ``+ - *``).

Accuracy is the distance in FP32 units in the last place between the result and the float64
reference rounded to FP32, measured on ordered bit patterns (see :func:`ulp_distance`).
:data:`FUNCTIONS` lists each function's domain, bound and reference.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

F32 = np.float32


def _k(*hexes: str) -> tuple[np.float32, ...]:
    """FP32 constants from exact hexadecimal float literals (no decimal rounding surprises)."""
    return tuple(F32(float.fromhex(h)) for h in hexes)


_ZERO, _HALF, _ONE, _TWO = F32(0.0), F32(0.5), F32(1.0), F32(2.0)
_NAN = np.uint32(0x7FC00000).view(np.float32)  # the one NaN this module creates (hosts differ)
_INF = F32(np.inf)
_FLT_MIN = F32(float.fromhex("0x1p-126"))
_TWO25 = F32(float.fromhex("0x1p25"))
_SPLIT = F32(4097.0)  # 2**12 + 1: Veltkamp splitter for 24-bit significands

# exp: n = rint(x*log2(e)); r = x - n*ln2 with ln2 = LN2_HI + LN2_LO, LN2_HI has 9 significant
# bits so n*LN2_HI is exact for |n| <= 2**15; e^r = 1 + r + r^2*P(r) on |r| <= 0.3471.
(_LOG2E, _LN2_HI, _LN2_LO) = _k("0x1.715476p+0", "0x1.63p-1", "-0x1.bd0106p-13")
_EXP_P = _k(
    "0x1.000000p-1", "0x1.555554p-3", "0x1.55548cp-5",
    "0x1.111272p-7", "0x1.6d8e12p-10", "0x1.9f07c2p-13",
)  # fmt: skip
# Domain of normal, finite exp results: [ceil32(ln FLT_MIN), floor32(ln FLT_MAX)].
EXP_LO, EXP_HI = _k("-0x1.5d589ep+6", "0x1.62e42ep+6")
_EXP_CLAMP_LO, _EXP_CLAMP_HI = F32(-104.0), F32(89.0)  # e^-104 < 2^-150 rounds to 0; e^89 > max

# tanh(x) = x + x*z*P(z), z = x*x, for |x| < 0.625; else 1 - 2/(e^(2|x|) + 1).
_TANH_P = _k(
    "-0x1.555554p-2", "0x1.111066p-3", "-0x1.b9ee90p-5",
    "0x1.638b58p-6", "-0x1.0bf4fep-7", "0x1.18e1e0p-9",
)  # fmt: skip
_TANH_SPLIT, _TANH_CLAMP = F32(0.625), F32(10.0)  # fp32 tanh(10) == 1 exactly

# erf(x) = x + x*P(x*x) for |x| < 0.875; else 1 - erfc(x) with erfc from the Gaussian tail.
_ERF_P = _k(
    "0x1.06eba8p-3", "-0x1.812746p-2", "0x1.ce2f1cp-4", "-0x1.b82bf8p-6",
    "0x1.5648e4p-8", "-0x1.be843ep-11", "0x1.e4a240p-14", "-0x1.661d44p-17",
)  # fmt: skip
_ERF_SPLIT, _ERF_CLAMP = F32(0.875), F32(4.5)  # fp32 erf(x) == 1 for x >= 3.92
(_SQRT2,) = _k("0x1.6a09e6p+0")

# Gaussian tail in exponential form: erfc(y/sqrt2) = exp(-y*y/2 + L(y)) for y < 1 and
# exp(-y*y/2 + L(y)) / y for y >= 1, i.e. L = log(G) below 1 and log(y*G) above, where
# G(y) = erfc(y/sqrt2)*exp(y*y/2). |L| < 0.65 everywhere, so its rounding error stays small
# in absolute terms. On piece [E[i], E[i+1]) L is a degree-7 polynomial in u = y - C[i];
# C[0] = 0, else the midpoint, and E[i] >= C[i]/2 makes y - C[i] exact (Sterbenz). L(0) = 0
# exactly, so erfc(0) = 1 and Phi(0) = 1/2.
_L_EDGES = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 11, 14.5], dtype=np.float32)
_L_CENTERS = np.concatenate([[_ZERO], (_L_EDGES[1:-1] + _L_EDGES[2:]) * _HALF])
# fmt: off
_L_TAB = np.array([_k(*row) for row in (
    ("0x0p+0", "-0x1.988454p-1", "0x1.7419f4p-3", "-0x1.29a97cp-5", "0x1.3973c0p-8", "0x1.1a37c0p-15", "-0x1.acd292p-13", "0x1.71e58ap-15"),
    ("-0x1.05256ap-1", "-0x1.285596p-1", "0x1.d8f330p-4", "-0x1.798b88p-6", "0x1.f385acp-9", "-0x1.a9dcd2p-12", "-0x1.063182p-16", "0x1.5294fap-16"),
    ("-0x1.19a4bcp-1", "0x1.48e44ap-2", "-0x1.df040cp-3", "0x1.3bdd5ap-3", "-0x1.977c9ap-4", "0x1.0a583ap-4", "-0x1.7c3088p-5", "0x1.09a7cep-5"),
    ("-0x1.bbc948p-2", "0x1.57690cp-3", "-0x1.919db6p-4", "0x1.9db334p-5", "-0x1.944692p-6", "0x1.85abbcp-7", "-0x1.862b3ap-8", "0x1.839fc0p-9"),
    ("-0x1.638b1cp-2", "0x1.3c6ff2p-4", "-0x1.22ed16p-5", "0x1.d0e328p-7", "-0x1.58998ap-8", "0x1.ebf46cp-10", "-0x1.71231ap-11", "0x1.077324p-12"),
    ("-0x1.2e3d28p-2", "0x1.192c98p-5", "-0x1.94ae04p-7", "0x1.f9a498p-9", "-0x1.232dd8p-10", "0x1.3ee0d8p-12", "-0x1.5e6050p-14", "0x1.703472p-16"),
    ("-0x1.0cb612p-2", "0x1.ba3ce6p-7", "-0x1.dea812p-9", "0x1.c42714p-11", "-0x1.897b00p-13", "0x1.44f84cp-15", "-0x1.17b4fcp-17", "0x1.b87e40p-20"),
    ("-0x1.f645b8p-3", "0x1.5c18aep-8", "-0x1.195086p-10", "0x1.8f49dcp-13", "-0x1.069062p-15", "0x1.485316p-18", "-0x1.9d4e80p-21", "0x1.e8942ep-24"),
    ("-0x1.e48438p-3", "0x1.221238p-9", "-0x1.622a80p-12", "0x1.7d76a0p-15", "-0x1.7df8d4p-18", "0x1.6ce33ap-21", "-0x1.650a5ep-24", "0x1.44c254p-27"),
    ("-0x1.dad4b0p-3", "0x1.eb03bcp-11", "-0x1.c52ff4p-14", "0x1.721928p-17", "-0x1.19e3fcp-20", "0x1.9a9944p-24", "-0x1.2f3e58p-27", "0x1.a54f54p-31"),
)], dtype=np.float32)
# fmt: on
_L_SPLIT = F32(1.0)
_G_CLAMP = F32(14.4)  # -14.4**2/2 + L > -104; erfc(14.4/sqrt2) is far below 2^-150

# log: x = 2^k * m, m in [sqrt(1/2), sqrt(2)), f = m - 1, s = f/(2+f), z = s*s;
# log1p(f) = f - hfsq + s*(hfsq + z*P(z)) (fdlibm's arrangement). LN2_HI has 15 bits.
(_LOG_LN2_HI, _LOG_LN2_LO) = _k("0x1.62e4p-1", "0x1.7f7d1cp-20")
_LOG_P = _k("0x1.555554p-1", "0x1.999a7cp-2", "0x1.2438a0p-2", "0x1.e2ff0ep-3")
_SQRT2_MANT = np.uint32(0x3504F3)  # significand bits of sqrt(2)

# tanh-GELU argument v = 2*sqrt(2/pi)*(x + 0.044715*x^3), constants as FP32 pairs hi + lo.
# hi = fp32(c), lo = fp32(c - hi) for c = 0.044715 and 2*sqrt(2/pi) (_GELU_A, _GELU_K below).
_GA_HI, _GA_LO = _k("0x1.6e4e26p-5", "0x1.a9003ep-30")
_GK_HI, _GK_LO = _k("0x1.988454p+0", "-0x1.857936p-25")
_GELU_CLAMP = F32(16.0)  # beyond +-16 the FP32 result is x or -0 exactly
_SILU_CLAMP = F32(-128.0)  # silu(x) rounds to -0 below this; avoids -inf * 0
_SILU_SAT = F32(32.0)  # sigmoid(x) == 1 in FP32 from 17.4 on, so silu(x) == x


def _elementwise(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Convert input to a flat float32 array, silence IEEE warnings, restore the input shape."""

    @functools.wraps(fn)
    def wrapper(x: np.ndarray) -> np.ndarray:
        a = np.asarray(x, dtype=np.float32)
        with np.errstate(all="ignore"):
            y = fn(a.reshape(-1))
        return np.asarray(y, dtype=np.float32).reshape(a.shape)

    return wrapper


def _nan0(x: np.ndarray) -> np.ndarray:
    """x with NaNs replaced by 0 (so the data path never sees NaN); callers restore NaN."""
    return np.where(np.isnan(x), _ZERO, x)


def _keep_nan(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """NaN inputs come back unchanged (same bits)."""
    return np.where(np.isnan(x), x, y)


def _poly(coeffs: tuple[np.float32, ...], u: np.ndarray) -> np.ndarray:
    """Horner: c0 + u*(c1 + u*(c2 + ...)), one rounding per * and per +."""
    acc = np.full_like(u, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = acc * u + c
    return acc


def _pow2(n: np.ndarray) -> np.ndarray:
    """2**n for int32 n in [-126, 127], built in the exponent field."""
    return ((n + 127).astype(np.uint32) << np.uint32(23)).view(np.float32)


def _scale(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """p * 2**n in two exact halves, so only the last multiply can round (into denormals)."""
    h = n >> 1
    return p * _pow2(h) * _pow2(n - h)


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knuth: s + e == a + b exactly."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp: a == hi + lo exactly with hi, lo of at most 12 significant bits."""
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def _two_prod(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dekker: p + e == a * b exactly (no FMA needed), barring under/overflow."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _exp_dd(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """e**(hi + lo) for finite hi in [-104, 89] and |lo| << 1.

    r0 = hi - n*LN2_HI is exact; r + rl = r0 + (lo - n*LN2_LO) and a + al = 1 + r are exact
    pairs (two_sum), so e^r = a + (al + (rl + r*r*P(r))) rounds essentially once."""
    n = np.rint(hi * _LOG2E)
    r, rl = _two_sum(hi - n * _LN2_HI, lo - n * _LN2_LO)
    a, al = _two_sum(_ONE, r)
    p = a + (al + (rl + (r * r) * _poly(_EXP_P, r)))
    return _scale(p, n.astype(np.int32))


def _gauss_log(y: np.ndarray) -> np.ndarray:
    """L(y) for 0 <= y <= 14.5: pick the piece, Horner in y - C (per-element coefficients)."""
    i = np.searchsorted(_L_EDGES[1:-1], y, side="right")
    u = y - _L_CENTERS[i]
    tab = _L_TAB[i]
    acc = tab[:, -1]
    for k in range(tab.shape[1] - 2, -1, -1):
        acc = acc * u + tab[:, k]
    return acc


def _gauss_exp(y: np.ndarray) -> np.ndarray:
    """exp(-y*y/2 + L(y)) for y >= 0 (clamped to 14.4), the exponent kept as a pair:
    y*y is split exactly by two_prod and the sum with L by two_sum."""
    y = np.minimum(y, _G_CLAMP)
    p, e = _two_prod(y, y)
    s, se = _two_sum(-(p * _HALF), _gauss_log(y))
    return _exp_dd(s, se - e * _HALF)


def _times_sigmoid(x: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """x/(1+e^-v), v = hi + lo, with e = exp(-|v|) in (0, 1] and numerator m = x*(1 or e):

    m = n + ne (two_prod) over 1 + e = d + de (Fast2Sum) are exact pairs; q = n/d and the
    remainder n - q*d (two_prod again) feed one correction, so the result rounds ~once."""
    neg = hi < _ZERO
    a = np.minimum(np.abs(hi), -_EXP_CLAMP_LO)
    e = _exp_dd(-a, np.where(neg, lo, -lo))
    d = _ONE + e
    de = e - (d - _ONE)
    n, ne = _two_prod(x, np.where(neg, e, _ONE))
    q = n / d
    qd, qde = _two_prod(q, d)
    r = q + ((((n - qd) - qde) + (ne - q * de)) / d)
    return np.copysign(r, x)  # x*sigmoid has the sign of x, also for +-0 results


@_elementwise
def exp(x: np.ndarray) -> np.ndarray:
    """e**x. Accurate on [EXP_LO, EXP_HI] = [-87.33654, 88.72283] (normal results).

    Above EXP_HI the result overflows to +inf (+inf -> +inf); between -103.97 and EXP_LO it
    is a denormal (one extra rounding: within 1 denormal ulp); below, +0 (-inf -> +0).
    exp(+-0) = 1 exactly; NaN -> NaN.
    """
    safe = np.clip(_nan0(x), _EXP_CLAMP_LO, _EXP_CLAMP_HI)
    return _keep_nan(x, _exp_dd(safe, _ZERO))


@_elementwise
def tanh(x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent, accurate on all finite floats; odd, so tanh(-0) = -0.

    |x| < 0.625: x + x*(z*P(z)), z = x*x (denormals return themselves). Otherwise
    1 - 2/(exp(2|x|) + 1) with |x| clamped to 10 (FP32 tanh(10) is exactly 1), sign copied.
    tanh(+-inf) = +-1; NaN -> NaN.
    """
    a = np.minimum(np.abs(_nan0(x)), _TANH_CLAMP)
    z = a * a
    small = a + a * (z * _poly(_TANH_P, z))
    big = _ONE - _TWO / (_exp_dd(a + a, _ZERO) + _ONE)
    return _keep_nan(x, np.copysign(np.where(a < _TANH_SPLIT, small, big), x))


@_elementwise
def erf(x: np.ndarray) -> np.ndarray:
    """Error function, accurate on all finite floats; odd, so erf(-0) = -0.

    |x| < 0.875: x + x*P(x*x). Otherwise 1 - exp(-y*y/2 + L(y))/y with y = |x|*sqrt2 (the
    Gaussian tail, see _L_TAB), |x| clamped to 4.5 (FP32 erf is 1 from 3.92 on).
    erf(+-inf) = +-1; NaN -> NaN.
    """
    a = np.minimum(np.abs(_nan0(x)), _ERF_CLAMP)
    small = a + a * _poly(_ERF_P, a * a)
    y = a * _SQRT2
    big = _ONE - _gauss_exp(y) / y
    return _keep_nan(x, np.copysign(np.where(a < _ERF_SPLIT, small, big), x))


@_elementwise
def rsqrt(x: np.ndarray) -> np.ndarray:
    """1/sqrt(x) as two correctly rounded operations (so at most 1 ulp off).

    Accurate on all positive floats, denormals included. rsqrt(+0) = +inf, rsqrt(-0) = -inf
    (IEEE 754 rSqrt), x < 0 -> NaN, +inf -> +0, NaN -> NaN. Powers of 4 give exact results.
    """
    y = _ONE / np.sqrt(x)
    return _keep_nan(x, np.where(x < _ZERO, _NAN, y))


@_elementwise
def reciprocal(x: np.ndarray) -> np.ndarray:
    """1/x, one correctly rounded IEEE division (0 ulp).

    1/(+-0) = +-inf, 1/(+-inf) = +-0, NaN -> NaN. For |x| < 2**-128 (denormals) the true
    result exceeds FLT_MAX and the answer is +-inf; for |x| > 2**126 it is denormal.
    """
    return _keep_nan(x, _ONE / x)


@_elementwise
def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic 1/(1+e^-x), accurate on all finite floats.

    _times_sigmoid(1, x): with e = exp(-|x|), 1/(1+e) for x >= 0 and e/(1+e) for x < 0 (no
    cancellation, no overflow), 1+e and the quotient kept exact to one final rounding.
    For x < EXP_LO the result is denormal, then +0 below -103.97.
    sigmoid(+inf) = 1, sigmoid(-inf) = +0, NaN -> NaN.
    """
    return _keep_nan(x, _times_sigmoid(_ONE, _nan0(x), _ZERO))


@_elementwise
def log(x: np.ndarray) -> np.ndarray:
    """Natural logarithm, accurate on all positive floats (denormals are prescaled by 2**25).

    x = 2^k*m, m in [sqrt(1/2), sqrt(2)); f = m-1 (exact); s = f/(2+f); result
    k*LN2_HI - ((hfsq - (s*(hfsq + z*P(z)) + k*LN2_LO)) - f), hfsq = f*f/2, z = s*s.
    log(1) = +0, log(+-0) = -inf, x < 0 -> NaN, log(+inf) = +inf, NaN -> NaN.
    """
    pos = np.where((x > _ZERO) & (x < _INF), x, _ONE)
    tiny = pos < _FLT_MIN
    bits = np.where(tiny, pos * _TWO25, pos).view(np.uint32)
    mant = bits & np.uint32(0x7FFFFF)
    big = mant > _SQRT2_MANT
    expo = (bits >> np.uint32(23)).astype(np.int32) - np.where(tiny, 152, 127) + big
    m = (mant | np.where(big, np.uint32(126 << 23), np.uint32(127 << 23))).view(np.float32)
    f = m - _ONE
    s = f / (_TWO + f)
    z = s * s
    hfsq = _HALF * (f * f)
    k = expo.astype(np.float32)
    r = z * _poly(_LOG_P, z)
    y = k * _LOG_LN2_HI - ((hfsq - (s * (hfsq + r) + k * _LOG_LN2_LO)) - f)
    y = np.where(x == _INF, x, np.where(x == _ZERO, -_INF, y))
    return np.where(x < _ZERO, _NAN, _keep_nan(x, y))


@_elementwise
def gelu_erf(x: np.ndarray) -> np.ndarray:
    """Exact GELU x*Phi(x), Phi(x) = erfc(-x/sqrt2)/2, computed from E = exp(-y*y/2 + L(y)),
    y = |xc|, xc = max(x, -16), in this fixed order:

    x >= 0: t = E (y < 1) or E/y (y >= 1) is erfc(y/sqrt2); result xc*(1 - t/2).
    x < 0:  xc*(E/2) for y < 1, and -(E/2) for y >= 1 (there x*Phi(x) = -y*erfc/2 = -E/2).
    So negative inputs keep full relative accuracy (no 1 + erf cancellation, one exp).
    Accurate on [-13.14, FLT_MAX] (normal results); denormal below, -0 from about -14.4 on.
    gelu_erf(+inf) = +inf, gelu_erf(-inf) = -0 (the limit); NaN -> NaN.
    """
    xc = np.maximum(_nan0(x), -_GELU_CLAMP)
    y = np.abs(xc)
    small = y < _L_SPLIT
    h = _HALF * _gauss_exp(y)
    pos = xc * (_ONE - np.where(small, h, h / y))
    neg = np.where(small, xc * h, -h)
    return _keep_nan(x, np.where(xc < _ZERO, neg, pos))


def _gelu_tanh_arg(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """v = K*(x + A*x^3) as a pair hi + lo (|x| <= 16), K = 2*sqrt(2/pi), A = 0.044715."""
    s, se = _two_prod(x, x)
    c, ce = _two_prod(s, x)
    ce = ce + se * x
    p, pe = _two_prod(_GA_HI, c)
    pe = pe + (_GA_HI * ce + _GA_LO * c)
    q, qe = _two_sum(x, p)
    qe = qe + pe
    v, ve = _two_prod(_GK_HI, q)
    return v, ve + (_GK_HI * qe + _GK_LO * q)


@_elementwise
def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """tanh-GELU 0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x^3))) = x*sigmoid(v), computed as
    _times_sigmoid(xc, v).

    v = 2*sqrt(2/pi)*(x + 0.044715*x^3) is carried as an FP32 pair (exact x^3 products,
    constants as hi + lo pairs) so the result keeps full relative accuracy for negative x;
    xc = clip(x, -16, 16) feeds v, and the result is xc*sigmoid(v) for x < 16, else x
    (x >= 16) or -0 (x <= -16). Accurate on [-10, FLT_MAX] (sigmoid(v) normal); denormal
    further down.
    gelu_tanh(+inf) = +inf, (-inf) = -0; NaN -> NaN.
    """
    x0 = _nan0(x)
    xc = np.clip(x0, -_GELU_CLAMP, _GELU_CLAMP)
    y = np.where(x0 >= _GELU_CLAMP, x0, _times_sigmoid(xc, *_gelu_tanh_arg(xc)))
    return _keep_nan(x, y)


@_elementwise
def silu(x: np.ndarray) -> np.ndarray:
    """SiLU / swish x*sigmoid(x) = x/(1+e^-x), as _times_sigmoid(xc, xc) with
    xc = clip(x, -128, 32): result x for x >= 32 (sigmoid is 1 there), -0 below -128.

    Accurate on [EXP_LO, FLT_MAX]; denormal results between about -103 and EXP_LO.
    silu(+inf) = +inf, silu(-inf) = -0; NaN -> NaN.
    """
    x0 = _nan0(x)
    xc = np.clip(x0, _SILU_CLAMP, _SILU_SAT)
    return _keep_nan(x, np.where(x0 >= _SILU_SAT, x0, _times_sigmoid(xc, xc, _ZERO)))


# ---- float64 references (tests and docs only; never on the data path) ----------------------


_GELU_A, _GELU_K = 0.044715, 2.0 * math.sqrt(2.0 / math.pi)


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _sigmoid64(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x < 0, e / (1.0 + e), 1.0 / (1.0 + e))


_erf64 = np.frompyfunc(math.erf, 1, 1)
_erfc64 = np.frompyfunc(math.erfc, 1, 1)


def _ref_erf(x: np.ndarray) -> np.ndarray:
    return _erf64(_f64(x)).astype(np.float64)


def _ref_gelu_erf(x: np.ndarray) -> np.ndarray:
    x = _f64(x)
    return x * 0.5 * _erfc64(-x / math.sqrt(2.0)).astype(np.float64)


def _ref_gelu_tanh(x: np.ndarray) -> np.ndarray:
    x = _f64(x)
    return x * _sigmoid64(_GELU_K * (x + _GELU_A * x**3))


# ---- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FpFunc:
    """One transcendental: FP32 implementation, domain [lo, hi] of the bound, float64 reference.

    ``ulp_bound`` is the largest ulp distance found by an exhaustive run over every FP32 input
    of the domain up to where a clamp pins the result (|x| <= 10.5 for tanh, 4.6 for erf, 105
    for sigmoid, x <= 16.5 for the GELUs, 40 for silu; all positive floats for rsqrt and log);
    it is at most ULP_CONTRACT. ``core`` is the sub-interval where the function is not
    trivially saturated; samplers put half of their points uniformly (in value) there and
    half uniformly in bit-pattern order over the whole domain.
    """

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    lo: float
    hi: float
    ulp_bound: int
    reference: Callable[[np.ndarray], np.ndarray]
    core: tuple[float, float]


ULP_CONTRACT = 4  # the ISA promise for every transcendental (docs/design.md §4)
_MAX = float(np.finfo(np.float32).max)
_MIN = float(np.finfo(np.float32).tiny)
_ELO, _EHI = float(EXP_LO), float(EXP_HI)

FUNCTIONS: dict[str, FpFunc] = {
    f.name: f
    for f in (
        FpFunc("exp", exp, _ELO, _EHI, 1, lambda x: np.exp(_f64(x)), (_ELO, _EHI)),
        FpFunc("tanh", tanh, -_MAX, _MAX, 1, lambda x: np.tanh(_f64(x)), (-10.0, 10.0)),
        FpFunc("erf", erf, -_MAX, _MAX, 1, _ref_erf, (-4.5, 4.5)),
        FpFunc("rsqrt", rsqrt, _MIN, _MAX, 1, lambda x: 1.0 / np.sqrt(_f64(x)), (0.25, 4.0)),
        FpFunc("reciprocal", reciprocal, _MIN, _MAX, 0, lambda x: 1.0 / _f64(x), (0.5, 2.0)),
        FpFunc("sigmoid", sigmoid, -_MAX, _MAX, 1, lambda x: _sigmoid64(_f64(x)), (-90.0, 20.0)),
        FpFunc("log", log, _MIN, _MAX, 1, lambda x: np.log(_f64(x)), (0.25, 4.0)),
        FpFunc("gelu_erf", gelu_erf, -13.14, _MAX, 2, _ref_gelu_erf, (-13.14, 8.0)),
        FpFunc("gelu_tanh", gelu_tanh, -10.0, _MAX, 1, _ref_gelu_tanh, (-10.0, 8.0)),
        FpFunc("silu", silu, _ELO, _MAX, 1, lambda x: _f64(x) * _sigmoid64(_f64(x)), (_ELO, 20.0)),
    )
}


# ---- measuring ulp error -----------------------------------------------------------------------


def _ordinal(x: np.ndarray) -> np.ndarray:
    """Map float32 bit patterns to int64 in value order; +0 and -0 both map to 0."""
    b = np.asarray(x, dtype=np.float32).view(np.int32).astype(np.int64)
    return np.where(b < 0, -(b & 0x7FFFFFFF), b)


def ulp_distance(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Number of FP32 values between ``got`` (float32) and ``want`` rounded to FP32.

    Works across zero and into the denormals; 0 when both are NaN, 2**32 when only one is.
    """
    with np.errstate(over="ignore"):
        w = np.asarray(want, dtype=np.float64).astype(np.float32)
    g = np.asarray(got, dtype=np.float32)
    d = np.abs(_ordinal(g) - _ordinal(w))
    gn, wn = np.isnan(g), np.isnan(w)
    return np.where(gn & wn, 0, np.where(gn | wn, 1 << 32, d))


def sample_domain(fn: FpFunc, n: int, seed: int = 0) -> np.ndarray:
    """Deterministic test points: n/2 evenly spaced bit patterns over [lo, hi] (every binade),
    n/2 evenly spaced values over ``core``, every power of two in the domain, and the edges."""
    rng = np.random.default_rng(seed)
    lo32, hi32 = np.float32(fn.lo), np.float32(fn.hi)
    ords = np.linspace(_ordinal(lo32), _ordinal(hi32), n // 2).round().astype(np.int64)
    ords = np.clip(ords + rng.integers(-2, 3, ords.size), _ordinal(lo32), _ordinal(hi32))
    by_bits = np.where(ords < 0, (-ords) | (1 << 31), ords).astype(np.uint32).view(np.float32)
    by_value = np.linspace(fn.core[0], fn.core[1], n - n // 2).astype(np.float32)
    p2 = np.ldexp(1.0, np.arange(-149, 128)).astype(np.float32)
    p2 = np.concatenate([p2, -p2])
    p2 = p2[(p2 >= lo32) & (p2 <= hi32)]
    edges = np.array([lo32, hi32, np.nextafter(lo32, hi32), np.nextafter(hi32, lo32)])
    return np.concatenate([by_bits, by_value, p2, edges.astype(np.float32)])


def max_ulp_error(name: str, n: int = 1 << 20) -> int:
    """Largest ulp distance of FUNCTIONS[name] from its reference over ``sample_domain``."""
    fn = FUNCTIONS[name]
    x = sample_domain(fn, n)
    with np.errstate(all="ignore"):
        return int(ulp_distance(fn.fn(x), fn.reference(x)).max())
