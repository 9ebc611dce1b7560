"""Readable text forms of packed attribute values, one table row per attribute.

The passes store some attributes as packed integers: ``hbm`` is a 64-bit global HBM address,
``route`` is ``(max hops, bytes on the busiest link)``. Printed raw they say little
(``hbm = 34359738368``, ``route = [70, 9344]``), so the printer writes them through their row of
:data:`FORMS` and the parser reads that text back to the same value::

    hbm = dip1+0x0                      DIP 1's HBM window, offset 0 (``1 << 35``)
    hbm = striped+0x4000                the striped window (31), offset 0x4000
    hbm = logical+0x40                  an intermediate tensor before allocate-sram homes it
    route = {hops = 70, busiest = 9344}

The stored value never changes (passes, the interpreter and the backend read the integers), and
the raw forms still parse, so older text reads too. A new packed attribute gets a row here:
:class:`Fields` for a tuple of named integers, or a class with ``format``/``read``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from d1c.isa.tiles import DIP_SHIFT, LOGICAL, STRIPED


@dataclass(frozen=True)
class Record:
    """A parsed ``{name = value, ...}`` attribute value, before its form reads it."""

    items: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Address:
    """A parsed ``space+0xOFFSET`` attribute value, before its form reads it."""

    space: str
    offset: int


class Form(Protocol):
    """How one attribute's value is written (None: the value does not fit the form, so the
    generic text is used) and read back (``read`` raises ValueError)."""

    example: str

    def format(self, value: Any) -> str | None: ...

    def read(self, parsed: Any) -> Any: ...


@dataclass(frozen=True)
class Fields:
    """A tuple of integers written as a record of named fields, ``{hops = 70, busiest = 9344}``."""

    names: tuple[str, ...]

    @property
    def example(self) -> str:
        return "{" + ", ".join(f"{n} = N" for n in self.names) + "}"

    def format(self, value: Any) -> str | None:
        if not _ints(value, len(self.names)):
            return None
        return "{" + ", ".join(f"{n} = {v}" for n, v in zip(self.names, value, strict=True)) + "}"

    def read(self, parsed: Any) -> Any:
        if isinstance(parsed, tuple) and not _ints(parsed, len(self.names)):
            raise ValueError(f"expected {len(self.names)} integers ({', '.join(self.names)})")
        if not isinstance(parsed, Record):
            return parsed  # the raw list, or another kind that the verifier rejects
        got = dict(parsed.items)
        if sorted(got) != sorted(self.names) or len(got) != len(parsed.items):
            raise ValueError(f"expected the fields {', '.join(self.names)}")
        if not _ints(tuple(got.values()), len(self.names)):
            raise ValueError("record fields must be integers")
        return tuple(got[n] for n in self.names)


@dataclass(frozen=True)
class HbmAddress:
    """A global HBM address as its window and offset: ``dip<d>+0x<off>``, ``striped+0x<off>``,
    or an address of the logical tensor space (:data:`~d1c.isa.tiles.LOGICAL`),
    ``logical+0x<off>``."""

    example: str = "dip0+0x1000"

    def format(self, value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return None
        if LOGICAL <= value < 2 * LOGICAL:
            return f"logical+0x{value - LOGICAL:x}"
        window, offset = value >> DIP_SHIFT, value & ((1 << DIP_SHIFT) - 1)
        space = "striped" if window == STRIPED else f"dip{window}"
        return f"{space}+0x{offset:x}"

    def read(self, parsed: Any) -> Any:
        if not isinstance(parsed, Address):
            return parsed
        if parsed.space == "logical":
            if parsed.offset >= LOGICAL:
                raise ValueError(f"offset 0x{parsed.offset:x} is beyond the logical space")
            return LOGICAL + parsed.offset
        if parsed.offset >> DIP_SHIFT:
            raise ValueError(f"offset 0x{parsed.offset:x} is beyond a 2^{DIP_SHIFT}-byte window")
        return (self._window(parsed.space) << DIP_SHIFT) + parsed.offset

    @staticmethod
    def _window(space: str) -> int:
        if space == "striped":
            return STRIPED
        if space.startswith("dip") and space[3:].isdigit():
            return int(space[3:])
        raise ValueError(f"unknown HBM window '{space}'; expected dip<N>, striped or logical")


FORMS: dict[str, Form] = {
    "hbm": HbmAddress(),
    "route": Fields(("hops", "busiest")),
}


def _ints(value: Any, n: int) -> bool:
    return (
        isinstance(value, tuple | list)
        and len(value) == n
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )


def read_value(key: str, parsed: Any) -> Any:
    """The stored value of attribute ``key`` from its parsed text (ValueError if malformed)."""
    form = FORMS.get(key)
    if form is not None:
        return form.read(parsed)
    if isinstance(parsed, Record | Address):
        raise ValueError(f"attribute '{key}' has no record or address form")
    return parsed
