"""Systolic matmul: a grid of cores shares operand tiles over the NoC instead of each core
reading its own from DIP HBM (docs/lowering.md §5, "Systolic matmul").

``C = A @ B`` with output tiles ``[tm, tn]`` on a grid of ``R x Q`` cores (``grid`` attribute,
chosen by ``place``). The grid is a rectangle of the tile's global mesh (:func:`grid_sites`: the
first R rows, and the first Q columns with no disabled site in those rows), so each hop of a
chain is one link. Core ``(r, q)`` computes the tiles ``(i, j)`` with ``i = r (mod R)`` and
``j = q (mod Q)``, in the same order on every core (``i`` outer). For
each K step, the first core of a grid row loads the A tile by DMA and every core of the row
receives it from its left neighbour and forwards it to its right one; B tiles flow down the grid
columns the same way. ``R`` divides the tile rows and ``Q`` the tile columns, so every core of a
row (column) takes part in every round and the chains stay in step. A is read from HBM
``tiles_cols / Q`` times instead of ``tiles_cols`` times, B ``tiles_rows / R`` times.

The arithmetic is the per-core plan's (the same tiles, K chunks and ``mma`` order), so the IR
interpreter's bits hold; only where the operand bytes come from changes. Messages are copied at
``send`` and each core forwards a tile before computing with it, so a chain advances at compute
speed and a receiver holds at most a step or two of tiles in flight.
"""

from __future__ import annotations

import math

from d1c.codegen import views as V
from d1c.codegen.plan import (
    BufferArea,
    KernelPlan,
    Parity,
    Step,
    WorkItem,
    _batched,
    _operand_part,
    buffer_sets,
    esize,
    operand_source,
    tile_desc,
)
from d1c.ir import Op
from d1c.target import Target

NONE = -1  # no neighbour: the operand comes by DMA (chain head) or is not forwarded (chain end)


def _spans(size: int, tile: int) -> list[tuple[int, int]]:
    return [(s, min(s + tile, size)) for s in range(0, max(size, 1), tile)]


def tile_grid(op: Op) -> tuple[int, int]:
    """Output tiles of a matmul along rows and columns."""
    tm, tn, _ = op.attrs["tile"]
    shape = op.result.type.shape
    return math.ceil(shape[-2] / tm), math.ceil(shape[-1] / tn)


def grid_options(op: Op, cores: int) -> list[tuple[int, int]]:
    """The grids ``(R, Q)`` a matmul can run on: R divides its tile rows, Q its tile columns,
    ``R * Q <= cores``, more than one core; none for a batched matmul (its operand tiles differ
    per batch) or one tile."""
    if op.name != "matmul" or math.prod(op.result.type.shape[:-2]) != 1:
        return []
    ti, tj = tile_grid(op)
    return [(r, q) for r in _divisors(ti) for q in _divisors(tj) if 1 < r * q <= cores]


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


_CACHE: dict[tuple, tuple[dict[tuple[int, int], int], list[list[int]]]] = {}


def _mesh(target: Target) -> tuple[dict[tuple[int, int], int], list[list[int]]]:
    """(chip site -> its index among the chip's usable cores, and for ``r`` = 1, 2, ... the
    global columns whose sites in rows ``0..r-1`` are all usable), per target geometry. The
    disabled sites repeat on every chip, so the columns stop changing after one chip's rows:
    later entries are the same list (nothing here grows with the number of chips)."""
    key = (target.name, target.chips, target.chip_grid, target.disabled)
    if key not in _CACHE:
        (cw, ch), (gx, gy) = target.chip_grid, target.chips
        local = {site: i for i, site in enumerate(target.chip_cores())}
        cols, clean = list(range(cw * gx)), []
        for y in range(min(ch, ch * gy)):
            cols = [x for x in cols if (x % cw, y) in local]
            clean.append(cols)
        clean += [cols] * (ch * gy - len(clean))
        _CACHE[key] = (local, clean)
    return _CACHE[key]


