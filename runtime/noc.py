"""The network on chip: routes, link reservations and flights of messages and DMA streams.

Routing
    Routes run over global mesh positions, so a route may cross chip edges. They are the
    compiler's routes (:func:`d1c.target.mesh.route_path`: dimension order XY, else YX, else the
    lowest-latency detour around disabled sites), so a route ``route`` estimates is the route a
    message takes.

Links and contention
    A link is one direction of the connection between two neighbouring cores, a resource of
    ``noc.link_bytes_per_cycle`` with latency ``noc.hop_latency_cycles``. A link that crosses a
    chip edge also draws on the edge's shared bandwidth (``edge.bytes_per_cycle``, or
    ``system.off_tile_bytes_per_cycle`` between tiles; one resource per chip edge and direction,
    busy for ``ceil(B / edge_bw)`` per message) and adds the die-to-die latency. Every resource
    has a busy-until time and belongs to the chip of its sending end.

Cut-through timing of B bytes entering link i with its head at time h:
    ``s = max(h, free_i, free_edge)``; the tail leaves at
    ``T_i = max(s + ceil(B/bw_i), s + ceil(B/edge_bw), T_{i-1} + lat_{i-1})``; ``free_i = T_i``;
    the head reaches the next node at ``s + lat_i`` and the tail at ``T_i + lat_i``, which at the
    last link is the arrival time. Uncontended over n equal links this is
    ``t + n*lat + ceil(B/bw)``. A stream whose tail is produced later than its head (a DMA read
    out of a DIP at the DIP's rate) enters link 0 with that tail time as ``T_{-1} + lat_{-1}``.

Flights
    A message (or DMA stream) is a *flight* over a list of waypoints (sender and destination; for
    a multicast, each destination of one side of the segment in turn). It reserves the links of
    one chip at a time: the hops leaving nodes of the chip where its head is are reserved when
    the flight is processed there; when the head reaches a node of another chip, the flight is
    posted to that chip as an event at the head's arrival time (at least one chip-edge latency
    later) and continues there. So a link is reserved in the order flights reach its chip —
    senders on the chip in the order they issue, flights from other chips at the time their head
    crosses the edge — a rule that does not depend on how chips are grouped into regions
    (:mod:`d1c.runtime.machine`). At each waypoint the flight's kind decides what happens
    (:data:`ARRIVALS`: a message enters a mailbox, a DMA stream completes or reaches its DIP).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import numpy as np

from d1c.isa.errors import SimulationError
from d1c.runtime import native_noc
from d1c.runtime.timing import Costs, Rate
from d1c.target.mesh import DIR_NAMES, Mesh, Pos, dim_clear, latency, no_route, route_path

ARRIVALS: dict[str, Callable[..., None]] = {}
"""Flight kind -> ``arrive(machine, flight, head, tail)`` at ``flight.way[flight.leg]``."""


_DIR_OF_STEP = np.array([-1, 3, -1, 1, -1, 0, -1, 2, -1], np.int64)
"""Direction index (the order of :data:`d1c.target.mesh.DIRS`) of a step ``(dx, dy)`` at
``dx + 3 * dy + 4``."""


class Flight:
    """A message or DMA stream in flight: its ``kind``, waypoints, the leg and hop its head is
    at, head and tail times, bytes, ``origin`` = (gid, seq, branch) of the instruction that
    started it and a count of its hand-offs (for event keys), and what its kind needs."""

    __slots__ = (
        "hands",
        "head",
        "hop",
        "kind",
        "leg",
        "nbytes",
        "origin",
        "payload",
        "tail",
        "way",
    )

    def __init__(self, kind: str, way: tuple[Pos, ...], head: int, tail: int, nbytes: int,
                 origin: tuple[int, int, int], payload: tuple) -> None:  # fmt: skip
        self.kind, self.way, self.leg, self.hop = kind, way, 0, 0
        self.head, self.tail, self.nbytes = head, tail, nbytes
        self.origin, self.hands, self.payload = origin, 0, payload

    def __reduce__(self):  # compact pickling for hand-offs between worker processes
        state = (self.leg, self.hop, self.hands)
        args = (self.kind, self.way, self.head, self.tail, self.nbytes, self.origin, self.payload)
        return (_rebuild, (args, state))

    @property
    def arrival(self) -> int:
        """When the tail reached the current waypoint."""
        return max(self.head, self.tail)


def _rebuild(args: tuple, state: tuple) -> Flight:
    fl = Flight(*args)
    fl.leg, fl.hop, fl.hands = state
    return fl


class Network:
    """Routes, reservations and byte counters of the links a region owns.

    ``free`` and ``carried`` are int64 arrays indexed by link id (``(gy * width + gx) * 4 +
    dir``) and then, after the links, by chip edge (``chip * 4 + dir``): busy-until times and
    bytes carried. A route is cached as an int32 hop table (:data:`~d1c.runtime.native_noc.
    HOP_FIELDS`) and the chip of each of its nodes; :mod:`d1c.runtime.native_noc` moves flights
    over it (natively when llvmlite works)."""

    def __init__(self, mesh: Mesh, costs: Costs) -> None:
        self.mesh, self.costs = mesh, costs
        self.links = mesh.width * mesh.height * 4
        size = self.links + 4 * mesh.chips_w * mesh.chips_h
        self.free = np.zeros(size, np.int64)
        self.carried = np.zeros(size, np.int64)
        self.routes: dict[tuple[Pos, Pos], tuple] = {}
        self.latencies: dict[tuple[Pos, Pos], int] = {}
        self.io = (ctypes.c_int64 * 2)()
        self.kernel = native_noc.native()
        self.addrs = (self.free.ctypes.data, self.carried.ctypes.data, ctypes.addressof(self.io))

    # ------------------------------------------------------------ routing
    def hops(self, src: Pos, dst: Pos) -> tuple[np.ndarray, tuple[int, ...], int]:
        """The hop table from ``src`` to ``dst`` along :func:`d1c.target.mesh.route_path`, the
        chip of every node of the route, and the table's address (cached)."""
        key = (src, dst)
        got = self.routes.get(key)
        if got is None:
            table, chips = self._route(src, dst)
            got = self.routes[key] = (table, chips, table.ctypes.data)
        return got

    def _route(self, src: Pos, dst: Pos) -> tuple[np.ndarray, tuple[int, ...]]:
        nodes = route_path(self.mesh, src, dst)
        if nodes is None:
            raise SimulationError(no_route(src, dst))
        m = self.mesh
        xy = np.array(nodes, np.int64).reshape(-1, 2)
        x, y = xy[:, 0], xy[:, 1]
        chips = (y // m.grid_h) * m.chips_w + x // m.grid_w
        d = _DIR_OF_STEP[np.diff(x) + 3 * np.diff(y) + 4]
        table = np.empty((len(d), len(native_noc.HOP_FIELDS)), np.int32)
        table[:, 0] = (y[:-1] * m.width + x[:-1]) * 4 + d
        table[:, 1:5] = (self.costs.hop, -1, 1, 1)
        table[:, 5] = chips[1:]
        for i in np.flatnonzero(chips[:-1] != chips[1:]).tolist():
            edge, rate, lat = self._edge(int(chips[i]), int(chips[i + 1]), int(d[i]))
            table[i, 1:5] = (lat, edge, rate.num, rate.den)
        return table, tuple(chips.tolist())

    def chip_of(self, p: Pos) -> int:
        """The chip index (``chip_y * chips_w + chip_x``) of global position ``p``."""
        return (p[1] // self.mesh.grid_h) * self.mesh.chips_w + p[0] // self.mesh.grid_w

    def latency(self, src: Pos, dst: Pos) -> int:
        """Latency of a zero-byte notification (no reservation): the sum of the hop latencies."""
        key = (src, dst)
        got = self.latencies.get(key)
        if got is None:
            if dim_clear(self.mesh, src, dst, 0) or dim_clear(self.mesh, src, dst, 1):
                got = latency(self.mesh, src, dst)  # a dimension-order route: no search
            else:
                got = int(self.hops(src, dst)[0][:, 1].sum())
            self.latencies[key] = got
        return got

    def lookahead(self) -> int:
        """The smallest latency of anything that crosses a chip edge: one hop plus the die-to-die
        latency (a notification between chips travels at least that)."""
        return self.costs.hop + self.costs.d2d

    def _edge(self, chip_a: int, chip_b: int, d: int) -> tuple[int, Rate, int]:
        """(edge id, bandwidth, latency) of a hop from chip ``chip_a`` to ``chip_b``."""
        c, m = self.costs, self.mesh
        tx, ty = c.tile_chips
        (ay, ax), (by, bx) = divmod(chip_a, m.chips_w), divmod(chip_b, m.chips_w)
        off_tile = (ax // tx, ay // ty) != (bx // tx, by // ty)
        return self.links + chip_a * 4 + d, c.off_tile if off_tile else c.edge, c.hop + c.d2d

    # ------------------------------------------------------------ flights
    def fly(self, m, fl: Flight) -> None:
        """Move ``fl`` over the links of the chip its head is on; at a node of another chip hand
        it over (an event at the head's arrival there), at a waypoint call its arrival."""
        nbytes, io = fl.nbytes, self.io
        busy = self.costs.link.cycles(nbytes)
        io[0], io[1] = fl.head, fl.tail
        i = fl.hop
        while True:
            table, chips, addr = self.hops(fl.way[fl.leg], fl.way[fl.leg + 1])
            n, here = len(chips) - 1, chips[i]
            if i < n:
                i = self._move(table, addr, i, n, nbytes, busy, here)
                if chips[i] != here:
                    fl.head, fl.tail, fl.hop, fl.hands = io[0], io[1], i, fl.hands + 1
                    gid, seq, branch = fl.origin
                    m.post(io[0], (gid, seq, (branch, fl.hands)), chips[i], "fly", fl)
                    return
            fl.head, fl.tail, fl.leg, fl.hop = io[0], io[1], fl.leg + 1, 0
            ARRIVALS[fl.kind](m, fl)
            if fl.leg == len(fl.way) - 1:
                return
            io[0], io[1] = fl.head, fl.tail
            i = 0

    def _move(self, table, addr: int, i: int, n: int, nbytes: int, busy: int, here: int) -> int:
        if self.kernel is not None:
            free, carried, io = self.addrs
            return self.kernel(free, carried, addr, i, n, nbytes, busy, here, io)
        io = np.array([self.io[0], self.io[1]], np.int64)
        i = native_noc.fly_reference(self.free, self.carried, table, i, n, nbytes, busy, here, io)
        self.io[0], self.io[1] = int(io[0]), int(io[1])
        return i

    def link_counts(self) -> dict[int, int]:
        """Bytes carried per link id (links that carried any)."""
        used = np.flatnonzero(self.carried[: self.links])
        return dict(zip(used.tolist(), self.carried[used].tolist(), strict=True))


def link_report(mesh: Mesh, link_bytes: dict[int, int]) -> dict[tuple[int, int, str], int]:
    """Bytes carried per link, keyed by (gx, gy, direction) of the sending end, in link order."""
    out = {}
    for link in sorted(link_bytes):
        node, d = divmod(link, 4)
        gy, gx = divmod(node, mesh.width)
        out[(gx, gy, DIR_NAMES[d])] = link_bytes[link]
    return out


def resume(m, time: int, fl: Flight) -> None:
    """The ``fly`` event: a flight handed over to this chip continues here."""
    m.net.fly(m, fl)
