"""Evaluators of the elementwise ops: unary, binary, comparisons, logic, ``where``, ``pow``,
``gelu`` and ``convert``. Numeric choices are listed in the :mod:`d1c.interp` docstring."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from d1c.errors import UnsupportedError
from d1c.interp.arith import fpmath, int_power, max2, min2
from d1c.interp.core import Call, register_eval, round_to
from d1c.ir.types import I1
from d1c.isa.trig import sin_cos_f32

F32 = np.float32

# Transcendentals: fixed FP32 sequences from d1c.isa.fpmath (never the host libm).
FPMATH_UNARY = ("exp", "log", "rsqrt", "reciprocal", "tanh", "sigmoid", "erf", "silu")
# Correctly rounded (IEEE) or exact numpy float32 ufuncs.
EXACT_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sqrt": np.sqrt,
    "floor": np.floor,
    "ceil": np.ceil,
    "trunc": np.trunc,
    "round": np.rint,
}
COMPARE = {
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
}
NOT_ON_I1 = ("neg", "abs", "sub", "div", "pow")


def _no_i1(c: Call) -> None:
    if c.args and c.args[0].dtype == np.bool_ and c.op.name in NOT_ON_I1:
        raise UnsupportedError(
            f"'{c.op.name}' is not defined on i1",
            c.op.where(),
            hint="convert the operands to an integer type first",
        )


def _register_tables() -> None:
    for name in FPMATH_UNARY:
        register_eval(name)(lambda c, n=name: fpmath(n)(c.args[0]))
    for name, fn in EXACT_UNARY.items():
        register_eval(name)(lambda c, f=fn: f(c.args[0]))
    for name in ("sin", "cos"):  # the fixed sequence decompose emits (d1c.isa.trig)
        register_eval(name)(lambda c, n=name: sin_cos_f32(c.args[0], n))
    for name, fn in COMPARE.items():
        register_eval(name)(lambda c, f=fn: f(c.args[0], c.args[1]))


_register_tables()


@register_eval("neg")
def _neg(c: Call) -> np.ndarray:
    _no_i1(c)
    return np.negative(c.args[0])


@register_eval("abs")
def _abs(c: Call) -> np.ndarray:
    _no_i1(c)
    return np.abs(c.args[0])


@register_eval("relu")
def _relu(c: Call) -> np.ndarray:
    """``0 if x < 0 else x``: NaN and -0 pass through."""
    x = c.args[0]
    return np.where(x < 0, np.zeros((), x.dtype), x)


@register_eval("gelu")
def _gelu(c: Call) -> np.ndarray:
    kind = c.attrs["approximate"]
    if kind not in ("none", "tanh"):
        raise UnsupportedError(f"gelu approximate = {kind!r} is not 'none' or 'tanh'")
    return fpmath("gelu_erf" if kind == "none" else "gelu_tanh")(c.args[0])


@register_eval("add", "sub", "mul")
def _arith(c: Call) -> np.ndarray:
    _no_i1(c)
    fn = {"add": np.add, "sub": np.subtract, "mul": np.multiply}[c.op.name]
    return fn(c.args[0], c.args[1])


@register_eval("div")
def _div(c: Call) -> np.ndarray:
    """Floats: IEEE true division. Integers: floor division (Python/numpy ``//``)."""
    _no_i1(c)
    a, b = c.args
    if a.dtype.kind == "f":
        return np.true_divide(a, b)
    if np.any(b == 0):
        raise c.fail("integer division by zero")
    return np.floor_divide(a, b)


@register_eval("maximum")
def _maximum(c: Call) -> np.ndarray:
    a, b = np.broadcast_arrays(*c.args)
    return max2(a, b)


@register_eval("minimum")
def _minimum(c: Call) -> np.ndarray:
    a, b = np.broadcast_arrays(*c.args)
    return min2(a, b)


@register_eval("logical_and", "logical_or")
def _logical(c: Call) -> np.ndarray:
    """``(a != 0) and/or (b != 0)`` as 1/0 of the element type."""
    fn = np.logical_and if c.op.name == "logical_and" else np.logical_or
    return fn(c.args[0] != 0, c.args[1] != 0).astype(c.args[0].dtype)


@register_eval("logical_not")
def _logical_not(c: Call) -> np.ndarray:
    return (c.args[0] == 0).astype(c.args[0].dtype)


@register_eval("where")
def _where(c: Call) -> np.ndarray:
    return np.where(*c.args)


@register_eval("pow")
def _pow(c: Call) -> np.ndarray:
    _no_i1(c)
    a, b = c.args
    if a.dtype.kind != "f":
        if np.any(b < 0):
            raise c.fail("integer to a negative power")
        return np.power(a, b)
    return float_pow(a, b)


def float_pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a ** b`` in fp32. Integer ``b`` with ``|b| < 32``: binary powering (then ``1/r`` for
    negative ``b``). Otherwise ``exp(b * log|a|)`` with fpmath, negated for negative ``a`` and odd
    integer ``b``, NaN for negative ``a`` and non-integer ``b``."""
    whole = np.floor(b) == b
    small = whole & (np.abs(b) < 32)
    n = np.where(small, np.abs(b), 0).astype(np.int64)
    r = int_power(a, n)
    r = np.where(b < 0, F32(1) / r, r)
    mag = fpmath("exp")(b * fpmath("log")(np.abs(a)))
    odd = whole & (np.fmod(b, F32(2)) != 0)
    general = np.where(a < 0, np.where(whole, np.where(odd, -mag, mag), F32(np.nan)), mag)
    return np.where(small, r, general).astype(F32)


@register_eval("convert")
def _convert(c: Call) -> np.ndarray:
    """Float targets: via fp32, then rounded with the op's ``rounding`` (SR stream = the op's
    position in its function). Integer targets: truncation toward zero, saturating, NaN -> 0.
    i1 targets: ``x != 0``."""
    x, elem = c.args[0], c.elem
    if elem.is_float:
        kw = {"seed": c.seed, "stream": c.index} if c.attrs["rounding"] == "sr" else {}
        return round_to(x.astype(F32), elem, c.attrs["rounding"], **kw)
    if elem == I1:
        return x != 0
    if x.dtype.kind == "f":
        return float_to_int(x, np.dtype(elem.host_dtype))
    return x.astype(elem.host_dtype)


def float_to_int(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Truncate toward zero; values beyond the range saturate; NaN gives 0."""
    info = np.iinfo(dtype)
    limit = 2.0 ** (info.bits - 1)
    hi, lo = x >= limit, x < -limit
    safe = np.where(hi | lo | np.isnan(x), 0, np.trunc(x)).astype(dtype)
    return np.where(hi, info.max, np.where(lo, info.min, safe)).astype(dtype)
