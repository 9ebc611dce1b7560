"""Target files for tests: the shipped ``mini`` target with some fields replaced."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path


def mini_variant(tmp_path: Path, name: str, **fields: object) -> str:
    """Write ``mini.toml`` with ``key = value`` lines replaced (TOML values from Python ints and
    nested lists) as ``tmp_path/NAME.toml`` and return its path."""
    text = resources.files("d1c.target").joinpath("mini.toml").read_text()
    for key, value in {"name": f'"{name}"', **fields}.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert n == 1, f"mini.toml has no single '{key}' line"
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return str(path)
