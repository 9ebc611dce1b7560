"""The JIT mma kernel against the numpy semantics function (bit for bit) and hand oracles.

NaN: both implementations canonicalise every NaN to 0x7FC00000, so results are compared as raw
uint32 bits everywhere, NaNs included (no isnan relaxation is needed).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from d1c.isa import numerics, semantics
from d1c.isa.errors import SimulationError
from d1c.runtime import jit, native_mma

SHAPES = [
    (1, 1, 1),
    (1, 17, 300),
    (7, 1, 3),
    (2, 3, 5),
    (6, 32, 256),
    (13, 37, 257),
    (31, 65, 97),
    (5, 8, 513),
    (12, 48, 64),
    (3, 101, 11),
]
FORMATS = ["bf16", "fp16", "cfp8_143", "cfp8_152"]


def bits(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).view(np.uint32)


def assert_same_bits(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == np.float32 and got.shape == want.shape
    diff = np.flatnonzero(bits(got) != bits(want))
    assert diff.size == 0, f"{diff.size} elements differ, first at flat index {diff[:5]}"


def check(acc: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    got = native_mma.mma(acc, a, b)
    assert_same_bits(got, semantics.mma(acc, a, b))
    return got


def test_backend_is_the_jit_here() -> None:
    assert native_mma.backend() == "llvm", native_mma.fallback_reason()
    assert native_mma.fallback_reason() is None


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_random_quantized_inputs(shape: tuple[int, int, int], fmt: str) -> None:
    m, n, k = shape
    rng = np.random.default_rng([m, n, k, FORMATS.index(fmt)])
    acc = (rng.standard_normal((m, n)) * 4).astype(np.float32)
    a = numerics.quantize(rng.standard_normal((m, k)) * 3, fmt)
    b = numerics.quantize(rng.standard_normal((k, n)) * 3, fmt)
    got = check(acc, a, b)
    close = np.allclose(
        got, acc.astype(np.float64) + a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3
    )
    assert close  # sanity against float64: catches a kernel that computes something else entirely


@pytest.mark.parametrize("seed", range(4))
def test_wide_range_fp32_inputs(seed: int) -> None:
    """Arbitrary float32 (products round, overflow, go subnormal): an FMA would change bits."""
    rng = np.random.default_rng(seed)
    m, n, k = 9, 41, 70
    mant = rng.uniform(-2, 2, size=(3, max(m, k), max(n, k)))
    expo = rng.integers(-80, 70, size=mant.shape)
    vals = np.ldexp(mant, expo).astype(np.float32)
    check(vals[0, :m, :n] * 1e-20, vals[1, :m, :k], vals[2, :k, :n])


_TINY = [2.0**-75, -(2.0**-74), 2.0**-133]  # products and sums in the fp32 denormal range
SPECIALS = np.array(
    [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0**64, 3.0e38, -3.0e38, *_TINY],
    dtype=np.float32,
)


@pytest.mark.parametrize("seed", range(6))
def test_special_values(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    m, n, k = 11, 23, 19
    acc = rng.choice(SPECIALS, size=(m, n))
    acc[0, :3] = np.array([1e-45, -1e-45, 1.1754942e-38], dtype=np.float32)  # fp32 denormals
    check(acc, rng.choice(SPECIALS, size=(m, k)), rng.choice(SPECIALS, size=(k, n)))


def test_nan_payloads_are_canonical() -> None:
    nan_bits = np.array([0x7F800001, 0xFFC12345, 0x7FFFFFFF], dtype=np.uint32).view(np.float32)
    acc = np.zeros((1, 3), np.float32)
    got = native_mma.mma(acc, nan_bits.reshape(1, 3), np.ones((3, 3), np.float32))
    assert (bits(got) == 0x7FC00000).all()
    got = native_mma.mma(
        nan_bits.reshape(1, 3), np.zeros((1, 0), np.float32), np.zeros((0, 3), np.float32)
    )
    assert (bits(got) == 0x7FC00000).all()


def test_denormal_sum_is_not_flushed() -> None:
    """2^-75 * 2^-74 = 2^-149 exactly; 2^-149 + 2^-149 = 2^-148 (bits 2). FTZ/DAZ would give 0."""
    acc = np.array([[2.0**-149]], dtype=np.float32)
    got = native_mma.mma(
        acc, np.array([[2.0**-75]], np.float32), np.array([[2.0**-74]], np.float32)
    )
    assert bits(got)[0, 0] == 2


MXCSR_IR = """
declare void @llvm.x86.sse.ldmxcsr(ptr)
declare void @llvm.x86.sse.stmxcsr(ptr)
define i32 @get_mxcsr() {
  %p = alloca i32
  call void @llvm.x86.sse.stmxcsr(ptr %p)
  %v = load i32, ptr %p
  ret i32 %v
}
define void @set_mxcsr(i32 %v) {
  %p = alloca i32
  store i32 %v, ptr %p
  call void @llvm.x86.sse.ldmxcsr(ptr %p)
  ret void
}
"""
FTZ_DAZ = 0x8040


@pytest.mark.skipif(not jit.host_triple().startswith("x86_64"), reason="MXCSR is x86")
def test_flush_to_zero_in_the_caller_does_not_reach_the_kernel() -> None:
    """With FTZ/DAZ on in this thread, numpy flushes the denormal sum; the kernel does not, and
    it restores the caller's MXCSR."""
    mod = jit.load("test-mxcsr", MXCSR_IR)
    get_mxcsr = mod.function("get_mxcsr", ctypes.c_uint32)
    set_mxcsr = mod.function("set_mxcsr", None, ctypes.c_uint32)
    acc = np.array([[2.0**-149]], dtype=np.float32)
    a, b = np.array([[2.0**-75]], np.float32), np.array([[2.0**-74]], np.float32)
    old = get_mxcsr()
    try:
        set_mxcsr(old | FTZ_DAZ)
        flushed = semantics.mma(acc, a, b)
        got = native_mma.mma(acc, a, b)
        after = get_mxcsr()
    finally:
        set_mxcsr(old)
    assert bits(flushed)[0, 0] == 0  # proves FTZ/DAZ was really on
    assert bits(got)[0, 0] == 2
    assert after == old | FTZ_DAZ


