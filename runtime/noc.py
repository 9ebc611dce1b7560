"""The network on chip: routes, link reservations and message timing.

Routing (the route table)
    Routes run over global mesh positions, so a route may cross chip edges. The route of a
    (source, destination) pair is computed on first use and cached: dimension-order XY (all of
    the X distance first, then Y) when that path avoids disabled sites, else YX when that one
    does, else the lowest-latency path around them found by A* (neighbours tried in the order
    +x, -x, +y, -y, ties broken by insertion order), so every host picks the same detour.

    Detours minimise latency (an edge crossing costs its die-to-die latency), so a route around
    a disabled core stays on its chip when it can.

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

import bisect
import heapq
import itertools
from collections import defaultdict

from d1c.isa.errors import SimulationError
from d1c.runtime.mesh import Mesh
from d1c.runtime.timing import Costs, Rate

Pos = tuple[int, int]
DIRS = ((1, 0), (-1, 0), (0, 1), (0, -1))
DIR_NAMES = ("E", "W", "S", "N")
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
        self._hole_cache: dict[tuple[int, int], list[int]] = {}

    # ------------------------------------------------------------ routing
    def route(self, src: Pos, dst: Pos) -> tuple[Hop, ...]:
        """The hops from ``src`` to ``dst`` (cached)."""
        key = (src, dst)
        hops = self.routes.get(key)
        if hops is None:
            first = self._order(src, dst)
            nodes = self._astar(src, dst) if first is None else _dim_path(src, dst, first)
            hops = self.routes[key] = tuple(self._hop(a, b) for a, b in itertools.pairwise(nodes))
        return hops

    def latency(self, src: Pos, dst: Pos) -> int:
        """Latency of a zero-byte notification (no reservation): the sum of the hop latencies."""
        if self._order(src, dst) is None:
            return sum(h[2] for h in self.route(src, dst))
        m, c = self.mesh, self.costs
        chips = abs(src[0] // m.grid_w - dst[0] // m.grid_w) + abs(
            src[1] // m.grid_h - dst[1] // m.grid_h
        )
        return c.hop * (abs(src[0] - dst[0]) + abs(src[1] - dst[1])) + c.d2d * chips

    def _order(self, src: Pos, dst: Pos) -> int | None:
        """0 if the XY path is clear of disabled sites, else 1 if the YX path is, else None.
        Both have the minimal latency (Manhattan hops, the fewest chip crossings)."""
        if self._clear(src, dst, 0):
            return 0
        return 1 if self._clear(src, dst, 1) else None

    def _holes(self, axis: int, line: int) -> list[int]:
        """Sorted positions of disabled sites along global row (axis 0) or column (axis 1) ``line``."""
        key = (axis, line)
        out = self._hole_cache.get(key)
        if out is None:
            m = self.mesh
            n, w = (m.chips_w, m.grid_w) if axis == 0 else (m.chips_h, m.grid_h)
            local = line % (m.grid_h if axis == 0 else m.grid_w)
            sites = [s[axis] for s in m.disabled if s[1 - axis] == local]
            out = self._hole_cache[key] = sorted(c * w + v for c in range(n) for v in sites)
        return out

    def _clear(self, src: Pos, dst: Pos, a: int) -> bool:
        """True if no intermediate node of the dimension-order path moving along axis ``a`` first
        is a disabled site (binary search in the sorted holes of the two lines it uses)."""
        b = 1 - a
        s, t = src[a], dst[a]
        turn = src[b] != dst[b]  # the corner (t on the first line) is an intermediate node
        lo, hi = (s + 1, t if turn else t - 1) if t > s else (t if turn else t + 1, s - 1)
        if _any_in(self._holes(a, src[b]), lo, hi):
            return False
        return not _any_in(self._holes(b, dst[a]), min(src[b], dst[b]) + 1, max(src[b], dst[b]) - 1)

    def _astar(self, src: Pos, dst: Pos) -> list[Pos]:
        m, hop, d2d = self.mesh, self.costs.hop, self.costs.d2d
        gw, gh = m.grid_w, m.grid_h

        def h(p: Pos) -> int:  # admissible: every hop costs hop, every chip boundary d2d more
            chips = abs(p[0] // gw - dst[0] // gw) + abs(p[1] // gh - dst[1] // gh)
            return hop * (abs(p[0] - dst[0]) + abs(p[1] - dst[1])) + d2d * chips

        seq, came, cost, done = 0, {src: None}, {src: 0}, set()
        todo = [(h(src), 0, src)]
        while todo:
            _, _, p = heapq.heappop(todo)
            if p == dst:
                return self._path(came, dst)
            if p in done:
                continue
            done.add(p)
            for dx, dy in DIRS:
                q = (p[0] + dx, p[1] + dy)
                if q != dst and not m.pos_enabled(*q):
                    continue
                cross = p[0] // gw != q[0] // gw or p[1] // gh != q[1] // gh
                g = cost[p] + hop + (d2d if cross else 0)
                if g < cost.get(q, g + 1):
                    seq += 1
                    came[q], cost[q] = p, g
                    heapq.heappush(todo, (g + h(q), seq, q))
        raise SimulationError(f"no route from mesh position {src} to {dst} around disabled cores")

    @staticmethod
    def _path(came: dict, dst: Pos) -> list[Pos]:
        out = [dst]
        while came[out[-1]] is not None:
            out.append(came[out[-1]])
        return out[::-1]

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


def _any_in(sorted_positions: list[int], lo: int, hi: int) -> bool:
    """True if some position lies in ``[lo, hi]``."""
    if lo > hi or not sorted_positions:
        return False
    return bisect.bisect_left(sorted_positions, lo) < bisect.bisect_right(sorted_positions, hi)


def _dim_path(src: Pos, dst: Pos, a: int) -> list[Pos]:
    """The nodes of the dimension-order path from src to dst moving along axis ``a`` first."""
    p, out = list(src), [src]
    for axis in (a, 1 - a):
        step = 1 if dst[axis] > p[axis] else -1
        while p[axis] != dst[axis]:
            p[axis] += step
            out.append((p[0], p[1]))
    return out


def _dist(a: Pos, b: Pos) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])
