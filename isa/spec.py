"""The D1 tile ISA: registers, bit-field formats and ONE table with a row per instruction.

The encoder/decoder (:mod:`d1c.isa.encoding`), assembler/disassembler (:mod:`d1c.isa.asm`), the
reference page ``docs/isa.md`` (:mod:`d1c.isa.docs`), the simulator's dispatch and the compiler's
instruction selection all read :data:`ROWS`. Machine figures cite
``docs/targets.md`` (below "facts §n"); Tesla's real encoding is not public
(facts §1 "Instruction encoding"), so everything here is a documented design with assumptions [A].

Words
    Every instruction is one fixed 32-bit little-endian word (facts §7: "Instruction size: 4 B
    fixed" [A]). Bits 0..6 hold the opcode; the row's bit-field format places the other fields
    (:data:`FORMATS`, LSB first). Bits no field covers are reserved and must be zero; opcode 0 is
    invalid, so zero-filled memory never decodes. ``pc`` is a byte address within the code
    section; branch/jump offsets count words relative to the branching instruction.

Registers (per core)
    - ``x0..x31``: 32-bit integer registers, ``x0`` reads 0 and ignores writes. The real core is
      64-bit (facts §1); 32 bits address the 2 MiB SRAM space and suffice for loop counters [A].
    - ``t0..t15``: tile-descriptor registers (:class:`d1c.isa.tiles.TDesc`: SRAM base, rows, cols,
      row stride bytes (0 = dense), format, bias), reset to all-zero fp32.
    - special registers (:data:`SREGS`), read with ``csrr``; ``flags`` and ``srseed`` are also
      written with ``csrw``. ``coord`` packs this core's global coordinate as
      ``chip_x<<24 | chip_y<<16 | core_x<<8 | core_y`` — the form send/recv/mcast/sem.signal take.
      ``param`` is the SRAM address where the loader put this core's row of the per-core parameter
      table (same address on every core, different contents), so one SPMD code section serves many.

Operand kinds (``Field.kind``) and how the simulator reads them
    ``xreg``: index of x register; source fields (``rs1``, ``rs2``, ``rs3``) are read as uint32
    values, ``rd`` is written. ``treg``: index of a tile register; ``td`` is the destination tile,
    ``ta``/``tb``/``tc``/``ti`` sources. ``simm``/``uimm``/``hex``: immediates (two's-complement /
    unsigned field; ``hex`` prints in hex). ``off``: signed word offset, target = pc + 4*off.
    ``enum``: a small code whose names are in :data:`ENUMS` (``Field.enum`` names the table);
    semantics functions receive enum operands by **name** (e.g. ``rounding="sr"``).

Exec kinds (``Row.exec``): how the simulator applies ``Row.sem``
    alu       x[rd] = sem(x[rs1], x[rs2])            alu_imm  x[rd] = sem(x[rs1], imm)
    const     x[rd] = sem(imm)                         load     x[rd] = mem32[sem(x[rs1], imm)]
    store     mem32[sem(x[rs1], imm)] = x[rs2]         branch   if sem(x[rs1], x[rs2]): pc += 4*off
    loop      x[rs1], taken = sem(x[rs1]); if taken: pc += 4*off
    jump      jal: x[rd], pc = sem(pc, off); jalr: x[rd], pc = sem(pc, x[rs1], imm); j: pc = sem(pc, off)
    halt/nop/mark/csr_read/csr_write   machine state only (sem is None)
    tdesc     t[td] = sem(t[td], <sources in operand order; tld passes the 4 SRAM words at ea>)
    matrix    C = sem(acc, A, B) with A, B, acc decoded to float32; acc = +0.0 in mode ``zero``;
              C rounded (RNE) into td, which must be fp32.
    ew        t[td] = round(sem(<tile/scalar sources in operand order>, <cond or func by name>)):
              tiles decoded to float32 (tiles.tile_values), scalar ``rs1`` read as float32 bits;
              [R,1]/[1,C] operands broadcast like numpy and the result must have td's shape;
              rounded into td with the ``rnd`` operand (tiles.tile_codes; vcmp/vcmps use rne).
              vsel: sem(C, A, B); vfill: sem(f32(x[rs1]), td.rows, td.cols).
    reduce    t[td] = round(sem(A, redop, axis, init)); init = decoded t[td] in mode acc, else None.
    move      on raw codes: tcopy/ttrans sem(A); tbcast sem(A, axis, td.rows, td.cols);
              tgather sem(A, <i32 codes of ti>, axis). Source and destination must have the same
              format (and bias if CFloat: tiles.same_encoding), else a format/bias-mismatch fault.
    dma       addr = sem(x[rs1], x[rs2]) (64-bit HBM address); rows of td/ta, HBM stride x[rs3].
    dma_list  descs = sem(<8*x[rs2] words at SRAM x[rs1]>); dma_wait: simulator state only.
    send/recv coord = sem(x[rs1]); mcast: sem(x[rs1], x[rs2], grid_w, grid_h) gives the targets.
    notify/await  coord = sem(x[rs1]): a token (no data) on tag, FIFO like send/recv.
    barrier   done = sem(arrived, x[rs1]); sem_signal: new = sem(value) on core x[rs1];
              sem_wait: (new, ready) = sem(value, count).
    Every decode/encode passes the core's sticky ``Flags`` and the target's denormal mode.
    Faults (the simulator raises SimulationError with core and pc): tile or scalar access outside
    SRAM, misaligned ld/st, shapes that do not match (mma [M,K]@[K,N] into [M,N]), mma with
    td not fp32, move format/bias mismatch, gather index out of range, recv
    size different from td.nbytes, an invalid word, and deadlock.

Memory, DMA, NoC and sync (details in each row's doc)
    SRAM is byte addressed from 0 (1.25 MiB per core, facts §1/§7). HBM addresses are 64-bit from
    a register pair (lo, hi); DIP d owns [d<<35, (d+1)<<35) (32 GB each, facts §3); window 31 is
    striped over all DIPs in 4 KiB stripes (``tiles.dip_shares``). DMAs are
    asynchronous and complete in issue order per tag; ``dma.wait tag`` blocks until this core's
    DMAs with that tag are done, and only then may their SRAM bytes be touched. ``send`` copies
    the tile's bytes into the network when it issues (the sender may reuse its buffer at once);
    ``recv`` blocks until the message from (source, tag) arrives; messages of one
    (source, destination, tag) arrive in send order. A stochastic rounding uses
    ``numerics.encode(seed=srseed, stream=0)`` with the flat row-major element index of the
    destination tile: the compiler owns the random stream by writing ``srseed`` (folding in core
    and instruction identity as it needs), so the IR interpreter can reproduce every bit.

Timing classes (``Row.unit``) with cost hints for the simulator are in :data:`UNITS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from d1c.isa import semantics as s
from d1c.isa import tiles as t

WORD_BYTES = 4
OPCODE_BITS = 7
NUM_XREGS = 32
NUM_TREGS = 16

ENUMS: dict[str, dict[str, int]] = {
    "fmt": {name: i for i, name in enumerate(t.FMT_NAMES)},
    "rnd": {"rne": 0, "sr": 1},
    "cond": {"eq": 0, "ne": 1, "lt": 2, "le": 3, "gt": 4, "ge": 5},
    "func": {
        name: i
        for i, name in enumerate(
            [
                "exp",
                "tanh",
                "erf",
                "rsqrt",
                "reciprocal",
                "sigmoid",
                "log",
                "gelu_erf",
                "gelu_tanh",
                "silu",
                "relu",
                "neg",
                "abs",
                "sqrt",
            ]
        )
    },
    "redop": {"sum": 0, "max": 1, "min": 2},
    "rmode": {"rne": 0, "floor": 1, "ceil": 2, "trunc": 3},
    "axis": {"rows": 0, "cols": 1},
    "mode": {"zero": 0, "acc": 1},
    "sreg": {
        name: i
        for i, name in enumerate(
            [
                "chip_x",
                "chip_y",
                "core_x",
                "core_y",
                "core_id",
                "coord",
                "param",
                "flags",
                "srseed",
                "grid_w",
                "grid_h",
                "chips_w",
                "chips_h",
                "gid",
            ]
        )
    },
    "wsreg": {"flags": 7, "srseed": 8},
}
"""Enum operand tables: name -> code. Codes not listed are invalid (DecodeError)."""

SREGS: dict[str, str] = {
    "chip_x": "x position of this core's chip in the chip mesh",
    "chip_y": "y position of this core's chip in the chip mesh",
    "core_x": "x position of the core in its chip's core grid",
    "core_y": "y position of the core in its chip's core grid",
    "core_id": "linear core number within the chip: core_y * grid_w + core_x",
    "coord": "packed global coordinate chip_x<<24 | chip_y<<16 | core_x<<8 | core_y",
    "param": "SRAM address of this core's row of the per-core parameter table (.d1x param_addr)",
    "flags": "sticky FP flags: bit0 Invalid, bit1 Denormal, bit2 Overflow, bit3 Underflow (csrw sets)",
    "srseed": "seed of stochastic rounding (csrw sets; 0 at reset)",
    "grid_w": "cores per chip row (target)",
    "grid_h": "cores per chip column (target)",
    "chips_w": "chips per mesh row (target)",
    "chips_h": "chips per mesh column (target)",
    "gid": "global core number: (chip_y*chips_w + chip_x) * grid_w*grid_h + core_id",
}

UNITS: dict[str, str] = {
    "scalar": "1 issue slot of the 2 integer ALUs (facts §1); 1 cycle",
    "mem": "scalar SRAM load/store through an AGU; 1 cycle plus SRAM latency",
    "control": "branch/jump/loop/halt; loop is zero-overhead when predicted (facts §7 mispredict 5)",
    "csr": "special-register access; 1 cycle",
    "tdesc": "tile-descriptor set; 1 cycle (tld also reads 16 SRAM bytes)",
    "matrix": "ceil(M/8)*ceil(N/8)*ceil(K/4) cycles at 256 MAC/cycle (8x8x4 step, facts §1/§7)",
    "vector": "ceil(elements*4/64) cycles: 64-byte SIMD, 16 fp32 lanes (facts §1); SRAM bandwidth",
    "move": "SRAM-bandwidth bound: bytes / 200 B/cycle load and 135 B/cycle store (facts §1)",
    "dma": "async; setup (16 cycles [A]) + bytes at DIP/HBM bandwidth (facts §3/§7)",
    "noc": "async send; hops * hop latency + bytes / 256 B/cycle per link, chip edges slower",
    "sync": "blocks until the condition holds; wake-up latency as a NoC message",
}


@dataclass(frozen=True, slots=True)
class Field:
    """One bit field of an instruction word: name, lowest bit, width, operand kind, enum table."""

    name: str
    lo: int
    width: int
    kind: str
    enum: str | None = None

    @property
    def mask(self) -> int:
        """The field's bits in place within the word."""
        return ((1 << self.width) - 1) << self.lo


