"""The simulator's entry point and scheduler: :func:`simulate` runs a ``.d1x`` program on a target.

Scheduling (deterministic, independent of the host)
    Every core has its own clock. A heap holds runnable cores keyed by (clock, core gid) and
    timed events (semaphore signals arriving) keyed by (time, issue order), events first at equal
    times. The scheduler pops the earliest entry; a core runs until it halts, blocks (recv with no
    message, barrier, sem.wait) or reaches an instruction that acts on shared state (send, mcast,
    sem.signal, sem.wait, DMA issue) while its clock is past the next entry's time (the
    *horizon*) — then it goes back into the heap. So every interaction between cores happens in
    simulated-time order, link and DIP reservations are made in that order, and a blocked core
    resumes at the time its condition became true (the gap is its stall, by cause). recv,
    barrier and dma.wait need no ordering: messages carry their arrival time, barrier arrivals
    their cycle, DMAs their completion time. Local instructions never wait for other cores,
    which keeps the scheduler cheap.

Deadlock: the heap is empty while some core has not halted. The error lists every blocked core
with its pc and wait, and the wait-for cycle through recv edges (core -> the core it waits for).

Program time = the latest finish over cores, where a core finishes at its halt or when its last
DMA completes, whichever is later.
"""

from __future__ import annotations

import heapq
import itertools
from pathlib import Path

import numpy as np

from d1c.isa import d1x
from d1c.isa.d1x import D1xProgram
from d1c.isa.errors import D1cError, SimulationError
from d1c.isa.semantics import pack_coord
from d1c.progress import progress
from d1c.runtime import symbols
from d1c.runtime.core import HALT, YIELD
from d1c.runtime.decode import decode_section
from d1c.runtime.machine import CORE_PRIO, CoreState, Machine
from d1c.runtime.result import CoreStats, SimResult, core_stats, fault_context, write_trace
from d1c.runtime.timing import costs_of
from d1c.target import Target, load_target
from d1c.target.mesh import Coord, fmt_coord

__all__ = ["CoreStats", "SimResult", "simulate"]


def simulate(
    program: D1xProgram | bytes,
    target: Target | str | None = None,
    inputs: dict[str, np.ndarray] | None = None,
    *,
    timing_only: bool = False,
    trace: str | Path | bool | None = None,
    max_cycles: int | None = None,
    io: symbols.SymbolIO | None = None,
) -> SimResult:
    """Run ``program`` on ``target`` (default: the program's own target) and return the result.

    ``inputs`` maps input symbol names to arrays (rounded to the symbol's format). With
    ``timing_only`` the same instructions run with the same timing but tile data is not computed
    or moved (scalar ld/st, tld and the parameter table still work on SRAM, so control flow that
    depends on parameters or SRAM images is exact; control flow that depends on computed tile
    data is not supported); outputs are then empty. ``trace`` (a path, or True) records the tile
    ops, DMAs, messages and stalls (:mod:`d1c.runtime.trace`; a path also gets the Chrome/Perfetto
    JSON). A progress bar counts kernels (``mark`` ids) on a terminal. ``max_cycles`` stops runaway loops with a
    fault. ``io`` (:class:`d1c.runtime.host.HostCode`) packs inputs and unpacks outputs with
    native host code instead of the numpy reference path (same bits). Faults raise
    :class:`SimulationError`.
    """
    prog = program if isinstance(program, D1xProgram) else d1x.read_d1x(program)
    tgt = load_target(target or prog.target) if not isinstance(target, Target) else target
    m = Machine(tgt, costs_of(tgt), full=not timing_only)
    m.limit = float("inf") if max_cycles is None else max_cycles
    m.trace = [] if trace else None
    _load(m, prog)
    symbols.load_inputs(m, prog, inputs, io)
    kernels = dict(prog.meta).get("kernels")
    with progress("simulate", int(kernels) if kernels else None) as m.progress:
        _run_all(m)
    return _result(m, prog, trace, io)


# ---------------------------------------------------------------- loading
def _coords(m: Machine, r: d1x.CoreRange, what: str):
    if not (m.mesh.exists(r.hi) and all(a <= b for a, b in zip(r.lo, r.hi, strict=True))):
        raise SimulationError(f"{what}: core range {r} does not fit target {m.target.name!r}")
    spans = [range(a, b + 1) for a, b in zip(r.lo, r.hi, strict=True)]
    return (k for k in itertools.product(*spans) if m.mesh.enabled(k))


def _load(m: Machine, prog: D1xProgram) -> None:
    for sec in prog.code:
        ops, insts = decode_section(sec.code, sec.name, m.costs)
        for r in sec.cores:
            for k in _coords(m, r, f"code section {sec.name!r}"):
                c = m.core(k)
                if c.code is None:
                    c.code, c.section = ops, (sec, insts)
                    c.sregs = _sregs(m, c, prog.param_addr)
    _load_params(m, prog)
    for img in prog.sram:
        for r in img.cores:
            for k in _coords(m, r, "SRAM image"):
                mem = m.core(k).mem
                if img.addr + len(img.data) > mem.size:
                    raise SimulationError(
                        f"SRAM image at {img.addr:#x} ({len(img.data)} bytes) does not fit SRAM"
                    )
                mem[img.addr : img.addr + len(img.data)] = np.frombuffer(img.data, np.uint8)
    for img in prog.hbm:
        m.hbm.check(img.addr, len(img.data), "HBM image")
        m.hbm.write(img.addr, np.frombuffer(img.data, np.uint8))


