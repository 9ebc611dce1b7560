"""Tile descriptors, tile memory access and DMA/NoC address helpers of the D1 tile ISA.

A tile-descriptor register ``t0..t15`` holds a :class:`TDesc`: the SRAM byte address of element
[0,0], rows, cols, the byte distance between row starts (``stride``; 0 means dense, i.e.
``cols * element bytes``), the storage format and the exponent bias (used by CFloat formats only;
IEEE formats and i32 ignore it). Elements of a row are contiguous and little-endian.

Formats a tile can hold: the numeric formats of :mod:`d1c.isa.formats` plus ``i32`` (two's
complement 32-bit integers, used for gather indices; as an arithmetic operand an i32 element
is converted to float32 with round-to-nearest-even, and storing float32 into i32 rounds to the
nearest integer, ties to even, saturating to the int32 range, NaN -> 0).

The functions named by the tile-descriptor rows of the instruction table (``tbase``, ``tshape``,
``tshapei``, ``tfmt``, ``tld``) are pure: they return a new TDesc.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from d1c.isa.errors import SimulationError

if TYPE_CHECKING:
    from d1c.isa.formats import Flags

M32 = 0xFFFFFFFF

FMT_NAMES = ("fp32", "bf16", "fp16", "cfp8_143", "cfp8_152", "shp", "i32")
"""Tile storage formats in the order of their 3-bit code (the ``fmt`` enum of the ISA)."""

ELEM_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "cfp8_143": 1, "cfp8_152": 1, "shp": 2, "i32": 4}
CODE_DTYPE = {"fp32": "<u4", "bf16": "<u2", "fp16": "<u2", "shp": "<u2", "i32": "<i4"}
CODE_DTYPE.update({"cfp8_143": "u1", "cfp8_152": "u1"})
CFLOAT = frozenset({"cfp8_143", "cfp8_152", "shp"})

TDESC_WORDS = 4
"""A descriptor record in SRAM (``tld``): word0 base, word1 rows | cols << 16, word2 stride,
word3 fmt code | bias << 8 (all other bits zero)."""


@dataclass(frozen=True, slots=True)
class TDesc:
    """One tile-descriptor register (all fields zero/fp32 after reset)."""

    base: int = 0
    rows: int = 0
    cols: int = 0
    stride: int = 0
    fmt: str = "fp32"
    bias: int = 0

    @property
    def esize(self) -> int:
        """Bytes per element."""
        return ELEM_BYTES[self.fmt]

    @property
    def row_bytes(self) -> int:
        """Bytes of one row's elements."""
        return self.cols * self.esize

    @property
    def pitch(self) -> int:
        """The effective row stride: ``stride``, or ``row_bytes`` when stride is 0 (dense)."""
        return self.stride or self.row_bytes

    @property
    def span(self) -> int:
        """Bytes from ``base`` to the end of the last row (0 for an empty tile)."""
        return 0 if self.rows == 0 else (self.rows - 1) * self.pitch + self.row_bytes

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (self.rows, self.cols)

    @property
    def nbytes(self) -> int:
        """Bytes of element data (rows * row_bytes): the size of a DMA or NoC message."""
        return self.rows * self.row_bytes


def tbase(d: TDesc, base: int, imm: int) -> TDesc:
    """Set the base address to ``base + imm`` (mod 2^32)."""
    return replace(d, base=(base + imm) & M32)


def tshape(d: TDesc, rows: int, cols: int, stride: int) -> TDesc:
    """Set rows, cols (low 16 bits of each register) and the row stride in bytes."""
    return replace(d, rows=rows & 0xFFFF, cols=cols & 0xFFFF, stride=stride & M32)


def tshapei(d: TDesc, rows: int, cols: int) -> TDesc:
    """Set rows and cols from immediates and make the tile dense (stride 0)."""
    return replace(d, rows=rows, cols=cols, stride=0)


def tfmt(d: TDesc, fmt: str, bias: int) -> TDesc:
    """Set the storage format and the exponent bias."""
    return replace(d, fmt=fmt, bias=bias)


def tld(d: TDesc, words: np.ndarray) -> TDesc:
    """The descriptor held in a 4-word SRAM record (layout: :data:`TDESC_WORDS`)."""
    w = [int(v) & M32 for v in np.asarray(words).reshape(-1)[:TDESC_WORDS]]
    code, bias = w[3] & 0xFF, (w[3] >> 8) & 0xFF
    if code >= len(FMT_NAMES) or bias > 63 or w[3] >> 16:
        raise SimulationError(f"tld: bad format word 0x{w[3]:08x} (format code, bias 0..63)")
    return TDesc(w[0], w[1] & 0xFFFF, w[1] >> 16, w[2], FMT_NAMES[code], bias)


def tdesc_words(d: TDesc) -> np.ndarray:
    """The 4-word SRAM record of ``d`` (inverse of :func:`tld`)."""
    fmt_word = FMT_NAMES.index(d.fmt) | (d.bias << 8)
    return np.array([d.base, d.rows | (d.cols << 16), d.stride, fmt_word], dtype=np.uint32)


