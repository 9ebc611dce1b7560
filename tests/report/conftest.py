"""Shared fixtures: the mlp example compiled once for the mini target (program, placed IR)."""

from __future__ import annotations

from pathlib import Path

import pytest

from d1c import driver
from tests.report.report_helpers import MLP


@pytest.fixture(scope="session")
def mlp_build():
    """(source, placed IR, program) of examples/mlp.py on mini in bf16."""
    src = driver.load_source(MLP)
    opts = driver.Options("mini", "bf16", tuple(src.inputs))
    placed = driver.compile_stages(src.module, "placed", opts)["placed"]
    return src, placed, driver.build(placed, opts)


@pytest.fixture(scope="session")
def mlp_d1x(mlp_build, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mlp") / "mlp.d1x"
    path.write_bytes(mlp_build[2].to_bytes())
    return path
