"""LLVM IR of the element conversions: fp32 bits -> storage code and code -> fp32 bits.

Each function is integer arithmetic on the fp32 bit pattern, a transcription of
:func:`d1c.isa.numerics.encode` / :func:`~d1c.isa.numerics.decode` (``denorm="ieee"``, which is
what program symbols use), so the codes do not depend on the host's floating-point environment
(flush-to-zero, rounding mode) and there is nothing to contract into an FMA:

- ``encode`` aligns the significand so that ``drop`` bits fall below the target's last mantissa
  bit (more below the normal range), rounds (RNE: ties to even; SR: add the top ``drop`` bits of
  the element's 64-bit hash, then truncate), lets a carry move into the exponent, then applies
  the overflow / Inf / NaN rules of the format and puts the sign back. bf16 with RNE uses the
  equivalent integer shortcut ``(u + 0x7FFF + lsb) >> 16`` of ``numerics._encode_bf16_rne``.
- ``decode`` builds the fp32 bits of a code; a denormal code ``0.m * 2^(1-bias)`` is normalised
  with ``ctlz`` (every CFloat/fp16 denormal is an fp32 normal, since bias <= 63).
- ``mix64`` and :func:`sr_hash` are SplitMix64's finaliser and the counter hash
  ``h(i) = mix64(key + (i + 1) * 0x9E3779B97F4A7C15)`` of :func:`d1c.isa.numerics.random_bits`.

All helpers are internal and ``alwaysinline`` so that the copy loops around them vectorise.
"""

from __future__ import annotations

from llvmlite import ir

from d1c.isa.formats import Format, get_format

I1 = ir.IntType(1)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
GAMMA = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB


def c32(v: int) -> ir.Constant:
    """An i32 constant, printed signed (``-126``, not ``4294967170``)."""
    v &= 0xFFFFFFFF
    return ir.Constant(I32, v - (1 << 32) if v >> 31 else v)


def c64(v: int) -> ir.Constant:
    """An i64 constant, printed signed."""
    v &= 0xFFFFFFFFFFFFFFFF
    return ir.Constant(I64, v - (1 << 64) if v >> 63 else v)


