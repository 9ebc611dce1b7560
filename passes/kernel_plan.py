"""Kernel plans: for one op of placed IR, which core computes which output tile, and the DMA and
tile descriptors every tile needs. ``allocate-sram`` sizes SRAM from plans; ``isel`` encodes them.

Execution model (docs/lowering.md §3): every tensor lives in DIP HBM, row-major in its device
format; a kernel's cores stream operand tiles into SRAM buffers by DMA, compute, and stream the
result tile back. Operands are read through affine views (:mod:`d1c.passes.dma_views`), so
broadcasting and data movement (permute, slice, broadcast_to) cost no extra kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from d1c.errors import CompileError
from d1c.ir import Function, Op, TensorType, Value
from d1c.isa.tiles import ELEM_BYTES, DmaDesc, TDesc
from d1c.passes import dma_views as V

# IR element type name -> device tile format: i1 is stored as bf16 0.0/1.0, integer indices as i32.
DEVICE_FMT = {
    "fp32": "fp32",
    "bf16": "bf16",
    "fp16": "fp16",
    "cfp8_143": "cfp8_143",
    "cfp8_152": "cfp8_152",
    "shp": "shp",
    "i32": "i32",
    "i64": "i32",
    "i1": "bf16",
}
UNARY_FN = {
    "exp": "exp",
    "tanh": "tanh",
    "erf": "erf",
    "rsqrt": "rsqrt",
    "reciprocal": "reciprocal",
    "sigmoid": "sigmoid",
    "log": "log",
    "silu": "silu",
    "relu": "relu",
    "neg": "neg",
    "abs": "abs",
    "sqrt": "sqrt",
}
BINARY_INST = {
    "add": "vadd",
    "sub": "vsub",
    "mul": "vmul",
    "div": "vdiv",
    "maximum": "vmax",
    "minimum": "vmin",
    "logical_and": "vmul",
    "logical_or": "vmax",
}
COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")
MOVEMENT = ("permute", "slice", "broadcast_to")
EW = (*UNARY_FN, "gelu", *BINARY_INST, *COMPARE, "where", "convert", "logical_not", *MOVEMENT)
REDUCE = {"reduce_sum": "sum", "reduce_max": "max", "reduce_min": "min"}


def device_fmt(t: TensorType) -> tuple[str, int]:
    """(tile format, bias) of a tensor type on the device."""
    return DEVICE_FMT[t.elem.name], t.elem.bias or 0


def esize(t: TensorType) -> int:
    return ELEM_BYTES[device_fmt(t)[0]]


def kind_of(op: Op, returned: set[Value]) -> str:
    """How an op runs: on the host (input packing / output unpacking), as an HBM alias or image,
    or as a kernel of one of the kinds ew, matmul, reduce, gather."""
    if op.name == "convert" and op.operands[0].owner is None:
        return "host_in"
    if op.name == "convert" and op.result in returned and op.result.type.elem.name == "fp32":
        return "host_out"
    if op.name in ("const", "full"):
        return "data"
    if op.name == "reshape":
        return "alias"
    if op.name in EW:
        return "ew"
    if op.name == "matmul":
        return "matmul"
    if op.name in REDUCE:
        return "reduce"
    if op.name == "embedding":
        return "gather"
    if op.name == "concat":
        return "concat"
    raise CompileError(
        f"'{op.name}' has no kernel on the D1 (run the tiled pipeline first)", op.loc
    )


def returned_values(func: Function) -> set[Value]:
    return set(func.outputs)


@dataclass(frozen=True)
class Step:
    """One round of a tile's work: DMA these in, transpose staged tiles, then compute."""

    dma_in: tuple[DmaDesc, ...]
    tiles: tuple[TDesc, ...]  # operand tiles in SRAM, in the order the instruction takes them
    trans: tuple[tuple[TDesc, TDesc], ...] = ()  # (staged [C, R], operand [R, C]) for ttrans


@dataclass(frozen=True)
class WorkItem:
    out: TDesc
    steps: tuple[Step, ...]
    dma_out: tuple[DmaDesc, ...]


@dataclass
class KernelPlan:
    op: Op
    kind: str
    buffer_bytes: int  # SRAM bytes of this kernel's buffers on each core
    items: dict[int, list[WorkItem]] = field(default_factory=dict)  # core index -> its tiles


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


def _tdesc(addr: int, rows: int, cols: int, t: TensorType) -> TDesc:
    fmt, bias = device_fmt(t)
    return TDesc(addr, rows, cols, 0, fmt, bias)


