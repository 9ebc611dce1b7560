"""``decompose`` rules for reductions, normalisations, matmul, pow and iota.

Each rule builds the op's value from primitives with an :class:`Emitter` and returns it. Float
intermediates are fp32 (narrower operands are widened exactly first) and the result is converted
once to the op's type, the interpreter's own rule for composite ops (compute in fp32, round
once). The steps follow the interpreter's evaluators one for one (same operations, same operand
order, same sequential sums), so these rules reproduce the composite ops' bits exactly:

- ``reduce_*`` over other or several dims: permute the reduced dims to the end, flatten them
  (row-major: the interpreter's order), reduce the last dim with keepdim, reshape.
- ``reduce_mean`` = ``reduce_sum / n`` (a division, like the interpreter; ``* (1/n)`` would
  round differently). Integer means floor-divide, as the interpreter does.
- ``softmax`` = max, sub, exp, sum, div (``e / sum(e)``); ``log_softmax`` = max, sub, exp, sum,
  log, sub. A non-last ``dim`` is permuted to the end and back.
- ``layer_norm`` (two-pass): ``mean = sum(x)/n; d = x - mean; var = sum(d*d)/n;
  y = d * rsqrt(var + eps)``, then ``* weight``, ``+ bias``.
- ``batch_norm`` = ``((x - mean) / sqrt(var + eps)) * weight + bias`` with per-channel operands
  reshaped to ``[1, C, 1, ...]``; the per-channel chain folds to constants afterwards.
- ``matmul`` with broadcast batch dims or rank > 3: a rank-2 right operand takes the left one's
  batch dims into its rows; otherwise both are broadcast to the batch shape and flattened to one
  batch dim. A float matmul's result is the fp32 accumulator, converted to the op's type after.
- ``pow`` with a constant scalar exponent b: integral ``|b| < 32`` is binary powering with fp32
  muls (``1/r`` for negative b; b = 0 gives 1), other b ``exp(b * log|a|)``, negated for
  negative a and odd b, NaN for negative a and non-integral b: the interpreter's definition. A
  run-time exponent gives ``exp(b * log(a))``: exact for the domain ``a >= 0`` up to the fpmath
  error of exp/log; negative a gives NaN (torch gives ``±|a|^b`` for integral b).
- ``iota`` becomes a ``const`` of its value.
- ``sin``/``cos``: the fixed fp32 sequence of :mod:`d1c.isa.trig` (the interpreter's
  evaluator), each step one primitive op.
"""

from __future__ import annotations

import math

import numpy as np

from d1c.ir import FP32, Op, Value
from d1c.isa import trig
from d1c.passes.decompose_emit import Emitter
from d1c.passes.fold_constants import evaluate_op, splat_value

F32 = np.float32


def reduction(op: Op, e: Emitter) -> Value:
    x, out = op.operands[0], op.result.type
    y = e.reduce(x, op.name, op.attrs["dims"], op.attrs["keepdim"])
    return e.cast(y, out.elem)


def reduce_mean(op: Op, e: Emitter) -> Value:
    x, out = op.operands[0], op.result.type
    dims = op.attrs["dims"]
    s = e.reduce(x, "reduce_sum", dims, op.attrs["keepdim"])
    n = math.prod(x.type.shape[d] for d in dims)
    return e.cast(e.op("div", [s, e.full(n, s.type.elem)]), out.elem)


def _to_last(e: Emitter, x: Value, dim: int) -> tuple[Value, tuple[int, ...]]:
    """``x`` with ``dim`` moved last, and the permutation that moves it back."""
    r = x.type.rank
    perm = [i for i in range(r) if i != dim] + [dim]
    back = tuple(perm.index(i) for i in range(r))
    return e.permute(x, perm), back


def softmax(op: Op, e: Emitter) -> Value:
    x, back = _to_last(e, e.f32(op.operands[0]), op.attrs["dim"])
    z = e.op("sub", [x, e.reduce_last(x, "reduce_max")])
    ex = e.op("exp", [z])
    s = e.reduce_last(ex, "reduce_sum")
    y = e.op("div", [ex, s]) if op.name == "softmax" else e.op("sub", [z, e.op("log", [s])])
    return e.cast(e.permute(y, back), op.result.type.elem)


def layer_norm(op: Op, e: Emitter) -> Value:
    x, *affine = op.operands
    shape, n = x.type.shape, op.attrs["ndim"]
    count = math.prod(shape[len(shape) - n :])
    xf = e.reshape(e.f32(x), (*shape[: len(shape) - n], count))
    mean = e.op("div", [e.reduce_last(xf, "reduce_sum"), e.full(count)])
    d = e.op("sub", [xf, mean])
    var = e.op("div", [e.reduce_last(e.op("mul", [d, d]), "reduce_sum"), e.full(count)])
    r = e.op("rsqrt", [e.op("add", [var, e.full(op.attrs["eps"])])])
    y = e.reshape(e.op("mul", [d, r]), shape)
    for i, p in enumerate(affine):
        y = e.op("mul" if i == 0 else "add", [y, e.f32(p)])
    return e.cast(y, op.result.type.elem)


