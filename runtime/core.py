"""Per-core execution of the local scalar instructions: scalar ALU, memory, control, csr and tile
descriptor rows, each applying its table row's semantics function (:mod:`d1c.isa.spec`
documents the calling convention of every exec kind).

Every handler has the signature ``handler(core, pc, op) -> next pc`` where ``op`` is the decoded
tuple built by :mod:`d1c.runtime.decode` (``op[0]`` is the handler itself, the rest are operands
resolved once per code section), and advances ``core.now`` by the instruction's cost
(:mod:`d1c.runtime.timing`). A negative return value stops the core: :data:`BLOCK` (waiting; the
instruction re-executes when woken), :data:`YIELD` (must wait for simulated time to catch up;
re-executes when scheduled) or :data:`HALT`.

Tile operations live in :mod:`d1c.runtime.tileops`; in timing-only mode (``machine.full``
false) they check descriptors and charge time exactly as in full mode but skip the data.
"""

from __future__ import annotations

from d1c.isa.errors import SimulationError
from d1c.isa.formats import Flag
from d1c.runtime.memory import check_word, geom

BLOCK, YIELD, HALT = -1, -2, -3


# ---------------------------------------------------------------- scalar and control
def ex_alu(c, pc, op):
    _, sem, rd, a, b = op
    if rd:
        c.x[rd] = sem(c.x[a], c.x[b])
    c.now += 1
    return pc + 1


def ex_alu_imm(c, pc, op):
    _, sem, rd, a, imm = op
    if rd:
        c.x[rd] = sem(c.x[a], imm)
    c.now += 1
    return pc + 1


def ex_const(c, pc, op):
    _, sem, rd, imm = op
    if rd:
        c.x[rd] = sem(imm)
    c.now += 1
    return pc + 1


def ex_load(c, pc, op):
    _, sem, rd, a, imm = op
    addr = sem(c.x[a], imm)
    if addr & 3 or addr + 4 > c.mem.size:
        check_word(addr, c.mem.size, "ld")
    if rd:
        c.x[rd] = int(c.mem32[addr >> 2])
    c.sram_rd += 4
    c.now += 1
    return pc + 1


def ex_store(c, pc, op):
    _, sem, b, a, imm = op
    addr = sem(c.x[a], imm)
    if addr & 3 or addr + 4 > c.mem.size:
        check_word(addr, c.mem.size, "st")
    c.mem32[addr >> 2] = c.x[b]
    c.sram_wr += 4
    c.now += 1
    return pc + 1


def _limit(c) -> None:
    if c.now > c.m.limit:
        raise SimulationError(f"cycle limit {c.m.limit} exceeded (runaway loop?)")


def ex_branch(c, pc, op):
    _, sem, a, b, target, pen_taken, pen_not = op
    if sem(c.x[a], c.x[b]):
        c.now += 1 + pen_taken
        _limit(c)
        return target
    c.now += 1 + pen_not
    return pc + 1


def ex_loop(c, pc, op):
    _, sem, r, target = op
    value, taken = sem(c.x[r])
    if r:
        c.x[r] = value
    c.now += 1
    if taken:
        _limit(c)
        return target
    return pc + 1


def ex_jump(c, pc, op):
    _, rd, link, target = op
    if rd:
        c.x[rd] = link
    c.now += 1
    _limit(c)
    return target


def ex_jalr(c, pc, op):
    _, sem, rd, a, imm, penalty, n = op
    link, dest = sem(4 * pc, c.x[a], imm)
    if rd:
        c.x[rd] = link
    if not 0 <= dest < 4 * n:
        raise SimulationError(f"jalr target {dest:#x} is outside the code section ({4 * n} bytes)")
    c.now += 1 + penalty
    _limit(c)
    return dest >> 2


def ex_nop(c, pc, op):
    c.now += 1
    return pc + 1


def ex_mark(c, pc, op):
    m = c.m
    if m.trace is not None:
        m.event("mark", c, c.now, 0, id=op[1])
    m.reached_mark(op[1], c.now)
    c.now += 1
    return pc + 1


def ex_halt(c, pc, op):
    c.now += 1
    c.halted = True
    return HALT


def ex_fault(c, pc, op):
    raise SimulationError(op[1])


def ex_csr_read(c, pc, op):
    _, rd, name = op
    if name == "flags":
        value = int(c.flags.bits)
    elif name == "srseed":
        value = c.srseed
    else:
        value = c.sregs[name]
    if rd:
        c.x[rd] = value
    c.now += 1
    return pc + 1


def ex_csr_write(c, pc, op):
    _, name, a = op
    if name == "flags":
        c.flags.bits = Flag(c.x[a] & 0xF)
    else:
        c.srseed = c.x[a]
    c.now += 1
    return pc + 1


# ---------------------------------------------------------------- tile descriptors
def ex_tdesc(c, pc, op):
    _, sem, td, srcs = op
    x = c.x
    d = c.t[td] = sem(c.t[td], *[x[v] if reg else v for reg, v in srcs])
    c.tg[td] = geom(d)
    c.now += 1
    return pc + 1


def ex_tld(c, pc, op):
    _, sem, td, a, imm = op
    addr = (c.x[a] + imm) & 0xFFFFFFFF
    check_word(addr, c.mem.size, "tld", 16)
    d = c.t[td] = sem(c.t[td], c.mem32[addr >> 2 : (addr >> 2) + 4])
    c.tg[td] = geom(d)
    c.sram_rd += 16
    c.now += 1
    return pc + 1
