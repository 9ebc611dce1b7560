"""``tile``: choose the tile shape of every kernel op (the ``tile`` attribute).

Tiles never change bits (docs/lowering.md §2), only how work splits over cores and SRAM. The
shape is the largest that keeps the kernel's buffers (result, operands, staging) under half of a
core's SRAM, capped so that big ops split over many cores: elementwise, movement, concat, fill,
gather and reduction tiles ``[rows, cols]``, matmul ``[tm, tn, tk]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from d1c.codegen import views as V
from d1c.codegen.plan import esize, kind_of, operand_view, returned_values
from d1c.errors import CompileError
from d1c.ir import Module, Op
from d1c.passes.pass_manager import Context, register_pass

MAX_COLS = 512  # row width of an elementwise tile (elements)
MAX_ROWS = 256
STRIDED_ROWS = 32  # tile rows of an operand loaded by element descriptors (descriptors per tile)
MATMUL_TILE = (64, 64, 128)  # tm, tn, tk: 8x8x4 blocks of the matrix unit, 48 KiB of buffers


def _budget(ctx: Context) -> int:
    """Bytes of a core's SRAM the kernel buffers of one op may use."""
    return ctx.target.sram_bytes // 2


def _fit(shape: tuple[int, ...], per_elem: int, budget: int) -> tuple[int, int]:
    """The biggest [tr, tc] tile of a 2-D form at ``per_elem`` buffer bytes per element."""
    rows, cols = V.rows_cols(shape)
    tc = max(1, min(cols, MAX_COLS))
    return max(1, min(rows, MAX_ROWS, budget // (tc * per_elem))), tc


def _ew_tile(op: Op, budget: int) -> tuple[int, int]:
    shape = op.result.type.shape
    modes = [V.load_mode(operand_view(op, i, shape)) for i in range(len(op.operands))]
    per_elem = esize(op.result.type) + sum(2 * esize(v.type) for v in op.operands)
    tr, tc = _fit(shape, per_elem, budget)
    if "strided" in modes:
        tr = min(tr, STRIDED_ROWS)
    if "trans" in modes:  # transposed tiles stay in one plane of the second-last dim
        tr = _divisor_at_most(shape[-2], tr)
    return tr, tc


def _divisor_at_most(n: int, cap: int) -> int:
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def _matmul_tile(op: Op, budget: int) -> tuple[int, int, int]:
    a, b = op.operands
    m, k = a.type.shape[-2:]
    n = b.type.shape[-1]
    tm, tn, tk = (min(m, MATMUL_TILE[0]), min(n, MATMUL_TILE[1]), min(k, MATMUL_TILE[2]))
    while tm * tn * 4 + (tm + tn) * tk * esize(a.type) > budget:
        if tk > 4:
            tk //= 2
        elif max(tm, tn) > 1:  # small SRAM: the result tile shrinks too
            tm, tn = (max(1, tm // 2), tn) if tm >= tn else (tm, max(1, tn // 2))
        else:
            break
    return tm, tn, tk


def _reduce_tile(op: Op, budget: int) -> tuple[int, int]:
    """Column chunks continue the reduction in the result's format: exact for fp32 results and
    for max/min (their result is one of the inputs); other sums reduce a whole row at once."""
    x = op.operands[0].type
    rows, cols = V.rows_cols(x.shape)
    exact = op.result.type.elem.name == "fp32" or op.name != "reduce_sum"
    tc = max(1, min(cols, MAX_COLS)) if exact else max(cols, 1)
    tr = max(1, min(rows, MAX_ROWS, budget // (tc * esize(x) + 4)))
    return tr, tc


def _concat_tile(op: Op, budget: int) -> tuple[int, int]:
    widest = max((v.type.shape for v in op.operands), key=lambda s: V.rows_cols(s)[1])
    return _fit(widest, 2 * esize(op.result.type), budget)


def _fill_tile(op: Op, budget: int) -> tuple[int, int]:
    return _fit(op.result.type.shape, esize(op.result.type), budget)


def _gather_tile(op: Op, budget: int) -> tuple[int, int]:
    """Index rows x weight columns: the whole [V, tc] weight chunk must fit with the tile."""
    w, idx = op.operands
    nv, d = w.type.shape
    tr = max(1, min(idx.type.numel, MAX_ROWS))
    per_col = nv * esize(w.type) + tr * esize(op.result.type)
    tc = min(d, MAX_COLS, (budget - 4 * tr) // per_col)
    if tc < 1:
        raise CompileError(
            f"one column of the {w.type} embedding weight ({nv * esize(w.type)} bytes) does not "
            f"fit a core's kernel buffers ({budget} bytes)",
            op.loc,
            hint="use a target with more SRAM per core, or split the vocabulary",
        )
    return tr, tc


TILERS = {
    "ew": _ew_tile,
    "matmul": _matmul_tile,
    "reduce": _reduce_tile,
    "concat": _concat_tile,
    "fill": _fill_tile,
    "gather": _gather_tile,
}


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
