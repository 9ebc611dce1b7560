"""Target files: a malformed machine description is a clean D1cError naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from d1c.errors import D1cError
from d1c.target import load_target
from tests.passes.custom_target import mini_variant


@pytest.mark.parametrize("sram", [6751, 0, 32])
def test_sram_must_be_a_positive_multiple_of_four_words(tmp_path: Path, sram: int) -> None:
    path = mini_variant(tmp_path, f"sram{sram}", sram_bytes=sram)
    with pytest.raises(D1cError, match="sram_bytes") as err:
        load_target(path)
    assert str(path) in err.value.message


def test_disabled_sites_outside_the_grid_are_refused(tmp_path: Path) -> None:
    path = mini_variant(tmp_path, "outside", disabled=[[9, 9]])
    with pytest.raises(D1cError, match="invalid mesh"):
        load_target(path)
