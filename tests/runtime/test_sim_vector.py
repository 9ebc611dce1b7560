"""Vector, reduction, conversion and move instructions in the simulator against numpy, ml_dtypes
and float64 references; sticky flags and the stochastic-rounding seed register."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from d1c.isa import numerics
from d1c.isa.formats import Flag
from tests.runtime.sim_helpers import bf16, bits, one_core, run

BODY = """
    tshapei t0, 8, 32
    tfmt t0, bf16, 0
    tbase t1, x0, 0x200
    tshapei t1, 8, 32
    tfmt t1, bf16, 0
    tbase t2, x0, 0x400
    tshapei t2, 8, 32
    tfmt t2, bf16, 0
    vadd t2, t0, t1, rne
    tbase t3, x0, 0x600
    tshapei t3, 8, 32
    tfmt t3, fp32, 0
    lui x1, 0x3fc00
    vmuls t3, t0, x1, rne
    tbase t4, x0, 0xa00
    tshapei t4, 1, 32
    tfmt t4, fp32, 0
    vred t4, t0, sum, rows, zero, rne
    tbase t5, x0, 0xb00
    tshapei t5, 32, 8
    tfmt t5, bf16, 0
    ttrans t5, t0
    tbase t6, x0, 0xd00
    tshapei t6, 4, 32
    tfmt t6, fp32, 0
    tbcast t6, t4, rows
    tbase t7, x0, 0xf00
    tshapei t7, 8, 32
    tfmt t7, fp32, 0
    vcmp t7, t0, t1, gt
    tbase t8, x0, 0x1300
    tshapei t8, 8, 32
    tfmt t8, fp32, 0
    vfn t8, t3, exp, rne
    li x2, 12345
    csrw srseed, x2
    tbase t9, x0, 0x1700
    tshapei t9, 8, 32
    tfmt t9, bf16, 0
    vcvt t9, t3, sr
    tbase t10, x0, 0x1900
    tshapei t10, 8, 32
    tfmt t10, cfp8_143, 30
    vcvt t10, t3, rne
    csrr x5, flags
    st x5, x0, 0x1a80
    tbase t11, x0, 0x1a00
    tshapei t11, 1, 3
    tfmt t11, i32, 0
    tbase t12, x0, 0x1a40
    tshapei t12, 3, 32
    tfmt t12, bf16, 0
    tgather t12, t0, t11, rows
    halt
"""

SYMBOLS = [
    ("a", "input", "bf16", (8, 32), 0x0),
    ("b", "input", "bf16", (8, 32), 0x200),
    ("idx", "input", "i32", (3,), 0x1A00),
    ("sum", "output", "bf16", (8, 32), 0x400),
    ("scaled", "output", "fp32", (8, 32), 0x600),
    ("colsum", "output", "fp32", (1, 32), 0xA00),
    ("trans", "output", "bf16", (32, 8), 0xB00),
    ("bcast", "output", "fp32", (4, 32), 0xD00),
    ("gt", "output", "fp32", (8, 32), 0xF00),
    ("ex", "output", "fp32", (8, 32), 0x1300),
    ("sr", "output", "bf16", (8, 32), 0x1700),
    ("fl", "output", "i32", (1,), 0x1A80),
    ("gathered", "output", "bf16", (3, 32), 0x1A40),
]


def _symbols() -> str:
    lines = []
    size = {"bf16": 2, "fp32": 4, "i32": 4}
    for name, role, fmt, shape, addr in SYMBOLS:
        es = size[fmt]
        strides = [shape[-1] * es, es] if len(shape) == 2 else [es]
        region = ", ".join(f"0:{d}" for d in shape)
        lines.append(f'.symbol {name}, {role}, {fmt}, 0, {list(shape)}, ""')
        lines.append(f".place sram, 0.0.0.0, {addr:#x}, [{region}], {strides}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((8, 32)), rng.standard_normal((8, 32))
    inputs = {"a": a, "b": b, "idx": np.array([5, 0, 7], np.int32)}
    return bf16(a), bf16(b), run(one_core(BODY, _symbols()), inputs)


def test_elementwise_against_numpy_and_ml_dtypes(result) -> None:
    a, b, res = result
    out = res.outputs
    want_sum = (a + b).astype(ml_dtypes.bfloat16).astype(np.float32)
    np.testing.assert_array_equal(bits(out["sum"]), bits(want_sum))
    np.testing.assert_array_equal(bits(out["scaled"]), bits(a * np.float32(1.5)))
    np.testing.assert_array_equal(out["gt"], (a > b).astype(np.float32))
    ref = np.exp(out["scaled"].astype(np.float64))
    ulp = np.spacing(ref.astype(np.float32)).astype(np.float64)
    assert np.all(np.abs(out["ex"] - ref) <= 4 * ulp)


def test_reduction_and_moves(result) -> None:
    a, _, res = result
    out = res.outputs
    acc = np.full(32, -0.0, np.float32)
    for r in range(8):
        acc = (acc + a[r]).astype(np.float32)
    np.testing.assert_array_equal(bits(out["colsum"]), bits(acc[None, :]))
    np.testing.assert_array_equal(bits(out["trans"]), bits(a.T))
    np.testing.assert_array_equal(bits(out["bcast"]), bits(np.broadcast_to(acc, (4, 32))))
    np.testing.assert_array_equal(bits(out["gathered"]), bits(a[[5, 0, 7]]))


def test_stochastic_rounding_uses_the_srseed_register(result) -> None:
    _, _, res = result
    x = res.outputs["scaled"]
    sr = res.outputs["sr"]
    want = numerics.encode(x, "bf16", rounding="sr", seed=12345, stream=0)
    np.testing.assert_array_equal(res.output_codes["sr"], want)
    down = x.view(np.uint32) & 0xFFFF0000
    lo, hi = down.view(np.float32), (down + 0x10000).view(np.float32)
    assert np.all((sr == lo) | (sr == hi) | (np.abs(sr) == np.abs(x)))


def test_overflow_flag_is_sticky_and_readable(result) -> None:
    _, _, res = result
    assert res.outputs["fl"][0] & Flag.OVERFLOW
    assert res.flags[(0, 0, 0, 0)] & Flag.OVERFLOW


def test_timing_only_matches_for_the_vector_program(result) -> None:
    _, _, res = result
    fast = run(one_core(BODY, _symbols()), None, timing_only=True)
    assert fast.cycles == res.cycles
    assert fast.cores[(0, 0, 0, 0)].vector_ops == res.cores[(0, 0, 0, 0)].vector_ops
