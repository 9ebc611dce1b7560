"""Affine views of tensors in DIP HBM, and the DMA descriptors that move tiles of them.

A tensor lives in HBM row-major in its storage format. A :class:`View` maps an index
``(i0, ..., in-1)`` of some logical shape to the element offset ``offset + sum(i_d * strides[d])``
of the underlying tensor; broadcasting is stride 0, slicing moves the offset and scales a stride,
permuting permutes the strides. Data movement ops (``permute``, ``slice``, ``broadcast_to``,
contiguous ``reshape``) are views, so a kernel can read an operand through its view directly.

Kernels work on the 2-D form of a shape: rows are the flattened leading dims, columns the last
dim. :func:`row_segments` turns the rows ``[r0, r1)`` and columns ``[c0, c1)`` of a view into DMA
descriptors (one per run of rows whose addresses step by a constant), all address arithmetic done
here at compile time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from d1c.isa.tiles import DmaDesc


@dataclass(frozen=True)
class View:
    shape: tuple[int, ...]
    strides: tuple[int, ...]  # in elements; 0 = broadcast
    offset: int = 0  # in elements

    @property
    def rows(self) -> int:
        return math.prod(self.shape[:-1]) if self.shape else 1

    @property
    def cols(self) -> int:
        return self.shape[-1] if self.shape else 1

    @property
    def col_stride(self) -> int:
        return self.strides[-1] if self.shape else 1


def contiguous(shape: tuple[int, ...]) -> View:
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    return View(tuple(shape), tuple(reversed(strides)))


def broadcast(view: View, shape: tuple[int, ...]) -> View:
    """``view`` broadcast (numpy rules) to ``shape``: new and size-1 dims get stride 0."""
    pad = len(shape) - len(view.shape)
    strides = []
    for i, size in enumerate(shape):
        j = i - pad
        src = view.shape[j] if j >= 0 else 1
        strides.append(view.strides[j] if j >= 0 and src == size else 0)
    return View(tuple(shape), tuple(strides), view.offset)


def permute(view: View, dims: tuple[int, ...]) -> View:
    return View(
        tuple(view.shape[d] for d in dims), tuple(view.strides[d] for d in dims), view.offset
    )


def slice_(view: View, dim: int, start: int, end: int, step: int) -> View:
    shape, strides = list(view.shape), list(view.strides)
    shape[dim] = -(-(end - start) // step)
    offset = view.offset + start * strides[dim]
    strides[dim] *= step
    return View(tuple(shape), tuple(strides), offset)


def row_offsets(view: View, r0: int, r1: int) -> np.ndarray:
    """Element offset of column 0 of each row in ``[r0, r1)`` (rows = flattened leading dims)."""
    lead = view.shape[:-1]
    rows = np.arange(r0, r1, dtype=np.int64)
    out = np.full(rows.shape, view.offset, dtype=np.int64)
    for size, stride in zip(reversed(lead), reversed(view.strides[:-1]), strict=True):
        out += (rows % size) * stride
        rows //= size
    return out


def _runs(starts: np.ndarray) -> list[tuple[int, int, int]]:
    """Split a sequence of row addresses into (first index, count, step) runs with step >= 0."""
    runs, i, n = [], 0, len(starts)
    while i < n:
        if i + 1 == n:
            runs.append((i, 1, 0))
            break
        step = int(starts[i + 1] - starts[i])
        j = i + 1
        while step >= 0 and j + 1 < n and starts[j + 1] - starts[j] == step:
            j += 1
        if step < 0:
            runs.append((i, 1, 0))
            i += 1
            continue
        runs.append((i, j - i + 1, step))
        i = j + 1
    return runs


def row_segments(
    view: View,
    hbm: int,
    esize: int,
    rows: tuple[int, int],
    cols: tuple[int, int],
    sram: int,
    to_hbm: bool = False,
) -> list[DmaDesc]:
    """DMA descriptors moving rows x cols of ``view`` (whose last-dim stride is 1 or 0) between
    HBM tensor base ``hbm`` and a dense SRAM tile at ``sram``.

    With a last-dim stride of 0 the tile is one column wide (the vector unit broadcasts it).
    """
    (r0, r1), (c0, c1) = rows, cols
    if view.col_stride not in (0, 1):
        raise ValueError("row_segments needs a last-dim stride of 0 or 1; transpose first")
    width = 1 if view.col_stride == 0 else c1 - c0
    starts = row_offsets(view, r0, r1) + c0 * view.col_stride
    out = []
    for first, count, step in _runs(starts):
        addr = hbm + int(starts[first]) * esize
        out.append(
            DmaDesc(
                to_hbm,
                sram + first * width * esize,
                addr,
                count,
                width * esize,
                width * esize,
                step * esize,
            )
        )
    return out


def transposed_segments(
    view: View, hbm: int, esize: int, rows: tuple[int, int], cols: tuple[int, int], sram: int
) -> list[DmaDesc] | None:
    """Descriptors loading the tile *transposed* ([cols, rows] dense at ``sram``) when the view's
    rows ``[r0, r1)`` step by one element (a transpose-like view), else None. ``ttrans`` then
    gives the [rows, cols] tile."""
    (r0, r1), (c0, c1) = rows, cols
    starts = row_offsets(view, r0, r1)
    if len(starts) > 1 and not np.all(np.diff(starts) == 1):
        return None
    base = hbm + (int(starts[0]) + c0 * view.col_stride) * esize
    n = r1 - r0
    return [DmaDesc(False, sram, base, c1 - c0, n * esize, n * esize, view.col_stride * esize)]
