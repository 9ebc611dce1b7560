"""A small multi-layer perceptron: Linear layers with ReLU and GELU between them.

Run with ``d1c compile examples/mlp.py --emit graph``. The frontend calls :func:`model` and
:func:`example_inputs`; both are deterministic (seeded).
"""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """64 -> 128 -> 128 -> 10 with ReLU, then GELU (erf form)."""

    def __init__(self, d_in: int = 64, d_hidden: int = 128, d_out: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_hidden)
        self.fc3 = nn.Linear(d_hidden, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc1(x))
        x = nn.functional.gelu(self.fc2(x))
        return self.fc3(x)


def model() -> nn.Module:
    """The MLP with seeded weights."""
    torch.manual_seed(0)
    return MLP()


def example_inputs() -> tuple[torch.Tensor, ...]:
    """A batch of 8 feature vectors."""
    torch.manual_seed(0)
    return (torch.randn(8, 64),)
