"""Structural equality of IR that ignores value names: two modules are equal when their functions
have the same signatures and the same ops (names, attributes, types, locations) wired the same way,
and the same constant bytes."""

from __future__ import annotations

import numpy as np

from d1c.ir.core import Function, Module, Value


def modules_equal(
    a: Module, b: Module, *, check_locs: bool = True, check_data: bool = True
) -> bool:
    if a.name != b.name or len(a.functions) != len(b.functions):
        return False
    if check_data and not _consts_equal(a, b):
        return False
    return all(
        functions_equal(f, g, check_locs=check_locs)
        for f, g in zip(a.functions, b.functions, strict=True)
    )


def _consts_equal(a: Module, b: Module) -> bool:
    if a.consts.keys() != b.consts.keys():
        return False
    return all(
        x.dtype == b.consts[k].dtype
        and np.array_equal(x, b.consts[k], equal_nan=x.dtype.kind == "f")
        for k, x in a.consts.items()
    )


def _same(x: object, y: object) -> bool:
    """Equality of attribute values where NaN equals NaN (``full {value = nan}``)."""
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (x != x and y != y)
    return x == y


def attrs_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())


def functions_equal(f: Function, g: Function, *, check_locs: bool = True) -> bool:
    if f.name != g.name or f.result_types != g.result_types or len(f.ops) != len(g.ops):
        return False
    if [v.type for v in f.args] != [v.type for v in g.args]:
        return False
    mapping: dict[Value, Value] = dict(zip(f.args, g.args, strict=True))
    for x, y in zip(f.ops, g.ops, strict=True):
        same = (
            x.name == y.name
            and attrs_equal(x.attrs, y.attrs)
            and [r.type for r in x.results] == [r.type for r in y.results]
            and [mapping.get(v) for v in x.operands] == list(y.operands)
            and (not check_locs or x.loc == y.loc)
        )
        if not same:
            return False
        mapping.update(zip(x.results, y.results, strict=True))
    return True