def _f(name: str, lo: int, width: int, kind: str | None = None, enum: str | None = None) -> Field:
    kinds = {"rd": "xreg", "rs1": "xreg", "rs2": "xreg", "rs3": "xreg", "off": "off"}
    kinds.update(dict.fromkeys(("td", "ta", "tb", "tc", "ti"), "treg"))
    return Field(name, lo, width, kind or ("enum" if enum else kinds[name]), enum)


def _tile(*names: str) -> tuple[Field, ...]:
    return tuple(_f(n, 7 + 4 * i, 4) for i, n in enumerate(names))


# fmt: off
FORMATS: dict[str, tuple[Field, ...]] = {
    "N": (),
    "R": (_f("rd", 7, 5), _f("rs1", 12, 5), _f("rs2", 17, 5)),
    "I": (_f("rd", 7, 5), _f("rs1", 12, 5), _f("imm", 17, 15, "simm")),
    "SH": (_f("rd", 7, 5), _f("rs1", 12, 5), _f("imm", 17, 5, "uimm")),
    "U": (_f("rd", 7, 5), _f("imm", 12, 20, "simm")),
    "UH": (_f("rd", 7, 5), _f("imm", 12, 20, "hex")),
    "S": (_f("rs2", 7, 5), _f("rs1", 12, 5), _f("imm", 17, 15, "simm")),
    "B": (_f("rs1", 7, 5), _f("rs2", 12, 5), _f("off", 17, 15)),
    "L": (_f("rs1", 7, 5), _f("off", 12, 20)),
    "J": (_f("rd", 7, 5), _f("off", 12, 20)),
    "J0": (_f("off", 7, 25),),
    "CR": (_f("rd", 7, 5), _f("sreg", 12, 5, enum="sreg")),
    "CW": (_f("sreg", 7, 5, enum="wsreg"), _f("rs1", 12, 5)),
    "TI": (_f("td", 7, 4), _f("rs1", 11, 5), _f("imm", 16, 16, "simm")),
    "TR3": (_f("td", 7, 4), _f("rs1", 11, 5), _f("rs2", 16, 5), _f("rs3", 21, 5)),
    "TS": (_f("td", 7, 4), _f("rows", 11, 10, "uimm"), _f("cols", 21, 11, "uimm")),
    "TF": (_f("td", 7, 4), _f("fmt", 11, 3, enum="fmt"), _f("bias", 14, 6, "uimm")),
    "DL": (_f("td", 7, 4), _f("rs1", 11, 5), _f("rs2", 16, 5), _f("rs3", 21, 5), _f("tag", 26, 4, "uimm")),
    "DS": (_f("ta", 7, 4), _f("rs1", 11, 5), _f("rs2", 16, 5), _f("rs3", 21, 5), _f("tag", 26, 4, "uimm")),
    "DLIST": (_f("rs1", 7, 5), _f("rs2", 12, 5), _f("tag", 17, 4, "uimm")),
    "DW": (_f("tag", 7, 4, "uimm"),),
    "NS": (_f("ta", 7, 4), _f("rs1", 11, 5), _f("tag", 16, 8, "uimm")),
    "NR": (_f("td", 7, 4), _f("rs1", 11, 5), _f("tag", 16, 8, "uimm")),
    "NM": (_f("ta", 7, 4), _f("rs1", 11, 5), _f("rs2", 16, 5), _f("tag", 21, 8, "uimm")),
    "SB": (_f("rs1", 7, 5), _f("id", 12, 8, "uimm")),
    "MK": (_f("id", 7, 25, "uimm"),),
    "NT": (_f("rs1", 7, 5), _f("tag", 12, 8, "uimm")),
    "SS": (_f("rs1", 7, 5), _f("sem", 12, 4, "uimm")),
    "SW": (_f("sem", 7, 4, "uimm"), _f("count", 11, 16, "uimm")),
    "MM": (*_tile("td", "ta", "tb"), _f("mode", 19, 1, enum="mode")),
    "TT": (*_tile("td", "ta", "tb"), _f("rnd", 19, 1, enum="rnd")),
    "TTC": (*_tile("td", "ta", "tb"), _f("cond", 19, 3, enum="cond")),
    "T4": (*_tile("td", "tc", "ta", "tb"), _f("rnd", 23, 1, enum="rnd")),
    "TX": (*_tile("td", "ta"), _f("rs1", 15, 5), _f("rnd", 20, 1, enum="rnd")),
    "TXC": (*_tile("td", "ta"), _f("rs1", 15, 5), _f("cond", 20, 3, enum="cond")),
    "TFL": (*_tile("td"), _f("rs1", 11, 5), _f("rnd", 16, 1, enum="rnd")),
    "TC": (*_tile("td", "ta"), _f("rnd", 15, 1, enum="rnd")),
    "TU": (*_tile("td", "ta"), _f("func", 15, 4, enum="func"), _f("rnd", 19, 1, enum="rnd")),
    "TRM": (*_tile("td", "ta"), _f("rmode", 15, 2, enum="rmode")),
    "TRD": (*_tile("td", "ta"), _f("redop", 15, 2, enum="redop"), _f("axis", 17, 1, enum="axis"), _f("mode", 18, 1, enum="mode"), _f("rnd", 19, 1, enum="rnd")),
    "T2": _tile("td", "ta"),
    "T2A": (*_tile("td", "ta"), _f("axis", 15, 1, enum="axis")),
    "TG": (*_tile("td", "ta", "ti"), _f("axis", 19, 1, enum="axis")),
}
# fmt: on
"""Bit-field formats: name -> fields (the opcode occupies bits 0..6 of every format)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One instruction: mnemonic, opcode, format, operands in assembly order, exec kind, timing
    class, semantics function (None: machine state only) and a one-line description."""

    name: str
    opcode: int
    fmt: str
    operands: tuple[str, ...]
    exec: str
    unit: str
    sem: Callable | None
    doc: str

    @property
    def fields(self) -> tuple[Field, ...]:
        """The format's fields in assembly order."""
        by_name = {f.name: f for f in FORMATS[self.fmt]}
        return tuple(by_name[n] for n in self.operands)


