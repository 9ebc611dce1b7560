"""PyTorch's OpInfo database swept through d1c (d1c/opinfo.py): every float32 OpInfo,
each sample compiled for ``mini`` and simulated, compared with torch eager on the same
(storage-rounded) inputs within eager's fp32 tolerance plus d1c's derived error bound.

The default run checks a fast subset that must be fully correct (the defects of issue 14 and
one op of each lowering family); ``pytest -m slow tests/opinfo`` sweeps the whole database in
bf16 and fp32, fails on any crash or wrong result and writes the per-op table to
``$D1C_OPINFO_DIR`` (default ``build/``) as ``opinfo-<dtype>.json``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from d1c import opinfo

ROOT = Path(__file__).resolve().parents[2]

FAST = {
    "sum": "rank-0 output",
    "mm": "zero-size operands",
    "aminmax": "named-tuple output",
    "count_nonzero": "bool -> int64 sum on the device",
    "var.unbiased": "empty and one-element reductions",
    "bfloat16": "bf16 result dtype",
    "pow": "error-bound rule",
    "floor": "vround",
    "argmax": "selection",
    "gather": "row gather with index arithmetic",
    "cumsum": "masked scan",
    "isnan": "class tests",
    "sin": "sin/cos sequence on the device",
    "roll": "integer fmod folding into index_select",
}


@pytest.fixture(scope="module")
def ops() -> dict:
    return {opinfo.full_name(op): op for op in opinfo.float32_ops()}


@pytest.mark.parametrize("name", sorted(FAST))
def test_fast_subset_is_fully_correct(name: str, ops: dict) -> None:
    result = opinfo.run_op(ops[name], dtype="bf16", samples=2)
    details = [s.detail for s in result.samples if s.status != "ok"]
    assert result.status == "ok", f"{name} ({FAST[name]}): {result.status}: {details}"


def test_a_wrong_result_is_caught(ops: dict, monkeypatch) -> None:
    """The comparison can fail: negate what the simulator returns."""
    import d1c.api

    run = d1c.api.Program.run
    monkeypatch.setattr(d1c.api.Program, "run", lambda self, *xs: -run(self, *xs) - 1)
    assert opinfo.run_op(ops["exp"], dtype="bf16", samples=1).status == "wrong"


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_whole_database_has_no_crash_and_no_wrong_result(dtype: str) -> None:
    rows = opinfo.sweep(dtype=dtype, jobs=max(1, min(2, os.cpu_count() or 1)))
    out = Path(os.environ.get("D1C_OPINFO_DIR", ROOT / "build"))
    out.mkdir(parents=True, exist_ok=True)
    opinfo.write_table(str(out / f"opinfo-{dtype}.json"), rows, {"dtype": dtype})
    bad = {r["name"]: r["status"] for r in rows if r["status"] in ("crash", "wrong")}
    assert not bad, f"{len(bad)} ops crash or give wrong results: {bad}"
