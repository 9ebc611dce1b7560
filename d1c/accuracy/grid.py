"""The value grid of each float storage format, from its field widths and bias alone.

These facts are derived independently of the rounding code of :mod:`d1c.isa.numerics` (they use
only :data:`~d1c.isa.numerics.FORMATS`' ``man_bits``, :func:`~d1c.isa.numerics.max_value` and
:func:`~d1c.isa.numerics.min_subnormal`), so the checks built on them catch a fault in that code
instead of repeating it:

- :func:`spacing`: the distance between neighbouring values in the binade of a magnitude, i.e.
  ``2^(e - man_bits)`` for ``2^e <= m < 2^(e+1)``, and the denormal step below the smallest normal
  (``denorm="ieee"``: the two agree at the smallest normal binade);
- :func:`rounding_bound`: how far rounding a value of magnitude at most ``m`` to the format can
  move it: half the spacing at ``m`` to nearest, the whole spacing stochastically (a value below
  ``m`` lies in the same binade or a finer one);
- :func:`representable`: the values the format holds exactly (a multiple of the spacing of its
  own binade, within the range; ±inf and NaN only in IEEE formats).
"""

from __future__ import annotations

import numpy as np

from d1c.ir import FP32, ElemType
from d1c.isa.numerics import FORMATS, max_value, min_subnormal

F64 = np.float64


def _params(elem: ElemType) -> tuple[int, float, float, bool]:
    f = FORMATS[elem.name]
    return (
        f.man_bits,
        min_subnormal(elem.name, elem.bias),
        max_value(elem.name, elem.bias),
        (f.has_inf_nan),
    )


def spacing(mag: np.ndarray, elem: ElemType) -> np.ndarray:
    """The grid step of ``elem`` in the binade of each magnitude ``mag >= 0`` (inf for inf/NaN)."""
    man, tiny, _, _ = _params(elem)
    m = np.asarray(mag, F64)
    with np.errstate(invalid="ignore"):
        _, k = np.frexp(np.where(np.isfinite(m), m, 1.0))  # m = f * 2^k, 0.5 <= f < 1
        step = np.maximum(np.ldexp(1.0, k - 1 - man), tiny)
    return np.where(np.isfinite(m), step, np.inf)


def rounding_bound(mag: np.ndarray, elem: ElemType, rounding: str = "rne") -> np.ndarray:
    """The largest rounding error of a value of magnitude at most ``mag`` (below the format's
    largest value: saturation and overflow are the caller's), 0 for fp32 targets."""
    if elem == FP32:
        return np.zeros(np.shape(mag), F64)
    step = spacing(mag, elem)
    return step if rounding == "sr" else 0.5 * step


def representable(x: np.ndarray, elem: ElemType) -> np.ndarray:
    """Elementwise: ``x`` is exactly a value of the float format ``elem``."""
    _, _, top, inf_nan = _params(elem)
    v = np.asarray(x, F64)
    finite = np.isfinite(v)
    a = np.abs(np.where(finite, v, 0.0))
    q = a / spacing(a, elem)
    on_grid = finite & (q == np.floor(q)) & (a <= top)
    return on_grid | (~finite & inf_nan)


def round_nearest(x: np.ndarray, elem: ElemType, *, saturate: bool = False) -> np.ndarray:
    """``x`` (float64, e.g. an fp32 value) rounded to nearest, ties to even, on the grid of
    ``elem``, as float64. Past the largest finite value an IEEE format gives ±inf (a tie at the
    top rounds up) unless ``saturate``, and a CFloat format saturates; NaN stays NaN (CFloat:
    +max). ``saturate`` is how a constant is stored (docs/lowering.md §1)."""
    _, _, top, inf_nan = _params(elem)
    v = np.asarray(x, F64)
    finite = np.isfinite(v)
    a = np.where(finite, np.abs(v), 0.0)
    step = spacing(a, elem)
    r = np.copysign(np.round(a / step) * step, v)  # np.round: half to even
    over = finite & (np.abs(r) > top)
    clamp = saturate or not inf_nan
    r = np.where(over, np.copysign(top if clamp else np.inf, v), r)
    if inf_nan:
        return np.where(finite, r, v)
    return np.where(finite, r, np.where(np.isnan(v), top, np.copysign(top, v)))
