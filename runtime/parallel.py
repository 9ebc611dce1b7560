"""Parallel simulation: regions of chips in worker processes (or Ray actors), conservatively
synchronised in time windows.

Partition
    The chips are cut into ``workers`` contiguous ranges of chip indices (``chip_y * chips_w +
    chip_x``) holding about equal numbers of running cores; each range is a *region*, simulated by
    a :class:`RegionWorker` with the serial scheduler of :mod:`d1c.runtime.sim` on a machine that
    holds only its chips (:mod:`d1c.runtime.machine`).

Windows (conservative synchronisation)
    Anything that passes from one chip to another — a flight crossing a chip edge, a DMA request
    or acknowledgement, a semaphore signal, a barrier notification or release — arrives at least
    ``L = noc.hop_latency_cycles + die-to-die latency`` cycles after the instruction or event that
    sent it (:meth:`d1c.runtime.noc.Network.lookahead`). With ``t0`` the earliest time anything is
    pending in any region, every region processes its heap up to ``t0 + L`` (exclusive); events
    for other regions' chips produced meanwhile are due at ``t0 + L`` or later, so they are
    exchanged at the window's end and pushed into their regions' heaps before those process
    anything at that time. Every region processes the events of its chips in the canonical key
    order of a serial run, so outputs, cycles, counters, traces and faults are identical for any
    number of workers (tests/runtime/test_parallel.py checks it on random programs).

Data
    Inputs are packed once by the coordinator (with the program's host code when given) into a
    staging machine; each region receives the HBM pages and the SRAM bytes of its cores. At the
    end each region returns the bytes it owns of every output placement (SRAM of its cores, HBM
    bytes served by its DIPs), which are unpacked from a merged machine.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import pickle
from dataclasses import dataclass

import numpy as np

from d1c.isa.d1x import D1xProgram, empty, window
from d1c.isa.errors import D1cError, SimulationError
from d1c.isa.tiles import DIP_SHIFT, ELEM_BYTES, STRIPE_BYTES, STRIPED
from d1c.progress import progress
from d1c.runtime import sim, symbols
from d1c.runtime.load import _coords
from d1c.runtime.machine import INF, Machine
from d1c.runtime.result import SimResult
from d1c.runtime.timing import costs_of
from d1c.target import Target
from d1c.target.mesh import Mesh


def partition(prog: D1xProgram, tgt: Target, workers: int) -> list[frozenset[int]]:
    """Contiguous ranges of chip indices with about equal numbers of running cores (at most
    ``workers`` ranges, none without running cores unless every chip lacks them)."""
    mesh = Mesh.of(tgt)
    nchips = mesh.chips_w * mesh.chips_h
    probe = Machine(tgt, costs_of(tgt), full=False, chips=frozenset())
    per_chip = [0] * nchips
    seen: set[int] = set()
    for sec in prog.code:
        for r in sec.cores:
            for k in _coords(probe, r, f"code section {sec.name!r}"):
                gid = mesh.gid(k)
                if gid not in seen:
                    seen.add(gid)
                    per_chip[k[1] * mesh.chips_w + k[0]] += 1
    total = sum(per_chip)
    n = max(1, min(workers, sum(1 for v in per_chip if v)))
    cuts, acc, want = [], 0, 1
    for chip, v in enumerate(per_chip):
        acc += v
        if want < n and acc * n >= want * total and chip < nchips - 1:
            cuts.append(chip + 1)
            want += 1
    bounds = [0, *cuts, nchips]
    return [frozenset(range(a, b)) for a, b in itertools.pairwise(bounds) if a < b]


@dataclass
class Options:
    timing_only: bool
    trace: bool
    max_cycles: int | None


class RegionWorker:
    """One region of a parallel run: a machine holding ``chips`` with the program loaded and the
    inputs' bytes of its cores stored; :meth:`step` runs one window."""

    def __init__(self, prog: D1xProgram, tgt: Target, chips: frozenset[int], image: tuple,
                 opts: Options) -> None:  # fmt: skip
        self.prog, self.chips = prog, chips
        self.m = sim.new_machine(prog, tgt, chips, timing_only=opts.timing_only,
                                 trace=opts.trace, max_cycles=opts.max_cycles)  # fmt: skip
        pages, srams = image
        self.m.hbm.pages.update({p: np.array(v) for p, v in pages.items()})
        for coord, spans in srams.items():
            mem = self.m.core(coord).mem
            for addr, data in spans:
                mem[addr : addr + len(data)] = np.frombuffer(data, np.uint8)
        sim.start(self.m)

    def next_time(self) -> float:
        """The earliest cycle of anything pending in the region (INF: nothing)."""
        heap = self.m.heap
        return heap[0][0] // (2 * self.m.sites) if heap else INF

    def step(self, end: float, incoming: list) -> tuple[list, float, tuple | None, int]:
        """Push the events of ``incoming`` and run up to cycle ``end``; returns (events for other
        regions as (chip, entry), the next pending cycle, the earliest fault, barriers done)."""
        m = self.m
        for _, entry in incoming:
            m.heap.append(entry)
        if incoming:
            import heapq

            heapq.heapify(m.heap)
        m.horizon = m.heap[0][0] if m.heap else INF
        with sim.no_gc():  # in a worker process (the coordinator's call holds it off already)
            sim.run(m, end)
        out, m.outbox = m.outbox, []
        fault = min(m.faults) if m.faults else None
        return out, self.next_time(), fault, len(m.barrier_log)

    def finish(self) -> dict:
        """Everything the coordinator merges: counters, links, barriers, trace, failures,
        blocked cores and the output bytes this region owns."""
        m = self.m
        sim.land_incoming(m)
        views = {c.gid: CoreView.of(c) for c in m.cores.values() if c.code is not None}
        return {
            "stats": sim.region_stats(m),
            "links": m.net.link_counts(),
            "undelivered": sum(len(q) for q in m.mail.values()),
            "barriers": list(m.barrier_log),
            "trace": m.trace,
            "failure": sim.first_failure(m),
            "stuck": [c.gid for c in sim.stuck(m)],
            "views": views,
            "heard": sim.heard(m),
            "outputs": _owned_outputs(m, self.prog) if m.full else [],
        }


