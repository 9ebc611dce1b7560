"""place: chips first, then cores; disabled cores never used; HBM addresses round-robin over DIPs."""

import numpy as np

from d1c.ir import parse_module
from d1c.passes import Context, run_pipeline
from d1c.passes.emit import build_program
from d1c.passes.place import DIP_SHIFT, core_order
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


def test_big_kernel_spreads_over_every_usable_core_of_mini() -> None:
    t = load_target("mini")
    m = run_pipeline(parse_module(BIG), "tile,place", ctx=Context(target="mini"))
    exp = m.main.ops[1]
    assert exp.attrs["cores"] == 60
    prog = build_program(m, t)
    cores = {row.core for row in prog.params}
    assert len(cores) == 60
    assert all((c[2], c[3]) not in t.disabled for c in cores)


def test_tensors_are_spread_over_the_dips_of_the_tile() -> None:
    m = run_pipeline(parse_module(BIG), "tile,place", ctx=Context(target="dojo-tile"))
    dips = {op.attrs["hbm"] >> DIP_SHIFT for op in m.main.ops if "hbm" in op.attrs}
    assert len(dips) == 2  # two stored tensors (input, exp result) on consecutive DIPs
    addrs = [op.attrs["hbm"] for op in m.main.ops if "hbm" in op.attrs]
    assert all(a % 64 == 0 for a in addrs) and len(set(addrs)) == len(addrs)
    assert np.all(np.array(addrs) >= 0)
