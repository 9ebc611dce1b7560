"""Systolic matmul (:mod:`d1c.codegen.systolic`): on any grid ``place`` may choose, the
simulated program is bit-identical to the IR interpreter (non-dividing shapes, several tiles per
core, operands in bf16 and CFloat8, single- and double-buffered, chains across chips); each
operand is read from DIP HBM once per grid row or column (the DMA byte counter against a count
by hand); the cost model picks a grid where reuse pays and none for small matmuls."""

from __future__ import annotations

import dataclasses
import math
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from d1c.codegen.emit import build_program, input_arrays, output_names
from d1c.codegen.systolic import grid_options, grid_sites
from d1c.errors import CompileError
from d1c.interp import interpret
from d1c.ir import parse_module, print_module
from d1c.passes import Context, place, run_pipeline
from d1c.runtime.sim import simulate
from d1c.target import load_target
from d1c.testing.targets import target_specs
from tests.codegen.backend_harness import expected, inputs_for, ir, mismatches


def mm(m: int, k: int, n: int, fmt: str = "bf16", epilogue: bool = True) -> str:
    ops = [
        f'%0 = convert %a {{rounding = "rne"}} : tensor<{m}x{k}x{fmt}>',
        f'%1 = convert %b {{rounding = "rne"}} : tensor<{k}x{n}x{fmt}>',
        f"%2 = matmul %0, %1 : tensor<{m}x{n}xfp32>",
    ]
    last = "%2"
    if epilogue:  # fused into the kernel's epilogue
        ops.append(f"%3 = relu %2 : tensor<{m}x{n}xfp32>")
        last = "%3"
    return ir(f"%a: tensor<{m}x{k}xfp32>, %b: tensor<{k}x{n}xfp32>", f"tensor<{m}x{n}xfp32>",
              *ops, f"return {last}")  # fmt: skip


def compile_on(text: str, target: str, grid, passes: str, monkeypatch):
    """Placed module and program with ``place`` forced to ``grid`` (None: dealt tiles)."""
    monkeypatch.setattr(
        place,
        "systolic_layout",
        lambda op, f, t, cores: (grid, op.attrs["tile"]) if grid and op.name == "matmul" else None,
    )
    placed = run_pipeline(parse_module(text), passes, ctx=Context(target=target))
    return placed, build_program(placed, load_target(target))


def run_checked(text, target, grid, passes, monkeypatch, seed=0):
    m = parse_module(text)
    xs = inputs_for(m, seed=seed, special=0.01)
    ref = interpret(m, xs)
    placed, prog = compile_on(text, target, grid, passes, monkeypatch)
    (op,) = [op for op in placed.main.ops if op.name == "matmul"]
    got = op.attrs.get("grid")
    assert (tuple(got) if got else None) == (tuple(grid) if grid else None)
    res = simulate(prog, load_target(target), input_arrays(placed.main, xs, prog))
    for name, r in zip(output_names(placed.main), ref, strict=True):
        bad = mismatches(res.outputs[name], expected(r))
        assert not bad.any(), f"{name}: {int(bad.sum())} elements differ\n{print_module(placed)}"
    return placed, res


@pytest.mark.parametrize("passes", ["tile,fuse,place", "tile,fuse,place,schedule"])
@pytest.mark.parametrize(
    "shape,grid",
    [
        ((200, 300, 170), (2, 3)),  # edge tiles in every direction, one tile per core
        ((200, 300, 170), (2, 1)),  # a single column: B flows down, every row loads its A
        ((200, 300, 170), (1, 3)),  # a single row: A flows right
        ((512, 200, 640), (8, 5)),  # a rectangle over the 4 chips of mini, two tiles per core
    ],
)
def test_systolic_is_bit_identical(shape, grid, passes, monkeypatch) -> None:
    run_checked(mm(*shape), "mini", grid, passes, monkeypatch)


def test_systolic_cfloat8_operands(monkeypatch) -> None:
    run_checked(mm(130, 96, 200, fmt="cfp8_143<8>"), "mini", (3, 4), "tile,place", monkeypatch)


