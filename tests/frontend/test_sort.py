"""sort, argsort, topk (d1c/frontend/indexing.py: stable ranks by counting), compiled for mini
and simulated, against torch eager in fp32 and bf16 storage: values equal; indices equal to
torch's *stable* sort (torch's default sort and topk leave the order of ties unspecified, so
there the indices must only pick the returned values); NaN (largest), +-inf, ties, int, bool."""

from __future__ import annotations

import pytest
import torch

import d1c
from tests.frontend.conftest import Fn

torch.manual_seed(0)
X = torch.randn(3, 7, 19)
X[0, 1, 3] = X[0, 1, 5] = float("nan")
X[1, 2, :4] = 0.5
X[2, 3, 1], X[2, 3, 2] = float("inf"), -float("inf")
XI = torch.randint(-3, 3, (4, 9))

SAME = "same"  # the d1c function is itself stable
CASES = {  # name: (d1c function, eager function with a tie order d1c must match or None, input)
    "sort": (lambda a: torch.sort(a), lambda a: torch.sort(a, stable=True), X),
    "sort_desc_dim1": (
        lambda a: torch.sort(a, 1, descending=True),
        lambda a: torch.sort(a, dim=1, descending=True, stable=True),
        X,
    ),
    "sort_stable_dim0": (lambda a: torch.sort(a, dim=0, stable=True), SAME, X),
    "argsort": (
        lambda a: torch.argsort(a, -1, descending=True),
        lambda a: torch.argsort(a, dim=-1, descending=True, stable=True),
        X,
    ),
    "topk": (lambda a: torch.topk(a, 4), None, X),
    "topk_smallest_dim0": (lambda a: torch.topk(a, 2, 0, largest=False), None, X),
    "sort_int": (
        lambda a: torch.sort(a, -1, descending=True),
        lambda a: torch.sort(a, dim=-1, descending=True, stable=True),
        XI,
    ),
    "topk_int": (lambda a: torch.topk(a, 3), None, XI),
    "sort_bool": (lambda a: torch.sort(a > 0, stable=True), SAME, XI),
}


def _key(t: torch.Tensor) -> torch.Tensor:
    return t.float().nan_to_num(7.0, 8.0, -8.0)


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_against_eager(case: str, dtype: str) -> None:
    fn, ordered, x = CASES[case]
    got = d1c.compile(Fn(fn), (x,), target="mini", dtype=dtype).run(x)
    xr = x.bfloat16().float() if dtype == "bf16" and x.is_floating_point() else x
    want = (fn if ordered in (None, SAME) else ordered)(xr)
    if isinstance(want, torch.Tensor):  # argsort: indices only
        assert torch.equal(got, want)
        return
    (values, index), (want_values, want_index) = got, want
    assert values.dtype == want_values.dtype and index.dtype == torch.int64
    assert torch.equal(_key(values), _key(want_values))
    if ordered is not None:
        assert torch.equal(index, want_index)
    else:  # tie order unspecified in torch: the indices must select the values
        dim = 0 if "dim0" in case else -1
        assert torch.equal(_key(torch.gather(xr, dim, index)), _key(want_values))
