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

Views whose last dim does not have stride 0 or 1 are loaded one of two ways:

- transpose-like (the second-last dim has stride 1, e.g. ``permute`` of the two last dims):
  :func:`transposed_segments` loads the tile transposed with contiguous rows, ``ttrans`` fixes it;
- anything else (a ``slice`` with step > 1 on the last dim, a ``permute`` where neither of the
  two last dims keeps stride 1): :func:`strided_segments` makes *element* descriptors
  (``row_bytes`` = one element, HBM stride = the element stride) that write the tile straight
  into its dense SRAM layout, one descriptor per tile row or per tile column of each run of
  rows, whichever is fewer. No SRAM staging and no extra instruction; the cost is descriptor
  count (the ``tile`` pass keeps such tiles short).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

from d1c.isa.tiles import DmaDesc


def rows_cols(shape: tuple[int, ...]) -> tuple[int, int]:
    """The 2-D form of a shape: (product of the leading dims, last dim); (1, 1) for rank 0."""
    return (math.prod(shape[:-1]), shape[-1]) if shape else (1, 1)


@dataclass(frozen=True)
class View:
    shape: tuple[int, ...]
    strides: tuple[int, ...]  # in elements; 0 = broadcast
    offset: int = 0  # in elements

    @property
    def rows(self) -> int:
        return rows_cols(self.shape)[0]

    @property
    def cols(self) -> int:
        return rows_cols(self.shape)[1]

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


def reshape_view(view: View, shape: tuple[int, ...]) -> View | None:
    """``view`` with the same elements in row-major order seen as ``shape`` without moving data
    (numpy's no-copy reshape: each group of old dims that merges or splits must be contiguous
    among itself; broadcast dims, stride 0, merge with each other), or None if impossible."""
    old = [(n, st) for n, st in zip(view.shape, view.strides, strict=True) if n != 1]
    new, strides = list(shape), [0] * len(shape)
    oi = ni = 0
    while oi < len(old) and ni < len(new):
        oj, nj, osize, nsize = oi + 1, ni + 1, old[oi][0], new[ni]
        while osize != nsize:
            if nsize < osize:
                nsize, nj = nsize * new[nj], nj + 1
            else:
                osize, oj = osize * old[oj][0], oj + 1
        if any(old[k][1] != old[k + 1][0] * old[k + 1][1] for k in range(oi, oj - 1)):
            return None
        strides[nj - 1] = old[oj - 1][1]
        for k in range(nj - 1, ni, -1):
            strides[k - 1] = strides[k] * new[k]
        oi, ni = oj, nj
    return View(tuple(shape), tuple(strides), view.offset)


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


@functools.lru_cache(maxsize=1024)
def row_pitch(view: View) -> int | None:
    """The element distance between consecutive rows when it is the same for all rows (the
    leading dims collapse into one, size-1 dims aside) and not negative, else None."""
    lead = [(n, st) for n, st in zip(view.shape[:-1], view.strides[:-1], strict=True) if n != 1]
    for (_, outer), (n, inner) in itertools.pairwise(lead):
        if outer != inner * n:
            return None
    pitch = lead[-1][1] if lead else 0
    return pitch if pitch >= 0 else None


def _runs(starts: np.ndarray) -> list[tuple[int, int, int]]:
    """Split a sequence of row addresses into (first index, count, step) runs with step >= 0,
    greedily from the left: a run extends while the address difference stays the same; a
    negative difference ends it. Vectorised over the blocks of equal differences."""
    n = len(starts)
    if n <= 1:
        return [(0, 1, 0)] if n else []
    d = np.diff(np.asarray(starts, dtype=np.int64))
    new = np.ones(len(d), dtype=bool)
    new[1:] = d[1:] != d[:-1]
    block = np.cumsum(new) - 1
    last = np.flatnonzero(np.append(new[1:], True)).tolist()  # last index of each block
    block, d = block.tolist(), d.tolist()
    runs, i = [], 0
    while i < n:
        if i == n - 1 or d[i] < 0:
            runs.append((i, 1, 0))
            i += 1
            continue
        k = last[block[i]]
        runs.append((i, k - i + 2, d[i]))
        i = k + 2
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
    pitch = row_pitch(view)
    if pitch is not None:  # fast path: every row address is offset + r * pitch
        starts = [view.offset + r0 * pitch + c0 * view.col_stride]
        runs = [(0, r1 - r0, pitch)]
    else:
        starts = (row_offsets(view, r0, r1) + c0 * view.col_stride).tolist()
        runs = _runs(starts)
    out = []
    for first, count, step in runs:
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


