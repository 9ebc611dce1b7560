"""``d1c run`` through click's CliRunner: outputs saved and summarised, cycles, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from d1c.cli import main
from d1c.runtime.sim import simulate
from tests.runtime.sim_helpers import PROGRAMS, bits, program


def _inputs(tmp_path: Path) -> tuple[list[str], np.ndarray]:
    x = np.random.default_rng(12).standard_normal((8, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    return ["--input", f"x={tmp_path / 'x.npy'}"], x


def test_run_d1x_saves_outputs_and_prints_cycles(tmp_path: Path) -> None:
    d1x = tmp_path / "ring.d1x"
    d1x.write_bytes(program("ring").to_bytes())
    args, x = _inputs(tmp_path)
    out, trace = tmp_path / "out", tmp_path / "trace.json"
    res = CliRunner().invoke(main, ["run", str(d1x), *args, "-o", str(out), "--trace", str(trace)])
    assert res.exit_code == 0, res.output
    expected = simulate(program("ring"), None, {"x": x})
    assert f"cycles: {expected.cycles} " in res.output
    assert res.output.startswith("y: float32[8, 16] min ")
    np.testing.assert_array_equal(bits(np.load(out / "y.npy")), bits(np.roll(x, 1, axis=0)))
    events = json.loads(trace.read_text())["traceEvents"]
    assert sum(e["name"] == "send" for e in events) == 8


def test_run_assembly_in_timing_only_mode(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["run", str(PROGRAMS / "ring.s"), "--timing-only"])
    assert res.exit_code == 0, res.output
    assert (
        f"cycles: {simulate(program('ring'), None, None, timing_only=True).cycles} " in res.output
    )
    assert "y:" not in res.output


def test_run_reports_errors_without_traceback(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["run", str(PROGRAMS / "ring.s"), "--input", "x"])
    assert res.exit_code == 1 and "expected NAME=FILE.npy" in res.output
    res = runner.invoke(main, ["run", str(PROGRAMS / "ring.s")])
    assert res.exit_code == 1 and "missing input(s): x" in res.output
    junk = tmp_path / "junk.d1x"
    junk.write_bytes(b"D1X\x00\x01\x00\x00\x00")
    res = runner.invoke(main, ["run", str(junk)])
    assert res.exit_code == 1 and "truncated header" in res.output
    assert "Traceback" not in res.output


def test_run_with_workers_prints_the_same(tmp_path: Path) -> None:
    args, _ = _inputs(tmp_path)
    outs = []
    for extra in ([], ["--workers", "2"], ["--workers", "3"]):
        res = CliRunner().invoke(main, ["run", str(PROGRAMS / "ring.s"), *args, *extra])
        assert res.exit_code == 0, res.output
        outs.append(res.output)
    assert outs[0] == outs[1] == outs[2] and "cycles: " in outs[0]
    res = CliRunner().invoke(main, ["run", str(PROGRAMS / "ring.s"), *args, "--workers", "0"])
    assert res.exit_code == 2 and "--workers" in res.output


TWO_INPUTS = """import torch
from torch import nn


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 8)

    def forward(self, tokens, gain):
        return self.emb(tokens) * gain


def model():
    torch.manual_seed(0)
    return Scaled()


def example_inputs():
    return (torch.tensor([[1, 2, 3, 4]]), torch.full((1, 4, 8), 0.5))
"""


def test_one_input_naming_everywhere(tmp_path: Path) -> None:
    """The model's own argument names are the names of the IR arguments, the program's inputs
    (``run --input``), the keys of ``verify --inputs`` files and the names in hints."""
    model = tmp_path / "scaled.py"
    model.write_text(TWO_INPUTS)
    runner = CliRunner()
    ir = runner.invoke(main, ["compile", str(model), "--emit", "graph", "--target", "mini"])
    assert "func @forward(%tokens: tensor<1x4xi64>, %gain: tensor<1x4x8xfp32>)" in ir.output
    d1x = tmp_path / "scaled.d1x"
    res = runner.invoke(main, ["compile", str(model), "--target", "mini", "-o", str(d1x)])
    assert res.exit_code == 0, res.output
    np.save(tmp_path / "t.npy", np.array([[1, 2, 3, 4]]))
    np.save(tmp_path / "g.npy", np.full((1, 4, 8), 0.5, np.float32))
    res = runner.invoke(main, ["run", str(d1x), "--input", f"tokens={tmp_path / 't.npy'}"])
    assert res.exit_code == 1
    assert "missing input(s): gain" in res.output
    assert "the program takes tokens (i32[1, 4]), gain (bf16[1, 4, 8])" in res.output
    feeds = ["--input", f"tokens={tmp_path / 't.npy'}", "--input", f"gain={tmp_path / 'g.npy'}"]
    res = runner.invoke(main, ["run", str(d1x), *feeds])
    assert res.exit_code == 0, res.output
    np.savez(
        tmp_path / "in.npz", tokens=np.array([[1, 2, 3, 4]]), gain=np.ones((1, 4, 8), np.float32)
    )
    res = runner.invoke(main, ["verify", str(model), "--target", "mini", "--inputs", str(tmp_path / "in.npz")])  # fmt: skip
    assert res.exit_code == 0, res.output
    np.savez(tmp_path / "bad.npz", arg0=np.array([[1, 2, 3, 4]]), arg1=np.ones((1, 4, 8)))
    res = runner.invoke(main, ["verify", str(model), "--target", "mini", "--inputs", str(tmp_path / "bad.npz")])  # fmt: skip
    assert res.exit_code == 1
    assert "@forward of @scaled takes 2 inputs: tokens (tensor<1x4xi64>), gain" in res.output
