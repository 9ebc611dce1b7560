"""Helpers for frontend tests: lower a tiny function through torch.export and compare IR text.

Expected IR is written by hand (the oracle is ATen's documented semantics, not the lowering code)
and compared structurally, ignoring value names, locations and constant bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from d1c.frontend import export_model
from d1c.ir import Module, modules_equal, parse_module, print_module

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("mlp", "cnn", "transformer", "gpt_block")


class Fn(torch.nn.Module):
    """Wrap a plain function as a module so torch.export can trace it."""

    def __init__(self, fn: Callable[..., object]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: torch.Tensor) -> object:
        return self.fn(*xs)


def lower(fn: Callable[..., object] | torch.nn.Module, *inputs: torch.Tensor) -> Module:
    """Graph IR (module @m) of ``fn`` applied to ``inputs``."""
    model = fn if isinstance(fn, torch.nn.Module) else Fn(fn)
    return export_model(model, inputs, name="m")


def assert_ir(got: Module, expected: str) -> None:
    """``got`` equals the IR text ``expected`` up to value names, locations and data bytes."""
    want = parse_module(expected, verify=False)
    if not modules_equal(want, got, check_locs=False, check_data=False):
        pytest.fail(
            f"IR differs.\n--- got:\n{print_module(got, elide_data=True)}--- want:\n{expected}"
        )


def op_names(module: Module) -> list[str]:
    return [op.name for op in module.main.ops]
