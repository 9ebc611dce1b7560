"""DMA between DIP HBM and core SRAM: dma.ld, dma.st, dma.list and dma.wait.

A DMA moves its bytes when it issues (full mode) and completes at the time the cost model gives
(:func:`d1c.runtime.timing.dma_done`: setup, then the DIP's bandwidth, FIFO per DIP). The
program contract (spec) is that the SRAM bytes are not touched before ``dma.wait``; moving them
early is invisible to such programs and keeps data flow causal in host order. ``dma.wait tag``
stalls the core until every DMA it issued under that tag has completed (a ``dma`` stall).

Faults: the SRAM side must lie inside SRAM (tiles also element-aligned), the HBM side inside one
DIP's HBM; dma.list descriptors must be 4-byte aligned in SRAM and have no reserved flag bits.
Issue is time-ordered like sends (the DIP is shared by all cores).
"""

from __future__ import annotations

import numpy as np

from d1c.isa.tiles import DMA_DESC_FIELDS, DmaDesc, dma_list, hbm_addr
from d1c.runtime import timing
from d1c.runtime.core import YIELD
from d1c.runtime.memory import check_span, check_tile, check_word, read_bytes, write_bytes

_DESC_BYTES = 4 * len(DMA_DESC_FIELDS)


def _transfer(c, desc: DmaDesc, tag: int) -> None:
    """Check, move (full mode) and time one strided transfer issued at ``c.now``."""
    m = c.m
    nbytes = desc.rows * desc.row_bytes
    if nbytes == 0:
        return
    what = "dma.st" if desc.to_hbm else "dma.ld"
    check_span(desc.sram, desc.rows, desc.row_bytes, desc.sram_stride, c.mem.size, what)
    hspan = (desc.rows - 1) * desc.hbm_stride + desc.row_bytes
    dip = m.hbm.check(desc.hbm, hspan, what)
    if m.full:
        _move(c, desc)
    done, m.dip_free[dip] = timing.dma_done(m.costs, c.now, m.dip_free[dip], nbytes)
    c.dma_done[tag] = max(c.dma_done[tag], done)
    c.dma_bytes += nbytes
    if desc.to_hbm:
        c.sram_rd += nbytes
    else:
        c.sram_wr += nbytes
    if m.trace is not None:
        m.event(what, c, c.now, done - c.now, bytes=nbytes, dip=dip, tag=tag)


def _move(c, desc: DmaDesc) -> None:
    hbm = c.m.hbm
    if desc.to_hbm:
        rows = read_bytes(c.mem, desc.sram, desc.rows, desc.row_bytes, desc.sram_stride)
        hbm.write_rows(desc.hbm, np.ascontiguousarray(rows), desc.hbm_stride)
    else:
        rows = hbm.read_rows(desc.hbm, desc.rows, desc.row_bytes, desc.hbm_stride)
        write_bytes(c.mem, desc.sram, rows, desc.sram_stride)


def ex_dma(c, pc, op):
    _, to_hbm, tile, lo, hi, stride, tag = op
    if c.now > c.m.horizon:
        return YIELD
    d = c.t[tile]
    check_tile(d, c.mem.size, "dma.st" if to_hbm else "dma.ld")
    addr = hbm_addr(c.x[lo], c.x[hi])
    desc = DmaDesc(to_hbm, d.base, addr, d.rows, d.row_bytes, d.pitch, c.x[stride])
    _transfer(c, desc, tag)
    c.now += 1
    return pc + 1


def ex_dma_list(c, pc, op):
    _, a, n, tag = op
    if c.now > c.m.horizon:
        return YIELD
    addr, count = c.x[a], c.x[n]
    check_word(addr, c.mem.size, "dma.list descriptors", count * _DESC_BYTES)
    words = c.mem32[addr >> 2 : (addr >> 2) + count * len(DMA_DESC_FIELDS)]
    c.sram_rd += count * _DESC_BYTES
    for desc in dma_list(words):
        _transfer(c, desc, tag)
    c.now += 1
    return pc + 1


def ex_dma_wait(c, pc, op):
    _, tag = op
    done = c.dma_done[tag]
    if done > c.now:
        c.stall["dma"] += done - c.now
        c.now = done
    c.now += 1
    return pc + 1