def grid_columns(target: Target) -> list[list[int]]:
    """Entry ``r - 1``: the global mesh columns whose sites in rows ``0..r-1`` are all usable
    (a grid of r rows takes the first of them, :func:`grid_sites`)."""
    return _mesh(target)[1]


def grid_sites(target: Target, rows: int, cols: int) -> list[int] | None:
    """Core indices (program core order, :func:`d1c.codegen.placement.core_order`) of an ``rows x
    cols`` grid, row-major: global mesh rows ``0..rows-1`` and the first ``cols`` global columns
    whose sites in those rows are all usable; None if the mesh has no such rectangle."""
    local, clean = _mesh(target)
    if not 1 <= rows <= len(clean) or len(clean[rows - 1]) < cols:
        return None
    (cw, ch), chips_x, per = target.chip_grid, target.chips[0], len(local)
    xs = clean[rows - 1]

    def index(x: int, y: int) -> int:  # chips first, then the chip's usable cores
        return ((y // ch) * chips_x + x // cw) * per + local[(x % cw, y % ch)]

    return [index(xs[q], r) for r in range(rows) for q in range(cols)]


def _part(v, view, addr: int, rows, cols, buf: int, head: bool):
    """(SRAM tile, DMA descriptors) of an operand tile: only a chain's head loads it."""
    if head:
        loads, t = _operand_part(v, view, addr, rows, cols, buf)
        return t, loads
    return tile_desc(buf, rows[1] - rows[0], cols[1] - cols[0], v.type), ()


def plan_systolic(op: Op, hbm: dict, buffers_at: int, sites: list[int]) -> KernelPlan:
    """The plan of a matmul with a ``grid`` attribute on the cores ``sites`` (module docstring)."""
    a, b = op.operands
    m, k = a.type.shape[-2:]
    n = b.type.shape[-1]
    tm, tn, tk = op.attrs["tile"]
    rows, cols = op.attrs["grid"]
    area = BufferArea(buffers_at)
    c_buf, a_buf, b_buf = (
        area.take(tm * tn * 4),
        area.take(tm * tk * esize(a.type)),
        area.take(tk * tn * esize(b.type)),
    )
    sets = buffer_sets(op)
    plan = KernelPlan(op, "matmul", area.used * sets, buffers=sets)
    par = Parity(sets, area.used)
    (a_view, a_at), (b_view, b_at) = operand_source(a, hbm), operand_source(b, hbm)
    c_view = _batched((m, n))
    ispan, jspan, kspan = _spans(m, tm), _spans(n, tn), _spans(k, tk)
    for r in range(rows):
        for q in range(cols):
            at = r * cols + q
            core = sites[at]
            noc = (
                sites[at - 1] if q else NONE,
                sites[at - cols] if r else NONE,
                sites[at + 1] if q + 1 < cols else NONE,
                sites[at + cols] if r + 1 < rows else NONE,
            )
            for i in range(r, len(ispan), rows):
                for j in range(q, len(jspan), cols):
                    it = par.next_item(core)
                    steps = []
                    for s, kk in enumerate(kspan, start=it * len(kspan)):
                        o = par.offset(s)
                        ta, la = _part(a, a_view, a_at, ispan[i], kk, a_buf + o, q == 0)
                        tb, lb = _part(b, b_view, b_at, kk, jspan[j], b_buf + o, r == 0)
                        steps.append(Step(la + lb, (ta, tb), noc=noc))
                    c_at = c_buf + par.offset(it)
                    rr, cc = ispan[i], jspan[j]
                    out = tile_desc(c_at, rr[1] - rr[0], cc[1] - cc[0], op.result.type)
                    store = V.row_segments(c_view, hbm[op.result], 4, rr, cc, c_at, to_hbm=True)
                    item = WorkItem(out, tuple(steps), tuple(store), (rr, cc))
                    plan.items.setdefault(core, []).append(item)
    return plan
