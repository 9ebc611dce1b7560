"""Every core's SRAM layout and the compile-time proof that it fits (run by ``allocate-sram``
and by :func:`emit <d1c.codegen.emit.build_program>`).

Per core, SRAM holds (low to high):

- the kernel buffers (operand, staging and result tiles of :mod:`d1c.codegen.plan`), live
  only while their kernel runs: kernels run one after another, so every kernel's buffers start at
  address 0 and a core reserves the largest buffers of the kernels *it works in*;
- the static image of its work records and DMA descriptor lists (:mod:`d1c.codegen.isel`), loaded
  with the program and live for all of it, from the first 64-byte boundary above its buffers;
- at the top, the parameter-table row ``[cores, records of kernel 0, count, ...]``, at the same
  64-byte aligned address on every core (the program header names one ``param`` address).

A core fits iff its static image ends at or below the parameter row. Tensors never need SRAM
between kernels: they live in DIP HBM and stream in and out by DMA (docs/lowering.md §3), so the
peak of a core is its largest buffers plus its records plus the row. The pass records on every
kernel op ``sram`` = the bytes of that kernel's buffers on each core, and raises a CompileError
naming the worst core, the buffers live at its peak and a hint when a core does not fit.
:func:`emit <d1c.codegen.emit.build_program>` lays SRAM out with the same functions, so the proof
is about the program that runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from d1c.codegen.isel import CREDITS, CoreImage, record
from d1c.codegen.kinds import esize
from d1c.codegen.plan import KernelPlan
from d1c.codegen.sync import Sync, plan_sync
from d1c.errors import CompileError
from d1c.ir import Function, Op, Value
from d1c.isa.semantics import pack_coord
from d1c.isa.tiles import TDesc
from d1c.target import Target
from d1c.target.mesh import Coord, fmt_coord

ALIGN = 64
PARAM_HEAD = 1  # the parameter row starts [cores in the program], then per kernel


def align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass(frozen=True)
class Layout:
    """What every core of a program shares: the parameter row's address and size."""

    sram_bytes: int
    buffers: int  # bytes of the largest kernel's buffers (aligned), for reports
    param_addr: int
    param_words: int

    @property
    def param_bytes(self) -> int:
        return 4 * self.param_words


def layout_of(plans: list[KernelPlan], target: Target) -> Layout:
    words = PARAM_HEAD + 2 * len(plans)
    param_addr = (target.sram_bytes - 4 * words) // ALIGN * ALIGN
    buffers = align(max((p.buffer_bytes for p in plans), default=0))
    return Layout(target.sram_bytes, buffers, param_addr, words)


@dataclass
class CoreSram:
    """One core's SRAM: its static image (records and DMA lists from ``image.base``), its
    parameter row, the record bytes of each kernel, and the kernel whose buffers are largest."""

    index: int  # the core's index in every plan's ``items``
    coord: Coord
    image: CoreImage
    row: list[int]
    records: list[int] = field(default_factory=list)
    peak_kernel: int | None = None
    mailbox: int = 0  # bytes kept free for messages that arrive before their recv

    def peak(self, lay: Layout) -> int:
        """Bytes in use at this core's peak: buffers, homes, records and lists, the mailbox and
        the parameter row."""
        return self.image.top + self.mailbox + lay.param_bytes

    def overflows(self, lay: Layout) -> bool:
        """Whether the image and the mailbox reach into the parameter row."""
        return self.image.top + self.mailbox > lay.param_addr


def early_message_bytes(op: Op) -> int:
    """SRAM bytes for the operand tiles of a systolic matmul (``grid``) that may arrive before
    their ``recv``: :data:`d1c.codegen.isel.CREDITS` steps of A and B (else 0). The simulator
    counts such messages against the SRAM a core does not use (:mod:`d1c.runtime.comm`), so the
    compiler keeps that much free on every core of the grid: its *mailbox*, above the image."""
    if "grid" not in op.attrs:
        return 0
    tm, tn, tk = op.attrs["tile"]
    a, b = op.operands
    return CREDITS * (tm * tk * esize(a.type) + tk * tn * esize(b.type))


