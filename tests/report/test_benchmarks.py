"""The example benchmarks run (on mlp and mini, so they stay fast) and print consistent figures."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.report.report_helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import compile_time
import roofline
import tvm_compare


def test_roofline_prints_mini_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert roofline.main(["--target", "mini", "--examples", "mlp"]) == 0
    out = capsys.readouterr().out
    # mini: 60 cores x 256 MAC/cycle; 1 DIP at min(800, 900) GB/s / 2 GHz = 400 B/cycle
    assert "peak 15,360 MAC/cycle, DIP 400 B/cycle, ridge 38 MAC/B" in out
    row = next(line for line in out.splitlines() if line.startswith("mlp"))
    assert row.split()[1] == "206,848" and "memory" in row  # 8 x (64*128 + 128*128 + 128*10)


def test_compile_time_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert compile_time.main(["--target", "mini", "--repeat", "1", "--examples", "mlp"]) == 0
    out = capsys.readouterr().out.splitlines()
    row = next(line for line in out if line.startswith("mlp")).split()
    stages = [float(v) for v in row[1:8]]
    assert float(row[8]) == pytest.approx(sum(stages), rel=0.02, abs=2e-3)
    assert float(row[9]) == pytest.approx(float(row[8]) / stages[0], rel=0.02)


@pytest.mark.skipif(importlib.util.find_spec("tvm") is not None, reason="TVM is installed")
def test_tvm_compare_skips_without_tvm(capsys: pytest.CaptureFixture[str]) -> None:
    assert tvm_compare.main(["--examples", "mlp"]) == 0
    assert "Apache TVM is not available here" in capsys.readouterr().out
