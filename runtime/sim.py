"""The simulator's entry point and scheduler: :func:`simulate` runs a ``.d1x`` program on a target.

Scheduling (deterministic, independent of the host and of the partition into regions)
    Every core has its own clock. A heap holds runnable cores and timed events under the
    canonical keys of :mod:`d1c.runtime.machine`. The scheduler pops the smallest key; an event
    runs its handler, a core runs until it halts, blocks (recv with no message, barrier,
    sem.wait, dma.wait with a transfer still in flight) or reaches an instruction that acts on
    chip state or starts an event (send, mcast, barrier, sem.signal, sem.wait, DMA issue) while
    its own key is above the smallest key left (the *horizon*) — then it goes back into the heap.
    So everything that touches chip state happens in key order, and a blocked core resumes at the
    time its condition became true (the gap is its stall, by cause). Local instructions (and
    recv and dma.wait, whose outcome does not depend on when the message or completion was
    recorded) never wait for other cores, which keeps the scheduler cheap.

Regions
    The same scheduler runs one region of chips per worker in a parallel run
    (:mod:`d1c.runtime.parallel`): :func:`run` then stops at the end of a time window and events
    for other regions' chips go to the machine's outbox. Every key, route and reservation is
    the same in every region layout, so outputs, cycles, counters and traces are identical.

Faults: the earliest fault in key order is reported (a core's fault at its clock, an event's at
its key), so a faulty program fails the same way in every layout; a mailbox overflow
(:func:`d1c.runtime.comm.mailbox_overflow`) at an earlier cycle wins over it.

Deadlock: the heap is empty while some core has not halted. The error lists every blocked core
with its pc and wait, and the wait-for cycle through recv edges (core -> the core it waits for).

Program time = the latest finish over cores, where a core finishes at its halt or when its last
DMA completes, whichever is later.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
from pathlib import Path

import numpy as np

from d1c.isa import d1x
from d1c.isa.d1x import D1xProgram
from d1c.isa.errors import D1cError, SimulationError
from d1c.progress import progress
from d1c.runtime import comm, noc, symbols
from d1c.runtime.core import HALT, YIELD
from d1c.runtime.dma_sram import apply_incoming
from d1c.runtime.load import load
from d1c.runtime.machine import HANDLERS, INF, CoreState, Machine
from d1c.runtime.result import CoreStats, SimResult, core_stats, fault_context, write_trace
from d1c.runtime.timing import costs_of
from d1c.target import Target, load_target
from d1c.target.mesh import Coord, fmt_coord

__all__ = ["CoreStats", "SimResult", "simulate"]

HANDLERS["fly"] = noc.resume


def simulate(
    program: D1xProgram | bytes,
    target: Target | str | None = None,
    inputs: dict[str, np.ndarray] | None = None,
    *,
    timing_only: bool = False,
    trace: str | Path | bool | None = None,
    max_cycles: int | None = None,
    io: symbols.SymbolIO | None = None,
    workers: int = 1,
    ray: str | bool | None = None,
) -> SimResult:
    """Run ``program`` on ``target`` (default: the program's own target) and return the result.

    ``inputs`` maps input symbol names to arrays (rounded to the symbol's format). With
    ``timing_only`` the same instructions run with the same timing but tile data is not computed
    or moved (scalar ld/st, tld and the parameter table still work on SRAM, so control flow that
    depends on parameters or SRAM images is exact; control flow that depends on computed tile
    data is not supported); outputs are then empty. ``trace`` (a path, or True) records the tile
    ops, DMAs, messages and stalls (:mod:`d1c.runtime.trace`; a path also gets the Chrome/Perfetto
    JSON). A progress bar counts kernels (``mark`` ids) on a terminal. ``max_cycles`` stops
    runaway loops with a fault. ``io`` (:class:`d1c.runtime.host.HostCode`) packs inputs and
    unpacks outputs with native host code instead of the numpy reference path (same bits).
    ``workers`` > 1 simulates regions of chips in that many processes, ``ray`` (True or a
    cluster address) on Ray actors (:mod:`d1c.runtime.parallel`); the result is identical. Faults raise
    :class:`SimulationError`.
    """
    prog = program if isinstance(program, D1xProgram) else d1x.read_d1x(program)
    tgt = load_target(target or prog.target) if not isinstance(target, Target) else target
    opts = {"timing_only": timing_only, "trace": bool(trace), "max_cycles": max_cycles}
    with no_gc():
        if workers > 1 or ray:
            from d1c.runtime.parallel import simulate_parallel

            res = simulate_parallel(prog, tgt, inputs, io, workers, ray, opts)
            if res is not None:
                return write_trace(res, tgt, trace) if res.trace is not None else res
        res = _serial(prog, tgt, inputs, io, opts)
    return write_trace(res, tgt, trace) if res.trace is not None else res


def _serial(prog: D1xProgram, tgt: Target, inputs, io, opts: dict) -> SimResult:
    m = new_machine(prog, tgt, None, **opts)
    symbols.load_inputs(m, prog, inputs, io)
    kernels = dict(prog.meta).get("kernels")
    with progress("simulate", int(kernels) if kernels else None) as m.progress:
        start(m)
        run(m, INF)
    check_end(m, stuck(m))
    land_incoming(m)
    outputs, codes = symbols.read_outputs(m, prog, io) if m.full else ({}, {})
    return result(m, outputs, codes)


def land_incoming(m: Machine) -> None:
    """At the end of a run, the remote SRAM writes still waiting land (in arrival order)."""
    for c in m.cores.values():
        if c.incoming:
            apply_incoming(c)


def new_machine(
    prog: D1xProgram, tgt: Target, chips: frozenset[int] | None, *, timing_only: bool,
    trace: bool, max_cycles: int | None,
) -> Machine:  # fmt: skip
    """A machine for the region of ``chips`` (None: all) with ``prog`` loaded."""
    m = Machine(tgt, costs_of(tgt), full=not timing_only, chips=chips)
    m.limit = INF if max_cycles is None else max_cycles
    m.trace = [] if trace else None
    load(m, prog)
    return m


@contextlib.contextmanager
def no_gc():
    """The cyclic garbage collector off while simulating: the many short-lived objects of a run
    make it rescan all long-lived objects (the program, and the caller's, e.g. a compiled model's
    IR) again and again, and the simulator creates no reference cycles that matter."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def start(m: Machine) -> None:
    """Make every core with code runnable at cycle 0."""
    for c in sorted(m.cores.values(), key=lambda c: c.gid):
        if c.code is not None:
            m.push_core(c)


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
        c.pc = pc
        raise fault_context(c, pc, err.message) from None
    except (ArithmeticError, LookupError, ValueError, TypeError) as err:
        c.pc = pc
        raise fault_context(
            c, pc, f"internal simulator error {type(err).__name__}: {err}"
        ) from None
    c.pc = pc
    c.count += n + (nxt == HALT)
    return nxt


def run(m: Machine, end: float) -> None:
    """Process the heap in key order up to cycle ``end`` (exclusive) or the first fault."""
    heap, half = m.heap, 2 * m.sites
    m.end = end * half if end != INF else INF
    if m.faults:
        m.end = min(m.end, min(m.faults)[0][0] + 1)
    while heap and heap[0][0] < m.end:
        entry = heapq.heappop(heap)
        m.horizon = heap[0][0] if heap and heap[0][0] < m.end else m.end
        if len(entry) == 2:
            m.clock = entry[1].now
            _step_core(m, entry[1])
            continue
        m.clock = entry[0] // half
        try:
            HANDLERS[entry[4]](m, entry[0] // half, *entry[5])
        except D1cError as err:
            m.fault(entry[:4], err.message)


def _step_core(m: Machine, c: CoreState) -> None:
    try:
        state = _run_core(c)
    except SimulationError as err:
        c.faulted = True
        m.fault((c.key(),), err.message)
        return
    if state == YIELD:
        m.push_core(c)


def stuck(m: Machine) -> list[CoreState]:
    """The region's cores with code that neither halted nor faulted, by gid."""
    live = (c for c in m.cores.values() if c.code is not None and not c.halted and not c.faulted)
    return sorted(live, key=lambda c: c.gid)


def first_failure(m: Machine) -> tuple[tuple, str] | None:
    """(key, message) of the region's earliest fault or mailbox overflow, or None."""
    fails = list(m.faults)
    before = INF if not fails else min(fails)[0][0] // (2 * m.sites) + 1
    for c in m.cores.values():
        got = comm.mailbox_overflow(c, before)
        if got is not None:
            fails.append(comm.overflow_fault(m, c, *got))
    return min(fails) if fails else None


def check_end(m: Machine, blocked: list[CoreState]) -> None:
    """Raise the earliest failure, else a deadlock if cores are still blocked."""
    fail = first_failure(m)
    if fail is not None:
        raise SimulationError(fail[1])
    if blocked:
        raise deadlock(blocked, lambda gid: m.cores.get(gid), heard(m))


def heard(m: Machine) -> dict[int, int]:
    """Per unfinished barrier id, how many arrivals its controller (in this region) heard of."""
    return {bid: len(arrived) for bid, (_, arrived) in m.barriers.items()}


def deadlock(stuck: list[CoreState], core_of, arrived: dict[int, int]) -> SimulationError:
    """The deadlock error for the blocked cores ``stuck`` (by gid); ``core_of(gid)`` finds a
    core's state (None if it has none), ``arrived`` the arrivals each barrier's controller
    heard of."""
    lines = [f"deadlock: every live core is blocked ({len(stuck)} cores)"]
    cycle = _wait_cycle(stuck, core_of)
    if cycle:
        lines.append("wait-for cycle: " + cycle)
    for c in stuck[:16]:
        wait = _wait_text(c, core_of, arrived)
        lines.append(f"  core {c.name} pc {4 * c.pc:#x} at cycle {c.now}: {wait}")
    if len(stuck) > 16:
        lines.append(f"  ... and {len(stuck) - 16} more")
    return SimulationError("\n".join(lines))


def _wait_text(c: CoreState, core_of, arrived: dict[int, int]) -> str:
    w = c.wait
    if w is None:
        return "not blocked"
    if w[0] == "recv":
        src = core_of(w[1])
        gone = " (which has halted)" if src is not None and src.halted else ""
        return f"recv from {fmt_coord(c.m.mesh.coord_of_gid(w[1]))} tag {w[2]}{gone}"
    if w[0] == "barrier":
        return f"barrier {w[1]}: {arrived.get(w[1], 0)} of {w[2]} cores arrived"
    if w[0] == "dma":
        return f"dma.wait {w[1]}"
    return f"sem.wait sem {w[1]} count {w[2]} (value {c.sems[w[1]]})"


def _wait_cycle(stuck: list[CoreState], core_of) -> str | None:
    """The first cycle of recv wait-for edges, as ``a -(recv tag t)-> b -> ... -> a``."""
    for start in stuck:
        seen: list[CoreState] = []
        c = start
        while c is not None and c.wait and c.wait[0] == "recv" and c not in seen:
            seen.append(c)
            c = core_of(c.wait[1])
        if c is not None and c in seen:
            loop = [*seen[seen.index(c) :], c]
            parts = [loop[0].name]
            for a, b in itertools.pairwise(loop):
                parts.append(f"-(recv tag {a.wait[2]})-> {b.name}")
            return " ".join(parts)
    return None


# ---------------------------------------------------------------- results
def region_stats(m: Machine) -> dict[Coord, CoreStats]:
    """The counters of the region's cores with code."""
    running = (c for c in m.cores.values() if c.code is not None)
    return {c.coord: core_stats(c) for c in running}


def result(m: Machine, outputs: dict, codes: dict) -> SimResult:
    """The result of a finished serial run."""
    cores = region_stats(m)
    return assemble(m.costs.clock_hz, outputs, codes, cores, m.net.link_counts(),
                    sum(len(q) for q in m.mail.values()), m.barrier_log, m.trace, m.mesh)  # fmt: skip


def assemble(clock_hz: float, outputs: dict, codes: dict, cores: dict[Coord, CoreStats],
             links: dict, undelivered: int, barriers: list, trace: list | None, mesh) -> SimResult:  # fmt: skip
    """A :class:`SimResult` in canonical order (cores by gid, barriers by completion, trace
    events by start, core and content), whatever region produced each part."""
    order = sorted(cores, key=mesh.gid)
    events = None
    if trace is not None:
        events = sorted(trace, key=lambda e: (e[2], e[1], e[0], e[3], sorted(e[4].items())))
        events = [(k, mesh.coord_of_gid(g), s, d, a) for k, g, s, d, a in events]
    return SimResult(
        cycles=max((s.finish for s in cores.values()), default=0),
        clock_hz=clock_hz,
        outputs=outputs,
        output_codes=codes,
        cores={k: cores[k] for k in order},
        link_bytes=noc.link_report(mesh, links),
        undelivered=undelivered,
        trace=events,
        barriers=tuple(b[1:] for b in sorted(barriers)),
    )
