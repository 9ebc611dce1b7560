"""Source attribution: an op's location is the innermost frame of the model's own code — the
line in a layer's own file when the model file imports the layer (as a Hugging Face model's
modeling file), not the outer call in the user's script nor torch's ``nn/modules/*.py``; a stock
torch layer called by the user's script points at that call."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from d1c.frontend import import_model
from d1c.frontend.location import display_path, pick_frame

LAYERS = """\
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, d)

    def forward(self, x):
        h = self.fc(x)
        return torch.relu(h) * 2
"""

MODELING = """\
import torch
from torch import nn


def eager_attention(scores):
    return torch.softmax(scores, dim=-1)


class FakeAttention(nn.Module):
    def forward(self, q, k):
        scores = q @ k.transpose(-1, -2)
        return eager_attention(scores)
"""

MODEL = """\
import torch
from torch import nn

from fakehf.modeling_fake import FakeAttention
from layers import Block


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block(8)
        self.norm = nn.LayerNorm(8)
        self.attn = FakeAttention()

    def forward(self, x):
        y = self.block(x)
        y = self.norm(y)
        return self.attn(y, y)


def model():
    torch.manual_seed(0)
    return Net()


def example_inputs():
    return (torch.randn(2, 4, 8),)
"""


def _line(text: str, needle: str) -> int:
    (n,) = [i for i, t in enumerate(text.splitlines(), 1) if needle in t]
    return n


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The model file and its layers.py in ``proj/`` (the working directory), and a library
    package ``fakehf`` installed elsewhere on sys.path, as transformers would be."""
    proj, lib = tmp_path / "proj", tmp_path / "site" / "fakehf"
    lib.mkdir(parents=True)
    proj.mkdir()
    (lib / "__init__.py").write_text("")
    (lib / "modeling_fake.py").write_text(MODELING)
    (proj / "layers.py").write_text(LAYERS)
    (proj / "net.py").write_text(MODEL)
    monkeypatch.chdir(proj)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield proj
    for name in ("layers", "fakehf", "fakehf.modeling_fake"):
        sys.modules.pop(name, None)


def test_ops_point_at_the_innermost_line_of_the_models_own_code(project: Path) -> None:
    module = import_model("net.py")
    where = {(op.name, op.loc.file, op.loc.line) for op in module.main.ops[:-1]}
    files = {f for _, f, _ in where}
    assert not any(f.startswith("torch/") for f in files), files
    fake = "fakehf/modeling_fake.py"
    assert ("matmul", fake, _line(MODELING, "q @ k")) in where
    # torch.export keeps only `forward` frames: a helper's op is at the forward's call of it
    assert ("softmax", fake, _line(MODELING, "return eager_attention")) in where
    assert ("relu", "layers.py", _line(LAYERS, "torch.relu")) in where
    assert ("matmul", "layers.py", _line(LAYERS, "self.fc(x)")) in where  # not self.block(x)
    assert ("layer_norm", "net.py", _line(MODEL, "self.norm(y)")) in where  # a stock torch layer
    assert not any(f == "net.py" and n == _line(MODEL, "self.block(x)") for _, f, n in where)


def test_pick_frame_skips_torch_and_the_standard_library() -> None:
    import functools

    import torch

    torch_file = os.path.join(os.path.dirname(torch.__file__), "nn", "modules", "linear.py")
    stdlib_file = functools.__file__
    frames = [("/u/net.py", 3), ("/u/layers.py", 9), (stdlib_file, 40), (torch_file, 134)]
    assert pick_frame(frames) == ("/u/layers.py", 9)
    assert pick_frame([(torch_file, 134)]) == (torch_file, 134)
    assert pick_frame([]) is None


def test_display_path_is_relative_to_the_folder_that_holds_the_file(project: Path) -> None:
    import torch

    assert display_path(str(project / "layers.py")) == "layers.py"
    lib = project.parent / "site" / "fakehf" / "modeling_fake.py"
    assert display_path(str(lib)) == "fakehf/modeling_fake.py"
    linear = os.path.join(os.path.dirname(torch.__file__), "nn", "modules", "linear.py")
    assert display_path(linear) == "torch/nn/modules/linear.py"


def test_report_kernels_name_the_same_lines(project: Path) -> None:
    """``d1c report`` (and a saved .d1x) names each kernel by the op's location and line text."""
    from d1c import driver
    from d1c.codegen.kernel_table import read_kernel_table

    src = driver.load_source("net.py")
    opts = driver.Options("mini", "bf16", tuple(src.inputs))
    prog = driver.build(driver.compile_stages(src.module, "placed", opts)["placed"], opts)
    kernels, _ = read_kernel_table(prog)
    where = {(k.op, k.loc, k.source) for k in kernels}
    assert ("matmul", f"layers.py:{_line(LAYERS, 'self.fc(x)')}", "h = self.fc(x)") in where
    q_at_k = _line(MODELING, "q @ k")
    assert (
        "matmul",
        f"fakehf/modeling_fake.py:{q_at_k}",
        "scores = q @ k.transpose(-1, -2)",
    ) in where
