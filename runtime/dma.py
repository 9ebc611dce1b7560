"""DMA between DIP HBM (or another core's SRAM) and core SRAM: dma.ld, dma.st, dma.list and
dma.wait.

A DMA moves its bytes when it issues (full mode) and completes at the time the cost model gives
(:mod:`d1c.runtime.timing`: setup, then the DIP's bandwidth, FIFO per DIP; a transfer in the
striped HBM window is split over the DIPs that serve its stripes, each FIFO). The
program contract (spec) is that the SRAM bytes are not touched before ``dma.wait``; moving them
early is invisible to such programs and keeps data flow causal in host order. ``dma.wait tag``
stalls the core until every DMA it issued under that tag has completed (a ``dma`` stall).

A transfer whose far side is a core's SRAM (:func:`d1c.isa.tiles.sram_addr`, this core or another
one running the program) is a copy between SRAMs: on one core it takes the store bandwidth after
the setup, one copy after the other; to or from another core, a read first sends a request (the route's latency) and the
data then crosses the NoC from the owner (link reservations, :mod:`d1c.runtime.noc`), a write
crosses it from this core. Its data moves when it issues, like any DMA; the program (the
compiler's tokens) makes sure the owner wrote the bytes before and overwrites them only after.

Faults: the SRAM side must lie inside SRAM (tiles also element-aligned), the HBM side inside one
DIP's HBM; dma.list descriptors must be 4-byte aligned in SRAM and have no reserved flag bits.
Issue is time-ordered like sends (the DIP is shared by all cores).
"""

from __future__ import annotations

import numpy as np

from d1c.isa.errors import SimulationError
from d1c.isa.tiles import (
    DMA_DESC_BYTES,
    DMA_DESC_FIELDS,
    SRAM_FLAG,
    STRIPED,
    dip_shares,
    dma_list,
    hbm_addr,
    split_sram,
)
from d1c.runtime.core import YIELD
from d1c.runtime.memory import check_span, check_word, read_bytes, write_bytes
from d1c.runtime.tileops import check


def _transfer(
    c,
    to_hbm: bool,
    sram: int,
    hbm: int,
    rows: int,
    row_bytes: int,
    sram_pitch: int,
    hbm_stride: int,
    tag: int,
) -> None:
    """Check, move (full mode) and time one strided transfer issued at ``c.now``
    (the fields of :class:`~d1c.isa.tiles.DmaDesc`, flat for speed)."""
    m = c.m
    nbytes = rows * row_bytes
    if nbytes == 0:
        return
    if hbm & SRAM_FLAG:
        _sram_transfer(c, to_hbm, sram, hbm, rows, row_bytes, sram_pitch, hbm_stride, tag)
        return
    what = "dma.st" if to_hbm else "dma.ld"
    span = (rows - 1) * hbm_stride + row_bytes
    dip = m.hbm.check(hbm, span, what)
    if m.full:
        _move(c, to_hbm, sram, hbm, rows, row_bytes, sram_pitch, hbm_stride)
    done = 0
    shares = [(dip, nbytes)] if dip != STRIPED else dip_shares(hbm, nbytes, span, len(m.dip_free))
    for d, part in shares:  # each serving DIP is FIFO; the transfer ends with its last part
        start = max(c.now + m.costs.dma_setup, m.dip_free[d])
        m.dip_free[d] = start + m.costs.dip.cycles(part)
        done = max(done, m.dip_free[d])
    if done > c.dma_done[tag]:
        c.dma_done[tag] = done
    c.dma_bytes += nbytes
    if to_hbm:
        c.sram_rd += nbytes
    else:
        c.sram_wr += nbytes
    if m.trace is not None:
        m.event(what, c, c.now, done - c.now, bytes=nbytes, dip=dip, tag=tag)


