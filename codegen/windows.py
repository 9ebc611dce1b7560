"""Operand windows: a matmul operand read through a chain of data-movement ops (implicit GEMM).

``fuse-windows`` (:mod:`d1c.passes.fuse_windows`) marks the ``reshape``/``slice``/``concat``/
``permute`` ops that compute a matmul operand from one *source* tensor (a
kernel's result, a constant or an argument) with ``window``: no kernel runs them and they have
no address. The matmul's planner reads each operand tile straight from the source instead: this
module replays the chain on the source's element indices (:func:`window_offsets`, the same
numpy semantics the interpreter gives these ops, so the bits cannot change) and turns the
element offsets of a tile into DMA descriptors (:func:`gather_segments`).

A convolution's im2col matrix is such a chain (``decompose``: strided slices of the padded input,
one per kernel offset, concatenated along K), so its matmul loads the input windows directly and
no im2col tensor exists in HBM or SRAM. With NCHW activations a K row of an im2col tile is a run
of output positions: for stride 1, one descriptor per K row moves its output rows (``OW``
elements each, ``W + 2*pad`` apart); element descriptors otherwise.
"""

from __future__ import annotations

import numpy as np

from d1c.codegen import views as V
from d1c.ir import Op, Value
from d1c.isa.tiles import DmaDesc

# Not broadcast_to: a weight broadcast over a batched matmul's batch would be re-read from DIP
# HBM for every batch; its broadcast kernel copies it once per batch into SRAM, closer to the
# cores (ResNet-50 stage 3 at half size, one block, dojo-tile: 147,227 cycles as a window,
# 88,747 with the copy).
WINDOW_OPS = ("reshape", "slice", "concat", "permute")


def is_window(op: Op | None) -> bool:
    return op is not None and "window" in op.attrs


def window_source(v: Value) -> Value | None:
    """The source tensor a window value reads, or None if ``v`` is not a window value."""
    if not is_window(v.owner):
        return None
    while is_window(v.owner):
        v = v.owner.operands[0]
    return v


def window_offsets(v: Value) -> np.ndarray:
    """Element offsets into the window's source (row-major) of every element of ``v``, in the
    2-D form ``[rows, cols]`` of ``v``'s shape (a matmul's batched form)."""
    src = window_source(v)
    dtype = np.int32 if src.type.numel < 2**31 else np.int64
    memo: dict[int, np.ndarray] = {}
    out = _offsets(v, np.arange(src.type.numel, dtype=dtype).reshape(src.type.shape), memo)
    return out.reshape(V.rows_cols(v.type.shape))


def _offsets(v: Value, base: np.ndarray, memo: dict[int, np.ndarray]) -> np.ndarray:
    op = v.owner
    if not is_window(op):
        return base
    if id(v) not in memo:
        xs = [_offsets(u, base, memo) for u in op.operands]
        memo[id(v)] = _replay(op, xs)
    return memo[id(v)]


def _replay(op: Op, xs: list[np.ndarray]) -> np.ndarray:
    """``op`` applied to index arrays (the IR's numpy semantics of the data-movement ops)."""
    shape, a = op.result.type.shape, op.attrs
    if op.name == "reshape":
        return xs[0].reshape(shape)
    if op.name == "permute":
        return np.transpose(xs[0], a["dims"])
    if op.name == "concat":
        return np.concatenate(xs, axis=a["dim"])
    index = [slice(None)] * len(shape)
    index[a["dim"]] = slice(a["start"], a["end"], a["step"])
    return xs[0][tuple(index)]


def mean_run(offsets: np.ndarray) -> float:
    """The mean length of the contiguous pieces of the rows of a 2-D offsets map (what one
    descriptor moves at most, in elements)."""
    r, c = offsets.shape
    if offsets.size == 0:
        return float(c)
    breaks = int(np.count_nonzero(np.diff(offsets, axis=1) != 1))
    return offsets.size / (r + breaks)


def gather_segments(offsets: np.ndarray, hbm: int, esize: int, sram: int) -> list[DmaDesc]:
    """DMA descriptors loading the elements at ``offsets`` (a ``[r, c]`` tile of a window's
    element offsets into its source at ``hbm``) into a dense tile at ``sram``.

    Rows that are each contiguous form runs of rows stepping by a constant (one descriptor per
    run); otherwise each row is split into its contiguous pieces, and consecutive pieces of equal
    length whose addresses step by a constant share a descriptor (a stride-1 convolution's K row
    covering whole output rows is one descriptor)."""
    r, c = offsets.shape
    if c == 1 or bool(np.all(np.diff(offsets, axis=1) == 1)):
        starts = offsets[:, 0].astype(np.int64)
        return [
            DmaDesc(False, sram + first * c * esize, hbm + int(starts[first]) * esize,
                    count, c * esize, c * esize, step * esize)
            for first, count, step in V._runs(starts)
        ]  # fmt: skip
    out = []
    for i in range(r):
        out += _row_gather(offsets[i].astype(np.int64), hbm, esize, sram + i * c * esize)
    return out


def _row_gather(row: np.ndarray, hbm: int, esize: int, sram: int) -> list[DmaDesc]:
    """Descriptors for one tile row (module docstring)."""
    cut = np.flatnonzero(np.diff(row) != 1) + 1
    firsts = np.concatenate(([0], cut))
    lengths = np.diff(np.concatenate((firsts, [len(row)])))
    out, i, n = [], 0, len(firsts)
    while i < n:
        j, step = i + 1, 0
        if j < n and lengths[j] == lengths[i] and row[firsts[j]] >= row[firsts[i]]:
            step = int(row[firsts[j]] - row[firsts[i]])
            while (
                j < n and lengths[j] == lengths[i] and row[firsts[j]] - row[firsts[j - 1]] == step
            ):
                j += 1
        length = int(lengths[i]) * esize
        at = sram + int(firsts[i]) * esize
        out.append(DmaDesc(False, at, hbm + int(row[firsts[i]]) * esize, j - i, length,
                           length, step * esize))  # fmt: skip
        i = j
    return out
