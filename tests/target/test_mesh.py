"""d1c.target.mesh, the one geometry of compiler and simulator: DIP attach points, and routes
checked against an independent Dijkstra search on every pair of cores (mini, a target with walls
of disabled cores) and on a sample of dojo-tile: minimal latency, never through a disabled site,
dimension order whenever that path is clear."""

from __future__ import annotations

import heapq
import itertools
import random
from pathlib import Path

from d1c import driver
from d1c.target import Target, load_target
from d1c.target import mesh as G
from d1c.target.mesh import Mesh
from d1c.testing.targets import TargetSpec
from tests.passes.custom_target import mini_variant

MINI = load_target("mini")


def _enabled(g: Mesh) -> list[G.Pos]:
    return [(x, y) for y in range(g.height) for x in range(g.width) if g.pos_enabled((x, y))]


def _dijkstra(g: Mesh, src: G.Pos) -> dict[G.Pos, int]:
    """Minimal latency from ``src`` to every enabled position, written here independently of
    the router: a hop costs ``hop``, plus ``d2d`` when it crosses a chip edge."""
    best, todo = {src: 0}, [(0, src)]
    while todo:
        d, p = heapq.heappop(todo)
        if d > best[p]:
            continue
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            q = (p[0] + dx, p[1] + dy)
            if not g.pos_enabled(q):
                continue
            cross = g.coord_at(p)[:2] != g.coord_at(q)[:2]
            nd = d + g.hop + (g.d2d if cross else 0)
            if nd < best.get(q, nd + 1):
                best[q] = nd
                heapq.heappush(todo, (nd, q))
    return best


def _cost(g: Mesh, path) -> int:
    return sum(
        g.hop + (g.d2d if g.coord_at(a)[:2] != g.coord_at(b)[:2] else 0)
        for a, b in itertools.pairwise(path)
    )


def _check_routes(g: Mesh, pairs) -> set[str]:
    """Every route of ``pairs`` is a chain of neighbours through enabled sites with the minimal
    latency, XY when the XY path is clear, else YX when that is; returns the kinds seen."""
    kinds, best = set(), {}
    for a, b in pairs:
        if a not in best:
            best[a] = _dijkstra(g, a)
        path = G.route_path(g, a, b)
        assert path[0] == a and path[-1] == b
        assert all(abs(p[0] - q[0]) + abs(p[1] - q[1]) == 1 for p, q in itertools.pairwise(path))
        assert all(g.pos_enabled(p) for p in path[1:-1]), (a, b, path)
        assert _cost(g, path) == best[a][b], (a, b, path)
        xy, yx = (G.dim_path(a, b, axis) for axis in (0, 1))
        clear = [all(g.pos_enabled(p) for p in d[1:-1]) for d in (xy, yx)]
        assert [G.dim_clear(g, a, b, axis) for axis in (0, 1)] == clear
        if clear[0]:
            assert list(path) == xy
            kinds.add("xy")
        elif clear[1]:
            assert list(path) == yx
            kinds.add("yx")
        else:
            kinds.add("monotone" if G.monotone_path(g, a, b) else "astar")
        assert G.route_links(g, a, b) == tuple(
            G.link_id(g, p, q) for p, q in itertools.pairwise(path)
        )
    return kinds


def test_every_route_of_mini_is_minimal_and_avoids_disabled_sites() -> None:
    g = Mesh.of(MINI)
    en = _enabled(g)
    assert {"xy", "yx", "astar"} <= _check_routes(g, itertools.product(en, en))


def test_routes_around_walls_of_disabled_cores(tmp_path: Path) -> None:
    """Adjacent disabled sites force A* detours that leave the bounding box."""
    walls = [[1, 1], [2, 1], [1, 2], [3, 3], [0, 3]]
    g = Mesh.of(load_target(mini_variant(tmp_path, "walls", disabled=walls)))
    en = _enabled(g)
    assert _check_routes(g, itertools.product(en, en)) == {"xy", "yx", "monotone", "astar"}


def test_routes_on_a_sample_of_dojo_tile() -> None:
    t = load_target("dojo-tile")
    g = Mesh.of(t)
    en = _enabled(g)
    rng = random.Random(5)
    attach = [G.dip_attach(t, d) for d in range(5)]
    pairs = [(rng.choice(attach), rng.choice(en)) for _ in range(100)]
    pairs += [(rng.choice(en), rng.choice(attach)) for _ in range(100)]
    pairs += [(rng.choice(en), rng.choice(en)) for _ in range(100)]
    _check_routes(g, pairs)