@dataclass
class CoreView:
    """What a deadlock report needs of a core from another region."""

    gid: int
    name: str
    pc: int
    now: int
    wait: tuple | None
    sems: list
    halted: bool
    m: object = None

    @staticmethod
    def of(c) -> CoreView:
        return CoreView(c.gid, c.name, c.pc, c.now, c.wait, list(c.sems), c.halted)


def _dips_here(m: Machine) -> set[int]:
    return {d for d, p in enumerate(m.dip_pos) if m.local(m.chip_of(p))}


def _owned_outputs(m: Machine, prog: D1xProgram) -> list:
    """(symbol, placement, first byte, bytes, mask or None) of the output bytes this region
    holds: SRAM of its cores, HBM bytes served by its DIPs."""
    dips, out = _dips_here(m), []
    for si, sym in enumerate(prog.symbols):
        if sym.role not in symbols.OUTPUT_ROLES:
            continue
        for pi, p in enumerate(sym.placements):
            lo, hi = window(p, tuple(sym.shape), ELEM_BYTES[sym.fmt], sym.name)
            if empty(p):
                continue
            if p.space == "sram":
                coord = tuple(p.core)
                if m.mesh.enabled(coord) and m.local(m.chip_of(m.mesh.pos(coord))):
                    out.append((si, pi, p.addr + lo, bytes(m.core(coord).mem[p.addr + lo : p.addr + hi]), None))  # fmt: skip
                continue
            mask = _hbm_mask(p.addr + lo, hi - lo, len(m.dip_pos), dips)
            if mask is None or mask.any():
                out.append((si, pi, p.addr + lo, bytes(m.hbm.read(p.addr + lo, hi - lo)), mask))
    return out


