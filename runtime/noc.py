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

import itertools
from collections import defaultdict
from collections.abc import Callable

from d1c.isa.errors import SimulationError
from d1c.runtime.timing import Costs, Rate
from d1c.target.mesh import DIR_NAMES, DIRS, Mesh, Pos, dim_clear, latency, no_route, route_path

Hop = tuple[int, int, int | None, Rate | None]
"""(link id, latency, shared chip-edge id or None, edge bandwidth) of one link."""

_DIR = {d: i for i, d in enumerate(DIRS)}

ARRIVALS: dict[str, Callable[..., None]] = {}
"""Flight kind -> ``arrive(machine, flight, head, tail)`` at ``flight.way[flight.leg]``."""


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
    """Routes, reservations and byte counters of the links a region owns."""

    def __init__(self, mesh: Mesh, costs: Costs) -> None:
        self.mesh, self.costs = mesh, costs
        self.free: dict[int, int] = defaultdict(int)
        self.link_bytes: dict[int, int] = defaultdict(int)
        self.edge_bytes: dict[int, int] = defaultdict(int)
        self.routes: dict[tuple[Pos, Pos], tuple[tuple[Hop, ...], tuple[int, ...]]] = {}

    # ------------------------------------------------------------ routing
    def hops(self, src: Pos, dst: Pos) -> tuple[tuple[Hop, ...], tuple[int, ...]]:
        """The hops from ``src`` to ``dst`` along :func:`d1c.target.mesh.route_path` and the chip
        of every node of the route (cached)."""
        key = (src, dst)
        got = self.routes.get(key)
        if got is None:
            got = self.routes[key] = self._route(src, dst)
        return got

    def _route(self, src: Pos, dst: Pos) -> tuple[tuple[Hop, ...], tuple[int, ...]]:
        nodes = route_path(self.mesh, src, dst)
        if nodes is None:
            raise SimulationError(no_route(src, dst))
        gw, gh, cw, w = self.mesh.grid_w, self.mesh.grid_h, self.mesh.chips_w, self.mesh.width
        chips = tuple((y // gh) * cw + x // gw for x, y in nodes)
        hop, hops = self.costs.hop, []
        for i, ((ax, ay), (bx, by)) in enumerate(itertools.pairwise(nodes)):
            if chips[i] == chips[i + 1]:
                hops.append(((ay * w + ax) * 4 + _DIR[(bx - ax, by - ay)], hop, None, None))
            else:
                hops.append(self._hop((ax, ay), (bx, by)))
        return tuple(hops), chips

    def chip_of(self, p: Pos) -> int:
        """The chip index (``chip_y * chips_w + chip_x``) of global position ``p``."""
        return (p[1] // self.mesh.grid_h) * self.mesh.chips_w + p[0] // self.mesh.grid_w

    def latency(self, src: Pos, dst: Pos) -> int:
        """Latency of a zero-byte notification (no reservation): the sum of the hop latencies."""
        if dim_clear(self.mesh, src, dst, 0) or dim_clear(self.mesh, src, dst, 1):
            return latency(self.mesh, src, dst)  # a dimension-order route: no search
        return sum(h[1] for h in self.hops(src, dst)[0])

    def lookahead(self) -> int:
        """The smallest latency of anything that crosses a chip edge: one hop plus the die-to-die
        latency (a notification between chips travels at least that)."""
        return self.costs.hop + self.costs.d2d

    def _hop(self, a: Pos, b: Pos) -> Hop:
        m, c = self.mesh, self.costs
        d = DIRS.index((b[0] - a[0], b[1] - a[1]))
        link = (a[1] * m.width + a[0]) * 4 + d
        chip_a, chip_b = self.chip_of(a), self.chip_of(b)
        if chip_a == chip_b:
            return (link, c.hop, None, None)
        tx, ty = c.tile_chips
        ca, cb = divmod(chip_a, m.chips_w)[::-1], divmod(chip_b, m.chips_w)[::-1]
        off_tile = (ca[0] // tx, ca[1] // ty) != (cb[0] // tx, cb[1] // ty)
        return (link, c.hop + c.d2d, -(chip_a * 4 + d + 1), c.off_tile if off_tile else c.edge)

    # ------------------------------------------------------------ flights
    def fly(self, m, fl: Flight) -> None:
        """Move ``fl`` over the links of the chip its head is on; at a node of another chip hand
        it over (an event at the head's arrival there), at a waypoint call its arrival."""
        free, nbytes, costs = self.free, fl.nbytes, self.costs
        busy = costs.link.cycles(nbytes)
        head, tail, i = fl.head, fl.tail, fl.hop
        while True:
            hops, chips = self.hops(fl.way[fl.leg], fl.way[fl.leg + 1])
            here = chips[i]
            while i < len(hops):
                link, lat, edge, edge_rate = hops[i]
                s = free[link]
                if head > s:
                    s = head
                t = busy
                if edge is not None:
                    if free[edge] > s:
                        s = free[edge]
                    e = edge_rate.cycles(nbytes)
                    free[edge] = s + e
                    if e > t:
                        t = e
                    self.edge_bytes[edge] += nbytes
                t += s
                if tail > t:
                    t = tail
                free[link] = t
                self.link_bytes[link] += nbytes
                head, tail, i = s + lat, t + lat, i + 1
                if chips[i] != here:
                    fl.head, fl.tail, fl.hop, fl.hands = head, tail, i, fl.hands + 1
                    gid, seq, branch = fl.origin
                    m.post(head, (gid, seq, (branch, fl.hands)), chips[i], "fly", fl)
                    return
            fl.head, fl.tail, fl.leg, fl.hop = head, tail, fl.leg + 1, 0
            ARRIVALS[fl.kind](m, fl)
            if fl.leg == len(fl.way) - 1:
                return
            i = 0


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
