"""Tensor homes (execution model v2, codegen/memory.py): intermediates stay in the SRAM of the
cores that computed them and are read from there, spill to HBM when there is no room, and a
core reusing SRAM waits for the remote readers of what was there. Every program is bit-identical
to the interpreter (backend_harness.check); bytes are counted by hand."""

from __future__ import annotations

from pathlib import Path

from d1c.codegen import homes
from d1c.codegen.sync import dependencies
from d1c.ir import parse_module
from d1c.passes import Context, run_pipeline
from d1c.target import load_target
from tests.codegen.backend_harness import check, compile_module, ir
from tests.passes.custom_target import mini_variant

CHAIN = ir(
    "%x: tensor<64x128xbf16>",
    "tensor<64x128xbf16>",
    "%0 = exp %x : tensor<64x128xbf16>",
    "%1 = permute %0 {dims = [1, 0]} : tensor<128x64xbf16>",
    "%2 = permute %1 {dims = [1, 0]} : tensor<64x128xbf16>",
    "%3 = add %2, %0 : tensor<64x128xbf16>",
    "return %3",
)
TENSOR = 64 * 128 * 2  # bytes of every tensor of CHAIN


def homes_of(text: str, target: str) -> list[str]:
    placed, _ = compile_module(parse_module(text), target)
    run_pipeline(placed, "allocate-sram", ctx=Context(target=target))
    return [op.attrs.get("home", "-") for op in placed.main.ops[:-1]]


def test_intermediates_stay_in_sram_and_only_inputs_and_outputs_touch_hbm() -> None:
    res = check(CHAIN, "mini")
    assert homes_of(CHAIN, "mini") == ["sram", "sram", "sram", "-"]
    # x read once, the result written once: nothing else crosses a DIP
    assert res.total("dma_bytes") == 2 * TENSOR
    # every intermediate is computed in place and read by its consumers (the add reads two)
    assert res.total("copy_bytes") == 4 * TENSOR


def one_core(tmp_path: Path, sram: int = 262144) -> str:
    return mini_variant(
        tmp_path, f"one{sram}", chips_x=1, chips_y=1, cores_x=1, cores_y=1, disabled=[],
        sram_bytes=sram,
    )  # fmt: skip


def test_a_tensor_spills_to_hbm_when_its_core_has_no_room(tmp_path: Path) -> None:
    """One core of 64 KiB: its kernel buffers and the 16 KiB intermediates do not all fit, so
    the biggest one spills; results stay bit-identical."""
    target = one_core(tmp_path, 65536)
    res = check(CHAIN, target)
    spilled = homes_of(CHAIN, target).count("hbm")
    assert spilled >= 1
    # x in, the result out, and every spilled tensor written once and read back
    assert res.total("dma_bytes") >= (2 + 2 * spilled) * TENSOR


PAD = """module @m {
  func @main(%x: tensor<1x1x1x1xbf16>) -> (tensor<1x1x9xfp32>) {
    %0 = pad %x {pads = [0, 0, 0, 0, 1, 1, 1, 1], value = 0.0} : tensor<1x1x3x3xbf16>
    %1 = reshape %0 : tensor<1x1x9xbf16>
    %2 = full {value = 0.0625} : tensor<1x1x1xbf16>
    %3 = matmul %2, %1 : tensor<1x1x9xfp32>
    return %3
  }
}
"""


def test_a_pad_computed_in_place_gets_its_input_window_there(tmp_path: Path) -> None:
    """``pad`` DMAs its input's window over the fill in its result tile; when that tile is the
    tensor's home in SRAM, the window must land there too (found by ``d1c fuzz``)."""
    for target in ("mini", one_core(tmp_path)):
        check(PAD, target)
        assert homes_of(PAD, target)[0] == "sram"


WAR = ir(
    "%x: tensor<256x256xbf16>, %y: tensor<256x256xbf16>",
    "tensor<256x256xbf16>",
    "%0 = exp %x : tensor<256x256xbf16>",
    "%1 = permute %0 {dims = [1, 0]} : tensor<256x256xbf16>",
    "%2 = exp %y : tensor<256x256xbf16>",
    "%3 = add %1, %2 : tensor<256x256xbf16>",
    "return %3",
)


def test_a_core_reusing_sram_waits_for_the_remote_readers_of_what_was_there() -> None:
    """%0 is dead after the transpose (which every core reads from every other), so %2 may
    take its place on each core: the cores that computed %0 then wait for the transpose's
    readers before exp writes %2 (write after read), beyond the read-after-write tokens."""
    target = "mini"
    check(WAR, target)
    placed, _ = compile_module(parse_module(WAR), target)
    homed = homes.homed_program(placed.main, load_target(target))
    mem = homed.memory
    t0 = mem.tensor_of(placed.main.ops[0].attrs["hbm"])
    t2 = mem.tensor_of(placed.main.ops[2].attrs["hbm"])
    reused = [c for (t, c), at in mem.parts.items() if t == t2 and mem.parts.get((t0, c)) == at]
    assert reused, "exp %y did not reuse the SRAM of exp %x on any core"
    raw = dependencies(homed.logical)
    war = homes._with_war(raw, mem, homes.M.part_bytes(homed.logical, mem))
    added = {key: deps for key, deps in war.items() if deps != raw.get(key)}
    assert added and all(r in reused and deps.get(2) == 1 for (_, r), deps in added.items())
