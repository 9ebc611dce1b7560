"""Mutations of valid inputs, for robustness properties: every mutant must be rejected with a
:class:`~d1c.errors.D1cError` (or accepted), never crash.

- :func:`mutated_texts` edits IR or assembly text at the token level: delete, duplicate or swap
  lines; replace a token by another of the same family (numbers, types, op names, value and
  symbol names, punctuation) or by a random one; delete or insert characters; truncate.
- :func:`mutated_d1x` edits ``.d1x`` bytes: bit flips, byte overwrites, u32 fields set to
  extreme values, truncation, insertions; half of the mutants are re-sealed (header length and
  sha256 recomputed) so that they get past the checksum into the field decoder.

    @given(mutated_texts(print_module(module)))
    def test_mutants_fail_cleanly(text):
        try:
            parse_module(text)
        except D1cError:
            pass

The edits are drawn independently of the text they apply to (:func:`text_edits`,
:func:`d1x_edits`: positions and choices as plain integers, taken modulo the text's size), so a
test can draw them before it knows the text, e.g. when the text comes from compiling an earlier
draw, and the same draws always mean the same edits.
"""

from __future__ import annotations

import hashlib
import re
import struct

from hypothesis import strategies as st

from d1c.isa.d1x import HEADER_BYTES, MAGIC, VERSION

TOKEN = re.compile(
    r'"(?:\\.|[^"\\\n])*"|%[\w.]+|@[\w.]+|-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|[A-Za-z_][\w.<>]*|\S'
)
NUMBERS = ["0", "1", "-1", "2", "3", "5", "17", "64", "65", "129", "0.5", "-0.0", "nan", "1e30"]
WORDS = [
    "fp32", "bf16", "fp16", "i1", "i32", "i64", "cfp8_143<7>", "cfp8_152<0>", "shp<63>",
    "tensor", "add", "matmul", "reduce_sum", "convert", "const", "full", "return", "func",
    "module", "loc", "data", "dims", "tile", "x", "t0", "x31", "halt", "mma", "tld", ".code",
]  # fmt: skip
PUNCT = [*'{}()<>[]:,=%@"x-.;#\n ', "->", "%0", "@main", "0x", "\\x00"]


N = 1 << 16  # range of the integers that stand for positions and choices
TextEdit = tuple[str, int, int, int, str]  # kind, position, second position, choice, junk
ByteEdit = tuple[str, int, int, bytes]  # kind, position, choice, inserted bytes


def _tokens(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in TOKEN.finditer(text)]


def _pick(options: list[str], choice: int) -> str:
    return options[choice % len(options)]


def _replacement(tok: str, choice: int) -> str:
    if re.fullmatch(r"-?\d.*", tok):
        return _pick(NUMBERS, choice)
    if tok[0] in "%@":
        return tok[0] + _pick(["0", "99", "main", "c0", "x0", "fold.1"], choice)
    if tok[0].isalpha() or tok[0] == "_":
        return _pick(WORDS, choice)
    return _pick(PUNCT, choice)


def _line_edit(text: str, e: TextEdit) -> str:
    kind, a, b, _, _ = e
    lines = text.split("\n")
    i, j = a % len(lines), b % len(lines)
    if kind == "delete-line":
        del lines[i]
    elif kind == "duplicate-line":
        lines.insert(j, lines[i])
    else:
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _token_edit(text: str, e: TextEdit) -> str:
    kind, a, _, choice, _ = e
    toks = _tokens(text)
    if not toks:
        return text + _pick(PUNCT, choice)
    start, end, tok = toks[a % len(toks)]
    new = {
        "same-family": lambda: _replacement(tok, choice),
        "any-token": lambda: _pick(NUMBERS + WORDS + PUNCT, choice),
        "delete-token": lambda: "",
        "insert-token": lambda: tok + _pick(PUNCT + NUMBERS, choice),
    }[kind]()
    return text[:start] + new + text[end:]


def _char_edit(text: str, e: TextEdit) -> str:
    kind, a, b, _, junk = e
    at = a % (len(text) + 1)
    if kind == "truncate":
        return text[:at]
    return text[:at] + junk + text[at + b % 4 :]


TEXT_EDITS = {
    "same-family": _token_edit,
    "any-token": _token_edit,
    "delete-token": _token_edit,
    "insert-token": _token_edit,
    "delete-line": _line_edit,
    "duplicate-line": _line_edit,
    "swap-lines": _line_edit,
    "truncate": _char_edit,
    "junk": _char_edit,
}


def text_edits(max_edits: int = 3) -> st.SearchStrategy[tuple[TextEdit, ...]]:
    """1..``max_edits`` text edits, mostly token-level (see :func:`apply_text_edits`)."""
    kinds = ["same-family"] * 4 + [k for k in TEXT_EDITS if k != "same-family"]
    edit = st.tuples(
        st.sampled_from(kinds),
        st.integers(0, N),
        st.integers(0, N),
        st.integers(0, N),
        st.text(st.characters(codec="utf-8"), max_size=3),
    )
    return st.lists(edit, min_size=1, max_size=max_edits).map(tuple)


def apply_text_edits(text: str, edits: tuple[TextEdit, ...]) -> str:
    for e in edits:
        text = TEXT_EDITS[e[0]](text, e)
    return text


def mutated_texts(text: str, max_edits: int = 3) -> st.SearchStrategy[str]:
    """``text`` with 1..``max_edits`` random edits."""
    return text_edits(max_edits).map(lambda edits: apply_text_edits(text, edits))


def reseal(data: bytes) -> bytes:
    """``data`` with a correct .d1x header for its body (magic, version, length, sha256)."""
    body = data[HEADER_BYTES:]
    head = MAGIC + struct.pack("<HHQ", VERSION, 0, len(body)) + hashlib.sha256(body).digest()
    return head + body


U32S = [0, 1, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 64, 4096]


def _byte_edit(data: bytearray, e: ByteEdit) -> None:
    kind, a, choice, insert = e
    at = a % max(len(data), 1)
    if not data or kind == "insert":
        data[at:at] = insert or b"\x00"
    elif kind == "flip":
        data[at] ^= 1 << (choice % 8)
    elif kind == "byte":
        data[at] = choice % 256
    elif kind == "u32":
        data[at : at + 4] = struct.pack("<I", U32S[choice % len(U32S)])
    else:
        del data[at:]


def d1x_edits(max_edits: int = 3) -> st.SearchStrategy[tuple[tuple[ByteEdit, ...], bool]]:
    """1..``max_edits`` byte edits and whether to re-seal (see :func:`apply_d1x_edits`)."""
    edit = st.tuples(
        st.sampled_from(["flip", "byte", "u32", "truncate", "insert"]),
        st.integers(0, N),
        st.integers(0, N),
        st.binary(min_size=1, max_size=8),
    )
    return st.tuples(st.lists(edit, min_size=1, max_size=max_edits).map(tuple), st.booleans())


def apply_d1x_edits(data: bytes, edits: tuple[tuple[ByteEdit, ...], bool]) -> bytes:
    """``data`` with the byte edits applied, re-sealed if asked (and long enough)."""
    out = bytearray(data)
    for e in edits[0]:
        _byte_edit(out, e)
    return reseal(bytes(out)) if edits[1] and len(out) >= HEADER_BYTES else bytes(out)


def mutated_d1x(data: bytes, max_edits: int = 3) -> st.SearchStrategy[bytes]:
    """``data`` (a .d1x file) with 1..``max_edits`` byte edits, re-sealed half of the time."""
    return d1x_edits(max_edits).map(lambda edits: apply_d1x_edits(data, edits))
