"""DIP attach points are usable mesh sites on any valid target: with more DIPs than mesh rows
the DIPs share rows (the bands were empty and the attach row was -1), and when a band's rows
have no usable site in the tile the nearest row with one is taken (the attach point was a
disabled core). Both made ``route`` fail with "no route from mesh position ..." on valid random
targets (found by ``d1c fuzz``)."""

from __future__ import annotations

from pathlib import Path

from d1c import driver
from d1c.target import load_target
from d1c.target.mesh import dip_attach, geometry, pos_enabled
from d1c.testing.targets import TargetSpec

SPECS = [
    TargetSpec("one-core", (1, 1), (1, 1), (), 1310720, dips=3),
    TargetSpec("column", (2, 1), (1, 5), ((0, 0), (0, 1), (0, 2), (0, 4)), 1310720, dips=3),
    TargetSpec("holes", (1, 2), (3, 2), ((0, 0), (1, 0), (2, 0)), 262144, dips=2),
]


def test_every_dip_attaches_to_a_usable_site(tmp_path: Path) -> None:
    for spec in SPECS:
        t = load_target(spec.write(tmp_path))
        g = geometry(t)
        for d in range(spec.dips):
            x, y = dip_attach(t, d)
            assert 0 <= x < g.width and 0 <= y < g.height, (spec.name, d, (x, y))
            assert pos_enabled(g, (x, y)), (spec.name, d, (x, y))


def test_a_one_core_target_with_three_dips_compiles(tmp_path: Path) -> None:
    target = SPECS[0].write(tmp_path)
    m = driver.read_ir(str(Path(__file__).resolve().parents[2] / "examples" / "attention.d1"))
    x = tuple(driver.random_inputs(m))
    snaps = driver.compile_stages(m, "placed", driver.Options(target, "bf16", x))
    assert "placed" in snaps
