"""DMA in the simulator: HBM -> SRAM -> HBM round trips with strides and dma.list descriptors,
HBM images, completion times (request and acknowledgement routes, DIP FIFO, streams over the
NoC) computed by hand from the target figures."""

from __future__ import annotations

import math

import numpy as np

from d1c.target.mesh import dip_attach
from tests.runtime.sim_helpers import MINI, bf16, bits, run

SETUP = MINI.dma["setup_cycles"]
HOP = MINI.noc["hop_latency_cycles"]
LINK = MINI.noc["link_bytes_per_cycle"]
DIP_BPC = min(MINI.dip["hbm_bytes_per_s"], MINI.dip["link_bytes_per_s"]) / MINI.clock_hz

# x [16, 24] bf16 in HBM at 0x1000 with rows 64 bytes apart -> SRAM 0x0 (dense, 48-byte rows)
# -> HBM 0x8000 with rows 128 bytes apart (y); then a dma.list of two descriptors writes the
# two halves of the SRAM tile back swapped, to HBM 0x20000 (z, dense rows).
ROUND_TRIP = """
.target "mini"
.code main, 0.0.0.0
    tbase t0, x0, 0
    tshapei t0, 16, 24
    tfmt t0, bf16, 0
    li x1, 0x1000
    li x2, 64
    dma.ld t0, x1, x0, x2, 2
    dma.wait 2
    li x1, 0x8000
    li x2, 128
    dma.st t0, x1, x0, x2, 5
    li x3, 0x4000
    li x4, 2
    dma.list x3, x4, 6
    dma.wait 5
    dma.wait 6
    halt

.sram 0x4000, 0.0.0.0
.word 1, 384, 0x20000, 0, 8, 48, 48, 48
.word 1, 0, 0x20180, 0, 8, 48, 48, 48

.symbol x, input, bf16, 0, [16, 24], "HBM 0x1000, row stride 64"
.place hbm, 0x1000, [0:16, 0:24], [64, 2]
.symbol y, output, bf16, 0, [16, 24], "HBM 0x8000, row stride 128"
.place hbm, 0x8000, [0:16, 0:24], [128, 2]
.symbol z, output, bf16, 0, [16, 24], "HBM 0x20000, dense"
.place hbm, 0x20000, [0:16, 0:24], [48, 2]
"""


def test_dma_round_trip_with_strides_and_a_descriptor_list() -> None:
    x = np.random.default_rng(4).standard_normal((16, 24)).astype(np.float32)
    res = run(ROUND_TRIP, {"x": x})
    np.testing.assert_array_equal(bits(res.outputs["y"]), bits(bf16(x)))
    np.testing.assert_array_equal(bits(res.outputs["z"]), bits(np.roll(bf16(x), 8, axis=0)))
    assert res.cores[(0, 0, 0, 0)].dma_bytes == 3 * 768


def test_dma_times_follow_setup_routes_bandwidth_and_dip_fifo() -> None:
    res = run(ROUND_TRIP, {"x": np.zeros((16, 24), np.float32)})
    # mini's one DIP attaches at mesh position (0, 3); core 0.0.0.0 is 3 hops north of it
    assert dip_attach(MINI, 0) == (0, 3)
    lat = 3 * HOP
    dip, link = math.ceil(768 / DIP_BPC), math.ceil(768 / LINK)  # 2 and 3 cycles
    t, stall = 5, 0  # dma.ld issues after five one-cycle instructions
    # the request reaches the DIP after setup + lat; the DIP streams the 768 bytes out (its tail
    # leaves 2 cycles later) north over 3 free links, each slower (3 cycles) than the DIP
    ld_done = t + SETUP + lat + max(dip, link) + lat
    t += 1  # dma.ld
    stall += ld_done - t
    t = ld_done + 1 + 2  # dma.wait 2, li, li
    # dma.st: the bytes leave after setup, take 3 hops south (tail at +link), the DIP takes them
    # as they come, and its acknowledgement comes back over the 3 hops
    st_head = t + SETUP
    st_at_dip = st_head + lat + link  # the tail reaches the attach point
    st_done = st_at_dip + lat
    t += 3  # dma.st, li, li
    # dma.list: two 384-byte stores (2 link cycles each) leave together after setup; the first
    # waits at each link for the dma.st's tail, the second for the first's
    half = math.ceil(384 / LINK)
    first_head = max(t + SETUP, st_head + link)  # link (0,0)S is free once the st's tail left
    first_at_dip = first_head + lat + half
    second_at_dip = first_at_dip + half  # one link-time behind the first, all the way
    assert math.ceil(384 / DIP_BPC) <= half  # the DIP keeps up: each finishes as its tail comes
    list_done = second_at_dip + lat
    t += 1  # dma.list
    stall += st_done - t
    t = st_done + 1  # dma.wait 5
    stall += list_done - t
    t = list_done + 1 + 1  # dma.wait 6, halt
    assert res.cores[(0, 0, 0, 0)].finish == t
    assert res.cores[(0, 0, 0, 0)].stall["dma"] == stall
    # the streams' bytes are on the links between the core and the attach point: the load north,
    # the store and the two halves of the list south
    assert res.link_bytes[(0, 3, "N")] == 768 and res.link_bytes[(0, 0, "S")] == 2 * 768


