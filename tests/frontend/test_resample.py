"""constant/reflect/replicate padding, flip, roll, diagonal, max-pool indices, adaptive max pool, nearest and bilinear interpolation (d1c/frontend/resample.py) and
fmod/remainder (d1c/frontend/elementwise.py), compiled for mini and simulated, against torch
eager on shapes that divide no tile, in fp32 storage (exact data movement: equal; bilinear and
fmod within fp32 rounding) and bf16 storage (eager on the bf16-rounded inputs); the ladder
(interpreter == simulator bit for bit, within the derived bound) on a CNN-style chain."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import d1c
from d1c.errors import D1cError
from d1c.frontend import export_model
from d1c.ladder import verify_module
from tests.frontend.conftest import Fn

torch.manual_seed(0)
X = torch.randn(2, 3, 7, 9)
V = torch.randn(5, 37) * 4
XP = torch.randn(2, 3, 11, 13)  # a NaN (a later NaN wins in torch's scan) and a tie (first wins)
XP[0, 0, 2, 3] = XP[0, 0, 3, 2] = float("nan")
XP[1, 2, 5, 5] = XP[1, 2, 5, 6] = 9.0

CASES = {
    "pad_constant": (lambda a: F.pad(a, (1, 2, 0, 3), value=1.5), X),
    "pad_crop": (lambda a: F.pad(a, (-1, 2, 1, -2, 0, 0, 1, 0)), X),
    "pad_reflect": (lambda a: F.pad(a, (3, 2, 1, 4), mode="reflect"), X),
    "pad_replicate": (lambda a: F.pad(a, (3, 0, 1, 9), mode="replicate"), X),
    "flip": (lambda a: torch.flip(a, [0, -1, 2]), X),
    "fliplr": (lambda a: torch.fliplr(a[0, 0]), X),
    "roll": (lambda a: torch.roll(a, (2, -3), (1, 3)), X),
    "roll_flat": (lambda a: torch.roll(a, 5), X),
    "diagonal": (lambda a: torch.diagonal(a, 0, 2, 3), X),
    "diagonal_offset": (lambda a: torch.diagonal(a, -2, -1, 2), X),
    "diagonal_above": (lambda a: torch.diagonal(a, 3, 0, 1), X),
    "nearest_x2": (lambda a: F.interpolate(a, scale_factor=2, mode="nearest"), X),
    "nearest_size": (lambda a: F.interpolate(a, size=(5, 13), mode="nearest"), X),
    "nearest_1d": (lambda a: F.interpolate(a[0], scale_factor=1.7, mode="nearest"), X),
    "bilinear": (lambda a: F.interpolate(a, size=(11, 5), mode="bilinear"), X),
    "bilinear_x2": (lambda a: F.interpolate(a, scale_factor=2, mode="bilinear"), X),
    "bilinear_aligned": (
        lambda a: F.interpolate(a, size=(4, 17), mode="bilinear", align_corners=True),
        X,
    ),
    "max_pool_indices": (lambda a: F.max_pool2d(a, 3, 2, 1, return_indices=True), XP),
    "max_pool_indices_dilated": (
        lambda a: F.max_pool2d(a, (2, 3), (2, 1), (1, 0), dilation=(2, 1), return_indices=True),
        XP,
    ),
    "max_pool_indices_ceil": (
        lambda a: F.max_pool2d(a[0], 2, ceil_mode=True, return_indices=True),
        XP,
    ),
    "adaptive_max_pool": (lambda a: F.adaptive_max_pool2d(a, (3, 5)), XP),
    "adaptive_max_pool_indices": (
        lambda a: F.adaptive_max_pool2d(a, (4, 6), return_indices=True),
        XP,
    ),
    "fmod": (lambda a: torch.fmod(a, 0.75), V),
    "fmod_tensor": (lambda a: torch.fmod(a, a[:1, :] * 0.25 - 1), V),
    "remainder": (lambda a: torch.remainder(a, -1.25), V),
    "remainder_tensor": (lambda a: torch.remainder(a[1:], a[:1] - 0.5), V),
}
EXACT = {"flip", "fliplr", "roll", "roll_flat", "diagonal", "diagonal_offset", "diagonal_above"}
EXACT |= {"nearest_x2", "nearest_size", "nearest_1d"}
EXACT |= {c for c in CASES if c.startswith(("pad", "max_pool", "adaptive_max_pool"))}


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_against_eager(case: str, dtype: str) -> None:
    fn, x = CASES[case]
    got = d1c.compile(Fn(fn), (x,), target="mini", dtype=dtype).run(x)
    xr = x.bfloat16().float() if dtype == "bf16" else x
    want = fn(xr)
    if case in EXACT:
        leaves = torch.utils._pytree.tree_leaves
        for g, w in zip(leaves(got), leaves(want), strict=True):
            assert g.shape == w.shape and g.dtype == w.dtype
            assert torch.equal(g.float().nan_to_num(7.0), w.float().nan_to_num(7.0))
        return
    got = got.float()
    assert got.shape == want.shape
    if dtype == "bf16" and case.startswith(("fmod", "remainder")):
        # every step is stored in bf16 (trunc(a/b)*b rounds to 8 bits): a few bf16 units of |a|,
        # or that much from the next multiple of b (the rounded r lands on its other side)
        b = {"fmod": 0.75, "remainder": 1.25}.get(case, xr[:1].abs() * 0.25 + 1)
        err = (got - want).abs()
        err = torch.minimum(err, (err - b).abs() if case != "remainder_tensor" else err)
        assert err.max() <= 2**-6 * xr.abs().max(), err.max()
    elif dtype == "bf16":  # intermediates stored in bf16: a few bf16 units of the output's scale
        torch.testing.assert_close(got, want, rtol=0, atol=2**-6 * want.abs().max().item())
    else:  # fmod/remainder: a - trunc(a/b)*b with its product rounded (docstring)
        torch.testing.assert_close(got, want, rtol=1e-6, atol=4e-7 * x.abs().max().item())


def test_fmod_remainder_special_values_follow_torch() -> None:
    a = torch.tensor([5.0, -5.0, 3.0, float("inf"), 2.0, -2.0, 7.5, -7.5, 0.0, float("nan")])
    b = torch.tensor([3.0, 3.0, 0.0, 2.0, float("inf"), float("inf"), -2.0, -2.0, 1.0, 1.0])
    for f in (torch.fmod, torch.remainder):
        fn = Fn(lambda x, y, f=f: f(x, y))
        got = d1c.compile(fn, (a, b), target="mini", dtype="fp32").run(a, b)
        torch.testing.assert_close(got, f(a, b), equal_nan=True, rtol=0, atol=0)


def test_integer_fmod_and_remainder_fold_on_constants_and_error_on_the_device() -> None:
    def fn(x: torch.Tensor) -> torch.Tensor:
        i = torch.arange(-7, 8)
        return x + torch.fmod(i, 3) * 10 + torch.remainder(i, -4)

    x = torch.randn(15)
    got = d1c.compile(Fn(fn), (x,), target="mini", dtype="fp32").run(x)
    torch.testing.assert_close(got, fn(x), rtol=0, atol=0)
    a, b = torch.arange(-6, 6), torch.full((12,), 5)
    with pytest.raises(D1cError, match="integer \\(floor\\) division"):
        d1c.compile(Fn(torch.remainder), (a, b), target="mini", dtype="fp32")


def _cnn(x: torch.Tensor) -> torch.Tensor:
    y = F.interpolate(torch.flip(x, [3]), scale_factor=2, mode="nearest")
    y = F.pad(y, (1, 2, 2, 1), mode="reflect") + torch.roll(F.pad(y, (1, 2, 2, 1)), 1, 2)
    z = F.interpolate(y, size=(9, 7), mode="bilinear")
    return torch.diagonal(z, 1, 2, 3)


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_cnn_pieces_pass_the_ladder(dtype: str) -> None:
    graph = export_model(Fn(_cnn), (X,))
    report = verify_module(graph, [X.numpy()], "mini", dtype, reference=[_cnn(X).numpy()])
    assert report.ok, report.render()
    assert all(o.bit_exact for o in report.outputs)
