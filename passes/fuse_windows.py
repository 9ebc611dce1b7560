"""``fuse-windows``: a matmul reads an operand computed by data-movement ops straight from their
source tensor (implicit GEMM; docs/lowering.md §2, "Operand windows").

After ``tile``, for each operand of each ``matmul`` kernel, the *window* is the set of ops
(``reshape``, ``slice``, ``concat``, ``permute``; not ``broadcast_to``, see
:data:`d1c.codegen.windows.WINDOW_OPS`) that compute it from tensors
that are not window ops. It is fused when

- it reads exactly one *source* tensor: a function argument, a constant, or the stored result of
  a kernel (the last op of a ``fuse`` group, or an op outside any group);
- every op of it is read only inside the window or by the matmul (nothing else needs its result
  in memory), and none is a function result;
- it has an op that would otherwise be a kernel (a window of reshapes alone is an alias already);
- its rows are contiguous pieces of :data:`MIN_RUN` elements or more on average: a window reads
  each piece with (part of) a DMA descriptor, so a transpose-like or strided window (a head
  permute, a stride-2 convolution) would make a descriptor per element and its DMA lists would
  outgrow SRAM; those stay kernels (a transpose loads tiles with ``ttrans``).

Its ops get ``window = W`` and lose ``tile``: they are no kernels and get no address
(:func:`~d1c.codegen.kinds.kind_of` says ``window``), and the matmul's planner loads each operand
tile from the source through the window's element offsets (:mod:`d1c.codegen.windows`). The ops
stay in the IR and the interpreter evaluates them as before, so no bits change.

The im2col matrix of a convolution (``decompose``: strided slices of the padded input, one per
kernel offset, concatenated along K) is the window this pass is for: no im2col tensor is
materialised anywhere; the padded input is the only copy of the activation the matmul reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from d1c.codegen.kinds import returned_values
from d1c.codegen.windows import WINDOW_OPS, mean_run, window_offsets
from d1c.ir import Function, Module, Op, Value
from d1c.passes.pass_manager import Context, register_pass

MIN_RUN = 4  # elements a window's descriptors move on average, at least


def _window(v: Value, uses: dict[Value, list[Op]], returned: set[Value]) -> list[Op] | None:
    """The window ops computing ``v`` if they form a fusable window (module docstring)."""
    ops: dict[int, Op] = {}
    sources: set[int] = set()
    stack = [v]
    while stack:
        u = stack.pop()
        op = u.owner
        if op is None or op.name not in WINDOW_OPS or "fuse" in op.attrs:
            if not _stored(u, uses):
                return None
            sources.add(id(u))
            continue
        if id(op) not in ops:
            ops[id(op)] = op
            stack.extend(op.operands)
    if len(sources) != 1 or all(op.name == "reshape" for op in ops.values()):
        return None
    inside = set(ops)
    for op in ops.values():
        if op.result in returned or (op.result is not v and not _only_inside(op, uses, inside)):
            return None
    return list(ops.values())


def _stored(v: Value, uses: dict[Value, list[Op]]) -> bool:
    """Whether ``v`` is in memory when a later kernel runs: an argument, or the result of an op
    that is not inside a ``fuse`` group (a group stores only its last value)."""
    op = v.owner
    if op is None or "fuse" not in op.attrs:
        return True
    return all(u.attrs.get("fuse") != op.attrs["fuse"] for u in uses.get(v, []))


def _only_inside(op: Op, uses: dict[Value, list[Op]], inside: set[int]) -> bool:
    return all(id(u) in inside for u in uses.get(op.result, []))


def fuse_windows_function(func: Function) -> int:
    """Mark the windows of ``func``'s matmuls (module docstring); returns how many."""
    uses, returned = func.uses(), returned_values(func)
    wid = 1 + max((op.attrs["window"] for op in func.ops if "window" in op.attrs), default=-1)
    first = wid
    for op in func.ops[:-1]:
        if op.name != "matmul" or "tile" not in op.attrs:
            continue
        for v in op.operands:
            if v.owner is None or "window" in v.owner.attrs:
                continue
            if len({id(u) for u in uses.get(v, [])}) != 1:
                continue
            chain = _window(v, uses, returned)
            if chain is not None and _mark(chain, v, wid):
                wid += 1
    return wid - first


def _mark(chain: list[Op], v: Value, wid: int) -> bool:
    """Mark ``chain`` as window ``wid`` if its loads move pieces of :data:`MIN_RUN` elements or
    more on average; else leave it as it was (its kernels load whole rows or transpose tiles,
    where a window would need a descriptor per element and its DMA lists outgrow SRAM)."""
    tiles = {id(w): w.attrs.pop("tile", None) for w in chain}
    for w in chain:
        w.attrs["window"] = wid
    if mean_run(window_offsets(v)) >= MIN_RUN:
        return True
    for w in chain:
        del w.attrs["window"]
        if tiles[id(w)] is not None:
            w.attrs["tile"] = tiles[id(w)]
    return False


@register_pass
@dataclass(frozen=True)
class FuseWindows:
    name: ClassVar[str] = "fuse-windows"

    def apply(self, module: Module, ctx: Context) -> Module:
        for func in module.functions:
            fuse_windows_function(func)
        return module
