"""Core IR data structures: values, ops, functions, modules.

Nodes are slotted dataclasses compared by identity (``eq=False``); :mod:`d1c.ir.equality` compares
them structurally. A function body is one straight-line block of ops in SSA form ending in a
``return`` op. Tensor constants (weights) live in ``Module.consts`` by name and are referenced by
``const`` ops, so the readable part of a printed module stays small; the printer writes their bytes
in trailing ``data`` lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from d1c.errors import Loc
from d1c.ir.types import TensorType

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")  # a value name that prints as %name


@dataclass(eq=False, slots=True)
class Value:
    """An SSA value: a function argument (``owner is None``) or result ``index`` of an op."""

    type: TensorType
    name: str | None = None
    owner: Op | None = None
    index: int = 0


@dataclass(eq=False, slots=True)
class Op:
    """One operation. ``loc`` is the user's source position (from the model); ``pos`` is the
    position of the op in IR text when it was parsed (for error messages)."""

    name: str
    operands: list[Value]
    results: list[Value]
    attrs: dict[str, Any] = field(default_factory=dict)
    loc: Loc | None = None
    pos: Loc | None = None

    @property
    def result(self) -> Value:
        return self.results[0]

    def where(self) -> Loc | None:
        """The best position to report an error at: the IR text if parsed, else the source."""
        return self.pos or self.loc


@dataclass(eq=False, slots=True)
class Function:
    name: str
    args: list[Value]
    result_types: list[TensorType]
    ops: list[Op] = field(default_factory=list)
    pos: Loc | None = None

    @property
    def ret(self) -> Op:
        return self.ops[-1]

    def arg_names(self) -> list[str]:
        """The names of the arguments, used everywhere a user names an input: the IR text
        (``%ids``), the program's input symbols (``d1c run --input ids=...``), the keys of
        ``d1c verify --inputs`` files and hints. An argument keeps its own name (a model's
        ``forward`` parameter names) when that is an identifier not taken by an earlier one,
        else it is ``arg<i>``."""
        names: list[str] = []
        for i, arg in enumerate(self.args):
            ok = arg.name and IDENT.match(arg.name) and arg.name not in names
            names.append(arg.name if ok else f"arg{i}")
        return names

    @property
    def outputs(self) -> list[Value]:
        return self.ret.operands

    def uses(self) -> dict[Value, list[Op]]:
        """Map every value to the ops that read it, in program order."""
        table: dict[Value, list[Op]] = {v: [] for v in self.args}
        for op in self.ops:
            for r in op.results:
                table[r] = []
            for v in op.operands:
                table.setdefault(v, []).append(op)
        return table


@dataclass(eq=False, slots=True)
class Module:
    name: str
    functions: list[Function] = field(default_factory=list)
    consts: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def main(self) -> Function:
        """The entry function: the first one."""
        return self.functions[0]

    def function(self, name: str) -> Function:
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(name)

    def ops(self) -> Iterator[Op]:
        for f in self.functions:
            yield from f.ops

    def __str__(self) -> str:
        from d1c.ir.printer import print_module

        return print_module(self)


class Builder:
    """Appends ops to a function, inferring result types from the op table."""

    def __init__(self, func: Function, loc: Loc | None = None) -> None:
        self.func = func
        self.loc = loc

    def create(
        self,
        name: str,
        operands: list[Value] | tuple[Value, ...] = (),
        attrs: dict[str, Any] | None = None,
        result_type: TensorType | None = None,
        loc: Loc | None = None,
    ) -> Value:
        """Create op ``name`` and return its (single) result.

        ``result_type`` is required for ops whose type the operands and attributes do not fix
        (``const``, ``full``, ``iota``, ``convert``, ``reshape``, ``broadcast_to``) and checked
        against the inferred type for the others.
        """
        from d1c.ir.ops import infer_result_type

        attrs = dict(attrs or {})
        rtype = infer_result_type(name, [v.type for v in operands], attrs, result_type)
        op = Op(name, list(operands), [], attrs, loc or self.loc)
        op.results = [Value(rtype, owner=op)]
        self.func.ops.append(op)
        return op.result

    def ret(self, values: list[Value], loc: Loc | None = None) -> Op:
        op = Op("return", list(values), [], {}, loc or self.loc)
        self.func.ops.append(op)
        self.func.result_types = [v.type for v in values]
        return op
