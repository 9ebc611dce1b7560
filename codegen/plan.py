"""Kernel plans: for one op of placed IR, which core computes which output tile, and the DMA and
tile descriptors every tile needs. ``allocate-sram`` sizes SRAM from plans; ``isel`` encodes them.

Execution model (docs/lowering.md §3): every tensor lives in DIP HBM, row-major in its device
format; a kernel's cores stream operand tiles into SRAM buffers by DMA, compute, and stream the
result tile back. Operands are read through affine views (:mod:`d1c.codegen.views`), so
broadcasting and data movement (permute, slice, broadcast_to) cost no extra kernel.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from d1c.codegen import views as V
from d1c.codegen import windows as W
from d1c.codegen.kinds import (  # noqa: F401  (re-exported: the planners' API)
    BINARY_INST,
    COMPARE,
    DEVICE_FMT,
    EW,
    KINDS,
    LOGIC,
    MOVEMENT,
    REDUCE,
    UNARY_FN,
    VFN,
    device_fmt,
    esize,
    kind_of,
    returned_values,
)
from d1c.errors import CompileError
from d1c.ir import Op, TensorType, Value
from d1c.isa.tiles import DmaDesc, TDesc


@dataclass(frozen=True)
class Step:
    """One round of a tile's work: DMA these in, transpose staged tiles, then compute."""

    dma_in: tuple[DmaDesc, ...]
    tiles: tuple[TDesc, ...]  # operand tiles in SRAM, in the order the instruction takes them
    trans: tuple[tuple[TDesc, TDesc], ...] = ()  # (staged [C, R], operand [R, C]) for ttrans
    # systolic matmul (:mod:`d1c.codegen.systolic`): the core indices this step receives
    # its A and B tiles from and forwards them to, -1 for none (A or B then comes by DMA / stops)
    noc: tuple[int, int, int, int] | None = None


Span = tuple[tuple[int, int], tuple[int, int]]  # (rows, cols) of a tile of a 2-D form


@dataclass(frozen=True)
class WorkItem:
    out: TDesc
    steps: tuple[Step, ...]
    dma_out: tuple[DmaDesc, ...]
    at: Span | None = None  # the tile's rows and columns in the 2-D form of the result
    epilogue: tuple[tuple[TDesc, ...], ...] = ()  # per fused op: result tile, side operand tiles


@dataclass
class KernelPlan:
    op: Op
    kind: str
    buffer_bytes: int  # SRAM bytes of this kernel's buffers on each core
    items: dict[int, list[WorkItem]] = field(default_factory=dict)  # core index -> its tiles
    buffers: int = 1  # buffer sets (2: double-buffered, see :func:`buffer_sets`)
    chain: tuple = ()  # fused epilogue ops (:class:`d1c.codegen.epilogue.FusedOp`)
    # whether some core takes tokens before the kernel / tells after it (set by
    # :func:`d1c.codegen.sync.plan_sync`; a kernel without tokens has no token code)
    tokens: tuple[bool, bool] = (False, False)


def buffer_sets(op: Op) -> int:
    """How many sets of buffers the kernel of ``op`` has (``schedule``'s ``buffers``, default 1).

    With two sets, a core's i-th work item writes its result into set ``i % 2`` and its j-th
    step (counted over all its items) loads operands into set ``j % 2``; set 1 is set 0 moved up
    by the single-set size, so doubling doubles ``buffer_bytes`` exactly. The code
    (:func:`d1c.codegen.isel.code_pipelined`) then loads step j+1 while it computes step j and
    stores tile i while it computes tile i+1."""
    return int(op.attrs.get("buffers", 1))


class Parity:
    """Per-core counters of work items, giving each item's SRAM offset for its buffer set."""

    def __init__(self, sets: int, stride: int) -> None:
        self.sets, self.stride, self.seen = sets, stride, {}

    def next_item(self, core: int) -> int:
        """The index of the core's next item (0, 1, 2, ...)."""
        i = self.seen.get(core, 0)
        self.seen[core] = i + 1
        return i

    def offset(self, n: int) -> int:
        """The SRAM offset of set ``n % sets``."""
        return (n % self.sets) * self.stride