def _sram_transfer(c, to_far, sram, far, rows, row_bytes, pitch, far_pitch, tag) -> None:
    """A transfer between this core's SRAM and core ``gid``'s (module docstring)."""
    m = c.m
    gid, off = split_sram(far)
    what = "dma to SRAM" if to_far else "dma from SRAM"
    owner = m.running(gid)
    if owner is None:
        raise SimulationError(f"{what}: core gid {gid} runs no program (address {far:#x})")
    check_span(off, rows, row_bytes, far_pitch, owner.mem.size, f"{what} of {owner.name}")
    nbytes = rows * row_bytes
    if m.full:
        src, dst = (c, owner) if to_far else (owner, c)
        s_at, s_pitch, d_at, d_pitch = (
            (sram, pitch, off, far_pitch) if to_far else (off, far_pitch, sram, pitch)
        )
        data = np.array(read_bytes(src.mem, s_at, rows, row_bytes, s_pitch))
        write_bytes(dst.mem, d_at, data, d_pitch)
    start = c.now + m.costs.dma_setup
    if owner is c:  # a copy inside this SRAM, one at a time
        done = c.copy_free = max(start, c.copy_free) + m.costs.store.cycles(nbytes)
    elif to_far:
        done = m.net.send(c.pos, owner.pos, nbytes, start)
    else:
        done = m.net.send(owner.pos, c.pos, nbytes, start + m.net.latency(c.pos, owner.pos))
    if done > c.dma_done[tag]:
        c.dma_done[tag] = done
    reader, writer = (c, owner) if to_far else (owner, c)
    reader.sram_rd += nbytes
    writer.sram_wr += nbytes
    if owner is not c:
        reader.noc_tx += nbytes
        writer.noc_rx += nbytes
    if m.trace is not None:
        m.event("dma.sram", c, c.now, done - c.now, bytes=nbytes, core=owner.name, tag=tag)


def _move(c, to_hbm, sram, hbm, rows, row_bytes, sram_pitch, hbm_stride) -> None:
    if to_hbm:
        data = read_bytes(c.mem, sram, rows, row_bytes, sram_pitch)
        c.m.hbm.write_rows(hbm, np.ascontiguousarray(data), hbm_stride)
    else:
        data = c.m.hbm.read_rows(hbm, rows, row_bytes, hbm_stride)
        write_bytes(c.mem, sram, data, sram_pitch)


def ex_dma(c, pc, op):
    _, to_hbm, tile, lo, hi, stride, tag = op
    if c.now > c.m.horizon:
        return YIELD
    g = check(c, tile, "dma.st" if to_hbm else "dma.ld")
    if g.nbytes:
        x, d = c.x, c.t[tile]
        addr = hbm_addr(x[lo], x[hi])
        _transfer(
            c, to_hbm, d.base, addr, g.rows, g.row_bytes, d.stride or g.row_bytes, x[stride], tag
        )
    c.now += 1
    return pc + 1


def ex_dma_list(c, pc, op):
    _, a, n, tag = op
    if c.now > c.m.horizon:
        return YIELD
    addr, count = c.x[a], c.x[n]
    check_word(addr, c.mem.size, "dma.list descriptors", count * DMA_DESC_BYTES)
    words = c.mem32[addr >> 2 : (addr >> 2) + count * len(DMA_DESC_FIELDS)]
    c.sram_rd += count * DMA_DESC_BYTES
    for desc in dma_list(words):
        what = "dma.list " + ("SRAM source" if desc.to_hbm else "SRAM destination")
        check_span(desc.sram, desc.rows, desc.row_bytes, desc.sram_stride, c.mem.size, what)
        _transfer(
            c,
            desc.to_hbm,
            desc.sram,
            desc.hbm,
            desc.rows,
            desc.row_bytes,
            desc.sram_stride,
            desc.hbm_stride,
            tag,
        )
    c.now += 1
    return pc + 1


def ex_dma_wait(c, pc, op):
    _, tag = op
    c.m.stall(c, "dma", c.dma_done[tag])
    c.now += 1
    return pc + 1
