"""Tile descriptors, tile memory, DMA/NoC helpers, and the matmul64 example executed with the
table's semantics functions (a minimal in-test executor, independent of the simulator)."""

from __future__ import annotations

import struct
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import torch

from d1c.isa import tiles
from d1c.isa.asm import assemble
from d1c.isa.encoding import decode_words
from d1c.isa.errors import SimulationError
from d1c.isa.tiles import TDesc

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "matmul64.s"


def test_descriptor_geometry_hand_values() -> None:
    d = TDesc(base=0x100, rows=3, cols=5, stride=0, fmt="bf16")
    assert (d.esize, d.row_bytes, d.pitch, d.span, d.nbytes) == (2, 10, 10, 30, 30)
    e = TDesc(base=0, rows=3, cols=5, stride=64, fmt="cfp8_143", bias=9)
    assert (e.pitch, e.span, e.nbytes) == (64, 133, 15)


def test_descriptor_setters_and_record_roundtrip() -> None:
    d = tiles.tbase(TDesc(), 0xFFFFFFF0, 0x20)
    d = tiles.tshape(d, 0x10003, 7, 96)
    d = tiles.tfmt(d, "cfp8_152", 31)
    assert d == TDesc(0x10, 3, 7, 96, "cfp8_152", 31)
    assert tiles.tshapei(d, 4, 9) == TDesc(0x10, 4, 9, 0, "cfp8_152", 31)
    words = tiles.tdesc_words(d)
    assert words.tolist() == [0x10, 3 | 7 << 16, 96, 4 | 31 << 8]
    assert tiles.tld(TDesc(), words) == d
    with pytest.raises(SimulationError, match="bad format word"):
        tiles.tld(TDesc(), np.array([0, 0, 0, 7], np.uint32))


def test_strided_tile_read_write_against_manual_bytes() -> None:
    mem = np.zeros(4096, np.uint8)
    d = TDesc(base=100, rows=4, cols=3, stride=40, fmt="fp32")
    vals = np.arange(12, dtype=np.float32).reshape(4, 3) - 5.5
    tiles.write_tile(mem, d, vals.view(np.uint32))
    for r in range(4):
        row = bytes(mem[100 + 40 * r : 100 + 40 * r + 12])
        assert row == struct.pack("<3f", *vals[r])
    assert mem[112:140].sum() == 0  # the gap between rows is untouched
    assert (tiles.read_tile(mem, d).view(np.float32) == vals).all()
    with pytest.raises(SimulationError, match="outside SRAM"):
        tiles.read_tile(mem, TDesc(base=4005, rows=3, cols=3, stride=40, fmt="fp32"))  # to 4097
    last = TDesc(base=4004, rows=3, cols=3, stride=40, fmt="fp32")  # ends exactly at 4096
    assert tiles.read_tile(mem, last).shape == (3, 3)


def test_tile_values_and_codes_against_ml_dtypes_and_hand_codes() -> None:
    x = np.array([[1.0, -2.5, 3.14159, 1e-3]], np.float32)
    bf = TDesc(rows=1, cols=4, fmt="bf16")
    codes = tiles.tile_codes(x, bf)
    assert (codes == x.astype(ml_dtypes.bfloat16).view(np.uint16)).all()
    assert (tiles.tile_values(codes, bf) == x.astype(ml_dtypes.bfloat16).astype(np.float32)).all()
    c8 = TDesc(rows=1, cols=3, fmt="cfp8_143", bias=7)
    assert tiles.tile_codes(np.array([[1.0, -1.0, 0.5]], np.float32), c8).tolist() == [
        [0x38, 0xB8, 0x30]
    ]
    assert tiles.tile_values(
        np.array([[0x38]], np.uint8), tiles.tfmt(c8, "cfp8_143", 6)
    ).tolist() == [[2.0]]
    i32 = TDesc(rows=1, cols=5, fmt="i32")
    got = tiles.tile_codes(np.array([[2.5, -2.5, 3e9, np.nan, -7.4]], np.float32), i32)
    assert got.tolist() == [[2, -2, 2**31 - 1, 0, -7]]
    fp = TDesc(rows=1, cols=2, fmt="fp32")
    assert tiles.tile_codes(np.array([[1.0, -0.0]], np.float32), fp).tolist() == [
        [0x3F800000, 0x80000000]
    ]


def test_same_encoding_rule() -> None:
    assert tiles.same_encoding(TDesc(fmt="bf16", bias=3), TDesc(fmt="bf16", bias=9))
    assert not tiles.same_encoding(TDesc(fmt="shp", bias=3), TDesc(fmt="shp", bias=9))
    assert not tiles.same_encoding(TDesc(fmt="bf16"), TDesc(fmt="fp16"))


