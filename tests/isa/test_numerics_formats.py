"""The format table, range helpers, argument checking and the Flags holder."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

from d1c.isa import numerics as nx
from d1c.isa.errors import D1cError
from tests.isa.numerics_oracle import CFLOAT_LAYOUT, cfloat_values


def test_table_matches_whitepaper_layouts():
    for name, (e, m, bits) in CFLOAT_LAYOUT.items():
        f = nx.FORMATS[name]
        assert (f.exp_bits, f.man_bits, f.bits, f.has_inf_nan) == (e, m, bits, False)
        assert f.bias_configurable and f.default_bias == nx.DEFAULT_BIAS[name]
    assert nx.DEFAULT_BIAS == {"cfp8_143": 7, "cfp8_152": 15, "shp": 15}
    for name, (e, m, bits) in {
        "bf16": (8, 7, 16),
        "fp16": (5, 10, 16),
        "fp32": (8, 23, 32),
    }.items():
        f = nx.FORMATS[name]
        assert (f.exp_bits, f.man_bits, f.bits, f.has_inf_nan) == (e, m, bits, True)
        assert not f.bias_configurable


def test_range_helpers_hand_computed():
    # dojo-facts §5.2: 1_4_3 max = 1.875 * 2^(15 - bias); 1_5_2 max = 1.75 * 2^(31 - bias).
    assert nx.max_value("cfp8_143", 0) == 61440.0
    assert nx.max_value("cfp8_143", 63) == 1.875 * 2.0**-48
    assert nx.max_value("cfp8_152", 31) == 1.75
    assert nx.min_normal("cfp8_143", 63) == 2.0**-62
    assert nx.min_subnormal("cfp8_152", 15) == 2.0**-16
    assert nx.min_subnormal("cfp8_152", 15, denorm="wp") == 2.0**-17
    assert nx.max_value("shp", 15) == 65504.0 * 2
    assert nx.max_value("fp16") == 65504.0
    assert nx.max_value("bf16") == float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)
    assert nx.min_subnormal("fp16") == 2.0**-24
    assert nx.max_value("fp32") == float(np.finfo(np.float32).max)


@pytest.mark.parametrize("fmt", list(CFLOAT_LAYOUT))
def test_range_helpers_match_oracle_table(fmt):
    m = CFLOAT_LAYOUT[fmt][1]
    for bias in range(64):
        vals = cfloat_values(fmt, bias)
        pos = vals[: len(vals) // 2]
        assert nx.max_value(fmt, bias) == pos.max()
        assert nx.min_normal(fmt, bias) == pos[1 << m]
        assert nx.min_subnormal(fmt, bias) == pos[1]
        assert nx.min_subnormal(fmt, bias, "wp") == cfloat_values(fmt, bias, wp=True)[1]


BAD_CALLS = [
    lambda: nx.encode([1.0], "fp8"),
    lambda: nx.encode([1.0], "cfp8_143", bias=64),
    lambda: nx.encode([1.0], "cfp8_143", bias=-1),
    lambda: nx.encode([1.0], "cfp8_143", bias=3.0),
    lambda: nx.encode([1.0], "cfp8_143", bias=True),
    lambda: nx.encode([1.0], "bf16", bias=7),
    lambda: nx.encode([1.0], "bf16", rounding="rtz"),
    lambda: nx.encode([1.0], "cfp8_152", denorm="ftz"),
    lambda: nx.encode([1.0], "fp16", denorm="wp"),
    lambda: nx.encode([1.0], "bf16", rounding="sr", seed=-1),
    lambda: nx.encode([1.0], "bf16", rounding="sr", stream=1 << 64),
    lambda: nx.encode(["x"], "bf16"),
    lambda: nx.encode([[1.0], [1.0, 2.0]], "bf16"),
    lambda: nx.decode([256], "cfp8_143"),
    lambda: nx.decode([-1], "cfp8_143"),
    lambda: nx.decode([1.5], "fp16"),
    lambda: nx.decode(np.array([1], np.int32), "fp32"),
    lambda: nx.decode([1], "shp", bias=99),
    lambda: nx.max_value("cfp8_143", 70),
    lambda: nx.sr_stream(1 << 24, 0),
]


@pytest.mark.parametrize("call", BAD_CALLS)
def test_bad_arguments_raise_numerics_error(call):
    with pytest.raises(nx.NumericsError) as info:
        call()
    assert isinstance(info.value, D1cError) and isinstance(info.value, ValueError)
    assert info.value.message


def test_output_dtypes_and_shapes():
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    for fmt, dtype in [("bf16", np.uint16), ("fp16", np.uint16), ("shp", np.uint16)]:
        assert nx.encode(x, fmt).dtype == dtype and nx.encode(x, fmt).shape == (3, 4)
    for fmt in ["cfp8_143", "cfp8_152"]:
        assert nx.encode(x, fmt).dtype == np.uint8
    assert nx.encode(np.float32(1.5), "cfp8_143").shape == ()
    assert nx.decode(nx.encode(x, "fp16"), "fp16").dtype == np.float32
    assert nx.encode([], "bf16").shape == (0,)


def test_fp32_is_identity():
    x = np.array([1.1, -0.0, np.inf, np.nan, 1e-40], np.float32)
    out = nx.encode(x, "fp32", rounding="sr", seed=3)
    assert out.dtype == np.float32
    assert np.array_equal(out.view(np.uint32), x.view(np.uint32))
    assert np.array_equal(nx.decode(x.view(np.uint32), "fp32").view(np.uint32), x.view(np.uint32))
    assert np.array_equal(nx.quantize(x, "fp32").view(np.uint32), x.view(np.uint32))
    flags = nx.Flags()
    nx.encode(x, "fp32", flags=flags)
    assert flags.bits == nx.Flag.INVALID | nx.Flag.DENORMAL


def test_flags_holder_is_sticky_until_cleared():
    flags = nx.Flags()
    assert flags.bits == nx.Flag.NONE and nx.Flag.OVERFLOW not in flags
    nx.encode([1e9], "cfp8_143", flags=flags)
    nx.encode([1.0], "cfp8_143", flags=flags)
    assert flags.bits == nx.Flag.OVERFLOW
    nx.encode([np.nan], "bf16", flags=flags)
    assert nx.Flag.OVERFLOW in flags and nx.Flag.INVALID in flags
    flags.clear()
    assert flags.bits == nx.Flag.NONE
    assert int(nx.Flag.INVALID | nx.Flag.DENORMAL | nx.Flag.OVERFLOW | nx.Flag.UNDERFLOW) == 15
    assert math.isclose(float(nx.quantize(np.float32(1.0), "shp", bias=15)), 1.0)
