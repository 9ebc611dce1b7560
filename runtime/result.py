"""What a simulation returns: :class:`SimResult` with per-core :class:`CoreStats`, fault messages
with their core/pc/instruction context, and the Chrome/Perfetto trace writer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from d1c.isa.disasm import format_inst
from d1c.isa.errors import SimulationError
from d1c.runtime.trace import Barrier, Event, chrome_trace, write_json
from d1c.target.mesh import Coord, fmt_coord


@dataclass(frozen=True)
class CoreStats:
    """Counters of one core. ``stall`` maps a cause (recv, barrier, sem, dma) to cycles."""

    finish: int
    instructions: int
    macs: int
    vector_ops: int
    sram_read: int
    sram_written: int
    noc_sent: int
    noc_received: int
    dma_bytes: int  # bytes moved between DIP HBM and this core's SRAM
    stall: dict[str, int]
    flags: int
    sram_hwm: int = 0  # end of the highest SRAM tile the core used (0: none)
    copy_bytes: int = 0  # bytes this core's DMAs copied from or to an SRAM (its own or another's)


@dataclass(frozen=True)
class SimResult:
    """Outputs (float32 values and raw codes), cycles, per-core counters, bytes per link, the
    barrier releases in program order (:data:`~d1c.runtime.trace.Barrier`; a compiled program's
    kernel k ends at release k) and, when traced, the recorded events (:mod:`d1c.runtime.trace`)."""

    cycles: int
    clock_hz: float
    outputs: dict[str, np.ndarray]
    output_codes: dict[str, np.ndarray]
    cores: dict[Coord, CoreStats]
    link_bytes: dict[tuple[int, int, str], int]
    undelivered: int = 0
    trace: list[Event] | None = None
    barriers: tuple[Barrier, ...] = ()

    @property
    def seconds(self) -> float:
        """Simulated time at the target's clock."""
        return self.cycles / self.clock_hz

    @property
    def flags(self) -> dict[Coord, int]:
        """The sticky FP flags of every core at the end."""
        return {k: s.flags for k, s in self.cores.items()}

    def total(self, counter: str) -> int:
        """A counter summed over cores (e.g. ``"macs"``)."""
        return sum(getattr(s, counter) for s in self.cores.values())

    def summary(self) -> str:
        """A few human-readable lines: time, work, traffic."""
        stalls = {
            k: sum(s.stall[k] for s in self.cores.values())
            for k in ("recv", "barrier", "sem", "dma")
        }
        return "\n".join(
            [
                f"cycles: {self.cycles} ({self.seconds * 1e6:.3f} us at {self.clock_hz / 1e9:g} GHz)",
                f"cores: {len(self.cores)}, instructions: {self.total('instructions')}, MACs: {self.total('macs')}, vector ops: {self.total('vector_ops')}",
                f"NoC bytes: {self.total('noc_sent')}, DMA bytes: {self.total('dma_bytes')}, links used: {len(self.link_bytes)}",
                "stall cycles: " + ", ".join(f"{k} {v}" for k, v in stalls.items()),
            ]
        )


def core_stats(c) -> CoreStats:
    """The counters of a finished core (it finishes at its halt or its last DMA completion)."""
    return CoreStats(
        finish=max(c.now, *c.dma_done),
        instructions=c.count,
        macs=c.macs,
        vector_ops=c.vops,
        sram_read=c.sram_rd,
        sram_written=c.sram_wr,
        noc_sent=c.noc_tx,
        noc_received=c.noc_rx,
        dma_bytes=c.dma_bytes,
        stall=dict(c.stall),
        flags=int(c.flags.bits),
        sram_hwm=c.hwm,
        copy_bytes=c.copy_bytes,
    )


def fault_context(c, pc: int, message: str) -> SimulationError:
    """A fault naming the core, pc, instruction and cycle."""
    sec, insts = c.section
    text = "(past the end)"
    if 0 <= pc < len(insts):
        inst = insts[pc]
        text = format_inst(inst, pc) if inst is not None else "(invalid word)"
    return SimulationError(
        f"core {fmt_coord(c.coord)} pc {4 * pc:#x} in section {sec.name!r} at cycle {c.now}: "
        f"{text}: {message}"
    )


def write_trace(res: SimResult, target, path: str | Path | bool | None) -> SimResult:
    """Write the Chrome/Perfetto trace of ``res`` to ``path`` if it is one; returns ``res``."""
    if isinstance(path, str | Path):
        finish = {c: s.finish for c, s in res.cores.items()}
        trace = chrome_trace(
            res.trace or [], list(res.barriers), target.chips[0], res.clock_hz, finish=finish
        )
        write_json(trace, path)
    return res
