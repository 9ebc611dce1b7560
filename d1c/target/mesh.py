"""The core mesh of a target: coordinates, disabled sites, routes and DIP attach points.

The one geometry of the compiler (``place``, ``route``, ``codegen``) and the simulator
(:mod:`d1c.runtime.noc`): the route a pass estimates is the route a message takes, because both
call :func:`route_path`. Nothing here keeps state except caches.

Names of a core
    The 4-tuple ``(chip_x, chip_y, core_x, core_y)`` (what ``.d1x`` files and reports use,
    printed by :func:`fmt_coord` as ``chip_x.chip_y.core_x.core_y``); the packed 32-bit ``coord``
    register value ``chip_x<<24 | chip_y<<16 | core_x<<8 | core_y``; the global number ``gid`` of
    the ``gid`` special register, ``(chip_y*chips_w + chip_x) * cores_x*cores_y + core_y*cores_x +
    core_x`` (disabled sites keep their numbers, so it does not depend on the harvest mask).

Positions
    A core ``(chip_x, chip_y, core_x, core_y)`` sits at global mesh position
    ``(gx, gy) = (chip_x * cores_x + core_x, chip_y * cores_y + core_y)``; disabled sites repeat
    on every chip. A link is one direction between neighbours, named ``(gx, gy, dir)`` by its
    sending end, ``dir`` in ``E W S N`` (+x, -x, +y, -y), the names of ``SimResult.link_bytes``.

Routes (:func:`route_path`)
    Dimension order XY (all of the X distance, then Y) when no intermediate node is a disabled
    site, else YX when that is clear (both have the minimal latency), else the cheapest path
    around the disabled sites, where a hop costs ``noc.hop_latency_cycles`` plus the die-to-die
    latency when it crosses a chip edge, with ties broken as the simulator's A* search breaks
    them (neighbours in the order +x, -x, +y, -y, first reached first). When some path only
    moves towards the destination, that search returns the lexicographically first such path
    (X moves before Y moves): its heuristic is exact inside the bounding box, so it visits the
    box breadth first. A depth-first walk finds that path directly (:func:`monotone_path`);
    otherwise the A* search itself runs (:func:`astar_path`). Tests check every pair of cores
    of small targets against the simulator's routes.

DIP attach points (:func:`dip_attach`) [A: public sources only say "DIPs at the tile edges"]
    The DIPs of a system are dealt to its training tiles in order (``ceil(count / tiles)`` per
    tile). A tile's DIPs sit on its west edge, one per horizontal band of equal height, each on
    the row nearest the band's middle row (the upper of two) that has no disabled site inside
    the tile (so streams run straight along it), at the first enabled site from the west. On
    ``dojo-tile`` DIP d attaches at (0, 20d + 9), on chip (0, d); on ``mini`` at (0, 3), on
    chip (0, 0), where placement starts. A DMA stream enters or leaves the mesh there: HBM ->
    SRAM runs attach point -> core, SRAM -> HBM runs core -> attach point.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from d1c.errors import CompileError, SimulationError
from d1c.target import Target

Pos = tuple[int, int]
Coord = tuple[int, int, int, int]
Link = tuple[int, int, str]
DIRS = ((1, 0), (-1, 0), (0, 1), (0, -1))
DIR_NAMES = ("E", "W", "S", "N")


@dataclass(frozen=True, slots=True)
class Mesh:
    """The core mesh of a target and the latencies its routes minimise (hashable, so routes are
    cached per mesh)."""

    chips_w: int
    chips_h: int
    grid_w: int
    grid_h: int
    disabled: frozenset[tuple[int, int]]
    hop: int = 1  # cycles per hop (noc.hop_latency_cycles)
    d2d: int = 0  # extra cycles of a hop across a chip edge

    @staticmethod
    def of(t: Target) -> Mesh:
        return Mesh(*t.chips, *t.chip_grid, t.disabled, hop_cycles(t), d2d_cycles(t))

    @property
    def width(self) -> int:
        """Cores per global mesh row."""
        return self.chips_w * self.grid_w

    @property
    def height(self) -> int:
        """Cores per global mesh column."""
        return self.chips_h * self.grid_h

    def exists(self, c: Coord) -> bool:
        """True if ``c`` is inside the mesh (enabled or not)."""
        cx, cy, x, y = c
        return (
            0 <= cx < self.chips_w
            and 0 <= cy < self.chips_h
            and 0 <= x < self.grid_w
            and (0 <= y < self.grid_h)
        )

    def enabled(self, c: Coord) -> bool:
        """True if ``c`` is a usable core."""
        return self.exists(c) and (c[2], c[3]) not in self.disabled

    def gid(self, c: Coord) -> int:
        """The global core number of ``c``."""
        cx, cy, x, y = c
        return (cy * self.chips_w + cx) * self.grid_w * self.grid_h + y * self.grid_w + x

    def coord_of_gid(self, gid: int) -> Coord:
        """Inverse of :meth:`gid`."""
        chip, core = divmod(gid, self.grid_w * self.grid_h)
        cy, cx = divmod(chip, self.chips_w)
        y, x = divmod(core, self.grid_w)
        return (cx, cy, x, y)

    def pos(self, c: Coord) -> Pos:
        """The global mesh position (gx, gy) of ``c``."""
        return c[0] * self.grid_w + c[2], c[1] * self.grid_h + c[3]

    def coord_at(self, p: Pos) -> Coord:
        """The core at global mesh position ``p``."""
        cx, x = divmod(p[0], self.grid_w)
        cy, y = divmod(p[1], self.grid_h)
        return (cx, cy, x, y)

    def pos_enabled(self, p: Pos) -> bool:
        """True if ``p`` is inside the mesh and not a disabled site."""
        x, y = p
        if not (0 <= x < self.width and 0 <= y < self.height):
            return False
        return (x % self.grid_w, y % self.grid_h) not in self.disabled

    @staticmethod
    def unpack(packed: int) -> Coord:
        """The coordinate of a packed ``coord`` register value (no checks)."""
        return (packed >> 24) & 255, (packed >> 16) & 255, (packed >> 8) & 255, packed & 255

    def checked(self, packed: int, what: str) -> Coord:
        """The usable core named by a packed coordinate, else a SimulationError."""
        c = self.unpack(packed)
        if packed >> 32 or not self.exists(c):
            raise SimulationError(f"{what}: coordinate {packed:#010x} is outside the mesh")
        if not self.enabled(c):
            raise SimulationError(f"{what}: core {fmt_coord(c)} is a disabled site")
        return c


def fmt_coord(c: Coord) -> str:
    """``chip_x.chip_y.core_x.core_y``, the form the assembler and reports use."""
    return ".".join(str(v) for v in c)


def hop_cycles(t: Target) -> int:
    return int(t.noc["hop_latency_cycles"])


def d2d_cycles(t: Target) -> int:
    """Die-to-die latency in cycles: ``ceil(edge.d2d_latency_ns * clock_hz / 1e9)``."""
    return math.ceil(Fraction(t.edge["d2d_latency_ns"]) * Fraction(t.clock_hz) / 10**9)


def latency(g: Mesh, src: Pos, dst: Pos) -> int:
    """Hops times ``hop`` plus chip-edge crossings times ``d2d`` between two positions: the
    latency of a dimension-order route, and a lower bound of any route (A*'s heuristic)."""
    chips = abs(src[0] // g.grid_w - dst[0] // g.grid_w) + abs(
        src[1] // g.grid_h - dst[1] // g.grid_h
    )
    return g.hop * (abs(src[0] - dst[0]) + abs(src[1] - dst[1])) + g.d2d * chips


@lru_cache(maxsize=4096)
def holes(g: Mesh, axis: int, line: int) -> tuple[int, ...]:
    """Sorted positions of the disabled sites along global row (axis 0) or column (axis 1)."""
    n, w = (g.chips_w, g.grid_w) if axis == 0 else (g.chips_h, g.grid_h)
    local = line % (g.grid_h if axis == 0 else g.grid_w)
    sites = [s[axis] for s in g.disabled if s[1 - axis] == local]
    return tuple(sorted(c * w + v for c in range(n) for v in sites))


def _any_in(sorted_pos: tuple[int, ...], lo: int, hi: int) -> bool:
    return lo <= hi and bisect.bisect_left(sorted_pos, lo) < bisect.bisect_right(sorted_pos, hi)


def dim_clear(g: Mesh, src: Pos, dst: Pos, axis: int) -> bool:
    """True if no intermediate node of the dimension-order path that moves along ``axis`` first
    (0: XY, 1: YX) is a disabled site (binary search in the holes of the two lines it uses)."""
    b = 1 - axis
    s, t = src[axis], dst[axis]
    turn = src[b] != dst[b]  # the corner (t on the first line) is an intermediate node
    lo, hi = (s + 1, t if turn else t - 1) if t > s else (t if turn else t + 1, s - 1)
    if _any_in(holes(g, axis, src[b]), lo, hi):
        return False
    return not _any_in(holes(g, b, dst[axis]), min(src[b], dst[b]) + 1, max(src[b], dst[b]) - 1)


def dim_path(src: Pos, dst: Pos, axis: int) -> list[Pos]:
    """The nodes of the dimension-order path moving along ``axis`` first, both ends included."""
    (x, y), (tx, ty) = src, dst
    sx, sy = (tx > x) - (tx < x), (ty > y) - (ty < y)
    if axis == 0:
        first = [(x + i * sx, y) for i in range(abs(tx - x) + 1)]
        return first + [(tx, y + i * sy) for i in range(1, abs(ty - y) + 1)]
    first = [(x, y + i * sy) for i in range(abs(ty - y) + 1)]
    return first + [(x + i * sx, ty) for i in range(1, abs(tx - x) + 1)]


def monotone_path(g: Mesh, src: Pos, dst: Pos) -> list[Pos] | None:
    """The lexicographically first path that only moves towards ``dst`` (an X move before a Y
    move) through enabled nodes, or None if every such path meets a disabled site."""
    sx = (dst[0] > src[0]) - (dst[0] < src[0])
    sy = (dst[1] > src[1]) - (dst[1] < src[1])
    stack, dead = [[src, 0]], set()
    while stack:
        top = stack[-1]
        node, tried = top
        if node == dst:
            return [n for n, _ in stack]
        if tried == 2:
            dead.add(node)
            stack.pop()
            continue
        top[1] += 1
        step = (sx, 0) if tried == 0 else (0, sy)
        if step == (0, 0) or node[tried] == dst[tried]:
            continue
        q = (node[0] + step[0], node[1] + step[1])
        if q in dead or (q != dst and not g.pos_enabled(q)):
            continue
        stack.append([q, 0])
    return None


def _hop_cost(g: Mesh, p: Pos, q: Pos) -> int:
    cross = p[0] // g.grid_w != q[0] // g.grid_w or p[1] // g.grid_h != q[1] // g.grid_h
    return g.hop + (g.d2d if cross else 0)


def astar_path(g: Mesh, src: Pos, dst: Pos) -> list[Pos] | None:
    """The cheapest path around disabled sites by A* (the simulator's search), or None if there
    is none: heuristic = hops times ``hop`` plus chip boundaries times ``d2d``; neighbours +x,
    -x, +y, -y; ties first come, first served."""

    def h(p: Pos) -> int:
        return latency(g, p, dst)

    seq, came, cost, done = 0, {src: None}, {src: 0}, set()
    todo = [(h(src), 0, src)]
    while todo:
        _, _, p = heapq.heappop(todo)
        if p == dst:
            return _unwind(came, dst)
        if p in done:
            continue
        done.add(p)
        for dx, dy in DIRS:
            q = (p[0] + dx, p[1] + dy)
            if q != dst and not g.pos_enabled(q):
                continue
            c = cost[p] + _hop_cost(g, p, q)
            if c < cost.get(q, c + 1):
                seq += 1
                came[q], cost[q] = p, c
                heapq.heappush(todo, (c + h(q), seq, q))
    return None


def _unwind(came: dict, dst: Pos) -> list[Pos]:
    out = [dst]
    while came[out[-1]] is not None:
        out.append(came[out[-1]])
    return out[::-1]


@lru_cache(maxsize=1 << 17)
def route_path(g: Mesh, src: Pos, dst: Pos) -> tuple[Pos, ...] | None:
    """The nodes of the route from ``src`` to ``dst`` (module docstring), both ends included;
    None if the disabled sites cut ``dst`` off (the caller says whose error that is)."""
    for axis in (0, 1):
        if dim_clear(g, src, dst, axis):
            return tuple(dim_path(src, dst, axis))
    path = monotone_path(g, src, dst) or astar_path(g, src, dst)
    return None if path is None else tuple(path)


def no_route(src: Pos, dst: Pos) -> str:
    return f"no route from mesh position {src} to {dst} around disabled cores"


_DIR_OF = {d: i for i, d in enumerate(DIRS)}


def link_id(g: Mesh, a: Pos, b: Pos) -> int:
    """The integer id of the link from ``a`` to its neighbour ``b``: ``(gy*width + gx)*4 + dir``."""
    return (a[1] * g.width + a[0]) * 4 + DIRS.index((b[0] - a[0], b[1] - a[1]))


def link_name(g: Mesh, link: int) -> Link:
    """``(gx, gy, dir)`` of a link id."""
    node, d = divmod(link, 4)
    gy, gx = divmod(node, g.width)
    return gx, gy, DIR_NAMES[d]


@lru_cache(maxsize=1 << 17)
def route_links(g: Mesh, src: Pos, dst: Pos) -> tuple[int, ...]:
    """The link ids of the route from ``src`` to ``dst``, in order (a CompileError if there is
    none: the compiler asks before it places anything there)."""
    path, w = route_path(g, src, dst), g.width
    if path is None:
        raise CompileError(no_route(src, dst))
    return tuple(
        (a[1] * w + a[0]) * 4 + _DIR_OF[(b[0] - a[0], b[1] - a[1])]
        for a, b in itertools.pairwise(path)
    )  # link_id, inlined: a route of a big program is computed ~10^5 times


def dip_attach(t: Target, dip: int) -> Pos:
    """The mesh position where DIP ``dip`` feeds the tile (module docstring) [A]."""
    g = Mesh.of(t)
    sysd = t.system or {}
    tiles_x, tiles_y = int(sysd.get("tiles_x", 1)), int(sysd.get("tiles_y", 1))
    per = max(1, -(-int(t.dip["count"]) // (tiles_x * tiles_y)))
    tile, j = divmod(dip, per)
    tile_w, tile_h = g.width // tiles_x, g.height // tiles_y
    x0, y0 = (tile % tiles_x) * tile_w, (tile // tiles_x) * tile_h
    lo = y0 + j * tile_h // per
    band = (lo, max(lo + 1, y0 + (j + 1) * tile_h // per))  # more DIPs than rows: they share
    centre = (band[0] + band[1] - 1) // 2
    row = _clean_row(g, band, centre, (x0, x0 + tile_w))
    rows = [row, *sorted(range(y0, y0 + tile_h), key=lambda r: (abs(r - centre), r))]
    return next(
        (x, r) for r in rows for x in range(x0, x0 + tile_w) if g.pos_enabled((x, r))
    )  # the first usable site of the row, else of the nearest row that has one


def _clean_row(g: Mesh, band: tuple[int, int], centre: int, cols: tuple[int, int]) -> int:
    """The row of ``band`` nearest ``centre`` (lower first) without a disabled site in ``cols``."""
    order = sorted(range(*band), key=lambda r: (abs(r - centre), r))
    for r in order:
        if not _any_in(holes(g, 0, r), cols[0], cols[1] - 1):
            return r
    return centre
