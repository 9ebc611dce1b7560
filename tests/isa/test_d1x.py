"""The .d1x container: round trips, determinism, and clear errors for truncated or corrupt bytes."""

from __future__ import annotations

import hashlib
import random
import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d1c.isa import encoding, spec
from d1c.isa.asm import assemble
from d1c.isa.d1x import (
    HEADER_BYTES,
    CodeSection,
    CoreRange,
    D1xProgram,
    HbmImage,
    ParamRow,
    Placement,
    SramImage,
    Symbol,
    read_d1x,
)
from d1c.isa.disasm import disassemble
from d1c.isa.errors import DecodeError
from tests.isa.isa_strategies import any_inst

names = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)
line_text = st.text(
    st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f"), max_size=12
)
coords = st.tuples(*[st.integers(0, 255)] * 4)


@st.composite
def core_ranges(draw: st.DrawFn) -> CoreRange:
    lo = draw(coords)
    return CoreRange(lo, tuple(min(255, v + draw(st.integers(0, 3))) for v in lo))


@st.composite
def sections(draw: st.DrawFn, name: str) -> CodeSection:
    insts = draw(st.lists(any_inst(), max_size=8))
    n = len(insts)
    label_names = draw(st.lists(names, unique=True, max_size=3))
    labels = tuple(
        sorted(((lab, draw(st.integers(0, n))) for lab in label_names), key=lambda kv: kv[1])
    )
    comments = tuple(
        sorted(
            draw(st.lists(st.tuples(st.integers(0, n), line_text), max_size=3)), key=lambda c: c[0]
        )
    )
    cores = tuple(draw(st.lists(core_ranges(), min_size=1, max_size=2)))
    return CodeSection(name, cores, encoding.encode_words(insts), labels, comments)


@st.composite
def placements(draw: st.DrawFn) -> Placement:
    space = draw(st.sampled_from(["hbm", "sram"]))
    region = tuple(draw(st.lists(st.tuples(st.integers(0, 9), st.integers(10, 99)), max_size=3)))
    strides = tuple(draw(st.lists(st.integers(-(1 << 40), 1 << 40), max_size=3)))
    return Placement(
        space,
        draw(coords) if space == "sram" else None,
        draw(st.integers(0, 1 << 40)),
        region,
        strides,
    )


@st.composite
def symbols(draw: st.DrawFn) -> Symbol:
    return Symbol(
        draw(names),
        draw(st.sampled_from(["input", "output", "weight", "state"])),
        tuple(draw(st.lists(st.integers(0, 4096), max_size=4))),
        draw(st.sampled_from(list(spec.ENUMS["fmt"]))),
        draw(st.integers(0, 63)),
        draw(line_text),
        tuple(draw(st.lists(placements(), max_size=2))),
    )


@st.composite
def programs(draw: st.DrawFn) -> D1xProgram:
    sec_names = draw(st.lists(names, unique=True, max_size=3))
    param_cores = draw(st.lists(coords, unique=True, max_size=3))
    words = st.lists(st.integers(0, 0xFFFFFFFF), max_size=4).map(tuple)
    return D1xProgram(
        target=draw(line_text),
        code=tuple(draw(sections(n)) for n in sec_names),
        param_addr=draw(st.integers(0, 0xFFFFFFFF)),
        param_words=draw(st.integers(0, 4)),
        params=tuple(ParamRow(c, draw(words)) for c in param_cores),
        sram=tuple(draw(st.lists(st.builds(SramImage, st.lists(core_ranges(), min_size=1, max_size=2).map(tuple), st.integers(0, 0xFFFFFFFF), st.binary(max_size=40)), max_size=2))),
        hbm=tuple(draw(st.lists(st.builds(HbmImage, st.integers(0, (1 << 64) - 1), st.binary(max_size=40)), max_size=2))),
        symbols=tuple(draw(st.lists(symbols(), max_size=2))),
        meta=tuple(draw(st.lists(st.tuples(line_text, line_text), max_size=3))),
        blobs=tuple(draw(st.dictionaries(names, st.binary(max_size=30), max_size=2)).items()),
        notes=tuple(draw(st.lists(line_text, max_size=2))),
    )  # fmt: skip


@given(programs())
@settings(max_examples=60, deadline=None)
def test_program_roundtrips_through_bytes_and_text(p: D1xProgram) -> None:
    data = p.to_bytes()
    assert read_d1x(data) == p
    assert read_d1x(data).to_bytes() == data
    assert assemble(disassemble(p)) == p


