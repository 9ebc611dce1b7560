"""sin and cos on the D1 (d1c.isa.trig): the bound re-measured against float64 libm, the
interpreter and the simulated program bit for bit (the ladder), and eager torch on RoPE computed
at run time, in bf16 and fp32 storage."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import d1c
from d1c.frontend import export_model
from d1c.isa.trig import LIMIT, error_bound, sin_cos_f32
from d1c.ladder import verify_module


def _samples() -> np.ndarray:
    """2^14 random fp32 per binade-pair from 2^-20 to 2^22, and the fp32 neighbours of
    multiples of pi/2 (where the reduction cancels most)."""
    rng = np.random.default_rng(0)
    parts = [rng.uniform(-1, 1, 1 << 14) * 2.0**lo for lo in range(-20, 23, 2)]
    k = np.arange(-(1 << 14), 1 << 14) * 37.0
    near = (k * (np.pi / 2)).astype(np.float32)
    parts += [near, np.nextafter(near, np.float32(np.inf)), np.nextafter(near, np.float32(-np.inf))]
    return np.concatenate(parts).astype(np.float32)


@pytest.mark.parametrize("kind", ["sin", "cos"])
def test_error_bound_holds_with_a_factor_two_to_spare(kind: str) -> None:
    x = _samples()
    got = sin_cos_f32(x, kind).astype(np.float64)
    want = getattr(np, kind)(x.astype(np.float64))
    ratio = np.abs(got - want) / error_bound(x)
    assert ratio.max() <= 0.5, (ratio.max(), x[ratio.argmax()])
    assert np.all(np.abs(got) <= 1)


@pytest.mark.parametrize("kind", ["sin", "cos"])
def test_special_values_follow_torch(kind: str) -> None:
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 2.0 * LIMIT, 3e38], np.float32)
    got = sin_cos_f32(x, kind)
    want = getattr(torch, kind)(torch.from_numpy(x)).numpy()
    assert np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[:2], want[:2])
    assert np.all(np.abs(got[5:]) <= 1)


class RoPE(nn.Module):
    """Rotary embedding with the angle table computed at run time from the positions."""

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        inv = 10000.0 ** (-torch.arange(half, dtype=torch.float32) / half)
        ang = pos[:, None] * inv[None, :]
        cos, sin = torch.cos(ang), torch.sin(ang)
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Trig(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x) - 2 * torch.cos(x * 0.5)


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_rope_at_run_time_passes_the_ladder(dtype: str) -> None:
    x = torch.randn(3, 37, 18)
    pos = torch.arange(37, dtype=torch.float32) * 3.0
    eager = RoPE()(x, pos).numpy()
    graph = export_model(RoPE(), (x, pos))
    report = verify_module(graph, [x.numpy(), pos.numpy()], "mini", dtype, reference=[eager])
    assert report.ok, report.render()
    (out,) = report.outputs
    assert out.bit_exact
    if dtype == "fp32":  # bf16 stores the angles to 1/4 rad: the ladder's bound is the check
        got = d1c.compile(RoPE(), (x, pos), target="mini", dtype=dtype).run(x, pos)
        np.testing.assert_allclose(got.numpy(), eager, atol=4e-6 * np.abs(eager).max())


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_sin_cos_of_large_arguments_pass_the_ladder(dtype: str) -> None:
    x = torch.randn(5, 70) * 300.0
    graph = export_model(Trig(), (x,))
    report = verify_module(graph, [x.numpy()], "mini", dtype, reference=[Trig()(x).numpy()])
    assert report.ok, report.render()
    assert report.outputs[0].bit_exact