def same_encoding(a: TDesc, b: TDesc) -> bool:
    """True if codes of ``a`` mean the same values in ``b`` (same format; same bias if CFloat)."""
    return a.fmt == b.fmt and (a.fmt not in CFLOAT or a.bias == b.bias)


def check_bounds(d: TDesc, size: int, what: str = "tile") -> None:
    """Raise SimulationError unless the tile's bytes lie inside ``[0, size)``."""
    if d.base + d.span > size:
        raise SimulationError(
            f"{what} [{d.base:#x}, {d.base + d.span:#x}) is outside SRAM of {size:#x} bytes"
        )


def read_rows(mem: np.ndarray, base: int, rows: int, row_bytes: int, pitch: int) -> np.ndarray:
    """A copy of ``rows`` rows of ``row_bytes`` bytes starting every ``pitch`` bytes at ``base``."""
    if rows == 0 or row_bytes == 0:
        return np.zeros((rows, row_bytes), dtype=np.uint8)
    view = np.lib.stride_tricks.as_strided(
        mem[base:], shape=(rows, row_bytes), strides=(pitch, 1), writeable=False
    )
    return np.array(view, dtype=np.uint8)


def write_rows(mem: np.ndarray, base: int, data: np.ndarray, pitch: int) -> None:
    """Write the [rows, row_bytes] uint8 ``data`` into ``mem`` in place, one row every pitch."""
    rows, row_bytes = data.shape
    for r in range(rows):
        start = base + r * pitch
        mem[start : start + row_bytes] = data[r]


def read_tile(mem: np.ndarray, d: TDesc) -> np.ndarray:
    """The [rows, cols] codes of tile ``d`` in SRAM ``mem`` (a 1-D uint8 array)."""
    check_bounds(d, mem.size)
    raw = read_rows(mem, d.base, d.rows, d.row_bytes, d.pitch)
    return raw.view(CODE_DTYPE[d.fmt]).reshape(d.rows, d.cols)


def write_tile(mem: np.ndarray, d: TDesc, codes: np.ndarray) -> None:
    """Store the [rows, cols] ``codes`` into tile ``d`` of ``mem`` in place."""
    check_bounds(d, mem.size)
    arr = np.ascontiguousarray(np.asarray(codes).astype(CODE_DTYPE[d.fmt]))
    write_rows(mem, d.base, arr.reshape(d.rows, -1).view(np.uint8), d.pitch)


def tile_values(
    codes: np.ndarray, d: TDesc, *, denorm: str = "ieee", flags: Flags | None = None
) -> np.ndarray:
    """The float32 values of ``codes`` stored in the format of ``d``."""
    if d.fmt == "i32":
        return np.asarray(codes).astype(np.int32).astype(np.float32)
    from d1c.isa import numerics

    bias = d.bias if d.fmt in CFLOAT else None
    arr = np.asarray(codes)
    if d.fmt == "fp32":
        arr = arr.astype("<u4").view(np.uint32)
    return numerics.decode(
        arr, d.fmt, bias=bias, denorm=denorm if bias is not None else "ieee", flags=flags
    )


def tile_codes(
    values: np.ndarray,
    d: TDesc,
    *,
    rounding: str = "rne",
    seed: int = 0,
    denorm: str = "ieee",
    flags: Flags | None = None,
) -> np.ndarray:
    """Round float32 ``values`` into codes of the format of ``d`` (dtype :data:`CODE_DTYPE`)."""
    x = np.asarray(values, dtype=np.float32)
    if d.fmt == "i32":
        return _to_i32(x)
    from d1c.isa import numerics

    bias = d.bias if d.fmt in CFLOAT else None
    mode = denorm if bias is not None else "ieee"
    out = numerics.encode(
        x, d.fmt, bias=bias, rounding=rounding, seed=seed, denorm=mode, flags=flags
    )
    return out.view(np.uint32) if d.fmt == "fp32" else out


def _to_i32(x: np.ndarray) -> np.ndarray:
    r = np.rint(np.nan_to_num(x, nan=0.0, posinf=2.0**31, neginf=-(2.0**31))).astype(np.float64)
    return np.clip(r, -(2.0**31), 2.0**31 - 1).astype(np.int32)


# ---------------------------------------------------------------- DMA and NoC helpers
DMA_DESC_FIELDS = (
    "flags",  # bit 0: 1 = SRAM -> HBM, 0 = HBM -> SRAM; other bits zero
    "sram",  # SRAM byte address of the first row
    "hbm_lo",  # HBM byte address, low 32 bits
    "hbm_hi",  # HBM byte address, high 32 bits
    "rows",  # number of rows
    "row_bytes",  # bytes per row
    "sram_stride",  # bytes between SRAM row starts
    "hbm_stride",  # bytes between HBM row starts
)
"""The 8 little-endian 32-bit words of one ``dma.list`` descriptor (32 bytes)."""
DMA_DESC_BYTES = 4 * len(DMA_DESC_FIELDS)


@dataclass(frozen=True, slots=True)
class DmaDesc:
    """One strided HBM <-> SRAM transfer (from dma.ld / dma.st or a dma.list entry)."""

    to_hbm: bool
    sram: int
    hbm: int
    rows: int
    row_bytes: int
    sram_stride: int
    hbm_stride: int


