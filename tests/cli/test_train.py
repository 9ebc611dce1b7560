"""``d1c train`` through click's CliRunner: the loss curve against torch eager training of the
same model file on the same batches, and clean errors."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner

from d1c.cli import main
from d1c.training import load_training_file

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "train_mlp.py")


def test_train_example_follows_torch(tmp_path: Path) -> None:
    curve = tmp_path / "curve.json"
    args = ["train", EXAMPLE, "--steps", "4", "--lr", "0.1", "--momentum", "0.9"]
    res = CliRunner().invoke(main, [*args, "--dtype", "fp32", "--curve", str(curve)])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[-1].startswith("step 4/4  loss ")
    got = json.loads(curve.read_text())["loss"]
    model, loss, batches = load_training_file(EXAMPLE)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    want = []
    for x, y in itertools.islice(batches, 4):
        opt.zero_grad()
        out = loss(model(x), y)
        out.backward()
        opt.step()
        want.append(out.item())
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_train_errors_are_clean(tmp_path: Path) -> None:
    bad = tmp_path / "few.py"
    bad.write_text(
        "import torch\n"
        "def model(): return torch.nn.Linear(2, 2)\n"
        "def loss(o, t): return (o - t).square().mean()\n"
        "def batches(): return [(torch.ones(1, 2), torch.zeros(1, 2))]\n"
    )
    res = CliRunner().invoke(main, ["train", str(bad), "--steps", "3"])
    assert res.exit_code == 1
    assert "batches() of" in res.output and "gave 1 batches, --steps is 3" in res.output
    res = CliRunner().invoke(main, ["train", str(tmp_path / "none.py")])
    assert res.exit_code == 1 and "does not exist" in res.output
