"""Instruction selection: placed IR -> one SPMD code section plus per-core work lists.

Every core of the program runs the same code: for each kernel (op) in program order it reads its
row of the parameter table (``param`` special register) for the address and count of its work
records, takes the dependency tokens of the cores whose results it reads, runs the kernel's loop
over its records, and sends tokens to the cores that read its results (no barrier:
:mod:`d1c.codegen.sync`). A record holds
the DMA descriptor lists and tile-descriptor records of one output tile; its layout is fixed per
kernel, so the loop body indexes it with constant offsets. Address arithmetic happened at compile
time (:mod:`d1c.codegen.plan`); the code is a few dozen instructions per kernel whatever the
number of cores.

Registers: x20 = this core's parameter row, x21 = cores in the program,
x22 = the next kernel's (records, count) pair in the parameter row, x8 = large immediates,
x1 = current record, x2 = records left, x3/x4 = DMA list address/count, x5 = scalar operand,
x6 = current K step, x7 = K steps left (x9: double-buffered kernels, :mod:`d1c.codegen.isel_pipelined`;
x10: a neighbour's packed coordinate in a systolic matmul, :mod:`d1c.codegen.systolic`, or a
token's peer; x11 tokens left to take, x12/x13 count and list of the cores to tell,
:mod:`d1c.codegen.sync`).
Tiles: t0 = result, t1.. = operands, t8.. = staged (transposed) operands, t11..t13 = side operands
and t14/t15 = results of a fused epilogue (:mod:`d1c.codegen.epilogue`). Tags: 0 = operand loads,
1 = result stores (double-buffered kernels: 0/1 = loads into buffer set 0/1, 2/3 = stores from
result set 0/1). Message tags (send/recv): 4 = A tiles, 5 = B tiles of a systolic matmul,
6 = dependency tokens (``notify``/``await``, :mod:`d1c.codegen.sync`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from d1c.codegen.kinds import DEVICE_FMT, ROUND_MODE
from d1c.codegen.plan import (
    BINARY_INST,
    COMPARE,
    REDUCE,
    UNARY_FN,
    KernelPlan,
    WorkItem,
    operand_view,
)
from d1c.codegen.sync import TOKEN_TAG
from d1c.ir import Op
from d1c.isa.semantics import pack_coord as _pack
from d1c.isa.tiles import DmaDesc, TDesc, tdesc_words

Coord = tuple[int, int, int, int]


def desc_words(d: DmaDesc) -> list[int]:
    return [
        int(d.to_hbm),
        d.sram,
        d.hbm & 0xFFFFFFFF,
        d.hbm >> 32,
        d.rows,
        d.row_bytes,
        d.sram_stride,
        d.hbm_stride,
    ]


@dataclass
class CoreImage:
    """The static SRAM image of one core: records and DMA lists, appended at ``base``."""

    base: int
    words: list[int] = field(default_factory=list)

    @property
    def top(self) -> int:
        return self.base + 4 * len(self.words)

    def put(self, words: list[int]) -> int:
        addr = self.top
        self.words += [int(w) & 0xFFFFFFFF for w in words]
        return addr

    def data(self) -> bytes:
        return np.asarray(self.words, dtype="<u4").tobytes()


# ---------------------------------------------------------------------------------------------
# Records. Common header: [dma_out list, dma_out count, steps, 0]; then the result tile record;
# then per step: [dma_in list, dma_in count, 0, 0], operand tile records, staged tile records;
# then per fused epilogue op: its result tile record and its side operand tile records.


def _tile_words(t: TDesc) -> list[int]:
    return tdesc_words(t).tolist()


def record(img: CoreImage, item: WorkItem, coords: Sequence[Coord] = ()) -> list[int]:
    """The record words of ``item`` (its DMA lists go to ``img``); ``coords`` places the core
    indices of a systolic step's neighbours."""
    out_list = img.put([w for d in item.dma_out for w in desc_words(d)])
    words = [out_list, len(item.dma_out), len(item.steps), 0, *_tile_words(item.out)]
    for step in item.steps:
        in_list = img.put([w for d in step.dma_in for w in desc_words(d)])
        words += [in_list, len(step.dma_in), 0, 0]
        if step.noc is not None:
            words += [_pack(*coords[c]) if c >= 0 else NO_CORE for c in step.noc]
        words += [w for t in step.tiles for w in _tile_words(t)]
        words += [w for staged, _ in step.trans for w in _tile_words(staged)]
    words += [w for tiles in item.epilogue for t in tiles for w in _tile_words(t)]
    return words


def _first_step(plan: KernelPlan):
    return next(iter(next(iter(plan.items.values())))).steps[0]


