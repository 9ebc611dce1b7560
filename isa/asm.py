"""The assembler: D1 assembly text (grammar ``asm.lark``) to a :class:`~d1c.isa.d1x.D1xProgram`.

The text form covers the whole container, so ``d1c asm FILE.s -o FILE.bin`` writes a ``.d1x``
and ``d1c disasm`` prints it back (canonical form: :mod:`d1c.isa.disasm`). Directives::

    .target "dojo-tile"              target name (default "dojo-tile")
    .meta "key", "value"             key/value metadata
    .params 0x1ff000, 4              per-core parameter table: SRAM address, words per row
    .code NAME, 0.0.0-3.0-3, ...     start a code section run by the listed core ranges
                                     (chip_x.chip_y.core_x.core_y, each a number or lo-hi)
    .param 0.0.1.2, 7, 8             one core's parameter row
    .sram 0x1000, RANGE, ...         start an initial SRAM image at an address on those cores
    .hbm 0x800000000                 start an initial DIP HBM image at a global address
    .hex "00ff.." / .word / .half / .byte / .float    append data to the current image
    .symbol NAME, ROLE, FMT, BIAS, [DIMS], "layout"  an input/output (ROLE: input output weight state)
    .place hbm, ADDR, [0:64, 0:64], [128, 2]          a placement of the last symbol
    .place sram, CORE, ADDR, [REGION], [STRIDES]
    .blob "host-ir", "bytes"         an extra named blob (host IR text, ...)

A section, symbol or blob NAME is a bare word (``main``, ``x.1``) or, for any other text, a
string literal (``"host-ir"``); the disassembler quotes exactly the names that need it.
Instructions follow the table (:mod:`d1c.isa.spec`): ``mnemonic op, op, ...`` with registers
``x0..x31``, tiles ``t0..t15``, integers (decimal or 0x hex), enum names, and labels or signed
word offsets for branch targets. Instructions before any ``.code`` go to a section ``main`` on
core 0.0.0.0. Labels are local to their section. Comments (``;`` or ``#``) before the first
statement become the program's notes, comments inside a code section are kept with the next
instruction (a comment on an instruction's line with that instruction), others are dropped.
Every error is a :class:`~d1c.isa.errors.ParseError` at ``file:line:col`` with a caret.
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass, field, replace
from importlib import resources

import lark

from d1c.isa.asm_args import Arg, ArgReader, to_arg
from d1c.isa.d1x import (
    DEFAULT_TARGET,
    CodeSection,
    CoreRange,
    D1xProgram,
    HbmImage,
    ParamRow,
    Placement,
    SramImage,
    Symbol,
)
from d1c.isa.encoding import check_operand, encode_words
from d1c.isa.errors import Loc, ParseError
from d1c.isa.spec import BY_NAME, ENUMS, NUM_TREGS, NUM_XREGS, Field, Inst


@dataclass(frozen=True, slots=True)
class Stmt:
    """One parsed statement: kind is label, instr, directive or comment."""

    kind: str
    name: str
    args: tuple[Arg, ...]
    line: int
    col: int


@functools.cache
def _lark() -> lark.Lark:
    grammar = resources.files("d1c.isa").joinpath("asm.lark").read_text()
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


@functools.cache
def _name_pattern() -> re.Pattern[str]:
    return re.compile(_lark().get_terminal("NAME").pattern.to_regexp())


def is_bare_name(text: str) -> bool:
    """True if ``text`` reads back as one NAME token (else the disassembler quotes it)."""
    return _name_pattern().fullmatch(text) is not None


def parse(text: str, file: str = "<string>") -> list[Stmt]:
    """The statements of assembly ``text`` in source order."""
    src = text if text.endswith("\n") else text + "\n"
    try:
        tree = _lark().parse(src)
    except lark.exceptions.UnexpectedInput as err:
        raise _syntax_error(err, file, text) from None
    return [_stmt(node, file, text) for node in tree.children]


def _syntax_error(err: lark.exceptions.UnexpectedInput, file: str, text: str) -> ParseError:
    line, col = max(err.line, 1), max(err.column, 1)
    if isinstance(err, lark.exceptions.UnexpectedToken):
        got = "end of line" if err.token.type == "_NL" else repr(str(err.token))
        msg = f"unexpected {got}"
    elif isinstance(err, lark.exceptions.UnexpectedCharacters):
        msg = (
            f"unexpected character {text[err.pos_in_stream]!r}"
            if err.pos_in_stream < len(text)
            else "unexpected end"
        )
    else:
        msg = "unexpected end of input"
    return ParseError(msg, Loc(file, line, col), source=text)


def _stmt(node: lark.Tree, file: str, text: str) -> Stmt:
    line, col = node.meta.line, node.meta.column
    first = node.children[0]
    if node.data == "comment":
        body = str(first)[1:]
        return Stmt("comment", body[1:] if body.startswith(" ") else body, (), line, col)
    args = tuple(to_arg(c, file, text) for c in node.children[1:])
    return Stmt(str(node.data), str(first), args, line, col)


@dataclass(slots=True)
class _Section:
    name: str
    cores: tuple[CoreRange, ...]
    insts: list[Stmt] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    comments: list[tuple[int, str]] = field(default_factory=list)
    last_line: int = 0


@dataclass(slots=True)
class _Image:
    addr: int
    cores: tuple[CoreRange, ...] | None
    data: bytearray = field(default_factory=bytearray)


class _Builder(ArgReader):
    """Turns statements into a program; one method per directive (``_d_<name>``)."""

    def __init__(self, file: str, text: str) -> None:
        super().__init__(file, text)
        self.target = DEFAULT_TARGET
        self.notes: list[str] = []
        self.meta: list[tuple[str, str]] = []
        self.param_addr = self.param_words = 0
        self.sections: list[_Section] = []
        self.params: dict[tuple, ParamRow] = {}
        self.images: list[_Image] = []
        self.symbols: list[Symbol] = []
        self.blobs: dict[str, bytes] = {}
        self.section: _Section | None = None
        self.image: _Image | None = None
        self.started = False

    def feed(self, st: Stmt) -> None:
        if st.kind == "comment":
            return self._comment(st)
        self.started = True
        if st.kind == "directive":
            handler = getattr(self, "_d_" + st.name[1:].lower(), None)
            if handler is None:
                raise self.error(f"unknown directive {st.name}", st.line, st.col)
            return handler(st)
        self.image = None
        sec = self.section or self._open("main", (CoreRange.single((0, 0, 0, 0)),))
        if st.kind == "label":
            if st.name in sec.labels:
                raise self.error(
                    f"label {st.name!r} is already defined in section {sec.name}", st.line, st.col
                )
            sec.labels[st.name] = len(sec.insts)
            return None
        sec.insts.append(st)
        sec.last_line = st.line
        return None

    def _comment(self, st: Stmt) -> None:
        if not self.started:
            self.notes.append(st.name)
        elif self.section is not None and self.image is None:
            sec = self.section
            same_line = sec.insts and sec.last_line == st.line
            sec.comments.append((len(sec.insts) - 1 if same_line else len(sec.insts), st.name))

    def _open(self, name: str, cores: tuple[CoreRange, ...]) -> _Section:
        self.section = _Section(name, cores)
        self.sections.append(self.section)
        return self.section

    def _d_target(self, st: Stmt) -> None:
        self.target = self.text_arg(self.arity(st, 1)[0])

    def _d_meta(self, st: Stmt) -> None:
        key, value = self.arity(st, 2)
        self.meta.append((self.text_arg(key), self.text_arg(value)))

    def _d_params(self, st: Stmt) -> None:
        addr, words = self.arity(st, 2)
        self.param_addr = self.int_arg(addr, 0, 0xFFFFFFFF, "parameter table address")
        self.param_words = self.int_arg(words, 0, 0xFFFF, "words per parameter row")

    def _d_code(self, st: Stmt) -> None:
        name, *ranges = self.at_least(st, 2)
        names = [s.name for s in self.sections]
        sec_name = self.name_arg(name, "section name")
        if sec_name in names:
            raise self.error(f"code section {sec_name!r} is already defined", name.line, name.col)
        self._open(sec_name, tuple(self.core_arg(r) for r in ranges))
        self.image = None

    def _d_param(self, st: Stmt) -> None:
        core, *words = self.at_least(st, 1)
        c = self.single_core(core)
        if c in self.params:
            raise self.error(
                f"core {'.'.join(map(str, c))} already has a parameter row", core.line, core.col
            )
        self.params[c] = ParamRow(
            c,
            tuple(self.int_arg(w, -(1 << 31), 0xFFFFFFFF, "parameter") & 0xFFFFFFFF for w in words),
        )

    def _d_sram(self, st: Stmt) -> None:
        addr, *ranges = self.at_least(st, 2)
        self._start_image(
            self.int_arg(addr, 0, 0xFFFFFFFF, "SRAM address"),
            tuple(self.core_arg(r) for r in ranges),
        )

    def _d_hbm(self, st: Stmt) -> None:
        self._start_image(self.int_arg(self.arity(st, 1)[0], 0, (1 << 64) - 1, "HBM address"), None)

    def _start_image(self, addr: int, cores: tuple[CoreRange, ...] | None) -> None:
        self.section = None
        self.image = _Image(addr, cores)
        self.images.append(self.image)

    def _data(self, st: Stmt) -> bytearray:
        if self.image is None:
            raise self.error(f"{st.name} outside an .sram or .hbm image", st.line, st.col)
        return self.image.data

    def _d_hex(self, st: Stmt) -> None:
        arg = self.arity(st, 1)[0]
        digits = re.sub(r"\s+", "", self.text_arg(arg))
        if not re.fullmatch(r"([0-9a-fA-F]{2})*", digits):
            raise self.error(".hex needs an even number of hex digits", arg.line, arg.col)
        self._data(st).extend(bytes.fromhex(digits))

    def _ints(self, st: Stmt, bits: int, fmt: str) -> None:
        out = self._data(st)
        for a in st.args:
            v = self.int_arg(a, -(1 << (bits - 1)), (1 << bits) - 1, f"{bits}-bit value")
            out.extend(struct.pack("<" + fmt, v & ((1 << bits) - 1)))

    def _d_word(self, st: Stmt) -> None:
        self._ints(st, 32, "I")

    def _d_half(self, st: Stmt) -> None:
        self._ints(st, 16, "H")

    def _d_byte(self, st: Stmt) -> None:
        self._ints(st, 8, "B")

    def _d_float(self, st: Stmt) -> None:
        out = self._data(st)
        for a in st.args:
            out.extend(struct.pack("<f", self.float_arg(a)))

    def _d_symbol(self, st: Stmt) -> None:
        name, role, fmt, bias, shape, layout = self.arity(st, 6)
        sym = Symbol(
            self.name_arg(name, "symbol name"),
            self.choice_arg(role, ("input", "output", "weight", "state"), "role"),
            tuple(self.int_arg(d, 0, 0xFFFFFFFF, "dimension") for d in self.list_arg(shape)),
            self.choice_arg(fmt, tuple(ENUMS["fmt"]), "format"),
            self.int_arg(bias, 0, 63, "bias"),
            self.text_arg(layout),
        )
        self.symbols.append(sym)

    def _d_place(self, st: Stmt) -> None:
        if not self.symbols:
            raise self.error(".place must follow a .symbol", st.line, st.col)
        space = self.choice_arg(self.at_least(st, 1)[0], ("hbm", "sram"), "space")
        args = self.arity(st, 4 if space == "hbm" else 5)[1:]
        core = self.single_core(args.pop(0)) if space == "sram" else None
        addr = self.int_arg(args[0], 0, (1 << 64) - 1, "address")
        region = tuple(self.range_arg(r) for r in self.list_arg(args[1]))
        strides = tuple(
            self.int_arg(s, -(1 << 63), (1 << 63) - 1, "stride") for s in self.list_arg(args[2])
        )
        placed = Placement(space, core, addr, region, strides)
        self.symbols[-1] = replace(
            self.symbols[-1], placements=(*self.symbols[-1].placements, placed)
        )

    def _d_blob(self, st: Stmt) -> None:
        name, data = self.arity(st, 2)
        self.blobs[self.name_arg(name, "blob name")] = self.bytes_arg(data)

    def program(self) -> D1xProgram:
        code = tuple(self._encode(s) for s in self.sections)
        sram = tuple(
            SramImage(m.cores, m.addr, bytes(m.data)) for m in self.images if m.cores is not None
        )
        hbm = tuple(HbmImage(m.addr, bytes(m.data)) for m in self.images if m.cores is None)
        return D1xProgram(
            self.target, code, self.param_addr, self.param_words, tuple(self.params.values()),
            sram, hbm, tuple(self.symbols), tuple(self.meta), tuple(self.blobs.items()), tuple(self.notes),
        )  # fmt: skip

    def _encode(self, sec: _Section) -> CodeSection:
        insts = [self.inst(st, i, sec.labels) for i, st in enumerate(sec.insts)]
        labels = tuple(sorted(sec.labels.items(), key=lambda kv: kv[1]))
        return CodeSection(sec.name, sec.cores, encode_words(insts), labels, tuple(sec.comments))

    def inst(self, st: Stmt, index: int, labels: dict[str, int]) -> Inst:
        """Check and encode the operands of one instruction statement."""
        row = BY_NAME.get(st.name)
        if row is None:
            raise self.error(f"unknown instruction {st.name!r}", st.line, st.col)
        if len(st.args) != len(row.operands):
            want = ", ".join(row.operands) or "no operands"
            raise self.error(
                f"{row.name} takes {len(row.operands)} operands ({want}), got {len(st.args)}",
                st.line,
                st.col,
            )
        return Inst(
            row.name,
            tuple(
                self.operand(f, a, index, labels) for f, a in zip(row.fields, st.args, strict=True)
            ),
        )

    def operand(self, f: Field, a: Arg, index: int, labels: dict[str, int]) -> int:
        value = self._operand_value(f, a, index, labels)
        problem = check_operand(f, value)
        if problem:
            raise self.error(problem, a.line, a.col)
        return value

    def _operand_value(self, f: Field, a: Arg, index: int, labels: dict[str, int]) -> int:
        if f.kind in ("xreg", "treg"):
            return self.reg_arg(
                a, "x" if f.kind == "xreg" else "t", NUM_XREGS if f.kind == "xreg" else NUM_TREGS
            )
        if f.kind == "enum":
            return ENUMS[f.enum][self.choice_arg(a, tuple(ENUMS[f.enum]), f.enum)]
        if f.kind == "off" and a.kind == "name":
            if a.value not in labels:
                raise self.error(f"undefined label {a.value!r}", a.line, a.col)
            return labels[a.value] - index
        return self.int_arg(a, -(1 << 64), 1 << 64, f.name)


def assemble(text: str, file: str = "<string>") -> D1xProgram:
    """Assemble a whole program (see the module docstring for the directives)."""
    b = _Builder(file, text)
    for st in parse(text, file):
        b.feed(st)
    return b.program()


def assemble_inst(text: str, file: str = "<string>") -> Inst:
    """Assemble one instruction line (branch targets as numeric word offsets)."""
    stmts = [s for s in parse(text, file) if s.kind != "comment"]
    if len(stmts) != 1 or stmts[0].kind != "instr":
        raise ParseError("expected exactly one instruction", Loc(file, 1, 1), source=text)
    return _Builder(file, text).inst(stmts[0], 0, {})
