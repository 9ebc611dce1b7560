"""Symbols, layouts and values shared by the host-code tests.

Layouts: the compiler's (one dense row-major HBM placement, as ``passes/emit`` writes it), a
tiled HBM layout with edge tiles (tile-major, one placement per tile), per-core SRAM rows, and a
hand-made mix with a transposed, a gapped and a negative-stride placement that overlap.
Values: seeded normals over a wide exponent range, with NaNs (several payloads, both signs),
±Inf, ±0, fp32 denormals, values that overflow every format, exact ties of every format, and
the largest finite fp32 values.
"""

from __future__ import annotations

import numpy as np

from d1c.isa.d1x import Placement, Symbol
from d1c.isa.tiles import ELEM_BYTES

SHAPE = (23, 37)
FORMATS = (
    ("fp32", 0),
    ("bf16", 0),
    ("fp16", 15),
    ("cfp8_143", 0),
    ("cfp8_143", 7),
    ("cfp8_143", 20),
    ("cfp8_143", 63),
    ("cfp8_152", 0),
    ("cfp8_152", 15),
    ("cfp8_152", 40),
    ("shp", 3),
    ("shp", 15),
    ("shp", 63),
    ("i32", 0),
)
LAYOUTS = ("compiler", "tiled", "sram", "mixed")


def c_strides(shape: tuple[int, ...], es: int) -> tuple[int, ...]:
    out, acc = [], es
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return tuple(reversed(out))


def placements(layout: str, shape: tuple[int, ...], es: int) -> tuple[Placement, ...]:
    full = tuple((0, d) for d in shape)
    if layout == "compiler":
        return (Placement("hbm", None, 0x800, full, c_strides(shape, es)),)
    rows, cols = shape
    if layout == "tiled":
        out, off = [], 1 << 35  # DIP 1
        for r0 in range(0, rows, 8):
            for c0 in range(0, cols, 16):
                h, w = min(8, rows - r0), min(16, cols - c0)
                out.append(Placement("hbm", None, off, ((r0, r0 + h), (c0, c0 + w)), (w * es, es)))
                off += h * w * es
        return tuple(out)
    if layout == "sram":
        return tuple(
            Placement("sram", (0, 0, r % 3, r // 3), 0x40, ((r, r + 1), (0, cols)), (0, es))
            for r in range(rows)
        )
    return (
        Placement("hbm", None, 0x1000, full, (es, rows * es)),  # transposed
        Placement("hbm", None, 0x9000, ((2, 9), (3, 30)), (64 * es, 2 * es)),  # gaps
        Placement("hbm", None, 0x20000, ((5, 20), (0, 0)), (es, es)),  # empty
        Placement("hbm", None, 0x30000, ((0, 10), (1, 37)), (-cols * es, -es)),  # negative
    )


def symbol(name: str, role: str, fmt: str, bias: int, layout: str, shape=SHAPE) -> Symbol:
    es = ELEM_BYTES[fmt]
    return Symbol(name, role, shape, fmt, bias, layout, placements(layout, shape, es))


def special_bits() -> np.ndarray:
    """fp32 bit patterns every format must handle."""
    fixed = [
        0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFBFFFFF, 0x7FA00123, 0x7F800000, 0xFF800000,
        0x00000000, 0x80000000, 0x00000001, 0x807FFFFF, 0x00400000, 0x7F7FFFFF, 0xFF7FFFFF,
        0x3F800000, 0x3F808000, 0x3F818000, 0x477FF000, 0x477FEFFF, 0x47800000, 0x43F00000,
        0x43F80000, 0x43700000, 0x33800000, 0x33000000, 0x387FC000, 0x38800000,
    ]  # fmt: skip
    ties = []
    for man in (7, 10, 3, 2):  # a halfway point of every mantissa width, both parities
        for lead in (0x3F800000, 0x3F800000 | (1 << (23 - man))):
            ties.append(lead | (1 << (22 - man)))
    return np.array(fixed + ties, dtype=np.uint32)


def values(seed: int, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """Random float32 values over 2^-140 .. 2^100 with the special values at the front."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    x *= np.exp2(rng.integers(-140, 100, size=shape)).astype(np.float32)
    flat = x.reshape(-1).view(np.uint32)
    sp = special_bits()
    flat[: sp.size] = sp[: flat.size]
    return x


def integers(seed: int, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-(2**31), 2**31, size=shape, dtype=np.int64)