def _load_params(m: Machine, prog: D1xProgram) -> None:
    n, addr = prog.param_words, prog.param_addr
    if not (prog.params or n):
        return
    if addr & 3 or addr + 4 * n > m.target.sram_bytes:
        raise SimulationError(f"parameter table at {addr:#x} ({n} words) does not fit SRAM")
    for row in prog.params:
        if not m.mesh.enabled(tuple(row.core)):
            raise SimulationError(
                f"parameter row for {fmt_coord(row.core)}, which is not a usable core"
            )
        words = np.zeros(n, dtype="<u4")
        words[: min(n, len(row.words))] = row.words[:n]
        m.core(tuple(row.core)).mem32[addr >> 2 : (addr >> 2) + n] = words


def _sregs(m: Machine, c: CoreState, param_addr: int) -> dict[str, int]:
    cx, cy, x, y = c.coord
    me = m.mesh
    return {
        "chip_x": cx, "chip_y": cy, "core_x": x, "core_y": y, "core_id": y * me.grid_w + x,
        "coord": pack_coord(cx, cy, x, y), "param": param_addr, "grid_w": me.grid_w,
        "grid_h": me.grid_h, "chips_w": me.chips_w, "chips_h": me.chips_h, "gid": c.gid,
    }  # fmt: skip


# ---------------------------------------------------------------- running
def _run_core(c: CoreState) -> int:
    """Run ``c`` until it stops; returns BLOCK, YIELD or HALT."""
    code, pc, n = c.code, c.pc, 0
    try:
        while True:
            op = code[pc]
            nxt = op[0](c, pc, op)
            if nxt < 0:
                break
            pc = nxt
            n += 1
    except D1cError as err:
        raise fault_context(c, pc, err.message) from None
    except (ArithmeticError, LookupError, ValueError, TypeError) as err:
        raise fault_context(
            c, pc, f"internal simulator error {type(err).__name__}: {err}"
        ) from None
    c.pc = pc
    c.count += n + (nxt == HALT)
    return nxt


def _run_all(m: Machine) -> None:
    for c in sorted(m.cores.values(), key=lambda c: c.gid):
        if c.code is not None:
            m.push_core(c, 0)
    heap = m.heap
    while heap:
        entry = heapq.heappop(heap)
        m.horizon = heap[0][0] if heap else float("inf")
        if entry[1] != CORE_PRIO:
            entry[3](entry[0])
            continue
        c = entry[3]
        state = _run_core(c)
        if state == YIELD:
            m.push_core(c, c.now)
        elif state == HALT:
            c.finish = max(c.now, *c.dma_done)
    stuck = [c for c in m.cores.values() if c.code is not None and not c.halted]
    if stuck:
        raise _deadlock(m, sorted(stuck, key=lambda c: c.gid))


def _deadlock(m: Machine, stuck: list[CoreState]) -> SimulationError:
    lines = [f"deadlock: every live core is blocked ({len(stuck)} cores)"]
    cycle = _wait_cycle(m, stuck)
    if cycle:
        lines.append("wait-for cycle: " + cycle)
    for c in stuck[:16]:
        lines.append(f"  core {c.name} pc {4 * c.pc:#x} at cycle {c.now}: {_wait_text(m, c)}")
    if len(stuck) > 16:
        lines.append(f"  ... and {len(stuck) - 16} more")
    return SimulationError("\n".join(lines))


def _wait_text(m: Machine, c: CoreState) -> str:
    w = c.wait
    if w is None:
        return "not blocked"
    if w[0] == "recv":
        src = m.cores.get(w[1])
        gone = " (which has halted)" if src is not None and src.halted else ""
        return f"recv from {fmt_coord(m.mesh.coord_of_gid(w[1]))} tag {w[2]}{gone}"
    if w[0] == "barrier":
        arrived = len(m.barriers.get(w[1], (0, []))[1])
        return f"barrier {w[1]}: {arrived} of {w[2]} cores arrived"
    return f"sem.wait sem {w[1]} count {w[2]} (value {c.sems[w[1]]})"


def _wait_cycle(m: Machine, stuck: list[CoreState]) -> str | None:
    """The first cycle of recv wait-for edges, as ``a -(recv tag t)-> b -> ... -> a``."""
    for start in stuck:
        seen: list[CoreState] = []
        c = start
        while c is not None and c.wait and c.wait[0] == "recv" and c not in seen:
            seen.append(c)
            c = m.cores.get(c.wait[1])
        if c is not None and c in seen:
            loop = [*seen[seen.index(c) :], c]
            parts = [loop[0].name]
            for a, b in itertools.pairwise(loop):
                parts.append(f"-(recv tag {a.wait[2]})-> {b.name}")
            return " ".join(parts)
    return None


def _result(
    m: Machine, prog: D1xProgram, trace: str | Path | bool | None, io: symbols.SymbolIO | None
) -> SimResult:
    running = sorted((c for c in m.cores.values() if c.code is not None), key=lambda c: c.gid)
    outputs, codes = symbols.read_outputs(m, prog, io) if m.full else ({}, {})
    cores: dict[Coord, CoreStats] = {c.coord: core_stats(c) for c in running}
    pending = sum(len(q) for q in m.mail.values())
    res = SimResult(
        cycles=max((s.finish for s in cores.values()), default=0),
        clock_hz=m.costs.clock_hz,
        outputs=outputs,
        output_codes=codes,
        cores=cores,
        link_bytes=m.net.report(),
        undelivered=pending,
        trace=None,
        barriers=tuple(m.barrier_log),
    )
    if m.trace is not None:
        res = write_trace(res, m, trace)
    return res
