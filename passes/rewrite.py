"""A generic worklist driver for local rewrite rules.

A rule is a pair ``(pattern, function)``: ``pattern`` is an op name, a tuple of names or ``"*"``;
``function(op, rewriter)`` returns ``None`` when it does not match (having created nothing), or
the value(s) that replace the op's results. New ops are created with :meth:`Rewriter.create`,
which inserts them just before the op being rewritten (its operands are defined there and its
users come after, so SSA order holds without moving anything).

The driver visits every op in program order, then re-visits the users of replaced values, the ops
created by a rule and the producers of erased ops, until nothing changes. Ops whose results are
unused are erased (dead-code elimination) unless they have side effects (:data:`SIDE_EFFECT_OPS`).
Every container is ordered, so the result is deterministic. The function's op list is rebuilt
once at the end, so a rewrite costs time proportional to the ops it touches, not to the function.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from d1c.errors import CompileError, Loc
from d1c.ir import Function, Module, Op, Sym, TensorType, Value, infer_result_type

RuleFn = Callable[[Op, "Rewriter"], Value | Sequence[Value] | None]
Rule = tuple[str | tuple[str, ...], RuleFn]

# Ops that must never be erased or merged even when their results are unused or identical (none at
# graph level; lower levels add DMA, send/receive and similar ops here).
SIDE_EFFECT_OPS: set[str] = set()


def has_side_effects(op: Op) -> bool:
    return op.name == "return" or op.name in SIDE_EFFECT_OPS


@dataclass(eq=False)
class Rewriter:
    """Mutable view of one function during rewriting: use lists, pending insertions, erasures."""

    module: Module
    func: Function
    users: dict[Value, dict[Op, None]] = field(default_factory=dict)
    before: dict[Op, list[Op]] = field(default_factory=dict)
    erased: set[Op] = field(default_factory=set)
    current: Op | None = None
    touched: list[Op] = field(default_factory=list)  # ops the driver must (re)visit

    def __post_init__(self) -> None:
        for v in self.func.args:
            self.users[v] = {}
        for op in self.func.ops:
            self._register(op)

    def _register(self, op: Op) -> None:
        for r in op.results:
            self.users.setdefault(r, {})
        for v in op.operands:
            self.users.setdefault(v, {})[op] = None

    # -- queries ------------------------------------------------------------------------------
    def users_of(self, value: Value) -> list[Op]:
        """The ops that read ``value`` (each once), in the order they started using it."""
        return list(self.users.get(value, {}))

    def is_dead(self, op: Op) -> bool:
        return not has_side_effects(op) and not any(self.users.get(r) for r in op.results)

    def const_data(self, value: Value) -> np.ndarray | None:
        """The array of a ``const`` op's result, or None (not a const, or data elided)."""
        op = value.owner
        if op is None or op.name != "const":
            return None
        return self.module.consts.get(op.attrs["name"].name)

    # -- edits --------------------------------------------------------------------------------
    def create(
        self,
        name: str,
        operands: Sequence[Value] = (),
        attrs: dict[str, Any] | None = None,
        result_type: TensorType | None = None,
        loc: Loc | None = None,
    ) -> Value:
        """Create an op before the op being rewritten; the type is inferred as in ``Builder``.

        ``loc`` defaults to the location of the op being rewritten.
        """
        attrs = dict(attrs or {})
        rtype = infer_result_type(name, [v.type for v in operands], attrs, result_type)
        default_loc = self.current.loc if self.current is not None else None
        op = Op(name, list(operands), [], attrs, loc or default_loc)
        op.results = [Value(rtype, owner=op)]
        self.insert(op)
        return op.result

    def insert(self, op: Op) -> None:
        """Insert a ready-made op before the op being rewritten."""
        if self.current is None:
            raise ValueError("Rewriter.insert needs a current op to insert before")
        self.before.setdefault(self.current, []).append(op)
        self._register(op)
        self.touched.append(op)

    def add_const(
        self, hint: str, array: np.ndarray, ty: TensorType, loc: Loc | None = None
    ) -> Value:
        """Store ``array`` as a new module constant (name ``hint``, made unique) and create its op."""
        name, n = hint, 0
        while name in self.module.consts:
            n += 1
            name = f"{hint}.{n}"
        self.module.consts[name] = array
        return self.create("const", [], {"name": Sym(name)}, result_type=ty, loc=loc)

    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Make every reader of ``old`` read ``new`` instead; the readers are re-visited."""
        if old is new:
            return
        for op in self.users.pop(old, {}):
            op.operands = [new if v is old else v for v in op.operands]
            self.users.setdefault(new, {})[op] = None
            self.touched.append(op)
        self.users[old] = {}

    def erase(self, op: Op) -> None:
        """Remove ``op`` (its results must be unused); its producers are re-visited."""
        if any(self.users.get(r) for r in op.results):
            raise ValueError(f"cannot erase '{op.name}': its result is still used")
        self.erased.add(op)
        for v in op.operands:
            self.users.get(v, {}).pop(op, None)
            if v.owner is not None:
                self.touched.append(v.owner)

    def materialize(self) -> None:
        """Rebuild the function's op list: inserted ops before their anchors, erased ops gone."""
        out: list[Op] = []
        stack, expanded = list(reversed(self.func.ops)), set()
        while stack:
            op = stack.pop()
            if op in self.before and op not in expanded:
                expanded.add(op)
                stack.append(op)
                stack.extend(reversed(self.before[op]))
            elif op not in self.erased:
                out.append(op)
        self.func.ops = out
        self.before.clear()


