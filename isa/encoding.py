"""Encoder and decoder of D1 instruction words, generated from the table in :mod:`d1c.isa.spec`.

A word is 32 bits, stored little-endian; bits 0..6 are the opcode and the row's format places
every operand field (``spec.FORMATS``). Signed immediates and offsets are two's complement in
their field. Decoding is strict so that every word has exactly one meaning and
``encode(decode(w)) == w``: an unknown opcode, a set reserved bit (a bit no field of the format
covers) or an undefined enum code is a :class:`~d1c.isa.errors.DecodeError` that names the byte
offset of the word. Decoding never raises anything else, whatever the bytes.
"""

from __future__ import annotations

from d1c.isa.errors import D1cError, DecodeError
from d1c.isa.spec import (
    BY_NAME,
    BY_OPCODE,
    ENUMS,
    OPCODE_BITS,
    WORD_BYTES,
    Field,
    Inst,
    Row,
    field_range,
)

_OPCODE_MASK = (1 << OPCODE_BITS) - 1
_M32 = 0xFFFFFFFF


class EncodeError(D1cError):
    """An instruction whose operands do not fit its row (unknown mnemonic, value out of range)."""


def _reserved_mask(row: Row) -> int:
    used = _OPCODE_MASK
    for f in row.fields:
        used |= f.mask
    return _M32 & ~used


_RESERVED = {r.opcode: _reserved_mask(r) for r in BY_NAME.values()}


def check_operand(f: Field, value: int) -> str | None:
    """None if ``value`` fits field ``f``, else a message saying what is allowed."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"operand {f.name} must be an integer, got {value!r}"
    if f.kind == "enum":
        if value not in ENUMS[f.enum].values():
            return f"operand {f.name}: {value} is not a {f.enum} code"
        return None
    lo, hi = field_range(f)
    if not lo <= value <= hi:
        return f"operand {f.name} = {value} is out of range {lo}..{hi}"
    return None


def encode(inst: Inst) -> int:
    """The 32-bit word of ``inst``; EncodeError if the mnemonic or an operand is invalid."""
    row = BY_NAME.get(inst.name)
    if row is None:
        raise EncodeError(f"unknown instruction {inst.name!r}")
    if len(inst.args) != len(row.operands):
        raise EncodeError(f"{row.name} takes {len(row.operands)} operands, got {len(inst.args)}")
    word = row.opcode
    for f, value in zip(row.fields, inst.args, strict=True):
        problem = check_operand(f, value)
        if problem:
            raise EncodeError(f"{row.name}: {problem}")
        word |= (value & ((1 << f.width) - 1)) << f.lo
    return word


def _field_value(f: Field, word: int) -> int:
    raw = (word >> f.lo) & ((1 << f.width) - 1)
    if f.kind in ("simm", "off") and raw >> (f.width - 1):
        return raw - (1 << f.width)
    return raw


def decode(word: int, offset: int = 0) -> Inst:
    """The instruction in the 32-bit ``word`` found at byte ``offset`` (used in error messages)."""
    if not 0 <= word <= _M32:
        raise DecodeError(f"byte offset {offset}: {word!r} is not a 32-bit word")
    row = BY_OPCODE.get(word & _OPCODE_MASK)
    if row is None:
        raise DecodeError(
            f"byte offset {offset}: invalid opcode 0x{word & _OPCODE_MASK:02x} in word 0x{word:08x}"
        )
    if word & _RESERVED[row.opcode]:
        raise DecodeError(
            f"byte offset {offset}: reserved bits set in {row.name} word 0x{word:08x}"
        )
    args = []
    for f in row.fields:
        value = _field_value(f, word)
        if f.kind == "enum" and value not in ENUMS[f.enum].values():
            raise DecodeError(
                f"byte offset {offset}: {row.name} has undefined {f.enum} code {value} (word 0x{word:08x})"
            )
        args.append(value)
    return Inst(row.name, tuple(args))


def encode_words(insts: list[Inst] | tuple[Inst, ...]) -> bytes:
    """The little-endian bytes of a sequence of instructions."""
    return b"".join(encode(i).to_bytes(WORD_BYTES, "little") for i in insts)


def decode_words(data: bytes, base: int = 0) -> list[Inst]:
    """Decode a byte string of whole words; ``base`` is added to offsets in error messages."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"byte offset {base}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) % WORD_BYTES:
        end = base + len(data) - len(data) % WORD_BYTES
        raise DecodeError(
            f"byte offset {end}: truncated instruction ({len(data) % WORD_BYTES} trailing bytes)"
        )
    return [
        decode(int.from_bytes(data[i : i + WORD_BYTES], "little"), base + i)
        for i in range(0, len(data), WORD_BYTES)
    ]
