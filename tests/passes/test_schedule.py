"""schedule: ``buffers = 2`` on the kernels that gain and fit, and the double-buffered code.

IR before/after; the fit rule tight to the byte on a small-SRAM variant of mini (hand-computed
layout); the doubled plan's buffer sets; bit-identical results for every parity shape of the
pipelined loop (1 to 5 K steps per tile, 1 to 3 tiles per core, fused epilogue), also when every
DMA moves its data only at its ``dma.wait`` (the latest moment the DMA contract allows: a buffer
read before its load completed, or overwritten before its store completed, shows up as wrong
bits); and fewer cycles, by at least the load time of all steps but the first, on a
compute-bound matmul."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from d1c.codegen.emit import build_program, input_arrays, output_names
from d1c.codegen.program import plan_kernels
from d1c.interp import interpret
from d1c.ir import modules_equal, parse_module, print_module
from d1c.isa.errors import SimulationError
from d1c.passes import Context, run_pipeline
from d1c.runtime import dma
from d1c.runtime.memory import read_bytes
from d1c.runtime.sim import simulate
from d1c.target import load_target
from tests.codegen.backend_harness import expected, inputs_for, ir, mismatches
from tests.passes.custom_target import mini_variant


@contextlib.contextmanager
def deferred_dma():
    """The latest DMA data moments the contract allows: loads land at their ``dma.wait`` (the
    simulator's rule) and a store's SRAM bytes must be unchanged until its ``dma.wait`` (as if
    read only then; a change is a fault). Yields the transfers never waited for."""
    pending: dict[tuple[int, int], list] = {}
    transfer, wait = dma._transfer, dma.ex_dma_wait

    def on_transfer(c, to_hbm, sram, hbm, tag):
        snap = bytes(read_bytes(c.mem, sram[0], sram[1], sram[2], sram[3])) if to_hbm else None
        pending.setdefault((id(c), tag), []).append((c, sram, snap))
        return transfer(c, to_hbm, sram, hbm, tag)

    def on_wait(c, pc, op):
        for core, sram, snap in pending.pop((id(c), op[1]), []):
            if snap is not None and bytes(read_bytes(core.mem, *sram)) != snap:
                raise SimulationError(f"store source {sram} overwritten before its dma.wait")
        return wait(c, pc, op)

    dma._transfer, dma.ex_dma_wait = on_transfer, on_wait
    try:
        yield pending
    finally:
        dma._transfer, dma.ex_dma_wait = transfer, wait


def compile_run(text: str, target: str, passes: str, defer: bool = False):
    """(placed module, simulation result) after checking every output bit for bit."""
    m = parse_module(text, "<test>")
    xs = inputs_for(m, special=0.0)
    ref = interpret(m, xs)
    placed = run_pipeline(parse_module(text), passes, ctx=Context(target=target))
    tgt = load_target(target)
    prog = build_program(placed, tgt)
    with deferred_dma() if defer else contextlib.nullcontext() as left:
        res = simulate(prog, tgt, input_arrays(placed.main, xs, prog))
    assert not left, "DMAs never waited for"
    for name, r in zip(output_names(placed.main), ref, strict=True):
        bad = mismatches(res.outputs[name], expected(r))
        assert not bad.any(), f"{name}: {int(bad.sum())} differ\n{print_module(placed)}"
    return placed, res


MM = "%0 = matmul %a, %b {tile = [16, 16, 32], cores = 1, hbm = 5120} : tensor<16x16xfp32>"
PLACED = ir(
    "%a: tensor<16x64xbf16>, %b: tensor<64x16xbf16>, %x: tensor<16x16xfp32>",
    "tensor<16x16xfp32>, tensor<16x16xfp32>, tensor<4x4xfp32>",
    MM,
    "%1 = exp %x {tile = [16, 16], cores = 1, hbm = 6144} : tensor<16x16xfp32>",
    "%2 = full {value = 1.5, tile = [4, 4], cores = 1, hbm = 7168} : tensor<4x4xfp32>",
    "return %0, %1, %2",
)


def test_ir_before_after() -> None:
    """The matmul (two K steps) is doubled; exp (one step on its core) and full (a fill) not."""
    got = run_pipeline(parse_module(PLACED), "schedule", ctx=Context(target="mini"))
    want = PLACED.replace("hbm = 5120}", "hbm = 5120, buffers = 2}")
    assert modules_equal(got, parse_module(want), check_locs=False), print_module(got)


def test_fit_rule_is_tight(tmp_path: Path) -> None:
    """The matmul's buffers: C 16x16 fp32, A 16x32 and B 32x16 bf16 = 3 x 1024 B, doubled 6144.
    Its core's static image: record 16 + 16 + 2 steps x (16 + 2 x 16) = 128 B, DMA lists
    2 steps x 2 + 1 store = 5 descriptors x 32 = 160 B (exp and full run on the same core:
    records 16 + 16 + 16 + 16 = 64 and 32 + 32 = 64 B list for exp, 16 + 16 + 16 = 48 and 32 for
    full): 128 + 160 + 64 + 64 + 48 + 32 = 496 B. Doubling needs 6144 + 496 = 6640 bytes below
    the parameter row (3 kernels: 7 words = 28 bytes at the top, 64-byte aligned down): with
    6684 bytes of SRAM the row sits at 6656 and the matmul is doubled, with 6620 at 6592 and it
    is not (single buffers need 3072 + 496)."""
    for sram, doubled in ((6684, True), (6620, False)):
        target = mini_variant(tmp_path, f"sram{sram}", sram_bytes=sram)
        placed, _ = compile_run(PLACED, target, "schedule,allocate-sram", defer=True)
        assert ("buffers" in placed.main.ops[0].attrs) is doubled, sram


def test_doubled_plan_alternates_buffer_sets() -> None:
    """Three 8x16 tiles on one core, K = 48 in chunks of 16 (3 steps each): the single set is C
    512 + A 256 + B 512 = 1280 B; tile i's result at (i % 2) * 1280, step j's operands in set
    j % 2 counted over the core's steps (0,1,0 | 1,0,1 | 0,1,0)."""
    text = ir(
        "%a: tensor<24x48xbf16>, %b: tensor<48x16xbf16>",
        "tensor<24x16xfp32>",
        "%0 = matmul %a, %b {tile = [8, 16, 16], cores = 1, hbm = 4096, buffers = 2}"
        " : tensor<24x16xfp32>",
        "return %0",
    )
    m = parse_module(text)
    plan = plan_kernels(m.main, load_target("mini"))[0]
    assert plan.buffer_bytes == 2 * 1280
    items = plan.items[0]
    assert [it.out.base for it in items] == [0, 1280, 0]
    a_bases = [s.tiles[0].base for it in items for s in it.steps]
    assert a_bases == [512 + 1280 * (j % 2) for j in range(9)]


def batched(k: int) -> str:
    """130 tiles of [8, 16] over mini's 60 cores (1 to 3 per core), K steps of 128, + bias."""
    return ir(
        f"%a: tensor<130x8x{k}xfp32>, %b: tensor<{k}x16xfp32>, %c: tensor<16xfp32>",
        "tensor<130x8x16xfp32>",
        f'%0 = convert %a {{rounding = "rne"}} : tensor<130x8x{k}xbf16>',
        f'%1 = convert %b {{rounding = "rne"}} : tensor<{k}x16xbf16>',
        "%2 = matmul %0, %1 : tensor<130x8x16xfp32>",
        "%3 = sub %2, %c : tensor<130x8x16xfp32>",
        "return %3",
    )


@pytest.mark.parametrize("k", [100, 256, 300, 512, 600])
def test_every_pipeline_shape_is_bit_identical(k: int) -> None:
    placed, _ = compile_run(batched(k), "mini", "tile,fuse,place,schedule", defer=True)
    mm = next(op for op in placed.main.ops if op.name == "matmul")
    assert mm.attrs["buffers"] == 2 and "fuse" in mm.attrs


def test_overlap_saves_the_load_time_of_all_but_the_first_step(dealt) -> None:
    """One core, 16 K steps of A 64x128 + B 128x64 bf16 = 32 KiB each (82 cycles at mini's 400
    B/cycle DIP) against 2048-cycle mma steps: double buffering hides 15 steps' loads."""
    text = ir(
        "%a: tensor<64x2048xbf16>, %b: tensor<2048x64xbf16>",
        "tensor<64x64xfp32>",
        "%0 = matmul %a, %b : tensor<64x64xfp32>",
        "return %0",
    )
    _, single = compile_run(text, "mini", "tile,place")
    placed, double = compile_run(text, "mini", "tile,place,schedule", defer=True)
    assert placed.main.ops[0].attrs["buffers"] == 2
    assert single.cycles - double.cycles >= 15 * -(-32768 // 400)