def _ops(fmt: str) -> tuple[str, ...]:
    return tuple(f.name for f in FORMATS[fmt])


def _r(name: str, op: int, fmt: str, ex: str, unit: str, sem: Callable | None, doc: str) -> Row:
    return Row(name, op, fmt, _ops(fmt), ex, unit, sem, doc)


# fmt: off
ROWS: tuple[Row, ...] = (
    # control
    _r("halt",       0x01, "N",    "halt",      "control", None,           "stop this core; the program ends when every core halted"),
    _r("nop",        0x02, "N",    "nop",       "control", None,           "do nothing for one issue slot"),
    _r("j",          0x03, "J0",   "jump",      "control", s.j,            "pc = pc + 4*off"),
    _r("jal",        0x04, "J",    "jump",      "control", s.jal,          "x[rd] = pc + 4; pc = pc + 4*off"),
    _r("jalr",       0x05, "I",    "jump",      "control", s.jalr,         "x[rd] = pc + 4; pc = (x[rs1] + imm) & ~3"),
    _r("loop",       0x06, "L",    "loop",      "control", s.loop,         "hardware loop: x[rs1] -= 1; if x[rs1] != 0: pc = pc + 4*off (body runs x[rs1] times)"),
    _r("mark",       0x07, "MK",   "mark",      "control", None,           "no effect (one issue slot); a traced simulation records (core, id, time): the compiler marks where each kernel starts"),
    _r("beq",        0x08, "B",    "branch",    "control", s.beq,          "if x[rs1] == x[rs2]: pc = pc + 4*off"),
    _r("bne",        0x09, "B",    "branch",    "control", s.bne,          "if x[rs1] != x[rs2]: pc = pc + 4*off"),
    _r("blt",        0x0A, "B",    "branch",    "control", s.blt,          "if x[rs1] < x[rs2] (signed): pc = pc + 4*off"),
    _r("bge",        0x0B, "B",    "branch",    "control", s.bge,          "if x[rs1] >= x[rs2] (signed): pc = pc + 4*off"),
    _r("bltu",       0x0C, "B",    "branch",    "control", s.bltu,         "if x[rs1] < x[rs2] (unsigned): pc = pc + 4*off"),
    _r("bgeu",       0x0D, "B",    "branch",    "control", s.bgeu,         "if x[rs1] >= x[rs2] (unsigned): pc = pc + 4*off"),
    # scalar ALU
    _r("add",        0x10, "R",    "alu",       "scalar",  s.add,          "x[rd] = x[rs1] + x[rs2] (mod 2^32)"),
    _r("sub",        0x11, "R",    "alu",       "scalar",  s.sub,          "x[rd] = x[rs1] - x[rs2] (mod 2^32)"),
    _r("mul",        0x12, "R",    "alu",       "scalar",  s.mul,          "x[rd] = low 32 bits of x[rs1] * x[rs2]"),
    _r("divu",       0x13, "R",    "alu",       "scalar",  s.divu,         "x[rd] = x[rs1] / x[rs2] unsigned (x/0 = 0xffffffff)"),
    _r("remu",       0x14, "R",    "alu",       "scalar",  s.remu,         "x[rd] = x[rs1] % x[rs2] unsigned (x%0 = x)"),
    _r("and",        0x15, "R",    "alu",       "scalar",  s.and_,         "x[rd] = x[rs1] & x[rs2]"),
    _r("or",         0x16, "R",    "alu",       "scalar",  s.or_,          "x[rd] = x[rs1] | x[rs2]"),
    _r("xor",        0x17, "R",    "alu",       "scalar",  s.xor,          "x[rd] = x[rs1] ^ x[rs2]"),
    _r("sll",        0x18, "R",    "alu",       "scalar",  s.sll,          "x[rd] = x[rs1] << (x[rs2] & 31)"),
    _r("srl",        0x19, "R",    "alu",       "scalar",  s.srl,          "x[rd] = x[rs1] >> (x[rs2] & 31) logical"),
    _r("sra",        0x1A, "R",    "alu",       "scalar",  s.sra,          "x[rd] = x[rs1] >> (x[rs2] & 31) arithmetic"),
    _r("slt",        0x1B, "R",    "alu",       "scalar",  s.slt,          "x[rd] = x[rs1] < x[rs2] (signed) ? 1 : 0"),
    _r("sltu",       0x1C, "R",    "alu",       "scalar",  s.sltu,         "x[rd] = x[rs1] < x[rs2] (unsigned) ? 1 : 0"),
    _r("addi",       0x20, "I",    "alu_imm",   "scalar",  s.add,          "x[rd] = x[rs1] + imm"),
    _r("andi",       0x21, "I",    "alu_imm",   "scalar",  s.and_,         "x[rd] = x[rs1] & imm (sign-extended)"),
    _r("ori",        0x22, "I",    "alu_imm",   "scalar",  s.or_,          "x[rd] = x[rs1] | imm (sign-extended)"),
    _r("xori",       0x23, "I",    "alu_imm",   "scalar",  s.xor,          "x[rd] = x[rs1] ^ imm (sign-extended)"),
    _r("slti",       0x24, "I",    "alu_imm",   "scalar",  s.slt,          "x[rd] = x[rs1] < imm (signed) ? 1 : 0"),
    _r("slli",       0x25, "SH",   "alu_imm",   "scalar",  s.sll,          "x[rd] = x[rs1] << imm"),
    _r("srli",       0x26, "SH",   "alu_imm",   "scalar",  s.srl,          "x[rd] = x[rs1] >> imm logical"),
    _r("srai",       0x27, "SH",   "alu_imm",   "scalar",  s.sra,          "x[rd] = x[rs1] >> imm arithmetic"),
    _r("li",         0x28, "U",    "const",     "scalar",  s.li,           "x[rd] = imm (20-bit, sign-extended)"),
    _r("lui",        0x29, "UH",   "const",     "scalar",  s.lui,          "x[rd] = imm << 12 (complete a 32-bit constant with ori)"),
    # scalar memory and special registers
    _r("ld",         0x2C, "I",    "load",      "mem",     s.ea,           "x[rd] = mem32[x[rs1] + imm] (4-byte aligned, little-endian)"),
    _r("st",         0x2D, "S",    "store",     "mem",     s.ea,           "mem32[x[rs1] + imm] = x[rs2] (4-byte aligned)"),
    _r("csrr",       0x30, "CR",   "csr_read",  "csr",     None,           "x[rd] = special register sreg"),
    _r("csrw",       0x31, "CW",   "csr_write", "csr",     None,           "special register sreg (flags, srseed) = x[rs1]"),
    # tile descriptors
    _r("tbase",      0x38, "TI",   "tdesc",     "tdesc",   t.tbase,        "t[td].base = x[rs1] + imm"),
    _r("tshape",     0x39, "TR3",  "tdesc",     "tdesc",   t.tshape,       "t[td].rows = x[rs1], .cols = x[rs2] (16 bits each), .stride = x[rs3] bytes (0 = dense)"),
    _r("tshapei",    0x3A, "TS",   "tdesc",     "tdesc",   t.tshapei,      "t[td].rows = rows, .cols = cols, .stride = 0 (dense)"),
    _r("tfmt",       0x3B, "TF",   "tdesc",     "tdesc",   t.tfmt,         "t[td].fmt = fmt, .bias = bias (CFloat formats only)"),
    _r("tld",        0x3C, "TI",   "tdesc",     "tdesc",   t.tld,          "t[td] = the 16-byte descriptor record at x[rs1] + imm"),
    # DMA (HBM address = x[rs2] << 32 | x[rs1]; HBM row stride = x[rs3] bytes)
    _r("dma.ld",     0x40, "DL",   "dma",       "dma",     t.hbm_addr,     "async HBM -> SRAM tile t[td]: row r from HBM x[rs2]:x[rs1] + r*x[rs3]; completes under tag"),
    _r("dma.st",     0x41, "DS",   "dma",       "dma",     t.hbm_addr,     "async SRAM tile t[ta] -> HBM x[rs2]:x[rs1] + r*x[rs3]; completes under tag"),
    _r("dma.list",   0x42, "DLIST","dma_list",  "dma",     t.dma_list,     "async: run x[rs2] 32-byte descriptors (tiles.DMA_DESC_FIELDS) at SRAM x[rs1] under tag"),
    _r("dma.wait",   0x43, "DW",   "dma_wait",  "dma",     None,           "block until every DMA of this core under tag completed"),
    # NoC
    _r("send",       0x44, "NS",   "send",      "noc",     s.unpack_coord, "send the bytes of tile t[ta] to core x[rs1] (packed coord, any chip) with tag; non-blocking"),
    _r("recv",       0x45, "NR",   "recv",      "noc",     s.unpack_coord, "block until the message from core x[rs1] with tag arrives; write it into tile t[td]"),
    _r("notify",     0x47, "NT",   "notify",    "noc",     s.unpack_coord, "send a token (no data) to core x[rs1] with tag; non-blocking; arrives after the route's latency"),
    _r("await",      0x4B, "NT",   "await",     "noc",     s.unpack_coord, "block until a token from core x[rs1] with tag arrives (FIFO per source, destination and tag); take it"),
    _r("mcast",      0x46, "NM",   "mcast",     "noc",     t.mcast_targets,"send tile t[ta] with tag to every core on the mesh segment x[rs1]..x[rs2] (one row or column)"),
    # sync
    _r("barrier",    0x48, "SB",   "barrier",   "sync",    s.barrier,      "block until x[rs1] cores (this one included) reached barrier id"),
    _r("sem.signal", 0x49, "SS",   "sem_signal","sync",    s.sem_signal,   "increment semaphore sem (0..15) of core x[rs1]"),
    _r("sem.wait",   0x4A, "SW",   "sem_wait",  "sync",    s.sem_wait,     "block until local semaphore sem >= count, then subtract count"),
    # matrix
    _r("mma",        0x50, "MM",   "matrix",    "matrix",  s.mma,          "t[td] (fp32 [M,N]) = (mode acc ? t[td] : 0) + t[ta] [M,K] @ t[tb] [K,N], sequential in K, no FMA (fp32 operands: products rounded, FP32 FMA rate)"),
    # vector elementwise, tile op tile (numpy broadcasting of [R,1]/[1,C] operands)
    _r("vadd",       0x58, "TT",   "ew",        "vector",  s.fadd,         "t[td] = round(t[ta] + t[tb])"),
    _r("vsub",       0x59, "TT",   "ew",        "vector",  s.fsub,         "t[td] = round(t[ta] - t[tb])"),
    _r("vmul",       0x5A, "TT",   "ew",        "vector",  s.fmul,         "t[td] = round(t[ta] * t[tb])"),
    _r("vdiv",       0x5B, "TT",   "ew",        "vector",  s.fdiv,         "t[td] = round(t[ta] / t[tb]) (IEEE division)"),
    _r("vmax",       0x5C, "TT",   "ew",        "vector",  s.fmax,         "t[td] = round(max(t[ta], t[tb])) (NaN-propagating)"),
    _r("vmin",       0x5D, "TT",   "ew",        "vector",  s.fmin,         "t[td] = round(min(t[ta], t[tb])) (NaN-propagating)"),
    _r("vcmp",       0x5E, "TTC",  "ew",        "vector",  s.fcmp,         "t[td] = (t[ta] cond t[tb]) ? 1.0 : 0.0"),
    _r("vsel",       0x5F, "T4",   "ew",        "vector",  s.select,       "t[td] = round(t[tc] != 0 ? t[ta] : t[tb])"),
    # vector elementwise, tile op scalar (x[rs1] holds float32 bits)
    _r("vadds",      0x60, "TX",   "ew",        "vector",  s.fadd,         "t[td] = round(t[ta] + f32(x[rs1]))"),
    _r("vsubs",      0x61, "TX",   "ew",        "vector",  s.fsub,         "t[td] = round(t[ta] - f32(x[rs1]))"),
    _r("vrsubs",     0x62, "TX",   "ew",        "vector",  s.frsub,        "t[td] = round(f32(x[rs1]) - t[ta])"),
    _r("vmuls",      0x63, "TX",   "ew",        "vector",  s.fmul,         "t[td] = round(t[ta] * f32(x[rs1]))"),
    _r("vdivs",      0x64, "TX",   "ew",        "vector",  s.fdiv,         "t[td] = round(t[ta] / f32(x[rs1]))"),
    _r("vmaxs",      0x65, "TX",   "ew",        "vector",  s.fmax,         "t[td] = round(max(t[ta], f32(x[rs1])))"),
    _r("vmins",      0x66, "TX",   "ew",        "vector",  s.fmin,         "t[td] = round(min(t[ta], f32(x[rs1])))"),
    _r("vcmps",      0x67, "TXC",  "ew",        "vector",  s.fcmp,         "t[td] = (t[ta] cond f32(x[rs1])) ? 1.0 : 0.0"),
    _r("vfill",      0x68, "TFL",  "ew",        "vector",  s.fill,         "every element of t[td] = round(f32(x[rs1]))"),
    # conversion, functions, reductions
    _r("vcvt",       0x69, "TC",   "ew",        "vector",  s.convert,      "t[td] = round(t[ta]): format conversion with rounding rnd"),
    _r("vfn",        0x6A, "TU",   "ew",        "vector",  s.unary,        "t[td] = round(func(t[ta])) (fpmath: same bits on every host)"),
    _r("vround",     0x6C, "TRM",  "ew",        "vector",  s.round_int,    "t[td] = t[ta] rounded to an integer value (rmode rne, floor, ceil, trunc; exact), stored with rne: into i32 a float-to-integer conversion"),
    _r("vred",       0x6B, "TRD",  "reduce",    "vector",  s.reduce,       "t[td] = round(redop of t[ta] along axis), sequential from index 0, from t[td] if mode acc"),
    # moves (raw codes; same format and bias)
    _r("tcopy",      0x70, "T2",   "move",      "move",    s.copy,         "t[td] = t[ta] (same shape)"),
    _r("ttrans",     0x71, "T2",   "move",      "move",    s.transpose,    "t[td] [C,R] = transpose of t[ta] [R,C]"),
    _r("tbcast",     0x72, "T2A",  "move",      "move",    s.broadcast,    "t[td] = t[ta] repeated: a [1,C] row down the rows (axis rows) or an [R,1] column across (cols)"),
    _r("tgather",    0x73, "TG",   "move",      "move",    s.gather,       "t[td] = rows (axis rows) or columns (cols) of t[ta] picked by the i32 indices in t[ti]"),
)
# fmt: on
"""The instruction table. Opcodes are unique 7-bit values; 0 is invalid."""

