"""Unsupported input: every unsupported op is collected into one table with counts, input
shapes/dtypes and source lines; ops that only depend on an unsupported op are not listed unless
they have no lowering at all (then they would fail anyway)."""

from __future__ import annotations

from pathlib import Path

import pytest

from d1c.errors import UnsupportedError
from d1c.frontend import coverage, import_model

MODEL = """\
import torch


class M(torch.nn.Module):
    def forward(self, x):
        spectrum = torch.fft.rfft(x).abs()
        ordered = torch.atan2(x, x + 1)
        again = torch.atan2(x.relu(), x)
        return spectrum.sum() + ordered.exp().sum() + again.mean() + x.double().sum()


def model():
    return M()


def example_inputs():
    return (torch.randn(2, 8),)
"""


def _line(text: str, needle: str) -> int:
    """1-based number of the only line of ``text`` containing ``needle``."""
    (n,) = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return n


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "spectral.py"
    path.write_text(MODEL)
    return path


def _row(table: str, op: str) -> str:
    (row,) = [line for line in table.splitlines() if line.startswith(op + " ")]
    return row


def test_every_unsupported_op_is_listed_with_its_source_lines(model_file: Path) -> None:
    with pytest.raises(UnsupportedError) as info:
        import_model(str(model_file))
    message = info.value.render()
    assert "Traceback" not in message
    rfft = _row(message, "aten._fft_r2c.default")
    assert f"spectral.py:{_line(MODEL, 'rfft')}" in rfft
    assert "fp32[2,8]" in rfft
    atan2 = _row(message, "aten.atan2.default")
    assert f"spectral.py:{_line(MODEL, 'ordered =')},{_line(MODEL, 'again =')}" in atan2
    assert atan2.split()[1] == "2"  # count
    cast = _row(message, "aten._to_copy.default")
    assert "float64 is not supported" in cast


def test_ops_downstream_of_unsupported_ones_are_not_listed(model_file: Path) -> None:
    with pytest.raises(UnsupportedError) as info:
        import_model(str(model_file))
    ops = [line.split()[0] for line in info.value.message.splitlines()[3:]]
    assert ops == ["aten._fft_r2c.default", "aten.atan2.default", "aten._to_copy.default"]


DOWNSTREAM = """\
import torch


class M(torch.nn.Module):
    def forward(self, x):
        y = torch.fft.rfft(x).abs()
        return torch.atan2(y, y).exp()


def model():
    return M()


def example_inputs():
    return (torch.randn(4, 16),)
"""


def test_an_op_without_lowering_is_listed_even_downstream_of_another(tmp_path: Path) -> None:
    path = tmp_path / "down.py"
    path.write_text(DOWNSTREAM)
    with pytest.raises(UnsupportedError) as info:
        import_model(str(path))
    ops = [line.split()[0] for line in info.value.message.splitlines()[3:]]
    assert ops == ["aten._fft_r2c.default", "aten.atan2.default"]  # not abs or exp
    assert f"down.py:{_line(DOWNSTREAM, 'torch.atan2')}" in _row(
        info.value.message, "aten.atan2.default"
    )


def test_coverage_lists_supported_and_unsupported_ops(model_file: Path) -> None:
    table, unsupported = coverage(str(model_file))
    assert unsupported == 3
    assert _row(table, "aten.atan2.default").split()[2] == "no"
    assert _row(table, "aten.relu.default").split()[2] == "yes"
    assert _row(table, "aten.abs.default").split()[2] == "yes"
    assert table.splitlines()[-1].endswith("3 not supported")


EFFECTS = """\
import torch


class M(torch.nn.Module):
    def forward(self, x):
        inv = torch.linalg.inv(x)
        torch.ops.aten._print("hello")
        return inv @ x + 1


def model():
    return M()


def example_inputs():
    return (torch.randn(4, 4),)
"""


def test_effect_tokens_are_not_listed_as_ops(tmp_path: Path) -> None:
    """torch.export threads side effects (linalg.inv's error check, a print) through a token
    input and ``with_effects`` nodes: the table lists the model's ops, not that bookkeeping."""
    path = tmp_path / "effects.py"
    path.write_text(EFFECTS)
    table, unsupported = coverage(str(path))
    assert "with_effects" not in table and "input token" not in table
    assert unsupported == 2, table
    assert _row(table, "aten.linalg_inv_ex.default").split()[2] == "no"
    printed = _row(table, "aten._print.default").split()
    assert printed[2] == "no" and printed[3] == "-"  # the token is no input of the print
    assert f"effects.py:{_line(EFFECTS, '_print')}" in " ".join(printed)
    with pytest.raises(UnsupportedError) as info:
        import_model(str(path))
    listed = [ln.split()[0] for ln in info.value.message.splitlines()[3:]]
    assert listed == ["aten.linalg_inv_ex.default", "aten._print.default"]


def test_a_data_dependent_op_is_unsupported_not_an_export_error() -> None:
    """torch.export cannot trace ops whose output depends on the data (aten.equal): an
    UnsupportedError naming the op, not a generic export failure."""
    import torch

    from tests.frontend.conftest import lower

    with pytest.raises(
        UnsupportedError, match=r"'aten\.equal\.default' has a data-dependent output"
    ):
        lower(lambda a: torch.tensor(torch.equal(a, a)), torch.randn(4))
