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
