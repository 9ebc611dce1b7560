"""The native flight kernel (:mod:`d1c.runtime.native_noc`) equals its Python reference on random
hop tables, random contention and random chip changes; and a whole simulation gives the same
cycles and link bytes with and without it."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d1c.runtime import native_noc
from tests.runtime.sim_helpers import run

KERNEL = native_noc.native()
pytestmark = pytest.mark.skipif(KERNEL is None, reason="llvmlite kernel unavailable")


@st.composite
def flights(draw) -> tuple[int, list]:
    """A resource count and a list of (hop table, start, head, tail, nbytes, busy, here)."""
    size = draw(st.integers(2, 12))  # few resources: flights collide
    out = []
    for _ in range(draw(st.integers(1, 12))):
        n = draw(st.integers(0, 8))
        rows = []
        for _ in range(n):
            edge = draw(st.integers(-1, size - 1))
            num, den = draw(st.integers(1, 2000)), draw(st.integers(1, 7))
            rows.append((draw(st.integers(0, size - 1)), draw(st.integers(0, 250)), edge, num,
                         den, draw(st.integers(0, 2))))  # fmt: skip
        table = np.array(rows, np.int32).reshape(-1, 6)
        head = draw(st.integers(0, 5000))
        tail = draw(st.sampled_from([-1, head, head + draw(st.integers(0, 900))]))
        nbytes = draw(st.integers(0, 70000))
        out.append((table, draw(st.integers(0, n)), head, tail, nbytes,
                    draw(st.integers(0, 300)), draw(st.integers(0, 2))))  # fmt: skip
    return size, out


@settings(max_examples=150, deadline=None, derandomize=True)
@given(case=flights())
def test_native_kernel_equals_the_reference(case) -> None:
    size, seq = case
    free = [np.zeros(size, np.int64), np.zeros(size, np.int64)]
    carried = [np.zeros(size, np.int64), np.zeros(size, np.int64)]
    io = (ctypes.c_int64 * 2)()
    for table, start, head, tail, nbytes, busy, here in seq:
        n = len(table)
        io[0], io[1] = head, tail
        got = KERNEL(free[0].ctypes.data, carried[0].ctypes.data, table.ctypes.data, start, n,
                     nbytes, busy, here, ctypes.addressof(io))  # fmt: skip
        ref = np.array([head, tail], np.int64)
        want = native_noc.fly_reference(free[1], carried[1], table, start, n, nbytes, busy, here, ref)  # fmt: skip
        assert (got, io[0], io[1]) == (want, int(ref[0]), int(ref[1]))
        assert np.array_equal(free[0], free[1]) and np.array_equal(carried[0], carried[1])


@pytest.mark.parametrize("name", ["ring", "allreduce"])
def test_a_simulation_is_the_same_without_the_kernel(name: str, monkeypatch) -> None:
    shape = (8, 16) if name == "ring" else (8, 4, 16)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    fast = run(name, {"x": x})
    monkeypatch.setattr(native_noc, "native", lambda: None)
    slow = run(name, {"x": x})
    assert (slow.cycles, slow.cores, slow.link_bytes) == (fast.cycles, fast.cores, fast.link_bytes)