def load_mode(view: View) -> str:
    """How a kernel loads tiles of ``view``: ``direct`` (last-dim stride 0 or 1), ``trans``
    (transposed rows + ``ttrans``: the second-last dim has stride 1) or ``strided`` (element
    descriptors)."""
    if view.col_stride in (0, 1):
        return "direct"
    if len(view.shape) >= 2 and view.strides[-2] == 1:
        return "trans"
    return "strided"


def strided_segments(
    view: View, hbm: int, esize: int, rows: tuple[int, int], cols: tuple[int, int], sram: int
) -> list[DmaDesc]:
    """Element descriptors loading rows x cols of any view into a dense tile at ``sram``.

    Per run of rows whose addresses step by a constant: one descriptor per row (its elements
    ``col_stride`` apart) or one per column (its elements ``step`` apart), whichever is fewer.
    """
    (r0, r1), (c0, c1) = rows, cols
    c, cs = c1 - c0, view.col_stride
    starts = (row_offsets(view, r0, r1) + c0 * cs).tolist()
    out = []
    for first, count, step in _runs(np.asarray(starts)):
        if count <= c:
            for i in range(first, first + count):
                out.append(
                    _elems(sram + i * c * esize, hbm + starts[i] * esize, c, esize, esize, cs)
                )
        else:
            for j in range(c):
                at = hbm + (starts[first] + j * cs) * esize
                out.append(
                    _elems(sram + (first * c + j) * esize, at, count, esize, c * esize, step)
                )
    return out


def _elems(sram: int, hbm: int, n: int, esize: int, sram_stride: int, stride: int) -> DmaDesc:
    """A descriptor moving ``n`` single elements, ``stride`` elements apart in HBM."""
    return DmaDesc(False, sram, hbm, n, esize, sram_stride, stride * esize)


def window_segments(
    out_shape: tuple[int, ...],
    lo: tuple[int, ...],
    src_shape: tuple[int, ...],
    hbm: int,
    esize: int,
    tile: tuple[tuple[int, int], tuple[int, int]],
    sram: int,
) -> list[DmaDesc]:
    """Descriptors copying the part of a contiguous ``src`` tensor placed at offset ``lo`` inside
    an ``out_shape`` tensor (``pad``'s interior) into the dense tile rows x cols of the output
    at ``sram``. Rows outside the window get no descriptor (the tile keeps its fill)."""
    (r0, r1), (c0, c1) = tile
    a, b = max(c0, lo[-1]), min(c1, lo[-1] + src_shape[-1])
    if a >= b:
        return []
    src = contiguous(src_shape)
    shifted = View(
        out_shape, src.strides, -sum(x * s for x, s in zip(lo, src.strides, strict=True))
    )
    starts = row_offsets(shifted, r0, r1) + a
    inside = _inside_rows(out_shape, lo, src_shape, r0, r1)
    c, out = c1 - c0, []
    for first, n in _blocks(inside):
        for f, count, step in _runs(starts[first : first + n]):
            i = first + f
            dst, src_at = sram + (i * c + a - c0) * esize, hbm + int(starts[i]) * esize
            out.append(DmaDesc(False, dst, src_at, count, (b - a) * esize, c * esize, step * esize))
    return out


def _inside_rows(out_shape, lo, src_shape, r0: int, r1: int) -> np.ndarray:
    """Mask of the rows ``[r0, r1)`` of ``out_shape`` whose leading indices lie in the window."""
    rows = np.arange(r0, r1, dtype=np.int64)
    ok = np.ones(rows.shape, dtype=bool)
    for size, start, n in zip(
        reversed(out_shape[:-1]), reversed(lo[:-1]), reversed(src_shape[:-1]), strict=True
    ):
        i = rows % size
        ok &= (i >= start) & (i < start + n)
        rows //= size
    return ok


def _blocks(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, count) of each maximal block of consecutive True entries."""
    out, i, n = [], 0, len(mask)
    while i < n:
        if not mask[i]:
            i += 1
            continue
        j = i
        while j < n and mask[j]:
            j += 1
        out.append((i, j - i))
        i = j
    return out
