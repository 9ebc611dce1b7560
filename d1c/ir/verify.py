"""The IR verifier: SSA form, the op table's operand/attribute/type rules, function signatures and
constant data. Errors point at the op's position in IR text (or, for built IR, its source line)."""

from __future__ import annotations

import numpy as np

from d1c.errors import VerifyError
from d1c.ir.core import Function, Module, Op, Value
from d1c.ir.ops import infer_result_type, lookup
from d1c.ir.shapes import TypeRuleError


def verify_module(module: Module, *, source: str | None = None) -> None:
    """Raise :class:`VerifyError` at the first broken rule."""
    names = [f.name for f in module.functions]
    if not names:
        raise VerifyError(f"module @{module.name} has no function", source=source)
    if len(set(names)) != len(names):
        raise VerifyError(f"module @{module.name} defines a function twice", source=source)
    for func in module.functions:
        _verify_function(func, module, source)


def _verify_function(func: Function, module: Module, source: str | None) -> None:
    defined: set[Value] = set(func.args)
    for i, op in enumerate(func.ops):
        for v in op.operands:
            if v not in defined:
                raise _err(op, f"'{op.name}' uses a value that is not defined before it", source)
        if (op.name == "return") != (i == len(func.ops) - 1):
            raise _err(op, f"function @{func.name} must end with exactly one 'return'", source)
        _verify_op(op, module, source)
        defined.update(op.results)
    if not func.ops:
        raise VerifyError(f"function @{func.name} has no 'return'", func.pos, source=source)
    got = [v.type for v in func.ret.operands]
    if got != list(func.result_types):
        want = ", ".join(map(str, func.result_types))
        raise _err(
            func.ret,
            f"return types ({', '.join(map(str, got))}) do not match the signature ({want})",
            source,
        )


def _verify_op(op: Op, module: Module, source: str | None) -> None:
    if op.name == "return":
        return
    try:
        lookup(op.name)
        if len(op.results) != 1:
            raise TypeRuleError(f"'{op.name}' has one result, not {len(op.results)}")
        infer_result_type(op.name, [v.type for v in op.operands], op.attrs, op.result.type)
    except TypeRuleError as err:
        raise _err(op, str(err), source) from None
    if op.name == "const":
        _verify_const(op, module, source)


def _verify_const(op: Op, module: Module, source: str | None) -> None:
    name = op.attrs["name"].name
    data = module.consts.get(name)
    if data is None:
        return  # data may be elided from a dump; the interpreter reports it if it is needed
    ty = op.result.type
    if data.shape != ty.shape or data.dtype != np.dtype(ty.elem.host_dtype):
        raise _err(
            op,
            f"constant @{name} holds {data.dtype}{list(data.shape)}, but the op declares {ty}",
            source,
        )


def _err(op: Op, message: str, source: str | None) -> VerifyError:
    return VerifyError(message, op.where(), source=source if op.pos else None)
