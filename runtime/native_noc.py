"""The cut-through link recurrence of :mod:`d1c.runtime.noc` as native code (llvmlite), with the
pure-Python reference it must equal.

``fly_hops(free, nbytes_on, hops, start, n, nbytes, busy, here, io)`` moves a message of
``nbytes`` over ``hops[start:n]`` (rows of :data:`HOP_FIELDS`) while the next node is on chip
``here``: for each hop, ``s = max(head, free[link], free[edge])``; the edge (if any) is busy
``ceil(nbytes * den / num)`` cycles from ``s``; the tail leaves at ``max(s + max(busy, edge
cycles), tail)``, which is the link's new free time; head and tail move on by the hop's latency;
``nbytes_on`` counts the bytes of every link and edge. ``io`` holds (head, tail) in and out; the
return value is the index of the first hop not taken (``n`` when all were).

All arithmetic is on 64-bit integers, so the native kernel and :func:`fly_reference` agree
exactly (tests/runtime/test_native_noc.py checks it on random routes and contention).
"""

from __future__ import annotations

import ctypes
import os

import numpy as np

from d1c.isa.errors import CompileError
from d1c.runtime import jit

HOP_FIELDS = ("link", "latency", "edge", "edge_num", "edge_den", "next_chip")
"""Columns of a route's int32 hop table; ``edge`` is -1 for a hop inside a chip."""

_IR = """
define i64 @d1c_fly(i64* %free, i64* %bytes, i32* %hops, i64 %start, i64 %n, i64 %nb,
                    i64 %busy, i64 %here, i64* %io) {
entry:
  %h0 = load i64, i64* %io
  %iot = getelementptr i64, i64* %io, i64 1
  %t0 = load i64, i64* %iot
  br label %loop
loop:
  %i = phi i64 [%start, %entry], [%i1, %join]
  %head = phi i64 [%h0, %entry], [%head1, %join]
  %tail = phi i64 [%t0, %entry], [%tail1, %join]
  %more = icmp slt i64 %i, %n
  br i1 %more, label %body, label %done
body:
  %row = mul i64 %i, 6
  %pl = getelementptr i32, i32* %hops, i64 %row
  %link32 = load i32, i32* %pl
  %link = sext i32 %link32 to i64
  %pla = getelementptr i32, i32* %pl, i64 1
  %lat32 = load i32, i32* %pla
  %lat = sext i32 %lat32 to i64
  %ple = getelementptr i32, i32* %pl, i64 2
  %edge32 = load i32, i32* %ple
  %edge = sext i32 %edge32 to i64
  %pln = getelementptr i32, i32* %pl, i64 3
  %num32 = load i32, i32* %pln
  %num = sext i32 %num32 to i64
  %pld = getelementptr i32, i32* %pl, i64 4
  %den32 = load i32, i32* %pld
  %den = sext i32 %den32 to i64
  %plc = getelementptr i32, i32* %pl, i64 5
  %chip32 = load i32, i32* %plc
  %chip = sext i32 %chip32 to i64
  %fl = getelementptr i64, i64* %free, i64 %link
  %freel = load i64, i64* %fl
  %c1 = icmp sgt i64 %head, %freel
  %s0 = select i1 %c1, i64 %head, i64 %freel
  %hasedge = icmp sge i64 %edge, 0
  br i1 %hasedge, label %withedge, label %join
withedge:
  %fe = getelementptr i64, i64* %free, i64 %edge
  %freee = load i64, i64* %fe
  %c2 = icmp sgt i64 %freee, %s0
  %s1 = select i1 %c2, i64 %freee, i64 %s0
  %x = mul i64 %nb, %den
  %y = add i64 %x, %num
  %z = sub i64 %y, 1
  %e = sdiv i64 %z, %num
  %fe2 = add i64 %s1, %e
  store i64 %fe2, i64* %fe
  %be = getelementptr i64, i64* %bytes, i64 %edge
  %bev = load i64, i64* %be
  %bev2 = add i64 %bev, %nb
  store i64 %bev2, i64* %be
  %c3 = icmp sgt i64 %e, %busy
  %tb = select i1 %c3, i64 %e, i64 %busy
  br label %join
join:
  %s = phi i64 [%s1, %withedge], [%s0, %body]
  %tt = phi i64 [%tb, %withedge], [%busy, %body]
  %t1 = add i64 %tt, %s
  %c4 = icmp sgt i64 %tail, %t1
  %t = select i1 %c4, i64 %tail, i64 %t1
  store i64 %t, i64* %fl
  %bl = getelementptr i64, i64* %bytes, i64 %link
  %blv = load i64, i64* %bl
  %blv2 = add i64 %blv, %nb
  store i64 %blv2, i64* %bl
  %head1 = add i64 %s, %lat
  %tail1 = add i64 %t, %lat
  %i1 = add i64 %i, 1
  %same = icmp eq i64 %chip, %here
  br i1 %same, label %loop, label %leave
leave:
  store i64 %head1, i64* %io
  store i64 %tail1, i64* %iot
  ret i64 %i1
done:
  store i64 %head, i64* %io
  store i64 %tail, i64* %iot
  ret i64 %n
}
"""

_STATE: dict[str, object] = {}
_I64, _P = ctypes.c_int64, ctypes.c_void_p


def native() -> object | None:
    """The compiled kernel (a ctypes function taking addresses), or None (numpy-free Python
    reference instead: ``D1C_NO_JIT=1`` or llvmlite unavailable)."""
    if "fn" not in _STATE:
        _STATE["fn"] = None
        if os.environ.get("D1C_NO_JIT", "") in ("", "0"):
            try:
                mod = jit.load("noc-fly", _IR, disk_cache=True)
                _STATE["fn"] = mod.function("d1c_fly", _I64, _P, _P, _P, _I64, _I64, _I64, _I64, _I64, _P)  # fmt: skip
            except CompileError:
                pass
    return _STATE["fn"]


def fly_reference(free: np.ndarray, nbytes_on: np.ndarray, hops: np.ndarray, start: int, n: int,
                  nbytes: int, busy: int, here: int, io: np.ndarray) -> int:  # fmt: skip
    """The recurrence in Python (module docstring): the definition the kernel must equal."""
    head, tail = int(io[0]), int(io[1])
    rows = hops.tolist()
    for i in range(start, n):
        link, lat, edge, num, den, chip = rows[i]
        s = max(head, int(free[link]))
        t = busy
        if edge >= 0:
            s = max(s, int(free[edge]))
            e = -(-nbytes * den // num)
            free[edge] = s + e
            nbytes_on[edge] += nbytes
            t = max(t, e)
        t = max(s + t, tail)
        free[link] = t
        nbytes_on[link] += nbytes
        head, tail = s + lat, t + lat
        if chip != here:
            io[0], io[1] = head, tail
            return i + 1
    io[0], io[1] = head, tail
    return n