def step_head(plan: KernelPlan) -> int:
    """Bytes of a step record's header: DMA list and count, then (systolic matmul) the packed
    coordinates of the cores A and B come from and go to."""
    return 32 if _first_step(plan).noc is not None else 16


def step_bytes(plan: KernelPlan) -> int:
    step = _first_step(plan)
    return step_head(plan) + 16 * (len(step.tiles) + len(step.trans))


def record_bytes(plan: KernelPlan) -> int:
    item = next(iter(next(iter(plan.items.values()))))
    return 32 + step_bytes(plan) * len(item.steps) + epilogue_bytes(plan)


def epilogue_bytes(plan: KernelPlan) -> int:
    """Bytes of the epilogue tile records that follow the last step of a record."""
    return sum(16 * (1 + len(f.sides)) for f in plan.chain)


# ---------------------------------------------------------------------------------------------
# Code templates. Each returns assembly lines for kernel number k.


# Logic on 0/1 (i1 as bf16) or any numbers, nonzero = true, NaN = true, exactly as the IR:
# and = (a ? b : a) != 0, or = (a ? a : b) != 0, not = a == 0; x0 reads as +0.0.
LOGIC_CODE = {
    "logical_and": ["vsel {d}, {a}, {b}, {a}, rne", "vcmps {d}, {d}, x0, ne"],
    "logical_or": ["vsel {d}, {a}, {a}, {b}, rne", "vcmps {d}, {d}, x0, ne"],
    "logical_not": ["vcmps {d}, {a}, x0, eq"],
}
I1_ARITH = {"add": "logical_or", "mul": "logical_and"}  # i1 + is or, i1 * is and


def _compute(plan: KernelPlan) -> list[str]:
    """The instruction(s) computing t0 from operand tiles t1.. (loaded by the caller)."""
    return compute_lines(plan.op, "t0", [f"t{1 + i}" for i in range(len(plan.op.operands))])


def compute_lines(op: Op, d: str, srcs: list[str]) -> list[str]:
    """The instruction(s) computing tile register ``d`` from the operand registers ``srcs``
    (in the op's operand order): one kernel's compute, or one op of a fused epilogue."""
    name = op.name
    if op.result.type.elem.name == "i1" and name in I1_ARITH:
        name = I1_ARITH[name]
    a, b, c = (*srcs, "", "")[:3]
    if name in UNARY_FN:
        return [f"vfn {d}, {a}, {UNARY_FN[name]}, rne"]
    if name in ROUND_MODE:
        return [f"vround {d}, {a}, {ROUND_MODE[name]}"]
    if name == "relu":
        return [f"vmaxs {d}, {a}, x0, rne"]  # max(x, +0): -0 and NaN pass, as the IR's relu
    if name == "gelu":
        fn = "gelu_tanh" if op.attrs["approximate"] == "tanh" else "gelu_erf"
        return [f"vfn {d}, {a}, {fn}, rne"]
    if name in BINARY_INST:
        return [f"{BINARY_INST[name]} {d}, {a}, {b}, rne"]
    if name in COMPARE:
        return [f"vcmp {d}, {a}, {b}, {name}"]
    if name in LOGIC_CODE:
        return [line.format(d=d, a=a, b=b) for line in LOGIC_CODE[name]]
    if name == "where":
        return [f"vsel {d}, {a}, {b}, {c}, rne"]
    if name == "convert":
        return [_convert(op).format(d=d, a=a)]
    if name == "embedding":
        return [f"tgather {d}, {a}, {b}, rows"]
    return [_movement(op).format(d=d, a=a)]


def _convert(op: Op) -> str:
    """vcvt between number formats; to i1 a != 0 test; integer to integer (both i32 on the
    device) a raw copy, so values beyond fp32's 24 bits survive; i1 (bf16 0.0/1.0 on the
    device) to an integer a vcvt (exact)."""
    src, dst = op.operands[0].type.elem, op.result.type.elem
    if dst.name == "i1":
        return "vcmps {d}, {a}, x0, ne"
    if DEVICE_FMT[src.name] == DEVICE_FMT[dst.name] == "i32":
        return "tcopy {d}, {a}"
    if src.is_float and dst.is_int:  # truncate, then the i32 store of an integer is exact
        return "vround {d}, {a}, trunc"
    return "vcvt {d}, {a}, rne"


def _movement(op: Op) -> str:
    """A copy; a broadcast of the last dim loads [r, 1] tiles and repeats them across."""
    if op.name == "broadcast_to" and operand_view(op, 0, op.result.type.shape).col_stride == 0:
        return "tbcast {d}, {a}, cols"
    return "tcopy {d}, {a}"


def load_step(plan: KernelPlan, reg: str) -> list[str]:
    """DMA a step's operands in, then :func:`step_tiles`."""
    dma = [f"ld x3, {reg}, 0", f"ld x4, {reg}, 4", "dma.list x3, x4, 0", "dma.wait 0"]
    return [*dma, *step_tiles(plan, reg)]