def test_no_fused_multiply_add() -> None:
    """2^-100 * 1.5*2^-49 = 1.5*2^-149 rounds (tie, even) to 2^-148; -2^-148 + 2^-148 = +0.0.

    A fused multiply-add would round -2^-148 + 1.5*2^-149 = -0.5*2^-149 once, to -0.0.
    """
    acc = np.array([[-(2.0**-148)]], dtype=np.float32)
    got = native_mma.mma(
        acc, np.array([[2.0**-100]], np.float32), np.array([[1.5 * 2.0**-49]], np.float32)
    )
    assert bits(got)[0, 0] == 0x00000000


def test_k_order_is_sequential() -> None:
    """(0 + 2^24) + 1 rounds back to 2^24 (tie to even), then - 2^24 gives 0; float64 gives 1."""
    a = np.array([[2.0**24, 1.0, -(2.0**24), 0.5]], dtype=np.float32)
    got = native_mma.mma(np.zeros((1, 1), np.float32), a, np.ones((4, 1), np.float32))
    assert got[0, 0] == 0.5


def python_reference(acc: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element by element with float32 scalars: out = f32(out + f32(a*b)), k = 0..K-1."""
    out = acc.copy()
    with np.errstate(all="ignore"):
        for i in range(a.shape[0]):
            for j in range(b.shape[1]):
                s = np.float32(acc[i, j])
                for k in range(a.shape[1]):
                    s = np.float32(s + np.float32(a[i, k] * b[k, j]))
                out[i, j] = s
    out[np.isnan(out)] = np.uint32(0x7FC00000).view(np.float32)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_against_scalar_python_loop(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    m, n, k = 3, 20, 7
    a = np.where(
        rng.random((m, k)) < 0.2,
        rng.choice(SPECIALS, (m, k)),
        numerics.quantize(rng.standard_normal((m, k)), "bf16"),
    )
    b = numerics.quantize(rng.standard_normal((k, n)) * 1e-20, "bf16")
    acc = rng.choice(SPECIALS, (m, n))
    assert_same_bits(native_mma.mma(acc, a, b), python_reference(acc, a, b))


def test_layouts_dtypes_and_inputs_untouched() -> None:
    rng = np.random.default_rng(7)
    a64 = rng.standard_normal((40, 9))
    bt = numerics.quantize(rng.standard_normal((33, 9)), "bf16").T  # non-contiguous view
    acc = np.asfortranarray(rng.standard_normal((40, 33)).astype(np.float32))
    saved = (a64.copy(), bt.copy(), acc.copy())
    got = check(acc, a64, bt)
    assert got.flags.c_contiguous
    for before, after in zip(saved, (a64, bt, acc), strict=True):
        assert np.array_equal(before, after)


@pytest.mark.parametrize("shape", [(0, 5, 3), (4, 0, 3), (4, 5, 0), (0, 0, 0)])
def test_empty_extents(shape: tuple[int, int, int]) -> None:
    m, n, k = shape
    acc = np.full((m, n), -0.0, np.float32)
    check(acc, np.ones((m, k), np.float32), np.ones((k, n), np.float32))


@pytest.mark.parametrize(
    "shapes",
    [
        ((2, 3), (2, 4), (5, 3)),
        ((2, 3), (2, 4), (4, 2)),
        ((2,), (2, 1), (1, 2)),
        ((3, 3), (2, 1), (1, 3)),
    ],
)
def test_shape_mismatch_is_a_simulation_error(shapes: tuple) -> None:
    acc, a, b = (np.zeros(s, np.float32) for s in shapes)
    with pytest.raises(SimulationError, match="mma"):
        native_mma.mma(acc, a, b)


def test_compiled_code_has_no_fma() -> None:
    assert native_mma.backend() == "llvm"  # compiles the kernel once, so the cache holds it
    asm = jit.load(f"mma-{native_mma.block_shape()}", "").assembly()  # the cached module
    assert re.search(r"\bv?f(n)?m(add|sub)", asm) is None
    assert re.search(r"\bv?mulps\b", asm) and re.search(r"\bv?addps\b", asm)


def test_fallback_when_jit_disabled() -> None:
    code = (
        "import warnings, numpy as np\n"
        "from d1c.runtime import native_mma\n"
        "from d1c.isa import semantics\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    a = np.arange(12, dtype=np.float32).reshape(3, 4)\n"
        "    out = native_mma.mma(np.zeros((3, 3), np.float32), a, a.T.copy())\n"
        "    native_mma.mma(np.zeros((3, 3), np.float32), a, a.T.copy())\n"
        "assert np.array_equal(out, semantics.mma(np.zeros((3, 3), np.float32), a, a.T))\n"
        "print(native_mma.backend(), native_mma.fallback_reason(), len(w))\n"
    )
    env = dict(os.environ, D1C_NO_JIT="1")
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["numpy", "D1C_NO_JIT", "is", "set", "1"]


def _benchmark_module() -> object:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "sim_matmul.py"
    spec = importlib.util.spec_from_file_location("sim_matmul_bench", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("grid", [1, 2])
@pytest.mark.parametrize("b_panels", [True, False])
def test_benchmark_program_is_bit_exact(grid: int, b_panels: bool) -> None:
    """The benchmark's generated program (DMA chunks, per-core params, B layouts) on the simulator."""
    from d1c.isa.asm import assemble
    from d1c.runtime import simulate

    bench = _benchmark_module()
    a, b = bench.operands(64, seed=grid)
    plan = bench.Plan(64, grid, t=16, kc=16, b_panels=b_panels)
    res = simulate(assemble(bench.matmul_program(plan)), "dojo-tile", {"a": a, "b": b})
    want = semantics.mma(np.zeros((64, 64), np.float32), a, b)
    assert_same_bits(res.outputs["c"], want)
    assert res.total("macs") == 64**3
