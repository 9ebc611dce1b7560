"""Source locations of FX nodes, from ``node.meta['stack_trace']``.

torch.export records, per node, the Python stack at the point the op was called, outermost frame
first and innermost last, stopping at the torch function (``F.linear``) boundary::

    File "/path/gpt_block.py", line 79, in forward
        x = x + self.attn(self.ln_1(x))
      File "/path/gpt_block.py", line 37, in forward
        q, k, v = self.c_attn(x).split(d, dim=2)
      File ".../torch/nn/modules/linear.py", line 134, in forward
        return F.linear(input, self.weight, self.bias)

The user wants the line in their model file, so the rule is: the innermost frame in the model file;
if the model file has no frame (a model that is a stock ``nn.TransformerEncoderLayer``), the
innermost frame outside the torch package; else the innermost frame. The trace has no column, so
locations use column 1.

File names are shown relative to the working directory when the file is below it
(``examples/mlp.py``) and as ``torch/...`` for torch's own files, so IR text does not depend on
where the repository or Python is installed.
"""

from __future__ import annotations

import os
import re

import torch
from torch import fx

from d1c.errors import Loc

_FRAME = re.compile(r'File "([^"]+)", line (\d+), in ')
_TORCH_DIR = os.path.dirname(os.path.realpath(torch.__file__)) + os.sep
_TORCH_PARENT = os.path.dirname(_TORCH_DIR.rstrip(os.sep))


def frames(stack_trace: str | None) -> list[tuple[str, int]]:
    """The (file, line) frames of a recorded stack trace, outermost first."""
    if not stack_trace:
        return []
    return [(f, int(n)) for f, n in _FRAME.findall(stack_trace)]


def pick_frame(found: list[tuple[str, int]], user_file: str | None) -> tuple[str, int] | None:
    """The frame that best points at the user's code (see the module docstring)."""
    if not found:
        return None
    if user_file is not None:
        user = os.path.realpath(user_file)
        mine = [f for f in found if os.path.realpath(f[0]) == user]
        if mine:
            return mine[-1]
    outside = [f for f in found if not os.path.realpath(f[0]).startswith(_TORCH_DIR)]
    return (outside or found)[-1]


def node_loc(node: fx.Node, user_file: str | None = None) -> Loc | None:
    """The source location of an FX node, or None when export recorded no stack."""
    frame = pick_frame(frames(node.meta.get("stack_trace")), user_file)
    return None if frame is None else Loc(display_path(frame[0]), frame[1], 1)


def display_path(path: str) -> str:
    """``path`` relative to the working directory, or to site-packages for torch's files."""
    real = os.path.realpath(path)
    if real.startswith(_TORCH_DIR):
        return os.path.relpath(real, _TORCH_PARENT)
    cwd = os.getcwd() + os.sep
    return os.path.relpath(real, cwd) if real.startswith(cwd) else path