def core_sram(
    plans: list[KernelPlan], index: int, coords: list[Coord], sync: Sync, floor: int = 0
) -> CoreSram:
    """Lay out core ``index``: its image starts above the largest buffers of its kernels and
    above ``floor`` (the end of its resident tensors, :mod:`d1c.codegen.memory`). Per kernel it
    works in, the row points at the kernel's token lists (:func:`token_words`) followed by its
    work records."""
    mine = [k for k, p in enumerate(plans) if p.items.get(index)]
    peak = max(mine, key=lambda k: plans[k].buffer_bytes, default=None)
    base = max(0 if peak is None else align(plans[peak].buffer_bytes), align(floor))
    mailbox = max((early_message_bytes(plans[k].op) for k in mine), default=0)
    core = CoreSram(
        index, coords[index], CoreImage(base), [len(coords)], peak_kernel=peak, mailbox=mailbox
    )
    for k, plan in enumerate(plans):
        items = plan.items.get(index, [])
        start = core.image.top
        if items:
            words = token_words(sync, index, k, coords)
            words += [w for item in items for w in record(core.image, item, coords)]
            core.row += [core.image.put(words), len(items)]
        else:
            core.row += [0, 0]
        core.records.append(core.image.top - start)
    return core


def token_words(sync: Sync, index: int, k: int, coords: list[Coord]) -> list[int]:
    """``[waits, coord...]`` if any core takes tokens before kernel ``k``, then ``[tells,
    coord...]`` if any core tells after it: the packed coordinates of the cores this core takes
    a token from (one entry per token) and tells."""
    waiting, telling = sync.kinds(k)
    waits = [pack_coord(*coords[w]) for w in sync.wait_list(index, k)]
    tells = [pack_coord(*coords[r]) for r in sync.tell_list(index, k)]
    return [len(waits), *waits] * waiting + [len(tells), *tells] * telling


_LAST: dict[tuple, tuple[list[KernelPlan], list[CoreSram]]] = {}


def core_srams(
    plans: list[KernelPlan],
    coords: list[Coord],
    sync: Sync | None = None,
    floors: dict[int, int] | None = None,
) -> list[CoreSram]:
    """Every core's layout, in core order (index i of a plan's ``items`` is ``coords[i]``), with
    the tokens of ``sync`` (default: :func:`d1c.codegen.sync.plan_sync` of the plans) above the
    ``floors`` of the cores. The layout of the last (memoised, read-only) plans is kept for
    ``emit``."""
    key = (id(plans), tuple(coords))
    hit = _LAST.get(key)
    if hit is not None and hit[0] is plans:
        return hit[1]
    sync = sync if sync is not None else plan_sync(plans)
    floors = floors or {}
    cores = [core_sram(plans, i, coords, sync, floors.get(i, 0)) for i in range(len(coords))]
    _LAST.clear()
    _LAST[key] = (plans, cores)
    return cores


def sram_peak(cores: list[CoreSram], lay: Layout) -> int:
    """Bytes of SRAM the busiest core uses."""
    return max((c.peak(lay) for c in cores), default=lay.param_bytes)


def prove_fit(plans: list[KernelPlan], lay: Layout, cores: list[CoreSram], func: Function) -> None:
    """The compile-time proof that every core's SRAM fits; else a CompileError on the worst core."""
    over = [c for c in cores if c.overflows(lay)]
    if not over:
        return
    worst = max(over, key=lambda c: c.image.top + c.mailbox)
    raise _overflow(plans, lay, worst, len(over), len(cores), value_names(func))


# ---------------------------------------------------------------------------------------------
# The overflow report


def value_names(func: Function) -> dict[Value, str]:
    """Op results named ``%0, %1, ...`` in program order, as the canonical printer names them."""
    results = [r for op in func.ops for r in op.results]
    return {r: f"%{i}" for i, r in enumerate(results)}


Row = tuple[str, int, str, Op | None]  # name, bytes, lifetime, op (for its source line)


MAX_RECORD_ROWS = 6  # kernels whose records are listed one by one; the rest share a row


