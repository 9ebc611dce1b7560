"""``fold-constants``: evaluate every op whose operands are all constants (docs/lowering.md §2).

An op is *constant* when all its operands are: ``const`` ops (with data), ``full``, ``iota``, and
the results of constant ops; and any value with no elements (a zero-size argument or result) is
constant, so a ``[0, 5] @ [5, 10]`` matmul becomes an empty ``full`` and the sum or variance of an
empty tensor a ``full`` of 0 or NaN. Each constant op is evaluated at compile time by the reference
interpreter (:func:`d1c.interp.interpret` on a one-op module), so folding never changes what the
interpreter computes: the folded module gives bit-identical outputs. A causal mask built from
``iota``/compare/``where`` becomes one ``const``; so does the transpose of a weight.

What stays, and why:

- ``const`` and ``full`` ops are primitives and stay as they are: ``full`` (any shape) is a
  ``vfill`` or a scalar operand on the device and needs no HBM data.
- ``broadcast_to`` of a constant, and ``reshape`` of such a broadcast (the *views*), are not
  folded into repeated data: when a non-constant op reads one, the view ops stay and the value
  under them is materialized instead (repeats cost HBM bytes; a broadcast view costs nothing).
  Constant ops that read a view are folded as usual.
- A constant op whose result has more than ``max_elements`` elements (default 16 M, 64 MB of
  fp32 data) is not evaluated: it stays, reading its operands (materialized if needed).
- Stochastic-rounding converts (their bits depend on where they run), ops with side effects and
  ops the interpreter refuses (e.g. an out-of-range embedding index) are not constant.

A constant value read by a non-constant op or returned is *materialized* in place of its op:
as a ``full`` when every element has the same bits and the float attribute holds the value
exactly, else as a new module constant ``fold.N`` (N counts materializations in program order,
skipping names already taken). The location of the folded op is kept. Constant ops nobody reads
any more are removed, and so are module constants no ``const`` op names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from d1c.errors import D1cError
from d1c.interp import interpret
from d1c.ir import Builder, Function, Module, Op, Sym, TypeRuleError, Value
from d1c.passes.pass_manager import Context, register_pass
from d1c.passes.rewrite import drop_unused_consts, has_side_effects

MAX_ELEMENTS = 1 << 24
SOURCES = ("const", "full")  # constant ops that stay as they are when a non-constant op reads them


@register_pass
@dataclass(frozen=True)
class FoldConstants:
    name: ClassVar[str] = "fold-constants"
    max_elements: int = MAX_ELEMENTS

    def apply(self, module: Module, ctx: Context) -> Module:
        return fold_module(module, self.max_elements)


def fold_module(module: Module, max_elements: int = MAX_ELEMENTS) -> Module:
    """Fold every function of ``module`` in place (see the module docstring) and return it."""
    names = _Names(module)
    for func in module.functions:
        _Folder(module, func, max_elements, names).run()
    drop_unused_consts(module)
    return module


@dataclass
class _Names:
    """Fresh constant names ``fold.N`` in program order."""

    module: Module
    next: int = 0

    def fresh(self) -> str:
        while f"fold.{self.next}" in self.module.consts:
            self.next += 1
        self.next += 1
        return f"fold.{self.next - 1}"


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
    attribute holds that value exactly, else None."""
    flat = array.reshape(-1)
    if flat.size == 0 or flat.tobytes() != np.repeat(flat[:1], flat.size).tobytes():
        return None
    value = float(flat[0])
    same = np.array([value]).astype(array.dtype).tobytes() == flat[:1].tobytes()
    return value if same else None


def _empty(v: Value) -> bool:
    """A tensor with no elements: its value is known (there is nothing to compute)."""
    return v.type.numel == 0


def _no_data(v: Value) -> np.ndarray:
    return np.zeros(v.type.shape, v.type.elem.host_dtype)


class _Folder:
    """Folds one function: a forward scan evaluates, a backward scan picks what to keep."""

    def __init__(self, module: Module, func: Function, limit: int, names: _Names) -> None:
        self.module, self.func, self.limit, self.names = module, func, limit, names
        self.arrays: dict[Value, np.ndarray] = {}  # evaluated constant values
        self.lazy: set[Value] = set()  # constant, evaluated only when needed (const/full/views)
        self.views: set[Value] = set()  # constant broadcast_to results and reshapes of them

    def run(self) -> None:
        for op in self.func.ops:
            self._scan(op)
        needed = self._needed()
        kept = []
        for op in self.func.ops:
            if not self._is_const(op.results[0] if op.results else None):
                kept.append(op)
            elif op.result in needed:
                if op.name not in SOURCES and op.result not in self.views:
                    self._materialize(op)
                kept.append(op)
        self.func.ops = kept

    def _is_const(self, v: Value | None) -> bool:
        return v is not None and (v in self.arrays or v in self.lazy or _empty(v))

    def _scan(self, op: Op) -> None:
        if op.name == "return" or has_side_effects(op) or len(op.results) != 1:
            return
        if _empty(op.result):
            self.arrays[op.result] = _no_data(op.result)
            return
        if op.name == "const":
            if op.attrs["name"].name in self.module.consts:
                self.lazy.add(op.result)
            return
        if not self._foldable(op):
            return
        if op.name == "broadcast_to" or (op.name == "reshape" and op.operands[0] in self.views):
            self.views.add(op.result)
        if op.name == "full" or op.result in self.views:
            self.lazy.add(op.result)
            return
        value = evaluate_op(op, [self._array(v) for v in op.operands])
        if value is not None:
            self.arrays[op.result] = value

    def _foldable(self, op: Op) -> bool:
        if op.name == "convert" and op.attrs.get("rounding") == "sr":
            return False
        if op.result.type.numel > self.limit:
            return False
        return all(self._is_const(v) for v in op.operands)

    def _array(self, v: Value) -> np.ndarray:
        """The data of a constant value, evaluating a lazy ``full`` or view on demand."""
        if _empty(v):
            return _no_data(v)
        if v not in self.arrays:
            op = v.owner
            if op.name == "const":
                return self.module.consts[op.attrs["name"].name]
            value = evaluate_op(op, [self._array(u) for u in op.operands])
            if value is None:  # pragma: no cover - full and views always evaluate
                raise D1cError(f"cannot evaluate constant '{op.name}'", op.where())
            self.arrays[v] = value
        return self.arrays[v]

    def _needed(self) -> set[Value]:
        """Constant values that must exist after folding: read by a non-constant op, returned,
        or the operand of a needed view."""
        needed: set[Value] = set()
        for op in reversed(self.func.ops):
            constant = bool(op.results) and self._is_const(op.result)
            if not constant:
                needed.update(v for v in op.operands if self._is_const(v))
            elif op.result in needed and op.result in self.views:
                needed.add(op.operands[0])
        return needed

    def _materialize(self, op: Op) -> None:
        """Turn ``op`` in place into a ``full`` or a ``const`` of its value (same result)."""
        value = self._array(op.result)
        splat = 0.0 if value.size == 0 else splat_value(value)
        op.operands = []
        if splat is not None:
            op.name, op.attrs = "full", {"value": splat}
            return
        name = self.names.fresh()
        dtype = op.result.type.elem.host_dtype
        self.module.consts[name] = np.ascontiguousarray(value, dtype=dtype)
        op.name, op.attrs = "const", {"name": Sym(name)}
