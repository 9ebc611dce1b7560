"""Encoder/decoder: per-row round trips with hypothesis-drawn fields, hand-computed words, fuzzing."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d1c.isa import encoding, spec
from d1c.isa.errors import DecodeError
from tests.isa.isa_strategies import any_inst, insts

ROW_IDS = [r.name for r in spec.ROWS]


@pytest.mark.parametrize("row", spec.ROWS, ids=ROW_IDS)
def test_decode_encode_roundtrip_per_row(row: spec.Row) -> None:
    @settings(max_examples=40, deadline=None)
    @given(insts(row))
    def check(inst: spec.Inst) -> None:
        word = encoding.encode(inst)
        assert 0 <= word < 1 << 32 and word & 0x7F == row.opcode
        assert encoding.decode(word) == inst
        assert encoding.encode(encoding.decode(word)) == word

    check()


def _pack(opcode: int, *fields: tuple[int, int, int]) -> int:
    """Independent hand packing: (value, lo, width) two's complement into the word."""
    word = opcode
    for value, lo, width in fields:
        word |= (value % (1 << width)) << lo
    return word


HAND = [
    (spec.Inst("addi", (1, 2, -5)), _pack(0x20, (1, 7, 5), (2, 12, 5), (-5, 17, 15))),
    (spec.Inst("addi", (1, 2, -5)), 0xFFF620A0),
    (spec.Inst("halt", ()), 0x00000001),
    (spec.Inst("bne", (1, 0, -3)), _pack(0x09, (1, 7, 5), (0, 12, 5), (-3, 17, 15))),
    (spec.Inst("lui", (5, 0x3F800)), _pack(0x29, (5, 7, 5), (0x3F800, 12, 20))),
    (spec.Inst("mma", (2, 0, 1, 1)), _pack(0x50, (2, 7, 4), (0, 11, 4), (1, 15, 4), (1, 19, 1))),
    (spec.Inst("vfn", (3, 2, 8, 1)), _pack(0x6A, (3, 7, 4), (2, 11, 4), (8, 15, 4), (1, 19, 1))),
    (spec.Inst("j", (-1,)), _pack(0x03, (-1, 7, 25))),
    (spec.Inst("tfmt", (15, 4, 63)), _pack(0x3B, (15, 7, 4), (4, 11, 3), (63, 14, 6))),
]


@pytest.mark.parametrize(
    ("inst", "word"), HAND, ids=[f"{i.name}{n}" for n, (i, _) in enumerate(HAND)]
)
def test_hand_computed_words(inst: spec.Inst, word: int) -> None:
    assert encoding.encode(inst) == word
    assert encoding.decode(word) == inst


@given(st.lists(any_inst(), max_size=20))
@settings(max_examples=50, deadline=None)
def test_word_sequences_roundtrip(seq: list[spec.Inst]) -> None:
    data = encoding.encode_words(seq)
    assert len(data) == 4 * len(seq)
    assert encoding.decode_words(data) == seq


@pytest.mark.parametrize(
    ("inst", "msg"),
    [
        (spec.Inst("nosuch", ()), "unknown instruction"),
        (spec.Inst("add", (1, 2)), "takes 3 operands"),
        (spec.Inst("add", (32, 0, 0)), "out of range"),
        (spec.Inst("addi", (1, 1, 16384)), "out of range"),
        (spec.Inst("vcmp", (1, 2, 3, 6)), "not a cond code"),
        (spec.Inst("csrw", (0, 1)), "not a wsreg code"),
    ],
)
def test_encode_rejects_bad_operands(inst: spec.Inst, msg: str) -> None:
    with pytest.raises(encoding.EncodeError, match=msg):
        encoding.encode(inst)


def _offset(err: DecodeError) -> int:
    m = re.match(r"byte offset (\d+):", err.message)
    assert m, err.message
    return int(m.group(1))


def test_decode_errors_name_the_byte_offset() -> None:
    good = encoding.encode_words([spec.Inst("nop", ()), spec.Inst("halt", ())])
    cases = {
        good + (0).to_bytes(4, "little"): (8, "invalid opcode"),
        good + (0x7F).to_bytes(4, "little"): (8, "invalid opcode"),
        good + (0x01 | 1 << 31).to_bytes(4, "little"): (8, "reserved bits"),
        good + _pack(0x5E, (7, 19, 3)).to_bytes(4, "little"): (8, "undefined cond code 7"),
        good + b"\x01\x00": (8, "truncated"),
    }
    for data, (offset, text) in cases.items():
        with pytest.raises(DecodeError, match=text) as info:
            encoding.decode_words(data, base=100)
        assert _offset(info.value) == 100 + offset


def test_every_unused_opcode_is_rejected() -> None:
    for op in range(128):
        if op in spec.BY_OPCODE:
            continue
        with pytest.raises(DecodeError, match="invalid opcode"):
            encoding.decode(op | 0xABCD00)


def test_fuzzed_bytes_raise_only_decode_error() -> None:
    rng = os.urandom(4 * 50_000 + 3)
    ok = 0
    for i in range(0, len(rng) - 4, 4):
        try:
            inst = encoding.decode(int.from_bytes(rng[i : i + 4], "little"), i)
        except DecodeError:
            continue
        ok += 1
        assert encoding.encode(inst) == int.from_bytes(rng[i : i + 4], "little")
    assert ok > 0
    with pytest.raises(DecodeError):
        encoding.decode_words(rng)  # 3 trailing bytes or a bad word; never another exception
    with pytest.raises(DecodeError):
        encoding.decode_words("not bytes")  # type: ignore[arg-type]
