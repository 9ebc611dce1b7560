"""A posteriori error bounds along a verified trace: the network's actual sensitivities applied
to the local rounding bounds (DESIGN §5 rung 2; issue 12).

    bounds = adjoint_bound(module, trace, refs, local)   # per output, or None

Inputs: the quantized module's trace ``t`` (every value as interpreted), the reference ``y`` of
every value (the exact evaluation on the rounded data, f̃ of :mod:`d1c.accuracy.bounds`), and
the local checks of the trace (:mod:`d1c.accuracy.local`: per op, the bound ℓ on how far any
correct evaluation may be from the exact op on its own traced operands — verified on the trace).
With Δ = t - y, every op satisfies exactly

    Δ_j = A_j Δ_operands + r_j + δ_j,   δ_j = t_j - op_j(t_operands),   |δ_j| <= ℓ_j

where A_j is the linear map of its rule (:mod:`d1c.accuracy.adjoint_rules`: exact secants where
there are, the Jacobian at the reference for softmax, log_softmax and layer_norm, the trace's
choice for selections) and r_j = op_j(t_operands) - y_j - A_j Δ_operands is computed from the
numbers. Values that are exactly known data (zero forward bound: constants, encoded inputs) are
roots: their Δ is computed, not propagated. Unrolled, Δ_out = Σ_j G_j (r_j + δ_j) with G_j the
product of the A's along the paths from j to the output, so elementwise

    |Δ_out| <= Σ_j |G_j| (ℓ_j + |r_j| + s_j),   s_j = 2^-40 (|t_j| + |y_j|) where Δ_j != 0
                                                 (a float64 slack)

G_j comes from one backward pass per output element (batched in chunks). This is the worst case
over the local rounding errors with the actual sensitivities of this network on these inputs: it
keeps the cancellations of W₂W₁ that forward propagation of per-element bounds gives up
(|W₂||W₁|), so its ratio to the observed error does not grow with depth. When a pass per output
element would cost too much (beyond :data:`PASSES` passes, more than :data:`WORK` multiply-adds
together), or an op has no rule, or a deviation is not finite, there is no adjoint bound (None)
and the forward bound stands alone (:func:`tight_outputs` takes the smaller of the two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from d1c.accuracy import adjoint_nn  # noqa: F401 - registers the network ops' rules
from d1c.accuracy.adjoint_rules import LINEAR, Lin
from d1c.accuracy.bound_arith import Bounded
from d1c.accuracy.bound_rules import data_error
from d1c.accuracy.bounds import bounded_outputs
from d1c.accuracy.local import LocalChecks
from d1c.ir import Function, Module, Op, Value

F64 = np.float64
WORK = 1e10  # multiply-adds of all backward passes together, beyond PASSES passes
PASSES = 64  # backward passes always allowed (one per output element)
CHUNK = 64  # output elements per batch of backward passes
SLACK = 2.0**-40


@dataclass
class _Plan:
    """What the backward passes need: per live op its linear map and its source weight."""

    lins: dict[Op, Lin]
    weights: dict[Value, np.ndarray]  # ℓ + |r| + slack of each live value (roots: |Δ|)
    live: set[Value]


def adjoint_bound(
    module: Module,
    trace: dict[Value, np.ndarray],
    values: dict[Value, Bounded],
    local: LocalChecks,
    work: float | None = None,
) -> list[np.ndarray] | None:
    """Per output of ``module``'s main function, the elementwise bound on |t - y| (module
    docstring); ``values`` holds the forward bound of every value (its ``ref`` is y). The
    backward passes may cost ``work`` multiply-adds (default: any :data:`PASSES` passes, or
    more passes costing at most :data:`WORK`)."""
    func = module.main
    if local.violation is not None or not all(v in trace for v in func.ret.operands):
        return None
    passes = sum(v.type.numel for v in func.ret.operands)
    allowed = work if work is not None else (math.inf if passes <= PASSES else WORK)
    if passes * _work(func) > allowed:
        return None
    plan = _plan(func, trace, values, local)
    if plan is None:
        return None
    return [_bound_output(func, plan, v) for v in func.ret.operands]


def tight_outputs(
    graph: Module,
    module: Module,
    inputs: list[np.ndarray],
    trace: dict[Value, np.ndarray],
    values: dict[Value, Bounded],
    local: LocalChecks,
    work: float | None = None,
) -> tuple[list[Bounded], bool]:
    """Per output, the graph's float64 reference and the smaller of the forward bound and the
    adjoint bound (plus the exactly computed effect of the rounded data, |f̃ - f|) on
    |output - reference|; and whether the adjoint bound was computed."""
    forward = bounded_outputs(graph, module, inputs, values)
    adj = adjoint_bound(module, trace, values, local, work)
    if adj is None:
        return forward, False
    out = []
    for v, f, a in zip(module.main.ret.operands, forward, adj, strict=True):
        total = a + data_error(values[v].ref, f.ref)
        out.append(Bounded(f.ref, np.minimum(f.err, total)))
    return out, True


def _work(func: Function) -> float:
    """Multiply-adds of one backward pass, roughly: each result's size, times the contraction
    length of matrix products and convolutions."""
    total = 0.0
    for op in func.ops[:-1]:
        k = 1
        if op.name == "matmul":
            k = op.operands[0].type.shape[-1]
        elif op.name == "conv2d":
            k = math.prod(op.operands[1].type.shape[1:])
        total += op.result.type.numel * k
    return total


def _delta(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """t - y, 0 where both are the same infinity (NaN where they differ otherwise)."""
    t, y = np.asarray(t, F64), np.asarray(y, F64)
    with np.errstate(invalid="ignore"):
        return np.where(t == y, 0.0, t - y)


def _plan(func: Function, trace: dict, values: dict, local: LocalChecks) -> _Plan | None:
    lins, weights, live, deltas = {}, {}, set(), {}
    for op in func.ops[:-1]:
        v = op.result
        if not v.type.elem.is_float:
            continue
        y = np.asarray(values[v].ref, F64)
        deltas[v] = _delta(trace[v], y)
        if not np.all(np.isfinite(deltas[v])):
            return None
        if not np.any(values[v].err):  # exactly known data: a root
            if np.any(deltas[v]):
                live.add(v)
                weights[v] = np.abs(deltas[v])
            continue
        operands_exact = not any(u in live for u in op.operands)
        rule = LINEAR.get(op.name)
        if rule is None or v not in local.bounds:
            return None
        fixed = [u not in live for u in op.operands]
        lin = rule(
            op, _floats(op, trace), _floats(op, {u: values[u].ref for u in op.operands}), fixed
        )
        if lin is None:
            return None
        ds = [deltas.get(u, np.zeros(u.type.shape)) for u in op.operands]
        with np.errstate(all="ignore"):
            rem = _delta(local.exact[v], y) - (0.0 if operands_exact else lin.jvp(ds))
            scale = np.where(deltas[v] == 0, 0.0, np.abs(trace[v]) + np.abs(y))
            w = local.bounds[v] + np.abs(rem) + SLACK * scale
        if not np.all(np.isfinite(w)):
            return None
        lins[op], weights[v] = lin, np.broadcast_to(w, v.type.shape)
        live.add(v)
    return _Plan(lins, weights, live)


def _floats(op: Op, arrays: dict) -> list[np.ndarray]:
    """The operands' arrays, floats as float64."""
    return [np.asarray(arrays[u], F64) if u.type.elem.is_float else arrays[u] for u in op.operands]


