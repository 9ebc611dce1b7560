"""DMA between SRAMs (execution model v2): a core reads another core's SRAM after a token says the
bytes are there, and copies inside its own SRAM; data against the input, times by hand from the
target figures, faults for an SRAM that no core of the program owns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from d1c.errors import SimulationError
from d1c.isa.tiles import sram_addr
from tests.runtime.sim_helpers import MINI, bits, run

SETUP = MINI.dma["setup_cycles"]
HOP = MINI.noc["hop_latency_cycles"]
LINK = MINI.noc["link_bytes_per_cycle"]
STORE = MINI.core["sram_store_bytes_per_cycle"]


def _words(gid: int, off: int) -> str:
    addr = sram_addr(gid, off)
    return f"{addr & 0xFFFFFFFF:#x}, {addr >> 32:#x}"


# Core a (0.0.0.0, gid 0) loads x [8, 16] fp32 into SRAM 0x0 and tells core b (0.0.1.0, gid 1,
# one hop east). b waits for the token, reads the tile from a's SRAM into its 0x800 (one
# descriptor), copies its two halves swapped to 0x1000 inside its own SRAM, and stores both.
PROGRAM = f"""
.target "mini"
.code a, 0.0.0.0
    tbase t0, x0, 0
    tshapei t0, 8, 16
    tfmt t0, fp32, 0
    li x1, 0x1000
    li x2, 64
    dma.ld t0, x1, x0, x2, 0
    dma.wait 0
    li x3, 0x100
    notify x3, 6
    halt
.code b, 0.0.1.0
    li x3, 0
    await x3, 6
    li x1, 0x4000
    li x2, 1
    dma.list x1, x2, 1
    dma.wait 1
    li x1, 0x4020
    li x2, 2
    dma.list x1, x2, 2
    dma.wait 2
    tbase t1, x0, 0x800
    tshapei t1, 8, 16
    tfmt t1, fp32, 0
    li x1, 0x8000
    li x2, 64
    dma.st t1, x1, x0, x2, 3
    tbase t2, x0, 0x1000
    tshapei t2, 8, 16
    tfmt t2, fp32, 0
    li x1, 0x9000
    dma.st t2, x1, x0, x2, 3
    dma.wait 3
    halt

.sram 0x4000, 0.0.1.0
.word 0, 0x800, {_words(0, 0)}, 8, 64, 64, 64
.word 0, 0x1000, {_words(1, 0x900)}, 4, 64, 64, 64
.word 0, 0x1100, {_words(1, 0x800)}, 4, 64, 64, 64

.symbol x, input, fp32, 0, [8, 16], "HBM 0x1000"
.place hbm, 0x1000, [0:8, 0:16], [64, 4]
.symbol y, output, fp32, 0, [8, 16], "HBM 0x8000"
.place hbm, 0x8000, [0:8, 0:16], [64, 4]
.symbol z, output, fp32, 0, [8, 16], "HBM 0x9000"
.place hbm, 0x9000, [0:8, 0:16], [64, 4]
"""


def test_a_core_reads_another_cores_sram_and_copies_inside_its_own() -> None:
    x = np.random.default_rng(3).standard_normal((8, 16)).astype(np.float32)
    res = run(PROGRAM, {"x": x}, trace=True)
    np.testing.assert_array_equal(bits(res.outputs["y"]), bits(x))
    np.testing.assert_array_equal(bits(res.outputs["z"]), bits(np.roll(x, 4, axis=0)))
    b = res.cores[(0, 0, 1, 0)]
    assert b.copy_bytes == 3 * 256 + 256 and b.dma_bytes == 2 * 512  # copies; HBM stores
    copies = [e for e in res.trace if e[0] == "copy"]
    # the read: setup, a request to a (1 hop), the 512 bytes back over 1 link (cut through)
    assert copies[0][3] == SETUP + HOP + HOP + math.ceil(512 / LINK)
    # the copies inside b's SRAM: setup, then the store bandwidth, one after the other
    local = SETUP + math.ceil(256 / STORE)
    assert [e[3] for e in copies[1:]] == [local, local + math.ceil(256 / STORE)]
    assert res.link_bytes[(0, 0, "E")] == 512  # a's data crossed the link a -> b


def test_a_copy_from_an_sram_no_core_of_the_program_owns_is_a_fault() -> None:
    bad = PROGRAM.replace(f".word 0, 0x800, {_words(0, 0)}", f".word 0, 0x800, {_words(2, 0)}")
    with pytest.raises(SimulationError, match="gid 2 runs no program"):
        run(bad, {"x": np.zeros((8, 16), np.float32)})


def test_a_copy_outside_the_far_sram_is_a_fault() -> None:
    far = MINI.sram_bytes - 256
    bad = PROGRAM.replace(f".word 0, 0x800, {_words(0, 0)}", f".word 0, 0x800, {_words(0, far)}")
    with pytest.raises(SimulationError, match="outside SRAM"):
        run(bad, {"x": np.zeros((8, 16), np.float32)})


def test_await_takes_a_token_and_refuses_data() -> None:
    """A data message where a token is awaited is a fault (and the other way round)."""
    text = PROGRAM.replace("    notify x3, 6", "    send t0, x3, 6")
    with pytest.raises(SimulationError, match="not a token"):
        run(text, {"x": np.zeros((8, 16), np.float32)})
