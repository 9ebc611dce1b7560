"""BF16 and FP16 against torch and ml_dtypes: every code, 10^6 random float32s, ties and specials."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from d1c.isa import numerics as nx

NP_DTYPE = {"bf16": ml_dtypes.bfloat16, "fp16": np.float16}
TORCH_DTYPE = {"bf16": torch.bfloat16, "fp16": torch.float16}
ALL16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)


def same_bits_or_both_nan(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return bool(np.all((a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))))


def torch_codes(x: np.ndarray, fmt: str) -> np.ndarray:
    return torch.from_numpy(x).to(TORCH_DTYPE[fmt]).view(torch.int16).numpy().view(np.uint16)


def mldtypes_codes(x: np.ndarray, fmt: str) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(NP_DTYPE[fmt]).view(np.uint16)


def check_encode(x: np.ndarray, fmt: str) -> None:
    """Our RNE codes equal torch's and ml_dtypes' on non-NaN inputs; NaN stays NaN."""
    got = nx.encode(x, fmt)
    nan = np.isnan(x)
    for ref in (torch_codes(x, fmt), mldtypes_codes(x, fmt)):
        bad = np.flatnonzero((got != ref) & ~nan)
        assert bad.size == 0, (fmt, x[bad[:5]].view(np.uint32), got[bad[:5]], ref[bad[:5]])
    assert np.all(np.isnan(nx.decode(got[nan], fmt)))


@pytest.mark.parametrize("fmt", ["bf16", "fp16"])
def test_all_codes_decode_like_torch_and_ml_dtypes(fmt):
    got = nx.decode(ALL16, fmt)
    assert same_bits_or_both_nan(got, ALL16.view(NP_DTYPE[fmt]).astype(np.float32))
    as_torch = torch.from_numpy(ALL16.view(np.int16)).view(TORCH_DTYPE[fmt]).float().numpy()
    assert same_bits_or_both_nan(got, as_torch)
    finite_or_inf = ~np.isnan(got)
    assert np.array_equal(nx.encode(got, fmt)[finite_or_inf], ALL16[finite_or_inf])


@pytest.mark.parametrize("fmt", ["bf16", "fp16"])
def test_random_bit_patterns_round_like_torch(fmt):
    rng = np.random.default_rng(2024)
    x = rng.integers(0, 1 << 32, 1_000_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    check_encode(x, fmt)


@pytest.mark.parametrize("fmt", ["bf16", "fp16"])
def test_ties_and_their_neighbours(fmt):
    """Every midpoint between neighbouring codes, and one float32 ulp either side of it."""
    with np.errstate(invalid="ignore"):
        vals = ALL16.view(NP_DTYPE[fmt]).astype(np.float64)[: 1 << 15]
    vals = vals[np.isfinite(vals)]
    mid64 = (vals[:-1] + vals[1:]) / 2
    mid = mid64.astype(np.float32)
    assert np.array_equal(mid.astype(np.float64), mid64)
    x = np.concatenate(
        [mid, np.nextafter(mid, np.float32(0)), np.nextafter(mid, np.float32(np.inf))]
    )
    check_encode(np.concatenate([x, -x]), fmt)


def test_special_values():
    f32 = np.finfo(np.float32)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, f32.max, f32.tiny, f32.smallest_subnormal]
    special += [65504.0, 65519.996, 65520.0, 65536.0, 6.1035156e-05, 5.9604645e-08, 2.9802322e-08]
    special += [3.3895314e38, 3.3961775e38, 3.4028235e38, 1e-45, 1.1754942e-38, 1.0, 1.0 + 2**-8]
    x = np.array(special, np.float32)
    for fmt in ("bf16", "fp16"):
        check_encode(np.concatenate([x, -x]), fmt)


@settings(max_examples=300, deadline=None)
@given(x=st.floats(width=32), fmt=st.sampled_from(["bf16", "fp16"]))
def test_property_any_float32(x, fmt):
    check_encode(np.array([x], np.float32), fmt)


def test_nan_payload_rule():
    x = np.array([0x7FC00000, 0xFF800001, 0x7FA5A5A5], np.uint32).view(np.float32)
    # sign kept, quiet bit set, top payload bits kept
    assert nx.encode(x, "bf16").tolist() == [0x7FC0, 0xFFC0, 0x7FE5]
    assert nx.encode(x, "fp16").tolist() == [0x7E00, 0xFE00, 0x7F2D]


def test_ieee_flags():
    f = nx.Flag

    def flags_of(v: float, fmt: str) -> nx.Flag:
        flags = nx.Flags()
        nx.encode(np.array([v], np.float32), fmt, flags=flags)
        return flags.bits

    assert flags_of(65520.0, "fp16") == f.OVERFLOW  # rounds to Inf
    assert flags_of(65519.0, "fp16") == f.NONE  # rounds to max
    assert flags_of(np.inf, "fp16") == f.NONE  # exact Inf is no overflow
    assert flags_of(np.nan, "bf16") == f.INVALID
    assert flags_of(1e-6, "fp16") == f.UNDERFLOW  # fp16 denormal
    assert flags_of(1e-8, "fp16") == f.UNDERFLOW  # flushed to zero
    assert flags_of(6.103515625e-05, "fp16") == f.NONE  # min normal
    assert flags_of(1e-40, "bf16") == f.DENORMAL | f.UNDERFLOW
    assert flags_of(3.4e38, "bf16") == f.OVERFLOW
