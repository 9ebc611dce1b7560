"""Machine state of one *region* of the mesh: its cores, links, DIPs, HBM, mailboxes and heap.

Regions are groups of whole chips. A serial run has one region holding every chip; a parallel run
(:mod:`d1c.runtime.parallel`) gives each worker a region. State belongs to exactly one chip — a
core's registers, SRAM and mailbox; the links and chip edges whose sending end is on the chip;
the DIPs attached to the chip and the HBM bytes they serve; the barrier controller — and it is
read and written only by work done on that chip, so a region never touches another's state.
Work that moves from chip to chip (a message crossing a chip edge, a DMA request travelling to
its DIP, a barrier notification) is an *event* posted to the other chip, at least one chip-edge
latency later (the lookahead of :mod:`d1c.runtime.parallel`).

The heap orders everything by canonical keys that do not depend on how chips are grouped:

- a core runnable at cycle ``t`` has key ``(2t + 1) * G + gid`` (one int; ``G`` = the number of
  core sites, so keys of distinct cores never collide);
- an event at cycle ``t`` has key ``(2t * G, origin gid, origin seq, sub)``: events come before
  cores at equal times, then by the core whose instruction started them, that core's count of
  such instructions, and the event's position in the chain (a tuple).

:attr:`Machine.horizon` is the smallest key in the heap (or the window end): a core performs an
instruction that acts on chip state only while its own key is below it (:mod:`d1c.runtime.sim`).

A :class:`CoreState` exists only for cores of the region the program touches (a code section, an
SRAM image, a parameter row, an input placement, an output read); each SRAM is a lazily
zero-filled anonymous mapping.
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
from d1c.target.mesh import Coord, Mesh, Pos, dip_attach, fmt_coord

INF = float("inf")
STALL_CAUSES = ("recv", "barrier", "sem", "dma")
NUM_TAGS = 16

HANDLERS: dict[str, Callable[..., None]] = {}
"""Event kind -> ``handler(machine, time, *args)``; modules register theirs with :func:`handler`."""


def handler(kind: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register an event handler under ``kind`` (the name travels with the event)."""

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        HANDLERS[kind] = fn
        return fn

    return register


class SramPool:
    """Zeroed core SRAMs carved from anonymous mappings of :attr:`SLAB` SRAMs each: the OS
    supplies zero pages only when they are touched (``np.zeros`` may memset recycled heap memory
    instead), and a program on a million cores needs a thousand mappings, not a million (Linux
    allows about 65,000 per process)."""

    SLAB = 1024

    def __init__(self, size: int) -> None:
        self.size, self.slab, self.used = size, np.zeros(0, np.uint8), self.SLAB

    def take(self) -> np.ndarray:
        """A fresh zeroed SRAM of ``size`` bytes."""
        if self.used == self.SLAB:
            self.slab = np.frombuffer(mmap.mmap(-1, self.size * self.SLAB), dtype=np.uint8)
            self.used = 0
        self.used += 1
        return self.slab[(self.used - 1) * self.size : self.used * self.size]


