"""``place``: which cores run each kernel (``cores``) and where each tensor lives in DIP HBM
(``hbm``).

Cores are taken chips first, then cores within a chip: the program's core order lists the usable
cores of chip (0, 0) row by row, then chip (1, 0), and so on, skipping disabled sites; a kernel
with T tiles runs on the first min(T, P) cores, where P (the program's core count) is the most
tiles any kernel has, capped by the target. So small programs stay on one chip, near DIP 0, and
large kernels spread over chips. Tensors are laid out in HBM in program order, 64-byte aligned,
round-robin over the DIPs so that streams spread over their links; a ``reshape`` aliases its
operand (row-major data does not move).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from d1c.errors import CompileError, Loc
from d1c.ir import Function, Module, Op, Value
from d1c.isa.tiles import DIP_SHIFT, STRIPE_BYTES, STRIPED
from d1c.passes.kernel_plan import esize, kind_of, returned_values, tile_count
from d1c.passes.kernel_systolic import grid_options, tile_grid
from d1c.passes.pass_manager import Context, register_pass
from d1c.target import Target, load_target

STRIPE_MIN = 1 << 20  # tensors from 1 MiB up are striped over the DIPs


def core_order(target: Target) -> list[tuple[int, int, int, int]]:
    """Usable cores, chips first (row-major), then cores within a chip (row-major)."""
    cx, cy = target.chips
    return [(x, y, gx, gy) for y in range(cy) for x in range(cx) for gx, gy in target.chip_cores()]


def systolic_grid(op: Op, cores: int, target: Target) -> tuple[int, int] | None:
    """The core grid of a systolic matmul (:mod:`d1c.passes.kernel_systolic`) when the cost
    model says it beats dealing tiles to cores that each read their own operands; else None.

    Estimate of a kernel: max(compute of its busiest core, its DIP bytes / all DIPs' bandwidth)
    plus, on a grid, the chains' fill (one K step per core along a row and a column)."""
    options = grid_options(op, cores)
    if not options:
        return None
    a, b = op.operands
    m, k = a.type.shape[-2:]
    n = b.type.shape[-1]
    tm, tn, tk = op.attrs["tile"]
    ti, tj = tile_grid(op)
    mac_rate = int(target.core["matrix_macs_per_cycle"])
    dip = target.dip
    bw = int(dip["count"]) * min(dip["hbm_bytes_per_s"], dip["link_bytes_per_s"]) / target.clock_hz
    ea, eb = esize(a.type), esize(b.type)
    tile_cycles = tm * tn * k / mac_rate
    out_bytes = m * n * 4

    def estimate(r: int, q: int, dealt: bool) -> float:
        if dealt:  # every tile reads its A rows and B columns
            busiest = math.ceil(ti * tj / min(cores, ti * tj)) * tile_cycles
            moved = (m * k * ea) * tj + (k * n * eb) * ti
            return max(busiest, (moved + out_bytes) / bw)
        busiest = (ti // r) * (tj // q) * tile_cycles
        moved = (m * k * ea) * (tj // q) + (k * n * eb) * (ti // r)
        fill = (r + q) * tm * tn * tk / mac_rate
        return max(busiest, (moved + out_bytes) / bw) + fill

    best = min(options, key=lambda g: (estimate(*g, False), -g[0] * g[1], g))
    return best if estimate(*best, False) < estimate(1, 1, True) else None


def program_cores(func: Function, target: Target) -> int:
    tiles = [tile_count(op) for op in func.ops if "tile" in op.attrs]
    return max(1, min(target.num_cores, max(tiles, default=1)))


class HbmLayout:
    """HBM allocation, 64-byte aligned. A tensor of at least ``STRIPE_MIN`` bytes on a target with
    several DIPs goes to the striped window (:func:`d1c.isa.tiles.dip_shares`: every DIP serves its
    stripes, so one big operand streams at all DIPs' bandwidth) and takes an equal share of every
    DIP's capacity; smaller tensors go round-robin over the DIPs (a full DIP is skipped). ``take``
    returns None when there is no room."""

    def __init__(self, dips: int, capacity: int) -> None:
        self.tops = [0] * dips
        self.next = 0
        self.striped = 0
        self.capacity = min(capacity, 1 << DIP_SHIFT)

    def take(self, nbytes: int) -> int | None:
        size = -(-max(nbytes, 1) // 64) * 64
        dips = len(self.tops)
        if dips > 1 and size >= STRIPE_MIN:
            stripes = -(-size // STRIPE_BYTES)
            share = -(-stripes // dips) * STRIPE_BYTES
            if all(top + share <= self.capacity for top in self.tops):
                self.tops = [top + share for top in self.tops]
                self.striped += stripes * STRIPE_BYTES
                return (STRIPED << DIP_SHIFT) + self.striped - stripes * STRIPE_BYTES
        for k in range(dips):
            d = (self.next + k) % dips
            if self.tops[d] + size <= self.capacity:
                self.next = (d + 1) % dips
                self.tops[d] += size
                return (d << DIP_SHIFT) + self.tops[d] - size
        return None


def hbm_layout(target: Target) -> HbmLayout:
    return HbmLayout(int(target.dip["count"]), int(target.dip["hbm_bytes"]))


def take_hbm(layout: HbmLayout, v: Value, what: str, loc: Loc | None) -> int:
    """The HBM address of ``v``, or a CompileError saying how much DIP HBM the program needs."""
    addr = layout.take(hbm_bytes(v))
    if addr is None:
        used = sum(layout.tops)
        raise CompileError(
            f"{what} ({v.type}, {hbm_bytes(v)} bytes) does not fit in DIP HBM: {used} bytes are "
            f"already placed in {len(layout.tops)} DIP(s) of {layout.capacity} bytes",
            loc,
            hint="use a target with more DIPs or HBM, or cfp8 storage (--dtype cfp8)",
        )
    return addr


def hbm_bytes(v: Value) -> int:
    return v.type.numel * esize(v.type)


def arg_addresses(func: Function, layout: HbmLayout) -> dict[Value, int]:
    """Function arguments come first in HBM, in order (inputs the host writes in device format)."""
    return {
        a: take_hbm(layout, a, f"argument %{a.name or i}", func.pos)
        for i, a in enumerate(func.args)
    }


def addresses(func: Function, target: Target) -> dict[Value, int]:
    """The HBM address of every value of placed IR: arguments by the layout rule, op results
    from their ``hbm`` attributes."""
    where = arg_addresses(func, hbm_layout(target))
    where.update({op.result: op.attrs["hbm"] for op in func.ops if "hbm" in op.attrs})
    return where


@register_pass
@dataclass(frozen=True)
class Place:
    name: ClassVar[str] = "place"

    def apply(self, module: Module, ctx: Context) -> Module:
        target = load_target(ctx.target or "dojo-tile")
        for func in module.functions:
            self._place(func, target)
        return module

    def _place(self, func: Function, target: Target) -> None:
        cores = program_cores(func, target)
        layout = hbm_layout(target)
        returned = returned_values(func)
        where = arg_addresses(func, layout)
        for op in func.ops[:-1]:
            kind = kind_of(op, returned)
            if "tile" in op.attrs:
                op.attrs["cores"] = min(cores, tile_count(op))
                op.attrs.pop("grid", None)
                grid = systolic_grid(op, cores, target)
                if grid is not None:
                    op.attrs["grid"], op.attrs["cores"] = tuple(grid), grid[0] * grid[1]
            if kind == "host_out":
                continue
            if kind == "alias":
                where[op.result] = where[op.operands[0]]
            else:
                where[op.result] = take_hbm(layout, op.result, f"the result of '{op.name}'", op.loc)
            op.attrs["hbm"] = where[op.result]
