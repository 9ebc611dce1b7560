"""The disassembler: a :class:`~d1c.isa.d1x.D1xProgram` (or single instructions) as canonical text.

Canonical text is what :func:`disassemble` prints, and ``assemble`` of it gives the same program
back (so ``disassemble(assemble(t)) == t`` for canonical ``t``). Its rules:

- Header: the notes (file-top comments) as ``; text``, then ``.target``, ``.meta`` lines sorted
  by key, and ``.params ADDR, WORDS`` if the program has a parameter table.
- Each code section: a blank line, ``.code NAME, RANGE, ...``, then for every instruction index
  its comments (``    ; text``), its labels (``name:`` at column 0) and the instruction
  (four spaces, the mnemonic, one space, operands separated by ``", "``); comments and labels
  after the last instruction close the section.
- Then ``.param`` rows, ``.sram``/``.hbm`` images (``.hex`` lines of up to 32 bytes), ``.symbol``
  with its ``.place`` lines, and ``.blob`` lines, each group after a blank line.
- Operands: ``x5``, ``t3``, decimal immediates, ``hex`` fields as ``0x..``, enum names, and
  branch targets as a label when the target index has one, else the signed word offset.
- Strings are double-quoted UTF-8 bytes: printable ASCII as is, ``\\\\ \\" \\n \\t``, other bytes
  ``\\xNN``.
"""

from __future__ import annotations

from d1c.isa.asm import is_bare_name
from d1c.isa.d1x import CodeSection, D1xProgram, Placement, Symbol
from d1c.isa.encoding import decode_words
from d1c.isa.spec import Inst, enum_name

HEX_LINE_BYTES = 32
INDENT = "    "


def quote(data: bytes | str) -> str:
    """``data`` (str as UTF-8) as a canonical double-quoted string literal."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    named = {0x5C: "\\\\", 0x22: '\\"', 0x0A: "\\n", 0x09: "\\t"}
    parts = [named.get(b) or (chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in raw]
    return '"' + "".join(parts) + '"'


def name(text: str) -> str:
    """A section, symbol or blob name: bare when it reads back as a NAME, else quoted."""
    return text if is_bare_name(text) else quote(text)


def format_operand(kind: str, enum: str | None, value: int, target: str | None = None) -> str:
    """One operand in canonical form (``target`` is the label of an ``off`` operand, if any)."""
    if kind == "xreg":
        return f"x{value}"
    if kind == "treg":
        return f"t{value}"
    if kind == "hex":
        return f"0x{value:x}"
    if kind == "enum":
        return enum_name(enum, value)
    if kind == "off" and target is not None:
        return target
    return str(value)


def format_inst(inst: Inst, index: int = 0, labels: dict[int, str] | None = None) -> str:
    """``inst`` as one line of text without indentation (offsets to labelled indices use labels)."""
    ops = []
    for f, v in zip(inst.row.fields, inst.args, strict=True):
        target = labels.get(index + v) if labels and f.kind == "off" else None
        ops.append(format_operand(f.kind, f.enum, v, target))
    return inst.name + (" " + ", ".join(ops) if ops else "")


def _comment(text: str, indent: str = "") -> str:
    return indent + ";" + (" " + text if text else "")


def listing(section: CodeSection) -> list[str]:
    """The body lines of a code section: comments, labels and instructions."""
    insts = decode_words(section.code)
    first: dict[int, str] = {}
    for label, i in section.labels:
        first.setdefault(i, label)
    lines = []
    for i in range(len(insts) + 1):
        lines += [_comment(text, INDENT) for at, text in section.comments if at == i]
        lines += [f"{label}:" for label, at in section.labels if at == i]
        if i < len(insts):
            lines.append(INDENT + format_inst(insts[i], i, first))
    return lines


def _hex_lines(data: bytes, elide: bool = False) -> list[str]:
    if elide and data:
        return [f"; {len(data):,} bytes of data left out"]
    return [
        f'.hex "{data[i : i + HEX_LINE_BYTES].hex()}"' for i in range(0, len(data), HEX_LINE_BYTES)
    ]


def _region(p: Placement) -> str:
    dims = ", ".join(f"{a}:{b}" for a, b in p.region)
    strides = ", ".join(str(s) for s in p.strides)
    where = f"sram, {'.'.join(map(str, p.core))}, " if p.space == "sram" else "hbm, "
    return f".place {where}0x{p.addr:x}, [{dims}], [{strides}]"


def _symbol(s: Symbol) -> list[str]:
    shape = ", ".join(str(d) for d in s.shape)
    head = f".symbol {name(s.name)}, {s.role}, {s.fmt}, {s.bias}, [{shape}], {quote(s.layout)}"
    return [head, *(_region(p) for p in s.placements)]


def _header(p: D1xProgram) -> list[str]:
    lines = [_comment(n) for n in p.notes] + [f".target {quote(p.target)}"]
    lines += [f".meta {quote(k)}, {quote(v)}" for k, v in p.meta]
    if p.param_addr or p.param_words:
        lines.append(f".params 0x{p.param_addr:x}, {p.param_words}")
    return lines


def disassemble(p: D1xProgram, *, elide_data: bool = False) -> str:
    """The canonical assembly text of a whole program; ``elide_data`` replaces the ``.hex``
    lines of every SRAM and HBM image by a comment with its size (for reading: such text
    assembles to a program without that data)."""
    lines = _header(p)
    for s in p.code:
        lines += ["", f".code {name(s.name)}, " + ", ".join(str(r) for r in s.cores), *listing(s)]
    if p.params:
        lines.append("")
        for row in p.params:
            lines.append(
                f".param {'.'.join(map(str, row.core))}" + "".join(f", {w}" for w in row.words)
            )
    for m in p.sram:
        lines += [
            "",
            f".sram 0x{m.addr:x}, " + ", ".join(str(r) for r in m.cores),
            *_hex_lines(m.data, elide_data),
        ]
    for m in p.hbm:
        lines += ["", f".hbm 0x{m.addr:x}", *_hex_lines(m.data, elide_data)]
    for s in p.symbols:
        lines += ["", *_symbol(s)]
    for blob, data in p.blobs:
        lines += ["", f".blob {name(blob)}, {quote(data)}"]
    return "\n".join(lines) + "\n"
