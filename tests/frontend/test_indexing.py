"""Indexing, selection and scans lowered onto primitives (d1c/frontend/indexing.py), compiled
for mini and simulated, against torch eager: gathers and index results exactly, cumsum within
fp32 rounding; NaN, negative indices, non-adjacent index dims, every dim position."""

from __future__ import annotations

import pytest
import torch

import d1c
from tests.frontend.conftest import Fn

torch.manual_seed(0)
X = torch.randn(4, 5, 6)
X[1, 2, 3] = float("nan")
IDX = torch.tensor([2, 0, 3])
G = torch.randint(0, 5, (4, 3, 6))

CASES = {
    "argmax": (lambda a: torch.argmax(a, 1), (X,)),
    "argmin_flat": (lambda a: a.argmin(), (X.nan_to_num(),)),
    "argmax_keepdim": (lambda a: a.argmax(0, keepdim=True), (X,)),
    "max_dim": (lambda a: torch.max(a, -1), (X,)),
    "min_dim": (lambda a: torch.min(a.nan_to_num(), 0), (X,)),
    "cumsum": (lambda a: torch.cumsum(a, 1), (X.nan_to_num(),)),
    "cumsum_bool": (lambda a: torch.cumsum(a > 0, 0), (X,)),
    "index_select": (lambda a, b: torch.index_select(a, 2, b), (X, IDX)),
    "gather": (lambda a, b: torch.gather(a, 1, b), (X, G)),
    "index_middle": (lambda a, b: a[:, b], (X, IDX)),
    "index_apart": (lambda a, b: a[b, :, b], (X, IDX)),
    "index_negative": (lambda a, b: a[:, b, -1 - b], (X, IDX)),
    "index_first": (lambda a, b: a[b], (X, IDX)),
    "scatter_value": (lambda a, b: torch.scatter(a, 1, b, -1.0), (X[:, :3], G[:, :2] % 3)),
    "scatter_one_hot": (
        lambda b: torch.zeros(4, 6).scatter(1, b[:, None], 1.0),
        (torch.tensor([5, 0, 2, 2]),),
    ),
    "scatter_add": (
        lambda a, b, c: torch.scatter_add(a, 1, b, c),
        (X[:, :3], G[:, :2] % 3, X[:, 2:4]),
    ),
    "scatter_add_wide_src": (
        lambda a, b, c: a.scatter_add(0, b, c),
        (X[0], G[:2, 0], X[1:4, :, :].reshape(3, 30)),
    ),
    "index_put_accumulate": (
        lambda a, b, c: torch.index_put(a, (b,), c, accumulate=True),
        (X[:, 0, :], torch.tensor([[1, 3, 1], [0, -1, 1]]), X[1:3, :3, :].nan_to_num()),
    ),
    "index_put_broadcast": (
        lambda a, b: a.index_put((b,), torch.tensor(0.5), accumulate=True),
        (X[:, :, 0], torch.tensor([2, 2, 0])),
    ),
    "scatter_rank0": (lambda a, b: torch.scatter(a, 0, b, 7.0), (X[0, 0, 0], torch.tensor(0))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_against_eager(case: str) -> None:
    fn, xs = CASES[case]
    got = d1c.compile(Fn(fn), xs, target="mini", dtype="fp32").run(*xs)
    want = fn(*xs)
    leaves = torch.utils._pytree.tree_leaves
    for g, w in zip(leaves(got), leaves(want), strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        torch.testing.assert_close(g, w, equal_nan=True, rtol=1e-6, atol=1e-6)


SPECIAL = torch.tensor([0.0, -0.0, 1e-8, -1e-8, 1e-3, -0.5, 3, -3, 80, -100, 2.5])
SPECIAL = torch.cat([SPECIAL, torch.tensor([float("nan"), float("inf"), -float("inf")])])
MATH = {
    "isnan": torch.isnan,
    "isinf": torch.isinf,
    "isfinite": torch.isfinite,
    "isposinf": torch.isposinf,
    "sign": torch.sign,
    "signbit": torch.signbit,
    "log1p": torch.log1p,
    "expm1": torch.expm1,
    "logical_xor": lambda a: torch.logical_xor(a > 0, a < 1),
    "bitwise_bool": lambda a: ((a > 0) & (a < 1)) | ((a < 0) ^ (a < -1)),
    "nan_to_num": torch.nan_to_num,
}


@pytest.mark.parametrize("case", sorted(MATH))
def test_math_against_eager(case: str) -> None:
    """Special values included; log1p/expm1 (Kahan's forms) keep tiny arguments accurate."""
    fn = MATH[case]
    got = d1c.compile(Fn(fn), SPECIAL, target="mini", dtype="fp32").run(SPECIAL)
    want = fn(SPECIAL)
    assert got.dtype == want.dtype
    torch.testing.assert_close(got, want, equal_nan=True, rtol=2e-6, atol=0)


def test_scatter_index_smaller_than_input_is_unsupported() -> None:
    x, i = torch.zeros(4, 6), torch.zeros(2, 1, dtype=torch.int64)
    with pytest.raises(d1c.errors.UnsupportedError, match="scatter with index"):
        d1c.compile(Fn(lambda a, b: a.scatter(1, b, 1.0)), (x, i), target="mini")
