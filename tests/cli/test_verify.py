"""``d1c verify --inputs FILE.npz`` (exact replays of fuzz reproducers), ``verify_module`` on an
in-memory module, and the bitwise comparison's NaN rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from d1c import driver
from d1c.cli import main
from d1c.errors import D1cError
from d1c.ladder import bits_equal, verify, verify_module

ROOT = Path(__file__).resolve().parents[2]
ATTENTION = str(ROOT / "examples" / "attention.d1")


def test_inputs_file_round_trips_and_drives_the_ladder(tmp_path: Path) -> None:
    module = driver.read_ir(ATTENTION)
    x = [3.0 * a for a in driver.random_inputs(module, seed=5)]
    path = str(tmp_path / "in.npz")
    driver.write_inputs(path, module, x)
    assert sorted(np.load(path).files) == ["k", "q", "v"]  # the arguments' own names
    back = driver.read_inputs(path, module)
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(x, back, strict=True))
    from_file = verify(ATTENTION, "mini", inputs_file=path)
    in_memory = verify_module(module, x, "mini")
    default = verify(ATTENTION, "mini")  # seeded random inputs (seed 0): other errors
    assert from_file.ok and in_memory.ok
    assert from_file.outputs[0].quantized == in_memory.outputs[0].quantized
    assert default.outputs[0].quantized.err != from_file.outputs[0].quantized.err


def test_cli_takes_inputs_and_checks_determinism(tmp_path: Path) -> None:
    module = driver.read_ir(ATTENTION)
    path = str(tmp_path / "in.npz")
    driver.write_inputs(path, module, driver.random_inputs(module, seed=1))
    args = ["verify", ATTENTION, "--target", "mini", "--inputs", path, "--determinism"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "compiling twice gives identical .d1x bytes: ok" in result.output
    assert "IR text round-trips at every stage: ok" in result.output


def _three(**replaced: np.ndarray) -> dict[str, np.ndarray]:
    """q, k, v inputs of the attention example with some replaced."""
    return {name: np.zeros((16, 32), np.float32) for name in "qkv"} | replaced


ATTENTION_ARGS = (
    "@forward of @attention takes 3 inputs: q (tensor<16x32xfp32>), k (tensor<16x32xfp32>), "
    "v (tensor<16x32xfp32>)"
)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"arg0": np.zeros((16, 32), np.float32)}, "holds arg0"),
        (_three(k=np.zeros((16, 31), np.float32)), r"k is float32\[16, 31\], expected tensor"),
        (_three(v=np.zeros((16, 32), np.int32)), r"v is int32\[16, 32\]"),
    ],
)
def test_bad_inputs_files_are_clean_errors(tmp_path: Path, arrays: dict, message: str) -> None:
    module = driver.read_ir(ATTENTION)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(D1cError, match=message) as info:
        driver.read_inputs(str(path), module)
    assert info.value.hint == ATTENTION_ARGS  # names the function and module that exist
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(D1cError, match="cannot read inputs file"):
        driver.read_inputs(str(tmp_path / "junk.npz"), module)


def test_bits_equal_compares_bits_but_not_nan_payloads() -> None:
    a = np.array([0.0, 1.0, np.nan], np.float32)
    payload = np.array([0x00000000, 0x3F800000, 0xFFC00000], np.uint32).view(np.float32)
    assert bits_equal(a, payload) == (True, 0)  # 0x7FC00000 vs 0xFFC00000: both NaN
    assert bits_equal(a, np.array([-0.0, 1.0, np.nan], np.float32)) == (False, 1)
    assert bits_equal(a, np.array([0.0, 1.0, 2.0], np.float32)) == (False, 1)
