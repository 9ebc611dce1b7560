"""End to end: `d1c verify` on every example — the graph interpreter against torch eager, the
quantized result within the derived bound, and tiled == placed == simulated bit for bit.

`mini` is SRAM-starved (256 KiB per core, 60 cores), so tiling and streaming are exercised; the
default target runs in the slow suite (except the MLP)."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from d1c.accuracy.ladder import verify
from d1c.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ["mlp", "gpt_block", "cnn", "transformer"]


def _check(report) -> None:
    assert report.outputs, "no outputs were checked"
    for out in report.outputs:
        assert out.bit_exact, f"{out.name}: {out.mismatches} elements differ from the placed IR"
        assert out.quant_ok, f"{out.name}: error {out.quant_err} exceeds bound {out.quant_bound}"
        assert out.eager_err is not None and out.eager_err <= out.eager_tol
    assert report.ok
    assert report.cycles > 0 and report.macs > 0


@pytest.mark.parametrize("example", EXAMPLES)
def test_examples_verify_on_mini(example: str) -> None:
    _check(verify(str(ROOT / "examples" / f"{example}.py"), "mini", "bf16"))


def test_mlp_verifies_on_the_default_tile() -> None:
    report = verify(str(ROOT / "examples" / "mlp.py"), "dojo-tile", "bf16")
    _check(report)
    assert report.target.num_cores == 8850


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES[1:])
def test_examples_verify_on_the_default_tile(example: str) -> None:
    _check(verify(str(ROOT / "examples" / f"{example}.py"), "dojo-tile", "bf16"))


def test_verify_cli_prints_one_screen_and_exit_code() -> None:
    result = CliRunner().invoke(
        main, ["verify", str(ROOT / "examples" / "mlp.py"), "--target", "mini"]
    )
    assert result.exit_code == 0, result.output
    for needle in ("bit-exact", "cycles:", "utilization:", "SRAM peak per core:", "PASS"):
        assert needle in result.output