def test_dma_list_and_hbm_address() -> None:
    words = np.array([1, 0x40, 0x10, 0x2, 4, 32, 64, 128, 0, 0, 0, 0, 1, 8, 8, 8], np.uint32)
    a, b = tiles.dma_list(words)
    assert a == tiles.DmaDesc(True, 0x40, (2 << 32) | 0x10, 4, 32, 64, 128)
    assert b == tiles.DmaDesc(False, 0, 0, 1, 8, 8, 8)
    assert tiles.hbm_addr(0xFFFFFFFF, 1) == 0x1FFFFFFFF
    with pytest.raises(SimulationError, match="reserved flag bits"):
        tiles.dma_list(np.array([2, 0, 0, 0, 0, 0, 0, 0], np.uint32))


def test_mcast_segments_cross_chip_edges() -> None:
    first, last = (
        0x00000302,
        0x01000102,
    )  # (chip 0, core x 3) .. (chip 1, core x 1), y = 2; grid 4x4
    assert tiles.mcast_targets(first, last, 4, 4) == [0x00000302, 0x01000002, 0x01000102]
    assert tiles.mcast_targets(0x00000001, 0x00000000, 4, 4) == [0x00000001, 0x00000000]
    with pytest.raises(SimulationError, match="share no mesh row or column"):
        tiles.mcast_targets(0x00000000, 0x00000101, 4, 4)


# ---------------------------------------------------------------- the example, executed
def _run(prog, hbm: np.ndarray) -> None:
    """Execute the single-core example with the rows' semantics (only the kinds it uses)."""
    x, t = [0] * 32, [TDesc()] * 16
    sram = np.zeros(1 << 16, np.uint8)
    code = decode_words(prog.code[0].code)
    pc = 0
    while True:
        inst = code[pc // 4]
        row, a = inst.row, inst.named()
        pc += 4
        if row.exec == "halt":
            return
        if row.exec == "const":
            x[a["rd"]] = row.sem(a["imm"])
        elif row.exec == "alu_imm":
            x[a["rd"]] = row.sem(x[a["rs1"]], a["imm"])
        elif row.name == "tbase":
            t[a["td"]] = row.sem(t[a["td"]], x[a["rs1"]], a["imm"])
        elif row.name == "tshape":
            t[a["td"]] = row.sem(t[a["td"]], x[a["rs1"]], x[a["rs2"]], x[a["rs3"]])
        elif row.name in ("tshapei", "tfmt"):
            t[a["td"]] = row.sem(t[a["td"]], *list(a.values())[1:])
        elif row.exec == "dma":
            d = t[a.get("td", a.get("ta"))]
            addr, stride = row.sem(x[a["rs1"]], x[a["rs2"]]), x[a["rs3"]]
            if row.name == "dma.ld":
                tiles.write_rows(
                    sram, d.base, tiles.read_rows(hbm, addr, d.rows, d.row_bytes, stride), d.pitch
                )
            else:
                tiles.write_rows(
                    hbm, addr, tiles.read_rows(sram, d.base, d.rows, d.row_bytes, d.pitch), stride
                )
        elif row.exec == "matrix":
            c, ta, tb = t[a["td"]], t[a["ta"]], t[a["tb"]]
            acc = (
                tiles.tile_values(tiles.read_tile(sram, c), c)
                if a["mode"] == "acc"
                else np.zeros(c.shape, np.float32)
            )
            va, vb = (tiles.tile_values(tiles.read_tile(sram, d), d) for d in (ta, tb))
            tiles.write_tile(sram, c, tiles.tile_codes(row.sem(acc, va, vb), c))
        elif row.exec == "loop":
            x[a["rs1"]], taken = row.sem(x[a["rs1"]])
            pc += 4 * (a["off"] - 1) if taken else 0
        elif row.exec != "dma_wait":
            raise AssertionError(f"executor does not handle {row.name}")


def test_matmul64_example_computes_a_sequential_k_bf16_matmul() -> None:
    prog = assemble(EXAMPLE.read_text())
    rng = np.random.default_rng(5)
    a, b = (rng.standard_normal((64, 64)).astype(ml_dtypes.bfloat16) for _ in range(2))
    hbm = np.zeros(0x8000, np.uint8)
    hbm[0:0x2000] = a.view(np.uint8).reshape(-1)
    hbm[0x2000:0x4000] = b.view(np.uint8).reshape(-1)
    _run(prog, hbm)
    got = hbm[0x4000:0x8000].view(np.float32).reshape(64, 64)
    ta, tb = torch.from_numpy(a.astype(np.float32)), torch.from_numpy(b.astype(np.float32))
    want = torch.zeros(64, 64)
    for k in range(64):  # independent oracle: torch float32, one rounding per product and per add
        want = want + ta[:, k : k + 1] * tb[k : k + 1, :]
    assert got.view(np.uint32).tolist() == want.numpy().view(np.uint32).tolist()
    syms = {s.name: s for s in prog.symbols}
    assert syms["c"].placements[0].addr == 0x4000 and syms["a"].shape == (64, 64)
