"""DMA between DIP HBM (or another core's SRAM) and core SRAM: dma.ld, dma.st, dma.list and
dma.wait.

A transfer's HBM side is served by the DIP owning its address, or in the striped window by
every DIP serving its stripes, one *part* per DIP (:func:`d1c.isa.tiles.dip_shares`). Each part
of B bytes on DIP d (attached to the mesh at ``dip_attach(d)``) is timed so:

- HBM -> SRAM (``dma.ld``, load descriptors): the request leaves the core after
  ``dma.setup_cycles`` and reaches the DIP after the route latency; the DIP serves requests in
  arrival order, each for ``ceil(B * clock / min(HBM, link bandwidth))`` cycles, and streams the
  bytes from its attach point to the core over the NoC (a flight, :mod:`d1c.runtime.noc`, whose
  tail leaves the DIP at the DIP's rate): the part completes when its tail reaches the core.
- SRAM -> HBM (``dma.st``, store descriptors): the bytes leave the core as a flight after
  ``dma.setup_cycles`` and reach the DIP's attach point; the DIP takes them in arrival order at
  its rate (it finishes no earlier than the tail arrives), and its acknowledgement reaches the
  core after the route latency: the part completes then.

So DMA streams contend for links with each other and with messages. ``dma.wait tag`` stalls the
core until every part it issued under that tag has completed (a ``dma`` stall); if a part's
completion is not known yet the core blocks until it is.

Data: a store reads its SRAM bytes when it issues and each part writes the bytes of its own
DIP's stripes into HBM when that DIP takes them; a load reads HBM when its request reaches the
DIP, and the bytes land in SRAM at the ``dma.wait`` for their tag (in issue order). The program
contract (spec) is that SRAM bytes are not touched between a DMA's issue and its ``dma.wait``;
under it these moments are invisible, and they keep the data flow independent of how chips are
grouped into regions (:mod:`d1c.runtime.machine`).

A transfer whose far side is a core's SRAM (:func:`d1c.isa.tiles.sram_addr`, this core or another
one running the program) is a copy between SRAMs: :mod:`d1c.runtime.dma_sram`.

Faults: the SRAM side must lie inside SRAM (tiles also element-aligned), the HBM side inside one
DIP's HBM or the striped window; dma.list descriptors must be 4-byte aligned in SRAM and have no
reserved flag bits. Issue is ordered like sends (it starts events).
"""

from __future__ import annotations

import numpy as np

from d1c.isa.tiles import (
    DIP_SHIFT,
    DMA_DESC_BYTES,
    DMA_DESC_FIELDS,
    SRAM_FLAG,
    STRIPE_BYTES,
    STRIPED,
    dip_shares,
    dma_list,
    hbm_addr,
)
from d1c.runtime.comm import synced
from d1c.runtime.core import BLOCK, YIELD
from d1c.runtime.dma_sram import sram_transfer
from d1c.runtime.machine import handler
from d1c.runtime.memory import check_span, check_word, read_bytes, write_bytes
from d1c.runtime.noc import ARRIVALS, Flight
from d1c.runtime.tileops import check

Box = tuple[int, int, int, int]  # (address, rows, row bytes, stride or pitch)