class CoreState:
    """Registers, clock, SRAM and counters of one core."""

    __slots__ = (
        "checked",
        "chip",
        "code",
        "coord",
        "copy_bytes",
        "copy_free",
        "count",
        "dma_bytes",
        "dma_done",
        "faulted",
        "fixed",
        "flags",
        "gid",
        "halted",
        "hwm",
        "hwm_log",
        "inbox",
        "incoming",
        "kept",
        "landed",
        "m",
        "macs",
        "mem",
        "mem32",
        "noc_rx",
        "noc_tx",
        "now",
        "passed",
        "pc",
        "pending",
        "pos",
        "section",
        "sems",
        "seq",
        "sram_rd",
        "sram_wr",
        "sregs",
        "srseed",
        "stall",
        "t",
        "tg",
        "transfers",
        "vops",
        "wait",
        "x",
    )  # fmt: skip

    def __init__(self, m: Machine, coord: Coord) -> None:
        self.coord, self.m = coord, m
        self.gid, self.pos = m.mesh.gid(coord), m.mesh.pos(coord)
        self.chip = m.chip_of(self.pos)
        self.code: list[tuple] | None = None
        self.section = None
        self.pc = self.now = self.srseed = self.seq = 0
        self.x = [0] * NUM_XREGS
        self.t = [TDesc()] * NUM_TREGS
        self.tg = [geom(TDesc())] * NUM_TREGS  # kept equal to [geom(d) for d in self.t]
        self.flags = Flags()
        self.sems = [0] * 16
        self.dma_done = [0] * NUM_TAGS  # latest completion of each tag's transfers
        self.pending = [0] * NUM_TAGS  # transfer parts in flight per tag
        self.landed: list[list] = [[] for _ in range(NUM_TAGS)]  # loaded bytes, until dma.wait
        self.transfers: dict[int, list] = {}  # transfer id -> [parts left, done, trace info]
        self.copy_free = 0  # when this core's SRAM-to-SRAM copies are done (FIFO)
        self.incoming: list = []  # remote SRAM writes that arrived, until they land
        self.wait: tuple | None = None
        self.passed = self.halted = self.faulted = False
        self.mem = m.srams.take()
        self.mem32 = self.mem.view("<u4")
        self.fixed: list[tuple[int, int]] = []  # disjoint spans of SRAM images and parameters
        self.sregs: dict[str, int] = {}
        self.count = self.macs = self.vops = self.sram_rd = self.sram_wr = 0
        self.noc_tx = self.noc_rx = self.dma_bytes = self.copy_bytes = self.hwm = 0
        self.hwm_log: list[tuple[int, int]] = []  # (cycle, new hwm), for the mailbox check
        self.inbox: list[Message] = []  # messages delivered here that may matter to the check
        self.checked = self.kept = 0  # the check covered arrivals before; messages it kept
        self.stall = dict.fromkeys(STALL_CAUSES, 0)

    @property
    def name(self) -> str:
        return fmt_coord(self.coord)

    def key(self) -> int:
        """The heap key of this core at its clock."""
        return (2 * self.now + 1) * self.m.sites + self.gid

    def raise_hwm(self, end: int) -> None:
        """Raise the SRAM high-water mark to ``end`` (the end of a tile it just used)."""
        self.hwm = end
        self.hwm_log.append((self.now, end))

    def fix(self, start: int, end: int) -> None:
        """Mark ``[start, end)`` (an SRAM image or the parameter row) as in use."""
        spans = sorted([*self.fixed, (start, end)])
        merged = [spans[0]]
        for a, b in spans[1:]:
            if a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self.fixed = merged

    def next_seq(self) -> int:
        """A fresh number for the events this core's current instruction starts."""
        self.seq += 1
        return self.seq


@dataclass(slots=True)
class Message:
    """A message in a mailbox (data is None in timing-only mode). ``taken`` is the cycle its
    recv took it (-1 while it waits)."""

    arrival: int
    nbytes: int
    fmt: str
    bias: int
    data: np.ndarray | None
    src: int = 0
    taken: int = -1