def step_tiles(plan: KernelPlan, reg: str) -> list[str]:
    """Load the operand tile records of the step at ``reg`` into t1.., transpose staged tiles,
    and (systolic matmul) receive and forward the A and B tiles."""
    step, head = _first_step(plan), step_head(plan)
    lines = [f"tld t{1 + i}, {reg}, {head + 16 * i}" for i in range(len(step.tiles))]
    base = head + 16 * len(step.tiles)
    for j, (_, final) in enumerate(step.trans):
        slot = 1 + step.tiles.index(final)
        lines += [f"tld t{8 + j}, {reg}, {base + 16 * j}", f"ttrans t{slot}, t{8 + j}"]
    if step.noc is not None:
        lines += noc_exchange(reg)
    return lines


NO_CORE = 0xFFFFFFFF  # a step's missing neighbour (negative as a signed register)
NOC_TAGS = (4, 5)  # message tags of A and B tiles


def noc_exchange(reg: str) -> list[str]:
    """Receive A (t1) from the left neighbour and forward it to the right one, then B (t2) from
    above and down (the step header's coordinates at ``reg`` + 16..28; negative = none). Labels
    hold ``$``, which :func:`kernel_code` numbers per exchange."""
    lines = ["; noc exchange"]
    for t, tag, src, dst in (("t1", NOC_TAGS[0], 16, 24), ("t2", NOC_TAGS[1], 20, 28)):
        for op, off in (("recv", src), ("send", dst)):
            skip = f"n$_{op}{t}"
            lines += [f"ld x10, {reg}, {off}", f"blt x10, x0, {skip}", f"{op} {t}, x10, {tag}"]
            lines.append(f"{skip}:")
    return lines


def _number_exchanges(k: int, lines: list[str]) -> list[str]:
    out, n = [], -1
    for ln in lines:
        if ln == "; noc exchange":
            n += 1
        out.append(ln.replace("$", f"k{k}_{n}") if "$" in ln else ln)
    return out


def store_result() -> list[str]:
    return ["ld x3, x1, 0", "ld x4, x1, 4", "dma.list x3, x4, 1", "dma.wait 1"]


def prologue() -> list[str]:
    """Once per program: find this core's parameter row (SPMD: same address on every core)."""
    return ["csrr x20, param", "ld x21, x20, 0", "addi x22, x20, 4"]


def kernel_head(k: int, plan: KernelPlan) -> list[str]:
    """Mark the kernel's start (for profiles: ``mark``), load the kernel's record address and
    count from the next pair of the parameter row (a moving pointer, so any number of kernels
    fits the ``ld`` offset field); a core without work in the kernel skips it. If the kernel has
    tokens (:mod:`d1c.codegen.sync`): take those of the cores whose results it reads (x11 left),
    and keep the count and address of the cores to tell at the end (x12, x13). x1 then points at
    the first work record."""
    waits, tells = plan.tokens
    lines = [
        f"; kernel {k}",
        f"mark {k}",
        "ld x1, x22, 0",
        "ld x2, x22, 4",
        "addi x22, x22, 8",
        f"beq x2, x0, k{k}_end",
    ]
    if waits:
        lines += [
            "ld x11, x1, 0",
            "addi x1, x1, 4",
            f"beq x11, x0, k{k}_ready",
            f"k{k}_wait:",
            "ld x10, x1, 0",
            f"await x10, {TOKEN_TAG}",
            "addi x1, x1, 4",
            f"loop x11, k{k}_wait",
            f"k{k}_ready:",
        ]
    if tells:
        lines += ["ld x12, x1, 0", "addi x13, x1, 4", "slli x14, x12, 2", "add x1, x13, x14"]
    return [*lines, f"k{k}_loop:"]


def kernel_end(k: int, plan: KernelPlan) -> list[str]:
    """After the core's last work item (its stores complete): a token to every core that reads
    what this core wrote in the kernel, then the end label."""
    if not plan.tokens[1]:
        return [f"k{k}_end:"]
    return [
        f"beq x12, x0, k{k}_end",
        f"k{k}_tell:",
        "ld x10, x13, 0",
        f"notify x10, {TOKEN_TAG}",
        "addi x13, x13, 4",
        f"loop x12, k{k}_tell",
        f"k{k}_end:",
    ]


def kernel_tail(k: int, plan: KernelPlan) -> list[str]:
    return [*add_imm("x1", record_bytes(plan)), f"loop x2, k{k}_loop", *kernel_end(k, plan)]


SIMM = (-(1 << 14), (1 << 14) - 1)  # the range of an I-format immediate (15 bits, signed)


