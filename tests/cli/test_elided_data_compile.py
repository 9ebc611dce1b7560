"""IR whose constants have no data (printed with --elide-data, or a data line deleted) parses
but cannot be compiled: a CompileError naming the constants at the first one's line, not a
KeyError from the cfp8 calibration (found by ``d1c fuzz --target dojo-tile --seed 6``: a mutant
with the `data @c0` line deleted; this is its shrunk form)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from d1c import driver
from d1c.cli import main
from d1c.errors import CompileError
from d1c.ir import parse_module

MUTANT = """module @m {
  func @main(%x0: tensor<1x1x1x1xfp32>) -> (tensor<1x1x1x1xfp32>) {
    %0 = full {value = 0.0} : tensor<1xfp32>
    %1 = const {name = @c0} : tensor<1xfp32>
    %2 = const {name = @c1} : tensor<1xfp32>
    %3 = batch_norm %x0, %1, %2, %0, %0 {eps = 1e-05} : tensor<1x1x1x1xfp32>
    return %3
  }
  data @c1 : tensor<1xfp32> = 0xeeadae3f
}
"""


@pytest.mark.parametrize("dtype", ["bf16", "cfp8"])
def test_constants_without_data_are_a_compile_error(dtype: str) -> None:
    m = parse_module(MUTANT, "mutant.d1")
    x = driver.random_inputs(m)
    with pytest.raises(CompileError, match=r"constant\(s\) @c0 have no data") as err:
        driver.compile_stages(m, "placed", driver.Options("mini", dtype, tuple(x)))
    assert err.value.loc.line == 4


def test_cli_compile_of_elided_ir_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "elided.d1"
    path.write_text(MUTANT.replace("  data @c1 : tensor<1xfp32> = 0xeeadae3f\n", ""))
    result = CliRunner().invoke(main, ["compile", str(path), "--target", "mini", "--dtype", "cfp8"])
    assert result.exit_code == 1
    assert "constant(s) @c0, @c1 have no data" in result.output
    assert "--elide-data" in result.output and "Traceback" not in result.output