@dataclass
class Machine:
    """Everything the simulated program can change in one region, plus its heap.

    ``chips`` are the chip indices (``chip_y * chips_w + chip_x``) of the region (None: all).
    ``running`` holds the gid of every core of the whole program that has code, so a region can
    check a message's destination without that core's state.
    """

    target: Target
    costs: Costs
    full: bool
    chips: frozenset[int] | None = None
    mesh: Mesh = field(init=False)
    net: Network = field(init=False)
    hbm: Hbm = field(init=False)
    sites: int = field(init=False)
    srams: SramPool = field(init=False)
    cores: dict[int, CoreState] = field(default_factory=dict)
    running: set[int] = field(default_factory=set)
    mail: dict[tuple[int, int, int], deque] = field(default_factory=dict)
    barriers: dict[int, tuple[int, list]] = field(default_factory=dict)
    root: Pos = (0, 0)
    dip_pos: list[Pos] = field(default_factory=list)
    dip_free: list[int] = field(default_factory=list)
    heap: list = field(default_factory=list)
    horizon: float = INF
    end: float = INF
    outbox: list = field(default_factory=list)
    faults: list = field(default_factory=list)
    clock: int = 0
    limit: float = INF
    trace: list | None = None
    denorm: str = "ieee"
    cost_cache: dict = field(default_factory=dict)
    barrier_log: list[tuple[int, int, int, int]] = field(default_factory=list)
    progress: Progress | None = None
    marked: int = -1  # the highest mark id any core reached

    def __post_init__(self) -> None:
        self.mesh = Mesh.of(self.target)
        self.sites = self.mesh.chips_w * self.mesh.chips_h * self.mesh.grid_w * self.mesh.grid_h
        self.srams = SramPool(self.target.sram_bytes)
        self.net = Network(self.mesh, self.costs)
        dips = int(self.target.dip["count"])
        self.hbm = Hbm(dips, int(self.target.dip["hbm_bytes"]))
        self.dip_free = [0] * dips
        self.dip_pos = [dip_attach(self.target, d) for d in range(dips)]
        self.denorm = self.target.numerics.get("denorm", "ieee")

    def chip_of(self, p: Pos) -> int:
        """The chip index of global mesh position ``p``."""
        return (p[1] // self.mesh.grid_h) * self.mesh.chips_w + p[0] // self.mesh.grid_w

    def local(self, chip: int) -> bool:
        """True if ``chip`` belongs to this region."""
        return self.chips is None or chip in self.chips

    def core(self, coord: Coord) -> CoreState:
        """The state of ``coord``, created (with zeroed SRAM) on first touch."""
        gid = self.mesh.gid(coord)
        c = self.cores.get(gid)
        if c is None:
            c = self.cores[gid] = CoreState(self, tuple(coord))
        return c

    # ------------------------------------------------------------ the heap
    def push_core(self, c: CoreState) -> None:
        """Make ``c`` runnable at its clock."""
        key = (2 * c.now + 1) * self.sites + c.gid
        heapq.heappush(self.heap, (key, c))
        if key < self.horizon:
            self.horizon = key

    def post(self, time: int, origin: tuple, chip: int, kind: str, *args: object) -> None:
        """Run ``HANDLERS[kind](machine, time, *args)`` on ``chip`` at cycle ``time``.

        ``origin`` is ``(gid, seq, sub)``: the core whose instruction started the event, its
        instruction count (:meth:`CoreState.next_seq`) and the event's place in the chain.
        """
        entry = (2 * time * self.sites, *origin, kind, args)
        if not self.local(chip):
            self.outbox.append((chip, entry))
            return
        heapq.heappush(self.heap, entry)
        if entry[0] < self.horizon:
            self.horizon = entry[0]

    def fault(self, key: tuple, message: str) -> None:
        """Record a fault at heap key ``key``; the run goes on only up to it, so that an earlier
        one is still found (:mod:`d1c.runtime.sim`)."""
        self.faults.append((key, message))
        self.end = min(self.end, min(self.faults)[0][0] + 1)
        self.horizon = min(self.horizon, self.end)

    def wake(self, c: CoreState, time: int) -> None:
        """End ``c``'s wait at ``time``: its clock moves there and the gap counts as a stall."""
        cause = c.wait[0]
        c.wait = None
        self.stall(c, cause, time)
        self.push_core(c)

    def stall(self, c: CoreState, cause: str, time: int) -> None:
        """Move ``c``'s clock forward to ``time`` (if later), counting the gap as a ``cause`` stall
        (and a ``stall:<cause>`` trace event), so trace durations add up to the counters."""
        if time > c.now:
            if self.trace is not None:
                self.event("stall:" + cause, c, c.now, time - c.now)
            c.stall[cause] += time - c.now
            c.now = time

    def passed_barrier(self, time: int, bid: int, last_arrival: int, released: int) -> None:
        """Log a barrier completed at ``time`` (kernel boundaries for reports) and advance the
        progress bar."""
        self.barrier_log.append((time, bid, last_arrival, released))
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
