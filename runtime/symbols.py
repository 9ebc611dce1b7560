"""Inputs and outputs through the ``.d1x`` symbol table (pure numpy packing).

A :class:`~d1c.isa.d1x.Symbol` has a shape, a storage format (and CFloat bias) and placements;
each :class:`~d1c.isa.d1x.Placement` stores the element box ``region`` (per dimension
``[start, stop)``) at byte ``addr`` of HBM or of one core's SRAM, element ``[i0, i1, ...]`` of the
box at ``addr + sum((i_k - start_k) * strides[k])``. Placements together cover the tensor;
overlapping placements of an input all receive the data, an output is read placement by
placement (later ones win where they overlap).

Inputs are values: float arrays are rounded to the symbol's format with round-to-nearest-even
(:func:`d1c.isa.numerics.encode`), ``i32`` symbols take integers. Outputs come back as float32
values (``i32`` as int32) together with their raw codes.

This numpy path is the reference. With a :class:`SymbolIO` (the JIT host code of
:mod:`d1c.runtime.host`) the conversion and scatter/gather run in native code instead, on the
placements' *spans*: per placement the bytes ``[addr + lo, addr + hi)`` of its window, as a view of
the core's SRAM or a copy of HBM that is written back after packing.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from d1c.isa.d1x import D1xProgram, Placement, Symbol, empty, window
from d1c.isa.errors import SimulationError
from d1c.isa.tiles import CFLOAT, CODE_DTYPE, ELEM_BYTES, TDesc, tile_codes, tile_values
from d1c.runtime.machine import Machine
from d1c.target.mesh import fmt_coord

INPUT_ROLES = ("input",)
OUTPUT_ROLES = ("output",)


def _desc(sym: Symbol) -> TDesc:
    return TDesc(fmt=sym.fmt, bias=sym.bias if sym.fmt in CFLOAT else 0)


def encode_input(sym: Symbol, value: np.ndarray) -> np.ndarray:
    """The codes of ``value`` in the symbol's format (SimulationError on a shape mismatch)."""
    arr = np.asarray(value)
    if tuple(arr.shape) != tuple(sym.shape):
        raise SimulationError(
            f"input {sym.name!r} has shape {tuple(arr.shape)}, the program expects {tuple(sym.shape)}"
        )
    if sym.fmt == "i32":
        if arr.dtype.kind not in "iub":
            raise SimulationError(f"input {sym.name!r} is i32 and needs integers, got {arr.dtype}")
        return arr.astype(np.int32)
    if arr.dtype.kind not in "fiub":
        raise SimulationError(f"input {sym.name!r} needs numbers, got {arr.dtype}")
    flat = arr.astype(np.float32).reshape(-1)
    return np.asarray(tile_codes(flat, _desc(sym))).reshape(arr.shape)


def decode_output(sym: Symbol, codes: np.ndarray) -> np.ndarray:
    """The float32 values (int32 for i32) of an output's codes."""
    if sym.fmt == "i32":
        return codes.astype(np.int32)
    return tile_values(codes.reshape(-1), _desc(sym)).reshape(codes.shape)


def _view(buf: np.ndarray, off: int, p: Placement, dtype: str) -> np.ndarray:
    shape = tuple(stop - start for start, stop in p.region)
    return np.ndarray(shape, dtype=dtype, buffer=buf, offset=off, strides=p.strides)


def _box(p: Placement) -> tuple[slice, ...]:
    return tuple(slice(a, b) for a, b in p.region)


def _sram(m: Machine, p: Placement, lo: int, hi: int, what: str) -> np.ndarray:
    if not m.mesh.enabled(tuple(p.core)):
        raise SimulationError(f"{what}: placement core {fmt_coord(p.core)} is not a usable core")
    mem = m.core(tuple(p.core)).mem
    if p.addr + lo < 0 or p.addr + hi > mem.size:
        raise SimulationError(f"{what}: SRAM [{p.addr + lo:#x}, {p.addr + hi:#x}) is outside SRAM")
    return mem[p.addr + lo : p.addr + hi]