HBM_IMAGE = """
.target "mini"
.code main, 0.0.0.0
    tbase t0, x0, 0x100
    tshapei t0, 2, 4
    tfmt t0, fp32, 0
    li x3, 16
    lui x1, 0x10
    dma.ld t0, x1, x0, x3, 0
    dma.wait 0
    halt
.hbm 0x10000
.float 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0
.symbol y, output, fp32, 0, [2, 4], "SRAM 0x100"
.place sram, 0.0.0.0, 0x100, [0:2, 0:4], [16, 4]
"""


def test_hbm_image_is_loaded_at_its_address() -> None:
    res = run(HBM_IMAGE)
    np.testing.assert_array_equal(res.outputs["y"], np.arange(1, 9, dtype=np.float32).reshape(2, 4))


def test_every_dip_holding_bytes_of_a_striped_transfer_serves_a_part() -> None:
    """The time shares of dip_shares may leave out a DIP whose stripes hold a few bytes of a
    strided transfer; it still gets a part (of 0 bytes), so its bytes move with their own DIP."""
    from d1c.isa.tiles import DIP_SHIFT, STRIPE_BYTES, STRIPED
    from d1c.runtime.dma import _shares

    rng = np.random.default_rng(0)
    for _ in range(500):
        dips, rows = int(rng.integers(1, 7)), int(rng.integers(1, 9))
        rb = int(rng.integers(1, 9000))
        stride = rb + int(rng.integers(0, 20000))
        addr = (STRIPED << DIP_SHIFT) + int(rng.integers(0, 50000))
        parts = _shares((addr, rows, rb, stride), (rows - 1) * stride + rb, dips)
        off = addr & ((1 << DIP_SHIFT) - 1)
        held = {((off + r * stride + j) // STRIPE_BYTES) % dips for r in range(rows) for j in range(rb)}  # fmt: skip
        assert held <= {d for d, _ in parts} and sum(n for _, n in parts) == rows * rb


def _sram_dma(op: str, far_gid: int, nbytes: int) -> str:
    """0.0.0.0 moves ``nbytes`` (an fp32 row) between its SRAM at 0x1000 and core ``far_gid``'s at
    0x2000 (``op`` dma.ld: read it, dma.st: write it), issued at cycle 6, then waits."""
    lo = (far_gid << 24) | 0x2000
    cols = nbytes // 4
    return f""".target "mini"
.code a, 0.0.0.0
    tbase t0, x0, 0x1000
    tshapei t0, 1, {cols}
    lui x1, 0x{lo >> 12:x}
    lui x2, 0x80000
    li x3, 0
    nop
    {op} t0, x1, x2, x3, 0
    dma.wait 0
    halt
.code b, 0.0.2.0
    halt
.symbol x, input, fp32, 0, [2, {cols}], "a's row, then b's"
.place sram, 0.0.0.0, 0x1000, [0:1, 0:{cols}], [0, 4]
.place sram, 0.0.2.0, 0x2000, [1:2, 0:{cols}], [0, 4]
.symbol y, output, fp32, 0, [2, {cols}], "the same"
.place sram, 0.0.0.0, 0x1000, [0:1, 0:{cols}], [0, 4]
.place sram, 0.0.2.0, 0x2000, [1:2, 0:{cols}], [0, 4]
"""


def test_sram_to_sram_dma_times_and_data() -> None:
    x = np.random.default_rng(9).standard_normal((2, 1024)).astype(np.float32)
    store = MINI.core["sram_store_bytes_per_cycle"]
    lat, busy = 2 * HOP, math.ceil(4096 / LINK)  # 0.0.0.0 <-> 0.0.2.0: two hops
    # a copy inside 0.0.0.0's own SRAM: setup, then the store bandwidth
    res = run(_sram_dma("dma.ld", 0, 4096).replace("0x2000", "0x3000"), {"x": x})
    assert res.cores[(0, 0, 0, 0)].finish == 6 + SETUP + math.ceil(4096 / store) + 2
    # a read of 0.0.2.0: the request takes lat, the bytes come back over two hops
    res = run(_sram_dma("dma.ld", 2, 4096), {"x": x})
    assert res.cores[(0, 0, 0, 0)].finish == 6 + SETUP + lat + lat + busy + 2
    np.testing.assert_array_equal(bits(res.outputs["y"]), bits(x[[1, 1]]))  # landed at dma.wait
    assert res.link_bytes == {(2, 0, "W"): 4096, (1, 0, "W"): 4096}
    # a write into 0.0.2.0 (it has halted: the bytes land at the end of the run); done when the
    # acknowledgement is back
    res = run(_sram_dma("dma.st", 2, 4096), {"x": x})
    assert res.cores[(0, 0, 0, 0)].finish == 6 + SETUP + lat + busy + lat + 2
    np.testing.assert_array_equal(bits(res.outputs["y"]), bits(x[[0, 0]]))
