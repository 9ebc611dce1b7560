"""d1c.accuracy.grid against independent oracles: ml_dtypes for bf16 (every finite code), the
exhaustive decoded code table for CFloat8 at every bias, and the rounding bound against
ml_dtypes' round-to-nearest on random float32 values of every scale."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from d1c.accuracy.grid import representable, rounding_bound, spacing
from d1c.ir import BF16, ElemType
from d1c.isa.numerics import decode


def _bf16_values() -> np.ndarray:
    codes = np.arange(1 << 16, dtype=np.uint16)
    with np.errstate(invalid="ignore"):  # NaN codes
        return codes.view(ml_dtypes.bfloat16).astype(np.float64)


def test_every_bf16_value_is_representable_and_nothing_between() -> None:
    v = _bf16_values()
    assert representable(v, BF16).all()  # ±inf and NaN included
    finite = np.unique(v[np.isfinite(v)])
    mid = (finite[:-1] + finite[1:]) / 2  # halfway between neighbours: never representable
    assert not representable(mid, BF16).any()


@pytest.mark.parametrize("name", ["cfp8_143", "cfp8_152"])
def test_cfloat8_grid_is_the_decoded_code_table(name: str) -> None:
    for bias in range(64):
        elem = ElemType(name, bias)
        values = np.unique(decode(np.arange(256, dtype=np.uint8), name, bias=bias).astype(float))
        assert representable(values, elem).all()
        assert not representable((values[:-1] + values[1:]) / 2, elem).any()
        assert not representable(np.array([np.inf, np.nan, 2 * values.max()]), elem).any()
        pos = values[values > 0]
        assert np.array_equal(spacing(pos[:-1], elem), np.diff(pos))  # the step to the next value


def test_rounding_bound_holds_and_is_tight_for_bf16() -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(200_000) * 10.0 ** rng.integers(-40, 38, 200_000)).astype(np.float32)
    x = x[np.abs(x) < 3.3e38]
    err = np.abs(x.astype(ml_dtypes.bfloat16).astype(np.float64) - x)
    bound = rounding_bound(np.abs(x.astype(np.float64)), BF16)
    assert np.all(err <= bound)
    assert np.max(err / bound) == 1.0  # ties reach it
    assert np.all(rounding_bound(np.abs(x.astype(np.float64)), BF16, "sr") == 2 * bound)


def test_round_nearest_is_numerics_rne_bit_for_bit() -> None:
    """The bound's independent rounding (known data, constants) against d1c.isa.numerics."""
    from d1c.accuracy.grid import round_nearest
    from d1c.isa.numerics import quantize

    rng = np.random.default_rng(1)
    x = (rng.standard_normal(100_000) * 10.0 ** rng.integers(-45, 38, 100_000)).astype(np.float32)
    special = [np.inf, -np.inf, np.nan, 0.0, -0.0, 3.3895e38, 3.4e38, -3.4e38, 1 + 2.0**-8]
    x = np.concatenate([x, np.array(special, np.float32)])
    elems = [BF16] + [ElemType(n, b) for n in ("cfp8_143", "cfp8_152") for b in (0, 7, 15, 63)]
    for elem in elems:
        want = quantize(x, elem.name, bias=elem.bias).astype(np.float64)
        got = round_nearest(x.astype(np.float64), elem)
        assert np.array_equal(got, want, equal_nan=True) and np.all(
            np.signbit(got) == np.signbit(want)
        ), elem
    saturated = round_nearest(np.array([-3.4e38, np.inf]), BF16, saturate=True)
    assert np.array_equal(saturated, [-ml_dtypes.finfo(ml_dtypes.bfloat16).max, np.inf])
