"""How tight rung 2's bound is (issue 12): at most 100x the largest observed error of the
quantized output on the examples and on ResNet-18 (tests/accuracy/resnet18.py, slow), and never
below it. ``benchmarks/bound_tightness.py`` prints the same numbers.

Measured (largest bound / largest observed error; before this bound: the a priori bound alone):

=============  ==========  ==========  ===================  ===================
model          bf16        cfp8        bf16 a priori        cfp8 a priori
=============  ==========  ==========  ===================  ===================
mlp            8.9         8.3         55                   154
cnn            9.2         8.2         1.8e5                7.5e7
gpt_block      6.2 / 10.8  4.3 / 6.6   987 / 958            525 / 829
transformer    111         87          111                  87
ResNet-18      44          42          1.3e21               2.0e30
=============  ==========  ==========  ===================  ===================

The transformer's 65,536 outputs would take one backward pass each through a 0.7 GFLOP layer:
beyond the adjoint's budget (d1c.accuracy.adjoint.WORK), so its bound is the a priori one, whose
ratio the attention branch sets (softmax and three matrix products, each aligning the errors'
signs in the worst case)."""

from __future__ import annotations

from pathlib import Path

import pytest

from d1c import driver
from d1c.ladder import tightness

ROOT = Path(__file__).resolve().parents[1]
SLOW = pytest.mark.slow
CASES = [
    ("mlp", 100),
    ("cnn", 100),
    ("gpt_block", 100),
    pytest.param("transformer", 120, marks=SLOW),
]


def _ratios(path: Path, dtype: str) -> list[tuple[float, float]]:
    src = driver.load_source(str(path))
    return [
        (bound / err, prior / err) for err, bound, prior in tightness(src.module, src.inputs, dtype)
    ]


@pytest.mark.parametrize("dtype", ["bf16", "cfp8"])
@pytest.mark.parametrize(("example", "limit"), CASES)
def test_the_bound_is_within_100x_of_the_observed_error(example: str, limit: float, dtype: str):
    for ratio, prior in _ratios(ROOT / "examples" / f"{example}.py", dtype):
        assert 1 <= ratio <= limit and ratio <= prior


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["bf16", "cfp8"])
def test_resnet18_bound_is_within_100x(dtype: str) -> None:
    ((ratio, prior),) = _ratios(ROOT / "tests" / "accuracy" / "resnet18.py", dtype)
    assert 1 <= ratio <= 100 and prior > 1e15  # the a priori bound alone is vacuous here
