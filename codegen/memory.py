"""Where tensors live between kernels (execution model v2, docs/lowering.md §3).

``place`` gives every intermediate tensor (a kernel's result that is not a function output) an
address in the *logical* tensor space (:data:`LOGICAL`), and the kernels are planned against
those addresses as if they were HBM. This module then decides, per tensor, its *home*:

- **SRAM** (resident): each tile stays on the core that computed it. The store of a result tile
  becomes a copy into a persistent region of that core's SRAM (a DMA to the core's own SRAM), and
  a consumer reads the tile from there over the NoC (a DMA from that core's SRAM,
  :func:`d1c.isa.tiles.sram_addr`), in the consumer's own tile shape: a consumer row that spans
  tiles of several producers becomes one descriptor per producer.
- **HBM** (spilled): the tensor gets a DIP HBM range after the program's other tensors, as in
  execution model v1, when the SRAM of one of its producer cores has no room for it.

Per core, a resident tensor occupies its part (the bytes of the tiles the core produced) from
the kernel that produces it to the last kernel, on any core, that reads it. Parts are allocated
first-fit in program order between the core's kernel buffers and its static image of records.
A part that reuses bytes of an earlier tensor is written only after every core that read that
tensor finished reading it: the core waits for a token from each reader
(:mod:`d1c.codegen.sync`, "write after read"). If the records of a core end up larger than the
room that was left for them, the largest tensor resident on that core is spilled and the layout
is made again.

Translation keeps the plans' structure (work items, steps, tile descriptors): only the far side
of DMA descriptors changes, so every kernel kind, fused epilogue and systolic chain works on
resident tensors unchanged.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field, replace

import numpy as np

from d1c.codegen.plan import KernelPlan, WorkItem
from d1c.isa.errors import InternalError
from d1c.isa.tiles import LOGICAL, DmaDesc, sram_addr

ALIGN = 64


def is_logical(addr: int) -> bool:
    return LOGICAL <= addr < 2 * LOGICAL


def align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass(frozen=True)
class Tensor:
    """An intermediate tensor's logical range, its producing kernel and the last kernel that
    reads it (its producer's index if nothing does)."""

    start: int
    end: int
    producer: int
    last_read: int


@dataclass
class Runs:
    """Where a resident tensor's logical bytes are: sorted disjoint ranges [start, end), each on
    ``core`` at SRAM ``phys`` (its first byte)."""

    start: np.ndarray
    end: np.ndarray
    core: np.ndarray
    phys: np.ndarray


@dataclass
class Memory:
    """The homes of a program's intermediate tensors."""

    tensors: list[Tensor]
    resident: set[int] = field(default_factory=set)  # tensor indices homed in SRAM
    hbm: dict[int, int] = field(default_factory=dict)  # tensor index -> HBM address (spilled)
    parts: dict[tuple[int, int], int] = field(default_factory=dict)  # (tensor, core) -> SRAM
    tops: dict[int, int] = field(default_factory=dict)  # core -> end of its resident parts
    readers: dict[int, dict[int, int]] = field(default_factory=dict)  # tensor -> core -> last k

    def tensor_of(self, addr: int) -> int:
        """The index of the tensor whose logical range holds ``addr``."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i < 0 or addr >= self.tensors[i].end:
            raise ValueError(f"logical address {addr:#x} belongs to no tensor")
        return i

    def __post_init__(self) -> None:
        self._starts = [t.start for t in self.tensors]


# ---------------------------------------------------------------------------------------------
# Tensors, their producers' bytes and their readers


def _writes(plan: KernelPlan, core: int) -> list[DmaDesc]:
    return [d for item in plan.items.get(core, []) for d in item.dma_out if d.to_hbm]


def _reads(plan: KernelPlan, core: int) -> list[DmaDesc]:
    items = plan.items.get(core, [])
    return [d for item in items for step in item.steps for d in step.dma_in if not d.to_hbm]


def logical_tensors(plans: list[KernelPlan], ranges: list[tuple[int, int]]) -> Memory:
    """The tensors at the logical ``ranges`` (start, end), with their producers and readers."""
    ranges = sorted(ranges)
    mem = Memory([Tensor(s, e, -1, -1) for s, e in ranges])
    producer: dict[int, int] = {}
    readers: dict[int, dict[int, int]] = defaultdict(dict)
    for k, plan in enumerate(plans):
        for core in plan.items:
            for d in _writes(plan, core):
                if is_logical(d.hbm):
                    producer.setdefault(mem.tensor_of(d.hbm), k)
            for d in _reads(plan, core):
                if is_logical(d.hbm):
                    for t in _touched(mem, d):
                        readers[t][core] = k
    mem.tensors = [
        Tensor(
            t.start, t.end, producer.get(i, -1), max([producer.get(i, -1), *readers[i].values()])
        )
        for i, t in enumerate(mem.tensors)
    ]
    mem.readers = dict(readers)
    return mem


def _touched(mem: Memory, d: DmaDesc) -> set[int]:
    """The tensors a descriptor's logical side touches (its first and last byte's)."""
    last = d.hbm + (d.rows - 1) * d.hbm_stride + d.row_bytes - 1
    return {mem.tensor_of(d.hbm), mem.tensor_of(last)}


def part_bytes(plans: list[KernelPlan], mem: Memory) -> dict[tuple[int, int], int]:
    """(tensor, core) -> bytes the core's result tiles of the tensor take (packed rows)."""
    out: dict[tuple[int, int], int] = defaultdict(int)
    for t in mem.tensors:
        if t.producer < 0:
            continue
        plan = plans[t.producer]
        for core in plan.items:
            for d in _writes(plan, core):
                if t.start <= d.hbm < t.end:
                    out[(mem.tensor_of(d.hbm), core)] += d.rows * d.row_bytes
    return dict(out)


