"""``torch.compile(model, backend="d1c")``: registered by entry point, matches eager within the
derived bound that ``d1c verify`` uses (plus eager's own fp32 error), and falls back to eager with
exactly one warning listing every unsupported op."""

from __future__ import annotations

import subprocess
import sys
import warnings
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import torch

import d1c.dynamo
from d1c.frontend import load_model
from d1c.ladder import eager_tolerance

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_entry_point_registers_the_backend() -> None:
    eps = entry_points(group="torch_dynamo_backends")
    assert [e.value for e in eps if e.name == "d1c"] == ["d1c.dynamo:backend"]
    from torch._dynamo.backends.registry import lookup_backend

    assert lookup_backend("d1c") is d1c.dynamo.backend


def _flat(out) -> list[np.ndarray]:
    outs = out if isinstance(out, tuple | list) else (out,)
    return [o.detach().numpy().astype(np.float64) for o in outs]


def _check_against_eager(example: str, target: str = "mini") -> None:
    model, inputs = load_model(str(ROOT / "examples" / f"{example}.py"))
    model.eval()
    before = len(d1c.dynamo.programs())
    compiled = torch.compile(model, backend="d1c", options={"target": target})
    with warnings.catch_warnings():
        warnings.simplefilter("error", d1c.dynamo.FallbackWarning)
        with torch.no_grad():
            got, eager = _flat(compiled(*inputs)), _flat(model(*inputs))
    progs = d1c.dynamo.programs()[before:]
    assert len(progs) == 1, "expected the whole model as one subgraph"
    prog = progs[0]
    bounds = prog.error_bounds(*prog.last_inputs)
    assert len(bounds) == len(got) == len(eager)
    for g, e, (ref, bound) in zip(got, eager, bounds, strict=True):
        assert np.all(np.abs(g - ref) <= bound), "d1c output outside the derived bound"
        slack = eager_tolerance(ref)
        assert np.abs(e - ref).max() <= slack
        assert np.all(np.abs(g - e) <= bound + slack)


@pytest.mark.parametrize("example", ["mlp", "gpt_block", "transformer"])
def test_matches_eager_within_bound(example: str) -> None:
    _check_against_eager(example)


@pytest.mark.slow
@pytest.mark.parametrize("example", ["transformer", "cnn"])
def test_matches_eager_within_bound_slow(example: str) -> None:
    _check_against_eager(example, target="dojo-tile")


class Unsupported(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.sort(torch.sin(x), dim=-1).values
        return torch.atan2(y, x) * torch.erfinv(torch.tanh(x))


def test_unsupported_ops_fall_back_with_one_warning() -> None:
    x = torch.randn(4, 8)
    before = len(d1c.dynamo.programs())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = torch.compile(Unsupported(), backend="d1c")(x)
    ours = [w for w in caught if issubclass(w.category, d1c.dynamo.FallbackWarning)]
    assert len(ours) == 1
    assert "2 unsupported op(s): aten.atan2.default, aten.erfinv.default" in str(ours[0].message)
    assert torch.equal(out, Unsupported()(x))
    assert len(d1c.dynamo.programs()) == before


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(Exception, match="unknown d1c backend option"):
        torch.compile(torch.nn.ReLU(), backend="d1c", options={"targett": "mini"})(torch.ones(2))


def test_works_in_a_fresh_process_by_name(tmp_path) -> None:
    """After pip install, the backend name resolves without importing d1c first."""
    code = (
        "import torch\n"
        "m = torch.nn.Linear(4, 3)\n"
        "x = torch.randn(2, 4)\n"
        "y = torch.compile(m, backend='d1c', options={'target': 'mini'})(x)\n"
        "print(tuple(y.shape), float((y - m(x)).abs().max()) < 0.05)\n"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "(2, 3) True"