BY_NAME: dict[str, Row] = {r.name: r for r in ROWS}
BY_OPCODE: dict[int, Row] = {r.opcode: r for r in ROWS}


@dataclass(frozen=True, slots=True)
class Inst:
    """A decoded instruction: the mnemonic and its operand values in assembly order (ints:
    register numbers, immediates, word offsets and enum codes)."""

    name: str
    args: tuple[int, ...]

    @property
    def row(self) -> Row:
        """The table row of this instruction."""
        return BY_NAME[self.name]

    def arg(self, field: str) -> int:
        """The value of the operand named ``field``."""
        return self.args[self.row.operands.index(field)]

    def named(self) -> dict[str, int | str]:
        """Operands by field name, enum operands as names (the form semantics functions take)."""
        out: dict[str, int | str] = {}
        for f, v in zip(self.row.fields, self.args, strict=True):
            out[f.name] = enum_name(f.enum, v) if f.enum else v
        return out


def enum_name(enum: str, code: int) -> str:
    """The name of ``code`` in enum table ``enum`` (KeyError if the code is not defined)."""
    for name, c in ENUMS[enum].items():
        if c == code:
            return name
    raise KeyError(f"{enum} code {code}")


def field_range(f: Field) -> tuple[int, int]:
    """The inclusive (min, max) operand value a field can encode (enums: min and max code)."""
    if f.kind in ("simm", "off"):
        return -(1 << (f.width - 1)), (1 << (f.width - 1)) - 1
    if f.kind == "enum":
        codes = ENUMS[f.enum].values()
        return min(codes), max(codes)
    return 0, (1 << f.width) - 1
