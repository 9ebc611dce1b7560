"""CFloat8 (1-4-3, 1-5-2) and SHP: exhaustive decode, round trip, RNE, saturation, signed zero, flags.

The oracle is numerics_oracle: values from the whitepaper formula in float64 and brute-force
nearest-even rounding over the table of every code.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d1c.isa import numerics as nx
from tests.isa.numerics_oracle import cfloat_values, positive_table, rne_codes

CFP8 = ["cfp8_143", "cfp8_152"]
DENORMS = ["ieee", "wp"]
CFLOATS = [*CFP8, "shp"]
ALL8 = np.arange(256, dtype=np.uint8)


def bits32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float32).view(np.uint32)


@pytest.mark.parametrize("denorm", DENORMS)
@pytest.mark.parametrize("fmt", CFP8)
def test_cfp8_exhaustive_decode_roundtrip_and_order(fmt, denorm):
    wp = denorm == "wp"
    for bias in range(64):
        ref = cfloat_values(fmt, bias, wp)
        got = nx.decode(ALL8, fmt, bias=bias, denorm=denorm)
        # Bit equality with the float64 formula, which also checks the sign of zero (0x80 is -0.0).
        assert np.array_equal(bits32(got), bits32(ref)), (fmt, bias)
        assert np.array_equal(nx.encode(got, fmt, bias=bias, denorm=denorm), ALL8)
        pos = got[:128].astype(np.float64)
        assert np.all(np.diff(pos) > 0)
        assert np.array_equal(got[128:], -got[:128])
        assert np.all(got[:128] >= 0) and np.all(np.signbit(got[128:]))


@pytest.mark.parametrize("denorm", DENORMS)
@pytest.mark.parametrize("fmt", CFP8)
def test_cfp8_midpoints_round_to_even_and_neighbours_to_nearer(fmt, denorm):
    wp = denorm == "wp"
    lo, hi = np.arange(127), np.arange(1, 128)
    even = np.where(lo % 2 == 0, lo, hi).astype(np.uint8)
    for bias in range(64):
        pos = positive_table(fmt, bias, wp)
        mid64 = (pos[:-1] + pos[1:]) / 2
        mid = mid64.astype(np.float32)
        assert np.array_equal(mid.astype(np.float64), mid64)  # midpoints are exact in float32
        assert np.array_equal(nx.encode(mid, fmt, bias=bias, denorm=denorm), even)
        assert np.array_equal(nx.encode(-mid, fmt, bias=bias, denorm=denorm), even | 0x80)
        below = np.nextafter(mid, np.float32(0))
        above = np.nextafter(mid, np.float32(np.inf))
        assert np.array_equal(nx.encode(below, fmt, bias=bias, denorm=denorm), lo)
        assert np.array_equal(nx.encode(above, fmt, bias=bias, denorm=denorm), hi)


@pytest.mark.parametrize("fmt", CFLOATS)
def test_rne_matches_brute_force_on_random_floats(fmt):
    rng = np.random.default_rng(11)
    bits = 8 if fmt != "shp" else 16
    for bias in (0, 7, 15, 31, 48, 63):
        for denorm in DENORMS:
            table = positive_table(fmt, bias, denorm == "wp")
            # log-uniform magnitudes over and beyond the whole range, random signs
            lg = rng.uniform(np.log2(table[1]) - 4, np.log2(table[-1]) + 2, 40_000)
            x = (np.exp2(lg) * rng.choice([-1, 1], lg.size)).astype(np.float32)
            want = rne_codes(x, table, bits, saturate=True)
            got = nx.encode(x, fmt, bias=bias, denorm=denorm)
            assert np.array_equal(got.astype(np.int64), want), (bias, denorm)


@settings(max_examples=300, deadline=None)
@given(
    x=st.floats(width=32, allow_nan=False, allow_infinity=False),
    fmt=st.sampled_from(CFLOATS),
    bias=st.integers(0, 63),
    denorm=st.sampled_from(DENORMS),
)
def test_rne_property_any_float32(x, fmt, bias, denorm):
    table = positive_table(fmt, bias, denorm == "wp")
    bits = 8 if fmt != "shp" else 16
    want = rne_codes(np.array([x], np.float32), table, bits, saturate=True)
    assert int(nx.encode([x], fmt, bias=bias, denorm=denorm)[0]) == int(want[0])


@pytest.mark.parametrize("bias", [0, 15, 40, 63])
def test_shp_all_codes_against_formula(bias):
    codes = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    for denorm in DENORMS:
        ref = cfloat_values("shp", bias, denorm == "wp")
        got = nx.decode(codes, "shp", bias=bias, denorm=denorm)
        assert np.array_equal(bits32(got), bits32(ref))
        assert np.array_equal(nx.encode(got, "shp", bias=bias, denorm=denorm), codes)
        assert np.all(np.diff(got[: 1 << 15].astype(np.float64)) > 0)


@pytest.mark.parametrize("fmt", CFLOATS)
def test_saturation_signed_zero_and_nan(fmt):
    bits = nx.FORMATS[fmt].bits
    top, sign = (1 << (bits - 1)) - 1, 1 << (bits - 1)
    for bias in (0, 9, 63):
        vmax = nx.max_value(fmt, bias)
        ulp = vmax - float(positive_table(fmt, bias)[-2])
        x = np.array(
            [vmax, vmax * 4, 3e38, np.inf, -np.inf, -vmax * 1.5, np.nan, -np.nan], np.float32
        )
        want = [top, top, top, top, top | sign, top | sign, top, top]
        assert nx.encode(x, fmt, bias=bias).tolist() == want
        assert nx.encode(x, fmt, bias=bias, rounding="sr", seed=5).tolist() == want
        # Overflow only from max + ulp/2 on (the RNE tie with the next binade goes to the even code)
        for v, flag in [(vmax + ulp / 2, True), (vmax + ulp / 4, False), (vmax, False)]:
            flags = nx.Flags()
            assert int(nx.encode([v], fmt, bias=bias, flags=flags)[0]) == top
            assert (nx.Flag.OVERFLOW in flags) is flag
    zeros = nx.encode(np.array([0.0, -0.0, -1e-30, 1e-30], np.float32), fmt, bias=5)
    assert zeros.tolist() == [0, sign, sign, 0]
    assert np.signbit(nx.decode(np.array([sign]), fmt)).all()


def _flags_of(x: float, fmt: str, bias: int, denorm: str = "ieee") -> nx.Flag:
    flags = nx.Flags()
    nx.encode(np.array([x], np.float32), fmt, bias=bias, denorm=denorm, flags=flags)
    return flags.bits


@pytest.mark.parametrize("fmt", CFP8)
def test_flags_per_code(fmt):
    """Re-encoding each exact code value: only nonzero denormal codes raise (UNDERFLOW)."""
    m = nx.FORMATS[fmt].man_bits
    for bias in (0, 7, 63):
        for denorm in DENORMS:
            vals = cfloat_values(fmt, bias, denorm == "wp")
            for code in range(256):
                denormal = (code & 0x7F) >> m == 0 and code & 0x7F != 0
                want = nx.Flag.UNDERFLOW if denormal else nx.Flag.NONE
                assert _flags_of(vals[code], fmt, bias, denorm) == want, (code, bias)


def test_flag_rules_by_example():
    f = nx.Flag
    assert _flags_of(np.nan, "cfp8_143", 7) == f.INVALID
    assert _flags_of(np.inf, "cfp8_143", 7) == f.OVERFLOW
    assert _flags_of(1e-30, "cfp8_143", 7) == f.UNDERFLOW  # flushed to zero
    assert _flags_of(2.0**-6 * 0.97, "cfp8_143", 7) == f.NONE  # 7.76 quanta: up to min normal
    assert _flags_of(2.0**-9 * 0.7, "cfp8_143", 7) == f.UNDERFLOW  # denormal result
    assert _flags_of(1e-40, "cfp8_152", 15) == f.DENORMAL | f.UNDERFLOW  # fp32 subnormal input
    assert _flags_of(0.0, "shp", 0) == f.NONE
    assert _flags_of(-0.0, "shp", 0) == f.NONE
    flags = nx.Flags()
    nx.decode(np.array([0x01, 0x40]), "cfp8_143", flags=flags)
    assert flags.bits == f.DENORMAL
    flags.clear()
    nx.decode(np.array([0x00, 0x80, 0x08, 0x7F]), "cfp8_143", flags=flags)
    assert flags.bits == f.NONE


def test_wp_gap_rounds_between_largest_denormal_and_min_normal():
    # cfp8_143, bias 7, wp: D = 0.875 * 2^-7, N = 2^-6, midpoint (D + N) / 2 goes to N (code 8).
    d, n = 0.875 * 2.0**-7, 2.0**-6
    x = np.array([d, (d + n) / 2 - 2.0**-20, (d + n) / 2, 2.0**-7, n], np.float32)
    assert nx.encode(x, "cfp8_143", bias=7, denorm="wp").tolist() == [7, 7, 8, 7, 8]
    # ieee: the same inputs on the 2^-9 denormal grid are 3.5, 5.75-, 5.75, 4 and 8 quanta.
    assert nx.encode(x, "cfp8_143", bias=7).tolist() == [4, 6, 6, 4, 8]