# ---------------------------------------------------------------------------------------------
# The driver


def index_rules(rules: Sequence[Rule]) -> Callable[[str], list[RuleFn]]:
    """Rules applicable to an op name, in the order given (``"*"`` rules apply to every op)."""
    cache: dict[str, list[RuleFn]] = {}

    def matches(pattern: str | tuple[str, ...], name: str) -> bool:
        return pattern in ("*", name) or (isinstance(pattern, tuple) and name in pattern)

    def lookup(name: str) -> list[RuleFn]:
        if name not in cache:
            cache[name] = [fn for pattern, fn in rules if matches(pattern, name)]
        return cache[name]

    return lookup


def apply_rules(
    module: Module, rules: Sequence[Rule], *, dce: bool = True, max_rewrites: int | None = None
) -> bool:
    """Rewrite every function of ``module`` to a fixpoint of ``rules``; True if anything changed."""
    lookup = index_rules(rules)
    changed = False
    for func in module.functions:
        changed |= rewrite_function(module, func, lookup, dce=dce, max_rewrites=max_rewrites)
    return changed


def rewrite_function(
    module: Module,
    func: Function,
    lookup: Callable[[str], list[RuleFn]],
    *,
    dce: bool = True,
    max_rewrites: int | None = None,
) -> bool:
    rw = Rewriter(module, func)
    work = _Worklist(op for op in func.ops if op.name != "return")
    budget = max_rewrites if max_rewrites is not None else 50 * len(func.ops) + 1000
    changes = 0
    while work:
        op = work.pop()
        if op in rw.erased or op.name == "return":
            continue
        if dce and rw.is_dead(op):
            rw.erase(op)
        elif not _try_rules(op, rw, lookup(op.name)):
            continue
        changes += 1
        if changes > budget:
            raise CompileError(
                f"rewrite rules did not reach a fixpoint in @{func.name} after {budget} rewrites "
                f"(last at '{op.name}'); two rules probably undo each other"
            )
        work.extend(rw.touched)
        rw.touched.clear()
    rw.materialize()
    return changes > 0


def _try_rules(op: Op, rw: Rewriter, fns: list[RuleFn]) -> bool:
    for fn in fns:
        rw.current = op
        out = fn(op, rw)
        if out is None:
            if rw.touched:
                raise CompileError(f"rule {_rule_name(fn)} created ops but returned None")
            continue
        new = [out] if isinstance(out, Value) else list(out)
        _check_replacement(op, new, fn)
        for old, value in zip(op.results, new, strict=True):
            rw.replace_all_uses(old, value)
        rw.erase(op)
        rw.current = None
        return True
    rw.current = None
    return False


def _rule_name(fn: RuleFn) -> str:
    return getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", repr(fn))


def _check_replacement(op: Op, new: list[Value], fn: RuleFn) -> None:
    rule = _rule_name(fn)
    if len(new) != len(op.results):
        raise CompileError(f"rule {rule} replaced {len(op.results)} result(s) with {len(new)}")
    for old, value in zip(op.results, new, strict=True):
        if value is old:
            raise CompileError(f"rule {rule} replaced '{op.name}' by itself; return None instead")
        if value.type != old.type:
            raise CompileError(
                f"rule {rule} replaced a {old.type} result of '{op.name}' with a {value.type}"
            )


class _Worklist:
    """A FIFO of ops without duplicates."""

    def __init__(self, ops: Any) -> None:
        self.queue: deque[Op] = deque()
        self.members: set[Op] = set()
        self.extend(ops)

    def __bool__(self) -> bool:
        return bool(self.queue)

    def extend(self, ops: Any) -> None:
        for op in ops:
            if op not in self.members:
                self.members.add(op)
                self.queue.append(op)

    def pop(self) -> Op:
        op = self.queue.popleft()
        self.members.discard(op)
        return op


def drop_unused_consts(module: Module) -> bool:
    """Remove module constants that no ``const`` op names; True if any was removed."""
    used = {op.attrs["name"].name for op in module.ops() if op.name == "const"}
    unused = [k for k in module.consts if k not in used]
    for k in unused:
        del module.consts[k]
    return bool(unused)
