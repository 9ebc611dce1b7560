"""Local checks: every op of an interpreted quantized module against its own operands.

    violation = first_violation(quantized_module, trace, graph_module.consts)  # None: all right

A ``const``'s stored data must be the graph's data rounded to nearest (saturated: docs/lowering.md
§1) on its type's grid. For each op, in program order, with its operands taken as they were computed (the ``trace`` of
:func:`d1c.interp.interpret`), the result must

1. be a value of its element type (:func:`d1c.accuracy.grid.representable`: a dropped or wrong
   conversion leaves values off the format's grid);
2. for a correctly rounded op (add, sub, mul, div, sqrt, a round-to-nearest float convert):
   equal, bit for bit, numpy's IEEE fp32 result rounded to nearest on the format's grid
   (:func:`d1c.accuracy.grid.round_nearest`) — a double rounding, ties rounded the wrong way or a
   wrong bias shows on any element it changes;
3. for any other op: lie within the op's *local* bound of the exact (float64) op on those
   operands: the rule of :mod:`d1c.accuracy.bound_rules` for its fp32 evaluation, with operands
   known exactly, plus the rounding to its storage type (half the grid step at the value to
   nearest, the whole step stochastically). Exact ops (layout, selections, ``full``) must match
   exactly. The bound is what any correct evaluation may do, so an accumulation in a narrower
   format or a wrong fpmath sequence moves results outside it;
4. for a ``convert`` with ``rounding = "sr"``: not round every inexact element to the nearer
   neighbour, which stochastic rounding does with a probability the check computes
   (Π (1 - d_i / step_i), d_i the distance to the nearer neighbour); below 2^-40 it is a
   violation (round-to-nearest in place of stochastic rounding).

The grid and the bounds are derived from the formats' field widths, independently of the
rounding code of :mod:`d1c.isa.numerics` that the interpreter and the simulator share: this is
the rung that checks that code on real workloads (DESIGN §5, rung 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from d1c.accuracy import grid
from d1c.accuracy.bound_arith import exact
from d1c.accuracy.bound_rules import Data, data_error
from d1c.accuracy.bounds import bound_op
from d1c.accuracy.ref64 import as_reference
from d1c.errors import AccuracyError
from d1c.ir import FP32, Function, Module, Op, Value
from d1c.ir.printer import op_text

F64 = np.float64
SR_LOG2_LIMIT = -40.0  # log2 of the probability below which "never rounded away" is a fault
# Ops the interpreter computes correctly rounded in fp32 (d1c.interp): checked bit for bit.
FP32_ORACLE = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "sqrt": np.sqrt,
    "convert": lambda x: x,
}


@dataclass(frozen=True, slots=True)
class LocalViolation:
    """The first op whose result breaks a local check, at its first bad element."""

    func: Function
    op: Op
    why: str  # what is wrong, in words
    count: int  # bad elements
    index: tuple[int, ...]

    def error(self, what: str) -> AccuracyError:
        return AccuracyError(
            f"{what}: `{op_text(self.func, self.op)}` {self.why} ({self.count} element(s))",
            self.op.where(),
            hint="the quantized semantics (d1c.interp, d1c.isa.numerics) disagree with the "
            "formats' definition (docs/isa.md)",
        )


@dataclass
class LocalChecks:
    """The local checks of one trace: the first violation (None: none), and per checked value
    the exact op on its traced operands (float64) and the bound ℓ on how far any correct
    evaluation may be from it (what :mod:`d1c.accuracy.adjoint` propagates)."""

    violation: LocalViolation | None = None
    exact: dict[Value, np.ndarray] = field(default_factory=dict)
    bounds: dict[Value, np.ndarray] = field(default_factory=dict)


def check_locally(
    module: Module,
    trace: dict[Value, np.ndarray],
    graph_consts: dict[str, np.ndarray] | None = None,
) -> LocalChecks:
    """Every op of ``module``'s main function on ``trace``, in order, up to the first violation;
    with ``graph_consts`` (the graph's constant data by name), each ``const``'s stored data must
    also be its graph data rounded to nearest (saturated) on its type's grid."""
    func, data, out = module.main, Data(module.consts, module.consts), LocalChecks()
    for op in func.ops[:-1]:
        if op.result not in trace:
            break  # the interpreter stopped here
        why = _check_const(op, trace, graph_consts) if op.name == "const" else None
        why = why or _check_op(op, trace, data, out)
        if why is not None:
            out.violation = LocalViolation(func, op, *why)
            break
    return out


def first_violation(
    module: Module,
    trace: dict[Value, np.ndarray],
    graph_consts: dict[str, np.ndarray] | None = None,
) -> LocalViolation | None:
    """The first op that breaks a local check (:func:`check_locally`)."""
    return check_locally(module, trace, graph_consts).violation


def _check_op(op: Op, trace: dict, data: Data, out: LocalChecks) -> tuple | None:
    got, elem = np.asarray(trace[op.result]), op.result.type.elem
    if elem.is_float and elem != FP32:
        off = ~grid.representable(got, elem)
        if off.any():
            return _at(f"gives values that are not {elem} values, e.g. {_first(got, off)!r}", off)
    want = _exactly(op, trace)
    if want is not None:
        bad = _differ(got, want)
        if bad.any():
            i = _first_index(bad)
            why = (
                f"gives {float(got[i])!r} at {list(i)} where fp32 arithmetic rounded to "
                f"nearest {elem} gives {float(want[i])!r}"
            )
            return why, int(bad.sum()), i
    env = {v: exact(as_reference(trace[v], v.type.elem.is_float)) for v in op.operands}
    b = bound_op(op, env, data)
    ref = np.asarray(b.ref, F64) if elem.is_float else b.ref
    bound = np.broadcast_to(b.err, np.shape(got))
    out.exact[op.result], out.bounds[op.result] = ref, bound
    err = data_error(got, ref)
    bad = err > bound
    if bad.any() and want is None:
        i = _first_index(bad)
        why = (
            f"gives {float(got[i])!r} at {list(i)}: {float(err[i]):.3g} from the exact result "
            f"on its own operands ({float(ref[i])!r}), beyond its rounding bound "
            f"{float(bound[i]):.3g}"
        )
        return why, int(bad.sum()), i
    if op.name == "convert" and op.attrs.get("rounding") == "sr" and elem.is_float:
        return _never_rounded_away(op, trace, elem)
    return None


def _differ(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Elementwise: different values or signs, NaN equal to NaN."""
    g, w = np.asarray(got, F64), np.asarray(want, F64)
    nan = np.isnan(g) & np.isnan(w)
    return ~nan & ((g != w) | (np.signbit(g) != np.signbit(w)))


def _check_const(op: Op, trace: dict, graph: dict | None) -> tuple | None:
    elem, name = op.result.type.elem, op.attrs["name"].name
    if graph is None or name not in graph or not elem.is_float or elem == FP32:
        return None
    want = grid.round_nearest(np.asarray(graph[name], np.float32).astype(F64), elem, saturate=True)
    got = np.asarray(trace[op.result], F64)
    bad = _differ(got, want)
    if not bad.any():
        return None
    i = _first_index(bad)
    why = (
        f"holds {got[i]!r} at {list(i)} where the graph's {float(graph[name][i])!r} rounded to "
        f"nearest {elem} is {want[i]!r}"
    )
    return why, int(bad.sum()), i


def _exactly(op: Op, trace: dict) -> np.ndarray | None:
    """The result of a correctly rounded op on float operands, computed independently of the
    interpreter's rounding: numpy's IEEE fp32 arithmetic, then :func:`grid.round_nearest` to the
    storage type (None for other ops)."""
    fn = FP32_ORACLE.get(op.name)
    if fn is None or not all(v.type.elem.is_float for v in [*op.operands, op.result]):
        return None
    if op.name == "convert" and op.attrs["rounding"] != "rne":
        return None
    with np.errstate(all="ignore"):
        z = np.asarray(fn(*(np.asarray(trace[v], np.float32) for v in op.operands)), np.float32)
    elem = op.result.type.elem
    return z if elem == FP32 else grid.round_nearest(z.astype(F64), elem).astype(np.float32)


def _never_rounded_away(op: Op, trace: dict, elem) -> tuple[str, int, tuple[int, ...]] | None:
    """Stochastic rounding that rounded every inexact element to nearest (module docstring)."""
    z = np.abs(np.asarray(trace[op.operands[0]], F64))
    got = np.abs(np.asarray(trace[op.result], F64))
    inside = np.isfinite(z) & (z <= grid.round_nearest(np.asarray(np.inf), elem, saturate=True))
    step = grid.spacing(np.where(inside, z, 0.0), elem)
    low = np.floor(z / step) * step
    near = np.minimum(z - low, low + step - z)
    inexact = inside & (near > 0)
    if not inexact.any() or np.any(np.abs(got - z)[inexact] > near[inexact]):
        return None  # nothing to round, or some element was rounded away from nearest
    log2p = float(np.sum(np.log2(1.0 - near[inexact] / step[inexact])))
    if log2p >= SR_LOG2_LIMIT:
        return None
    why = (
        f"rounds every inexact element to nearest, which stochastic rounding does with "
        f"probability 2^{math.floor(log2p)}"
    )
    return why, int(inexact.sum()), _first_index(inexact)


def _first_index(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(k) for k in np.unravel_index(int(np.argmax(mask)), mask.shape))


def _first(values: np.ndarray, mask: np.ndarray) -> float:
    return float(values[_first_index(mask)])


def _at(why: str, mask: np.ndarray) -> tuple[str, int, tuple[int, ...]]:
    return why, int(mask.sum()), _first_index(mask)
