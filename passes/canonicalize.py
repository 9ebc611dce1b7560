"""``canonicalize``: dead code, common subexpressions, view chains and no-op ops.

Alternates two steps until neither changes anything (at most ``max_iterations`` rounds):

- common-subexpression elimination (CSE): an op with the same name, operands, attributes and
  result types as an earlier op is replaced by it; so two ``const`` ops of one name merge, and two
  ``full`` ops of one value (compared bit for bit, so -0.0 and +0.0 stay apart) and type merge.
  A ``convert`` with stochastic rounding is never merged: its random stream depends on where it
  runs, so two of them are two different roundings.
- the exact local rules of :mod:`d1c.passes.canonical_rules`, then constant folding
  (:func:`d1c.passes.fold_constants.fold_constant`, adding at most ``fold_limit`` elements of constant data per
  folded op; 0 turns it off), driven to a fixpoint by :mod:`d1c.passes.rewrite`, which also
  erases ops whose results are unused.

Finally module constants that no ``const`` op names are dropped.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar

from d1c.ir import Function, Module, Op, Value
from d1c.passes.canonical_rules import RULES
from d1c.passes.fold_constants import fold_constant
from d1c.passes.pass_manager import Context, register_pass
from d1c.passes.rewrite import apply_rules, drop_unused_consts, has_side_effects


@register_pass
@dataclass(frozen=True)
class Canonicalize:
    name: ClassVar[str] = "canonicalize"
    max_iterations: int = 8
    fold_limit: int = 65536

    def apply(self, module: Module, ctx: Context) -> Module:
        rules = list(RULES)
        if self.fold_limit > 0:
            rules.append(("*", functools.partial(fold_constant, limit=self.fold_limit)))
        for _ in range(self.max_iterations):
            merged = [cse_function(f) for f in module.functions]
            rewritten = apply_rules(module, rules)
            if not any(merged) and not rewritten:
                break
        drop_unused_consts(module)
        return module


def _freeze(value: Any) -> Any:
    """A hashable key for an attribute value; floats by their exact bits (hex form)."""
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, tuple | list):
        return ("list", tuple(_freeze(v) for v in value))
    return (type(value).__name__, value)


def _cse_key(op: Op) -> tuple | None:
    if has_side_effects(op) or (op.name == "convert" and op.attrs.get("rounding") == "sr"):
        return None
    attrs = tuple((k, _freeze(v)) for k, v in sorted(op.attrs.items()))
    return (op.name, tuple(op.operands), attrs, tuple(r.type for r in op.results))


def cse_function(func: Function) -> bool:
    """Replace each op equal to an earlier one by that op's results; True if any was merged."""
    seen: dict[tuple, Op] = {}
    renamed: dict[Value, Value] = {}
    kept: list[Op] = []
    for op in func.ops:
        op.operands = [renamed.get(v, v) for v in op.operands]
        key = _cse_key(op)
        first = seen.setdefault(key, op) if key is not None else op
        if first is op:
            kept.append(op)
            continue
        renamed.update(zip(op.results, first.results, strict=True))
    changed = len(kept) != len(func.ops)
    func.ops = kept
    return changed
