"""The reference interpreter: executes one function of graph IR with numpy (docs/design.md §2, §4, §5).

    outputs = interpret(module, inputs, func=None, seed=0)

Each op kind of :mod:`d1c.ir.ops` has one small evaluator registered with
``@register_eval("name")`` in :data:`EVALUATORS`. Inputs are checked (count, shape, host dtype,
exact representability); an op without an evaluator, a constant whose data was elided from a dump,
and data faults (an embedding index out of range, integer division by zero) raise
:class:`~d1c.errors.D1cError` at the op's position. The results are bit-deterministic: the same on
every host, run after run. The choices that make them so:

Values
    Float tensors of every element type are float32 arrays whose values are exactly representable
    in the type; i64, i32 and i1 are int64, int32 and bool arrays.

Rounding
    Every op computes in float32, each numpy operation rounded on its own (IEEE binary32,
    round-to-nearest-even; never float64, never fused multiply-add), then rounds its result once
    to the result's element type with :func:`d1c.isa.numerics.quantize` (RNE) when that type is
    not fp32. ``convert`` rounds with its ``rounding`` attribute; stochastic rounding uses the
    interpreter's ``seed`` and the op's position in its function as the stream. Integers convert
    to floats via fp32. Floats convert to integers by truncation toward zero, saturating at the
    type's range, NaN -> 0; any value converts to i1 as ``x != 0``.

Elementwise
    add, sub, mul, div (true division), sqrt, floor, ceil, neg, abs are correctly rounded or
    exact. exp, log, tanh, erf, sigmoid, rsqrt, reciprocal, silu and gelu (erf and tanh forms)
    are the fixed FP32 sequences of :mod:`d1c.isa.fpmath`, never the host libm. sin and cos are
    the fixed sequence of primitive FP32 ops of :mod:`d1c.isa.trig` (range reduction, Taylor
    polynomials; ``decompose`` emits the same ops). ``pow`` with an integral exponent ``|b| < 32`` is
    binary powering with fp32 products (``x**2 = x*x``; negative exponents take ``1/r``), else
    ``exp(b * log|a|)`` with fpmath, signed for negative ``a`` and odd integral ``b``, NaN for
    negative ``a`` and non-integral ``b``. ``maximum``/``minimum`` propagate NaN and return the
    first operand on ties (``+0`` vs ``-0`` included). ``relu(x) = 0 if x < 0 else x`` keeps NaN.
    Comparisons give i1; logical ops treat nonzero as true and give 1/0 in the operand type.

Integers
    numpy semantics: two's-complement wrap-around; ``div`` is floor division and division by
    zero is an error; ``pow`` to a negative power is an error; ``reduce_mean`` floor-divides.
    neg, abs, sub, div and pow are not defined on i1 (convert first); add/mul on i1 are or/and.

Accumulation order (the contract that the tiled IR and the D1 simulator reproduce)
    Sums (reduce_sum, reduce_mean, softmax, layer_norm, avg pools) are sequential: ``acc = +0;
    acc = fp32(acc + x_r)`` over the reduced elements in row-major order of the reduced dims.
    reduce_max/min and max_pool fold ``acc = x_0; acc = max(acc, x_r)`` in the same order.
    matmul is the D1 matrix-unit order: ``acc = +0; acc = fp32(acc + fp32(a_mk * b_kn))`` for
    k = 0..K-1; conv2d is im2col + that matmul with k over (channel, kernel row, kernel column),
    bias added after the sum. Everything is vectorised over the dimensions that are not summed.

Composite ops (each step one fp32 rounding, in this order)
    reduce_mean = sum / N. softmax = ``e / sum(e)`` with ``e = exp(x - max(x))``; log_softmax =
    ``(x - max) - log(sum(exp(x - max)))``. layer_norm is two-pass: ``mean = sum(x)/N``,
    ``d = x - mean``, ``var = sum(d*d)/N``, ``y = d * rsqrt(var + eps)``, ``y*weight``,
    ``+bias``. batch_norm (operands x, mean, var, weight, bias) is
    ``((x - mean) / sqrt(var + eps)) * weight + bias``. avg_pool2d = window sum / torch's divisor
    (count_include_pad, ceil_mode and ``divisor`` as in torch); adaptive_avg_pool2d uses torch's
    windows ``floor(i*H/OH) .. ceil((i+1)*H/OH)``. Float attributes (eps, pad and fill values)
    are rounded to fp32 first, and fill values then to the element type as constants are
    (:func:`~d1c.interp.core.round_constant`: a finite value beyond the type's range saturates).
"""

from d1c.interp import elementwise, linalg, reduce, structural
from d1c.interp.core import (
    EVALUATORS,
    Call,
    Eval,
    interpret,
    register_eval,
    round_constant,
    round_to,
)

__all__ = [
    "EVALUATORS",
    "Call",
    "Eval",
    "elementwise",
    "interpret",
    "linalg",
    "reduce",
    "register_eval",
    "round_constant",
    "round_to",
    "structural",
]
