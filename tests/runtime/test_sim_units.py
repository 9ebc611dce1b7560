"""Unit tests of simulator parts: sparse HBM against a dense buffer, routes, symbol placements,
lazy machine state on the full-size tile."""

from __future__ import annotations

import numpy as np
import pytest

from d1c.isa.d1x import Placement, Symbol
from d1c.isa.errors import SimulationError
from d1c.runtime.machine import Machine
from d1c.runtime.memory import PAGE, Hbm
from d1c.runtime.noc import Network
from d1c.runtime.symbols import encode_input, read_symbol, write_symbol
from d1c.runtime.timing import costs_of
from d1c.target import load_target
from tests.runtime.sim_helpers import MINI, bits, one_core, run


@pytest.mark.parametrize("seed", range(4))
def test_sparse_hbm_matches_a_dense_buffer(seed: int) -> None:
    rng = np.random.default_rng(seed)
    hbm, dense = Hbm(1, 4 * PAGE), np.zeros(4 * PAGE, np.uint8)
    for _ in range(20):
        rows, row_bytes = int(rng.integers(1, 9)), int(rng.integers(1, 300))
        stride = int(
            rng.choice([row_bytes, row_bytes + int(rng.integers(1, 64)), 5 * row_bytes + 7])
        )
        addr = int(rng.integers(PAGE - 2000, PAGE + 2000))  # straddles a page boundary
        data = rng.integers(0, 256, (rows, row_bytes), dtype=np.uint8)
        hbm.write_rows(addr, data, stride)
        for r in range(rows):
            dense[addr + r * stride : addr + r * stride + row_bytes] = data[r]
        got = hbm.read_rows(addr, rows, row_bytes, stride)
        want = np.stack(
            [dense[addr + r * stride : addr + r * stride + row_bytes] for r in range(rows)]
        )
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(hbm.read(0, 4 * PAGE), dense)
    assert len(hbm.pages) == 2  # only the touched pages exist


def _net(target: str = "mini") -> Network:
    t = load_target(target)
    m = Machine(t, costs_of(t), full=True)
    return m.net


def test_routes_are_xy_unless_a_disabled_core_is_in_the_way() -> None:
    net = _net()
    for src, dst in [((0, 0), (7, 7)), ((6, 1), (1, 5)), ((2, 2), (2, 2))]:
        hops, chips, _ = net.hops(src, dst)
        assert len(hops) == abs(src[0] - dst[0]) + abs(src[1] - dst[1]) == len(chips) - 1
    # (3, 2) and (7, 2), (3, 6), (7, 6) are disabled on the mini mesh
    detour, chips, _ = net.hops((3, 1), (3, 3))
    assert len(detour) == 4
    assert all(h[2] == -1 for h in detour) and set(chips) == {0}  # no edge crossing
    assert net.hops((3, 1), (3, 3))[0] is detour  # cached
    across, chips, _ = net.hops((3, 0), (5, 0))  # 0.0.3.0 -> 1.0.0.0 -> 1.0.1.0
    assert chips == (0, 1, 1) and across[0][2] >= 0 and across[1][2] == -1


def test_symbol_placements_round_trip_with_negative_and_gapped_strides() -> None:
    m = Machine(MINI, costs_of(MINI), full=True)
    sym = Symbol(
        "w", "input", (6, 5), "bf16", 0, "halves",
        (
            Placement("sram", (1, 1, 0, 1), 0x100, ((0, 3), (0, 5)), (16, 2)),
            Placement("hbm", None, 0x40000 + 100, ((3, 6), (0, 5)), (-10, 2)),
        ),
    )  # fmt: skip
    x = np.random.default_rng(3).standard_normal((6, 5)).astype(np.float32)
    codes = encode_input(sym, x)
    write_symbol(m, sym, codes)
    np.testing.assert_array_equal(read_symbol(m, sym), codes)
    row4 = m.hbm.read(0x40000 + 90, 10).view("<u2")  # row 4 sits one (negative) stride below row 3
    np.testing.assert_array_equal(row4, codes[4])
    with pytest.raises(SimulationError, match="outside dimension"):
        write_symbol(
            m,
            Symbol(
                "v", "input", (2,), "fp32", 0, "", (Placement("hbm", None, 0, ((0, 3),), (4,)),)
            ),
            codes,
        )


def test_a_small_program_on_the_full_tile_touches_only_its_cores() -> None:
    text = one_core(
        "tshapei t0, 1, 4\nli x1, 0x18\ndma.ld t0, x0, x1, x0, 0\ndma.wait 0\nhalt",
        '.symbol y, output, fp32, 0, [4], ""\n.place sram, 4.4.16.19, 0, [0:4], [4]',
        target="dojo-tile",
        core="4.4.16.19",
    )
    # the data sits on DIP 3 (global HBM address 3 << 35)
    res = run(text.replace(".symbol", ".hbm 0x1800000000\n.float 1.5, 2.5, 3.5, 4.5\n.symbol"))
    assert list(res.cores) == [(4, 4, 16, 19)]
    np.testing.assert_array_equal(
        bits(res.outputs["y"]), bits(np.array([1.5, 2.5, 3.5, 4.5], np.float32))
    )


def test_notification_latency_is_the_sum_of_the_route_hops_on_the_tile() -> None:
    net = _net("dojo-tile")
    mesh = net.mesh
    rng = np.random.default_rng(0)
    for _ in range(300):
        src, dst = (
            tuple(int(v) for v in rng.integers(0, (mesh.width, mesh.height))) for _ in range(2)
        )
        if not (mesh.pos_enabled(src) and mesh.pos_enabled(dst)):
            continue
        assert net.latency(src, dst) == sum(int(h[1]) for h in net.hops(src, dst)[0])
