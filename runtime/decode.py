"""Decode a code section once into handler tuples, one per instruction word.

Each tuple is ``(handler, operands...)`` with everything that does not change at run time
resolved here: register numbers, immediates, enum names, static branch targets as word indices
(from the row's semantics function), branch-prediction penalties, keyword arguments. The core
loop then only does ``op = code[pc]; pc = op[0](core, pc, op)``. Dispatch is on ``Row.exec``
(:data:`BUILDERS`); a word that does not decode becomes a fault that fires only if executed.
Two sentinel entries follow the code: running into them is a fault (missing ``halt``).
"""

from __future__ import annotations

from d1c.isa.encoding import decode
from d1c.isa.errors import DecodeError
from d1c.isa.spec import WORD_BYTES, Inst, Row
from d1c.runtime import comm, core, dma, tileops
from d1c.runtime.timing import DIV_PASSES, Costs

_KW = {"cond": "cond", "func": "func", "rmode": "rmode"}
_DIV = {"vdiv", "vdivs"}


def _target(n: int, byte_target: int) -> int:
    idx = byte_target >> 2
    return idx if 0 <= byte_target < 4 * n else n


def _b_branch(r: Row, a: dict, i: int, n: int, costs: Costs) -> tuple:
    target = _target(n, 4 * i + 4 * a["off"])
    backward = a["off"] <= 0
    pen = costs.branch_penalty
    return (
        core.ex_branch,
        r.sem,
        a["rs1"],
        a["rs2"],
        target,
        0 if backward else pen,
        pen if backward else 0,
    )


def _b_jump(r: Row, a: dict, i: int, n: int, costs: Costs) -> tuple:
    if r.name == "jalr":
        return (core.ex_jalr, r.sem, a["rd"], a["rs1"], a["imm"], costs.branch_penalty, n)
    if r.name == "j":
        return (core.ex_jump, 0, 0, _target(n, r.sem(4 * i, a["off"])))
    link, dest = r.sem(4 * i, a["off"])
    return (core.ex_jump, a["rd"], link, _target(n, dest))


def _b_tdesc(r: Row, a: dict, i: int, n: int, costs: Costs) -> tuple:
    if r.name == "tld":
        return (core.ex_tld, r.sem, a["td"], a["rs1"], a["imm"])
    srcs = tuple((k.kind == "xreg", a[k.name]) for k in r.fields[1:])
    return (core.ex_tdesc, r.sem, a["td"], srcs)


def _b_ew(r: Row, a: dict, i: int, n: int, costs: Costs) -> tuple:
    srcs = tuple((k.kind == "treg", a[k.name]) for k in r.fields[1:] if k.kind in ("treg", "xreg"))
    kw = {_KW[k]: a[k] for k in _KW if k in a}
    passes = DIV_PASSES if r.name in _DIV else costs.func_passes.get(a.get("func"), 1)
    return (tileops.ex_ew, r.name, r.sem, a["td"], srcs, kw, a.get("rnd", "rne"), passes)


def _b_reduce(r: Row, a: dict, i: int, n: int, costs: Costs) -> tuple:
    acc = a["mode"] == "acc"
    return (
        tileops.ex_reduce,
        r.name,
        r.sem,
        a["td"],
        a["ta"],
        a["redop"],
        a["axis"],
        acc,
        a["rnd"],
    )


def _b_move(r: Row, a: dict, i: int, n: int, costs: Costs) -> tuple:
    if r.name == "tgather":
        return (tileops.ex_gather, r.name, r.sem, a["td"], a["ta"], a["ti"], a["axis"])
    return (tileops.ex_move, r.name, r.sem, a["td"], a["ta"], a.get("axis"))


def _b_dma(r: Row, a: dict, i: int, n: int, costs: Costs) -> tuple:
    to_hbm = r.name == "dma.st"
    tile = a["ta"] if to_hbm else a["td"]
    return (dma.ex_dma, to_hbm, tile, a["rs1"], a["rs2"], a["rs3"], a["tag"])


