"""DMA whose far side is a core's SRAM (:func:`d1c.isa.tiles.sram_addr`): this core's or another
running core's, in any region.

Timing (``t`` = issue + ``dma.setup_cycles``; the route latency ``lat`` between the two cores)
    - on one core, a copy at the store bandwidth, one after the other: done at
      ``max(t, previous copy's end) + ceil(B / core.sram_store_bytes_per_cycle)``;
    - a read of another core's SRAM: the request reaches the owner at ``t + lat``, which reads the
      bytes then and sends them back as a flight (:mod:`d1c.runtime.noc`): done when its tail
      arrives;
    - a write into another core's SRAM: the bytes leave at ``t`` as a flight to the owner, and the
      owner's acknowledgement comes back ``lat`` after the tail arrives: done then.

Data: a local copy moves when it issues; a remote read's bytes land in this core's SRAM at the
``dma.wait`` of their tag (like a load from HBM); a remote write's bytes are read at issue and
land in the owner's SRAM at the owner's next instruction that waits for its region (a send,
notify, await, DMA issue, barrier or semaphore instruction, :func:`apply_incoming`) after they
arrived, or at the end of the run: a point of its own instruction stream, so the outcome does not
depend on how chips are grouped into regions. The program (the compiler's tokens) makes sure the
owner awaits the writer's token before it reads them.

Counters: the issuing core counts the bytes in ``copy_bytes`` (``dma_bytes`` counts HBM traffic
only, ``noc_sent`` messages only); the streams still load the NoC links they cross
(``link_bytes``). Traces name these transfers ``copy``.
"""

from __future__ import annotations

import numpy as np

from d1c.isa.errors import SimulationError
from d1c.isa.tiles import split_sram
from d1c.runtime.machine import handler
from d1c.runtime.memory import check_span, read_bytes, write_bytes
from d1c.runtime.noc import ARRIVALS, Flight
from d1c.target.mesh import fmt_coord


def sram_transfer(c, to_far: bool, sram: tuple, far: tuple, tag: int) -> None:
    """A transfer between this core's SRAM box ``sram`` and the SRAM box ``far`` (address,
    rows, row bytes, pitch) of the core its address names (module docstring)."""
    m = c.m
    addr, rows, row_bytes, pitch = far
    gid, off = split_sram(addr)
    what = "dma to SRAM" if to_far else "dma from SRAM"
    if gid not in m.running:
        raise SimulationError(f"{what}: core gid {gid} runs no program (address {addr:#x})")
    name = fmt_coord(m.mesh.coord_of_gid(gid))
    check_span(off, rows, row_bytes, pitch, c.mem.size, f"{what} of {name}")
    nbytes, start = rows * row_bytes, c.now + m.costs.dma_setup
    far = (off, rows, row_bytes, pitch)
    if gid == c.gid:
        _local_copy(c, to_far, sram, far, nbytes, start, tag)
        return
    tid = c.next_seq()
    c.transfers[tid] = [1, 0, "copy", c.now, nbytes, name]
    c.pending[tag] += 1
    owner = m.mesh.pos(m.mesh.coord_of_gid(gid))
    if to_far:
        data = np.array(read_bytes(c.mem, sram[0], rows, row_bytes, sram[3])) if m.full else None
        job = (c.gid, tag, tid, gid, far, data)
        m.net.fly(m, Flight("sram.write", (c.pos, owner), start, -1, nbytes, (c.gid, tid, 0), job))
        c.sram_rd += nbytes
    else:
        job = (c.gid, tag, tid, gid, far, sram)
        at = start + m.net.latency(c.pos, owner)
        m.post(at, (c.gid, tid, (-1, 0)), m.chip_of(owner), "sram.read", c.pos, nbytes, job)
        c.sram_wr += nbytes
    c.copy_bytes += nbytes


def _local_copy(c, to_far: bool, sram: tuple, far: tuple, nbytes: int, start: int, tag: int):
    src, dst = (sram, far) if to_far else (far, sram)
    if c.m.full:
        data = np.array(read_bytes(c.mem, src[0], src[1], src[2], src[3]))
        write_bytes(c.mem, dst[0], data, dst[3])
    done = c.copy_free = max(start, c.copy_free) + c.m.costs.store.cycles(nbytes)
    if done > c.dma_done[tag]:
        c.dma_done[tag] = done
    c.sram_rd += nbytes
    c.sram_wr += nbytes
    c.copy_bytes += nbytes
    if c.m.trace is not None:
        c.m.event("copy", c, c.now, done - c.now, bytes=nbytes, core=c.name, tag=tag)


@handler("sram.read")
def _read(m, time: int, pos, nbytes: int, job: tuple) -> None:
    """A read request reaches the owner: it reads the bytes and sends them back."""
    gid, tag, tid, owner, far, sram = job
    o = m.cores[owner]
    data = None
    if m.full:
        data = np.array(read_bytes(o.mem, far[0], far[1], far[2], far[3]))
    o.sram_rd += nbytes
    back = (gid, tag, tid, sram, data)
    m.net.fly(m, Flight("sram.back", (o.pos, pos), time, -1, nbytes, (gid, tid, 0), back))


def _back(m, fl: Flight) -> None:
    """The bytes of a remote read reached the reader: they land at its dma.wait."""
    from d1c.runtime.dma import complete

    gid, tag, tid, sram, data = fl.payload
    c = m.cores[gid]
    if data is not None:
        c.landed[tag].append((tid, 0, sram, data, None))
    complete(m, c, tag, tid, fl.arrival)


def _wrote(m, fl: Flight) -> None:
    """A remote write reached the owner: its bytes wait for the owner's next synchronising
    instruction; the acknowledgement goes back."""
    gid, tag, tid, owner, far, data = fl.payload
    o = m.cores[owner]
    o.sram_wr += fl.nbytes
    if data is not None:
        o.incoming.append((far, data))
    ack = fl.arrival + m.net.latency(o.pos, fl.way[0])
    m.post(ack, (gid, tid, (-1, 1)), m.chip_of(fl.way[0]), "dma.ack", gid, tag, tid, ack)


ARRIVALS["sram.back"], ARRIVALS["sram.write"] = _back, _wrote


def apply_incoming(c) -> None:
    """Write the remote writes that reached ``c`` into its SRAM, in arrival order."""
    for (off, rows, row_bytes, pitch), data in c.incoming:
        write_bytes(c.mem, off, data.reshape(rows, row_bytes), pitch)
    c.incoming.clear()
