"""Constant folding for ``canonicalize``: an op whose operands all come from ``const``, ``full``
or ``iota`` is evaluated at compile time by the reference interpreter (:func:`d1c.interp.interpret`,
whose numerics define graph IR) and replaced by its value: a ``full`` when every element has the
same bits and the value survives the float attribute exactly, a new ``const`` otherwise.

Folding is bounded by size: it never adds more than ``limit`` elements of constant data. An
operand ``const`` that only this op reads disappears with it, so folding ``permute`` of a weight
read nowhere else (a linear layer's transpose) is always allowed, while ``broadcast_to`` of a
weight to a 128x larger tensor is not; contractions over more than :data:`WORK_LIMIT`
multiply-adds are left to run time. Never folded: the sources themselves, ops with side
effects, stochastic-rounding converts (their bits depend on where they run), and ops whose
constant data is elided or that the interpreter cannot evaluate.
"""

from __future__ import annotations

import numpy as np

from d1c.errors import D1cError
from d1c.interp import interpret
from d1c.ir import Builder, Function, Module, Op, Value
from d1c.passes.rewrite import Rewriter, has_side_effects

SOURCES = ("const", "full", "iota")
# Compile-time work is bounded too: at most this many multiply-adds for a contraction.
WORK_LIMIT = 1 << 24


def _foldable(op: Op) -> bool:
    if op.name in SOURCES or has_side_effects(op) or not op.operands:
        return False
    if op.name == "convert" and op.attrs.get("rounding") == "sr":
        return False
    return all(v.owner is not None and v.owner.name in SOURCES for v in op.operands)


def _const_inputs(op: Op, rw: Rewriter) -> dict[str, np.ndarray] | None:
    """The data of the op's ``const`` operands by name, or None if some is elided."""
    out = {}
    for v in op.operands:
        if v.owner.name == "const":
            data = rw.const_data(v)
            if data is None:
                return None
            out[v.owner.attrs["name"].name] = data
    return out


def _work(op: Op) -> int:
    """Multiply-adds of a contraction (matmul, conv2d), else the result size."""
    out = op.result.type
    if op.name == "matmul":
        return out.numel * op.operands[0].type.shape[-1]
    if op.name == "conv2d":
        return out.numel * op.operands[1].type.numel // op.operands[1].type.shape[0]
    return out.numel


def _freed_elements(op: Op, rw: Rewriter) -> int:
    """Elements of constant data that disappear with ``op`` (consts only it reads)."""
    owners = {v.owner for v in op.operands if v.owner.name == "const"}
    return sum(o.result.type.numel for o in owners if rw.users_of(o.result) == [op])


def evaluate(op: Op, consts: dict[str, np.ndarray]) -> np.ndarray | None:
    """Run ``op`` on its source operands in a one-op module; None if the interpreter cannot."""
    f = Function("fold", [], [])
    b = Builder(f)
    copies: dict[Value, Value] = {}
    for v in dict.fromkeys(op.operands):
        p = v.owner
        copies[v] = b.create(p.name, [], dict(p.attrs), result_type=v.type)
    b.ret([b.create(op.name, [copies[v] for v in op.operands], dict(op.attrs), op.result.type)])
    try:
        return interpret(Module("fold", [f], dict(consts)), [])[0]
    except D1cError:
        return None


def _splat_value(array: np.ndarray) -> float | None:
    """The fill value if every element has the same bits and a float attribute holds it exactly."""
    if array.size == 0:
        return 0.0
    flat = array.reshape(-1)
    first = flat[:1]
    if flat.tobytes() != np.repeat(first, flat.size).tobytes():
        return None
    value = float(first[0])
    same = np.array([value]).astype(array.dtype).tobytes() == first.tobytes()
    return value if same else None


def fold_constant(op: Op, rw: Rewriter, *, limit: int) -> Value | None:
    """The rewrite rule (bind ``limit`` with functools.partial); see the module docstring."""
    if not _foldable(op):
        return None
    consts = _const_inputs(op, rw)
    if consts is None or op.result.type.numel > limit + _freed_elements(op, rw):
        return None
    if _work(op) > WORK_LIMIT:
        return None
    value = evaluate(op, consts)
    if value is None:
        return None
    splat = _splat_value(value)
    if splat is not None:
        return rw.create("full", [], {"value": splat}, result_type=op.result.type)
    hint = next(iter(consts), "folded") + f".{op.name}"
    data = np.ascontiguousarray(value, dtype=op.result.type.elem.host_dtype)
    return rw.add_const(hint, data, op.result.type)
