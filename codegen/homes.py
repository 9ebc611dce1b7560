"""The program as it runs: kernel plans with every tensor at its home, the tokens between cores,
and every core's SRAM layout (execution model v2: :mod:`d1c.codegen.memory` decides the homes,
:mod:`d1c.codegen.sync` the tokens, :mod:`d1c.codegen.sram` the layout).

``allocate-sram``, ``route``, ``emit`` and reports all read :func:`homed_program`, so the SRAM
proof, the link estimates and the emitted program describe the same work. It is memoised like
:func:`d1c.codegen.program.plan_kernels` (same fingerprint).
"""

from __future__ import annotations

from dataclasses import dataclass

from d1c.codegen import memory as M
from d1c.codegen.placement import hbm_after_place, hbm_bytes
from d1c.codegen.plan import KernelPlan
from d1c.codegen.program import memo_last, plan_kernels, program_coords
from d1c.codegen.sram import CoreSram, Layout, align, core_srams, layout_of
from d1c.codegen.sync import Need, Sync, depend, dependencies, plan_sync
from d1c.errors import CompileError
from d1c.ir import Function
from d1c.target import Target
from d1c.target.mesh import Coord, Mesh

MAX_ROUNDS = 64  # spill-and-retry rounds before giving up on residency for the worst core


@dataclass
class Homed:
    """A placed function ready to emit."""

    plans: list[KernelPlan]  # far sides at their homes
    logical: list[KernelPlan]  # as planned, at logical addresses
    memory: M.Memory
    sync: Sync
    coords: list[Coord]
    layout: Layout
    cores: list[CoreSram]


@memo_last
def homed_program(func: Function, target: Target) -> Homed:
    """The program of ``func`` with tensors at their homes (memoised, see the module docstring)."""
    logical = plan_kernels(func, target)
    coords = program_coords(func, target)
    mesh = Mesh.of(target)
    gids = [mesh.gid(c) for c in coords]
    lay = layout_of(logical, target)
    mem = M.logical_tensors(logical, _logical_ranges(func))
    parts = M.part_bytes(logical, mem)
    raw = dependencies(logical)
    floors = _buffer_tops(logical, len(coords))
    estimate = core_srams(logical, coords)  # records of the logical plans: a first ceiling
    ceilings = {
        i: lay.param_addr - 2 * (c.image.top - c.image.base) - c.mailbox
        for i, c in enumerate(estimate)
    }
    spilled = {i for i, t in enumerate(mem.tensors) if t.producer < 0}
    for _ in range(MAX_ROUNDS):
        spilled |= M.allocate(mem, parts, floors, ceilings, spilled)
        mem.resident = {t for t in range(len(mem.tensors)) if t not in spilled}
        mem.hbm = _spill_addresses(func, target, mem, spilled)
        plans, _ = M.translate(logical, mem, gids)
        sync = plan_sync(plans, _with_war(raw, mem, parts))
        cores = core_srams(plans, coords, sync, mem.tops)
        over = [c for c in cores if c.overflows(lay)]
        if not over:
            return Homed(plans, logical, mem, sync, coords, lay, cores)
        for c in over:  # spill the biggest tensor kept on each overflowing core, and retry
            mine = [
                (n, t) for (t, core), n in parts.items() if core == c.index and t in mem.resident
            ]
            if not mine:
                return Homed(
                    plans, logical, mem, sync, coords, lay, cores
                )  # records alone overflow
            spilled.add(max(mine)[1])
            ceilings[c.index] = lay.param_addr - (c.image.top - c.image.base) - c.mailbox
    return Homed(plans, logical, mem, sync, coords, lay, cores)


def _logical_ranges(func: Function) -> list[tuple[int, int]]:
    """The logical range of every intermediate tensor (aliases share their operand's)."""
    seen = {}
    for op in func.ops:
        addr = op.attrs.get("hbm")
        if addr is not None and M.is_logical(addr):
            seen[addr] = max(seen.get(addr, addr), addr + hbm_bytes(op.result))
    return sorted(seen.items())


def _buffer_tops(plans: list[KernelPlan], ncores: int) -> dict[int, int]:
    """Per core, the end of the largest kernel buffers it uses: resident tensors go above."""
    tops = dict.fromkeys(range(ncores), 0)
    for plan in plans:
        for core in plan.items:
            tops[core] = max(tops[core], align(plan.buffer_bytes))
    return tops


def _spill_addresses(func: Function, target: Target, mem: M.Memory, spilled: set[int]):
    """DIP HBM for the spilled tensors, after everything ``place`` put in HBM."""
    layout = hbm_after_place(func, target)
    out = {}
    for t in sorted(spilled):
        tensor = mem.tensors[t]
        addr = layout.take(tensor.end - tensor.start)
        if addr is None:
            raise CompileError(
                f"an intermediate tensor of {tensor.end - tensor.start:,} bytes fits neither in "
                f"SRAM nor in DIP HBM ({sum(layout.tops):,} bytes already placed)",
                hint="use a target with more SRAM, DIPs or HBM, or cfp8 storage (--dtype cfp8)",
            )
        out[t] = addr
    return out


def _with_war(raw: Need, mem: M.Memory, parts) -> Need:
    """``raw`` plus write after read: a core that puts a tensor where another one of its
    tensors was waits for every other core that read that one to finish reading it."""
    need = {key: dict(deps) for key, deps in raw.items()}
    by_core: dict[int, list[tuple[int, int, int]]] = {}
    for (t, core), at in mem.parts.items():
        by_core.setdefault(core, []).append((at, at + align(parts[(t, core)]), t))
    for core, held in by_core.items():
        held.sort(key=lambda h: mem.tensors[h[2]].producer)
        for i, (a, b, t) in enumerate(held):
            k = mem.tensors[t].producer
            for a0, b0, t0 in held[:i]:
                old = mem.tensors[t0]
                if a0 < b and a < b0 and old.last_read < k:
                    for reader, last in mem.readers.get(t0, {}).items():
                        if reader != core:
                            depend(need, reader, core, k, last)
    return need
