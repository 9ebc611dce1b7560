"""Simulated memories: per-core SRAM access with fault checks, and sparse DIP HBM.

SRAM is one numpy ``uint8`` array per core, created when the core is first touched (the code
loader, an SRAM image, an input, a message), a slice of an anonymous mapping
(:class:`d1c.runtime.machine.SramPool`) whose zero pages the OS maps lazily, so even a
full-tile program only commits the pages it writes. Tile accesses check bounds and alignment and
raise :class:`SimulationError` (the core loop adds the core, pc and instruction):

- a tile's ``base`` and row pitch must be multiples of its element size, and its last byte must lie
  inside SRAM; a scalar ``ld``/``st``/``tld`` address must be 4-byte aligned and inside SRAM.

HBM is global: DIP ``d`` owns ``[d << 35, (d+1) << 35)`` of which the first ``dip.hbm_bytes`` exist;
window 31 is striped over all DIPs (:func:`d1c.isa.tiles.dip_shares`) and holds all of them. It is
stored as a dict of 1 MiB pages created on first write; unwritten bytes read as zero.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from d1c.isa.errors import SimulationError
from d1c.isa.tiles import CODE_DTYPE, DIP_SHIFT, ELEM_BYTES, STRIPED, TDesc

PAGE_SHIFT = 20
PAGE = 1 << PAGE_SHIFT
SPAN_LIMIT = 16 << 20
"""Strided HBM rows spanning at most this many bytes are moved through one contiguous copy of the
span (cheaper than a copy per row); longer spans go row by row."""
_as_strided = np.lib.stride_tricks.as_strided


class Geom(NamedTuple):
    """The derived layout of a tile register, computed once when the register is written."""

    rows: int
    cols: int
    row_bytes: int
    nbytes: int
    end: int
    aligned: bool


def geom(d: TDesc) -> Geom:
    """The layout of tile ``d``: sizes, the end of its last row, element alignment."""
    es = ELEM_BYTES[d.fmt]
    rb = d.cols * es
    end = d.base + ((d.rows - 1) * (d.stride or rb) + rb if d.rows else 0)
    return Geom(d.rows, d.cols, rb, d.rows * rb, end, d.base % es == 0 and d.stride % es == 0)


def check_tile(d: TDesc, size: int, what: str) -> None:
    """Fault unless tile ``d`` is element-aligned and inside an SRAM of ``size`` bytes."""
    es = d.esize
    if d.base % es or (d.stride and d.stride % es):
        raise SimulationError(
            f"{what} tile at {d.base:#x} (row stride {d.stride}) is misaligned for {d.fmt} ({es}-byte elements)"
        )
    if d.base + d.span > size:
        raise SimulationError(
            f"{what} tile [{d.base:#x}, {d.base + d.span:#x}) is outside SRAM of {size:#x} bytes"
        )


def check_word(addr: int, size: int, what: str, nbytes: int = 4) -> None:
    """Fault unless ``nbytes`` at ``addr`` are 4-byte aligned and inside SRAM."""
    if addr & 3:
        raise SimulationError(f"{what} address {addr:#x} is not 4-byte aligned")
    if addr + nbytes > size:
        raise SimulationError(f"{what} address {addr:#x} is outside SRAM of {size:#x} bytes")


def check_span(addr: int, rows: int, row_bytes: int, pitch: int, size: int, what: str) -> None:
    """Fault unless the strided byte rows lie inside SRAM (DMA descriptors, messages)."""
    end = addr + (rows - 1) * pitch + row_bytes if rows and row_bytes else addr
    if end > size:
        raise SimulationError(f"{what} [{addr:#x}, {end:#x}) is outside SRAM of {size:#x} bytes")


def read_bytes(mem: np.ndarray, base: int, rows: int, row_bytes: int, pitch: int) -> np.ndarray:
    """The [rows, row_bytes] bytes starting every ``pitch`` bytes at ``base`` (may be a view)."""
    if pitch == row_bytes or rows <= 1:
        return mem[base : base + rows * row_bytes].reshape(rows, row_bytes)
    return _as_strided(mem[base:], (rows, row_bytes), (pitch, 1), writeable=False)


def write_bytes(mem: np.ndarray, base: int, data: np.ndarray, pitch: int) -> None:
    """Store [rows, row_bytes] uint8 ``data`` one row every ``pitch`` bytes (later rows win)."""
    rows, row_bytes = data.shape
    if pitch == row_bytes or rows <= 1:
        mem[base : base + rows * row_bytes] = data.reshape(-1)
    elif pitch > row_bytes:
        _as_strided(mem[base:], (rows, row_bytes), (pitch, 1))[...] = data
    else:
        for r in range(rows):
            mem[base + r * pitch : base + r * pitch + row_bytes] = data[r]


def read_codes(mem: np.ndarray, d: TDesc) -> np.ndarray:
    """The [rows, cols] element codes of a checked tile (a view when the tile is dense)."""
    if d.rows == 0 or d.cols == 0:
        return np.zeros((d.rows, d.cols), dtype=CODE_DTYPE[d.fmt])
    raw = read_bytes(mem, d.base, d.rows, d.row_bytes, d.pitch)
    if not raw.flags.c_contiguous:
        raw = np.ascontiguousarray(raw)
    return raw.view(CODE_DTYPE[d.fmt]).reshape(d.rows, d.cols)


def write_codes(mem: np.ndarray, d: TDesc, codes: np.ndarray) -> None:
    """Store [rows, cols] codes (any integer dtype of the right width) into a checked tile."""
    if d.rows == 0 or d.cols == 0:
        return
    arr = np.ascontiguousarray(codes, dtype=CODE_DTYPE[d.fmt]).reshape(d.rows, d.cols)
    write_bytes(mem, d.base, arr.view(np.uint8).reshape(d.rows, d.row_bytes), d.pitch)


class Hbm:
    """Sparse global HBM of all DIPs (see the module docstring)."""

    def __init__(self, dips: int, dip_bytes: int) -> None:
        self.dips, self.dip_bytes = dips, dip_bytes
        self.pages: dict[int, np.ndarray] = {}

    def check(self, addr: int, nbytes: int, what: str) -> int:
        """The window (DIP index or ``STRIPED``) of ``[addr, addr + nbytes)``; fault if it is not
        inside one DIP's HBM or the striped window."""
        dip, off = addr >> DIP_SHIFT, addr & ((1 << DIP_SHIFT) - 1)
        size = self.dips * self.dip_bytes if dip == STRIPED else self.dip_bytes
        if (dip >= self.dips and dip != STRIPED) or off + nbytes > size:
            raise SimulationError(
                f"{what} HBM [{addr:#x}, {addr + nbytes:#x}) is outside the HBM of the "
                f"{self.dips} DIP(s) ({self.dip_bytes:#x} bytes each at d << {DIP_SHIFT}; "
                f"striped over all at {STRIPED} << {DIP_SHIFT})"
            )
        return dip

    def read(self, addr: int, n: int) -> np.ndarray:
        """``n`` bytes at ``addr`` as a new uint8 array."""
        out = np.zeros(n, dtype=np.uint8)
        for page, lo, hi, at in self._pieces(addr, n):
            data = self.pages.get(page)
            if data is not None:
                out[at : at + hi - lo] = data[lo:hi]
        return out

    def write(self, addr: int, data: np.ndarray) -> None:
        """Store the uint8 bytes ``data`` at ``addr``."""
        flat = np.asarray(data, dtype=np.uint8).reshape(-1)
        for page, lo, hi, at in self._pieces(addr, flat.size):
            buf = self.pages.get(page)
            if buf is None:
                buf = self.pages[page] = np.zeros(PAGE, dtype=np.uint8)
            buf[lo:hi] = flat[at : at + hi - lo]

    def read_rows(self, addr: int, rows: int, row_bytes: int, stride: int) -> np.ndarray:
        """[rows, row_bytes] bytes, row r at ``addr + r*stride``."""
        if stride == row_bytes or rows <= 1:
            return self.read(addr, rows * row_bytes).reshape(rows, row_bytes)
        span = (rows - 1) * stride + row_bytes
        if row_bytes < stride and span <= SPAN_LIMIT:
            return read_bytes(self.read(addr, span), 0, rows, row_bytes, stride).copy()
        return np.stack([self.read(addr + r * stride, row_bytes) for r in range(rows)])

    def write_rows(self, addr: int, data: np.ndarray, stride: int) -> None:
        """Store [rows, row_bytes] ``data``, row r at ``addr + r*stride`` (later rows win)."""
        rows, row_bytes = data.shape
        if stride == row_bytes or rows <= 1:
            self.write(addr, data)
        elif row_bytes < stride and (rows - 1) * stride + row_bytes <= SPAN_LIMIT:
            span = self.read(addr, (rows - 1) * stride + row_bytes)
            write_bytes(span, 0, data, stride)
            self.write(addr, span)
        else:
            for r in range(rows):
                self.write(addr + r * stride, data[r])

    @staticmethod
    def _pieces(addr: int, n: int):
        at = 0
        while at < n:
            page, lo = divmod(addr + at, PAGE)
            hi = min(PAGE, lo + n - at)
            yield page, lo, hi, at
            at += hi - lo