# ---------------------------------------------------------------------------------------------
# Allocation


def allocate(
    mem: Memory,
    parts: dict[tuple[int, int], int],
    floors: dict[int, int],
    ceilings: dict[int, int],
    spilled: set[int],
) -> set[int]:
    """First-fit, in program order, of every part of every tensor not in ``spilled`` into
    [floor, ceiling) of its core; returns the tensors that did not fit (to spill as well). Fills
    ``mem.parts`` and ``mem.tops``."""
    by_core: dict[int, list[tuple[int, int, int]]] = defaultdict(list)  # core -> (k, tensor, n)
    for (t, core), n in parts.items():
        if t not in spilled:
            by_core[core].append((mem.tensors[t].producer, t, n))
    placed: dict[tuple[int, int], int] = {}
    misfits: set[int] = set()
    tops: dict[int, int] = {}
    for core, items in sorted(by_core.items()):
        live: list[tuple[int, int, int]] = []  # (start, end, last kernel) of parts in use
        top = floor = align(floors.get(core, 0))
        for k, t, n in sorted(items):
            live = [p for p in live if p[2] >= k]
            at = _first_fit(live, floor, align(n), ceilings[core])
            if at is None:
                misfits.add(t)
                continue
            placed[(t, core)] = at
            live.append((at, at + align(n), mem.tensors[t].last_read))
            top = max(top, at + align(n))
        tops[core] = top
    mem.parts = {key: a for key, a in placed.items() if key[0] not in misfits}
    mem.tops = tops
    return misfits


def _first_fit(live: list[tuple[int, int, int]], floor: int, n: int, ceiling: int) -> int | None:
    at = floor
    for start, end, _ in sorted(live):
        if start - at >= n:
            break
        at = max(at, end)
    return at if at + n <= ceiling else None


# ---------------------------------------------------------------------------------------------
# Translation of a plan's descriptors from logical addresses to homes


