"""Bit-exact conversions between float32 and the D1 storage formats (docs/design.md §4), vectorised in numpy.

``encode(x, fmt)`` rounds float32 values to codes (uint8 for CFloat8, uint16 for bf16/fp16/shp;
fp32 is the identity and returns float32); ``decode(codes, fmt)`` gives their exact float32 values;
``quantize`` is ``decode(encode(x))``. Inputs are converted to float32 first (the machine has no
float64). The formats, biases and flag rules live in :mod:`d1c.isa.formats`.

Rounding (``rounding=``)
    ``"rne"``: round to nearest, ties to the even code. ``"sr"``: stochastic rounding. The
    magnitude is aligned so that ``drop`` bits fall below the target's last mantissa bit; a uniform
    random integer ``R`` exactly ``drop`` bits wide is added to the magnitude and the sum is
    truncated, so a value rounds up with probability (dropped bits) / 2^drop, which makes the
    rounding unbiased. ``R`` is the top ``drop`` bits of the element's 64-bit hash ``h``
    (``R = h >> (64 - drop)``). ``drop`` is at most 63: a value that would drop more bits is below
    2^-40 of the smallest denormal and rounds to zero (exact SR would round it up with p < 2^-40).

Random stream (no global state)
    ``h`` for element ``i`` (flat C-order index, from 0) is output ``i + 1`` of SplitMix64 started
    from ``key = mix64(mix64(stream) ^ seed)``::

        mix64(z) = z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB;
                   z ^ (z >> 31)                                      (all arithmetic mod 2^64)
        h(i)     = mix64(key + (i + 1) * 0x9E3779B97F4A7C15)

    ``seed`` and ``stream`` are integers in 0..2^64-1; the simulator makes ``stream`` from the core
    and the instruction index with :func:`sr_stream`, so a run is reproducible on any host.

IEEE formats (bf16, fp16)
    IEEE semantics: RNE equals torch and ml_dtypes bit for bit on every non-NaN input; a finite
    input that rounds past the largest finite value becomes ±Inf (also under SR); ±Inf stays ±Inf.
    NaN keeps its sign, the quiet bit is set and the top mantissa bits of the payload are kept.
    Denormals are IEEE denormals (``denorm="ieee"`` only).

CFloat formats (cfp8_143, cfp8_152, shp; bias 0..63)
    No Inf/NaN: every exponent code is finite. A rounded magnitude above max, and ±Inf, saturate to
    ±max (Overflow); NaN becomes +max (Invalid). Signed zero: the sign bit is kept, so code
    0x80 (0x8000 for shp) decodes to -0.0, -0.0 and negative values that round to zero encode to
    it, and decode-then-encode is the identity on every code.
    ``denorm="ieee"`` (default): denormals are ``0.m * 2^(1-bias)``, continuous with the normals.
    ``denorm="wp"``: the whitepaper-literal ``0.m * 2^(-bias)``. Only exponent-0 codes change
    value (halved); normals are unchanged. This leaves a gap between the largest denormal
    ``D = (1 - 2^-man) * 2^-bias`` and the smallest normal ``N = 2^(1-bias)``. Inputs inside
    (D, N) round as one interval: RNE goes to the nearer end with the midpoint going to N (its code
    ``1 << man`` is even, D's is odd); SR goes to N with probability (x - D) / (N - D), drawn by
    comparing the top 32 bits of ``h`` with that fraction in 2^-32 steps.

Flags: pass a :class:`Flags` as ``flags=``; the rules are in :mod:`d1c.isa.formats`.
"""

from __future__ import annotations

import numpy as np

from d1c.isa.formats import (
    DEFAULT_BIAS,
    FORMATS,
    Flag,
    Flags,
    Format,
    NumericsError,
    check_denorm,
    get_format,
    max_value,
    min_normal,
    min_subnormal,
    resolve_bias,
)

__all__ = [
    "DEFAULT_BIAS",
    "FORMATS",
    "ROUNDING_MODES",
    "Flag",
    "Flags",
    "Format",
    "NumericsError",
    "decode",
    "encode",
    "max_value",
    "min_normal",
    "min_subnormal",
    "quantize",
    "random_bits",
    "sr_stream",
]