def test_each_operand_is_read_once_per_grid_row_or_column(monkeypatch) -> None:
    m, k, n = 256, 384, 512  # tiles 4 x 8 of 64 x 64; K in 3 chunks
    text = mm(m, k, n, epilogue=False)
    for grid in [(2, 4), (4, 4), (2, 8), (1, 2)]:
        r, q = grid
        _, res = run_checked(text, "mini", grid, "tile,place", monkeypatch)
        ti, tj = m // 64, n // 64
        # A (bf16) read tj/q times, B ti/r times; the fp32 result written once
        want = 2 * m * k * (tj // q) + 2 * k * n * (ti // r) + 4 * m * n
        assert res.total("dma_bytes") == want, grid  # the host writes inputs and reads results


def test_cost_model_picks_a_grid_only_where_reuse_pays() -> None:
    big = run_pipeline(parse_module(mm(2048, 2048, 2048, epilogue=False)), "tile,place",
                       ctx=Context(target="dojo-tile"))  # fmt: skip
    (op,) = [op for op in big.main.ops if op.name == "matmul"]
    (r, q), (tm, tn, _) = op.attrs["grid"], op.attrs["tile"]
    assert r * q == op.attrs["cores"] >= 4096  # most of the tile's 8,850 cores
    assert tm % 8 == 0 and tn % 8 == 0  # re-cut to whole 8x8 blocks of the matrix unit
    assert r * tm >= 2048 > (r - 1) * tm and q * tn >= 2048 > (q - 1) * tn  # a tile per core
    tiny = run_pipeline(parse_module(mm(8, 8, 8)), "tile,place", ctx=Context(target="mini"))
    (op,) = [op for op in tiny.main.ops if op.name == "matmul"]
    assert "grid" not in op.attrs  # one 8x8 block: nothing to share


@pytest.mark.parametrize("shape", [(64, 64, 64), (300, 100, 40), (1024, 1024, 1024)])
def test_the_cost_models_choice_is_not_slower_than_dealing(shape, monkeypatch) -> None:
    """The simulator (timing-only) agrees with place's choice: never slower than dealt tiles."""
    text, tgt = mm(*shape, epilogue=False), load_target("mini")
    placed = run_pipeline(parse_module(text), "tile,place,schedule", ctx=Context(target="mini"))
    chosen = simulate(build_program(placed, tgt), tgt, None, timing_only=True).cycles
    _, prog = compile_on(text, "mini", None, "tile,place,schedule", monkeypatch)
    assert chosen <= simulate(prog, tgt, None, timing_only=True).cycles


@pytest.mark.parametrize("size", [384, 600])
def test_the_chosen_layout_is_bit_identical(size: int) -> None:
    """place's own choice (re-cut tiles on mini's widest grid) through the whole backend."""
    text = mm(size, size, size)
    m = parse_module(text)
    xs = inputs_for(m, seed=1, special=0.01)
    placed = run_pipeline(
        parse_module(text), "tile,fuse,place,schedule", ctx=Context(target="mini")
    )
    (op,) = [op for op in placed.main.ops if op.name == "matmul"]
    assert "grid" in op.attrs
    prog = build_program(placed, load_target("mini"))
    res = simulate(prog, load_target("mini"), input_arrays(placed.main, xs, prog))
    for name, r in zip(output_names(placed.main), interpret(m, xs), strict=True):
        assert not mismatches(res.outputs[name], expected(r)).any()


@pytest.mark.slow
def test_grid_is_faster_than_dealt_tiles_on_a_large_gemm(monkeypatch) -> None:
    text = mm(2048, 2048, 2048, epilogue=False)
    tgt = load_target("dojo-tile")
    cycles = {}
    for grid in [None, (32, 32)]:
        _, prog = compile_on(text, "dojo-tile", grid, "tile,place,schedule", monkeypatch)
        cycles[grid] = simulate(prog, tgt, None, timing_only=True).cycles
    assert cycles[(32, 32)] * 4 < cycles[None], cycles
    assert math.isfinite(np.float64(cycles[(32, 32)]))


def test_a_grid_the_target_lacks_or_on_another_op_is_a_compile_error() -> None:
    text = mm(64, 64, 64)  # relu not fused: a kernel of its own
    placed = run_pipeline(parse_module(text), "tile,place", ctx=Context(target="mini"))
    (op,) = [op for op in placed.main.ops if op.name == "matmul"]
    op.attrs["grid"] = (9, 2)  # mini's mesh has 8 rows
    with pytest.raises(CompileError, match="no 9x2 grid of usable cores"):
        build_program(placed, load_target("mini"))
    op.attrs.pop("grid")
    relu = next(o for o in placed.main.ops if o.name == "relu")
    relu.attrs["grid"] = (2, 2)
    with pytest.raises(CompileError, match="only an unbatched matmul runs on a core grid"):
        build_program(placed, load_target("mini"))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    spec=target_specs(),
    shape=st.tuples(*[st.sampled_from([1, 7, 64, 67, 131, 200]) for _ in range(3)]),
    fmt=st.sampled_from(["bf16", "cfp8_143<9>", "cfp8_152<15>"]),
    pick=st.integers(0, 10**6),
    passes=st.sampled_from(["tile,fuse,place", "tile,fuse,place,schedule"]),
)
def test_random_grids_on_random_targets_are_bit_identical(spec, shape, fmt, pick, passes) -> None:
    """Any grid a random mini-like target has room for, on matmuls of sizes that do not divide
    the tiles, in every operand format: bit-identical to the interpreter."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        target = dataclasses.replace(spec, hbm_bytes=1 << 30).write(tmp)  # room for the data
        text = mm(*shape, fmt=fmt)
        tiled = run_pipeline(parse_module(text), "tile", ctx=Context(target=target))
        (op,) = [o for o in tiled.main.ops if o.name == "matmul"]
        tgt = load_target(target)
        grids = [g for g in grid_options(op, tgt.num_cores) if grid_sites(tgt, *g) is not None]
        assume(grids)
        try:
            run_checked(text, target, grids[pick % len(grids)], passes, mp)
        except CompileError as err:  # too little SRAM for this grid's records: a clear error
            assume("SRAM" not in err.message)
            raise


def test_striped_operands_on_a_grid_of_the_tile_are_bit_identical() -> None:
    """dojo-tile: 1 MiB+ operands live in the striped HBM window and the matmul runs on a grid;
    the data path (host packing, striped DMAs, NoC chains, stores) keeps the interpreter's bits."""
    from d1c.isa.tiles import DIP_SHIFT, STRIPED

    text = mm(512, 1024, 512, epilogue=False)
    m = parse_module(text)
    xs = inputs_for(m, seed=2, special=0.0)
    placed = run_pipeline(parse_module(text), "tile,fuse,place,schedule",
                          ctx=Context(target="dojo-tile"))  # fmt: skip
    (op,) = [op for op in placed.main.ops if op.name == "matmul"]
    assert "grid" in op.attrs and op.attrs["hbm"] >> DIP_SHIFT == STRIPED
    tgt = load_target("dojo-tile")
    prog = build_program(placed, tgt)
    res = simulate(prog, tgt, input_arrays(placed.main, xs, prog))
    for name, r in zip(output_names(placed.main), interpret(m, xs), strict=True):
        assert not mismatches(res.outputs[name], expected(r)).any()
