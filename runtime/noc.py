"""The network on chip: routes, link reservations and message timing.

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
    has a busy-until time; messages reserve them in the order the scheduler issues them (which
    is simulated-time order, :mod:`d1c.runtime.sim`).

Cut-through timing of a message of B bytes entering link i with its head at time h:
    ``s = max(h, free_i, free_edge)``; the tail leaves at
    ``T_i = max(s + ceil(B/bw_i), s + ceil(B/edge_bw), T_{i-1} + lat_{i-1})``; ``free_i = T_i``; the head reaches the next node at ``s + lat_i`` and the tail at
    ``T_i + lat_i``, which at the last link is the arrival time. Uncontended over n equal links
    this is ``t + n*lat + ceil(B/bw)``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

from d1c.isa.errors import SimulationError
from d1c.runtime.timing import Costs, Rate
from d1c.target.mesh import DIR_NAMES, DIRS, Mesh, Pos, dim_clear, latency, no_route, route_path

Hop = tuple[int, Rate, int, tuple | None, Rate | None]
"""(link id, link bandwidth, latency, shared edge key or None, edge bandwidth) of one link."""


class Network:
    """Routes, reservations and byte counters of the whole mesh."""

    def __init__(self, mesh: Mesh, costs: Costs) -> None:
        self.mesh, self.costs = mesh, costs
        self.free: dict[object, int] = defaultdict(int)
        self.link_bytes: dict[int, int] = defaultdict(int)
        self.edge_bytes: dict[object, int] = defaultdict(int)
        self.routes: dict[tuple[Pos, Pos], tuple[Hop, ...]] = {}

    # ------------------------------------------------------------ routing
    def route(self, src: Pos, dst: Pos) -> tuple[Hop, ...]:
        """The hops from ``src`` to ``dst`` along :func:`d1c.target.mesh.route_path` (cached)."""
        key = (src, dst)
        hops = self.routes.get(key)
        if hops is None:
            nodes = route_path(self.mesh, src, dst)
            if nodes is None:
                raise SimulationError(no_route(src, dst))
            hops = self.routes[key] = tuple(self._hop(a, b) for a, b in itertools.pairwise(nodes))
        return hops

    def latency(self, src: Pos, dst: Pos) -> int:
        """Latency of a zero-byte notification (no reservation): the sum of the hop latencies."""
        if dim_clear(self.mesh, src, dst, 0) or dim_clear(self.mesh, src, dst, 1):
            return latency(self.mesh, src, dst)  # a dimension-order route: no search
        return sum(h[2] for h in self.route(src, dst))

    def _hop(self, a: Pos, b: Pos) -> Hop:
        m, c = self.mesh, self.costs
        d = DIRS.index((b[0] - a[0], b[1] - a[1]))
        link = (a[1] * m.width + a[0]) * 4 + d
        chip_a = (a[0] // m.grid_w, a[1] // m.grid_h)
        chip_b = (b[0] // m.grid_w, b[1] // m.grid_h)
        if chip_a == chip_b:
            return (link, c.link, c.hop, None, None)
        tx, ty = c.tile_chips
        off_tile = (chip_a[0] // tx, chip_a[1] // ty) != (chip_b[0] // tx, chip_b[1] // ty)
        edge_rate = c.off_tile if off_tile else c.edge
        return (link, c.link, c.hop + c.d2d, ("edge", chip_a, d), edge_rate)

    # ------------------------------------------------------------ timing
    def _advance(self, head: int, tail: int | None, hops, nbytes: int) -> tuple[int, int]:
        """Move a message over ``hops``; returns (head, tail) arrival at the far end."""
        free = self.free
        for link, rate, lat, edge, edge_rate in hops:
            s = max(head, free[link])
            t = rate.cycles(nbytes)
            if edge is not None:
                s = max(s, free[edge])
                busy = edge_rate.cycles(nbytes)
                free[edge] = s + busy
                t = max(t, busy)
                self.edge_bytes[edge] += nbytes
            t += s
            if tail is not None and tail > t:
                t = tail
            free[link] = t
            head, tail = s + lat, t + lat
            self.link_bytes[link] += nbytes
        return head, head if tail is None else tail

    def send(self, src: Pos, dst: Pos, nbytes: int, t0: int) -> int:
        """Arrival time of a message sent at ``t0`` (reserving the links it uses)."""
        return self._advance(t0, None, self.route(src, dst), nbytes)[1]

    def multicast(self, src: Pos, dsts: list[Pos], nbytes: int, t0: int) -> list[int]:
        """Arrival times at each of ``dsts`` (all on one mesh row or column).

        The message goes to the destination nearest the sender, then hop by hop outwards along
        the segment in both directions, so each link of the segment carries it once.
        """
        near = min(range(len(dsts)), key=lambda i: (_dist(src, dsts[i]), i))
        head, tail = self._advance(t0, None, self.route(src, dsts[near]), nbytes)
        out = [0] * len(dsts)
        out[near] = tail
        for side in (range(near - 1, -1, -1), range(near + 1, len(dsts))):
            h, t, at = head, tail, dsts[near]
            for i in side:
                h, t = self._advance(h, t, self.route(at, dsts[i]), nbytes)
                out[i], at = t, dsts[i]
        return out

    def report(self) -> dict[tuple[int, int, str], int]:
        """Bytes carried per link, keyed by (gx, gy, direction) of the sending end, sorted."""
        w = self.mesh.width
        out = {}
        for link in sorted(self.link_bytes):
            node, d = divmod(link, 4)
            gy, gx = divmod(node, w)
            out[(gx, gy, DIR_NAMES[d])] = self.link_bytes[link]
        return out


def _dist(a: Pos, b: Pos) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])