def _hbm_mask(addr: int, n: int, ndips: int, dips: set[int]) -> np.ndarray | None:
    """Which of ``n`` HBM bytes at ``addr`` the DIPs ``dips`` serve (None: all)."""
    w = addr >> DIP_SHIFT
    if w != STRIPED:
        return None if w in dips else np.zeros(n, bool)
    off = (addr & ((1 << DIP_SHIFT) - 1)) + np.arange(n, dtype=np.int64)
    return np.isin((off // STRIPE_BYTES) % ndips, sorted(dips))


# ---------------------------------------------------------------- backends
class _Process:
    """A RegionWorker in a child process, driven over a pipe."""

    def __init__(self, ctx, args: tuple) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, args), daemon=True)
        self.proc.start()
        child.close()

    def call(self, name: str, *args):
        self.conn.send((name, args))

    def result(self):
        ok, value = self.conn.recv()
        if not ok:
            raise value
        return value

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()


def _serve(conn, args: tuple) -> None:
    """The loop of a worker process: build the RegionWorker, then answer calls until None."""
    try:
        worker = RegionWorker(*args)
        conn.send((True, worker.next_time()))
    except D1cError as err:
        conn.send((False, err))
        return
    while (msg := conn.recv()) is not None:
        name, call_args = msg
        try:
            conn.send((True, getattr(worker, name)(*call_args)))
        except D1cError as err:
            conn.send((False, err))


class ProcessBackend:
    """Regions in local worker processes (fork where available: the program is inherited)."""

    def __init__(self, args: list[tuple]) -> None:
        method = "fork" if "fork" in mp.get_all_start_methods() and os.name == "posix" else "spawn"
        ctx = mp.get_context(method)
        self.workers = [_Process(ctx, a) for a in args]
        self.first = [w.result() for w in self.workers]

    def step(self, end: float, incoming: list[list]) -> list:
        for w, inc in zip(self.workers, incoming, strict=True):
            w.call("step", end, inc)
        return [w.result() for w in self.workers]

    def finish(self) -> list[dict]:
        for w in self.workers:
            w.call("finish")
        return [w.result() for w in self.workers]

    def close(self) -> None:
        for w in self.workers:
            w.close()


# ---------------------------------------------------------------- coordinator
def simulate_parallel(prog: D1xProgram, tgt: Target, inputs: dict | None, io, workers: int,
                      ray: str | bool | None, opts: dict) -> SimResult | None:  # fmt: skip
    """:func:`d1c.runtime.sim.simulate` over regions (module docstring); None when the program
    has fewer than two regions and no Ray run was asked for (the caller runs it serially).

    A target whose chip-edge latency is 0 cycles has no lookahead: it runs as one region."""
    o = Options(**opts)
    if ray and workers < 2:
        from d1c.runtime.ray_backend import cluster_cpus

        workers = cluster_cpus(ray)  # one region per CPU of the cluster
    regions = partition(prog, tgt, workers)
    if Machine(tgt, costs_of(tgt), False, frozenset()).net.lookahead() < 1:
        regions = [frozenset(range(tgt.chips[0] * tgt.chips[1]))]
    if len(regions) < 2 and not ray:
        return None
    staging = _stage(prog, tgt, inputs, io, o)
    args = [(prog, tgt, chips, _image(staging, prog, chips), o) for chips in regions]
    if ray:
        from d1c.runtime.ray_backend import RayBackend

        backend = RayBackend(args, ray)
    else:
        backend = ProcessBackend(args)
    try:
        parts = _drive(backend, regions, staging, prog)
    finally:
        backend.close()
    return _merge(parts, staging, prog, io)


