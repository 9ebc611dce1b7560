"""Masks that mean "minus infinity, but finite" (docs/lowering.md §1): a finite constant beyond a
storage format's range is stored saturated, so Hugging Face padding masks —
``(1 - mask) * torch.finfo(torch.float32).min`` added to the scores, or ``masked_fill`` with that
minimum — give the same finite results as eager on bf16 and cfp8, and the ladder passes with a
finite bound. (Rounded to bf16, finfo.min is -inf, and 0 × -inf made every output NaN.)

The DistilBERT-style block is written here by hand (no transformers dependency): q/k/v/out
projections, scaled scores plus the additive mask, softmax, context, residual + LayerNorm, a GELU
feed-forward, residual + LayerNorm."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import d1c
from d1c import driver
from d1c.frontend import export_model
from d1c.interp import interpret, round_constant
from d1c.ir import BF16, ElemType, parse_module
from d1c.isa.numerics import max_value
from d1c.ladder import verify_module

DIM, HEADS, SEQ, BATCH = 64, 4, 16, 2


class DistilBlock(nn.Module):
    def __init__(self, fill: bool) -> None:
        super().__init__()
        self.fill = fill  # masked_fill (newer HF) instead of the additive mask (older HF, BERT)
        self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(DIM, DIM) for _ in range(4))
        self.sa_layer_norm = nn.LayerNorm(DIM, eps=1e-12)
        self.lin1, self.lin2 = nn.Linear(DIM, 2 * DIM), nn.Linear(2 * DIM, DIM)
        self.output_layer_norm = nn.LayerNorm(DIM, eps=1e-12)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        bs, _, dim = x.shape
        dh = dim // HEADS

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(bs, -1, HEADS, dh).transpose(1, 2)

        q = heads(self.q_lin(x)) / math.sqrt(dh)
        k, v = heads(self.k_lin(x)), heads(self.v_lin(x))
        scores = torch.matmul(q, k.transpose(2, 3))
        keep = mask[:, None, None, :]
        low = torch.finfo(torch.float32).min
        if self.fill:
            scores = scores.masked_fill(keep == 0, torch.tensor(low))
        else:
            scores = scores + (1.0 - keep.to(x.dtype)) * low
        ctx = torch.matmul(nn.functional.softmax(scores, dim=-1), v)
        sa = self.sa_layer_norm(self.out_lin(ctx.transpose(1, 2).reshape(bs, -1, dim)) + x)
        ffn = self.lin2(nn.functional.gelu(self.lin1(sa)))
        return self.output_layer_norm(ffn + sa)


def _case(fill: bool) -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    block = DistilBlock(fill).eval()
    mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    mask[1, 11:] = 0  # the second sequence is padded after 11 tokens
    return block, (torch.randn(BATCH, SEQ, DIM), mask)


# (dtype, mask form, how far the simulated output may be from eager: outputs are within ±3.6)
CASES = [("bf16", False, 0.05), ("cfp8", False, 0.6), ("bf16", True, 0.05)]


@pytest.mark.parametrize(("dtype", "fill", "close"), CASES, ids=["bf16", "cfp8", "bf16-fill"])
def test_padding_masks_give_the_finite_results_of_eager(dtype: str, fill: bool, close: float):
    block, inputs = _case(fill)
    (eager,) = driver.eager_outputs(block, inputs)
    unpadded = driver.eager_outputs(block, (inputs[0], torch.ones_like(inputs[1])))[0]
    assert np.abs(eager[1] - unpadded[1]).max() > 0.1  # the mask matters
    x = [t.numpy() for t in inputs]
    report = verify_module(export_model(block, inputs), x, "mini", dtype, reference=[eager])
    assert report.ok, report.render()
    (out,) = report.outputs
    for _, c in out.checks():
        assert c.nonfinite == c.unbounded == 0 and c.ratio <= 1 and np.isfinite(c.allowed)
    simulated = d1c.compile(block, inputs, target="mini", dtype=dtype).run(*inputs).numpy()
    assert np.all(np.isfinite(simulated)) and np.abs(simulated - eager).max() < close


GRAPH = """module @m {
  func @main(%x: tensor<4xfp32>) -> (tensor<4xfp32>) {
    %0 = full {value = -3.4028234663852886e+38} : tensor<fp32>
    %1 = mul %x, %0 : tensor<4xfp32>
    return %1
  }
}
"""


def test_a_finite_constant_beyond_the_range_saturates_everywhere() -> None:
    low = np.float32(torch.finfo(torch.float32).min)
    top = max_value("bf16")
    assert round_constant(low, BF16) == -top and round_constant(np.float32(np.inf), BF16) == np.inf
    assert round_constant(low, ElemType("cfp8_143", 0)) == -max_value("cfp8_143", 0)
    x = [np.array([0.0, 1.0, -0.5, 0.0], np.float32)]
    graph = parse_module(GRAPH)
    opts = driver.Options("mini", "bf16", tuple(x))
    snaps = driver.compile_stages(graph, "placed", opts)
    (q,) = interpret(snaps["quantized"], x)
    assert np.array_equal(q, [0.0, -top, 0.5 * top, 0.0])  # 0 * min is 0, not NaN
    report = verify_module(graph, x, "mini")
    assert report.ok, report.render()
    (out,) = report.outputs
    assert out.bit_exact and out.quantized.err == abs(float(low) + top) == out.quantized.allowed
