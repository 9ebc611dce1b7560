"""IR-level reduction of a failing ``d1c fuzz`` case, after hypothesis has shrunk its draws.

Hypothesis shrinks the *draws* of a graph module, which leaves results and dead ops that the
failure does not need (removing an early op changes every later draw). This pass works on the
module itself: it drops results one at a time, then dead ops, unused constants and unused
arguments (with their inputs), keeping each step only if the case still fails with the same
signature. Every step re-runs the failing property, so a reduced reproducer still reproduces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from d1c.errors import D1cError
from d1c.fuzz.checks import Case
from d1c.ir import verify_module
from d1c.ir.clone import clone_module


def keep_outputs(case: Case, keep: list[int]) -> Case:
    """``case`` returning only the results at ``keep``, with dead ops, constants and
    arguments removed."""
    m = clone_module(case.module)
    f = m.main
    ret = f.ret
    ret.operands = [ret.operands[i] for i in keep]
    f.result_types = [f.result_types[i] for i in keep]
    live = set(ret.operands)
    ops = [ret]
    for op in reversed(f.ops[:-1]):
        if any(r in live for r in op.results):
            ops.append(op)
            live.update(op.operands)
    f.ops = ops[::-1]
    used = [i for i, a in enumerate(f.args) if a in live]
    f.args = [f.args[i] for i in used]
    names = {op.attrs["name"].name for op in f.ops if op.name == "const"}
    m.consts = {k: v for k, v in m.consts.items() if k in names}
    verify_module(m)
    ref = None if case.reference is None else [case.reference[i] for i in keep]
    return replace(case, module=m, inputs=[case.inputs[i] for i in used], reference=ref)


def reduce_case(case: Case, signature: str, fails: Callable[[Case], set[str]]) -> Case:
    """The smallest variant of ``case`` found that ``fails`` with ``signature``."""
    if case.module is None:
        return case
    n = len(case.module.main.ret.operands)
    keep = list(range(n))
    for i in reversed(range(n)):
        if len(keep) > 1:
            keep = _try(case, [k for k in keep if k != i], signature, fails) or keep
    best = _try(case, keep, signature, fails)
    return keep_outputs(case, keep) if best is not None else case


def _try(case: Case, keep: list[int], signature: str, fails) -> list[int] | None:
    try:
        candidate = keep_outputs(case, keep)
    except D1cError:
        return None
    return keep if signature in fails(candidate) else None
