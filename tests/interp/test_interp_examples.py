"""Every example model: the interpreted graph IR against torch eager (docs/design.md §5, rung 1).

Tolerance: ``|got - want| <= 1e-5 * (|want| + max|want|)``. Through a whole network fp32 rounding
errors of different but equally valid orders compound and outputs cancel to near zero, so an
element's own relative error is not meaningful; 1e-5 of the output's scale is. Measured worst
errors are 0.4e-6 of the output scale or less (transformer 3.4e-7, mlp 3.6e-7, gpt_block 1.7e-7,
cnn 1.0e-7), so the bound has a margin of about 30.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from d1c.frontend import export_model, load_model
from d1c.interp import interpret

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))


@pytest.fixture(scope="module", params=EXAMPLES, ids=[p.stem for p in EXAMPLES])
def example(request):
    """(IR module, numpy inputs, torch eager outputs) of one example, built once."""
    path = request.param
    model, inputs = load_model(str(path))
    module = export_model(model, inputs, name=path.stem, user_file=str(path))
    with torch.no_grad():
        want = model(*inputs)
    want = [want] if isinstance(want, torch.Tensor) else list(want)
    return module, [x.numpy() for x in inputs], [w.numpy() for w in want]


def test_examples_exist() -> None:
    assert {"mlp", "cnn", "transformer", "gpt_block"} <= {p.stem for p in EXAMPLES}


def test_interpreter_matches_torch_eager(example) -> None:
    module, inputs, want = example
    got = interpret(module, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        err = np.abs(g.astype(np.float64) - w)
        bound = 1e-5 * (np.abs(w) + np.abs(w).max())
        assert np.all(err <= bound), f"max error {err.max()} vs output scale {np.abs(w).max()}"


def test_interpreter_is_deterministic(example) -> None:
    module, inputs, _ = example
    first = interpret(module, inputs)
    again = interpret(module, [x.copy() for x in inputs])
    assert [a.tobytes() for a in first] == [b.tobytes() for b in again]
