"""benchmarks/host_pack.py runs on a small tensor: both packers, identical bytes, a ratio."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

PATH = Path(__file__).resolve().parents[3] / "benchmarks" / "host_pack.py"


@pytest.mark.parametrize(("fmt", "rounding"), [("bf16", "rne"), ("cfp8_143", "sr")])
def test_benchmark_runs_small(fmt: str, rounding: str, capsys) -> None:
    spec = importlib.util.spec_from_file_location("host_pack_bench", PATH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    x = np.random.default_rng(0).standard_normal((300, 200)).astype(np.float32)
    ratio = bench.bench(x, fmt, 64, 1, rounding)  # exits if the bytes differ
    assert ratio > 0
    row = capsys.readouterr().out
    assert row.startswith(fmt) and "20 tiles" in row and "bytes identical" in row
    sym, spans = bench.tiled_symbol(300, 200, 64, fmt)
    assert len(sym.placements) == 20 and sum(n for _, n in spans) == x.size * (
        2 if fmt == "bf16" else 1
    )
