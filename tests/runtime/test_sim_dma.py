"""DMA in the simulator: HBM -> SRAM -> HBM round trips with strides and dma.list descriptors,
HBM images, completion times and DIP contention computed by hand from the target figures."""

from __future__ import annotations

import math

import numpy as np

from tests.runtime.sim_helpers import MINI, bf16, bits, run

SETUP = MINI.dma["setup_cycles"]
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


def test_dma_times_follow_setup_bandwidth_and_dip_fifo() -> None:
    res = run(ROUND_TRIP, {"x": np.zeros((16, 24), np.float32)})
    xfer, half = math.ceil(768 / DIP_BPC), math.ceil(384 / DIP_BPC)
    t, stall = 5, 0  # dma.ld issues after five one-cycle instructions
    ld_done = t + SETUP + xfer
    t += 1  # dma.ld
    stall += ld_done - t
    t = ld_done + 1 + 2  # dma.wait 2, li, li
    st_done = t + SETUP + xfer  # dma.st issues
    t += 3  # dma.st, li, li
    # dma.list issues: both descriptors (384 bytes each) queue behind the dma.st on the one DIP
    first = max(t + SETUP, st_done) + half
    list_done = max(t + SETUP, first) + half
    t += 1  # dma.list
    stall += st_done - t
    t = st_done + 1  # dma.wait 5
    stall += list_done - t
    t = list_done + 1 + 1  # dma.wait 6, halt
    assert res.cores[(0, 0, 0, 0)].finish == t
    assert res.cores[(0, 0, 0, 0)].stall["dma"] == stall


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
