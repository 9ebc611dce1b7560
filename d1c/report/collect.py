"""``d1c report``: where the simulated time, SRAM and NoC traffic of a program go.

:func:`report_source` compiles a MODEL or IR file (or reads a ``.d1x``) and
:func:`report_program` simulates it once with tracing on, then gathers:

- total cycles, seconds at the target clock, MACs and utilization against the target's peak,
  with the roofline bound of the program (:class:`Roofline`);
- a per-op breakdown (:class:`OpRow`): every core marks the start of each kernel it runs
  through (a ``mark`` instruction), so each traced event belongs to the kernel its core was in
  when it started; a kernel's window runs from its first mark to the end of its last event
  (windows overlap: cores wait only for the producers of what they read, not for each other);
  kernel k is the k-th kernel of the program's ``kernels`` blob
  (:mod:`d1c.codegen.kernel_table`: the op, its source line and attributes, stored at compile
  time);
- stall cycles by cause; per-core SRAM high-water marks (:class:`CoreSram`) and per-chip sums;
- bytes per NoC link: simulated messages and DMA streams, and (for comparison) the compile-time
  routes of the DMA streams (:func:`d1c.passes.route.link_loads`, from the program's kernels
  blob).

Rendering lives in :mod:`d1c.report.render` (terminal, JSON, HTML) and :mod:`d1c.report.plot`.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from d1c.codegen.kernel_table import KernelInfo, Link, read_kernel_table
from d1c.codegen.sram import align
from d1c.isa.d1x import D1xProgram
from d1c.isa.tiles import ELEM_BYTES
from d1c.progress import stage
from d1c.runtime.result import SimResult
from d1c.runtime.trace import Event, category
from d1c.target import DEFAULT_TARGET, Target

Coord = tuple[int, int, int, int]
STALLS = ("recv", "barrier", "sem", "dma")
STAGES = 3  # the stage() calls of report_source for a model (a .d1x takes 2)


@dataclass(frozen=True, slots=True)
class OpRow:
    """One kernel: its op, source, wall-clock window, and what its cores did in it."""

    index: int
    op: str
    loc: str
    source: str
    start: int
    cycles: int
    macs: int = 0
    compute: int = 0  # core-cycles in tile ops, summed over cores
    dma: int = 0  # DMA cycles (issue to completion), summed over transfers
    stalls: dict[str, int] = field(default_factory=dict)
    sram: int | None = None  # the op's ``sram`` attribute (buffer bytes per core), if any
    route: tuple[int, int] | None = None  # the op's ``route`` attribute (hops, busiest link)


@dataclass(frozen=True, slots=True)
class CoreSram:
    """SRAM of one core: tile buffers (the highest tile end it used), its static image of work
    records and DMA lists, the parameter row, and the high-water mark of all three."""

    coord: Coord
    buffers: int
    records: int
    params: int
    peak: int


@dataclass(frozen=True, slots=True)
class Roofline:
    """MACs against bytes from DIP HBM: the fastest the program could be on this target."""

    macs: int
    bytes: int  # bytes the program moves between HBM and SRAM (its DMAs)
    compulsory: int  # inputs, outputs and constants, each moved once
    peak_macs_per_cycle: int
    dip_bytes_per_cycle: float

    def cycles(self, nbytes: int | None = None) -> float:
        """The roofline time: the larger of compute time at peak and transfer time at full DIP
        bandwidth (for ``nbytes``, default the program's own DMA bytes)."""
        moved = self.bytes if nbytes is None else nbytes
        return max(self.macs / self.peak_macs_per_cycle, moved / self.dip_bytes_per_cycle)

    def bound(self, nbytes: int | None = None) -> str:
        moved = self.bytes if nbytes is None else nbytes
        mem = moved / self.dip_bytes_per_cycle
        return "memory" if mem > self.macs / self.peak_macs_per_cycle else "compute"


@dataclass
class Report:
    """Everything ``d1c report`` shows; :mod:`d1c.report.render` turns it into text/JSON/HTML."""

    name: str
    target: Target
    dtype: str | None
    result: SimResult
    ops: list[OpRow]
    sram: list[CoreSram]
    links: dict[Link, int]
    dma_links: dict[Link, int]
    roofline: Roofline
    timing_only: bool = False
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def cycles(self) -> int:
        return self.result.cycles

    @property
    def seconds(self) -> float:
        return self.result.seconds

    @property
    def macs(self) -> int:
        return self.result.total("macs")

    @property
    def utilization(self) -> float:
        """MACs over what the whole target could do in the same cycles."""
        return self.macs / (self.target.peak_macs_per_cycle * max(self.cycles, 1))

    @property
    def stalls(self) -> dict[str, int]:
        """Stall cycles by cause summed over cores, largest first."""
        tot = {k: sum(s.stall.get(k, 0) for s in self.result.cores.values()) for k in STALLS}
        return dict(sorted(tot.items(), key=lambda kv: -kv[1]))

    def chips(self) -> list[dict]:
        """Per chip: cores used, the largest core peak and the sum of peaks, against capacity."""
        by: dict[tuple[int, int], list[CoreSram]] = defaultdict(list)
        for row in self.sram:
            by[row.coord[:2]].append(row)
        cap = self.target.cores_per_chip * self.target.sram_bytes
        return [
            {
                "chip": f"{cx}.{cy}",
                "cores": len(rows),
                "max_core_peak": max(r.peak for r in rows),
                "total_peak": sum(r.peak for r in rows),
                "capacity": cap,
            }
            for (cx, cy), rows in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ]


# ---------------------------------------------------------------- kernels -> ops
def _spans(res: SimResult) -> dict:
    """Per core: the sorted (time, kernel) of its ``mark`` events (each core marks the start of
    every kernel it runs through, :func:`d1c.codegen.isel.kernel_head`)."""
    marks: dict = defaultdict(list)
    for name, core, start, _, args in res.trace or ():
        if name == "mark":
            marks[core].append((start, args["id"]))
    return {core: sorted(ms) for core, ms in marks.items()}


def _kernel_of(ev: Event, spans: dict) -> int | None:
    """The kernel the event's core was in when the event started (None: before any mark)."""
    marks = spans.get(ev[1])
    if not marks:
        return None
    i = bisect.bisect_right(marks, (ev[2], float("inf"))) - 1
    return marks[i][1] if i >= 0 else None


def _per_kernel(res: SimResult, n: int) -> list[dict]:
    """Per kernel: the earliest mark, the latest end of its events, and the sums of its cores'
    events (a last entry collects what happened after the last kernel or outside any)."""
    spans = _spans(res)
    acc = [
        {"start": None, "end": 0, "macs": 0, "compute": 0, "dma": 0, "stalls": defaultdict(int)}
        for _ in range(n + 1)
    ]
    for ev in res.trace or ():
        name, _, start, dur, args = ev
        k = _kernel_of(ev, spans)
        a = acc[n if k is None or k >= n else k]
        if name == "mark":
            a["start"] = start if a["start"] is None else min(a["start"], start)
            continue
        a["end"] = max(a["end"], start + dur)
        kind = category(name)
        if kind == "stall":
            a["stalls"][name[6:]] += dur
        elif kind in ("compute", "dma", "copy"):
            a["dma" if kind == "copy" else kind] += dur  # SRAM copies are DMAs too
        if name == "mma":
            a["macs"] += args["m"] * args["n"] * args["k"]
    return acc


def op_rows(
    res: SimResult, kernels: list[KernelInfo] | None, count: int | None = None
) -> list[OpRow]:
    """One row per kernel: from the first core's start of it to the end of the last event any
    core had in it (kernels overlap: cores only wait for the producers of what they read), plus
    a ``(tail)`` row for events outside every kernel. Kernels are named by ``kernels`` when it
    has one entry per kernel (``count`` of them), else ``kernel K``."""
    n = count if count is not None else len(kernels or ())
    named = kernels if kernels is not None and len(kernels) == n else None
    sums = _per_kernel(res, n)
    rows = []
    for k in range(n + 1):
        s = sums[k]
        if k == n and not s["compute"] and not s["dma"] and not s["stalls"]:
            break
        info = _label(named, k, n)
        start = s["start"] if s["start"] is not None else 0
        rows.append(OpRow(k, info.op, info.loc, info.source, start, max(s["end"] - start, 0),
                          s["macs"], s["compute"], s["dma"], dict(s["stalls"]), info.sram,
                          info.route))  # fmt: skip
    return rows


def _label(named: list[KernelInfo] | None, k: int, n: int) -> KernelInfo:
    if k == n:
        return KernelInfo("(tail)")
    return named[k] if named is not None else KernelInfo(f"kernel {k}")


# ---------------------------------------------------------------- SRAM and roofline
def core_sram(prog: D1xProgram, res: SimResult) -> list[CoreSram]:
    """Per core: buffers = its tile high-water mark, records = its SRAM image, params = the
    parameter row; peak = the image's end (images sit above the buffers) or the aligned buffers,
    whichever is higher, plus the row, as :mod:`d1c.passes.allocate_sram` counts it."""
    images: dict[Coord, tuple[int, int]] = {}
    for img in prog.sram:
        for r in img.cores:
            spans = [range(a, b + 1) for a, b in zip(r.lo, r.hi, strict=True)]
            for coord in itertools.product(*spans):
                lo, hi = images.get(coord, (img.addr, 0))
                images[coord] = (min(lo, img.addr), max(hi, img.addr + len(img.data)))
    params = 4 * prog.param_words
    out = []
    for coord, s in sorted(res.cores.items()):
        lo, hi = images.get(coord, (0, 0))
        top = max(hi, align(s.sram_hwm))
        out.append(CoreSram(coord, s.sram_hwm, hi - lo, params, top + params))
    return out


def compulsory_bytes(prog: D1xProgram) -> int:
    """Inputs and outputs (device formats) and constant HBM images, each counted once."""
    syms = sum(_size(s.shape) * ELEM_BYTES[s.fmt] for s in prog.symbols)
    return syms + sum(len(img.data) for img in prog.hbm)


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def roofline(prog: D1xProgram, res: SimResult, target: Target) -> Roofline:
    dip = target.dip
    per_dip = min(float(dip["hbm_bytes_per_s"]), float(dip["link_bytes_per_s"]))
    bw = int(dip["count"]) * per_dip / target.clock_hz
    return Roofline(res.total("macs"), res.total("dma_bytes"), compulsory_bytes(prog),
                    target.peak_macs_per_cycle, bw)  # fmt: skip


# ---------------------------------------------------------------- entry points
def report_program(
    prog: D1xProgram,
    target: Target,
    inputs: dict | None = None,
    *,
    name: str = "program",
    dtype: str | None = None,
    timing_only: bool = False,
    sim: dict | None = None,
) -> Report:
    """Simulate ``prog`` once (traced; ``sim``: extra ``simulate`` arguments such as
    ``workers``) and gather the report; the program's ``kernels`` blob
    (:mod:`d1c.codegen.kernel_table`) names the kernels and gives the compile-time DMA link
    loads."""
    from d1c.runtime.sim import simulate

    res = simulate(
        prog, target, None if timing_only else inputs, timing_only=timing_only, trace=True,
        **(sim or {}),
    )  # fmt: skip
    kernels, dma_links = read_kernel_table(prog)
    count = len(kernels) if kernels is not None else int(dict(prog.meta).get("kernels", 0))
    return Report(name, target, dtype, res, op_rows(res, kernels, count), core_sram(prog, res),
                  dict(res.link_bytes), dma_links, roofline(prog, res, target), timing_only,
                  dict(prog.meta))  # fmt: skip


def report_source(
    spec: str, target: str | None = None, dtype: str = "bf16", *, timing_only: bool = False,
    sim: dict | None = None,
) -> Report:  # fmt: skip
    """Compile a MODEL or IR file for ``target`` (default ``dojo-tile``) and report on it; a
    ``.d1x`` program runs as it is (on its own target unless one is given), on seeded inputs."""
    from d1c import driver
    from d1c.target import load_target

    if spec.endswith(".d1x"):
        stage("read the program")
        prog = _read_program(spec)
        tgt = load_target(target or prog.target)
        stage("simulate")
        return report_program(prog, tgt, seeded_inputs(prog), name=Path(spec).stem,
                              timing_only=timing_only, sim=sim)  # fmt: skip
    stage("load the model")
    src = driver.load_source(spec)
    inputs = src.inputs if src.inputs is not None else driver.random_inputs(src.module)
    opts = driver.Options(target or DEFAULT_TARGET, dtype, tuple(inputs))
    stage("compile")
    placed = driver.compile_stages(src.module, "placed", opts)["placed"]
    prog = driver.build(placed, opts)
    from d1c.codegen.emit import input_arrays

    arrays = input_arrays(placed.main, inputs, prog)
    stage("simulate")
    return report_program(prog, load_target(opts.target), arrays, name=src.module.name,
                          dtype=dtype, timing_only=timing_only, sim=sim)  # fmt: skip


def _read_program(path: str) -> D1xProgram:
    from d1c.errors import D1cError
    from d1c.isa.d1x import read_d1x

    try:
        return read_d1x(Path(path).read_bytes())
    except OSError as err:
        raise D1cError(f"cannot read {path}: {err.strerror}") from None


def seeded_inputs(prog: D1xProgram, seed: int = 0) -> dict:
    """Seeded inputs for every argument of the program (standard normal, integers 0..7 for
    ``i32``), per input symbol: an argument packed in two formats gets the same values in both."""
    import numpy as np

    from d1c.isa.d1x import argument_of, symbol_inputs

    rng = np.random.default_rng(seed)
    args = {}
    for s in prog.symbols:
        if s.role != "input" or argument_of(s.name) in args:
            continue
        if s.fmt == "i32":
            args[argument_of(s.name)] = rng.integers(0, 8, size=s.shape).astype(np.int32)
        else:
            args[argument_of(s.name)] = rng.standard_normal(s.shape).astype(np.float32)
    return symbol_inputs(prog, args)
