"""A training example for ``d1c train``: an MLP learning a fixed random linear teacher.

``d1c train examples/train_mlp.py --steps 20 --lr 0.1 --momentum 0.9`` compiles one training
step (forward, backward, SGD update) and runs it once per batch. The convention: a training
MODEL file defines ``model()`` (an ``nn.Module``), ``loss(output, *targets)`` (a scalar tensor)
and ``batches()`` (an iterable of ``(inputs, targets)``, each a tensor or a tuple of tensors;
the first batch is the example the step is compiled for, every batch must have its shapes).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))


def loss(output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(output, labels)


def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    teacher = torch.randn(16, 4, generator=g)
    while True:
        x = torch.randn(16, 16, generator=g)
        yield x, (x @ teacher).argmax(1)


def example_inputs() -> tuple[torch.Tensor]:
    """The first batch's inputs, so this file is also an inference MODEL (``d1c verify``)."""
    return (next(iter(batches()))[0],)
