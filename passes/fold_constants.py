"""Constant folding: one rewrite rule, :func:`fold_constant`, used by ``canonicalize`` (bounded
by its ``fold_limit``), by the ``fold-constants`` pass and at the end of ``decompose``
(docs/lowering.md §2).

A value is *constant* when it is the result of a source op — ``const`` (with its data), ``full``
or ``iota`` — or of a *view* of a constant: ``broadcast_to`` of a constant, or ``reshape`` of such
a broadcast; and any value with no elements is constant (an argument too: there is nothing to
know), so an op with an empty result becomes an empty ``full`` and a ``[0, 5] @ [5, 10]``
matmul, or the sum or variance of an empty tensor, folds instead of reaching the device. An op all of whose operands are constant is evaluated at compile time by the
reference interpreter (:func:`d1c.interp.interpret` on a one-op module, whose numerics define the
IR), so folding never changes what the interpreter computes, and replaced by its value: a
``full`` when every element has the same bits and a float attribute holds the value exactly, else
a new module constant named after the op's first constant operand (``w.permute``; ``fold.le``
without one; made unique).
The folded op's location is kept. Chains fold one op at a time (the driver revisits users), so a
causal mask built from ``iota``/compare/``where`` becomes one ``const``, and so does the
transpose of a weight.

Pure layout changes of constants (:data:`LAYOUT_OPS`: ``permute``, ``reshape``, ``slice``,
``concat``; no arithmetic) fold whatever their size: folding one costs a host copy, and the copy
replaces the constants only it reads, so it adds no data and ``limit`` does not stop it. A weight
is thus stored in the layout its kernel reads: ``nn.Linear(8192, 8192)``'s weight transpose (67 M
elements) never runs on the device (docs/lowering.md §2). Only a layout change of a constant that
stays alive (read elsewhere too) counts against ``limit``, as it doubles that data.

What is not folded, and why:

- the sources themselves; and views whose data would add more than :data:`VIEW_LIMIT` elements
  (whatever ``limit`` is): a big broadcast costs nothing as a view (a DMA stride of 0) but HBM
  bytes as data, while a small one is cheaper folded than read through a view kernel. A constant
  op reading a view is folded as usual (the view is evaluated on demand);
- an op whose result would add more than ``limit`` elements of constant data, counting as freed
  the ``const`` operands that only this op reads (so folding the permute of a weight read nowhere
  else is always allowed); contractions of more than :data:`WORK_LIMIT` multiply-adds, and other
  computing ops (not layout changes) with results over :data:`WORK_LIMIT` elements;
- stochastic-rounding converts (their bits depend on where they run), ops with side effects, ops
  whose constant data is elided, and ops the interpreter refuses (e.g. an out-of-range index).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from d1c.errors import D1cError
from d1c.interp import interpret
from d1c.ir import OPS, Builder, Function, Module, Op, TypeRuleError, Value
from d1c.passes.pass_manager import Context, register_pass
from d1c.passes.rewrite import Rewriter, apply_rules, drop_unused_consts, has_side_effects

MAX_ELEMENTS = 1 << 24  # fold-constants' bound: 16 M elements, 64 MB of fp32 data
VIEW_LIMIT = 1 << 16  # views folded into data only up to this many new elements
WORK_LIMIT = 1 << 24  # compile-time work bound: multiply-adds of one contraction
SOURCES = ("const", "full", "iota")
LAYOUT_OPS = frozenset(("permute", "reshape", "slice", "concat"))  # no WORK_LIMIT: copies


@register_pass
@dataclass(frozen=True)
class FoldConstants:
    name: ClassVar[str] = "fold-constants"
    max_elements: int = MAX_ELEMENTS

    def apply(self, module: Module, ctx: Context) -> Module:
        return fold_module(module, self.max_elements)


def fold_module(module: Module, limit: int = MAX_ELEMENTS) -> Module:
    """Fold every function of ``module`` in place with :func:`fold_constant` (which also erases
    dead ops, the rewrite driver's rule), drop unread module constants, and return it."""
    apply_rules(module, [("*", functools.partial(fold_constant, limit=limit))])
    drop_unused_consts(module)
    return module


def fold_constant(op: Op, rw: Rewriter, *, limit: int) -> Value | None:
    """The rewrite rule (bind ``limit`` with functools.partial); see the module docstring."""
    if _empty(op.result) and op.name != "full" and not has_side_effects(op):
        return rw.create("full", [], {"value": 0.0}, result_type=op.result.type)
    if not _foldable(op, rw):
        return None
    if _too_big(op, rw, limit):
        return None
    operands = [_value(v, rw) for v in op.operands]
    if any(a is None for a in operands):
        return None
    value = evaluate_op(op, operands)
    if value is None:
        return None
    splat = splat_value(value)
    if splat is not None:
        return rw.create("full", [], {"value": splat}, result_type=op.result.type)
    data = np.ascontiguousarray(value, dtype=op.result.type.elem.host_dtype)
    return rw.add_const(f"{_root(op)}.{op.name}", data, op.result.type)


def _too_big(op: Op, rw: Rewriter, limit: int) -> bool:
    """Whether folding ``op`` would add more constant data than allowed or, unless it is a pure
    layout change (a copy, linear in its size), compute too long."""
    bound = min(limit, VIEW_LIMIT) if _is_view(op, rw) else limit
    if op.result.type.numel > bound + _freed_elements(op, rw):
        return True
    return op.name not in LAYOUT_OPS and _work(op) > WORK_LIMIT


def _root(op: Op) -> str:
    """The name a folded constant is derived from: its first ``const`` operand's name without the
    suffixes earlier folds added (``w.permute.1`` -> ``w``), or ``fold`` when it has none."""
    name = next(
        (
            v.owner.attrs["name"].name
            for v in op.operands
            if v.owner is not None and v.owner.name == "const"
        ),
        None,
    )
    parts = (name or "fold").split(".")
    while len(parts) > 1 and (parts[-1].isdigit() or parts[-1] in OPS):
        parts.pop()
    return ".".join(parts)


def is_constant(v: Value, rw: Rewriter) -> bool:
    """Whether ``v`` is a source's result, a view of a constant or empty (module docstring)."""
    op = v.owner
    if _empty(v):
        return True
    if op is None:
        return False
    if op.name == "const":
        return rw.const_data(v) is not None
    return op.name in SOURCES[1:] or _is_view(op, rw)


def _is_view(op: Op, rw: Rewriter) -> bool:
    if op.name == "broadcast_to":
        return is_constant(op.operands[0], rw)
    return (
        op.name == "reshape"
        and op.operands[0].owner is not None
        and (op.operands[0].owner.name == "broadcast_to" and _is_view(op.operands[0].owner, rw))
    )


def _foldable(op: Op, rw: Rewriter) -> bool:
    if op.name in SOURCES or not op.operands or has_side_effects(op) or len(op.results) != 1:
        return False
    if op.name == "convert" and op.attrs.get("rounding") == "sr":
        return False
    return all(is_constant(v, rw) for v in op.operands)


def _value(v: Value, rw: Rewriter) -> np.ndarray | None:
    """The data of a constant value: a const's array, or a source or view evaluated."""
    op = v.owner
    if _empty(v):
        return np.zeros(v.type.shape, v.type.elem.host_dtype)
    if op.name == "const":
        return rw.const_data(v)
    operands = [_value(u, rw) for u in op.operands]
    return None if any(a is None for a in operands) else evaluate_op(op, operands)


def _empty(v: Value) -> bool:
    """A tensor with no elements: its value is known (there is nothing to compute)."""
    return v.type.numel == 0


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
    owners = {v.owner for v in op.operands if v.owner is not None and v.owner.name == "const"}
    return sum(o.result.type.numel for o in owners if rw.users_of(o.result) == [op])


def evaluate_op(op: Op, operands: list[np.ndarray]) -> np.ndarray | None:
    """``op`` run by the interpreter on ``operands`` in a one-op module; None if it refuses."""
    args = [Value(v.type, name=f"a{i}") for i, v in enumerate(op.operands)]
    f = Function("fold", args, [])
    b = Builder(f, op.loc)
    try:
        b.ret([b.create(op.name, args, dict(op.attrs), op.result.type)])
        return interpret(Module("fold", [f]), operands)[0]
    except (D1cError, TypeRuleError):
        return None


def splat_value(array: np.ndarray) -> float | None:
    """The ``full`` value of ``array`` if all its elements have the same bits and a float
    attribute holds that value exactly (0.0 for an empty array), else None."""
    flat = array.reshape(-1)
    if flat.size == 0:
        return 0.0
    bits = np.ascontiguousarray(flat).view(np.uint8).reshape(flat.size, -1)
    if not np.array_equal(bits[:64], np.broadcast_to(bits[0], bits[:64].shape)):
        return None  # most data differs early: no pass over a big weight
    if not np.array_equal(bits, np.broadcast_to(bits[0], bits.shape)):
        return None
    value = float(flat[0])
    same = np.array([value]).astype(array.dtype).tobytes() == flat[:1].tobytes()
    return value if same else None