def hbm_addr(lo: int, hi: int) -> int:
    """The 64-bit global HBM address ``hi << 32 | lo`` (DIP d owns ``[d << 35, (d+1) << 35)``)."""
    return ((hi & M32) << 32) | (lo & M32)


# Global HBM addresses. Window ``d < 31``, ``[d << 35, (d + 1) << 35)``, is DIP d's own HBM.
# Window 31 is *striped*: offset ``o`` of it is served by DIP ``(o // STRIPE_BYTES) % dips``, so a
# large tensor placed there streams from every DIP at once; its bytes take an equal share of every
# DIP's capacity (the compiler's accounting), and it holds ``dips * dip_bytes`` bytes.
DIP_SHIFT = 35
STRIPED = 31
STRIPE_BYTES = 4096


# Addresses with bit 63 set name the SRAM of a core instead of HBM: ``SRAM_FLAG | gid << 24 |
# offset`` (gid: the core's global number, :meth:`d1c.target.mesh.Mesh.gid`). A DMA descriptor's
# "HBM" side may be such an address: the transfer then moves bytes between this core's SRAM and
# that core's (itself included) over the NoC.
SRAM_FLAG = 1 << 63
LOGICAL = 1 << 62  # addresses of intermediate tensors before allocate-sram homes them
SRAM_GID_SHIFT = 24


def sram_addr(gid: int, offset: int) -> int:
    """The global address of byte ``offset`` of core ``gid``'s SRAM."""
    return SRAM_FLAG | (gid << SRAM_GID_SHIFT) | offset


def split_sram(addr: int) -> tuple[int, int]:
    """(gid, offset) of a global SRAM address (:func:`sram_addr`)."""
    rest = addr & ~SRAM_FLAG
    return rest >> SRAM_GID_SHIFT, rest & ((1 << SRAM_GID_SHIFT) - 1)


def dip_shares(addr: int, nbytes: int, span: int, dips: int) -> list[tuple[int, int]]:
    """The DIPs serving a transfer of ``nbytes`` whose HBM side spans ``[addr, addr + span)``,
    as (DIP, bytes): its own DIP, or in the striped window every DIP in proportion to the stripes
    the span touches (integer shares, the remainder to the first stripes' DIPs: deterministic)."""
    window = addr >> DIP_SHIFT
    if window != STRIPED:
        return [(window, nbytes)]
    off = addr & ((1 << DIP_SHIFT) - 1)
    first, last = off // STRIPE_BYTES, (off + max(span, 1) - 1) // STRIPE_BYTES
    total = last - first + 1
    full, rem = divmod(total, dips)
    counts = [full + (1 if (d - first) % dips < rem else 0) for d in range(dips)]
    shares = [nbytes * c // total for c in counts]
    left = nbytes - sum(shares)
    for i in range(left):
        shares[(first + i) % dips] += 1
    return [(d, b) for d, b in enumerate(shares) if b]


def dma_list(words: np.ndarray) -> tuple[DmaDesc, ...]:
    """Parse ``n * 8`` uint32 words of dma.list descriptors; SimulationError on reserved bits."""
    w = np.asarray(words, dtype=np.uint32).reshape(-1, len(DMA_DESC_FIELDS))
    out = []
    for i, row in enumerate(w.tolist()):
        if row[0] & ~1:
            raise SimulationError(f"dma.list: descriptor {i} has reserved flag bits 0x{row[0]:x}")
        out.append(DmaDesc(bool(row[0] & 1), row[1], hbm_addr(row[2], row[3]), *row[4:]))
    return tuple(out)


def mcast_targets(first: int, last: int, grid_w: int, grid_h: int) -> list[int]:
    """Packed coordinates of the cores on the mesh segment from ``first`` to ``last`` inclusive.

    Coordinates are packed as in :func:`d1c.isa.semantics.pack_coord`; the global mesh position
    of a core is ``(chip_x * grid_w + core_x, chip_y * grid_h + core_y)``. The two ends must share
    the global row or the global column. The caller drops the sender and disabled cores.
    """
    (ax, ay), (bx, by) = _global(first, grid_w, grid_h), _global(last, grid_w, grid_h)
    if ax != bx and ay != by:
        raise SimulationError(f"mcast: {first:#010x} and {last:#010x} share no mesh row or column")
    n = max(abs(bx - ax), abs(by - ay))
    sx, sy = (bx > ax) - (bx < ax), (by > ay) - (by < ay)
    return [_pack_global(ax + i * sx, ay + i * sy, grid_w, grid_h) for i in range(n + 1)]


def _global(coord: int, grid_w: int, grid_h: int) -> tuple[int, int]:
    cx, cy, x, y = (coord >> 24) & 255, (coord >> 16) & 255, (coord >> 8) & 255, coord & 255
    return cx * grid_w + x, cy * grid_h + y


def _pack_global(gx: int, gy: int, grid_w: int, grid_h: int) -> int:
    cx, x = divmod(gx, grid_w)
    cy, y = divmod(gy, grid_h)
    return (cx << 24) | (cy << 16) | (x << 8) | y
