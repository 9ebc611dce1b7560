"""The derived error bound of a quantized module against the float64 reference of its graph
(docs/lowering.md §1, docs/design.md §5 rung 2).

    bounds = error_bound(graph_module, quantized_module, inputs)      # per output, elementwise
    for check in check_within_bound(graph_module, quantized_module, inputs):
        check.err, check.allowed, check.index, check.ok()   # the worst element (d1c.accuracy.checks)

The reference is :func:`d1c.accuracy.ref64.reference64` of the graph: its real-number semantics in
float64. The bound is first-order-or-better forward error propagation along the *quantized*
module, op by op in program order, with the rules of :mod:`d1c.accuracy.bound_rules` (per op) and
:mod:`d1c.accuracy.bound_arith` (fp32 arithmetic): every value carries its float64 reference and an
elementwise bound on |quantized value - reference|, which each op propagates (how far the exact
op moves when its inputs move), grows by the op's own fp32 rounding errors (the interpreter's
evaluation order: sequential sums, fpmath ulp bounds), and, when the op's result type is a
storage format, by the rounding to that format (u_f·|value| + half its smallest denormal). Saturation,
overflow, division by an interval containing zero and comparisons the errors could flip are
flagged as unbounded (``inf``).

The walker computes its reference values with the same float64 op evaluator as the graph's
reference, with converts as the identity; if its outputs are not bit-identical to
``reference64(graph)`` the quantized module does not compute the graph and a
:class:`~d1c.errors.D1cError` says so. Constants are looked up by name in both modules: the
quantized module must keep the graph's constant names (``assign-formats`` does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from d1c.accuracy import grid
from d1c.accuracy.bound_arith import Bounded, box_row, exact, round_to_format
from d1c.accuracy.bound_rules import (
    CORRECTLY_ROUNDED,
    EXACT_RESULT,
    Data,
    constant,
    data_error,
    op_bound,
    stored,
)
from d1c.accuracy.checks import ElementCheck, check_elements
from d1c.accuracy.ref64 import as_reference, evaluate_op, reference64
from d1c.errors import D1cError
from d1c.interp import interpret
from d1c.ir import FP32, ElemType, Module, Op, Value
from d1c.ir.types import holds

__all__ = [
    "bound_op",
    "bound_values",
    "bounded_outputs",
    "check_within_bound",
    "error_bound",
    "observed_error",
]


def _step(op: Op, env: dict, data: Data) -> Bounded:
    args = [env[v] for v in op.operands]
    ref = evaluate_op(op, [a.ref for a in args], data.graph)
    out = op_bound(op, args, data)
    err, row = out.err, out.row
    if row is not None and err.ndim:
        err = np.minimum(err, row[..., None])
        row = np.minimum(row, box_row(err))
    b = Bounded(ref, err, row)
    elem = op.result.type.elem
    if elem.is_float and op.name not in EXACT_RESULT and not _exact_convert(op):
        rounding = op.attrs.get("rounding", "rne") if op.name == "convert" else "rne"
        b = round_to_format(b, elem, rounding)
    if elem.is_float and op.name in CORRECTLY_ROUNDED and not any(np.any(a.err) for a in args):
        b = _exactly_known(b, elem)
    return b


def _exactly_known(b: Bounded, elem: ElemType) -> Bounded:
    """A correctly rounded op of exact operands: where its float64 result is a value of fp32 and
    of ``elem``, the exact result is within float64's half ulp of it, so rounding it to fp32 and
    to ``elem`` gives exactly that value (e.g. ``1 - mask`` of a 0/1 mask)."""
    known = grid.representable(b.ref, FP32) & grid.representable(b.ref, elem)
    return Bounded(b.ref, np.where(known, 0.0, b.err))


def _exact_convert(op: Op) -> bool:
    src, dst = op.operands[0].type.elem if op.operands else None, op.result.type.elem
    return op.name == "convert" and src is not None and src.is_float and holds(dst, src)


def _data_step(op: Op, env: dict, data: Data) -> Bounded | None:
    """The result of ``op`` when it is exactly known data (None otherwise): a float constant
    (its stored data), ``full``/``iota``, or a round-to-nearest convert of an exactly known fp32
    value (the inputs' encoding) or integer."""
    if not op.result.type.elem.is_float:
        return None
    if op.name == "const":
        return exact(data.quantized[op.attrs["name"].name].astype(np.float64))
    if op.name in ("full", "iota"):
        return exact(constant(evaluate_op(op, [], {}), op).astype(np.float64))
    if op.name != "convert" or op.attrs["rounding"] != "rne":
        return None
    a = env[op.operands[0]]
    if np.any(a.err):
        return None
    if a.ref.dtype.kind == "f" and not np.array_equal(
        a.ref.astype(np.float32), a.ref, equal_nan=True
    ):
        return None
    return exact(stored(a.ref, op))


def bound_values(
    graph_module: Module, quantized_module: Module, inputs: Sequence[np.ndarray]
) -> dict[Value, Bounded]:
    """The reference (the exact evaluation of the quantized module on its rounded data, which
    with converts as the identity is the graph's) and the bound of every argument and op result
    of the quantized module's main function."""
    g, q = graph_module.main, quantized_module.main
    if [a.type for a in g.args] != [a.type for a in q.args]:
        raise D1cError(
            f"@{q.name} of the quantized module and @{g.name} of the graph take different inputs"
        )
    if len(inputs) != len(q.args):
        raise D1cError(f"function @{q.name} takes {len(q.args)} inputs, got {len(inputs)}")
    want = reference64(graph_module, inputs)
    same_ops = Module(quantized_module.name, quantized_module.functions, graph_module.consts)
    _check_same_reference(reference64(same_ops, inputs), want)
    env: dict[Value, Bounded] = {}
    for arg, x in zip(q.args, inputs, strict=True):
        env[arg] = exact(as_reference(x, arg.type.elem.is_float))
    data = Data(graph_module.consts, quantized_module.consts)
    for op in q.ops[:-1]:
        env[op.result] = bound_op(op, env, data)
    return env


def bound_op(op: Op, env: dict[Value, Bounded], data: Data) -> Bounded:
    """The reference and bound of ``op``'s result from those of its operands in ``env``: exactly
    known data (constants, ``full``, encoded inputs) exactly, anything else by its rule, then
    rounded to its storage type."""
    known = _data_step(op, env, data)
    return known if known is not None else _step(op, env, data)


def bounded_outputs(
    graph_module: Module,
    quantized_module: Module,
    inputs: Sequence[np.ndarray],
    values: dict[Value, Bounded] | None = None,
) -> list[Bounded]:
    """Reference values and error bounds of every output of the quantized module's main
    function: |quantized output - float64 graph reference| <= bound, elementwise.

    The bound is |f̃ - f| + e: f is the graph's reference, f̃ the exact (float64) evaluation of
    the quantized module on its rounded data (stored constants, encoded inputs: known exactly,
    so their effect is computed, not bounded), and e the propagated bound of everything rounded
    at run time, which starts at zero on that data. ``values``: :func:`bound_values` of the same
    modules and inputs, if already computed."""
    if values is None:
        values = bound_values(graph_module, quantized_module, inputs)
    want = reference64(graph_module, inputs)
    outs = [values[v] for v in quantized_module.main.ret.operands]
    return [Bounded(w, o.err + data_error(o.ref, w)) for o, w in zip(outs, want, strict=True)]


def _check_same_reference(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    same = len(got) == len(want) and all(
        o.shape == w.shape and np.array_equal(o, w, equal_nan=True)
        for o, w in zip(got, want, strict=False)
    )
    if not same:
        raise D1cError(
            "the quantized module does not compute its graph: with converts as the identity "
            "its float64 outputs differ from the graph's",
            hint="compare the two modules' IR; only converts and element types may differ",
        )


def error_bound(
    graph_module: Module, quantized_module: Module, inputs: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """Per output, the elementwise absolute bound on |quantized - float64 graph reference|."""
    return [b.err for b in bounded_outputs(graph_module, quantized_module, inputs)]


def observed_error(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|got - ref| in float64, 0 where both are the same infinity or both NaN."""
    return data_error(np.asarray(got), np.asarray(ref, np.float64))


def check_within_bound(
    graph_module: Module,
    quantized_module: Module,
    inputs: Sequence[np.ndarray],
    outputs: Sequence[np.ndarray] | None = None,
) -> list[ElementCheck]:
    """Per output, the elementwise check (:func:`d1c.accuracy.checks.check_elements`) of
    ``outputs`` (default: the interpreted quantized module; ``d1c verify`` also passes the
    simulator's) against the float64 reference within the derived bound."""
    bounded = bounded_outputs(graph_module, quantized_module, inputs)
    got = interpret(quantized_module, inputs) if outputs is None else list(outputs)
    if len(got) != len(bounded):
        raise D1cError(f"expected {len(bounded)} outputs, got {len(got)}")
    return [check_elements(g, b.ref, b.err) for g, b in zip(got, bounded, strict=True)]