def _bound_output(func: Function, plan: _Plan, out: Value) -> np.ndarray:
    n = out.type.numel
    bound = np.zeros(n)
    for start in range(0, n, CHUNK):
        rows = np.arange(start, min(start + CHUNK, n))
        seed = np.zeros((len(rows), n))
        seed[np.arange(len(rows)), rows] = 1.0
        bound[rows] = _backward(func, plan, out, seed.reshape(len(rows), *out.type.shape))
    return bound.reshape(out.type.shape)


def _backward(func: Function, plan: _Plan, out: Value, seed: np.ndarray) -> np.ndarray:
    """Σ_j |G_j| w_j for each cotangent of the batch ``seed``."""
    cot: dict[Value, np.ndarray] = {out: seed}
    total = np.zeros(seed.shape[0])
    for op in reversed(func.ops[:-1]):
        g = cot.pop(op.result, None)
        if g is None or op.result not in plan.live:
            continue
        w = plan.weights[op.result]
        total += np.abs(g).reshape(g.shape[0], -1) @ w.reshape(-1)
        lin = plan.lins.get(op)
        if lin is None:
            continue  # a root
        for u, gu in zip(op.operands, lin.vjp(g), strict=True):
            if gu is not None and u in plan.live:
                cot[u] = cot[u] + gu if u in cot else gu
    return total
