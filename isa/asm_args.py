"""Operands and directive arguments of D1 assembly: parse-tree nodes to checked Python values.

Every check raises :class:`~d1c.isa.errors.ParseError` at the argument's own line and column, so
the caret points at the bad operand rather than the start of the statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import lark

from d1c.isa.d1x import CoreRange
from d1c.isa.errors import Loc, ParseError

_ESCAPES = {"\\": 0x5C, '"': 0x22, "n": 0x0A, "t": 0x09}
_KIND_NAMES = {
    "int": "an integer",
    "float": "a number",
    "string": "a string",
    "core": "a core range like 0.0.1-3.2",
    "name": "a name",
    "range": "a range like 0:64",
    "list": "a [list]",
}


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument: its kind (int, float, string, core, name, range, list), value and position."""

    kind: str
    value: object
    line: int
    col: int


def _int(text: str) -> int:
    neg = text.startswith("-")
    body = text[1:] if neg else text
    value = int(body, 16) if body[:2].lower() == "0x" else int(body, 10)
    return -value if neg else value


def unescape(body: str) -> bytes | None:
    """The bytes of a string literal's inside, or None if it has an unknown escape."""
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", body[i + 2 : i + 4]):
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        else:
            return None
    return bytes(out)


def to_arg(node: lark.Tree, file: str, text: str) -> Arg:
    """The :class:`Arg` of one ``arg`` parse-tree node."""
    line, col = node.meta.line, node.meta.column
    if node.data == "list":
        return Arg("list", tuple(to_arg(c, file, text) for c in node.children), line, col)
    toks = [str(c) for c in node.children]
    kind = str(node.data)
    if kind == "int":
        return Arg(kind, _int(toks[0]), line, col)
    if kind == "range":
        return Arg(kind, (_int(toks[0]), _int(toks[1])), line, col)
    if kind == "float":
        return Arg(kind, float(toks[0]), line, col)
    if kind == "string":
        raw = unescape(toks[0][1:-1])
        if raw is None:
            raise ParseError(
                'unknown escape in string (use \\\\ \\" \\n \\t \\xNN)',
                Loc(file, line, col),
                source=text,
            )
        return Arg(kind, raw, line, col)
    if kind == "core":
        return Arg(kind, _core(toks[0]), line, col)
    return Arg(kind, toks[0], line, col)


def _core(text: str) -> tuple[tuple[int, int], ...]:
    parts = []
    for p in text.split("."):
        lo, _, hi = p.partition("-")
        parts.append((int(lo), int(hi or lo)))
    return tuple(parts)


class ArgReader:
    """Checked readers of arguments, for the assembler's statement handlers."""

    def __init__(self, file: str, text: str) -> None:
        self.file, self.text = file, text

    def error(self, msg: str, line: int, col: int) -> ParseError:
        """A ParseError at ``line:col`` of the source."""
        return ParseError(msg, Loc(self.file, line, col), source=self.text)

    def _want(self, a: Arg, kinds: tuple[str, ...], what: str) -> None:
        if a.kind not in kinds:
            names = " or ".join(_KIND_NAMES[k] for k in kinds)
            raise self.error(f"{what}: expected {names}", a.line, a.col)

    def arity(self, st, n: int) -> list[Arg]:
        """The arguments of ``st``, which must number exactly ``n``."""
        if len(st.args) != n:
            raise self.error(f"{st.name} takes {n} arguments, got {len(st.args)}", st.line, st.col)
        return list(st.args)

    def at_least(self, st, n: int) -> list[Arg]:
        """The arguments of ``st``, at least ``n`` of them."""
        if len(st.args) < n:
            raise self.error(
                f"{st.name} takes at least {n} arguments, got {len(st.args)}", st.line, st.col
            )
        return list(st.args)

    def int_arg(self, a: Arg, lo: int, hi: int, what: str) -> int:
        """An integer in ``lo..hi``."""
        self._want(a, ("int",), what)
        if not lo <= a.value <= hi:
            raise self.error(f"{what} {a.value} is out of range {lo}..{hi}", a.line, a.col)
        return a.value

    def float_arg(self, a: Arg) -> float:
        """A number (integer or decimal)."""
        self._want(a, ("int", "float"), "value")
        return float(a.value)

    def bytes_arg(self, a: Arg) -> bytes:
        """A string literal's bytes."""
        self._want(a, ("string",), "argument")
        return a.value

    def text_arg(self, a: Arg) -> str:
        """A string literal decoded as UTF-8."""
        try:
            return self.bytes_arg(a).decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("string is not valid UTF-8", a.line, a.col) from None

    def name_arg(self, a: Arg, what: str) -> str:
        """A name: bare (``host_ir``) or, for any other text, a string literal (``"host-ir"``)."""
        self._want(a, ("name", "string"), what)
        return a.value if a.kind == "name" else self.text_arg(a)

    def choice_arg(self, a: Arg, choices: tuple[str, ...], what: str) -> str:
        """A name from ``choices``."""
        self._want(a, ("name",), what)
        if a.value not in choices:
            raise self.error(
                f"{what} must be one of {', '.join(choices)}; got {a.value!r}", a.line, a.col
            )
        return a.value

    def reg_arg(self, a: Arg, prefix: str, count: int) -> int:
        """A register ``{prefix}N`` with N < count."""
        what = f"register {prefix}0..{prefix}{count - 1}"
        self._want(a, ("name",), what)
        m = re.fullmatch(prefix + r"(0|[1-9]\d?)", a.value)
        if m is None or int(m.group(1)) >= count:
            raise self.error(f"expected a {what}, got {a.value!r}", a.line, a.col)
        return int(m.group(1))

    def core_arg(self, a: Arg) -> CoreRange:
        """A core range ``cx.cy.x.y`` (each a number or lo-hi, values 0..255)."""
        self._want(a, ("core",), "core range")
        if any(lo > hi or hi > 255 for lo, hi in a.value):
            raise self.error("core range parts must be lo-hi with lo <= hi <= 255", a.line, a.col)
        return CoreRange(tuple(lo for lo, _ in a.value), tuple(hi for _, hi in a.value))

    def single_core(self, a: Arg) -> tuple[int, int, int, int]:
        """One core ``cx.cy.x.y``."""
        r = self.core_arg(a)
        if r.lo != r.hi:
            raise self.error("expected a single core, not a range", a.line, a.col)
        return r.lo

    def list_arg(self, a: Arg) -> tuple[Arg, ...]:
        """The items of a ``[...]`` list."""
        self._want(a, ("list",), "argument")
        return a.value

    def range_arg(self, a: Arg) -> tuple[int, int]:
        """A ``start:stop`` range with 0 <= start <= stop < 2^32."""
        self._want(a, ("range",), "region")
        lo, hi = a.value
        if not 0 <= lo <= hi <= 0xFFFFFFFF:
            raise self.error(f"bad range {lo}:{hi}", a.line, a.col)
        return a.value
