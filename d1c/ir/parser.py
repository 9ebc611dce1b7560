"""Parse the textual IR (LALR, with positions) into a verified :class:`Module`.

Every error is a :class:`ParseError` or :class:`VerifyError` at ``file:line:col`` with the source line,
a caret and a message.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import lark
import numpy as np

from d1c.errors import Loc, ParseError, VerifyError
from d1c.ir.attr_forms import Address, Record, read_value
from d1c.ir.core import Function, Module, Op, Value
from d1c.ir.shapes import Sym
from d1c.ir.types import parse_elem, parse_type

_NAMES = {
    "SYMBOL": "a symbol like @name",
    "VALUE": "a value like %0",
    "NAME": "an op or attribute name",
    "TYPE": "a tensor type like tensor<2x3xbf16>",
    "ELEM": "an element type",
    "INT": "an integer",
    "FLOAT": "a float",
    "STRING": "a string",
    "HEX": "hex bytes like 0x0000803f",
    "ADDR": "an address like dip0+0x1000",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "__ANON_0": "'->'",
}


@functools.cache
def _lark() -> lark.Lark:
    grammar = resources.files("d1c.ir").joinpath("grammar.lark").read_text()
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _expected(names: set[str]) -> str:
    shown = sorted(_NAMES.get(n, repr(n.lower())) for n in names)
    return ", ".join(shown[:6]) + (", ..." if len(shown) > 6 else "")


def _syntax_error(err: lark.exceptions.UnexpectedInput, file: str, text: str) -> ParseError:
    loc = Loc(file, err.line if err.line > 0 else text.count("\n") + 1, max(err.column, 1))
    if isinstance(err, lark.exceptions.UnexpectedToken | lark.exceptions.UnexpectedEOF):
        at_end = isinstance(err, lark.exceptions.UnexpectedEOF) or err.token.type == "$END"
        got = "end of input" if at_end else repr(str(err.token))
        loc = _end_loc(file, text) if at_end else loc
        msg = f"unexpected {got}; expected {_expected(set(err.expected))}"
    else:
        msg = f"unexpected character {text[err.pos_in_stream]!r}"
    return ParseError(msg, loc, source=text)


def _end_loc(file: str, text: str) -> Loc:
    """Just after the last non-blank character: where the missing text should go."""
    body = text.rstrip()
    return Loc(file, body.count("\n") + 1, len(body) - (body.rfind("\n") + 1) + 1)


def parse_module(text: str, file: str = "<string>", *, verify: bool = True) -> Module:
    """Parse IR text. With ``verify`` (the default) the module is also verified."""
    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedInput as err:
        raise _syntax_error(err, file, text) from None
    module = _Reader(file, text).module(tree.children[0])
    if verify:
        from d1c.ir.verify import verify_module

        verify_module(module, source=text)
    return module


class _Reader:
    """Turns the parse tree into IR objects, resolving value names per function."""

    def __init__(self, file: str, text: str) -> None:
        self.file, self.text = file, text

    def loc(self, tok: Any) -> Loc:
        meta = getattr(tok, "meta", tok)
        return Loc(self.file, getattr(meta, "line", 1), getattr(meta, "column", 1))

    def error(self, tok: Any, message: str, cls: type = ParseError) -> Exception:
        return cls(message, self.loc(tok), source=self.text)

    def module(self, node: lark.Tree) -> Module:
        name, *rest = node.children
        m = Module(_sym(name))
        for child in rest:
            if child.data == "function":
                m.functions.append(self.function(child))
            else:
                key, array = self.data(child)
                m.consts[key] = array
        return m

    def type(self, tok: lark.Token):
        try:
            return parse_type(str(tok))
        except ValueError as err:
            raise self.error(tok, str(err)) from None

    def function(self, node: lark.Tree) -> Function:
        name, *rest = node.children
        args = [c for c in rest if isinstance(c, lark.Tree) and c.data == "arg"]
        types = [c for c in rest if isinstance(c, lark.Token) and c.type == "TYPE"]
        stmts = [c for c in rest if isinstance(c, lark.Tree) and c.data in ("op", "ret")]
        func = Function(_sym(name), [], [self.type(t) for t in types], pos=self.loc(node))
        scope: dict[str, Value] = {}
        for a in args:
            tok, ty = a.children
            func.args.append(self.define(scope, tok, Value(self.type(ty), name=str(tok)[1:])))
        for s in stmts:
            func.ops.append(self.op(s, scope) if s.data == "op" else self.ret(s, scope))
        if not func.ops or func.ops[-1].name != "return":
            raise self.error(node, f"function @{func.name} must end with 'return'", VerifyError)
        return func

    def define(self, scope: dict[str, Value], tok: lark.Token, value: Value) -> Value:
        if str(tok) in scope:
            raise self.error(tok, f"value {tok} is defined twice", VerifyError)
        scope[str(tok)] = value
        return value

    def use(self, scope: dict[str, Value], tok: lark.Token) -> Value:
        if str(tok) not in scope:
            raise self.error(tok, f"use of undefined value {tok}", VerifyError)
        return scope[str(tok)]

    def op(self, node: lark.Tree, scope: dict[str, Value]) -> Op:
        kids = [c for c in node.children if c is not None]
        name_i = next(
            i for i, c in enumerate(kids) if isinstance(c, lark.Token) and c.type == "NAME"
        )
        results, rest = kids[:name_i], kids[name_i + 1 :]
        operands = [
            self.use(scope, t) for t in rest if isinstance(t, lark.Token) and t.type == "VALUE"
        ]
        types = [self.type(t) for t in rest if isinstance(t, lark.Token) and t.type == "TYPE"]
        attrs = next(
            (self.attrs(c) for c in rest if isinstance(c, lark.Tree) and c.data == "attrs"), {}
        )
        loc = next(
            (self.srcloc(c) for c in rest if isinstance(c, lark.Tree) and c.data == "loc"), None
        )
        if len(types) != len(results):
            raise self.error(kids[0], f"{len(results)} results but {len(types)} types", VerifyError)
        op = Op(str(kids[name_i]), operands, [], attrs, loc, self.loc(kids[0]))
        op.results = [
            self.define(scope, t, Value(ty, owner=op, index=i))
            for i, (t, ty) in enumerate(zip(results, types, strict=True))
        ]
        return op

    def ret(self, node: lark.Tree, scope: dict[str, Value]) -> Op:
        kids = [c for c in node.children if c is not None]
        operands = [self.use(scope, t) for t in kids if isinstance(t, lark.Token)]
        loc = next((self.srcloc(c) for c in kids if isinstance(c, lark.Tree)), None)
        return Op("return", operands, [], {}, loc, self.loc(node))

    def attrs(self, node: lark.Tree) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr in (c for c in node.children if c is not None):
            key, value = attr.children
            if str(key) in out:
                raise self.error(key, f"attribute '{key}' is given twice")
            try:
                out[str(key)] = read_value(str(key), self.value(value))
            except ValueError as err:
                raise self.error(value, f"attribute '{key}': {err}") from None
        return out

    def value(self, node: Any) -> Any:
        kind = node.data
        tok = node.children[0] if node.children else None
        simple = {"int": int, "float": float, "string": json.loads, "sym": _sym}
        if kind in simple:
            return simple[kind](str(tok)) if kind != "sym" else Sym(_sym(tok))
        if kind in ("true", "false"):
            return kind == "true"
        if kind == "elem":
            try:
                return parse_elem(str(tok))
            except ValueError as err:
                raise self.error(tok, str(err)) from None
        if kind == "type":
            return self.type(tok)
        if kind == "addr":
            space, offset = str(tok).split("+")
            return Address(space, int(offset, 16))
        if kind == "record":
            return self.record(node)
        return tuple(self.value(c) for c in node.children if c is not None)

    def record(self, node: lark.Tree) -> Record:
        items = []
        for f in (c for c in node.children if c is not None):
            name, value = f.children
            if any(k == str(name) for k, _ in items):
                raise self.error(name, f"field '{name}' is given twice")
            items.append((str(name), self.value(value)))
        return Record(tuple(items))

    def srcloc(self, node: lark.Tree) -> Loc:
        file, line, col = node.children
        return Loc(json.loads(str(file)), int(line), int(col))

    def data(self, node: lark.Tree) -> tuple[str, np.ndarray]:
        name, ty_tok, hex_tok = node.children
        ty = self.type(ty_tok)
        raw = str(hex_tok)[2:]
        if len(raw) % 2 or len(raw) // 2 != ty.numel * np.dtype(ty.elem.host_dtype).itemsize:
            raise self.error(
                hex_tok,
                f"data @{_sym(name)} has {len(raw) // 2} bytes, but {ty} holds {ty.numel * np.dtype(ty.elem.host_dtype).itemsize}",
            )
        array = np.frombuffer(bytes.fromhex(raw), dtype=ty.elem.host_dtype).reshape(ty.shape).copy()
        return _sym(name), array


def _sym(tok: Any) -> str:
    text = str(tok)[1:]
    return json.loads(text) if text.startswith('"') else text
