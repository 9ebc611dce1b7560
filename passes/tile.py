"""``tile``: choose the tile shape of every kernel op (the ``tile`` attribute).

Tiles never change bits (docs/lowering.md §2), only how work splits over cores and SRAM. The
shape is the largest that keeps the kernel's buffers (result, operands, staging) under half of a
core's SRAM, capped so that big ops split over many cores: elementwise and reduction tiles
``[rows, cols]``, matmul ``[tm, tn, tk]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from d1c.ir import Module, Op
from d1c.passes.kernel_plan import esize, kind_of, operand_view, returned_values
from d1c.passes.pass_manager import Context, register_pass
from d1c.target import load_target

MAX_COLS = 512  # row width of an elementwise tile (elements)
MAX_ROWS = 256
MATMUL_TILE = (64, 64, 128)  # tm, tn, tk: 8x8x4 blocks of the matrix unit, 48 KiB of buffers


def _budget(ctx: Context) -> int:
    """Bytes of a core's SRAM the kernel buffers of one op may use."""
    return load_target(ctx.target or "dojo-tile").sram_bytes // 2


def _ew_tile(op: Op, budget: int) -> tuple[int, int]:
    shape = op.result.type.shape
    rows, cols = (math.prod(shape[:-1]), shape[-1]) if shape else (1, 1)
    per_elem = esize(op.result.type) + sum(2 * esize(v.type) for v in op.operands)
    tc = max(1, min(cols, MAX_COLS))
    tr = max(1, min(rows, MAX_ROWS, budget // (tc * per_elem)))
    if any(operand_view(op, i, shape).col_stride not in (0, 1) for i in range(len(op.operands))):
        tr = _divisor_at_most(
            shape[-2] if len(shape) >= 2 else 1, tr
        )  # transposes stay in one plane
    return tr, tc


def _divisor_at_most(n: int, cap: int) -> int:
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def _matmul_tile(op: Op, budget: int) -> tuple[int, int, int]:
    a, b = op.operands
    m, k = a.type.shape[-2:]
    n = b.type.shape[-1]
    tm, tn, tk = (min(m, MATMUL_TILE[0]), min(n, MATMUL_TILE[1]), min(k, MATMUL_TILE[2]))
    while tm * tn * 4 + (tm + tn) * tk * esize(a.type) > budget and tk > 4:
        tk //= 2
    return tm, tn, tk


def _reduce_tile(op: Op, budget: int) -> tuple[int, int]:
    """Column chunks continue the reduction in the result's format, which is exact only in fp32;
    other result formats reduce a whole row at once."""
    x = op.operands[0].type
    rows, cols = math.prod(x.shape[:-1]), x.shape[-1]
    tc = max(1, min(cols, MAX_COLS)) if op.result.type.elem.name == "fp32" else max(cols, 1)
    tr = max(1, min(rows, MAX_ROWS, budget // (tc * esize(x) + 4)))
    return tr, tc


TILERS = {"ew": _ew_tile, "matmul": _matmul_tile, "reduce": _reduce_tile}


@register_pass
@dataclass(frozen=True)
class Tile:
    name: ClassVar[str] = "tile"

    def apply(self, module: Module, ctx: Context) -> Module:
        budget = _budget(ctx)
        for func in module.functions:
            returned = returned_values(func)
            for op in func.ops[:-1]:
                tiler = TILERS.get(kind_of(op, returned))
                if tiler is not None:
                    op.attrs["tile"] = tuple(tiler(op, budget))
        return module
