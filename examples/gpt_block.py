"""A GPT-2-style transformer block behind a token + position embedding, written by hand.

It exercises the ops a decoder block lowers to: embedding lookup of int64 token ids, a position
index from ``arange``, layer norm, one fused q/k/v Linear that is ``split``, ``view``/``transpose``
into heads, ``matmul``, a causal mask built from ``arange``, comparisons, ``expand`` and ``where``
with a ``full`` of -inf, softmax, heads merged back with ``select`` + ``cat``, a GELU (tanh
approximation) MLP, residual adds, and a tied LM head read out at the last position through a
``slice`` + ``squeeze``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

VOCAB = 96
D_MODEL = 64
N_HEADS = 4
SEQ = 16
BATCH = 2


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with one fused q/k/v projection."""

    def __init__(self, d: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        hd = d // self.n_heads
        q, k, v = self.c_attn(x).split(d, dim=2)
        q = q.view(b, t, self.n_heads, hd).transpose(1, 2)
        k = k.view(b, t, self.n_heads, hd).transpose(1, 2)
        v = v.view(b, t, self.n_heads, hd).transpose(1, 2).contiguous()
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        rows = torch.arange(t).unsqueeze(1)
        cols = torch.arange(t).unsqueeze(0)
        causal = (cols <= rows)[None, None].expand(b, self.n_heads, t, t)
        att = torch.where(causal, att, torch.full_like(att, float("-inf")))
        y = torch.softmax(att, dim=-1) @ v
        y = torch.cat([y[:, h] for h in range(self.n_heads)], dim=-1)
        return self.c_proj(y)


class MLP(nn.Module):
    """d -> 4d -> d with the tanh approximation of GELU (as in GPT-2)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(d, 4 * d)
        self.c_proj = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(nn.functional.gelu(self.c_fc(x), approximate="tanh"))


class GPTBlock(nn.Module):
    """Embeddings, one pre-norm block, final layer norm and a tied LM head."""

    def __init__(self) -> None:
        super().__init__()
        self.wte = nn.Embedding(VOCAB, D_MODEL)
        self.wpe = nn.Embedding(SEQ, D_MODEL)
        self.ln_1 = nn.LayerNorm(D_MODEL)
        self.attn = CausalSelfAttention(D_MODEL, N_HEADS)
        self.ln_2 = nn.LayerNorm(D_MODEL)
        self.mlp = MLP(D_MODEL)
        self.ln_f = nn.LayerNorm(D_MODEL)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pos = torch.arange(ids.shape[1])
        x = self.wte(ids) + self.wpe(pos).unsqueeze(0)
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        h = self.ln_f(x)
        logits = h @ self.wte.weight.t()
        last = logits[:, -1:, :].squeeze(1)
        return logits, last


def model() -> nn.Module:
    """The block with seeded weights."""
    torch.manual_seed(0)
    return GPTBlock()


def example_inputs() -> tuple[torch.Tensor, ...]:
    """Two sequences of 16 token ids (int64)."""
    torch.manual_seed(0)
    return (torch.randint(0, VOCAB, (BATCH, SEQ)),)