def home_runs(plans: list[KernelPlan], mem: Memory, gids: list[int]) -> dict[int, Runs]:
    """Per resident tensor, where each of its logical bytes is kept: the producer's result rows,
    packed in the order of its store descriptors into the core's part of the tensor."""
    acc: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
    for t in sorted(mem.resident):
        plan = plans[mem.tensors[t].producer]
        for core in sorted(plan.items):
            at = mem.parts[(t, core)]
            for d in _writes(plan, core):
                if mem.tensors[t].start <= d.hbm < mem.tensors[t].end:
                    s = d.hbm + d.hbm_stride * np.arange(d.rows, dtype=np.int64)
                    p = at + d.row_bytes * np.arange(d.rows, dtype=np.int64)
                    acc[t].append((s, s + d.row_bytes, np.full(d.rows, gids[core]), p))
                    at += d.rows * d.row_bytes
    out = {}
    for t, parts in acc.items():
        s, e, c, p = (np.concatenate(x) for x in zip(*parts, strict=True))
        order = np.argsort(s, kind="stable")
        out[t] = Runs(s[order], e[order], c[order], p[order])
    return out


def store_descs(d: DmaDesc, gid: int, at: int) -> DmaDesc:
    """A result store retargeted to the core's own part of a resident tensor at ``at``."""
    return replace(d, hbm=sram_addr(gid, at), hbm_stride=d.row_bytes)


def load_descs(d: DmaDesc, runs: Runs) -> list[DmaDesc]:
    """A load from a resident tensor as loads from the cores that keep its bytes: each row of
    ``d`` is cut where it crosses from one kept run to the next, and consecutive rows whose
    pieces step evenly (same core, same length, constant strides) share a descriptor."""
    r = np.arange(d.rows, dtype=np.int64)
    start = d.hbm + d.hbm_stride * r
    end = start + d.row_bytes
    lo = np.searchsorted(runs.end, start, side="right")
    hi = np.searchsorted(runs.start, end, side="left")
    n = hi - lo
    if (n < 1).any():
        raise InternalError(
            f"a load of {d.rows} x {d.row_bytes} bytes at logical address {d.hbm:#x} reads "
            "bytes that no earlier kernel wrote",
            hint="a tiling or view bug in d1c: please report it with the model",
        )
    row = np.repeat(r, n)
    run = np.repeat(lo, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    piece = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)  # piece index within its row
    a = np.maximum(start[row], runs.start[run])
    b = np.minimum(end[row], runs.end[run])
    core = runs.core[run]
    phys = runs.phys[run] + (a - runs.start[run])
    sram = d.sram + d.sram_stride * row + (a - start[row])
    out = []
    for k in range(int(n.max())):
        sel = piece == k
        out += _group(row[sel], core[sel], phys[sel], sram[sel], (b - a)[sel])
    return out


def _group(row, core, phys, sram, length) -> list[DmaDesc]:
    """Descriptors for pieces (one per row, rows ascending): a run of rows with the same core
    and length whose far and SRAM addresses step by constants is one descriptor."""
    out = []
    i, n = 0, len(row)
    while i < n:
        j = i + 1
        if j < n and core[j] == core[i] and length[j] == length[i] and row[j] == row[i] + 1:
            dp, ds = phys[j] - phys[i], sram[j] - sram[i]
            while (
                j + 1 < n
                and core[j + 1] == core[i]
                and length[j + 1] == length[i]
                and row[j + 1] == row[j] + 1
                and phys[j + 1] - phys[j] == dp
                and sram[j + 1] - sram[j] == ds
            ):
                j += 1
            j += 1
        else:
            dp = ds = int(length[i])
        rows = j - i
        out.append(DmaDesc(False, int(sram[i]), sram_addr(int(core[i]), int(phys[i])), rows,
                           int(length[i]), int(ds) if rows > 1 else int(length[i]),
                           int(dp) if rows > 1 else int(length[i])))  # fmt: skip
        i = j
    return out


