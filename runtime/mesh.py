"""Geometry of a target: chips x cores, disabled sites, packed and global coordinates, core ids.

Three names for one core (DESIGN §3, :mod:`d1c.isa.spec`):

- the 4-tuple ``(chip_x, chip_y, core_x, core_y)`` (what ``.d1x`` files and reports use);
- the packed 32-bit ``coord`` register value ``chip_x<<24 | chip_y<<16 | core_x<<8 | core_y``;
- the global mesh position ``(gx, gy) = (chip_x*cores_x + core_x, chip_y*cores_y + core_y)``.

``gid`` is the global core number of the ``gid`` special register:
``(chip_y*chips_w + chip_x) * cores_x*cores_y + core_y*cores_x + core_x`` (disabled sites
keep their numbers, so the numbering does not depend on the harvest mask).
"""

from __future__ import annotations

from dataclasses import dataclass

from d1c.isa.errors import SimulationError
from d1c.target import Target

Coord = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Mesh:
    """The core mesh of a target."""

    chips_w: int
    chips_h: int
    grid_w: int
    grid_h: int
    disabled: frozenset[tuple[int, int]]

    @staticmethod
    def of(t: Target) -> Mesh:
        return Mesh(*t.chips, *t.chip_grid, t.disabled)

    @property
    def width(self) -> int:
        """Cores per global mesh row."""
        return self.chips_w * self.grid_w

    @property
    def height(self) -> int:
        """Cores per global mesh column."""
        return self.chips_h * self.grid_h

    def exists(self, c: Coord) -> bool:
        """True if ``c`` is inside the mesh (enabled or not)."""
        cx, cy, x, y = c
        return (
            0 <= cx < self.chips_w
            and 0 <= cy < self.chips_h
            and 0 <= x < self.grid_w
            and 0 <= y < self.grid_h
        )

    def enabled(self, c: Coord) -> bool:
        """True if ``c`` is a usable core."""
        return self.exists(c) and (c[2], c[3]) not in self.disabled

    def gid(self, c: Coord) -> int:
        """The global core number of ``c``."""
        cx, cy, x, y = c
        return (cy * self.chips_w + cx) * self.grid_w * self.grid_h + y * self.grid_w + x

    def coord_of_gid(self, gid: int) -> Coord:
        """Inverse of :meth:`gid`."""
        chip, core = divmod(gid, self.grid_w * self.grid_h)
        cy, cx = divmod(chip, self.chips_w)
        y, x = divmod(core, self.grid_w)
        return (cx, cy, x, y)

    def pos(self, c: Coord) -> tuple[int, int]:
        """The global mesh position (gx, gy) of ``c``."""
        return c[0] * self.grid_w + c[2], c[1] * self.grid_h + c[3]

    def coord_at(self, gx: int, gy: int) -> Coord:
        """The core at global position (gx, gy)."""
        cx, x = divmod(gx, self.grid_w)
        cy, y = divmod(gy, self.grid_h)
        return (cx, cy, x, y)

    def pos_enabled(self, gx: int, gy: int) -> bool:
        """True if the global position is inside the mesh and not a disabled site."""
        if not (0 <= gx < self.width and 0 <= gy < self.height):
            return False
        return (gx % self.grid_w, gy % self.grid_h) not in self.disabled

    def unpack(self, packed: int) -> Coord:
        """The coordinate of a packed ``coord`` register value (no checks)."""
        return (packed >> 24) & 255, (packed >> 16) & 255, (packed >> 8) & 255, packed & 255

    def checked(self, packed: int, what: str) -> Coord:
        """The usable core named by a packed coordinate, else a SimulationError."""
        c = self.unpack(packed)
        if packed >> 32 or not self.exists(c):
            raise SimulationError(f"{what}: coordinate {packed:#010x} is outside the mesh")
        if not self.enabled(c):
            raise SimulationError(f"{what}: core {fmt_coord(c)} is a disabled site")
        return c


def fmt_coord(c: Coord) -> str:
    """``chip_x.chip_y.core_x.core_y``, the form the assembler and reports use."""
    return ".".join(str(v) for v in c)
