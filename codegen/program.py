"""The kernel plans of a placed function, and where its cores sit: the facts that
``allocate-sram``, ``route`` and ``emit`` all derive from (one derivation, so the SRAM proof, the
link estimates and the emitted program describe the same work).

Planning a big program takes seconds (an 8192^3 GEMM on ``dojo-tile`` has a million K steps), so
the plans of the last function planned are kept and reused while nothing they depend on has
changed: the fingerprint holds the identity, kind, operands, result type and attributes of every
op (but ``sram`` and ``route``, which only report on plans), the arguments and the target's
geometry, SRAM and DIPs. Plans are read-only for their users.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from d1c.codegen import data_kernels  # noqa: F401  (registers the concat, fill and gather kernels)
from d1c.codegen.epilogue import groups, plan_kernel
from d1c.codegen.placement import addresses, core_order, op_sites, program_cores
from d1c.codegen.plan import PLANNERS, KernelPlan, kind_of, returned_values
from d1c.errors import CompileError
from d1c.ir import Function
from d1c.target import Target
from d1c.target.mesh import Coord

REPORT_ATTRS = ("sram", "route", "home")  # attributes that describe plans, not shape them
T = TypeVar("T")


def memo_last(fn: Callable[[Function, Target], T]) -> Callable[[Function, Target], T]:
    """Memoise ``fn(func, target)`` for the last :func:`fingerprint` seen: the passes after
    ``place`` and ``emit`` ask for the same function's result several times in a row. The entry
    keeps its function alive, so the ids in its fingerprint cannot be reused while it exists."""
    last: dict[tuple, tuple[Function, T]] = {}

    @functools.wraps(fn)
    def memoised(func: Function, target: Target) -> T:
        key = fingerprint(func, target)
        hit = last.get(key)
        if hit is not None:
            return hit[1]
        out = fn(func, target)
        last.clear()
        last[key] = (func, out)
        return out

    return memoised


@memo_last
def plan_kernels(func: Function, target: Target) -> list[KernelPlan]:
    """One plan per kernel op of placed IR, in program order (memoised, :func:`memo_last`)."""
    return _plan_all(func, target)


def fingerprint(func: Function, target: Target) -> tuple:
    """Everything the plans of ``func`` depend on (a cache entry keeps its function, ops and
    values alive, so their ids cannot be reused while it exists)."""
    args = tuple((id(a), str(a.type)) for a in func.args)
    ops = tuple(
        (
            id(op),
            op.name,
            tuple(id(v) for v in op.operands),
            tuple(str(r.type) for r in op.results),
            repr(sorted((k, v) for k, v in op.attrs.items() if k not in REPORT_ATTRS)),
        )
        for op in func.ops
    )
    facts = (target.name, target.sram_bytes, target.chips, target.chip_grid, target.disabled)
    return (id(func), args, ops, facts, int(target.dip["count"]))


def _plan_all(func: Function, target: Target) -> list[KernelPlan]:
    where = addresses(func, target)
    returned = returned_values(func)
    chains = groups(func)  # fused epilogues (``fuse`` groups), planned with their producer
    plans = []
    for op in func.ops[:-1]:
        kind = kind_of(op, returned)
        if kind in PLANNERS:
            plans.append(plan_kernel(op, kind, where, chains, op_sites(op, target)))
        elif kind not in ("host_in", "host_out", "data", "alias", "fused", "window"):
            raise CompileError(f"no kernel for '{op.name}' yet", op.loc)
    return plans


def program_coords(func: Function, target: Target) -> list[Coord]:
    """The coordinates of the program's cores: core index i of a plan runs on entry i."""
    return core_order(target, program_cores(func, target))
