"""The numeric formats of the D1 machine: one table, range helpers and the sticky exception flags.

Formats (docs/design.md §4; layouts from Tesla's CFloat whitepaper, see docs/targets.md §5):

=========  =====  ===  ===  =======  ============  =====================================
name       bits   exp  man  Inf/NaN  default bias  bias
=========  =====  ===  ===  =======  ============  =====================================
fp32       32     8    23   yes      127           fixed (IEEE binary32)
bf16       16     8    7    yes      127           fixed
fp16       16     5    10   yes      15            fixed (IEEE binary16)
cfp8_143    8     4    3    no       7             configurable, 0..63
cfp8_152    8     5    2    no       15            configurable, 0..63
shp        16     5    10   no       15            configurable, 0..63 (CFloat16 "SHP")
=========  =====  ===  ===  =======  ============  =====================================

Every code is ``sign | exponent | mantissa`` from the most significant bit down. A normal value is
``(-1)^s * 1.m * 2^(E - bias)``; exponent code 0 holds zero and the denormals ``0.m * 2^(1 - bias)``
(``denorm="ieee"``, the default) or ``0.m * 2^(-bias)`` (``denorm="wp"``, the whitepaper-literal
reading). IEEE formats reserve the all-ones exponent for Inf/NaN; CFloat formats have no Inf/NaN,
so their all-ones exponent is an ordinary normal binade.

Default CFloat biases (:data:`DEFAULT_BIAS`): 7 for cfp8_143 and 15 for cfp8_152 and shp are the
IEEE-style ``2^(exp_bits-1) - 1``, i.e. the range centred on 1.0 (the same choice as the LoFloat
library's ``dojo_cfloat8_1_4_3<7>`` / ``dojo_cfloat8_1_5_2<15>``; shp with bias 15 covers FP16's
range). The whitepaper gives no default; a tensor's bias is normally chosen by the compiler.

Flags (whitepaper p9; there is no Inexact flag). :func:`d1c.isa.numerics.encode` raises:

- ``INVALID``: an input is NaN (any format, including fp32).
- ``DENORMAL``: an input is a nonzero float32 subnormal (the operand rule of the whitepaper).
  :func:`~d1c.isa.numerics.decode` also raises it for a nonzero denormal code it decodes, since
  that code is then an operand of the arithmetic that follows.
- ``OVERFLOW``: a finite input rounds above the largest finite value (the result is ±Inf in IEEE
  formats, saturated ±max in CFloat formats), or an input is ±Inf and the format is CFloat.
- ``UNDERFLOW``: a finite nonzero input whose rounded result is denormal or zero (tininess after
  rounding, whether or not the result is exact; fp32 never underflows since it is the identity).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from d1c.isa.errors import D1cError


class NumericsError(D1cError, ValueError):
    """A bad format name, bias, rounding mode, denormal mode, seed or input array."""


@dataclass(frozen=True, slots=True)
class Format:
    """One numeric format: field widths, whether Inf/NaN exist, and its default exponent bias."""

    name: str
    bits: int
    exp_bits: int
    man_bits: int
    has_inf_nan: bool
    default_bias: int
    bias_configurable: bool

    @property
    def max_exp_code(self) -> int:
        """The largest exponent code of a finite value."""
        return (1 << self.exp_bits) - (2 if self.has_inf_nan else 1)

    @property
    def max_code(self) -> int:
        """The magnitude code (sign bit clear) of the largest finite value."""
        return (self.max_exp_code << self.man_bits) | ((1 << self.man_bits) - 1)

    @property
    def dtype(self) -> str:
        """The numpy dtype name of an array of codes."""
        return {8: "uint8", 16: "uint16", 32: "float32"}[self.bits]


FORMATS: dict[str, Format] = {
    "fp32": Format("fp32", 32, 8, 23, True, 127, False),
    "bf16": Format("bf16", 16, 8, 7, True, 127, False),
    "fp16": Format("fp16", 16, 5, 10, True, 15, False),
    "cfp8_143": Format("cfp8_143", 8, 4, 3, False, 7, True),
    "cfp8_152": Format("cfp8_152", 8, 5, 2, False, 15, True),
    "shp": Format("shp", 16, 5, 10, False, 15, True),
}

DEFAULT_BIAS: dict[str, int] = {
    f.name: f.default_bias for f in FORMATS.values() if f.bias_configurable
}
"""Default exponent bias of each CFloat format (see the module docstring for the reasons)."""

MAX_BIAS = 63
DENORM_MODES = ("ieee", "wp")


def get_format(fmt: str | Format) -> Format:
    """The :class:`Format` named ``fmt``; a :class:`NumericsError` listing the names otherwise."""
    if isinstance(fmt, Format):
        return fmt
    found = FORMATS.get(fmt) if isinstance(fmt, str) else None
    if found is None:
        raise NumericsError(f"unknown numeric format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return found


def resolve_bias(fmt: str | Format, bias: int | None = None) -> int:
    """The exponent bias to use: the default when ``bias`` is None, else a checked value.

    CFloat formats accept an integer 0..63; IEEE formats accept only their fixed bias.
    """
    f = get_format(fmt)
    if bias is None:
        return f.default_bias
    if isinstance(bias, bool) or not isinstance(bias, int | np.integer):
        raise NumericsError(f"exponent bias must be an integer, got {bias!r}")
    b = int(bias)
    if not f.bias_configurable:
        if b != f.default_bias:
            raise NumericsError(f"format {f.name} has the fixed bias {f.default_bias}, got {b}")
        return b
    if not 0 <= b <= MAX_BIAS:
        raise NumericsError(f"exponent bias of {f.name} must be in 0..{MAX_BIAS}, got {b}")
    return b


def check_denorm(fmt: Format, denorm: str) -> int:
    """Validate ``denorm`` and return the extra denormal scale shift (0 for ieee, 1 for wp).

    The whitepaper-literal mode only exists for CFloat formats; IEEE formats accept "ieee".
    """
    if denorm not in DENORM_MODES:
        raise NumericsError(f"denorm must be one of {DENORM_MODES}, got {denorm!r}")
    if denorm == "wp" and not fmt.bias_configurable:
        raise NumericsError(f"denorm='wp' applies to CFloat formats only, not {fmt.name}")
    return 1 if denorm == "wp" else 0


def max_value(fmt: str | Format, bias: int | None = None) -> float:
    """The largest finite value ``(2 - 2^-man) * 2^(max_exp_code - bias)``."""
    f = get_format(fmt)
    b = resolve_bias(f, bias)
    return math.ldexp(2.0 - math.ldexp(1.0, -f.man_bits), f.max_exp_code - b)


def min_normal(fmt: str | Format, bias: int | None = None) -> float:
    """The smallest positive normal value ``2^(1 - bias)``."""
    return math.ldexp(1.0, 1 - resolve_bias(fmt, bias))


def min_subnormal(fmt: str | Format, bias: int | None = None, denorm: str = "ieee") -> float:
    """The smallest positive denormal: ``2^(1 - bias - man)``, or ``2^(-bias - man)`` for "wp"."""
    f = get_format(fmt)
    shift = check_denorm(f, denorm)
    return math.ldexp(1.0, 1 - shift - resolve_bias(f, bias) - f.man_bits)


class Flag(enum.IntFlag):
    """The sticky exception flag bits of a core, as packed in its flag register."""

    NONE = 0
    INVALID = 1
    DENORMAL = 2
    OVERFLOW = 4
    UNDERFLOW = 8


@dataclass(slots=True)
class Flags:
    """A mutable holder of sticky :class:`Flag` bits: operations OR bits in, only clear() resets."""

    bits: Flag = Flag.NONE

    def raise_flag(self, flag: Flag) -> None:
        """OR ``flag`` into the sticky bits."""
        self.bits |= flag

    def clear(self) -> None:
        """Reset every bit (what a program does when it reads and clears its flag register)."""
        self.bits = Flag.NONE

    def __contains__(self, flag: Flag) -> bool:
        return (self.bits & flag) == flag
