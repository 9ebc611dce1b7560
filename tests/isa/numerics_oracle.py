"""Independent float64 oracles for the numerics tests (written from the formulas, not from the code).

Nothing here imports d1c: the layouts are restated from the whitepaper (docs/targets.md
§5.1-5.2) and IEEE 754, the values computed in float64, and rounding done by brute force over the
sorted table of every representable magnitude.
"""

from __future__ import annotations

import functools
import math

import ml_dtypes
import numpy as np

# name -> (exp_bits, man_bits, total bits); CFloat formats have no Inf/NaN.
CFLOAT_LAYOUT = {"cfp8_143": (4, 3, 8), "cfp8_152": (5, 2, 8), "shp": (5, 10, 16)}
IEEE_DTYPE = {"bf16": ml_dtypes.bfloat16, "fp16": np.float16}


def cfloat_values(fmt: str, bias: int, wp: bool = False) -> np.ndarray:
    """float64 value of every code 0..2^bits-1 from the formula.

    Normal (E > 0): (-1)^s * (1 + M/2^m) * 2^(E - bias). E = 0: (-1)^s * (M/2^m) * 2^(1 - bias),
    or 2^(-bias) in the whitepaper-literal reading.
    """
    e, m, bits = CFLOAT_LAYOUT[fmt]
    c = np.arange(1 << bits, dtype=np.int64)
    s = c >> (e + m)
    exp = (c >> m) & ((1 << e) - 1)
    man = (c & ((1 << m) - 1)).astype(np.float64)
    normal = (1.0 + man / 2.0**m) * np.exp2((exp - bias).astype(np.float64))
    sub = man / 2.0**m * 2.0 ** (1 - bias - int(wp))
    return np.where(exp == 0, sub, normal) * np.where(s == 1, -1.0, 1.0)


def ieee_values(fmt: str) -> np.ndarray:
    """float64 value of every 16-bit code, from ml_dtypes / numpy (NaN codes give NaN)."""
    codes = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    with np.errstate(invalid="ignore"):
        return codes.view(IEEE_DTYPE[fmt]).astype(np.float64)


@functools.lru_cache(maxsize=512)
def positive_table(fmt: str, bias: int = 0, wp: bool = False) -> np.ndarray:
    """Sorted float64 magnitudes of the non-negative finite codes 0..max_code (index = code).

    Cached: callers must not modify the returned array.
    """
    if fmt in CFLOAT_LAYOUT:
        return cfloat_values(fmt, bias, wp)[: 1 << (CFLOAT_LAYOUT[fmt][2] - 1)]
    vals = ieee_values(fmt)[: 1 << 15]
    return vals[np.isfinite(vals)]


def rne_codes(x: np.ndarray, table: np.ndarray, bits: int, saturate: bool) -> np.ndarray:
    """Brute-force round-to-nearest-even of float32 ``x`` onto ``table`` (signed codes, int64).

    The nearer neighbour wins; a tie goes to the even code. Above the largest value: CFloat
    saturates to max, IEEE goes to the Inf code (len(table)) once past max + ulp/2 (tie -> even Inf).
    NaN inputs are the caller's business.
    """
    a = np.abs(x.astype(np.float64))
    hi = np.clip(np.searchsorted(table, a, side="left"), 0, len(table) - 1)
    lo = np.clip(hi - 1, 0, len(table) - 1)
    d_lo, d_hi = a - table[lo], table[hi] - a
    code = np.where((d_hi < d_lo) | ((d_hi == d_lo) & (hi % 2 == 0)), hi, lo)
    code = np.where(a <= table[0], 0, code)
    top = len(table) - 1
    if saturate:
        code = np.where(a >= table[top], top, code)
    else:
        ulp = table[top] - table[top - 1]
        code = np.where(a > table[top], np.where(a >= table[top] + ulp / 2, top + 1, top), code)
    return code | (np.signbit(x).astype(np.int64) << (bits - 1))


def neighbours(a: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The representable magnitudes just below-or-equal and just above-or-equal ``a >= 0``."""
    lo = table[np.clip(np.searchsorted(table, a, side="right") - 1, 0, len(table) - 1)]
    hi = table[np.clip(np.searchsorted(table, a, side="left"), 0, len(table) - 1)]
    return lo, hi


# --- the documented stochastic-rounding stream, restated with Python integers -----------------

M64 = (1 << 64) - 1


def mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def sr_hash(i: int, seed: int, stream: int) -> int:
    key = mix64(mix64(stream) ^ seed)
    return mix64((key + (i + 1) * 0x9E3779B97F4A7C15) & M64)


def sr_scalar(x: float, man_bits: int, bias: int, h: int) -> float:
    """Stochastic rounding of one finite float32 magnitude, straight from the docstring rule.

    Write |x| = A * 2^unit with A an integer (unit = float32's ulp at x); the target quantum is
    2^(max(ex, 1 - bias) - man_bits); add the top ``drop`` bits of ``h`` to A and truncate.
    """
    a = abs(x)
    if a == 0.0:
        return 0.0
    ex = math.frexp(a)[1] - 1
    unit = max(ex - 23, -149)
    big_a = int(math.ldexp(a, -unit))
    qexp = max(ex, 1 - bias) - man_bits
    drop = qexp - unit
    if drop > 63:
        return 0.0
    r = h >> (64 - drop)
    return math.ldexp((big_a + r) >> drop, qexp)
