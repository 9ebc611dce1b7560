"""Data kernels: ``concat``, ``full``/``pad`` (kind ``fill``) and ``embedding`` (kind ``gather``),
their plans and their code. Importing this module registers them in
:data:`d1c.codegen.plan.PLANNERS` and :data:`d1c.codegen.isel.CODEGEN`.

concat
    One copy per input into its slice of the result: the result is written through an output
    view (:class:`~d1c.codegen.plan.CopyJob`), so one kernel holds every input's tiles.
fill
    Each output tile is filled with ``vfill`` from the fp32 bit pattern of the value (in x5; the
    instruction rounds it into the tile's format exactly as the IR rounds the attribute: to fp32,
    then to the element type; i1 is 1.0 for any nonzero value). For ``pad`` the part of the input
    that falls into the tile is then DMAed over the fill (:func:`~d1c.codegen.views.
    window_segments`), and the tile is stored: one pass over the output, no second kernel.
gather
    ``embedding(weight [V, D], indices)``: output rows are index positions, columns are D. A tile
    of r indices and c columns loads the index tile (i32 on the device: the host packs i64 inputs
    as i32) and columns [c0, c0 + c) of *all* V weight rows, then ``tgather`` picks rows. Tiles go
    column chunk by column chunk, so a core reloads the weight chunk only when its chunk changes
    (the weight buffer must keep its bytes between a core's tiles: a schedule that double-buffers
    must give it one buffer, or reload).
    The ``tile`` pass makes c small enough for [V, c] to fit a core's buffer budget: a weight
    bigger than that is split into column chunks; if one column of V rows does not fit, the
    embedding is a CompileError (a row-DMA gather would be the fallback).
"""

from __future__ import annotations

import numpy as np

from d1c.codegen import views as V
from d1c.codegen.isel import (
    CODEGEN,
    code_ew,
    kernel_head,
    kernel_tail,
    load_const,
    load_step,
    store_result,
)
from d1c.codegen.plan import (
    PLANNERS,
    BufferArea,
    CopyJob,
    KernelPlan,
    Step,
    WorkItem,
    deal,
    esize,
    grid,
    plan_views,
    tile_desc,
)
from d1c.ir import Op, Value


def plan_concat(op: Op, hbm: dict[Value, int], buffers_at: int) -> KernelPlan:
    """Each input copied into its slice of the result along ``dim``."""
    out = V.contiguous(op.result.type.shape)
    dim, at, jobs = op.attrs["dim"], 0, []
    for v in op.operands:
        n = v.type.shape[dim]
        if v.type.numel:
            src = ((v, V.contiguous(v.type.shape)),)
            jobs.append(CopyJob(V.slice_(out, dim, at, at + n, 1), src))
        at += n
    return plan_views(op, "concat", jobs, hbm, buffers_at)


def plan_fill(op: Op, hbm: dict[Value, int], buffers_at: int) -> KernelPlan:
    """``full``: filled tiles; ``pad``: filled tiles with the input's window DMAed over them."""
    out_t = op.result.type
    view = V.contiguous(out_t.shape or (1,))
    tr, tc = op.attrs["tile"][:2]
    area = BufferArea(buffers_at)
    buf = area.take(tr * tc * esize(out_t))
    plan = KernelPlan(op, "fill", area.used)
    tiles = grid(view.rows, view.cols, (tr, tc))
    for (rr, cc), core in zip(tiles, deal(len(tiles), op.attrs["cores"]), strict=True):
        loads = _window(op, hbm, (rr, cc), buf) if op.name == "pad" else []
        out = tile_desc(buf, rr[1] - rr[0], cc[1] - cc[0], out_t)
        store = V.row_segments(view, hbm[op.result], esize(out_t), rr, cc, buf, to_hbm=True)
        item = WorkItem(out, (Step(tuple(loads), ()),), tuple(store))
        plan.items.setdefault(core, []).append(item)
    return plan


def _window(op: Op, hbm: dict[Value, int], tile, buf: int) -> list:
    x = op.operands[0]
    shape, lo = op.result.type.shape or (1,), tuple(op.attrs["pads"][0::2]) or (0,)
    return V.window_segments(shape, lo, x.type.shape or (1,), hbm[x], esize(x.type), tile, buf)


def fill_bits(op: Op) -> int:
    """The fp32 bit pattern ``vfill`` rounds into the result format (i1: 1.0 for nonzero)."""
    value = op.attrs["value"]
    if op.result.type.elem.name == "i1":
        value = 1.0 if value != 0 else 0.0
    return int(np.float32(value).view(np.uint32))


def plan_gather(op: Op, hbm: dict[Value, int], buffers_at: int) -> KernelPlan:
    """Embedding rows by ``tgather`` from column chunks of the whole weight (module docstring)."""
    w, idx = op.operands
    out_t = op.result.type
    nv, d = w.type.shape
    n = idx.type.numel
    tr, tc = op.attrs["tile"][:2]
    area = BufferArea(buffers_at)
    o_buf, w_buf, i_buf = (
        area.take(tr * tc * esize(out_t)),
        area.take(nv * tc * esize(w.type)),
        area.take(tr * 4),
    )
    plan = KernelPlan(op, "gather", area.used)
    out_view, w_view, i_view = V.contiguous((n, d)), V.contiguous((nv, d)), V.contiguous((1, n))
    tiles = [(rr, cc) for _, cc in grid(1, d, (1, tc)) for rr, _ in grid(n, 1, (tr, 1))]
    last: dict[int, tuple[int, int]] = {}
    for (rr, cc), core in zip(tiles, deal(len(tiles), op.attrs["cores"]), strict=True):
        r, c = rr[1] - rr[0], cc[1] - cc[0]
        loads = (
            []
            if last.get(core) == cc
            else V.row_segments(w_view, hbm[w], esize(w.type), (0, nv), cc, w_buf)
        )
        last[core] = cc
        loads += V.row_segments(i_view, hbm[idx], 4, (0, 1), rr, i_buf)
        tiles_in = (tile_desc(w_buf, nv, c, w.type), tile_desc(i_buf, 1, r, idx.type))
        store = V.row_segments(out_view, hbm[op.result], esize(out_t), rr, cc, o_buf, to_hbm=True)
        item = WorkItem(
            tile_desc(o_buf, r, c, out_t), (Step(tuple(loads), tiles_in),), tuple(store)
        )
        plan.items.setdefault(core, []).append(item)
    return plan


def code_fill(k: int, plan: KernelPlan) -> list[str]:
    """Per tile: vfill, DMA pad's window in over it, store."""
    body = ["tld t0, x1, 16", "vfill t0, x5, rne", "addi x6, x1, 32", *load_step(plan, "x6")]
    return [
        *load_const("x5", fill_bits(plan.op)),
        *kernel_head(k, plan),
        *body,
        *store_result(),
        *kernel_tail(k, plan),
    ]


PLANNERS.update(concat=plan_concat, fill=plan_fill, gather=plan_gather)
CODEGEN.update(concat=code_ew, fill=code_fill, gather=code_ew)
