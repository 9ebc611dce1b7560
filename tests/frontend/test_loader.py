"""MODEL specs and errors in the user's model file: each becomes a D1cError that points at the
file and line, with no Python traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from d1c.errors import D1cError
from d1c.frontend import import_model, load_model, split_spec

GOOD = """\
import torch


def model():
    return torch.nn.Linear(4, 2)


def example_inputs():
    return torch.randn(3, 4)


def pair():
    return torch.nn.ReLU(), [torch.randn(5)]
"""


def _write(tmp_path: Path, text: str, name: str = "user_model.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_split_spec() -> None:
    assert split_spec("a/b.py") == (Path("a/b.py"), None)
    assert split_spec("a/b.py:make") == (Path("a/b.py"), "make")
    assert split_spec("C:/x/b.py") == (Path("C:/x/b.py"), None)


def test_default_and_factory_specs(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    model, inputs = load_model(str(path))
    assert model.__class__.__name__ == "Linear" and inputs[0].shape == (3, 4)
    model, inputs = load_model(f"{path}:pair")
    assert model.__class__.__name__ == "ReLU" and isinstance(inputs, tuple)
    assert import_model(f"{path}:pair").name == "user_model"


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("import torch\n\ndef model(:\n    pass\n", 3, "syntax error"),
        ("import torch\nraise ValueError('bad config')\n", 2, "ValueError: bad config"),
        (
            "import torch\n\nclass M(torch.nn.Module):\n    def forward(self, x):\n"
            "        return x @ torch.ones(4, 2)\n\ndef model():\n    return M()\n\n"
            "def example_inputs():\n    return (torch.randn(3, 5),)\n",
            5,
            "the model fails on its example inputs",
        ),
        (
            "import torch\n\ndef model():\n    x = 1\n    return x / 0\n\n"
            "def example_inputs():\n    return (torch.randn(3),)\n",
            5,
            "ZeroDivisionError",
        ),
    ],
    ids=["syntax", "import-time", "shape-mismatch", "in-model"],
)
def test_errors_point_at_the_user_file(tmp_path: Path, text: str, line: int, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(D1cError) as info:
        import_model(str(path))
    err = info.value
    assert needle in err.message
    assert err.loc is not None and Path(err.loc.file).name == path.name and err.loc.line == line
    assert "Traceback" not in err.render()


SEQUENTIAL_MISMATCH = """\
import torch
from torch import nn


def model():
    return nn.Sequential(nn.Linear(16, 8), nn.ReLU())


def example_inputs():
    return (torch.randn(4, 12),)
"""


@pytest.mark.parametrize("spec_suffix", ["", ":pair"])
def test_a_shape_mismatch_points_at_the_example_inputs(tmp_path: Path, spec_suffix: str) -> None:
    """The model fails in eager mode too, and none of its frames is in the user's file (a stock
    nn.Sequential): the error points at what returns the inputs, with a hint about shapes (not
    about data-dependent control flow, which does not apply)."""
    text = SEQUENTIAL_MISMATCH + (
        "\n\ndef pair():\n    m = model()\n    return m, example_inputs()\n" if spec_suffix else ""
    )
    path = _write(tmp_path, text)
    with pytest.raises(D1cError) as info:
        import_model(str(path) + spec_suffix)
    err = info.value
    assert "the model fails on its example inputs: RuntimeError: mat1 and mat2" in err.message
    want = "return m, example_inputs()" if spec_suffix else "return (torch.randn(4, 12),)"
    assert err.loc.line == _line_of(text, want) and err.loc.col == 5
    fn = "pair" if spec_suffix else "example_inputs"
    assert (
        err.hint.startswith("torch eager fails too")
        and f"{fn}() gives input: float32[4, 12]" in err.hint
    )
    assert "control flow" not in err.hint
    assert err.render().splitlines()[1].strip() == want


def _line_of(text: str, needle: str) -> int:
    (n,) = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return n


def test_data_dependent_control_flow_is_an_export_error(tmp_path: Path) -> None:
    text = (
        "import torch\n\nclass M(torch.nn.Module):\n    def forward(self, x):\n"
        "        if x.sum() > 0:\n            return x\n        return -x\n\n"
        "def model():\n    return M()\n\ndef example_inputs():\n    return (torch.randn(3),)\n"
    )
    with pytest.raises(D1cError, match=r"torch\.export") as info:
        import_model(str(_write(tmp_path, text)))
    assert info.value.hint and "control" in info.value.hint


@pytest.mark.parametrize(
    ("text", "spec_suffix", "needle"),
    [
        (
            "def model():\n    return 3\n\ndef example_inputs():\n    return ()\n",
            "",
            "not an nn.Module",
        ),
        ("def model():\n    pass\n", "", "example_inputs()"),
        (GOOD, ":missing", "missing()"),
        (
            "import torch\ndef model():\n    return torch.nn.ReLU()\ndef example_inputs():\n    return 3\n",
            "",
            "tuple of tensors",
        ),
    ],
    ids=["not-module", "no-inputs", "no-factory", "bad-inputs"],
)
def test_malformed_model_files(tmp_path: Path, text: str, spec_suffix: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(D1cError) as info:
        load_model(str(path) + spec_suffix)
    assert needle in info.value.message
    assert info.value.hint and "model()" in info.value.hint


def test_missing_file() -> None:
    with pytest.raises(D1cError, match="does not exist"):
        load_model("/nonexistent/model.py")
