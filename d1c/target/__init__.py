"""Machine descriptions (targets) loaded from TOML data files.

Shipped targets live in ``d1c/target/*.toml`` (``dojo-tile`` is the default); a user may pass the
path of their own TOML file with the same fields. Geometry: a system is a ``chips_x x chips_y``
mesh of chips; every chip is a ``cores_x x cores_y`` grid of core sites, of which the ``disabled``
sites (same mask on every chip) are never used. Global core coordinates run over the whole system:
``gx = chip_x * cores_x + x``, ``gy = chip_y * cores_y + y``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from d1c.errors import D1cError, did_you_mean
from d1c.isa.d1x import DEFAULT_TARGET


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    clock_hz: float
    mesh: dict[str, Any]
    core: dict[str, Any]
    noc: dict[str, Any]
    edge: dict[str, Any]
    dma: dict[str, Any]
    dip: dict[str, Any]
    numerics: dict[str, Any]
    system: dict[str, Any] = field(default_factory=dict)

    @property
    def chips(self) -> tuple[int, int]:
        return self.mesh["chips_x"], self.mesh["chips_y"]

    @property
    def chip_grid(self) -> tuple[int, int]:
        return self.mesh["cores_x"], self.mesh["cores_y"]

    @cached_property
    def disabled(self) -> frozenset[tuple[int, int]]:
        return frozenset((int(x), int(y)) for x, y in self.mesh.get("disabled", []))

    @property
    def cores_per_chip(self) -> int:
        cx, cy = self.chip_grid
        return cx * cy - len(self.disabled)

    @property
    def num_chips(self) -> int:
        return self.chips[0] * self.chips[1]

    @property
    def num_cores(self) -> int:
        return self.num_chips * self.cores_per_chip

    @property
    def sram_bytes(self) -> int:
        return int(self.core["sram_bytes"])

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.num_cores * int(self.core["matrix_macs_per_cycle"])

    @property
    def peak_flops(self) -> float:
        """Peak BF16/CFP8 FLOP/s of the whole system (2 FLOP per MAC)."""
        return 2.0 * self.peak_macs_per_cycle * self.clock_hz

    def chip_cores(self) -> list[tuple[int, int]]:
        """Usable core sites (x, y) of one chip, row-major."""
        cx, cy = self.chip_grid
        return [(x, y) for y in range(cy) for x in range(cx) if (x, y) not in self.disabled]

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "chips": f"{self.chips[0]}x{self.chips[1]}",
            "cores": self.num_cores,
            "sram": self.num_cores * self.sram_bytes,
            "peak_tflops_bf16": self.peak_flops / 1e12,
            "description": self.description,
        }


def list_targets() -> list[str]:
    files = resources.files("d1c.target").iterdir()
    return sorted(p.name.removesuffix(".toml") for p in files if p.name.endswith(".toml"))


def load_target(name_or_path: str = DEFAULT_TARGET) -> Target:
    """A shipped target by name, or a user TOML file by path."""
    path = Path(name_or_path)
    if name_or_path.endswith(".toml") or path.exists():
        text = _read_user_file(path)
        origin = str(path)
    elif name_or_path in list_targets():
        text = resources.files("d1c.target").joinpath(f"{name_or_path}.toml").read_text()
        origin = name_or_path
    else:
        known = list_targets()
        hint = did_you_mean(name_or_path, known) + f"known targets: {', '.join(known)}"
        raise D1cError(f"unknown target '{name_or_path}'", hint=hint + "; or pass a .toml file")
    return _from_toml(text, origin)


def _read_user_file(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as err:
        raise D1cError(f"cannot read target file {path}: {err.strerror}") from None


REQUIRED = (
    "name",
    "description",
    "clock_hz",
    "mesh",
    "core",
    "noc",
    "edge",
    "dma",
    "dip",
    "numerics",
)


def _from_toml(text: str, origin: str) -> Target:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise D1cError(f"target {origin} is not valid TOML: {err}") from None
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise D1cError(
            f"target {origin} lacks {', '.join(missing)}",
            hint="copy a shipped target (d1c targets) and edit it",
        )
    unknown = sorted(set(data) - set(REQUIRED) - {"system"})
    if unknown:
        raise D1cError(f"target {origin} has unknown sections/fields: {', '.join(unknown)}")
    target = Target(**data)
    _check_geometry(target, origin)
    return target


def _check_geometry(t: Target, origin: str) -> None:
    cx, cy = t.chip_grid
    bad = [s for s in t.disabled if not (0 <= s[0] < cx and 0 <= s[1] < cy)]
    if bad or min(*t.chips, cx, cy) < 1 or t.cores_per_chip < 1:
        raise D1cError(
            f"target {origin} has an invalid mesh (chips {t.chips}, grid {t.chip_grid}, disabled {sorted(t.disabled)})"
        )
    if t.sram_bytes < 64 or t.sram_bytes % 4:
        raise D1cError(
            f"target {origin}: core.sram_bytes = {t.sram_bytes} is not a positive multiple of 4",
            hint="SRAM is addressed in 32-bit words; use e.g. 1310720 (1.25 MiB)",
        )