def test_detour_around_the_disabled_core_of_mini() -> None:
    g = Mesh.of(MINI)
    # (3, 3) -> (3, 0): the column passes the disabled (3, 2); the cheapest way around stays on
    # chip 0,0 (an edge crossing costs the die-to-die latency): 5 hops, not 3.
    path = G.route_path(g, (3, 3), (3, 0))
    assert len(path) - 1 == 5 and (3, 2) not in path
    assert all(x < 4 and y < 4 for x, y in path)


def test_a_cut_off_site_has_no_route(tmp_path: Path) -> None:
    # (0, 0) of each chip is walled in by its two disabled neighbours
    g = Mesh.of(load_target(mini_variant(tmp_path, "cut", disabled=[[1, 0], [0, 1]])))
    assert G.route_path(g, (0, 0), (2, 2)) is None


def test_core_names_round_trip() -> None:
    g = Mesh.of(load_target("dojo-tile"))
    for c in [(0, 0, 0, 0), (4, 3, 17, 19), (2, 1, 5, 0)]:
        assert g.coord_of_gid(g.gid(c)) == c
        assert g.coord_at(g.pos(c)) == c
        packed = c[0] << 24 | c[1] << 16 | c[2] << 8 | c[3]
        assert g.unpack(packed) == c and G.fmt_coord(c) == ".".join(map(str, c))


# ------------------------------------------------------------------------------ DIP attach points
def test_dip_attach_points() -> None:
    # West edge, the upper middle row of each DIP's band of rows, skipping rows with holes.
    assert G.dip_attach(MINI, 0) == (0, 3)
    tile = load_target("dojo-tile")  # 5 bands of 20 rows; rows 9 + 20k have no disabled site
    assert [G.dip_attach(tile, d) for d in range(5)] == [(0, 9 + 20 * d) for d in range(5)]
    tray = load_target("dojo-tray")  # 3x2 tiles of 90x100 cores, 5 DIPs each
    assert G.dip_attach(tray, 7) == (90, 49) and G.dip_attach(tray, 29) == (180, 189)


def test_dip_attach_skips_rows_with_disabled_sites(tmp_path: Path) -> None:
    holey = load_target(mini_variant(tmp_path, "holey", disabled=[[2, 3], [1, 2]]))
    assert G.dip_attach(holey, 0) == (0, 4)  # rows 3 and 2 have holes; row 4 is next in order


# DIP attach points are usable mesh sites on any valid target: with more DIPs than mesh rows
# the DIPs share rows (the bands were empty and the attach row was -1), and when a band's rows
# have no usable site in the tile the nearest row with one is taken (the attach point was a
# disabled core). Both made ``route`` fail with "no route from mesh position ..." on valid random
# targets (found by ``d1c fuzz``).
SPECS = [
    TargetSpec("one-core", (1, 1), (1, 1), (), 1310720, dips=3),
    TargetSpec("column", (2, 1), (1, 5), ((0, 0), (0, 1), (0, 2), (0, 4)), 1310720, dips=3),
    TargetSpec("holes", (1, 2), (3, 2), ((0, 0), (1, 0), (2, 0)), 262144, dips=2),
]


def test_every_dip_attaches_to_a_usable_site(tmp_path: Path) -> None:
    for spec in SPECS:
        t: Target = load_target(spec.write(tmp_path))
        g = Mesh.of(t)
        for d in range(spec.dips):
            x, y = G.dip_attach(t, d)
            assert 0 <= x < g.width and 0 <= y < g.height, (spec.name, d, (x, y))
            assert g.pos_enabled((x, y)), (spec.name, d, (x, y))


def test_a_one_core_target_with_three_dips_compiles(tmp_path: Path) -> None:
    target = SPECS[0].write(tmp_path)
    m = driver.read_ir(str(Path(__file__).resolve().parents[2] / "examples" / "attention.d1"))
    x = tuple(driver.random_inputs(m))
    snaps = driver.compile_stages(m, "placed", driver.Options(target, "bf16", x))
    assert "placed" in snaps
