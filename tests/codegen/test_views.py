"""DMA descriptors of affine views against direct numpy indexing: the descriptors of a tile are
executed on a byte array standing for HBM and must give exactly ``view[rows, cols]``."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from d1c.codegen import views as V

ES = 2  # element bytes (distinct 16-bit codes make every misplaced element visible)


def _hbm(n: int) -> np.ndarray:
    return np.arange(n, dtype="<u2").view(np.uint8)


def _run(descs, hbm: np.ndarray, nbytes: int) -> np.ndarray:
    """Execute HBM -> SRAM descriptors into a fresh SRAM byte array."""
    sram = np.full(nbytes, 0xEE, dtype=np.uint8)
    for d in descs:
        for r in range(d.rows):
            src = d.hbm + r * d.hbm_stride
            dst = d.sram + r * d.sram_stride
            sram[dst : dst + d.row_bytes] = hbm[src : src + d.row_bytes]
    return sram


def _elements(view: V.View) -> np.ndarray:
    """The element offsets of the view in its 2-D form [rows, cols]."""
    idx = np.zeros(view.shape, dtype=np.int64) + view.offset
    for d, (n, s) in enumerate(zip(view.shape, view.strides, strict=True)):
        shape = [1] * len(view.shape)
        shape[d] = n
        idx = idx + np.arange(n).reshape(shape) * s
    return idx.reshape(view.rows, view.cols)


@st.composite
def views(draw: st.DrawFn) -> V.View:
    """Permuted, sliced (any step) and broadcast views of a random contiguous tensor."""
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    v = V.contiguous(shape)
    v = V.permute(v, tuple(draw(st.permutations(range(len(shape))))))
    for dim in range(len(shape)):
        if draw(st.booleans()):
            size = v.shape[dim]
            start = draw(st.integers(0, size - 1))
            v = V.slice_(v, dim, start, size, draw(st.integers(1, 3)))
    if draw(st.booleans()):
        lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
        grow = tuple(draw(st.sampled_from([1, 3])) if n == 1 else n for n in v.shape)
        v = V.broadcast(v, lead + grow)
    return v


def _tile(draw: st.DrawFn, view: V.View) -> tuple[tuple[int, int], tuple[int, int]]:
    r0 = draw(st.integers(0, view.rows - 1))
    c0 = draw(st.integers(0, view.cols - 1))
    return (r0, draw(st.integers(r0 + 1, view.rows))), (c0, draw(st.integers(c0 + 1, view.cols)))


def _check_tile(view: V.View, rr: tuple[int, int], cc: tuple[int, int]) -> None:
    """The tile's descriptors, executed, give ``view[rows, cols]`` (True if a tile was made)."""
    (r0, r1), (c0, c1) = rr, cc
    want = _elements(view)[r0:r1, c0:c1]
    base, sram = 64, 32
    hbm = np.concatenate([np.zeros(base, np.uint8), _hbm(int(_elements(view).max()) + 1)])
    mode = V.load_mode(view)
    width = 1 if mode == "direct" and view.col_stride == 0 else c1 - c0
    if mode == "direct":
        descs = V.row_segments(view, base, ES, rr, cc, sram)
    elif mode == "strided":
        descs = V.strided_segments(view, base, ES, rr, cc, sram)
    else:
        descs = V.transposed_segments(view, base, ES, rr, cc, sram)
        if descs is None:  # tile rows cross a plane: the tile pass never makes such tiles
            return
    out = _run(descs, hbm, sram + (r1 - r0) * (c1 - c0) * ES)[sram:].view("<u2")
    if mode == "trans":
        got = out.reshape((c1 - c0, r1 - r0)).T
    else:  # dense [rows, width]; a broadcast last dim loads one column (tbcast repeats it)
        got = out[: (r1 - r0) * width].reshape(r1 - r0, width)
    assert np.array_equal(got, want[:, :width])


@settings(max_examples=300, deadline=None)
@given(views(), st.data())
def test_every_load_mode_gives_the_view_tile(view: V.View, data: st.DataObject) -> None:
    _check_tile(view, *_tile(data.draw, view))


STRIDED = V.slice_(V.contiguous((7, 10)), 1, 1, 10, 3)  # [7, 3], strides (10, 3)
PERMUTED = V.permute(V.contiguous((3, 4, 5)), (2, 0, 1))  # [5, 3, 4], strides (1, 20, 5)