def grid(
    rows: int, cols: int, tile: tuple[int, int]
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Row-major tiles of a [rows, cols] 2-D view: ((r0, r1), (c0, c1)) each."""
    tr, tc = tile
    return [
        ((r, min(r + tr, rows)), (c, min(c + tc, cols)))
        for r in range(0, max(rows, 1), tr)
        for c in range(0, max(cols, 1), tc)
    ]


def deal(n_tiles: int, cores: int) -> list[int]:
    """Core index of each tile: contiguous blocks, so neighbouring tiles share a core's DIP path."""
    per = math.ceil(n_tiles / max(cores, 1))
    return [i // per for i in range(n_tiles)]


class BufferArea:
    """Bump allocator for a kernel's SRAM buffers (64-byte aligned) starting at ``base``."""

    def __init__(self, base: int) -> None:
        self.base = self.top = base

    def take(self, nbytes: int) -> int:
        addr = self.top
        self.top += -(-nbytes // 64) * 64
        return addr

    @property
    def used(self) -> int:
        return self.top - self.base


def operand_view(op: Op, index: int, out_shape: tuple[int, ...]) -> V.View:
    """The view through which an elementwise kernel reads operand ``index`` in output indices."""
    src = V.contiguous(op.operands[index].type.shape)
    a = op.attrs
    if op.name == "permute":
        return V.permute(src, a["dims"])
    if op.name == "slice":
        return V.slice_(src, a["dim"], a["start"], a["end"], a["step"])
    return V.broadcast(src, out_shape)


def tile_desc(addr: int, rows: int, cols: int, t: TensorType) -> TDesc:
    """A dense SRAM tile in the device format of ``t``."""
    return _tdesc(addr, rows, cols, *device_fmt(t))


@functools.lru_cache(maxsize=1 << 16)
def _tdesc(addr: int, rows: int, cols: int, fmt: str, bias: int) -> TDesc:
    return TDesc(addr, rows, cols, 0, fmt, bias)  # frozen: plans share equal descriptors


@dataclass(frozen=True)
class CopyJob:
    """Part of a view-based kernel: tiles of the 2-D form of ``out`` (a view of the result in
    HBM), each computed from the same tile of every operand view."""

    out: V.View
    operands: tuple[tuple[Value, V.View], ...]


def plan_ew(op: Op, hbm: dict[Value, int], buffers_at: int) -> KernelPlan:
    """Elementwise (and movement) kernel over the 2-D form of the result."""
    shape = op.result.type.shape
    views = tuple((v, operand_view(op, i, shape)) for i, v in enumerate(op.operands))
    return plan_views(op, "ew", [CopyJob(V.contiguous(shape), views)], hbm, buffers_at)


def plan_views(
    op: Op, kind: str, jobs: list[CopyJob], hbm: dict[Value, int], buffers_at: int
) -> KernelPlan:
    """Tiles of every job dealt to cores in order. Operand slot i has one SRAM buffer (and one
    staging buffer when loaded transposed) shared by all jobs, so every work record of the
    kernel has the same layout; each job's output view must have a last-dim stride of 1."""
    out_t = op.result.type
    tr, tc = op.attrs["tile"][:2]
    area = BufferArea(buffers_at)
    out_buf = area.take(tr * tc * esize(out_t))
    slots = [v for v, _ in jobs[0].operands]
    modes = [V.load_mode(w) for _, w in jobs[0].operands]
    bufs = [area.take(tr * tc * esize(v.type)) for v in slots]
    stages = [
        area.take(tr * tc * esize(v.type)) if m == "trans" else None
        for v, m in zip(slots, modes, strict=True)
    ]
    sets = buffer_sets(op)
    plan = KernelPlan(op, kind, area.used * sets, buffers=sets)
    par = Parity(sets, area.used)
    vector = kind == "ew" and op.name not in MOVEMENT  # operands broadcast in the vector unit
    tiles = [(job, t) for job in jobs for t in grid(job.out.rows, job.out.cols, (tr, tc))]
    for (job, (rr, cc)), core in zip(tiles, deal(len(tiles), op.attrs["cores"]), strict=True):
        off = par.offset(par.next_item(core))  # one step per item: both parities agree
        dmas, descs, trans = [], [], []
        for (v, w), buf, stage in zip(job.operands, bufs, stages, strict=True):
            st = None if stage is None else stage + off
            d, t = _operand_tile(v, w, hbm[v], rr, cc, buf + off, st, vector)
            dmas += d
            descs.append(t[0])
            trans += t[1:]
        out = tile_desc(out_buf + off, rr[1] - rr[0], cc[1] - cc[0], out_t)
        store = V.row_segments(
            job.out, hbm[op.result], esize(out_t), rr, cc, out_buf + off, to_hbm=True
        )
        step = Step(tuple(dmas), tuple(descs), tuple(trans))
        item = WorkItem(out, (step,), tuple(store), (rr, cc))
        plan.items.setdefault(core, []).append(item)
    return plan


def _operand_tile(
    v: Value, w: V.View, addr: int, rr, cc, buf: int, stage: int | None, vector: bool = False
):
    """(DMA descriptors, (operand tile, *(staged, operand) transposes)) of one operand tile.
    For a ``vector`` instruction (which broadcasts [1, c] and [r, 1] tiles) a view whose rows
    are all the same (a bias broadcast over the leading dims) loads one row, not r copies."""
    r, c = rr[1] - rr[0], cc[1] - cc[0]
    es = esize(v.type)
    mode = V.load_mode(w)
    if mode == "strided":
        return V.strided_segments(w, addr, es, rr, cc, buf), (tile_desc(buf, r, c, v.type),)
    if mode == "direct":
        if vector and not any(w.strides[:-1]):
            rr, r = (rr[0], rr[0] + 1), 1
        width = 1 if w.col_stride == 0 else c
        return V.row_segments(w, addr, es, rr, cc, buf), (tile_desc(buf, r, width, v.type),)
    loads = V.transposed_segments(w, addr, es, rr, cc, stage)
    if loads is None:
        raise CompileError(
            f"cannot move a {list(w.shape)} view with strides {list(w.strides)} by DMA",
            v.owner.loc if v.owner else None,
            hint="tile rows must stay inside the innermost dim",
        )
    staged = tile_desc(stage, c, r, v.type)
    final = tile_desc(buf, r, c, v.type)
    return loads, (final, (staged, final))


def plan_matmul(op: Op, hbm: dict[Value, int], buffers_at: int) -> KernelPlan:
    """C[b] = A[b] @ B[b]: output tiles [tm, tn], K in chunks of tk accumulated in fp32. Batch
    dims broadcast (an operand of rank 2 or with size-1 batch dims is shared by every batch)."""
    a, b = op.operands
    out_t = op.result.type
    batch = math.prod(out_t.shape[:-2])
    m, k = a.type.shape[-2:]
    n = b.type.shape[-1]
    tm, tn, tk = op.attrs["tile"]
    area = BufferArea(buffers_at)
    c_buf, a_buf, b_buf = (
        area.take(tm * tn * 4),
        area.take(tm * tk * esize(a.type)),
        area.take(tk * tn * esize(b.type)),
    )
    sets = buffer_sets(op)
    plan = KernelPlan(op, "matmul", area.used * sets, buffers=sets)
    par, nk = Parity(sets, area.used), len(range(0, k, tk))
    (a_view, a_at), (b_view, b_at) = operand_source(a, hbm), operand_source(b, hbm)
    c_view = _batched(out_t.shape)
    tiles = [(bi, mm, nn) for bi in range(batch) for mm, nn in grid(m, n, (tm, tn))]
    a_part = _memo(
        lambda ba, mm, kk, o: _operand_part(a, a_view, a_at, _rows(ba, mm, m), kk, a_buf + o)
    )
    b_part = _memo(
        lambda bb, kk, nn, o: _operand_part(b, b_view, b_at, _rows(bb, kk, k), nn, b_buf + o)
    )
    for (bi, mm, nn), core in zip(tiles, deal(len(tiles), op.attrs["cores"]), strict=True):
        ba, bb = _batch_of(bi, out_t.shape, a.type.shape), _batch_of(bi, out_t.shape, b.type.shape)
        i = par.next_item(core)
        steps = []
        for j, k0 in enumerate(range(0, k, tk), start=i * nk):
            kk, o = (k0, min(k0 + tk, k)), par.offset(j)
            (la, ta), (lb, tb) = a_part(ba, mm, kk, o), b_part(bb, kk, nn, o)
            steps.append(Step(la + lb, (ta, tb)))
        c_at = c_buf + par.offset(i)
        rows = _rows(bi, mm, m)
        out = tile_desc(c_at, mm[1] - mm[0], nn[1] - nn[0], out_t)
        store = V.row_segments(c_view, hbm[op.result], 4, rows, nn, c_at, to_hbm=True)
        item = WorkItem(out, tuple(steps), tuple(store), (rows, nn))
        plan.items.setdefault(core, []).append(item)
    return plan


def operand_source(v: Value, hbm: dict[Value, int]) -> tuple[V.View | np.ndarray, int]:
    """(how, address) a matmul reads operand ``v`` from: its own tensor as a contiguous 2-D
    view, or, for a window (:mod:`d1c.codegen.windows`), the element offsets of its 2-D form in
    the window's source tensor and the source's address."""
    src = W.window_source(v)
    if src is None:
        return _batched(v.type.shape), hbm[v]
    return W.window_offsets(v), hbm[src]


def _operand_part(v: Value, view: V.View | np.ndarray, addr: int, rows, cols, buf: int):
    """(DMA descriptors, SRAM tile) of one matmul operand tile (``view``: see
    :func:`operand_source`)."""
    if isinstance(view, np.ndarray):
        tile = view[rows[0] : rows[1], cols[0] : cols[1]]
        loads = tuple(W.gather_segments(tile, addr, esize(v.type), buf))
    else:
        loads = tuple(V.row_segments(view, addr, esize(v.type), rows, cols, buf))
    return loads, tile_desc(buf, rows[1] - rows[0], cols[1] - cols[0], v.type)


def _memo(fn):
    """``fn`` with its results kept by argument (matmul operand tiles recur across tiles)."""
    cache: dict = {}
    return lambda *key: cache[key] if key in cache else cache.setdefault(key, fn(*key))


def _batch_of(bi: int, out_shape: tuple[int, ...], shape: tuple[int, ...]) -> int:
    """The batch index of an operand of ``shape`` that output batch ``bi`` reads (broadcast)."""
    out_b, own = out_shape[:-2], shape[:-2]
    if not own:
        return 0
    idx = np.unravel_index(bi, out_b)[len(out_b) - len(own) :]
    return int(
        np.ravel_multi_index([i if d > 1 else 0 for i, d in zip(idx, own, strict=True)], own)
    )


def _batched(shape: tuple[int, ...]) -> V.View:
    """A tensor of rank >= 2 as a [batch*rows, cols] contiguous 2-D view."""
    return V.contiguous((math.prod(shape[:-1]), shape[-1]))


def _rows(bi: int, rng: tuple[int, int], size: int) -> tuple[int, int]:
    return bi * size + rng[0], bi * size + rng[1]


def plan_reduce(op: Op, hbm: dict[Value, int], buffers_at: int) -> KernelPlan:
    """Reduction along the last dim (keepdim): rows in tiles of tr, columns in chunks of tc,
    sequential from column 0 (``vred`` mode acc continues the previous chunk)."""
    x = op.operands[0]
    out_t = op.result.type
    view = V.contiguous(x.type.shape)
    rows, cols = view.rows, view.cols
    tr, tc = op.attrs["tile"][:2]
    area = BufferArea(buffers_at)
    o_buf, x_buf = area.take(tr * esize(out_t)), area.take(tr * tc * esize(x.type))
    sets = buffer_sets(op)
    plan = KernelPlan(op, "reduce", area.used * sets, buffers=sets)
    par, nc = Parity(sets, area.used), len(range(0, cols, tc))
    out_view = V.contiguous((rows, 1))
    tiles = grid(rows, 1, (tr, 1))
    for (rr, _), core in zip(tiles, deal(len(tiles), op.attrs["cores"]), strict=True):
        r, i = rr[1] - rr[0], par.next_item(core)
        steps = []
        for j, c0 in enumerate(range(0, cols, tc), start=i * nc):
            cc, xb = (c0, min(c0 + tc, cols)), x_buf + par.offset(j)
            load = V.row_segments(view, hbm[x], esize(x.type), rr, cc, xb)
            steps.append(Step(tuple(load), (tile_desc(xb, r, cc[1] - cc[0], x.type),)))
        ob = o_buf + par.offset(i)
        out = tile_desc(ob, r, 1, out_t)
        store = V.row_segments(out_view, hbm[op.result], esize(out_t), rr, (0, 1), ob, to_hbm=True)
        item = WorkItem(out, tuple(steps), tuple(store), (rr, (0, 1)))
        plan.items.setdefault(core, []).append(item)
    return plan


def tile_count(op: Op) -> int:
    """How many output tiles (work items) the kernel of ``op`` has, from its ``tile``."""
    tile = tuple(op.attrs["tile"][:2])
    shape = op.result.type.shape
    if op.name == "matmul":
        batch = math.prod(shape[:-2])
        return batch * math.ceil(shape[-2] / tile[0]) * math.ceil(shape[-1] / tile[1])
    if op.name == "concat":
        return sum(len(grid(*V.rows_cols(v.type.shape), tile)) for v in op.operands)
    rows, cols = V.rows_cols(shape)
    return len(grid(rows, 1 if op.name in REDUCE else cols, tile))


PLANNERS = {"ew": plan_ew, "matmul": plan_matmul, "reduce": plan_reduce}
"""Kernel kind -> planner; :mod:`d1c.codegen.data_kernels` adds concat, fill and gather."""
