"""route: hand-computed hop counts and link loads on mini (with a YX detour around the disabled
core), the ``route`` attribute (IR before/after), and byte counts equal to the simulator's
``link_bytes``. The routes themselves are tests/target/test_mesh.py's."""

from __future__ import annotations

import pytest

from d1c.codegen.emit import build_program, input_arrays
from d1c.ir import modules_equal, parse_module, print_module
from d1c.isa.asm import assemble
from d1c.passes import Context, run_pipeline
from d1c.passes.route import kernel_routes, link_loads
from d1c.runtime.sim import simulate
from d1c.target import load_target
from d1c.target import mesh as G
from d1c.target.mesh import Mesh

MINI = load_target("mini")


# ------------------------------------------------------------------------------ the pass
def _run(text: str, passes: str, target: str = "mini"):
    return run_pipeline(parse_module(text, "<test>"), passes, ctx=Context(target=target))


def _module(rows: int) -> str:
    t = f"tensor<{rows}x32xbf16>"
    return (
        f"module @m {{\n  func @main(%x: {t}, %y: {t}) -> ({t}) {{\n"
        f"    %0 = add %x, %y {{tile = [16, 32]}} : {t}\n    return %0\n  }}\n}}\n"
    )


def test_route_attribute_of_a_one_core_kernel() -> None:
    # DIP 0 attaches at (0, 3); core 0.0.0.0 is (0, 0): two 1024-byte operand tiles come 3 hops
    # north, the 1024-byte result goes 3 hops south. Busiest links: the north ones, 2048 B.
    got = _run(_module(16), "place,route")
    want = _module(16).replace("[16, 32]}", "[16, 32], cores = 1, hbm = 2048, route = [3, 2048]}")
    assert modules_equal(got, parse_module(want)), print_module(got)
    assert link_loads(got, MINI) == {
        **{(0, y, "N"): 2048 for y in (1, 2, 3)},
        **{(0, y, "S"): 1024 for y in (0, 1, 2)},
    }


def test_link_loads_of_four_cores_with_a_detour() -> None:
    """Cores 0.0.k.0 = (k, 0), k = 0..3, each load two 1024-byte tiles from DIP 0 at (0, 3) and
    store one. Loads run XY (east on row 3, then north), except core 3's: (3, 2) is disabled, so
    it runs YX (north on column 0, then east on row 0). Stores run XY: west on row 0, south on
    column 0."""
    placed = _run(_module(64), "place,route")
    n, s = 2048, 1024  # bytes per core of loads and of stores
    want = {
        **{(0, y, "N"): 2 * n for y in (1, 2, 3)},  # cores 0 and 3
        (0, 3, "E"): 2 * n,  # cores 1 and 2
        (1, 3, "E"): n,  # core 2
        **{(1, y, "N"): n for y in (1, 2, 3)},
        **{(2, y, "N"): n for y in (1, 2, 3)},
        **{(x, 0, "E"): n for x in (0, 1, 2)},  # core 3's detour
        **{(0, y, "S"): 4 * s for y in (0, 1, 2)},
        (1, 0, "W"): 3 * s,
        (2, 0, "W"): 2 * s,
        (3, 0, "W"): s,
    }
    assert link_loads(placed, MINI) == dict(sorted(want.items(), key=lambda kv: _link_id(kv[0])))
    (kr,) = kernel_routes(placed, MINI)
    assert (kr.max_hops, kr.busiest) == (6, 4096)
    assert placed.main.ops[0].attrs["route"] == (6, 4096)


def _link_id(link: G.Link) -> int:
    gx, gy, d = link
    return (gy * Mesh.of(MINI).width + gx) * 4 + G.DIR_NAMES.index(d)


# ------------------------------------------------------------------------------ vs the simulator
SENDS = [  # (source, destination, rows of 16 fp32) on mini, exercising every kind of route
    ("0.0.3.3", "0.0.3.0", 1),  # column through the disabled (3, 2): A* detour
    ("1.1.0.0", "0.0.0.0", 2),  # XY across two chip edges
    ("0.0.0.3", "1.0.2.2", 3),  # XY
    ("0.0.2.2", "1.0.0.2", 4),  # row through (3, 2): A* detour
    ("0.0.1.2", "1.0.0.0", 5),  # XY blocked at (3, 2), YX clear
]


def _packed(c: str) -> int:
    cx, cy, x, y = (int(v) for v in c.split("."))
    return cx << 24 | cy << 16 | x << 8 | y


def _sends_program() -> str:
    text = ['.target "mini"']
    for i, (src, dst, rows) in enumerate(SENDS):
        tile = ["tbase t0, x0, 0", f"tshapei t0, {rows}, 16", "tfmt t0, fp32, 0"]
        for name, core, peer, inst in (("s", src, dst, "send"), ("r", dst, src, "recv")):
            p = _packed(peer)
            load = [f"lui x1, {p >> 12:#x}", f"ori x1, x1, {p & 0xFFF}"]
            body = [*tile, *load, f"{inst} t0, x1, {i}", "halt"]
            text += [f".code {name}{i}, {core}", *(f"    {ln}" for ln in body)]
    return "\n".join(text) + "\n"


def test_link_bytes_equal_the_simulators_for_core_to_core_streams() -> None:
    res = simulate(assemble(_sends_program()), MINI)
    g = Mesh.of(MINI)
    want: dict[int, int] = {}
    for src, dst, rows in SENDS:
        a, b = (g.pos(tuple(int(v) for v in c.split("."))) for c in (src, dst))
        for link in G.route_links(g, a, b):
            want[link] = want.get(link, 0) + rows * 64
    assert res.link_bytes == {G.link_name(g, k): want[k] for k in sorted(want)}


@pytest.mark.parametrize("rows", [16, 64])
def test_compiled_program_link_bytes_are_unmodelled_or_equal(rows: int) -> None:
    """The simulator charges DMA to the DIP only (no NoC bytes) today; if it routes DMA streams
    over the NoC one day, their bytes must be the ones route estimates."""
    placed = _run(_module(rows), "place,route,allocate-sram")
    prog = build_program(placed, MINI)
    res = simulate(prog, MINI, input_arrays(placed.main, [], prog), timing_only=True)
    assert res.link_bytes in ({}, link_loads(placed, MINI))
