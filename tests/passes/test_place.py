"""place: chips first, then cores; disabled cores never used; HBM addresses round-robin over DIPs,
tensors from 1 MiB up striped over them (and the simulator splits their DMAs over the DIPs)."""

import pytest

from d1c.codegen import placement
from d1c.codegen.emit import build_program
from d1c.codegen.placement import HbmLayout, core_order
from d1c.codegen.systolic import grid_columns, grid_sites
from d1c.ir import parse_module
from d1c.isa.tiles import DIP_SHIFT, STRIPE_BYTES, STRIPED, dip_shares
from d1c.passes import Context, run_pipeline
from d1c.runtime.sim import simulate
from d1c.target import load_target

BIG = """module @m {
  func @main(%x: tensor<4096x512xfp32>) -> (tensor<4096x512xfp32>) {
    %0 = convert %x {rounding = "rne"} : tensor<4096x512xbf16>
    %1 = exp %0 : tensor<4096x512xbf16>
    %2 = convert %1 {rounding = "rne"} : tensor<4096x512xfp32>
    return %2
  }
}
"""


def test_core_order_is_chips_first_and_skips_disabled_sites() -> None:
    t = load_target("mini")
    order = core_order(t)
    assert len(order) == t.num_cores == 60
    assert all((c[2], c[3]) not in t.disabled for c in order)
    # the first 15 cores are all of chip (0, 0), row by row
    assert {c[:2] for c in order[:15]} == {(0, 0)}
    assert order[:5] == [(0, 0, 0, 0), (0, 0, 1, 0), (0, 0, 2, 0), (0, 0, 3, 0), (0, 0, 0, 1)]


@pytest.mark.parametrize("name", ["mini", "dojo-tile", "dojo-tray"])
def test_core_order_prefixes_and_grid_sites_follow_the_whole_mesh(name: str) -> None:
    """``core_order(t, n)`` and ``grid_sites`` compute only what they return; they equal the
    definitions over the whole mesh (every core, every row's clean columns)."""
    t = load_target(name)
    (cw, ch), (cx, cy) = t.chip_grid, t.chips
    every = [(x, y, gx, gy) for y in range(cy) for x in range(cx) for gx, gy in t.chip_cores()]
    assert core_order(t) == every and core_order(t, 77) == every[:77]
    index = {(x * cw + gx, y * ch + gy): i for i, (x, y, gx, gy) in enumerate(every)}
    cols, clean = list(range(cw * cx)), []
    for gy in range(ch * cy):
        cols = [gx for gx in cols if (gx, gy) in index]
        clean.append(cols)
    assert grid_columns(t) == clean
    for r in sorted({1, 3, ch, min(len(clean), ch + 2)}):
        for q in sorted({1, 2, len(clean[r - 1])}):
            want = [index[(clean[r - 1][k], gy)] for gy in range(r) for k in range(q)]
            assert grid_sites(t, r, q) == want, (r, q)
    assert grid_sites(t, len(clean) + 1, 1) is None


def test_big_kernel_spreads_over_every_usable_core_of_mini() -> None:
    t = load_target("mini")
    m = run_pipeline(parse_module(BIG), "tile,place", ctx=Context(target="mini"))
    exp = m.main.ops[1]
    assert exp.attrs["cores"] == 60
    prog = build_program(m, t)
    cores = {row.core for row in prog.params}
    assert len(cores) == 60
    assert all((c[2], c[3]) not in t.disabled for c in cores)


SMALL = BIG.replace("4096x512", "64x512")


def test_small_tensors_go_round_robin_over_the_dips() -> None:
    m = run_pipeline(parse_module(SMALL), "tile,place", ctx=Context(target="dojo-tile"))
    dips = [op.attrs["hbm"] >> DIP_SHIFT for op in m.main.ops if "hbm" in op.attrs]
    assert dips == [1, 2]  # the argument took DIP 0; two stored tensors on the next DIPs
    addrs = [op.attrs["hbm"] for op in m.main.ops if "hbm" in op.attrs]
    assert all(a % 64 == 0 for a in addrs) and len(set(addrs)) == len(addrs)


def test_big_tensors_are_striped_and_take_a_share_of_every_dip() -> None:
    m = run_pipeline(parse_module(BIG), "tile,place", ctx=Context(target="dojo-tile"))
    addrs = [op.attrs["hbm"] for op in m.main.ops if "hbm" in op.attrs]
    assert {a >> DIP_SHIFT for a in addrs} == {STRIPED}
    assert all(a % STRIPE_BYTES == 0 for a in addrs) and len(set(addrs)) == len(addrs)
    lay = HbmLayout(5, 1 << 30)
    a = lay.take(256 * STRIPE_BYTES + 1)  # 257 stripes: 52 on each DIP's budget
    assert a == STRIPED << DIP_SHIFT and lay.tops == [52 * STRIPE_BYTES] * 5
    assert lay.take(100) == 52 * STRIPE_BYTES  # small: DIP 0, above its share of the stripes
    full = HbmLayout(5, 1 << 20)
    assert full.take(8 << 20) is None  # 8 MiB needs 1.6 MiB of every 1 MiB DIP


def test_dip_shares_split_a_transfer_by_the_stripes_it_touches() -> None:
    s = STRIPE_BYTES
    assert dip_shares(3 << DIP_SHIFT, 100, 100, 5) == [(3, 100)]  # a DIP's own window
    base = STRIPED << DIP_SHIFT
    assert dip_shares(base + 2 * s, 2 * s, 2 * s, 5) == [(2, s), (3, s)]
    # 7 stripes from stripe 4: DIPs 4, 0, 1, 2, 3, 4, 0 -> DIP 4 and 0 twice
    got = dict(dip_shares(base + 4 * s, 7 * s, 7 * s, 5))
    assert got == {0: 2 * s, 1: s, 2: s, 3: s, 4: 2 * s} and sum(got.values()) == 7 * s
    got = dip_shares(base, 10, 3 * s, 2)  # integer shares add up to the bytes
    assert sum(b for _, b in got) == 10


def test_big_tensors_are_striped_over_every_dip(monkeypatch) -> None:
    """The exp kernel of BIG streams 4 MiB in and 4 MiB out: every transfer is on the striped
    window (served by all five DIPs, tests/runtime/test_sim_dma.py), or, with striping off, on
    the DIP window of its tensor (traced, timing-only)."""
    t = load_target("dojo-tile")

    def windows() -> dict[int, int]:
        m = run_pipeline(parse_module(BIG), "tile,place", ctx=Context(target="dojo-tile"))
        res = simulate(build_program(m, t), t, None, timing_only=True, trace=True)
        out: dict[int, int] = {}
        for name, _, _, _, args in res.trace:
            if name.startswith("dma."):
                out[args["dip"]] = out.get(args["dip"], 0) + args["bytes"]
        return out

    assert windows() == {STRIPED: 8 << 20}
    monkeypatch.setattr(placement, "STRIPE_MIN", 1 << 60)
    got = windows()
    assert sorted(got.values()) == [4 << 20, 4 << 20] and STRIPED not in got