def plan_ew(op: Op, hbm: dict[Value, int], buffers_at: int) -> KernelPlan:
    """Elementwise (and movement) kernel over the 2-D form of the result."""
    out_t = op.result.type
    out_view = V.contiguous(out_t.shape)
    rows, cols = out_view.rows, out_view.cols
    tr, tc = op.attrs["tile"][:2]
    area = BufferArea(buffers_at)
    out_buf = area.take(tr * tc * esize(out_t))
    views = [operand_view(op, i, out_t.shape) for i in range(len(op.operands))]
    bufs = [area.take(tr * tc * esize(v.type)) for v in op.operands]
    stages = [
        area.take(tr * tc * esize(v.type)) if w.col_stride not in (0, 1) else None
        for v, w in zip(op.operands, views, strict=True)
    ]
    plan = KernelPlan(op, "ew", area.used)
    tiles = grid(rows, cols, (tr, tc))
    for (rr, cc), core in zip(tiles, deal(len(tiles), op.attrs["cores"]), strict=True):
        r, c = rr[1] - rr[0], cc[1] - cc[0]
        dmas, descs, trans = [], [], []
        for v, w, buf, stage in zip(op.operands, views, bufs, stages, strict=True):
            d, t = _operand_tile(v, w, hbm[v], rr, cc, buf, stage)
            dmas += d
            descs.append(t[0])
            trans += t[1:]
        out = _tdesc(out_buf, r, c, out_t)
        store = V.row_segments(out_view, hbm[op.result], esize(out_t), rr, cc, out_buf, to_hbm=True)
        item = WorkItem(out, (Step(tuple(dmas), tuple(descs), tuple(trans)),), tuple(store))
        plan.items.setdefault(core, []).append(item)
    return plan


def _operand_tile(v: Value, w: V.View, addr: int, rr, cc, buf: int, stage: int | None):
    r, c = rr[1] - rr[0], cc[1] - cc[0]
    es = esize(v.type)
    if stage is None:
        width = 1 if w.col_stride == 0 else c
        return V.row_segments(w, addr, es, rr, cc, buf), (_tdesc(buf, r, width, v.type),)
    loads = V.transposed_segments(w, addr, es, rr, cc, stage)
    if loads is None:
        raise CompileError(
            f"cannot move a {list(w.shape)} view with strides {list(w.strides)} by DMA",
            v.owner.loc if v.owner else None,
            hint="tile rows must stay inside the innermost dim",
        )
    staged = _tdesc(stage, c, r, v.type)
    final = _tdesc(buf, r, c, v.type)
    return loads, (final, (staged, final))


def plan_matmul(op: Op, hbm: dict[Value, int], buffers_at: int) -> KernelPlan:
    """C[b] = A[b] @ B[b]: output tiles [tm, tn], K in chunks of tk accumulated in fp32."""
    a, b = op.operands
    out_t = op.result.type
    batch = out_t.shape[0] if out_t.rank == 3 else 1
    m, k = a.type.shape[-2:]
    n = b.type.shape[-1]
    tm, tn, tk = op.attrs["tile"]
    area = BufferArea(buffers_at)
    c_buf, a_buf, b_buf = (
        area.take(tm * tn * 4),
        area.take(tm * tk * esize(a.type)),
        area.take(tk * tn * esize(b.type)),
    )
    plan = KernelPlan(op, "matmul", area.used)
    a_view, b_view = _batched(a.type.shape), _batched(b.type.shape)
    c_view = _batched(out_t.shape)
    tiles = [(bi, mm, nn) for bi in range(batch) for mm, nn in grid(m, n, (tm, tn))]
    for (bi, mm, nn), core in zip(tiles, deal(len(tiles), op.attrs["cores"]), strict=True):
        steps = []
        for k0 in range(0, k, tk):
            kk = (k0, min(k0 + tk, k))
            la = V.row_segments(a_view, hbm[a], esize(a.type), _rows(bi, mm, m), kk, a_buf)
            lb = V.row_segments(b_view, hbm[b], esize(b.type), _rows(bi, kk, k), nn, b_buf)
            ta = _tdesc(a_buf, mm[1] - mm[0], kk[1] - kk[0], a.type)
            tb = _tdesc(b_buf, kk[1] - kk[0], nn[1] - nn[0], b.type)
            steps.append(Step(tuple(la + lb), (ta, tb)))
        out = _tdesc(c_buf, mm[1] - mm[0], nn[1] - nn[0], out_t)
        store = V.row_segments(c_view, hbm[op.result], 4, _rows(bi, mm, m), nn, c_buf, to_hbm=True)
        plan.items.setdefault(core, []).append(WorkItem(out, tuple(steps), tuple(store)))
    return plan


def _batched(shape: tuple[int, ...]) -> V.View:
    """A rank-2 or rank-3 tensor as a [batch*rows, cols] contiguous 2-D view."""
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
    plan = KernelPlan(op, "reduce", area.used)
    out_view = V.contiguous((rows, 1))
    tiles = grid(rows, 1, (tr, 1))
    for (rr, _), core in zip(tiles, deal(len(tiles), op.attrs["cores"]), strict=True):
        r = rr[1] - rr[0]
        steps = []
        for c0 in range(0, cols, tc):
            cc = (c0, min(c0 + tc, cols))
            load = V.row_segments(view, hbm[x], esize(x.type), rr, cc, x_buf)
            steps.append(Step(tuple(load), (_tdesc(x_buf, r, cc[1] - cc[0], x.type),)))
        out = _tdesc(o_buf, r, 1, out_t)
        store = V.row_segments(
            out_view, hbm[op.result], esize(out_t), rr, (0, 1), o_buf, to_hbm=True
        )
        plan.items.setdefault(core, []).append(WorkItem(out, tuple(steps), tuple(store)))
    return plan


PLANNERS = {"ew": plan_ew, "matmul": plan_matmul, "reduce": plan_reduce}