def _drive(backend, regions: list[frozenset[int]], staging: Machine, prog: D1xProgram) -> list:
    owner = {chip: i for i, chips in enumerate(regions) for chip in chips}
    lookahead = staging.net.lookahead()
    nexts, pending = list(backend.first), []
    kernels = dict(prog.meta).get("kernels")
    with progress("simulate", int(kernels) if kernels else None) as bar:
        done = 0
        while True:
            due = [e[0] // (2 * staging.sites) for _, e in pending]
            start = min([*nexts, *due], default=INF)
            if start == INF:
                break
            incoming: list[list] = [[] for _ in regions]
            for chip, entry in pending:
                incoming[owner[chip]].append((chip, entry))
            results = backend.step(start + lookahead, incoming)
            pending = [e for out, _, _, _ in results for e in out]
            nexts = [r[1] for r in results]
            barriers = sum(r[3] for r in results)
            if bar is not None and barriers > done:
                bar.update(barriers - done)
                done = barriers
            if any(r[2] is not None for r in results):
                break
    return backend.finish()


def _stage(prog: D1xProgram, tgt: Target, inputs: dict | None, io, o: Options) -> Machine:
    """A machine with no chips of its own, holding the program's HBM images and the packed
    inputs (checked like a serial run's)."""
    m = Machine(tgt, costs_of(tgt), full=not o.timing_only, chips=frozenset())
    for img in prog.hbm:
        m.hbm.check(img.addr, len(img.data), "HBM image")
        m.hbm.write(img.addr, np.frombuffer(img.data, np.uint8))
    symbols.load_inputs(m, prog, inputs, io)
    return m


def _image(staging: Machine, prog: D1xProgram, chips: frozenset[int]) -> tuple:
    """(HBM pages, per core the bytes of its SRAM input placements) for a region."""
    srams: dict = {}
    for sym in prog.symbols:
        if sym.role not in symbols.INPUT_ROLES or not staging.full:
            continue
        for p in sym.placements:
            if (
                p.space != "sram"
                or empty(p)
                or staging.mesh.gid(tuple(p.core)) not in staging.cores
            ):
                continue
            c = staging.core(tuple(p.core))
            if c.chip in chips:
                lo, hi = window(p, tuple(sym.shape), ELEM_BYTES[sym.fmt], sym.name)
                data = bytes(c.mem[p.addr + lo : p.addr + hi])
                srams.setdefault(c.coord, []).append((p.addr + lo, data))
    return dict(staging.hbm.pages), srams


def _merge(parts: list[dict], staging: Machine, prog: D1xProgram, io) -> SimResult:
    fails = [p["failure"] for p in parts if p["failure"] is not None]
    if fails:
        raise SimulationError(min(fails)[1])
    views = {g: v for p in parts for g, v in p["views"].items()}
    stuck = sorted(g for p in parts for g in p["stuck"])
    if stuck:
        for v in views.values():
            v.m = staging
        heard = {b: n for p in parts for b, n in p["heard"].items()}
        raise sim.deadlock([views[g] for g in stuck], views.get, heard)
    outputs, codes = {}, {}
    if staging.full:
        merged = Machine(staging.target, staging.costs, True, frozenset())
        _fill(merged, parts, prog)
        outputs, codes = symbols.read_outputs(merged, prog, io)
    links: dict[int, int] = {}
    for p in parts:
        for k, v in p["links"].items():
            links[k] = links.get(k, 0) + v
    stats = {k: v for p in parts for k, v in p["stats"].items()}
    trace = None if parts[0]["trace"] is None else [e for p in parts for e in p["trace"]]
    barriers = [b for p in parts for b in p["barriers"]]
    return sim.assemble(staging.costs.clock_hz, outputs, codes, stats, links,
                        sum(p["undelivered"] for p in parts), barriers, trace, staging.mesh)  # fmt: skip


def _fill(merged: Machine, parts: list[dict], prog: D1xProgram) -> None:
    """Write every region's output bytes into ``merged`` (HBM bytes only where owned)."""
    for p in parts:
        for si, pi, addr, data, mask in p["outputs"]:
            pl = prog.symbols[si].placements[pi]
            buf = np.frombuffer(data, np.uint8)
            if pl.space == "sram":
                merged.core(tuple(pl.core)).mem[addr : addr + len(buf)] = buf
                continue
            if mask is not None:
                buf = np.where(mask, buf, merged.hbm.read(addr, len(buf)))
            merged.hbm.write(addr, buf)


def picklable(obj: object) -> bool:
    """Whether ``obj`` survives pickling (spawned workers and Ray need it)."""
    try:
        pickle.dumps(obj)
    except (pickle.PicklingError, TypeError, AttributeError):
        return False
    return True