def _helper(mod: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function | None:
    """A new internal always-inline function, or None if ``mod`` already defines ``name``."""
    if name in mod.globals:
        return None
    fn = ir.Function(mod, ir.FunctionType(ret, args), name)
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")
    fn.append_basic_block("entry")
    return fn


def sr_hash(mod: ir.Module) -> ir.Function:
    """``i64 d1c_sr_hash(i64 key, i64 i)``: the 64-bit random bits of flat element ``i``."""
    fn = _helper(mod, "d1c_sr_hash", I64, [I64, I64])
    if fn is None:
        return mod.globals["d1c_sr_hash"]
    b = ir.IRBuilder(fn.entry_basic_block)
    key, i = fn.args
    z = b.add(key, b.mul(b.add(i, c64(1)), c64(GAMMA)))
    z = b.mul(b.xor(z, b.lshr(z, c64(30))), c64(MIX1))
    z = b.mul(b.xor(z, b.lshr(z, c64(27))), c64(MIX2))
    b.ret(b.xor(z, b.lshr(z, c64(31))))
    return fn


def _smax0(b: ir.IRBuilder, v: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed(">", v, c32(0)), v, c32(0))


def _bf16_rne(b: ir.IRBuilder, u: ir.Value) -> ir.Value:
    nan = b.icmp_unsigned(">", b.and_(u, c32(0x7FFFFFFF)), c32(0x7F800000))
    lsb = b.and_(b.lshr(u, c32(16)), c32(1))
    rounded = b.lshr(b.add(b.add(u, c32(0x7FFF)), lsb), c32(16))
    quiet = b.or_(b.lshr(u, c32(16)), c32(0x40))
    return b.select(nan, quiet, rounded)


def _round(b: ir.IRBuilder, u: ir.Value, h: ir.Value, f: Format, bias: int, sr: bool) -> ir.Value:
    """The magnitude code before overflow handling (``numerics._round_finite``), as i32."""
    m, emin = f.man_bits, 1 - bias
    ef = b.and_(b.lshr(u, c32(23)), c32(0xFF))
    den = b.icmp_unsigned("==", ef, c32(0))
    ex = b.select(den, c32(-126), b.sub(ef, c32(127)))
    sig32 = b.or_(b.and_(u, c32(0x7FFFFF)), b.select(den, c32(0), c32(1 << 23)))
    drop = b.add(c32(23 - m), _smax0(b, b.sub(c32(emin), ex)))
    big = b.icmp_unsigned(">", drop, c32(63))
    d = b.zext(b.select(big, c32(63), drop), I64)
    sig = b.zext(sig32, I64)
    if sr:
        rand = b.select(big, c64(0), b.lshr(h, b.sub(c64(64), d)))
        r = b.lshr(b.add(sig, rand), d)
    else:
        q = b.lshr(sig, d)
        low = b.and_(sig, b.sub(b.shl(c64(1), d), c64(1)))
        half = b.shl(c64(1), b.sub(d, c64(1)))
        odd = b.icmp_unsigned("!=", b.and_(q, c64(1)), c64(0))
        tie = b.and_(b.icmp_unsigned("==", low, half), odd)
        up = b.or_(b.icmp_unsigned(">", low, half), tie)
        r = b.add(q, b.zext(up, I64))
    return b.add(b.shl(_smax0(b, b.sub(ex, c32(emin))), c32(m)), b.trunc(r, I32))


def _finish(b: ir.IRBuilder, u: ir.Value, code: ir.Value, f: Format) -> ir.Value:
    """Overflow, Inf and NaN rules and the sign (``numerics._finish``), as i32."""
    m = f.man_bits
    mag_in = b.and_(u, c32(0x7FFFFFFF))
    is_nan = b.icmp_unsigned(">", mag_in, c32(0x7F800000))
    is_inf = b.icmp_unsigned("==", mag_in, c32(0x7F800000))
    sign = b.lshr(u, c32(31))
    top = ((1 << f.exp_bits) - 1) << m if f.has_inf_nan else f.max_code
    clamped = b.select(b.icmp_signed("<", code, c32(top)), code, c32(top))
    mag = b.select(is_inf, c32(top), clamped)
    if f.has_inf_nan:
        payload = b.lshr(b.and_(u, c32(0x7FFFFF)), c32(23 - m))
        nan_code = b.or_(c32(top | (1 << (m - 1))), payload)
        mag = b.select(is_nan, nan_code, mag)
    else:
        mag = b.select(is_nan, c32(top), mag)
        sign = b.select(is_nan, c32(0), sign)
    return b.or_(b.shl(sign, c32(f.bits - 1)), mag)


def encoder(mod: ir.Module, fmt: str, bias: int, rounding: str) -> ir.Function:
    """``iN d1c_enc_<fmt>_<bias>_<rounding>(i32 fp32_bits, i64 hash)`` (hash unused by RNE)."""
    f = get_format(fmt)
    name = f"d1c_enc_{fmt}_{bias}_{rounding}"
    fn = _helper(mod, name, ir.IntType(f.bits), [I32, I64])
    if fn is None:
        return mod.globals[name]
    b = ir.IRBuilder(fn.entry_basic_block)
    u, h = fn.args
    if fmt == "bf16" and rounding == "rne":
        out = _bf16_rne(b, u)
    else:
        out = _finish(b, u, _round(b, u, h, f, bias, rounding == "sr"), f)
    b.ret(b.trunc(out, ir.IntType(f.bits)))
    return fn


def _ctlz(mod: ir.Module) -> ir.Function:
    name = "llvm.ctlz.i32"
    if name in mod.globals:
        return mod.globals[name]
    return ir.Function(mod, ir.FunctionType(I32, [I32, I1]), name)


def _denormal(b: ir.IRBuilder, mod: ir.Module, sign: ir.Value, man: ir.Value, f, bias) -> ir.Value:
    """fp32 bits of ``(-1)^sign * man * 2^(1 - bias - m)``, ``man`` < 2^m (0 gives ±0)."""
    p = b.sub(c32(31), b.call(_ctlz(mod), [man, ir.Constant(I1, 0)]))
    exp = b.add(p, c32(127 + 1 - bias - f.man_bits))
    frac = b.and_(b.shl(man, b.sub(c32(23), p)), c32(0x7FFFFF))
    value = b.or_(b.shl(exp, c32(23)), frac)
    zero = b.icmp_unsigned("==", man, c32(0))
    return b.or_(sign, b.select(zero, c32(0), value))


def decoder(mod: ir.Module, fmt: str, bias: int) -> ir.Function:
    """``i32 d1c_dec_<fmt>_<bias>(iN code)``: the fp32 bit pattern of the code's value."""
    f = get_format(fmt)
    name = f"d1c_dec_{fmt}_{bias}"
    fn = _helper(mod, name, I32, [ir.IntType(f.bits)])
    if fn is None:
        return mod.globals[name]
    b = ir.IRBuilder(fn.entry_basic_block)
    c = b.zext(fn.args[0], I32)
    if fmt == "bf16":
        b.ret(b.shl(c, c32(16)))
        return fn
    m, emask = f.man_bits, (1 << f.exp_bits) - 1
    sign = b.shl(b.lshr(c, c32(f.bits - 1)), c32(31))
    e = b.and_(b.lshr(c, c32(m)), c32(emask))
    man = b.and_(c, c32((1 << m) - 1))
    wide = b.shl(man, c32(23 - m))
    normal = b.or_(sign, b.or_(b.shl(b.add(e, c32(127 - bias)), c32(23)), wide))
    out = b.select(b.icmp_unsigned("==", e, c32(0)), _denormal(b, mod, sign, man, f, bias), normal)
    if f.has_inf_nan:
        special = b.or_(sign, b.or_(c32(0x7F800000), wide))
        out = b.select(b.icmp_unsigned("==", e, c32(emask)), special, out)
    b.ret(out)
    return fn