ROUNDING_MODES = ("rne", "sr")
_MASK64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_U64 = np.uint64
_ONE = _U64(1)


def _mix64_int(z: int) -> int:
    """SplitMix64's finaliser on a Python int (used once per call to derive the stream key)."""
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK64
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK64
    return z ^ (z >> 31)


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> _U64(30))) * _U64(_MIX1)
    z = (z ^ (z >> _U64(27))) * _U64(_MIX2)
    return z ^ (z >> _U64(31))


def _check_u64(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise NumericsError(f"{name} must be an integer, got {value!r}")
    if not 0 <= int(value) <= _MASK64:
        raise NumericsError(f"{name} must be in 0..2^64-1, got {value}")
    return int(value)


def random_bits(n: int, seed: int = 0, stream: int = 0) -> np.ndarray:
    """The 64-bit hashes ``h(0..n-1)`` of the stochastic-rounding stream (see module docstring)."""
    key = _mix64_int(_mix64_int(_check_u64("stream", stream)) ^ _check_u64("seed", seed))
    counter = np.arange(1, n + 1, dtype=_U64)
    return _mix64(_U64(key) + counter * _U64(_GAMMA))


def sr_stream(core: int, instruction: int) -> int:
    """The stream id of one instruction on one core: ``core << 40 | instruction``.

    ``core`` is the global core number (< 2^24), ``instruction`` the dynamic instruction count on
    that core (< 2^40), so no two instructions of a run share random bits.
    """
    if not 0 <= core < 1 << 24 or not 0 <= instruction < 1 << 40:
        raise NumericsError(
            f"sr_stream needs core < 2^24 and instruction < 2^40, got {core}, {instruction}"
        )
    return (core << 40) | instruction


def _as_f32(x: object) -> np.ndarray:
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            a = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise NumericsError(f"cannot convert input to float32: {exc}") from None
    return a if a.flags.c_contiguous else a.copy()


def _as_codes(codes: object, f: Format) -> tuple[tuple[int, ...], np.ndarray]:
    try:
        arr = np.asarray(codes)
    except (TypeError, ValueError) as exc:
        raise NumericsError(f"cannot read {f.name} codes: {exc}") from None
    if arr.dtype.kind not in "ui":
        raise NumericsError(f"{f.name} codes must be unsigned integers, got dtype {arr.dtype}")
    fits = arr.dtype.kind == "u" and arr.dtype.itemsize * 8 <= f.bits  # no check needed
    if arr.size and not fits and (int(arr.min()) < 0 or int(arr.max()) >= 1 << f.bits):
        raise NumericsError(f"{f.name} codes must be in 0..{(1 << f.bits) - 1}")
    return arr.shape, arr.astype(np.uint32).reshape(-1)


def _raise(flags: Flags | None, flag: Flag, mask: np.ndarray) -> None:
    if flags is not None and bool(np.any(mask)):
        flags.raise_flag(flag)


def decode(
    codes: object,
    fmt: str,
    *,
    bias: int | None = None,
    denorm: str = "ieee",
    flags: Flags | None = None,
) -> np.ndarray:
    """The exact float32 values of ``codes`` in ``fmt`` (same shape).

    fp32 accepts float values (returned as float32) or uint32 bit patterns. ``flags`` gets
    DENORMAL when a nonzero denormal code is decoded.
    """
    f = get_format(fmt)
    b = resolve_bias(f, bias)
    shift = check_denorm(f, denorm)
    if f.name == "fp32":
        return _decode_fp32(codes, flags)
    shape, c = _as_codes(codes, f)
    if f.name == "bf16":
        return _decode_bf16(c, flags).reshape(shape)
    m = f.man_bits
    sign = (c >> (f.bits - 1)) & 1
    e = (c >> m) & ((1 << f.exp_bits) - 1)
    man = c & ((1 << m) - 1)
    normal = ((sign << 31) | ((e + (127 - b)) << 23) | (man << (23 - m))).view(np.float32)
    sub = np.ldexp(man.astype(np.float32), 1 - shift - b - m)
    out = np.where(e == 0, np.where(sign == 1, -sub, sub), normal)
    if f.has_inf_nan:
        special = ((sign << 31) | 0x7F800000 | (man << (23 - m))).view(np.float32)
        out = np.where(e == (1 << f.exp_bits) - 1, special, out)
    _raise(flags, Flag.DENORMAL, (e == 0) & (man != 0))
    return out.astype(np.float32, copy=False).reshape(shape)


def _decode_bf16(c: np.ndarray, flags: Flags | None) -> np.ndarray:
    """bf16 is the top half of fp32: a shift gives the same bits as the general path, fast
    (the simulator decodes a bf16 tile per matrix operand)."""
    bits = c.astype(np.uint32) << 16
    if flags is not None:
        _raise(flags, Flag.DENORMAL, ((bits & 0x7F800000) == 0) & ((bits & 0x007F0000) != 0))
    return bits.view(np.float32)


def _decode_fp32(codes: object, flags: Flags | None) -> np.ndarray:
    arr = np.asarray(codes)
    if arr.dtype == np.uint32:
        out = arr.view(np.float32)
    elif arr.dtype.kind == "f":
        out = _as_f32(arr)
    else:
        raise NumericsError(
            f"fp32 codes must be float values or uint32 bits, got dtype {arr.dtype}"
        )
    _raise(flags, Flag.DENORMAL, (out != 0) & (np.abs(out) < np.float32(2.0**-126)))
    return out.copy()


def _round_shift(sig: np.ndarray, drop: np.ndarray, rand: np.ndarray | None) -> np.ndarray:
    """``sig / 2^drop`` rounded (RNE, or SR with ``rand``); uint64 in, uint64 out."""
    d = np.minimum(drop, 63).astype(_U64)
    q = sig >> d
    if rand is None:
        low = sig & ((_ONE << d) - _ONE)
        half = _ONE << (d - _ONE)
        up = (low > half) | ((low == half) & ((q & _ONE) == _ONE))
        return q + up.astype(_U64)
    r = np.where(drop > 63, _U64(0), rand >> (_U64(64) - d))
    return (sig + r) >> d


def _wp_gap(
    code: np.ndarray, sig: np.ndarray, ex: np.ndarray, m: int, emin: int, rand: np.ndarray | None
) -> np.ndarray:
    """Round the inputs between D and N of ``denorm="wp"`` onto {D, N} (see module docstring).

    Works in units of 2^(emin-25): t = |x| / unit < 2^25 for the two binades below N.
    """
    k = ex - (emin - 2)
    near = (k == 0) | (k == 1)
    t = sig << np.where(near, k, 0).astype(_U64)
    lo, hi = ((1 << m) - 1) << (24 - m), 1 << 25
    gap = near & (t > lo) & (t < hi)
    if rand is None:
        up = _U64(2) * t >= _U64(lo + hi)
    else:
        up = (rand >> _U64(32)) * _U64(hi - lo) < (t - _U64(lo)) << _U64(32)
    return np.where(gap, np.where(up, 1 << m, (1 << m) - 1), code)


def _round_finite(
    u: np.ndarray, f: Format, bias: int, shift: int, rand: np.ndarray | None
) -> np.ndarray:
    """Magnitude codes (int64, before overflow handling) of the float32 bit patterns ``u``.

    The float32 is ``sig * 2^(ex-23)``. Below the target's normal range the quantum stays at the
    denormal quantum, so ``drop`` grows; a carry out of the mantissa moves into the exponent.
    """
    ef = ((u >> 23) & 0xFF).astype(np.int64)
    ex = np.where(ef == 0, -126, ef - 127)
    sig = (u & 0x7FFFFF).astype(_U64) | np.where(ef == 0, 0, 1 << 23).astype(_U64)
    m, emin = f.man_bits, 1 - bias
    drop = 23 - m + np.maximum(emin - shift - ex, 0)
    r = _round_shift(sig, drop, rand).astype(np.int64)
    code = (np.maximum(ex - emin, 0) << m) + r
    return _wp_gap(code, sig, ex, m, emin, rand) if shift else code


def _finish(u: np.ndarray, code: np.ndarray, f: Format, flags: Flags | None) -> np.ndarray:
    """Apply overflow, Inf and NaN rules, put the sign back and raise the flags."""
    mag_in = u & 0x7FFFFFFF
    is_nan, is_inf = mag_in > 0x7F800000, mag_in == 0x7F800000
    finite, sign = mag_in < 0x7F800000, (u >> 31).astype(np.int64)
    m = f.man_bits
    top = f.max_code if not f.has_inf_nan else ((1 << f.exp_bits) - 1) << m
    over = finite & ((code > top) if not f.has_inf_nan else (code >= top))
    mag = np.where(is_inf, top, np.minimum(code, top))
    if f.has_inf_nan:
        nan_code = top | (1 << (m - 1)) | ((u & 0x7FFFFF) >> (23 - m)).astype(np.int64)
        mag = np.where(is_nan, nan_code, mag)
    else:
        mag, sign = np.where(is_nan, top, mag), np.where(is_nan, 0, sign)
        over = over | is_inf
    _raise(flags, Flag.INVALID, is_nan)
    _raise(flags, Flag.OVERFLOW, over)
    _raise(flags, Flag.UNDERFLOW, finite & (mag_in != 0) & (mag < (1 << m)))
    _raise(flags, Flag.DENORMAL, (mag_in != 0) & (mag_in < 0x00800000))
    return ((sign << (f.bits - 1)) | mag).astype(f.dtype)


def encode(
    x: object,
    fmt: str,
    *,
    bias: int | None = None,
    rounding: str = "rne",
    seed: int = 0,
    stream: int = 0,
    denorm: str = "ieee",
    flags: Flags | None = None,
) -> np.ndarray:
    """Round float32 ``x`` to codes of ``fmt`` (same shape); see the module docstring."""
    f = get_format(fmt)
    b = resolve_bias(f, bias)
    shift = check_denorm(f, denorm)
    if rounding not in ROUNDING_MODES:
        raise NumericsError(f"rounding must be one of {ROUNDING_MODES}, got {rounding!r}")
    _check_u64("seed", seed)
    _check_u64("stream", stream)
    a = _as_f32(x)
    u = a.reshape(-1).view(np.uint32)
    if f.name == "fp32":
        mag_in = u & 0x7FFFFFFF
        _raise(flags, Flag.INVALID, mag_in > 0x7F800000)
        _raise(flags, Flag.DENORMAL, (mag_in != 0) & (mag_in < 0x00800000))
        return a.copy()
    if f.name == "bf16" and rounding == "rne" and flags is None:
        return _encode_bf16_rne(u).reshape(a.shape)
    rand = random_bits(u.size, seed, stream) if rounding == "sr" else None
    code = _round_finite(u, f, b, shift, rand)
    return _finish(u, code, f, flags).reshape(a.shape)


def _encode_bf16_rne(u: np.ndarray) -> np.ndarray:
    """bf16 round-to-nearest-even by integer arithmetic on the fp32 bits: the same codes as the
    general path (overflow carries into the exponent and gives Inf; NaN keeps its sign and top
    payload bits with the quiet bit set), several times faster. Flags need the general path."""
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    rounded = (u + np.uint32(0x7FFF) + ((u >> 16) & 1)) >> 16
    return np.where(nan, (u >> 16) | 0x40, rounded).astype(np.uint16)


def quantize(x: object, fmt: str, **kwargs: object) -> np.ndarray:
    """``decode(encode(x, fmt, **kwargs), fmt)``: ``x`` rounded to ``fmt``, as float32."""
    codes = encode(x, fmt, **kwargs)
    return decode(codes, fmt, bias=kwargs.get("bias"), denorm=kwargs.get("denorm", "ieee"))