def _example() -> D1xProgram:
    code = encoding.encode_words(
        [spec.Inst("csrr", (1, 6)), spec.Inst("ld", (2, 1, 0)), spec.Inst("halt", ())]
    )
    return D1xProgram(
        target="mini",
        code=(CodeSection("k", (CoreRange((0, 0, 0, 0), (1, 1, 3, 3)),), code, (("end", 3),), ((0, "param row"),)),),
        param_addr=0x1000,
        param_words=2,
        params=(ParamRow((0, 0, 1, 0), (7, 8)), ParamRow((0, 0, 0, 0), (5,))),
        sram=(SramImage((CoreRange.single((0, 0, 0, 0)),), 0x40, b"\x01\x02"),),
        hbm=(HbmImage(1 << 35, b"hbm"),),
        symbols=(Symbol("x", "input", (2, 2), "bf16", 0, "row-major", (Placement("hbm", None, 1 << 35, ((0, 2), (0, 2)), (4, 2)),)),),
        meta=(("z", "1"), ("a", "2")),
        blobs=(("ir", b"; llvm"), ("cfg", b"{}")),
        notes=("hello",),
    )  # fmt: skip


def test_header_layout_is_as_documented() -> None:
    data = _example().to_bytes()
    body = data[HEADER_BYTES:]
    assert data[:4] == b"D1X\x00"
    assert struct.unpack_from("<HHQ", data, 4) == (1, 0, len(body))
    assert data[16:48] == hashlib.sha256(body).digest()
    assert body[:8] == struct.pack("<I", 4) + b"mini"


def test_writing_twice_and_in_any_order_gives_identical_bytes() -> None:
    p = _example()
    q = D1xProgram(
        **{
            **{f: getattr(p, f) for f in p.__slots__},
            "meta": p.meta[::-1],
            "blobs": p.blobs[::-1],
            "params": p.params[::-1],
        }
    )
    assert p.to_bytes() == p.to_bytes() == q.to_bytes()
    assert p.meta == (("a", "2"), ("z", "1"))


def test_section_and_param_lookup() -> None:
    p = _example()
    assert p.section_for((1, 1, 2, 3)).name == "k"
    assert p.section_for((2, 0, 0, 0)) is None
    assert p.param_row((0, 0, 0, 0)) == (5, 0)
    assert p.param_row((0, 0, 1, 0)) == (7, 8)
    assert p.param_row((0, 0, 2, 0)) == (0, 0)


def _offset(err: DecodeError) -> int:
    m = re.match(r"byte offset (\d+):", err.message)
    assert m, err.message
    return int(m.group(1))


def test_every_truncation_is_a_decode_error() -> None:
    data = _example().to_bytes()
    for n in range(len(data)):
        with pytest.raises(DecodeError) as info:
            read_d1x(data[:n])
        assert _offset(info.value) <= len(data)


def _reseal(body: bytes) -> bytes:
    return b"D1X\x00" + struct.pack("<HHQ", 1, 0, len(body)) + hashlib.sha256(body).digest() + body


def test_corrupt_bytes_are_detected() -> None:
    data = bytearray(_example().to_bytes())
    data[60] ^= 0x40
    with pytest.raises(DecodeError, match="byte offset 16: checksum mismatch"):
        read_d1x(bytes(data))
    with pytest.raises(DecodeError, match=r"byte offset 0: not a \.d1x file"):
        read_d1x(b"ELF\x00" + bytes(data[4:]))
    with pytest.raises(DecodeError, match=r"byte offset 4: unsupported \.d1x version 9"):
        read_d1x(bytes(data[:4]) + b"\x09" + bytes(data[5:]))


def test_bad_instruction_inside_a_valid_container_names_its_file_offset() -> None:
    good = _example().to_bytes()
    code = _example().code[0].code
    at = good.index(code)
    body = bytearray(good[HEADER_BYTES:])
    body[at - HEADER_BYTES + 4] = 0x00  # second word's opcode byte -> opcode 0
    with pytest.raises(DecodeError, match="invalid opcode") as info:
        read_d1x(_reseal(bytes(body)))
    assert _offset(info.value) == at + 4


def test_resealed_body_fuzzing_raises_only_decode_error() -> None:
    body = _example().to_bytes()[HEADER_BYTES:]
    rnd = random.Random(1234)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(3000):
        mutated = bytearray(body)
        for _ in range(rnd.randint(1, 4)):
            mutated[rnd.randrange(len(mutated))] = rnd.randrange(256)
        if rnd.random() < 0.3:
            mutated = mutated[: rnd.randrange(len(mutated))]
        try:
            read_d1x(_reseal(bytes(mutated)))
            outcomes["ok"] += 1
        except DecodeError as err:
            assert 0 <= _offset(err) <= HEADER_BYTES + len(mutated)
            outcomes["error"] += 1
    assert outcomes["error"] > 100 and outcomes["ok"] > 0


def test_random_bytes_are_rejected() -> None:
    rnd = random.Random(7)
    for n in (0, 3, 47, 48, 200):
        with pytest.raises(DecodeError):
            read_d1x(bytes(rnd.randrange(256) for _ in range(n)))
    with pytest.raises(DecodeError):
        read_d1x("text")  # type: ignore[arg-type]
