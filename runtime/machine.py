"""Machine state: the cores that run or hold something, DIP HBM, mailboxes and the event heap.

A :class:`CoreState` exists only for cores the program touches (a code section, an SRAM image, a
parameter row, an input placement, an output read), so a program on a few cores of ``dojo-tile``
allocates a few SRAMs, not 8,850; each SRAM is a lazily zero-filled anonymous mapping. The heap orders everything that happens between cores (see
:mod:`d1c.runtime.sim` for the scheduling rule); :attr:`Machine.horizon` is the earliest time in
it, which a core must not pass before it interacts with another core.
"""

from __future__ import annotations

import heapq
import mmap
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from d1c.isa.formats import Flags
from d1c.isa.spec import NUM_TREGS, NUM_XREGS
from d1c.isa.tiles import TDesc
from d1c.progress import Progress
from d1c.runtime.memory import Hbm, geom
from d1c.runtime.noc import Network
from d1c.runtime.timing import Costs
from d1c.target import Target
from d1c.target.mesh import Coord, Mesh, fmt_coord

INF = float("inf")
CORE_PRIO, EVENT_PRIO = 1, 0
STALL_CAUSES = ("recv", "barrier", "sem", "dma")


def new_sram(size: int) -> np.ndarray:
    """A zeroed SRAM of ``size`` bytes backed by an anonymous mapping, so the OS supplies zero pages
    only when they are touched (``np.zeros`` may memset recycled heap memory instead)."""
    return np.frombuffer(mmap.mmap(-1, size), dtype=np.uint8)


class CoreState:
    """Registers, clock, SRAM and counters of one core."""

    __slots__ = (
        "code",
        "coord",
        "copy_free",
        "count",
        "dma_bytes",
        "dma_done",
        "finish",
        "flags",
        "gid",
        "halted",
        "hwm",
        "m",
        "macs",
        "mem",
        "mem32",
        "noc_rx",
        "noc_tx",
        "now",
        "passed",
        "pc",
        "pos",
        "section",
        "sems",
        "sram_rd",
        "sram_wr",
        "sregs",
        "srseed",
        "stall",
        "t",
        "tg",
        "vops",
        "wait",
        "x",
    )  # fmt: skip

    def __init__(self, m: Machine, coord: Coord) -> None:
        self.coord, self.m = coord, m
        self.gid, self.pos = m.mesh.gid(coord), m.mesh.pos(coord)
        self.code: list[tuple] | None = None
        self.section = None
        self.pc = self.now = self.finish = self.srseed = 0
        self.x = [0] * NUM_XREGS
        self.t = [TDesc()] * NUM_TREGS
        self.tg = [geom(TDesc())] * NUM_TREGS  # kept equal to [geom(d) for d in self.t]
        self.flags = Flags()
        self.sems = [0] * 16
        self.dma_done = [0] * 16
        self.copy_free = 0  # when this core's SRAM-to-SRAM copies are done (FIFO)
        self.wait: tuple | None = None
        self.passed = self.halted = False
        self.mem = new_sram(m.target.sram_bytes)
        self.mem32 = self.mem.view("<u4")
        self.sregs: dict[str, int] = {}
        self.count = self.macs = self.vops = self.sram_rd = self.sram_wr = 0
        self.noc_tx = self.noc_rx = self.dma_bytes = self.hwm = 0
        self.stall = dict.fromkeys(STALL_CAUSES, 0)

    @property
    def name(self) -> str:
        return fmt_coord(self.coord)


@dataclass(slots=True)
class Message:
    """A message in flight or waiting in a mailbox (data is None in timing-only mode)."""

    arrival: int
    nbytes: int
    fmt: str
    bias: int
    data: np.ndarray | None


@dataclass
class Machine:
    """Everything the simulated program can change, plus the scheduler's heap."""

    target: Target
    costs: Costs
    full: bool
    mesh: Mesh = field(init=False)
    net: Network = field(init=False)
    hbm: Hbm = field(init=False)
    cores: dict[int, CoreState] = field(default_factory=dict)
    mail: dict[tuple[int, int, int], deque] = field(default_factory=dict)
    barriers: dict[int, tuple[int, list]] = field(default_factory=dict)
    dip_free: list[int] = field(default_factory=list)
    heap: list = field(default_factory=list)
    horizon: float = INF
    seq: int = 0
    limit: float = INF
    trace: list | None = None
    denorm: str = "ieee"
    cost_cache: dict = field(default_factory=dict)
    barrier_log: list[tuple[int, int, int]] = field(default_factory=list)
    progress: Progress | None = None
    marked: int = -1  # the highest mark id any core reached

    def __post_init__(self) -> None:
        self.mesh = Mesh.of(self.target)
        self.net = Network(self.mesh, self.costs)
        self.hbm = Hbm(int(self.target.dip["count"]), int(self.target.dip["hbm_bytes"]))
        self.dip_free = [0] * int(self.target.dip["count"])
        self.denorm = self.target.numerics.get("denorm", "ieee")

    def core(self, coord: Coord) -> CoreState:
        """The state of ``coord``, created (with zeroed SRAM) on first touch."""
        gid = self.mesh.gid(coord)
        c = self.cores.get(gid)
        if c is None:
            c = self.cores[gid] = CoreState(self, tuple(coord))
        return c

    def running(self, gid: int) -> CoreState | None:
        """The core ``gid`` if it runs a program, else None."""
        c = self.cores.get(gid)
        return c if c is not None and c.code is not None else None

    # ------------------------------------------------------------ the heap
    def push_core(self, c: CoreState, time: int) -> None:
        """Make ``c`` runnable at ``time`` (its clock is at most ``time``)."""
        heapq.heappush(self.heap, (time, CORE_PRIO, c.gid, c))
        self.horizon = min(self.horizon, time)

    def push_event(self, time: int, fn: Callable[[int], None]) -> None:
        """Run ``fn(time)`` when the simulation reaches ``time`` (before cores at that time)."""
        self.seq += 1
        heapq.heappush(self.heap, (time, EVENT_PRIO, self.seq, fn))
        self.horizon = min(self.horizon, time)

    def wake(self, c: CoreState, time: int) -> None:
        """End ``c``'s wait at ``time``: its clock moves there and the gap counts as a stall."""
        cause = c.wait[0]
        c.wait = None
        self.stall(c, cause, time)
        self.push_core(c, c.now)

    def stall(self, c: CoreState, cause: str, time: int) -> None:
        """Move ``c``'s clock forward to ``time`` (if later), counting the gap as a ``cause`` stall
        (and a ``stall:<cause>`` trace event), so trace durations add up to the counters."""
        if time > c.now:
            if self.trace is not None:
                self.event("stall:" + cause, c, c.now, time - c.now)
            c.stall[cause] += time - c.now
            c.now = time

    def passed_barrier(self, bid: int, last_arrival: int, released: int) -> None:
        """Log a barrier release (kernel boundaries for reports) and advance the progress bar."""
        self.barrier_log.append((bid, last_arrival, released))
        if self.progress is not None:
            self.progress.update(note=f"cycle {released:,}")

    def reached_mark(self, mark: int, now: int) -> None:
        """The first core to reach ``mark`` (the compiler marks each kernel) advances the
        progress bar."""
        if mark > self.marked:
            self.marked = mark
            if self.progress is not None:
                self.progress.update(note=f"cycle {now:,}")

    def event(self, kind: str, c: CoreState, start: int, dur: int, **args: object) -> None:
        """Record a trace event (only called when tracing)."""
        self.trace.append((kind, c.gid, start, dur, args))
