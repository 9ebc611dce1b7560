"""Deep copies of IR (passes mutate modules in place; the driver keeps each stage's result)."""

from __future__ import annotations

from d1c.ir.core import Function, Module, Op, Value


def clone_function(func: Function) -> Function:
    vmap: dict[Value, Value] = {a: Value(a.type, a.name) for a in func.args}
    new = Function(func.name, [vmap[a] for a in func.args], list(func.result_types), pos=func.pos)
    for op in func.ops:
        copy = Op(op.name, [vmap[v] for v in op.operands], [], dict(op.attrs), op.loc, op.pos)
        copy.results = [Value(r.type, r.name, copy, r.index) for r in op.results]
        vmap.update(zip(op.results, copy.results, strict=True))
        new.ops.append(copy)
    return new


def clone_module(module: Module) -> Module:
    """A copy whose ops and values are new; constant arrays are shared (never mutated in place)."""
    return Module(module.name, [clone_function(f) for f in module.functions], dict(module.consts))
