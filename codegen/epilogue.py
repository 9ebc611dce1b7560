"""Fused epilogues in kernel plans: a producer kernel that also runs a chain of elementwise ops.

The ``fuse`` pass marks a group with ``fuse = G`` on every op: the producer (the op with a
``tile``: a matmul, reduction or elementwise kernel) and its chain, each op of which reads the
previous one's result, its only use (``reshape``s that keep the last dim ride along as aliases).
The group is one kernel at the producer's position (``fuse`` moved the group together). Its
plan is the producer's plan plus, per work item:

- for each chain op, a result tile in SRAM and a tile of each *side* operand (the operands other
  than the chain value), loaded through the operand's broadcast view with the last step's loads;
- the store of the last chain op's tile instead of the producer's.

The chain's intermediate results never reach HBM. Epilogue buffers sit above the producer's
(all its buffer sets) and are doubled like them: result tiles by the item's set, side operand
tiles by the set of the item's last step (:func:`d1c.codegen.plan.buffer_sets`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from d1c.codegen import views as V
from d1c.codegen.plan import (
    PLANNERS,
    BufferArea,
    KernelPlan,
    WorkItem,
    _operand_tile,
    esize,
    operand_view,
    tile_desc,
)
from d1c.ir import Function, Op, Value
from d1c.isa.tiles import DmaDesc, TDesc


@dataclass(frozen=True)
class FusedOp:
    """One op of an epilogue: ``chain`` are the operand indices that read the chain value,
    ``sides`` the others (each loaded as a tile)."""

    op: Op
    chain: tuple[int, ...]
    sides: tuple[int, ...]


def groups(func: Function) -> dict[Op, list[Op]]:
    """Producer op -> the other ops of its ``fuse`` group, in program order."""
    members: dict[int, list[Op]] = {}
    for op in func.ops:
        if "fuse" in op.attrs:
            members.setdefault(op.attrs["fuse"], []).append(op)
    out = {}
    for ops in members.values():
        producers = [op for op in ops if "tile" in op.attrs]
        if len(producers) == 1:
            out[producers[0]] = [op for op in ops if op is not producers[0]]
    return out


def fused_ops(producer: Op, chain: list[Op]) -> tuple[FusedOp, ...]:
    """The chain as epilogue ops (reshapes are aliases: the value flows through them)."""
    value, out = producer.result, []
    for op in chain:
        if op.name != "reshape":
            idx = [i for i, v in enumerate(op.operands) if v is value]
            sides = tuple(i for i in range(len(op.operands)) if i not in idx)
            out.append(FusedOp(op, tuple(idx), sides))
        value = op.result
    return tuple(out)


def plan_kernel(
    op: Op,
    kind: str,
    hbm: dict[Value, int],
    chains: dict[Op, list[Op]],
    sites: list[int] | None = None,
) -> KernelPlan:
    """The plan of kernel op ``op``, with its fused epilogue if it produces a group; a matmul on
    a ``grid`` runs systolically on the cores ``sites``."""
    if sites is not None:
        from d1c.codegen.systolic import plan_systolic

        plan = plan_systolic(op, hbm, 0, sites)
    else:
        plan = PLANNERS[kind](op, hbm, 0)
    chain = chains.get(op)
    return with_epilogue(plan, fused_ops(op, chain), hbm) if chain else plan


def with_epilogue(
    plan: KernelPlan, chain: tuple[FusedOp, ...], hbm: dict[Value, int]
) -> KernelPlan:
    """``plan`` with ``chain`` run on each result tile before the store (module docstring)."""
    items = [it for its in plan.items.values() for it in its]
    tr, tc = max(it.out.rows for it in items), max(it.out.cols for it in items)
    area = BufferArea(plan.buffer_bytes)
    bufs = [
        (
            area.take(tr * tc * esize(f.op.result.type)),
            [area.take(tr * tc * _side_size(f, i)) for i in f.sides],
        )
        for f in chain
    ]
    sets, size = plan.buffers, area.used
    out = KernelPlan(plan.op, plan.kind, plan.buffer_bytes + sets * size, {}, sets, chain)
    for core, its in plan.items.items():
        fused, steps = [], 0
        for i, item in enumerate(its):
            steps += len(item.steps)
            offsets = ((i % sets) * size, ((steps - 1) % sets) * size)
            fused.append(_fused_item(item, chain, bufs, offsets, hbm, plan.op.result.type.shape))
        out.items[core] = fused
    return out


def _side_size(f: FusedOp, i: int) -> int:
    return esize(f.op.operands[i].type)


def _fused_item(item: WorkItem, chain, bufs, offsets: tuple[int, int], hbm, form) -> WorkItem:
    """One work item with the epilogue's tiles, side loads (after the last step's) and store;
    ``form``: the producer's result shape, whose 2-D form the tiles are in."""
    (rr, cc), (res_off, side_off) = item.at, offsets
    r, c = rr[1] - rr[0], cc[1] - cc[0]
    loads: list[DmaDesc] = []
    entries: list[tuple[TDesc, ...]] = []
    for f, (res_buf, side_bufs) in zip(chain, bufs, strict=True):
        tiles = [tile_desc(res_buf + res_off, r, c, f.op.result.type)]
        for i, buf in zip(f.sides, side_bufs, strict=True):
            d, t = _side_tile(f.op, i, hbm, item.at, buf + side_off, form)
            loads += d
            tiles.append(t)
        entries.append(tuple(tiles))
    final = chain[-1].op.result
    view = V.contiguous(form)  # the same bytes as the final result, in the tiles' 2-D form
    at = bufs[-1][0] + res_off
    store = V.row_segments(view, hbm[final], esize(final.type), rr, cc, at, to_hbm=True)
    last = item.steps[-1]
    steps = (*item.steps[:-1], replace(last, dma_in=last.dma_in + tuple(loads)))
    return replace(item, steps=steps, dma_out=tuple(store), epilogue=tuple(entries))


def _side_tile(op: Op, i: int, hbm, at, buf: int, form) -> tuple[list[DmaDesc], TDesc]:
    """DMA descriptors and tile of side operand ``i`` of ``op`` (a direct view in the 2-D form
    of ``form``, which ``fuse`` checked: :func:`side_view`) for the tile ``at``;
    the vector unit broadcasts [r, 1] and [1, c] tiles, so a column or a row broadcast loads
    only that."""
    v = op.operands[i]
    w = side_view(op, i, form)
    v_, d = _operand_tile(v, w, hbm[v], *at, buf, None, vector=True)
    return list(v_), d[0]


def side_view(op: Op, i: int, form: tuple[int, ...]) -> V.View | None:
    """The view of operand ``i`` of chain op ``op`` in the producer's result shape ``form``
    (the chain's tiles are tiles of its 2-D form): the operand's broadcast view, reshaped when a
    ``reshape`` in the chain changed the 2-D form; None if no view can express it."""
    shape = op.result.type.shape
    view = operand_view(op, i, shape)
    if V.rows_cols(shape) == V.rows_cols(form):
        return view
    return V.reshape_view(view, form)
