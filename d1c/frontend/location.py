"""Source locations of FX nodes, from ``node.meta['stack_trace']``.

torch.export records, per node, the Python stack at the point the op was called, outermost frame
first and innermost last, stopping at the torch function (``F.linear``) boundary::

    File "/path/gpt_block.py", line 79, in forward
        x = x + self.attn(self.ln_1(x))
      File "/path/gpt_block.py", line 37, in forward
        q, k, v = self.c_attn(x).split(d, dim=2)
      File ".../torch/nn/modules/linear.py", line 134, in forward
        return F.linear(input, self.weight, self.bias)

The user wants the line of the model's own code that computes the op, so the rule is: the
innermost frame outside torch and the Python standard library. For a layer defined in another
file that the model file imports (a Hugging Face layer: its ``modeling_*.py``), that is the line
in that file, not the outer call in the user's script nor torch's ``nn/modules/*.py``; for a
stock torch layer (``nn.TransformerEncoderLayer``) it is the user's line that calls it. A trace
with no such frame gives its innermost frame. Non-strict torch.export records only ``forward``
frames, so an op inside a helper function (Hugging Face's ``eager_attention_forward``) is
placed at the line of the ``forward`` that calls the helper. The trace has no column, so
locations use column 1.

File names are shown relative to the working directory when the file is below it
(``examples/mlp.py``), else relative to the ``sys.path`` entry that holds it (``torch/...``,
``transformers/models/gpt2/modeling_gpt2.py``), so IR text does not depend on where the
repository or Python is installed.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig

import torch
from torch import fx

from d1c.errors import Loc

_FRAME = re.compile(r'File "([^"]+)", line (\d+), in ')
_TORCH_DIR = os.path.dirname(os.path.realpath(torch.__file__)) + os.sep
_STDLIB_DIR = os.path.realpath(sysconfig.get_paths()["stdlib"]) + os.sep
_SITE_DIRS = ("site-packages", "dist-packages")  # under the stdlib folder, but not the stdlib


def frames(stack_trace: str | None) -> list[tuple[str, int]]:
    """The (file, line) frames of a recorded stack trace, outermost first."""
    if not stack_trace:
        return []
    return [(f, int(n)) for f, n in _FRAME.findall(stack_trace)]


def pick_frame(found: list[tuple[str, int]]) -> tuple[str, int] | None:
    """The frame that best points at the model's own code (see the module docstring)."""
    if not found:
        return None
    mine = [f for f in found if _model_code(f[0])]
    return (mine or found)[-1]


def _model_code(path: str) -> bool:
    """False for torch's files and the standard library's, True for any other file."""
    real = os.path.realpath(path)
    if real.startswith(_TORCH_DIR):
        return False
    stdlib = real.startswith(_STDLIB_DIR) and not any(d in real.split(os.sep) for d in _SITE_DIRS)
    return not stdlib


def node_loc(node: fx.Node) -> Loc | None:
    """The source location of an FX node, or None when export recorded no stack."""
    frame = pick_frame(frames(node.meta.get("stack_trace")))
    return None if frame is None else Loc(display_path(frame[0]), frame[1], 1)


def display_path(path: str) -> str:
    """``path`` as a short name that does not depend on where things are installed: an installed
    package's file relative to its ``site-packages`` (``torch/nn/modules/linear.py``), else
    relative to the working directory if below it, else to the deepest ``sys.path`` entry that
    holds it, else as given."""
    real = os.path.realpath(path)
    bases = [os.path.realpath(p or ".") + os.sep for p in sys.path]
    holding = [b for b in bases if real.startswith(b)]
    sites = [b for b in holding if os.path.basename(b.rstrip(os.sep)) in _SITE_DIRS]
    cwd = os.getcwd() + os.sep
    if not sites and real.startswith(cwd):
        return os.path.relpath(real, cwd)
    return os.path.relpath(real, max(sites or holding, key=len)) if holding else path