def translate(
    plans: list[KernelPlan], mem: Memory, gids: list[int]
) -> tuple[list[KernelPlan], dict[int, Runs]]:
    """The plans with every logical address replaced by its home (module docstring)."""
    runs = home_runs(plans, mem, gids)
    out = []
    for plan in plans:
        items = {
            core: [_item(item, core, mem, runs, gids) for item in its]
            for core, its in plan.items.items()
        }
        out.append(replace(plan, items=items))
    return out, runs


def _item(item: WorkItem, core: int, mem: Memory, runs, gids) -> WorkItem:
    steps = tuple(replace(s, dma_in=_loads(s.dma_in, mem, runs)) for s in item.steps)
    item = replace(item, steps=steps)
    kept = _kept_in_place(item, mem, runs, gids[core])
    if kept is not None:
        return kept
    stores: list[DmaDesc] = []
    for d in item.dma_out:
        if not is_logical(d.hbm):
            stores.append(d)
            continue
        t = mem.tensor_of(d.hbm)
        if t in mem.resident:
            stores.append(store_descs(d, gids[core], _stored_at(d, runs[t], gids[core])))
        else:
            stores.append(replace(d, hbm=mem.hbm[t] + d.hbm - mem.tensors[t].start))
    return replace(item, dma_out=tuple(stores))


def _kept_in_place(item: WorkItem, mem: Memory, runs, gid: int) -> WorkItem | None:
    """The item computing its result tile straight into the core's part of a resident tensor
    (no store, no copy), when its stores read that tile's rows in order and cover it whole: the
    part packs the stored rows in that order, so it is the tile's own dense layout. None if
    the stores are anything else."""
    stores = item.dma_out
    if not stores or not all(is_logical(d.hbm) for d in stores):
        return None
    t = mem.tensor_of(stores[0].hbm)
    if t not in mem.resident or any(mem.tensor_of(d.hbm) != t for d in stores):
        return None
    tile = item.epilogue[-1][0] if item.epilogue else item.out
    at, rows = tile.base, 0
    for d in stores:
        if (
            d.sram != at
            or d.row_bytes != tile.row_bytes
            or (d.rows > 1 and d.sram_stride != d.row_bytes)
        ):
            return None
        at, rows = at + d.rows * d.row_bytes, rows + d.rows
    if rows != tile.rows or tile.stride not in (0, tile.row_bytes):
        return None
    home = replace(tile, base=_stored_at(stores[0], runs[t], gid))
    moved = (tile.base, tile.base + tile.span, home.base - tile.base)
    steps = tuple(replace(s, dma_in=tuple(_shift(d, *moved) for d in s.dma_in)) for s in item.steps)
    item = replace(item, steps=steps, dma_out=())
    if item.epilogue:
        last = (home, *item.epilogue[-1][1:])
        return replace(item, epilogue=(*item.epilogue[:-1], last))
    return replace(item, out=home)


def _shift(d: DmaDesc, lo: int, hi: int, by: int) -> DmaDesc:
    """A load into the moved result tile (``pad`` DMAs its input window over the fill) follows
    the tile."""
    return replace(d, sram=d.sram + by) if lo <= d.sram < hi else d


def _stored_at(d: DmaDesc, runs: Runs, gid: int) -> int:
    """Where the first row of a store descriptor is kept (its rows are packed there)."""
    i = int(np.searchsorted(runs.start, d.hbm, side="right")) - 1
    assert runs.core[i] == gid and runs.start[i] == d.hbm
    return int(runs.phys[i])


def _loads(descs: tuple[DmaDesc, ...], mem: Memory, runs) -> tuple[DmaDesc, ...]:
    out: list[DmaDesc] = []
    for d in descs:
        if d.to_hbm or not is_logical(d.hbm):
            out.append(d)
            continue
        t = mem.tensor_of(d.hbm)
        if t in mem.resident:
            out += load_descs(d, runs[t])
        else:
            out.append(replace(d, hbm=mem.hbm[t] + d.hbm - mem.tensors[t].start))
    return tuple(out)
