"""Lowerings of elementwise ATen ops: unary math, binary arithmetic with broadcasting and torch's
type promotion, comparisons, ``where``, clamps and activations.

Operands may be IR values or Python scalars (``add.Tensor(x, 1)``, ``sub.Tensor(1, x)``): scalars
become rank-0 ``full`` ops, which broadcast. Every tensor operand is converted to the promoted
element type first, because IR binary ops require equal element types.
"""

from __future__ import annotations

from functools import partial

from d1c.frontend.common import (
    Ctx,
    Unsupported,
    aten,
    default_float,
    elem_of_dtype,
    promote,
    register_lowering,
)
from d1c.ir import I1, Value

# IR ops defined on float tensors only: torch computes them in the default float type for ints.
_FLOAT_UNARY = {
    aten.exp.default: "exp",
    aten.log.default: "log",
    aten.sqrt.default: "sqrt",
    aten.rsqrt.default: "rsqrt",
    aten.reciprocal.default: "reciprocal",
    aten.tanh.default: "tanh",
    aten.sigmoid.default: "sigmoid",
    aten.erf.default: "erf",
    aten.silu.default: "silu",
    aten.sin.default: "sin",
    aten.cos.default: "cos",
}
_ANY_UNARY = {aten.neg.default: "neg", aten.abs.default: "abs", aten.relu.default: "relu"}
_ROUNDING = {
    aten.floor.default: "floor",
    aten.ceil.default: "ceil",
    aten.trunc.default: "trunc",
    aten.round.default: "round",
}

_ARITH = {
    "add": (aten.add.Tensor, aten.add.Scalar),
    "sub": (aten.sub.Tensor, aten.sub.Scalar),
    "mul": (aten.mul.Tensor, aten.mul.Scalar),
    "div": (aten.div.Tensor, aten.div.Scalar),
    "pow": (aten.pow.Tensor_Tensor, aten.pow.Tensor_Scalar, aten.pow.Scalar),
    "maximum": (aten.maximum.default,),
    "minimum": (aten.minimum.default,),
}
_LOGICAL = {"logical_and": aten.logical_and.default, "logical_or": aten.logical_or.default}
_COMPARE = {
    name: (getattr(aten, name).Tensor, getattr(aten, name).Scalar)
    for name in ("eq", "ne", "lt", "le", "gt", "ge")
}


def _unary(op: str, float_only: bool, ctx: Ctx, x: Value, **_: object) -> Value:
    elem = default_float(x.type.elem) if float_only else x.type.elem
    return ctx.emit(op, [ctx.cast(x, elem)])


def _rounding(op: str, ctx: Ctx, x: Value) -> Value:
    return ctx.emit(op, [x]) if x.type.elem.is_float else x  # integers are already whole


def binary(ctx: Ctx, op: str, a: Value | float, b: Value | float) -> Value:
    """``op(a, b)`` computed in the promoted element type (true division promotes ints to float)."""
    elem = promote(a, b)
    if op == "div":
        elem = default_float(elem)
    return ctx.emit(op, [ctx.operand(a, elem), ctx.operand(b, elem)])


def _arith(op: str, ctx: Ctx, a: Value | float, b: Value | float, alpha: float = 1) -> Value:
    if alpha != 1:  # add/sub: a + alpha * b
        b = binary(ctx, "mul", b, alpha) if isinstance(b, Value) else b * alpha
    return binary(ctx, op, a, b)


def _rsub(ctx: Ctx, a: Value, b: Value | float, alpha: float = 1) -> Value:
    """rsub(a, b) = b - alpha * a."""
    return _arith("sub", ctx, b, a, alpha)


