"""Where each element of a symbol goes: placements as loop nests the host code runs.

A :class:`~d1c.isa.d1x.Placement` stores the element box ``region`` of a tensor at byte ``addr``,
element ``[i0, i1, ...]`` of the box at ``addr + sum((i_k - start_k) * strides[k])``. The host code
works on one *span* per placement: the bytes ``[addr + lo, addr + hi)`` that hold its elements
(``lo`` < 0 only with negative strides). Copying a placement is then a loop nest over the box with
constant extents and strides: the source index is the flat C-order element index of the tensor,
the destination a byte offset into the span.

Placements with the same box extents and strides (the tiles of a tiled layout) share one loop
nest, a :class:`Nest`, and differ only in their first source element and their span; so the
generated code grows with the number of distinct tile shapes, not with the number of tiles.
Dimensions of extent 1 are dropped and neighbouring dimensions that are contiguous in both the
tensor and the span are merged, so a dense row-major placement is one long, vectorisable loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from d1c.isa.d1x import Placement, Symbol, empty, window
from d1c.isa.tiles import ELEM_BYTES


@dataclass(frozen=True, slots=True)
class Nest:
    """A loop nest: per dimension (outermost first) the extent, the source stride in elements of
    the flat tensor and the destination stride in bytes of the span; ``base`` is the byte offset
    of the box's first element in the span (``-lo``)."""

    extents: tuple[int, ...]
    src_strides: tuple[int, ...]
    dst_strides: tuple[int, ...]
    base: int

    @property
    def size(self) -> int:
        """Elements per placement."""
        n = 1
        for e in self.extents:
            n *= e
        return n

    @property
    def outer(self) -> int:
        """Iterations of the outermost loop (1 for a rank-0 nest)."""
        return self.extents[0] if self.extents else 1


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive placements ``[first, last)`` of nest ``nest`` (indices into its table)."""

    nest: int
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class SymbolLayout:
    """A symbol's placements as nests: per nest the first source element of each placement
    (``offsets``) and its placement index (``members``); ``runs`` keeps the placements' order
    (later placements win when an output is read back); ``windows`` holds (lo, hi) per
    placement (None for an empty box)."""

    index: int
    sym: Symbol
    esize: int
    nests: tuple[Nest, ...]
    offsets: tuple[tuple[int, ...], ...]
    members: tuple[tuple[int, ...], ...]
    runs: tuple[Run, ...]
    windows: tuple[tuple[int, int] | None, ...]


def c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of a dense C-order array of ``shape``."""
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return tuple(reversed(out))


def collapse(dims: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Drop extent-1 dimensions and merge a dimension into the one inside it when both the
    source and the destination are contiguous across them: (extent, src stride, dst stride)."""
    out: list[tuple[int, int, int]] = []
    for e, s, d in dims:
        if e == 1:
            continue
        if out and out[-1][1] == s * e and out[-1][2] == d * e:
            pe, _, _ = out.pop()
            out.append((pe * e, s, d))
            continue
        out.append((e, s, d))
    return out


def nest_of(p: Placement, shape: tuple[int, ...], lo: int) -> tuple[Nest, int]:
    """The loop nest of a non-empty placement and its first source element."""
    src = c_strides(shape)
    dims = [
        (stop - start, s, d) for (start, stop), s, d in zip(p.region, src, p.strides, strict=True)
    ]
    merged = collapse(dims)
    first = sum(start * s for (start, _), s in zip(p.region, src, strict=True))
    nest = Nest(
        tuple(e for e, _, _ in merged),
        tuple(s for _, s, _ in merged),
        tuple(d for _, _, d in merged),
        -lo,
    )
    return nest, first


def symbol_layout(index: int, sym: Symbol) -> SymbolLayout:
    """The nests, tables and runs of one symbol (SimulationError for a malformed placement)."""
    esize = ELEM_BYTES[sym.fmt]
    shape = tuple(sym.shape)
    nests: dict[Nest, int] = {}
    offsets: list[list[int]] = []
    members: list[list[int]] = []
    runs: list[Run] = []
    windows: list[tuple[int, int] | None] = []
    for i, p in enumerate(sym.placements):
        lo, hi = window(p, shape, esize, f"{sym.role} {sym.name!r}")
        if empty(p):
            windows.append(None)
            continue
        windows.append((lo, hi))
        nest, first = nest_of(p, shape, lo)
        k = nests.setdefault(nest, len(nests))
        if k == len(offsets):
            offsets.append([])
            members.append([])
        offsets[k].append(first)
        members[k].append(i)
        _extend(runs, k, len(offsets[k]) - 1)
    return SymbolLayout(
        index,
        sym,
        esize,
        tuple(nests),
        tuple(map(tuple, offsets)),
        tuple(map(tuple, members)),
        tuple(runs),
        tuple(windows),
    )


def _extend(runs: list[Run], nest: int, j: int) -> None:
    last = runs[-1] if runs else None
    if last is not None and last.nest == nest and last.last == j:
        runs[-1] = Run(nest, last.first, j + 1)
    else:
        runs.append(Run(nest, j, j + 1))


def program_layouts(symbols: tuple[Symbol, ...]) -> list[SymbolLayout]:
    """Layouts of the input and output symbols of a program, in symbol-table order."""
    return [symbol_layout(i, s) for i, s in enumerate(symbols) if s.role in ("input", "output")]
