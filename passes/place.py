"""``place``: which cores run each kernel (``cores``) and where each tensor lives in DIP HBM
(``hbm``).

Cores are taken chips first, then cores within a chip: the program's core order lists the usable
cores of chip (0, 0) row by row, then chip (1, 0), and so on, skipping disabled sites; a kernel
with T tiles runs on the first min(T, P) cores, where P (the program's core count) is the most
tiles any kernel has, capped by the target. So small programs stay on one chip, near DIP 0, and
large kernels spread over chips; a systolic matmul (:func:`systolic_layout`) runs on a rectangle
of the mesh, and the program's cores grow to include it. Tensors are laid out in HBM in program
order, 64-byte aligned, round-robin over the DIPs so that streams spread over their links, those
from 1 MiB up striped over all DIPs; a ``reshape`` aliases its operand (row-major data does not
move).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from d1c.codegen.placement import (
    LogicalLayout,
    arg_addresses,
    core_order,
    hbm_bytes,
    hbm_layout,
    hbm_values,
    is_intermediate,
    program_cores,
    take_hbm,
)
from d1c.codegen.plan import esize, kind_of, returned_values, tile_count
from d1c.codegen.systolic import grid_columns, grid_options
from d1c.ir import Function, Module, Op
from d1c.passes.pass_manager import Context, register_pass
from d1c.target import Target

Layout = tuple[tuple[int, int], tuple[int, int, int]]  # (grid rows, cols), (tm, tn, tk)
STEP_CYCLES = 32  # a K step's instructions, DMA setup and message latency, roughly
MARGIN = 0.75  # a grid must be estimated this much faster than dealing: overheads not modelled


def systolic_layout(op: Op, func: Function, target: Target, cores: int) -> Layout | None:
    """The core grid and tile of a systolic matmul (:mod:`d1c.codegen.systolic`) when the
    cost model says it beats dealing the ``tile`` pass's tiles to ``cores`` cores; else None.

    Candidates: the tile pass's tiles on a grid whose rows and columns divide the tile rows and
    columns, and tiles re-cut so that the grid has one tile per core (rows and columns rounded up
    to the matrix block, buffers within half the SRAM, K chunk halved until they fit). Estimate of
    a kernel: max(matrix-unit cycles of its busiest core plus ``STEP_CYCLES`` per K step, DIP
    bytes / all DIPs' bandwidth); a grid adds its chains' fill (per core along a row and a
    column: a tile's transfer and a hop's latency), the result's store after the last step and,
    if it reaches beyond the program's cores, the longer barrier of every kernel; it must win by
    ``MARGIN``. Re-cutting changes no bits: the matrix unit accumulates K sequentially in fp32
    whatever the tile."""
    if op.name != "matmul" or math.prod(op.result.type.shape[:-2]) != 1:
        return None
    a, b = op.operands
    m, k = a.type.shape[-2:]
    n = b.type.shape[-1]
    tm0, tn0, tk0 = op.attrs["tile"]
    ea, eb = esize(a.type), esize(b.type)
    bm, bn, bk = (int(v) for v in target.core["matrix_block"])
    link, hop = int(target.noc["link_bytes_per_cycle"]), int(target.noc["hop_latency_cycles"])
    dip = target.dip
    bw = int(dip["count"]) * min(dip["hbm_bytes_per_s"], dip["link_bytes_per_s"]) / target.clock_hz
    out_bytes = m * n * 4
    budget = target.sram_bytes // 2
    epilogue = 8 * _fused_count(op, func)  # bytes per result element of fused ops and side operands

    def tile_cycles(tm: int, tn: int) -> int:
        return -(-tm // bm) * -(-tn // bn) * -(-k // bk)

    def estimate(r: int, q: int, tm: int, tn: int, tk: int) -> float:
        ti, tj = -(-m // tm), -(-n // tn)
        busiest = (ti // r) * (tj // q) * (tile_cycles(tm, tn) + _cdiv(k, tk) * STEP_CYCLES)
        moved = m * k * ea * (tj // q) + k * n * eb * (ti // r)
        fill = (r + q) * (hop + max(tm * tk * ea, tk * tn * eb) / link)
        return max(busiest, moved / bw) + out_bytes / bw + fill

    ti0, tj0 = -(-m // tm0), -(-n // tn0)
    dealt = max(-(-ti0 * tj0 // min(cores, ti0 * tj0))
                * (tile_cycles(tm0, tn0) + _cdiv(k, tk0) * STEP_CYCLES),
                (m * k * ea * tj0 + k * n * eb * ti0 + out_bytes) / bw)  # fmt: skip
    clean = grid_columns(target)  # usable grid columns for 1, 2, ... rows
    widest = [len(c) for c in clean]
    options: list[tuple[float, int, Layout]] = []
    # a grid reaching beyond the program's cores makes every kernel's barrier wait longer
    far = max(_latency(target, c) for c in core_order(target, cores))
    kernels = sum("tile" in o.attrs for o in func.ops)

    def consider(r: int, q: int, tile: tuple[int, int, int]) -> None:
        if 1 < r * q <= target.num_cores and r <= len(widest) and q <= widest[r - 1]:
            reach = _latency_at(target, clean[r - 1][q - 1], r - 1)
            barriers = 2 * kernels * max(0, reach - far)
            options.append((estimate(r, q, *tile) + barriers, -r * q, ((r, q), tile)))

    for r, q in grid_options(op, target.num_cores):
        consider(r, q, (tm0, tn0, tk0))
    row_cuts = sorted({_round_up(_cdiv(m, r), bm) for r in range(1, len(widest) + 1)})
    col_cuts = sorted({_round_up(_cdiv(n, q), bn) for q in range(1, max(widest, default=0) + 1)})
    for tm in row_cuts:
        for tn in col_cuts:
            tk = min(k, tk0)
            while (tm * tn * (4 + epilogue) + (tm + tn) * tk * max(ea, eb)) > budget and tk > bk:
                tk //= 2
            if tm * tn * (4 + epilogue) + (tm + tn) * tk * max(ea, eb) <= budget:
                consider(-(-m // tm), -(-n // tn), (tm, tn, tk))
    if not options:
        return None
    cost, _, best = min(options)
    return best if cost < MARGIN * dealt else None


def _latency(target: Target, c: tuple[int, int, int, int]) -> int:
    cw, ch = target.chip_grid
    return _latency_at(target, c[0] * cw + c[2], c[1] * ch + c[3])


def _latency_at(target: Target, gx: int, gy: int) -> int:
    """Network latency from core 0.0.0.0 to global site (gx, gy): hops and chip-edge crossings
    (:mod:`d1c.runtime.timing`), the wait a barrier adds for the farthest core."""
    cw, ch = target.chip_grid
    d2d = math.ceil(float(target.edge["d2d_latency_ns"]) * target.clock_hz / 1e9)
    return (gx + gy) * int(target.noc["hop_latency_cycles"]) + (gx // cw + gy // ch) * d2d


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _round_up(a: int, b: int) -> int:
    return _cdiv(a, b) * b


def _fused_count(op: Op, func: Function) -> int:
    """Ops fused into ``op``'s epilogue (its ``fuse`` group), counted with their side operands."""
    group = op.attrs.get("fuse")
    if group is None:
        return 0
    return sum(
        len(o.operands)
        for o in func.ops
        if o is not op and o.attrs.get("fuse") == group and "tile" not in o.attrs
    )


@register_pass
@dataclass(frozen=True)
class Place:
    name: ClassVar[str] = "place"

    def apply(self, module: Module, ctx: Context) -> Module:
        target = ctx.target
        for func in module.functions:
            self._place(func, target)
        return module

    def _place(self, func: Function, target: Target) -> None:
        cores = program_cores(func, target)
        layout, logical = hbm_layout(target), LogicalLayout()
        returned = returned_values(func)
        needed = hbm_values(func, returned)
        where = arg_addresses(func, layout)
        for op in func.ops[:-1]:
            kind = kind_of(op, returned)
            if "tile" in op.attrs:
                op.attrs["cores"] = min(cores, tile_count(op))
                op.attrs.pop("grid", None)
                systolic = systolic_layout(op, func, target, cores)
                if systolic is not None:
                    (r, q), op.attrs["tile"] = systolic
                    op.attrs["grid"], op.attrs["cores"] = (r, q), r * q
            if kind in ("host_out", "window"):
                continue
            if kind == "alias":
                where[op.result] = where[op.operands[0]]
            elif is_intermediate(op, kind, needed):
                where[op.result] = logical.take(hbm_bytes(op.result))
            else:
                where[op.result] = take_hbm(layout, op.result, f"the result of '{op.name}'", op.loc)
            op.attrs["hbm"] = where[op.result]