def _logical(op: str, ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit(op, [truth(ctx, a), truth(ctx, b)])


def _compare(op: str, ctx: Ctx, a: Value | float, b: Value | float) -> Value:
    elem = promote(a, b)
    return ctx.emit(op, [ctx.operand(a, elem), ctx.operand(b, elem)])


def truth(ctx: Ctx, x: Value) -> Value:
    """``x != 0`` as i1 (identity for i1 values)."""
    if x.type.elem == I1:
        return x
    return ctx.emit("ne", [x, ctx.full(0, x.type.elem)])


for _t, _op in _FLOAT_UNARY.items():
    register_lowering(_t)(partial(_unary, _op, True))
for _t, _op in _ANY_UNARY.items():
    register_lowering(_t)(partial(_unary, _op, False))
for _t, _op in _ROUNDING.items():
    register_lowering(_t)(partial(_rounding, _op))
for _op, _ts in _ARITH.items():
    register_lowering(*_ts)(partial(_arith, _op))
for _op, _t in _LOGICAL.items():
    register_lowering(_t)(partial(_logical, _op))
for _op, _ts in _COMPARE.items():
    register_lowering(*_ts)(partial(_compare, _op))
register_lowering(aten.rsub.Tensor, aten.rsub.Scalar)(_rsub)


@register_lowering(aten.logical_not.default)
def _logical_not(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("logical_not", [truth(ctx, x)])


@register_lowering(aten.bitwise_not.default)
def _bitwise_not(ctx: Ctx, x: Value) -> Value:
    """not for bools; ~x = -x - 1 for two's-complement integers."""
    if x.type.elem == I1:
        return ctx.emit("logical_not", [x])
    if x.type.elem.is_float:
        raise Unsupported("bitwise_not of a float tensor")
    return ctx.emit("sub", [ctx.emit("neg", [x]), ctx.full(1, x.type.elem)])


@register_lowering(aten.round.decimals)
def _round_decimals(ctx: Ctx, x: Value, *, decimals: int = 0) -> Value:
    """torch's rule: round(x * 10^d) / 10^d, or round(x / 10^-d) * 10^-d for negative d."""
    if not x.type.elem.is_float or decimals == 0:
        return _rounding("round", ctx, x)
    scale = ctx.full(10.0 ** abs(decimals), x.type.elem)
    up, down = ("mul", "div") if decimals > 0 else ("div", "mul")
    r = ctx.emit("round", [ctx.emit(up, [x, scale])])
    return ctx.emit(down, [r, scale])


@register_lowering(aten.frac.default)
def _frac(ctx: Ctx, x: Value) -> Value:
    """x - trunc(x)."""
    return ctx.emit("sub", [x, ctx.emit("trunc", [x])])


@register_lowering(aten.where.self)
def _where(ctx: Ctx, cond: Value, a: Value | float, b: Value | float) -> Value:
    elem = promote(a, b)
    return ctx.emit("where", [truth(ctx, cond), ctx.operand(a, elem), ctx.operand(b, elem)])


@register_lowering(aten.clamp.default, aten.clamp.Tensor)
def _clamp(
    ctx: Ctx, x: Value, lo: Value | float | None = None, hi: Value | float | None = None
) -> Value:
    """clamp = min(max(x, lo), hi), in the type promoted over x and the given bounds."""
    bounds = [v for v in (lo, hi) if v is not None]
    elem = promote(x, *bounds)
    y = ctx.cast(x, elem)
    if lo is not None:
        y = ctx.emit("maximum", [y, ctx.operand(lo, elem)])
    if hi is not None:
        y = ctx.emit("minimum", [y, ctx.operand(hi, elem)])
    return y


@register_lowering(aten.hardtanh.default)
def _hardtanh(ctx: Ctx, x: Value, lo: float = -1.0, hi: float = 1.0) -> Value:
    return _clamp(ctx, x, lo, hi)


@register_lowering(aten.leaky_relu.default)
def _leaky_relu(ctx: Ctx, x: Value, slope: float = 0.01) -> Value:
    """where(x > 0, x, slope * x)."""
    positive = ctx.emit("gt", [x, ctx.full(0, x.type.elem)])
    scaled = ctx.emit("mul", [x, ctx.full(slope, x.type.elem)])
    return ctx.emit("where", [positive, x, scaled])


@register_lowering(aten.elu.default)
def _elu(ctx: Ctx, x: Value, alpha=1.0, scale=1.0, input_scale=1.0) -> Value:
    """scale * where(x > 0, x, alpha * (exp(input_scale * x) - 1))."""
    e = x.type.elem
    scaled = x if input_scale == 1 else ctx.emit("mul", [x, ctx.full(input_scale, e)])
    negative = ctx.emit("exp", [scaled])
    negative = ctx.emit("sub", [negative, ctx.full(1, e)])
    negative = ctx.emit("mul", [negative, ctx.full(alpha, e)])
    y = ctx.emit("where", [ctx.emit("gt", [x, ctx.full(0, e)]), x, negative])
    return y if scale == 1 else ctx.emit("mul", [y, ctx.full(scale, e)])


@register_lowering(aten.gelu.default)
def _gelu(ctx: Ctx, x: Value, *, approximate: str = "none") -> Value:
    if approximate not in ("none", "tanh"):
        raise Unsupported(f"gelu approximate='{approximate}' is not supported")
    return ctx.emit("gelu", [x], {"approximate": approximate})


@register_lowering(aten._to_copy.default)
def _to_copy(ctx: Ctx, x: Value, *, dtype: object = None, **_: object) -> Value:
    """A dtype cast (layout, device and memory-format arguments do not change values)."""
    return x if dtype is None else ctx.cast(x, elem_of_dtype(dtype))


@register_lowering(aten.clone.default, aten.alias.default, aten.lift_fresh_copy.default)
def _identity(ctx: Ctx, x: Value, **_: object) -> Value:
    """Copies and aliases are the same value in SSA form."""
    return x


def _class_test(ctx: Ctx, x: Value, kind: str) -> Value:
    """isnan = x != x; isinf = |x| == inf; isfinite = |x| < inf (false for NaN); isposinf /
    isneginf = x == +-inf. Integers are never NaN or infinite."""
    if not x.type.elem.is_float:
        return ctx.full(kind == "isfinite", I1, x.type.shape)
    inf = ctx.full(float("inf"), x.type.elem)
    if kind == "isnan":
        return ctx.emit("ne", [x, x])
    if kind == "isposinf":
        return ctx.emit("eq", [x, inf])
    if kind == "isneginf":
        return ctx.emit("eq", [x, ctx.full(float("-inf"), x.type.elem)])
    mag = ctx.emit("abs", [x])
    return ctx.emit("eq" if kind == "isinf" else "lt", [mag, inf])


for _kind in ("isnan", "isinf", "isfinite", "isposinf", "isneginf"):
    register_lowering(getattr(aten, _kind).default)(partial(_class_test, kind=_kind))


@register_lowering(aten.sign.default, aten.sgn.default)
def _sign(ctx: Ctx, x: Value) -> Value:
    """1 where x > 0, -1 where x < 0, else 0 (zeros and NaN, as torch)."""
    if x.type.elem == I1:
        return x
    e = x.type.elem
    y = ctx.emit("where", [ctx.emit("gt", [x, ctx.full(0, e)]), ctx.full(1, e), ctx.full(0, e)])
    return ctx.emit("where", [ctx.emit("lt", [x, ctx.full(0, e)]), ctx.full(-1, e), y])


@register_lowering(aten.signbit.default)
def _signbit(ctx: Ctx, x: Value) -> Value:
    """x < 0, or x is -0.0 (1/x = -inf); NaN's sign bit is not visible to comparisons."""
    if not x.type.elem.is_float:
        return ctx.emit("lt", [x, ctx.full(0, x.type.elem)])
    e = x.type.elem
    neg_zero = ctx.emit("eq", [ctx.emit("div", [ctx.full(1, e), x]), ctx.full(float("-inf"), e)])
    return ctx.emit("logical_or", [ctx.emit("lt", [x, ctx.full(0, e)]), neg_zero])


@register_lowering(aten.logical_xor.default)
def _logical_xor(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("ne", [truth(ctx, a), truth(ctx, b)])


_BITWISE = {"bitwise_and": "logical_and", "bitwise_or": "logical_or", "bitwise_xor": "ne"}


def _bitwise(op: str, ctx: Ctx, a: Value | bool, b: Value | bool) -> Value:
    """On booleans: and, or, xor; integer bit operations have no exact fp32-lane form."""
    if promote(a, b) != I1:
        raise Unsupported(f"{op} of integer tensors (only booleans)")
    return ctx.emit(_BITWISE[op], [ctx.operand(a, I1), ctx.operand(b, I1)])


for _op in _BITWISE:
    _t = getattr(aten, _op)
    register_lowering(_t.Tensor, _t.Scalar)(partial(_bitwise, _op))


@register_lowering(aten.log1p.default)
def _log1p(ctx: Ctx, x: Value) -> Value:
    """Kahan's log1p: u = 1 + x; x where u == 1, else log(u) * x / (u - 1) (the rounding of u
    cancels, so small x keeps its relative accuracy)."""
    x = ctx.cast(x, default_float(x.type.elem))
    e, one = x.type.elem, ctx.full(1, x.type.elem)
    u = ctx.emit("add", [one, x])
    scaled = ctx.emit(
        "div", [ctx.emit("mul", [ctx.emit("log", [u]), x]), ctx.emit("sub", [u, one])]
    )
    y = ctx.emit("where", [ctx.emit("eq", [u, one]), x, scaled])
    inf = ctx.emit("eq", [u, ctx.full(float("inf"), e)])
    return ctx.emit("where", [inf, u, y])


@register_lowering(aten.expm1.default)
def _expm1(ctx: Ctx, x: Value) -> Value:
    """Kahan's expm1: u = exp(x); x where u == 1, -1 where u - 1 == -1, else
    (u - 1) * x / log(u); +inf where u is."""
    x = ctx.cast(x, default_float(x.type.elem))
    e, one = x.type.elem, ctx.full(1, x.type.elem)
    u = ctx.emit("exp", [x])
    um1 = ctx.emit("sub", [u, one])
    scaled = ctx.emit("div", [ctx.emit("mul", [um1, x]), ctx.emit("log", [u])])
    y = ctx.emit("where", [ctx.emit("eq", [um1, ctx.full(-1, e)]), um1, scaled])
    y = ctx.emit("where", [ctx.emit("eq", [u, one]), x, y])
    return ctx.emit("where", [ctx.emit("eq", [u, ctx.full(float("inf"), e)]), u, y])


def _fmod_core(ctx: Ctx, a: Value, b: Value) -> Value:
    """C's fmod (sign of a, |r| < |b|). Floats: ``r = a - trunc(a/b)*b``, then one correction
    step for a quotient rounded across an integer (``r`` of the wrong sign gets ``|b|`` back,
    ``|r| >= |b|`` gives it up); exact when ``trunc(a/b)*b`` is (|a/b| below 2^(p - bits of b)
    with p the storage format's precision), else within half an ulp of that product. ``b``
    infinite returns ``a`` (finite a); ``b = 0`` or infinite ``a`` give NaN, as C. Integers:
    ``a - (a // b)*b`` (floor division), moved to a's sign."""
    e = a.type.elem
    zero = ctx.full(0, e)
    if not e.is_float:
        r = ctx.emit("sub", [a, ctx.emit("mul", [ctx.emit("div", [a, b]), b])])
        flip = _opposite_nonzero(ctx, r, a)
        return ctx.emit("where", [flip, ctx.emit("sub", [r, b]), r])
    q = ctx.emit("trunc", [ctx.emit("div", [a, b])])
    r = ctx.emit("sub", [a, ctx.emit("mul", [q, b])])
    mag = ctx.emit("abs", [b])
    step = ctx.emit("where", [ctx.emit("lt", [a, zero]), ctx.emit("neg", [mag]), mag])
    r = ctx.emit("where", [_opposite_nonzero(ctx, r, a), ctx.emit("add", [r, step]), r])
    too_big = ctx.emit("ge", [ctx.emit("abs", [r]), mag])
    r = ctx.emit("where", [too_big, ctx.emit("sub", [r, step]), r])
    inf = ctx.full(float("inf"), e)
    keep = ctx.emit(
        "logical_and",
        [ctx.emit("eq", [mag, inf]), ctx.emit("lt", [ctx.emit("abs", [a]), inf])],
    )
    return ctx.emit("where", [keep, a, r])


def _opposite_nonzero(ctx: Ctx, r: Value, ref: Value) -> Value:
    """``r != 0`` and ``r < 0`` differs from ``ref < 0``."""
    zero = ctx.full(0, r.type.elem)
    differ = ctx.emit("ne", [ctx.emit("lt", [r, zero]), ctx.emit("lt", [ref, zero])])
    return ctx.emit("logical_and", [ctx.emit("ne", [r, zero]), differ])


def _mod_operands(ctx: Ctx, a: Value | float, b: Value | float) -> tuple[Value, Value]:
    elem = promote(a, b)
    if elem == I1:
        raise Unsupported("fmod/remainder of boolean tensors")
    return ctx.operand(a, elem), ctx.operand(b, elem)


@register_lowering(aten.fmod.Tensor, aten.fmod.Scalar)
def _fmod(ctx: Ctx, a: Value | float, b: Value | float) -> Value:
    return _fmod_core(ctx, *_mod_operands(ctx, a, b))


@register_lowering(aten.remainder.Tensor, aten.remainder.Scalar)
def _remainder(ctx: Ctx, a: Value | float, b: Value | float) -> Value:
    """Python's modulo (sign of b): torch's rule ``r = fmod(a, b)``, ``r + b`` where r is nonzero
    and its sign differs from b's."""
    a, b = _mod_operands(ctx, a, b)
    r = _fmod_core(ctx, a, b)
    return ctx.emit("where", [_opposite_nonzero(ctx, r, b), ctx.emit("add", [r, b]), r])