def test_strided_loads_by_row_and_by_column() -> None:
    assert V.load_mode(STRIDED) == V.load_mode(PERMUTED) == "strided"
    by_col = V.strided_segments(STRIDED, 0, ES, (0, 7), (0, 2), 0)
    by_row = V.strided_segments(STRIDED, 0, ES, (1, 3), (0, 3), 0)
    assert [d.rows for d in by_col] == [7, 7] and [d.rows for d in by_row] == [3, 3]
    for view, rr, cc in [
        (STRIDED, (0, 7), (0, 2)),
        (STRIDED, (1, 3), (1, 3)),
        (PERMUTED, (0, 15), (1, 4)),
        (PERMUTED, (4, 9), (0, 2)),
    ]:
        _check_tile(view, rr, cc)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_window_segments_place_pads_interior(src_shape: list[int], data: st.DataObject) -> None:
    lo = tuple(data.draw(st.integers(0, 2)) for _ in src_shape)
    out_shape = tuple(
        n + a + data.draw(st.integers(0, 2)) for n, a in zip(src_shape, lo, strict=True)
    )
    out = V.contiguous(out_shape)
    rr, cc = _tile(data.draw, out)
    (r0, r1), (c0, c1) = rr, cc
    descs = V.window_segments(out_shape, lo, tuple(src_shape), 0, ES, (rr, cc), 0)
    got = _run(descs, _hbm(int(np.prod(src_shape))), (r1 - r0) * (c1 - c0) * ES).view("<u2")
    want = np.full(out_shape, 0xEEEE, dtype="<u2")
    box = tuple(slice(a, a + n) for a, n in zip(lo, src_shape, strict=True))
    want[box] = np.arange(int(np.prod(src_shape))).reshape(src_shape)
    assert np.array_equal(
        got.reshape(r1 - r0, c1 - c0), want.reshape(out.rows, out.cols)[r0:r1, c0:c1]
    )


def test_row_pitch_and_runs_on_hand_cases() -> None:
    assert V.row_pitch(V.contiguous((2, 3, 4))) == 4
    assert V.row_pitch(V.permute(V.contiguous((2, 3, 4)), (1, 0, 2))) is None
    assert V.row_pitch(V.broadcast(V.contiguous((3,)), (5, 3))) == 0
    assert V._runs(np.array([0, 4, 8, 2, 2, 2, 9])) == [(0, 3, 4), (3, 3, 0), (6, 1, 0)]
    assert V._runs(np.array([5, 3, 1])) == [(0, 1, 0), (1, 1, 0), (2, 1, 0)]
    for starts in itertools.product(range(3), repeat=4):
        runs = V._runs(np.array(starts))
        rebuilt = [
            s + k * step
            for first, n, step in runs
            for k, s in [(k, starts[first]) for k in range(n)]
        ]
        assert rebuilt == list(starts) and all(step >= 0 for _, _, step in runs)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_reshape_view_keeps_the_elements_in_row_major_order(data) -> None:
    """A broadcast (maybe permuted) view reshaped to a random shape of the same size: when
    reshape_view finds a view, its element offsets are numpy's reshape of the original's."""
    shape = tuple(data.draw(st.lists(st.integers(1, 4), max_size=4)))
    src = tuple(data.draw(st.sampled_from([1, n])) for n in shape)
    view = V.broadcast(V.contiguous(src), shape)
    if len(shape) >= 2:
        view = V.permute(view, tuple(data.draw(st.permutations(range(len(shape))))))
    factors, n = [], int(np.prod(view.shape))
    while n > 1:
        d = data.draw(st.sampled_from([k for k in range(2, n + 1) if n % k == 0]))
        factors, n = [*factors, d], n // d
    new = tuple(data.draw(st.permutations([*factors, *[1] * data.draw(st.integers(0, 2))])))
    got = V.reshape_view(view, new)
    if got is None:
        assert not np.all(view.strides == V.contiguous(view.shape).strides)  # contiguous: always
        return
    assert got.shape == new
    want = _elements(view).reshape(-1)
    np.testing.assert_array_equal(_elements(got).reshape(-1), want)
