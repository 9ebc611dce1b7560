"""DMA between DIP HBM and core SRAM: dma.ld, dma.st, dma.list and dma.wait.

A DMA moves its bytes when it issues (full mode) and completes at the time the cost model gives
(:mod:`d1c.runtime.timing`: setup, then the DIP's bandwidth, FIFO per DIP; a transfer in the
striped HBM window is split over the DIPs that serve its stripes, each FIFO). The
program contract (spec) is that the SRAM bytes are not touched before ``dma.wait``; moving them
early is invisible to such programs and keeps data flow causal in host order. ``dma.wait tag``
stalls the core until every DMA it issued under that tag has completed (a ``dma`` stall).

Faults: the SRAM side must lie inside SRAM (tiles also element-aligned), the HBM side inside one
DIP's HBM; dma.list descriptors must be 4-byte aligned in SRAM and have no reserved flag bits.
Issue is time-ordered like sends (the DIP is shared by all cores).
"""

from __future__ import annotations

import numpy as np

from d1c.isa.tiles import DMA_DESC_BYTES, DMA_DESC_FIELDS, STRIPED, dip_shares, dma_list, hbm_addr
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