def live_at_peak(plans: list[KernelPlan], lay: Layout, core: CoreSram, names) -> list[Row]:
    """The buffers live at ``core``'s peak: the largest kernel buffers it reserves, every
    kernel's records and DMA lists on it (biggest first), and the parameter row."""
    everything = f"kernels 0-{len(plans) - 1}" if len(plans) > 1 else "kernel 0"
    rows: list[Row] = []
    if core.peak_kernel is not None:
        plan = plans[core.peak_kernel]
        life = f"kernel {core.peak_kernel}"
        rows += [(n, b, life, plan.op) for n, b in kernel_buffers(plan, names)]
    buffers = align(plans[core.peak_kernel].buffer_bytes) if core.peak_kernel is not None else 0
    if core.image.base > buffers:
        rows.append(("tensors kept between kernels", core.image.base - buffers, everything, None))
    recs = sorted(((b, k) for k, b in enumerate(core.records) if b), key=lambda bk: (-bk[0], bk[1]))
    for nbytes, k in recs[:MAX_RECORD_ROWS]:
        name = f"{names[plans[k].op.result]} work records and DMA lists ({_work(plans[k], core)})"
        rows.append((name, nbytes, everything, plans[k].op))
    rest = recs[MAX_RECORD_ROWS:]
    if rest:
        name = f"work records and DMA lists of {_count(len(rest), 'more kernel')}"
        rows.append((name, sum(b for b, _ in rest), everything, None))
    if core.mailbox:
        rows.append(("mailbox for early systolic tiles", core.mailbox, everything, None))
    rows.append(("parameter row", lay.param_bytes, everything, None))
    return rows


def _work(plan: KernelPlan, core: CoreSram) -> str:
    """``3 tiles`` or ``1 tile, 57 steps`` of a kernel on a core."""
    items = plan.items.get(core.index, [])
    steps = sum(len(item.steps) for item in items)
    tiles = _count(len(items), "tile")
    return tiles if steps <= len(items) else f"{tiles}, {_count(steps, 'step')}"


def kernel_buffers(plan: KernelPlan, names: dict[Value, str]) -> list[tuple[str, int]]:
    """(name, bytes) of each buffer of a kernel, from the tiles its first work item uses:
    ``%7 operand 1 tile 64x128 bf16``. Bytes run to the next buffer (allocations are aligned)."""
    first = next((items[0] for items in plan.items.values() if items), None)
    if first is None:
        return []
    roles = {first.out.base: ("result", first.out)}
    step = first.steps[0] if first.steps else None
    for i, t in enumerate(step.tiles if step else ()):
        roles.setdefault(t.base, (f"operand {i}", t))
    for staged, final in step.trans if step else ():
        i = step.tiles.index(final)
        roles.setdefault(staged.base, (f"operand {i} staging (transposed)", staged))
    addrs = sorted(roles)
    ends = [*addrs[1:], plan.buffer_bytes]
    v = names[plan.op.result]
    return [(f"{v} {_tile_name(*roles[a])}", e - a) for a, e in zip(addrs, ends, strict=True)]


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _tile_name(role: str, t: TDesc) -> str:
    fmt = t.fmt if t.fmt not in ("cfp8_143", "cfp8_152", "shp") else f"{t.fmt}<{t.bias}>"
    return f"{role} tile {t.rows}x{t.cols} {fmt}"


def _overflow(plans, lay: Layout, core: CoreSram, n_over: int, ncores: int, names) -> CompileError:
    need, have = core.peak(lay), lay.sram_bytes
    rows = live_at_peak(plans, lay, core, names)
    width = max(len(r[0]) for r in rows)
    lines = [
        f"core {fmt_coord(core.coord)} needs {need:,} bytes of SRAM but has {have:,} "
        f"({n_over} of the program's {ncores} cores overflow); live at its peak:"
    ]
    lines += [
        f"  {n:<{width}}  {b:>10,} B  {life:<12}  {_line(op)}".rstrip() for n, b, life, op in rows
    ]
    op = plans[core.peak_kernel].op if core.peak_kernel is not None else None
    return CompileError("\n".join(lines), op.loc if op else None, hint=_hint(core, plans))


def _line(op: Op | None) -> str:
    return "" if op is None or op.loc is None else f"{op.loc.file}:{op.loc.line}"


def _hint(core: CoreSram, plans: list[KernelPlan]) -> str:
    buffers = core.image.base
    records = sum(core.records)
    if buffers >= records:
        k = core.peak_kernel
        return (
            f"the tiles of kernel {k} ('{plans[k].op.name}') are too big for this core: give "
            "it a smaller `tile` attribute in the tiled IR, or use a target with more SRAM per core"
        )
    return (
        "this core's work records and DMA lists (one per tile and step) outgrow its SRAM: use "
        "a target with more cores (records spread over them), bigger tiles or K chunks (fewer "
        "records), or more SRAM per core"
    )
