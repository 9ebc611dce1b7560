"""Print IR in its canonical textual form.

Canonical text names function arguments by their (identifier) names and op results ``%0, %1, ...``
in program order, prints every attribute in op-table order, and writes constant bytes in ``data``
lines at the end of the module (``elide_data=True`` leaves them out, for reading). Parsing canonical
text and printing it again gives the same text.
"""

from __future__ import annotations

import json
from typing import Any

from d1c.errors import Loc
from d1c.ir.attr_forms import FORMS
from d1c.ir.core import Function, Module, Op, Value
from d1c.ir.shapes import Sym


def format_attr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(format_attr(v) for v in value) + "]"
    return str(value)  # int, ElemType, Sym, TensorType


def format_attr_of(key: str, value: Any) -> str:
    """Attribute ``key``'s value: its readable form (:mod:`d1c.ir.attr_forms`), else generic."""
    form = FORMS.get(key)
    text = form.format(value) if form is not None else None
    return format_attr(value) if text is None else text


def format_loc(loc: Loc | None) -> str:
    return "" if loc is None else f" loc({json.dumps(loc.file)}:{loc.line}:{loc.col})"


def _names(func: Function) -> dict[Value, str]:
    names: dict[Value, str] = {
        arg: f"%{name}" for arg, name in zip(func.args, func.arg_names(), strict=True)
    }
    counter = 0
    for op in func.ops:
        for r in op.results:
            names[r] = f"%{counter}"
            counter += 1
    return names


def format_op(op: Op, names: dict[Value, str]) -> str:
    if op.name == "return":
        return (
            "return"
            + "".join(f"{',' if i else ''} {names[v]}" for i, v in enumerate(op.operands))
            + format_loc(op.loc)
        )
    head = ", ".join(names[r] for r in op.results) + f" = {op.name}"
    if op.operands:
        head += " " + ", ".join(names[v] for v in op.operands)
    if op.attrs:
        head += " {" + ", ".join(f"{k} = {format_attr_of(k, v)}" for k, v in op.attrs.items()) + "}"
    types = ", ".join(str(r.type) for r in op.results)
    return f"{head} : {types}{format_loc(op.loc)}"


def op_text(func: Function, op: Op) -> str:
    """``op`` as it prints inside ``func`` (value names as printed), without its location."""
    return format_op(Op(op.name, op.operands, op.results, op.attrs), _names(func))


def format_function(func: Function) -> list[str]:
    names = _names(func)
    args = ", ".join(f"{names[a]}: {a.type}" for a in func.args)
    results = ", ".join(str(t) for t in func.result_types)
    lines = [f"  func {Sym(func.name)}({args}) -> ({results}) {{"]
    lines += [f"    {format_op(op, names)}" for op in func.ops]
    lines.append("  }")
    return lines


def const_types(module: Module) -> dict[str, Any]:
    """The declared type of each constant, from the first ``const`` op that names it."""
    out: dict[str, Any] = {}
    for op in module.ops():
        if op.name == "const":
            out.setdefault(op.attrs["name"].name, op.result.type)
    return out


def print_module(module: Module, *, elide_data: bool = False) -> str:
    lines = [f"module {Sym(module.name)} {{"]
    for func in module.functions:
        lines += format_function(func)
    if not elide_data:
        types = const_types(module)
        for name, array in module.consts.items():
            if name in types:
                lines.append(f"  data {Sym(name)} : {types[name]} = 0x{array.tobytes().hex()}")
    lines.append("}")
    return "\n".join(lines) + "\n"