def add_imm(reg: str, n: int) -> list[str]:
    """``reg += n``: one addi when n fits the immediate field, else through x8."""
    if SIMM[0] <= n <= SIMM[1]:
        return [f"addi {reg}, {reg}, {n}"]
    return [*load_const("x8", n & 0xFFFFFFFF), f"add {reg}, {reg}, x8"]


def load_const(reg: str, bits: int) -> list[str]:
    """Two instructions putting the 32-bit constant ``bits`` into ``reg`` (ori's 12 low bits
    are positive, so its sign extension adds nothing)."""
    return [f"lui {reg}, {bits >> 12:#x}", f"ori {reg}, {reg}, {bits & 0xFFF}"]


def code_ew(k: int, plan: KernelPlan) -> list[str]:
    body = [
        "tld t0, x1, 16",
        "addi x6, x1, 32",
        *load_step(plan, "x6"),
        *_compute(plan),
        *epilogue_code(plan),
        *store_result(),
    ]
    return [*kernel_head(k, plan), *body, *kernel_tail(k, plan)]


def _code_stepped(k: int, plan: KernelPlan, first: list[str], rest: list[str]) -> list[str]:
    """A kernel whose tiles take several steps (K chunks, column chunks): ``first`` computes the
    first step into t0, ``rest`` accumulates the others."""
    sb = step_bytes(plan)
    body = ["tld t0, x1, 16", "addi x6, x1, 32", *load_step(plan, "x6"), *first]
    body += ["ld x7, x1, 8", "addi x7, x7, -1", f"beq x7, x0, k{k}store_result", f"k{k}_step:"]
    body += [
        *add_imm("x6", sb),
        *load_step(plan, "x6"),
        *rest,
        f"loop x7, k{k}_step",
        f"k{k}store_result:",
    ]
    body += epilogue_code(plan)
    return [*kernel_head(k, plan), *body, *store_result(), *kernel_tail(k, plan)]


def code_matmul(k: int, plan: KernelPlan) -> list[str]:
    return _code_stepped(k, plan, *_matmul_steps(plan))


def code_reduce(k: int, plan: KernelPlan) -> list[str]:
    return _code_stepped(k, plan, *_reduce_steps(plan))


def _matmul_steps(plan: KernelPlan) -> tuple[list[str], list[str]]:
    return ["mma t0, t1, t2, zero"], ["mma t0, t1, t2, acc"]


def _reduce_steps(plan: KernelPlan) -> tuple[list[str], list[str]]:
    """``vred`` along columns: zero mode starts from the identity (-0.0 for a sum, as the IR's
    sequential sum), acc mode continues; an i1 sum is an or, i.e. a max of 0/1."""
    op = plan.op
    red = REDUCE[op.name]
    if red == "sum" and op.result.type.elem.name == "i1":
        red = "max"
    first, rest = (f"vred t0, t1, {red}, cols, {mode}, rne" for mode in ("zero", "acc"))
    return [first], [rest]


def _ew_steps(plan: KernelPlan) -> tuple[list[str], list[str]]:
    return _compute(plan), []


def epilogue_code(plan: KernelPlan) -> list[str]:
    """The fused epilogue on the SRAM tile, after the last step (x6 points at that step's record):
    each op loads its result tile into t14/t15 (alternating) and its side operands into t11..,
    and computes from the previous op's result (t0, the kernel's own result, for the first)."""
    lines, at, cur = [], step_bytes(plan), "t0"
    for i, f in enumerate(plan.chain):
        dst = f"t{14 + i % 2}"
        lines.append(f"tld {dst}, x6, {at}")
        sides = [f"t{11 + j}" for j in range(len(f.sides))]
        lines += [f"tld {r}, x6, {at + 16 * (1 + j)}" for j, r in enumerate(sides)]
        regs = iter(sides)
        srcs = [cur if n in f.chain else next(regs) for n in range(len(f.op.operands))]
        lines += compute_lines(f.op, dst, srcs)
        at, cur = at + 16 * (1 + len(sides)), dst
    return lines


CODEGEN = {"ew": code_ew, "matmul": code_matmul, "reduce": code_reduce}
STEP_CODE = {"ew": _ew_steps, "concat": _ew_steps, "matmul": _matmul_steps, "reduce": _reduce_steps}
"""Kernel kind -> (first step, later steps) compute code, for kinds that may be double-buffered."""


def kernel_code(k: int, plan: KernelPlan) -> list[str]:
    if plan.buffers == 2:
        from d1c.codegen.isel_pipelined import code_pipelined

        return _number_exchanges(k, code_pipelined(k, plan, *STEP_CODE[plan.kind](plan)))
    return _number_exchanges(k, CODEGEN[plan.kind](k, plan))