_SIMPLE = {
    "alu": lambda r, a: (core.ex_alu, r.sem, a["rd"], a["rs1"], a["rs2"]),
    "alu_imm": lambda r, a: (core.ex_alu_imm, r.sem, a["rd"], a["rs1"], a["imm"]),
    "const": lambda r, a: (core.ex_const, r.sem, a["rd"], a["imm"]),
    "load": lambda r, a: (core.ex_load, r.sem, a["rd"], a["rs1"], a["imm"]),
    "store": lambda r, a: (core.ex_store, r.sem, a["rs2"], a["rs1"], a["imm"]),
    "halt": lambda r, a: (core.ex_halt,),
    "nop": lambda r, a: (core.ex_nop,),
    "mark": lambda r, a: (core.ex_mark, a["id"]),
    "csr_read": lambda r, a: (core.ex_csr_read, a["rd"], a["sreg"]),
    "csr_write": lambda r, a: (core.ex_csr_write, a["sreg"], a["rs1"]),
    "matrix": lambda r, a: (tileops.ex_mma, r.name, a["td"], a["ta"], a["tb"], a["mode"] == "acc"),
    "dma_list": lambda r, a: (dma.ex_dma_list, a["rs1"], a["rs2"], a["tag"]),
    "dma_wait": lambda r, a: (dma.ex_dma_wait, a["tag"]),
    "send": lambda r, a: (comm.ex_send, a["ta"], a["rs1"], a["tag"]),
    "recv": lambda r, a: (comm.ex_recv, a["td"], a["rs1"], a["tag"]),
    "notify": lambda r, a: (comm.ex_notify, a["rs1"], a["tag"]),
    "await": lambda r, a: (comm.ex_await, a["rs1"], a["tag"]),
    "mcast": lambda r, a: (comm.ex_mcast, a["ta"], a["rs1"], a["rs2"], a["tag"]),
    "barrier": lambda r, a: (comm.ex_barrier, a["rs1"], a["id"]),
    "sem_signal": lambda r, a: (comm.ex_sem_signal, a["rs1"], a["sem"]),
    "sem_wait": lambda r, a: (comm.ex_sem_wait, a["sem"], a["count"]),
}

BUILDERS = {
    "branch": _b_branch,
    "loop": lambda r, a, i, n, costs: (
        core.ex_loop,
        r.sem,
        a["rs1"],
        _target(n, 4 * i + 4 * a["off"]),
    ),
    "jump": _b_jump,
    "tdesc": _b_tdesc,
    "ew": _b_ew,
    "reduce": _b_reduce,
    "move": _b_move,
    "dma": _b_dma,
}
"""Row.exec -> builder(row, named operands, word index, words in section, costs) -> op tuple;
the exec kinds of :data:`_SIMPLE` need only (row, named operands)."""


def build(row: Row, inst: Inst, i: int, n: int, costs: Costs) -> tuple:
    """The handler tuple of instruction ``inst`` at word ``i`` of an ``n``-word section."""
    simple = _SIMPLE.get(row.exec)
    if simple is not None:
        return simple(row, inst.named())
    return BUILDERS[row.exec](row, inst.named(), i, n, costs)


def decode_section(code: bytes, name: str, costs: Costs) -> tuple[list[tuple], list[Inst | None]]:
    """(handler tuples, decoded instructions) of a code section; see the module docstring."""
    n = len(code) // WORD_BYTES
    ops: list[tuple] = []
    insts: list[Inst | None] = []
    for i in range(n):
        word = int.from_bytes(code[4 * i : 4 * i + 4], "little")
        try:
            inst = decode(word, 4 * i)
        except DecodeError as err:
            ops.append((core.ex_fault, f"invalid instruction: {err.message}"))
            insts.append(None)
            continue
        ops.append(build(inst.row, inst, i, n, costs))
        insts.append(inst)
    end = f"pc runs past the end of code section {name!r} ({n} words; missing halt?)"
    ops += [(core.ex_fault, end), (core.ex_fault, end)]
    return ops, insts