def owned(hbm: Box, dips: int, dip: int, parts: int) -> np.ndarray | None:
    """Which bytes of the [rows, row_bytes] HBM box DIP ``dip`` (one of ``parts`` serving it)
    serves (None: all of them)."""
    addr, rows, row_bytes, stride = hbm
    if parts == 1:
        return None
    off = addr & ((1 << DIP_SHIFT) - 1)
    at = off + np.arange(rows, dtype=np.int64)[:, None] * stride + np.arange(row_bytes)
    return (at // STRIPE_BYTES) % dips == dip


def _transfer(c, to_hbm: bool, sram: Box, hbm: Box, tag: int) -> None:
    """Check, time and (full mode) start moving one strided transfer issued at ``c.now``."""
    m = c.m
    addr, rows, row_bytes, stride = hbm
    nbytes = rows * row_bytes
    if nbytes == 0:
        return
    if addr & SRAM_FLAG:
        sram_transfer(c, to_hbm, sram, hbm, tag)
        return
    what = "dma.st" if to_hbm else "dma.ld"
    span = (rows - 1) * stride + row_bytes
    window = m.hbm.check(addr, span, what)
    shares = [(window, nbytes)] if window != STRIPED else _shares(hbm, span, len(m.dip_free))
    tid = c.next_seq()
    c.transfers[tid] = [len(shares), 0, what, c.now, nbytes, window]
    data = None
    if to_hbm and m.full:
        data = np.array(read_bytes(c.mem, sram[0], rows, row_bytes, sram[3]))
    for part, (dip, nb) in enumerate(shares):
        c.pending[tag] += 1
        _start(
            c, to_hbm, part, dip, nb, (c.gid, tag, tid, part, (dip, len(shares)), sram, hbm, data)
        )
    c.dma_bytes += nbytes
    if to_hbm:
        c.sram_rd += nbytes
    else:
        c.sram_wr += nbytes


def _shares(hbm: Box, span: int, dips: int) -> list[tuple[int, int]]:
    """(DIP, bytes) of a striped transfer: the time shares of :func:`dip_shares`, plus a part of 0
    bytes for any other DIP holding some of its bytes (so every byte moves with its own DIP)."""
    addr, rows, row_bytes, stride = hbm
    shares = dip_shares(addr, rows * row_bytes, span, dips)
    if len(shares) == dips:
        return shares
    starts = (addr & ((1 << DIP_SHIFT) - 1)) + np.arange(rows, dtype=np.int64) * stride
    first, last = starts // STRIPE_BYTES, (starts + row_bytes - 1) // STRIPE_BYTES
    k = np.arange(dips)
    touched = (first[:, None] + k)[k <= (last - first)[:, None]]  # each row's stripes (<= dips)
    held = set(np.unique(touched % dips).tolist())
    have = {d for d, _ in shares}
    return sorted(shares + [(d, 0) for d in held - have])


def _start(c, to_hbm: bool, part: int, dip: int, nbytes: int, job: tuple) -> None:
    m = c.m
    at = m.dip_pos[dip]
    t0 = c.now + m.costs.dma_setup
    if to_hbm:
        m.net.fly(m, Flight("store", (c.pos, at), t0, -1, nbytes, (c.gid, job[2], part), job))
        return
    arrive = t0 + m.net.latency(c.pos, at)
    m.post(arrive, (c.gid, job[2], (-1 - part, 0)), m.chip_of(at), "dma.req", c.pos, nbytes, job)


@handler("dma.req")
def _request(m, time: int, pos, nbytes: int, job: tuple) -> None:
    """A load request reaches its DIP: the DIP reads HBM and streams the bytes to the core."""
    gid, tag, tid, part, (dip, parts), sram, hbm, _ = job
    s = max(time, m.dip_free[dip])
    m.dip_free[dip] = done = s + m.costs.dip.cycles(nbytes)
    data = None
    if m.full:
        data = m.hbm.read_rows(hbm[0], hbm[1], hbm[2], hbm[3])
    job = (gid, tag, tid, part, (dip, parts), sram, hbm, data)
    m.net.fly(m, Flight("load", (m.dip_pos[dip], pos), s, done, nbytes, (gid, tid, part), job))


def _loaded(m, fl: Flight) -> None:
    """A load part's tail reached its core."""
    gid, tag, tid, part, (dip, parts), sram, hbm, data = fl.payload
    c = m.cores[gid]
    if data is not None:
        c.landed[tag].append((tid, part, sram, data, owned(hbm, len(m.dip_free), dip, parts)))
    complete(m, c, tag, tid, fl.arrival)


def _stored(m, fl: Flight) -> None:
    """A store part reached its DIP: the DIP writes its stripes and acknowledges."""
    gid, tag, tid, part, (dip, parts), _sram, hbm, data = fl.payload
    s = max(fl.head, m.dip_free[dip])
    m.dip_free[dip] = done = max(s + m.costs.dip.cycles(fl.nbytes), fl.arrival)
    if data is not None:
        _write_hbm(m, hbm, data, owned(hbm, len(m.dip_free), dip, parts))
    core = fl.way[0]
    ack = done + m.net.latency(fl.way[-1], core)
    m.post(ack, (gid, tid, (-1 - part, 1)), m.chip_of(core), "dma.ack", gid, tag, tid, ack)


ARRIVALS["load"], ARRIVALS["store"] = _loaded, _stored


def _write_hbm(m, hbm: Box, data: np.ndarray, mask: np.ndarray | None) -> None:
    addr, rows, row_bytes, stride = hbm
    if mask is not None:
        data = np.where(mask, data, m.hbm.read_rows(addr, rows, row_bytes, stride))
    m.hbm.write_rows(addr, np.ascontiguousarray(data), stride)


@handler("dma.ack")
def _ack(m, time: int, gid: int, tag: int, tid: int, done: int) -> None:
    complete(m, m.cores[gid], tag, tid, done)


def complete(m, c, tag: int, tid: int, done: int) -> None:
    """One part of transfer ``tid`` of core ``c`` completed at ``done``."""
    if done > c.dma_done[tag]:
        c.dma_done[tag] = done
    c.pending[tag] -= 1
    rec = c.transfers[tid]
    rec[0] -= 1
    rec[1] = max(rec[1], done)
    if rec[0] == 0:
        del c.transfers[tid]
        if m.trace is not None:
            _, end, what, issued, nbytes, where = rec
            args = {"bytes": nbytes, "core" if what == "copy" else "dip": where, "tag": tag}
            m.trace.append((what, c.gid, issued, end - issued, args))
    if c.wait == ("dma", tag) and not c.pending[tag]:
        m.wake(c, c.dma_done[tag])


def _land(c, tag: int) -> None:
    """Write the bytes of the tag's completed loads into SRAM, in issue order."""
    for _, _, sram, data, mask in sorted(c.landed[tag], key=lambda e: e[:2]):
        addr, rows, row_bytes, pitch = sram
        if mask is not None:
            data = np.where(mask, data, read_bytes(c.mem, addr, rows, row_bytes, pitch))
        write_bytes(c.mem, addr, data, pitch)
    c.landed[tag].clear()


def ex_dma(c, pc, op):
    _, to_hbm, tile, lo, hi, stride, tag = op
    if synced(c):
        return YIELD
    g = check(c, tile, "dma.st" if to_hbm else "dma.ld")
    if g.nbytes:
        x, d = c.x, c.t[tile]
        sram = (d.base, g.rows, g.row_bytes, d.stride or g.row_bytes)
        _transfer(c, to_hbm, sram, (hbm_addr(x[lo], x[hi]), g.rows, g.row_bytes, x[stride]), tag)
    c.now += 1
    return pc + 1


def ex_dma_list(c, pc, op):
    _, a, n, tag = op
    if synced(c):
        return YIELD
    addr, count = c.x[a], c.x[n]
    check_word(addr, c.mem.size, "dma.list descriptors", count * DMA_DESC_BYTES)
    words = c.mem32[addr >> 2 : (addr >> 2) + count * len(DMA_DESC_FIELDS)]
    c.sram_rd += count * DMA_DESC_BYTES
    for desc in dma_list(words):
        what = "dma.list " + ("SRAM source" if desc.to_hbm else "SRAM destination")
        check_span(desc.sram, desc.rows, desc.row_bytes, desc.sram_stride, c.mem.size, what)
        sram = (desc.sram, desc.rows, desc.row_bytes, desc.sram_stride)
        hbm = (desc.hbm, desc.rows, desc.row_bytes, desc.hbm_stride)
        _transfer(c, desc.to_hbm, sram, hbm, tag)
    c.now += 1
    return pc + 1


def ex_dma_wait(c, pc, op):
    _, tag = op
    if c.pending[tag]:
        c.wait = ("dma", tag)
        return BLOCK
    if c.landed[tag]:
        _land(c, tag)
    c.m.stall(c, "dma", c.dma_done[tag])
    c.now += 1
    return pc + 1
