"""Stochastic rounding: reproducible stream, neighbours only, unbiased within a derived bound.

Statistical bound. For x between neighbours lo < hi, SR returns hi with probability
p = (x - lo) / (hi - lo), so the error e = q(x) - x has mean 0 and variance
p (1 - p) (hi - lo)^2 = (x - lo)(hi - x). Independent errors sum to S with sd
sigma_S = sqrt(sum (x_i - lo_i)(hi_i - x_i)); we require |S| < 5 sigma_S (for n equal terms this is
|mean e| < 5 sigma / sqrt(n)). A correct implementation fails it with probability ~6e-7, and the
seeds are fixed, so the test is deterministic; truncation fails it by hundreds of sigma (checked).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d1c.isa import numerics as nx
from tests.isa.numerics_oracle import neighbours, positive_table, sr_hash, sr_scalar

CASES = [
    ("bf16", None),
    ("fp16", None),
    ("cfp8_143", 7),
    ("cfp8_143", 40),
    ("cfp8_152", 15),
    ("cfp8_152", 0),
    ("shp", 20),
]
N = 1_000_000


def samples(table: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Log-uniform float32 magnitudes from the smallest denormal to half of max, random signs."""
    rng = np.random.default_rng(seed)
    lg = rng.uniform(np.log2(table[1]), np.log2(table[-1]) - 1, n)
    return (np.exp2(lg) * rng.choice([-1.0, 1.0], n)).astype(np.float32)


def sr(
    x: np.ndarray, fmt: str, bias: int | None, seed: int = 0, stream: int = 0, **kw
) -> np.ndarray:
    return nx.quantize(x, fmt, bias=bias, rounding="sr", seed=seed, stream=stream, **kw)


def test_hash_matches_documented_splitmix64():
    for seed, stream in [(0, 0), (1, 0), (12345, nx.sr_stream(17, 99)), ((1 << 64) - 1, 7)]:
        got = nx.random_bits(50, seed, stream)
        assert got.tolist() == [sr_hash(i, seed, stream) for i in range(50)]
    assert nx.sr_stream(3, 5) == (3 << 40) | 5


@pytest.mark.parametrize(("fmt", "bias"), CASES)
def test_sr_matches_scalar_reference(fmt, bias):
    f = nx.FORMATS[fmt]
    b = f.default_bias if bias is None else bias
    x = samples(positive_table(fmt, b), 3000, seed=1)
    got = sr(x, fmt, bias, seed=42, stream=9).astype(np.float64)
    want = [sr_scalar(float(v), f.man_bits, b, sr_hash(i, 42, 9)) for i, v in enumerate(x)]
    assert np.array_equal(np.abs(got), np.array(want))
    assert np.array_equal(np.signbit(got), np.signbit(x))


@pytest.mark.parametrize(("fmt", "bias"), CASES)
def test_sr_reproducible_neighbours_and_unbiased(fmt, bias):
    table = positive_table(fmt, nx.FORMATS[fmt].default_bias if bias is None else bias)
    x = samples(table, N, seed=7)
    q = sr(x, fmt, bias, seed=3, stream=11)
    assert np.array_equal(q.view(np.uint32), sr(x, fmt, bias, seed=3, stream=11).view(np.uint32))
    assert np.mean(q != sr(x, fmt, bias, seed=4, stream=11)) > 0.2
    assert np.mean(q != sr(x, fmt, bias, seed=3, stream=12)) > 0.2
    a = np.abs(x.astype(np.float64))
    lo, hi = neighbours(a, table)
    qa = np.abs(q.astype(np.float64))
    assert np.all((qa == lo) | (qa == hi))
    assert np.array_equal(np.signbit(q), np.signbit(x))
    err, sigma = np.sum(qa - a), np.sqrt(np.sum((a - lo) * (hi - a)))
    assert abs(err) < 5 * sigma
    assert abs(np.sum(lo - a)) > 5 * sigma  # truncation would fail the same bound


@pytest.mark.parametrize("p", [0.5, 0.3, 1 / 1024])
def test_sr_up_frequency_of_one_value(p):
    lo = 1.0
    x = np.full(N, lo + p * 2.0**-7, np.float32)  # bf16 neighbours 1 and 1 + 2^-7
    ups = np.count_nonzero(sr(x, "bf16", None, seed=9) > lo)
    assert abs(ups - N * p) < 5 * np.sqrt(N * p * (1 - p))


def test_sr_exact_values_unchanged_and_specials():
    vals = nx.decode(np.arange(256, dtype=np.uint8), "cfp8_152", bias=15)
    assert np.array_equal(sr(vals, "cfp8_152", 15, seed=1).view(np.uint32), vals.view(np.uint32))
    # far below the smallest denormal (drop > 63): always zero, sign kept
    tiny = np.full(1000, -1e-30, np.float32)
    assert np.all(nx.encode(tiny, "cfp8_143", bias=0, rounding="sr") == 0x80)
    # IEEE overflow under SR: 65520 is halfway between fp16 max and 2^16 -> Inf half the time
    q = sr(np.full(N, 65520.0, np.float32), "fp16", None, seed=2)
    assert set(np.unique(q).tolist()) == {65504.0, np.inf}
    assert abs(np.count_nonzero(np.isinf(q)) - N / 2) < 5 * np.sqrt(N / 4)


def test_sr_wp_gap_probability():
    # cfp8_143 bias 7 wp: D = 7 * 2^-10, N = 16 * 2^-10; x = 10 * 2^-10 -> P(N) = 3/9
    x = np.full(N, 10 * 2.0**-10, np.float32)
    q = sr(x, "cfp8_143", 7, seed=5, denorm="wp")
    assert set(np.unique(q).tolist()) == {7 * 2.0**-10, 2.0**-6}
    p = 3 / 9
    assert abs(np.count_nonzero(q == 2.0**-6) - N * p) < 5 * np.sqrt(N * p * (1 - p))


@settings(max_examples=200, deadline=None)
@given(
    x=st.floats(width=32, allow_nan=False, allow_infinity=False),
    case=st.sampled_from(CASES),
    seed=st.integers(0, (1 << 64) - 1),
)
def test_sr_property_result_is_a_neighbour(x, case, seed):
    fmt, bias = case
    table = positive_table(fmt, nx.FORMATS[fmt].default_bias if bias is None else bias)
    a = min(abs(x), table[-1])  # beyond max: IEEE may give Inf, CFloat saturates (tested above)
    lo, hi = neighbours(np.array([a]), table)
    q = abs(float(sr(np.array([a], np.float32), fmt, bias, seed=seed)[0]))
    assert q in (lo[0], hi[0])