def batch_norm(op: Op, e: Emitter) -> Value:
    x, mean, var, weight, bias = (e.f32(v) for v in op.operands)
    cshape = tuple(s if i == 1 else 1 for i, s in enumerate(x.type.shape))
    std = e.op("sqrt", [e.op("add", [var, e.full(op.attrs["eps"])])])
    y = e.op("div", [e.op("sub", [x, e.reshape(mean, cshape)]), e.reshape(std, cshape)])
    y = e.op("mul", [y, e.reshape(weight, cshape)])
    y = e.op("add", [y, e.reshape(bias, cshape)])
    return e.cast(y, op.result.type.elem)


def matmul(op: Op, e: Emitter) -> Value:
    a, b = op.operands
    out = op.result.type
    batch, (m, k), n = out.shape[:-2], a.type.shape[-2:], b.type.shape[-1]
    if math.prod(b.type.shape[:-2]) == 1:  # one right matrix: the batch joins the rows
        a2 = e.reshape(e.broadcast(a, (*batch, m, k)), (math.prod(batch) * m, k))
        y = e.matmul(a2, e.reshape(b, (k, n)))
    else:
        count = math.prod(batch)
        a3 = e.reshape(e.broadcast(a, (*batch, m, k)), (count, m, k))
        b3 = e.reshape(e.broadcast(b, (*batch, k, n)), (count, k, n))
        y = e.matmul(a3, b3)
    return e.cast(e.reshape(y, out.shape), out.elem)


def pow_(op: Op, e: Emitter) -> Value:
    a, b = op.operands
    out = op.result.type
    af = e.broadcast(e.f32(a), out.shape)
    value = _exponent(e, b)
    if value is None:
        y = e.op("exp", [e.op("mul", [e.f32(b), e.op("log", [af])])])
    else:
        y = _pow_const(e, af, F32(value))
    return e.cast(y, out.elem)


def _exponent(e: Emitter, b: Value) -> float | None:
    """The value of a ``full`` or splat ``const`` exponent, as its element type holds it."""
    op = b.owner
    if op is None or op.name not in ("full", "const"):
        return None
    array = evaluate_op(op, []) if op.name == "full" else e.module.consts.get(op.attrs["name"].name)
    return None if array is None else splat_value(array)


def _pow_const(e: Emitter, a: Value, b: np.float32) -> Value:
    whole = bool(np.floor(b) == b)
    if whole and abs(b) < 32:
        y = _binary_power(e, a, int(abs(b)))
        return e.op("div", [e.full(1.0), y]) if b < 0 else y
    mag = e.op("exp", [e.op("mul", [e.full(b), e.op("log", [e.op("abs", [a])])])])
    negative = e.op("lt", [a, e.full(0.0)])
    if whole:
        odd = bool(np.fmod(b, F32(2)) != 0)
        return e.op("where", [negative, e.op("neg", [mag]), mag]) if odd else mag
    return e.op("where", [negative, e.full(float("nan")), mag])


def _binary_power(e: Emitter, a: Value, n: int) -> Value:
    """``a ** n`` as the interpreter computes it: ``r *= a^(2^i)`` for each set bit i of n, low
    to high, with ``a^(2^i)`` by repeated squaring (``r`` starts as the first factor)."""
    if n == 0:
        return e.full(1.0, FP32, a.type.shape)
    r, base = None, a
    for bit in range(n.bit_length()):
        if n >> bit & 1:
            r = base if r is None else e.op("mul", [r, base])
        if n >> (bit + 1):
            base = e.op("mul", [base, base])
    return r


def reject_pow(op: Op) -> str | None:
    if not op.result.type.elem.is_float:
        return f"integer 'pow' on {op.operands[0].type} has no primitive form"
    return None


def iota(op: Op, e: Emitter) -> Value:
    value = evaluate_op(op, [])
    return e.const("iota", value, op.result.type)


class _EmitOps:
    """:class:`d1c.isa.trig.Ops` emitting fp32 primitive ops."""

    def __init__(self, e: Emitter) -> None:
        self.e = e

    def const(self, value: np.float32) -> Value:
        return self.e.full(float(value))

    def binary(self, name: str, a: Value, b: Value) -> Value:
        return self.e.op(name, [a, b])

    def unary(self, name: str, a: Value) -> Value:
        return self.e.op(name, [a])

    def where(self, cond: Value, a: Value, b: Value) -> Value:
        return self.e.op("where", [cond, a, b])


def sin_cos(op: Op, e: Emitter) -> Value:
    y = trig.sin_cos(_EmitOps(e), e.f32(op.operands[0]), op.name)
    return e.cast(y, op.result.type.elem)
