"""Matrix unit in the simulator: bit-exact BF16/CFloat8 matmul against a numpy sequential-K
reference, K split across instructions, the ISA example program, and the kernel dispatch point."""

from __future__ import annotations

import numpy as np
import pytest

from d1c.isa import numerics, semantics
from d1c.runtime import tileops
from tests.runtime.sim_helpers import ROOT, bf16, bits, one_core, run, wide_range

M, N, K, K0 = 32, 48, 40, 24

# C[32,48] fp32 = A[32,40] @ B[40,48] (FMT, ES-byte elements) with K split 24 + 16 over two mma
# instructions using strided sub-tiles of A (row pitch 40*ES). A at 0x0, B at 0x1000, C at 0x2000.
SPLIT_K = one_core(
    """
    tbase t0, x0, 0x2000
    tshapei t0, 32, 48
    tfmt t0, fp32, 0
    li x1, 32
    li x2, 24
    li x3, PITCH
    tshape t3, x1, x2, x3
    tfmt t3, FMT, BIAS
    tbase t4, x0, 0x1000
    tshapei t4, 24, 48
    tfmt t4, FMT, BIAS
    mma t0, t3, t4, zero
    li x2, 16
    tshape t3, x1, x2, x3
    tbase t3, x0, A1
    tbase t4, x0, B1
    tshapei t4, 16, 48
    mma t0, t3, t4, acc
    halt
""",
    """
.symbol a, input, FMT, BIAS, [32, 40], "row-major, SRAM 0x0"
.place sram, 0.0.0.0, 0x0, [0:32, 0:40], [PITCH, ES]
.symbol b, input, FMT, BIAS, [40, 48], "row-major, SRAM 0x1000"
.place sram, 0.0.0.0, 0x1000, [0:40, 0:48], [BPITCH, ES]
.symbol c, output, fp32, 0, [32, 48], "row-major, SRAM 0x2000"
.place sram, 0.0.0.0, 0x2000, [0:32, 0:48], [192, 4]
""",
)


def sequential_k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """docs/design.md §4 written out: for k in order, acc = fp32(acc + fp32(a[:,k] * b[k,:]))."""
    acc = np.zeros((a.shape[0], b.shape[1]), dtype=np.float32)
    for k in range(a.shape[1]):
        prod = (a[:, k : k + 1].astype(np.float32) * b[k : k + 1, :].astype(np.float32)).astype(
            np.float32
        )
        acc = (acc + prod).astype(np.float32)
    return acc


def _split_k(fmt: str, bias: int) -> str:
    es = 2 if fmt == "bf16" else 1
    subs = {"BPITCH": 48 * es, "PITCH": 40 * es, "A1": K0 * es, "B1": 0x1000 + K0 * 48 * es}
    text = SPLIT_K.replace("FMT", fmt).replace("BIAS", str(bias))
    for key, value in subs.items():
        text = text.replace(key, str(value))
    return text.replace("ES", str(es))


def test_bf16_matmul_split_k_is_bit_exact() -> None:
    rng = np.random.default_rng(7)
    a, b = wide_range(rng, (M, K)), wide_range(rng, (K, N))
    res = run(_split_k("bf16", 0), {"a": a, "b": b})
    want = sequential_k(bf16(a), bf16(b))
    np.testing.assert_array_equal(bits(res.outputs["c"]), bits(want))
    # the data is chosen so that another summation order gives other bits: the test can fail.
    # The contrast is an order built here (K reversed), never the host BLAS's, whose order
    # depends on the CPU kernel it picks.
    reversed_k = sequential_k(bf16(a)[:, ::-1], bf16(b)[::-1, :])
    assert not np.array_equal(bits(reversed_k), bits(want))
    assert res.cores[(0, 0, 0, 0)].macs == M * N * K


def test_cfp8_matmul_with_bias_is_bit_exact() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((M, K)), rng.standard_normal((K, N))
    res = run(_split_k("cfp8_143", 10), {"a": a, "b": b})
    qa = numerics.quantize(a.astype(np.float32), "cfp8_143", bias=10)
    qb = numerics.quantize(b.astype(np.float32), "cfp8_143", bias=10)
    np.testing.assert_array_equal(bits(res.outputs["c"]), bits(sequential_k(qa, qb)))


def test_examples_matmul64_runs_and_matches_numpy() -> None:
    rng = np.random.default_rng(9)
    a, b = wide_range(rng, (64, 64)), wide_range(rng, (64, 64))
    res = run((ROOT / "examples" / "matmul64.s").read_text(), {"a": a, "b": b})
    np.testing.assert_array_equal(bits(res.outputs["c"]), bits(sequential_k(bf16(a), bf16(b))))
    np.testing.assert_allclose(res.outputs["c"], bf16(a) @ bf16(b), rtol=1e-4, atol=1e-3)


def test_matrix_kernel_dispatch_gives_the_semantics_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(10)
    a, b = wide_range(rng, (M, K)), wide_range(rng, (K, N))
    fast = run(_split_k("bf16", 0), {"a": a, "b": b}).outputs["c"]
    monkeypatch.setattr(tileops, "_MMA", semantics.mma)
    slow = run(_split_k("bf16", 0), {"a": a, "b": b}).outputs["c"]
    np.testing.assert_array_equal(bits(fast), bits(slow))