def write_symbol(m: Machine, sym: Symbol, codes: np.ndarray) -> None:
    """Store the codes of one input into every placement."""
    dtype, esize = CODE_DTYPE[sym.fmt], ELEM_BYTES[sym.fmt]
    for p in sym.placements:
        what = f"input {sym.name!r}"
        lo, hi = window(p, tuple(sym.shape), esize, what)
        if empty(p):
            continue
        if p.space == "sram":
            _view(_sram(m, p, lo, hi, what), -lo, p, dtype)[...] = codes[_box(p)]
            continue
        m.hbm.check(p.addr + lo, hi - lo, what)
        span = m.hbm.read(p.addr + lo, hi - lo)
        _view(span, -lo, p, dtype)[...] = codes[_box(p)]
        m.hbm.write(p.addr + lo, span)


def read_symbol(m: Machine, sym: Symbol) -> np.ndarray:
    """The codes of one output gathered from its placements."""
    dtype, esize = CODE_DTYPE[sym.fmt], ELEM_BYTES[sym.fmt]
    out = np.zeros(tuple(sym.shape), dtype=dtype)
    for p in sym.placements:
        what = f"output {sym.name!r}"
        lo, hi = window(p, tuple(sym.shape), esize, what)
        if empty(p):
            continue
        if p.space == "sram":
            out[_box(p)] = _view(_sram(m, p, lo, hi, what), -lo, p, dtype)
            continue
        m.hbm.check(p.addr + lo, hi - lo, what)
        out[_box(p)] = _view(m.hbm.read(p.addr + lo, hi - lo), -lo, p, dtype)
    return out


class SymbolIO(Protocol):
    """Host code that converts between user arrays and the spans of a symbol's placements."""

    def pack(self, sym: Symbol, value: np.ndarray, spans: list[np.ndarray]) -> None: ...

    def unpack(self, sym: Symbol, spans: list[np.ndarray]) -> np.ndarray: ...


def symbol_spans(m: Machine, sym: Symbol, what: str) -> list[np.ndarray]:
    """Per placement its window's bytes: an SRAM view, an HBM copy, or 0 bytes if empty."""
    esize, out = ELEM_BYTES[sym.fmt], []
    for p in sym.placements:
        lo, hi = window(p, tuple(sym.shape), esize, what)
        if empty(p):
            out.append(np.zeros(0, dtype=np.uint8))
        elif p.space == "sram":
            out.append(_sram(m, p, lo, hi, what))
        else:
            m.hbm.check(p.addr + lo, hi - lo, what)
            out.append(m.hbm.read(p.addr + lo, hi - lo))
    return out


def _pack_with(m: Machine, sym: Symbol, value: np.ndarray, io: SymbolIO) -> None:
    spans = symbol_spans(m, sym, f"input {sym.name!r}")
    io.pack(sym, value, spans)
    for p, span in zip(sym.placements, spans, strict=True):
        if p.space == "hbm" and span.size:
            lo, _ = window(p, tuple(sym.shape), ELEM_BYTES[sym.fmt], sym.name)
            m.hbm.write(p.addr + lo, span)


def load_inputs(
    m: Machine,
    prog: D1xProgram,
    inputs: dict[str, np.ndarray] | None,
    io: SymbolIO | None = None,
) -> None:
    """Check the names and shapes of ``inputs`` and, in full mode, store them (through ``io``
    when given)."""
    syms = {s.name: s for s in prog.symbols if s.role in INPUT_ROLES}
    given = dict(inputs or {})
    unknown = sorted(set(given) - set(syms))
    if unknown:
        raise SimulationError(
            f"unknown input(s) {', '.join(unknown)}; the program takes {sorted(syms)}"
        )
    missing = sorted(set(syms) - set(given))
    if missing and m.full:
        raise SimulationError(f"missing input(s): {', '.join(missing)}")
    for name, value in sorted(given.items()):
        if io is not None and m.full:
            _pack_with(m, syms[name], value, io)
            continue
        codes = encode_input(syms[name], value)
        if m.full:
            write_symbol(m, syms[name], codes)


def read_outputs(
    m: Machine, prog: D1xProgram, io: SymbolIO | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(values, codes) of every output symbol; ``io`` unpacks the values when given."""
    values, codes = {}, {}
    for sym in prog.symbols:
        if sym.role in OUTPUT_ROLES:
            codes[sym.name] = read_symbol(m, sym)
            if io is None:
                values[sym.name] = decode_output(sym, codes[sym.name])
            else:
                values[sym.name] = io.unpack(sym, symbol_spans(m, sym, f"output {sym.name!r}"))
    return values, codes
