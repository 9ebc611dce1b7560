"""Where placed IR puts things: the program's core order and cores, the cores of a systolic
grid, and the DIP HBM layout of tensors (what the ``cores``, ``grid`` and ``hbm`` attributes that
``place`` writes mean; :mod:`d1c.codegen.emit` and the passes after ``place`` read them here).

Cores are taken chips first, then cores within a chip (:func:`core_order`). Tensors are laid out
in HBM in program order, 64-byte aligned, round-robin over the DIPs so that streams spread over
their links, those from :data:`STRIPE_MIN` bytes up striped over all DIPs (:class:`HbmLayout`).
"""

from __future__ import annotations

import math

from d1c.codegen.memory import LOGICAL
from d1c.codegen.plan import esize, kind_of, returned_values, tile_count
from d1c.codegen.systolic import grid_sites
from d1c.errors import CompileError, Loc
from d1c.ir import Function, Op, Value
from d1c.isa.tiles import DIP_SHIFT, STRIPE_BYTES, STRIPED
from d1c.target import Target

STRIPE_MIN = 1 << 20  # tensors from 1 MiB up are striped over the DIPs


def core_order(target: Target, n: int | None = None) -> list[tuple[int, int, int, int]]:
    """Usable cores, chips first (row-major), then cores within a chip (row-major); only the
    first ``n`` (all if None), so a small program on a big target lists only its own cores."""
    sites, chips_x = target.chip_cores(), target.chips[0]
    total = target.num_cores if n is None else min(n, target.num_cores)
    per = len(sites)
    return [
        (c % chips_x, c // chips_x, *sites[i]) for c, i in (divmod(k, per) for k in range(total))
    ]


def program_cores(func: Function, target: Target) -> int:
    """How many cores (a prefix of :func:`core_order`) the program runs on: enough for the
    kernel with the most tiles, capped by the target, and every systolic grid's cores."""
    tiles = [tile_count(op) for op in func.ops if "tile" in op.attrs]
    n = max(1, min(target.num_cores, max(tiles, default=1)))
    grids = [op_sites(op, target) for op in func.ops if "grid" in op.attrs]
    return max([n] + [max(s) + 1 for s in grids if s])


def op_sites(op: Op, target: Target) -> list[int] | None:
    """The cores of a systolic matmul's ``grid`` (None: not on a grid); a CompileError if the
    target has no such grid (IR written by hand for another target)."""
    if "grid" not in op.attrs:
        return None
    if op.name != "matmul" or math.prod(op.result.type.shape[:-2]) != 1:
        raise CompileError(
            f"'{op.name}' has a `grid`: only an unbatched matmul runs on a core grid",
            op.loc,
            hint="drop the `grid` attribute",
        )
    rows, cols = op.attrs["grid"]
    sites = grid_sites(target, rows, cols)
    if sites is None:
        raise CompileError(
            f"target '{target.name}' has no {rows}x{cols} grid of usable cores for this matmul",
            op.loc,
            hint="drop the `grid` attribute or use a smaller grid",
        )
    return sites


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


class LogicalLayout:
    """Addresses in the logical tensor space (:data:`d1c.codegen.memory.LOGICAL`), 64-byte
    aligned, one range per intermediate tensor: where it lives is decided later
    (:mod:`d1c.codegen.memory`)."""

    def __init__(self) -> None:
        self.top = LOGICAL

    def take(self, nbytes: int) -> int:
        self.top += -(-max(nbytes, 1) // 64) * 64
        return self.top - -(-max(nbytes, 1) // 64) * 64


HOST_OR_DATA = ("host_in", "host_out", "data", "alias")


def hbm_values(func: Function, returned: set[Value]) -> set[Value]:
    """The values that must live in DIP HBM: the function's results, what the host unpacks into
    them, and the operands of reshapes (aliases) of those."""
    need = set(func.outputs)
    for op in reversed(func.ops[:-1]):
        kind = kind_of(op, returned)
        if (kind == "host_out" and op.result in need) or (kind == "alias" and op.result in need):
            need.add(op.operands[0])
    return need


def is_intermediate(op: Op, kind: str, needed: set[Value]) -> bool:
    """Whether ``op``'s result is an intermediate tensor (a logical address): a kernel's result
    that the host never reads."""
    return kind not in HOST_OR_DATA and op.result not in needed


def hbm_after_place(func: Function, target: Target) -> HbmLayout:
    """The HBM layout after ``place`` put the program's HBM tensors (the same takes in the same
    order): tensors spilled from SRAM go after them."""
    layout = hbm_layout(target)
    arg_addresses(func, layout)
    returned = returned_values(func)
    for op in func.ops[:-1]:
        kind = kind_of(op, returned)
        if kind in ("host_out", "alias") or "hbm" not in op.attrs:
            continue
        if op.attrs["hbm"] < LOGICAL:
            layout.take(hbm_bytes(op.result))
    return layout


def addresses(func: Function, target: Target) -> dict[Value, int]:
    """The HBM address of every value of placed IR: arguments by the layout rule, op results
    from their ``hbm`` attributes."""
    where = arg_addresses(func, hbm_layout(target))
    where.update({op.result: op.attrs["hbm"] for op in func.ops if "hbm" in op.attrs})
    return where
