"""allocate-sram: the ``sram`` attribute (IR before/after), per-core liveness of kernel buffers,
the overflow report (core, live buffers, bytes, lifetimes, source lines, hint) on huge tiles and
on too many records, and the proof against the simulator: at the smallest SRAM the proof accepts
the program runs bit-exact without a fault, one byte less is rejected.

Expected bytes are computed by hand from the layout rules: tile buffers are rows x cols x element
size rounded up to 64 bytes; a work record is a 16-byte header, a 16-byte result-tile record and
per step a 16-byte header plus 16 bytes per operand tile; a DMA descriptor is 32 bytes (one per
operand tile of a contiguous tensor, one for the result)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from d1c import driver
from d1c.codegen.emit import build_program, input_arrays, output_names
from d1c.codegen.program import plan_kernels, program_coords
from d1c.codegen.sram import core_srams, layout_of
from d1c.errors import CompileError
from d1c.interp import interpret
from d1c.ir import Module, modules_equal, parse_module, print_module
from d1c.passes import Context, run_pipeline
from d1c.runtime.sim import simulate
from d1c.target import load_target
from tests.codegen.backend_harness import expected, inputs_for, mismatches
from tests.passes.custom_target import mini_variant

ROOT = Path(__file__).resolve().parents[2]
MINI = load_target("mini")


def module(args: str, results: str, *ops: str) -> str:
    body = "".join(f"    {op}\n" for op in ops)
    return f"module @m {{\n  func @main({args}) -> ({results}) {{\n{body}  }}\n}}\n"


def run(text: str, passes: str, target: str = "mini") -> Module:
    return run_pipeline(parse_module(text, "<test>"), passes, ctx=Context(target=target))


ARGS = "%x: tensor<16x32xbf16>, %y: tensor<16x32xbf16>, %z: tensor<16x40xfp32>"
RESULTS = "tensor<16x16xfp32>, tensor<32x16xbf16>, tensor<16x1xfp32>"
PLACED = [
    "%0 = add %x, %y {tile = [16, 32], cores = 1, hbm = 4608} : tensor<16x32xbf16>",
    "%1 = permute %0 {dims = [1, 0], tile = [32, 16], cores = 1, hbm = 5632} : tensor<32x16xbf16>",
    "%2 = matmul %0, %1 {tile = [16, 16, 32], cores = 1, hbm = 6656} : tensor<16x16xfp32>",
    "%3 = reduce_sum %z {dims = [1], keepdim = true, tile = [16, 40], cores = 1, hbm = 7680}"
    " : tensor<16x1xfp32>",
    "return %2, %1, %3",
]
# add: result + 2 operands of 16x32 bf16 = 3 x 1024. permute: result, operand and the
# transposed staging tile, 3 x 1024. matmul: C 16x16 fp32 1024, A 16x32 bf16 1024, B 32x16 bf16
# 1024. reduce_sum: result 16x1 fp32 = 64 B (aligned), operand 16x40 fp32 2560.
SRAM = (3072, 3072, 3072, 64 + 2560)


def test_sram_attribute_is_each_kernels_buffer_bytes() -> None:
    got = run(module(ARGS, RESULTS, *PLACED), "allocate-sram")
    after = [op.replace("} :", f", sram = {s}}} :") for op, s in zip(PLACED, SRAM, strict=False)]
    want = parse_module(module(ARGS, RESULTS, *after, PLACED[-1]))
    assert modules_equal(got, want), print_module(got)


def test_cores_reserve_only_the_buffers_of_kernels_they_work_in() -> None:
    text = module(
        "%x: tensor<64x32xbf16>, %a: tensor<16x64xbf16>, %b: tensor<64x16xbf16>",
        "tensor<64x32xbf16>, tensor<16x16xfp32>",
        "%0 = add %x, %x {tile = [16, 32]} : tensor<64x32xbf16>",
        "%1 = matmul %a, %b {tile = [16, 16, 64]} : tensor<16x16xfp32>",
        "return %0, %1",
    )
    placed = run(text, "place,allocate-sram")
    plans = plan_kernels(placed.main, MINI)
    cores = core_srams(plans, program_coords(placed.main, MINI))
    # 4 add tiles on cores 0-3 (3 x 1024 B buffers); the matmul (C 1024 + A 2048 + B 2048 B)
    # only on core 0. A record with one step of two operands is 80 B, plus 3 descriptors of 32.
    assert [c.coord for c in cores] == [(0, 0, x, 0) for x in range(4)]
    assert [c.image.base for c in cores] == [5120, 3072, 3072, 3072]
    assert [c.image.top for c in cores] == [5120 + 2 * 176, 3072 + 176, 3072 + 176, 3072 + 176]
    assert [c.peak_kernel for c in cores] == [1, 0, 0, 0]
    lay = layout_of(plans, MINI)
    assert lay.param_words == 5 and cores[1].peak(lay) == 3072 + 176 + 20


HUGE = module(
    "%a: tensor<256x256xbf16>, %b: tensor<256x256xbf16>",
    "tensor<256x256xfp32>",
    '%0 = matmul %a, %b {tile = [256, 256, 256]} : tensor<256x256xfp32> loc("model.py":7:5)',
    "return %0",
)


def test_huge_tiles_overflow_names_the_core_and_the_live_buffers(dealt) -> None:
    with pytest.raises(CompileError) as err:
        run(HUGE, "place,allocate-sram")
    e = err.value
    lines = [" ".join(ln.split()) for ln in e.message.splitlines()]
    # C 256x256 fp32 + A, B 256x256 bf16 = 524288 B; one record (80 B) + 3 descriptors (96 B);
    # parameter row [cores, records, count] = 12 B.
    assert lines[0] == (
        "core 0.0.0.0 needs 524,476 bytes of SRAM but has 262,144 "
        "(1 of the program's 1 cores overflow); live at its peak:"
    )
    assert lines[1:] == [
        "%0 result tile 256x256 fp32 262,144 B kernel 0 model.py:7",
        "%0 operand 0 tile 256x256 bf16 131,072 B kernel 0 model.py:7",
        "%0 operand 1 tile 256x256 bf16 131,072 B kernel 0 model.py:7",
        "%0 work records and DMA lists (1 tile) 176 B kernel 0 model.py:7",
        "parameter row 12 B kernel 0",
    ]
    assert (e.loc.file, e.loc.line) == ("model.py", 7)
    assert "smaller `tile`" in e.hint and "more SRAM" in e.hint


def test_emit_runs_the_same_proof(dealt) -> None:
    placed = run(HUGE, "place")
    with pytest.raises(CompileError) as built:
        build_program(placed, MINI)
    with pytest.raises(CompileError) as passed:
        run(HUGE, "place,allocate-sram")
    assert built.value.message == passed.value.message


def test_too_many_work_records_for_a_tiny_sram(tmp_path: Path) -> None:
    tiny = mini_variant(tmp_path, "tiny", sram_bytes=8192)
    text = module(
        "%a: tensor<4096x512xbf16>, %b: tensor<4096x512xbf16>",
        "tensor<4096x512xbf16>",
        '%0 = add %a, %b : tensor<4096x512xbf16> loc("net.py":9:5)',
        "return %0",
    )
    with pytest.raises(CompileError) as err:
        run(text, "tile,place,allocate-sram", tiny)
    # tile budget 4096 B at 10 B per element of a 512-wide row: [1, 512] tiles, 4096 of them on
    # 60 cores, 69 per core (the last has 25 and fits); each record 80 B + 3 descriptors 96 B.
    lines = [" ".join(ln.split()) for ln in err.value.message.splitlines()]
    assert lines[0].startswith("core 0.0.0.0 needs 15,228 bytes of SRAM but has 8,192 (59 of")
    assert lines[1:4] == [f"%0 {r} tile 1x512 bf16 1,024 B kernel 0 net.py:9" for r in RESULT_OPS]
    assert lines[4] == "%0 work records and DMA lists (69 tiles) 12,144 B kernel 0 net.py:9"
    assert "more cores" in err.value.hint


RESULT_OPS = ("result", "operand 0", "operand 1")


# --------------------------------------------------------------------- the proof vs the simulator
def _tiled(name: str) -> str:
    """Tiled IR text on mini for a test program."""
    if name == "attention":
        src = driver.load_source(str(ROOT / "examples" / "attention.d1"))
        return print_module(driver.compile_module(src.module, "tiled", opts=driver.Options("mini")))
    if name == "kernels":
        return module(ARGS, RESULTS, *(re.sub(r", cores = 1, hbm = \d+", "", op) for op in PLACED))
    return module(  # 32 tiles of a broadcasting multiply dealt over 32 cores
        "%x: tensor<128x256xfp32>, %s: tensor<256xfp32>",
        "tensor<128x256xfp32>",
        "%0 = mul %x, %s {tile = [4, 256]} : tensor<128x256xfp32>",
        "return %0",
    )


def _smallest_sram(text: str) -> int:
    placed = run(text, "place")
    plans = plan_kernels(placed.main, MINI)
    lay = layout_of(plans, MINI)
    top = max(c.image.top for c in core_srams(plans, program_coords(placed.main, MINI)))
    return -(-top // 64) * 64 + lay.param_bytes


@pytest.mark.parametrize("name", ["kernels", "broadcast", "attention"])
def test_the_proof_is_tight_against_the_simulator(name: str, tmp_path: Path) -> None:
    text = _tiled(name)
    need = _smallest_sram(text)
    with pytest.raises(CompileError, match="bytes of SRAM but has"):
        # one word less (targets have whole 32-bit words of SRAM)
        run(text, "place,route,allocate-sram", mini_variant(tmp_path, "short", sram_bytes=need - 4))
    path = mini_variant(tmp_path, "exact", sram_bytes=need)
    placed = run(text, "place,route,allocate-sram", path)
    target = load_target(path)
    prog = build_program(placed, target)
    m = parse_module(text)
    xs = inputs_for(m)
    res = simulate(prog, target, input_arrays(placed.main, xs, prog))
    for out, ref in zip(output_names(placed.main), interpret(m, xs), strict=True):
        assert not mismatches(res.outputs[out], expected(ref)).any(), out
    assert int(dict(prog.meta)["sram_peak"]) <= need == target.sram_bytes
