"""One ``nn.TransformerEncoderLayer`` (d_model 256, 4 heads, batch_first) in eval mode.

The MHA "fast path" would replace the layer by one opaque fused op
(``aten._transformer_encoder_layer_fwd``); it only triggers when autograd is off, and d1c exports
with autograd on, but :func:`model` also switches it off so the model decomposes into core ATen
however it is traced.
"""

from __future__ import annotations

import torch
from torch import nn

D_MODEL = 256
N_HEADS = 4
SEQ = 128
BATCH = 2


def model() -> nn.Module:
    """The encoder layer with seeded weights (dropout is inactive in eval)."""
    torch.backends.mha.set_fastpath_enabled(False)
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(d_model=D_MODEL, nhead=N_HEADS, batch_first=True).eval()


def example_inputs() -> tuple[torch.Tensor, ...]:
    """A batch of two sequences of 128 tokens."""
    torch.manual_seed(0)
    return (torch.randn(BATCH, SEQ, D_MODEL),)
