"""The pure-numpy reference of the host code: the same spans, the same bytes, no JIT.

Codes come from :func:`d1c.runtime.symbols.encode_input` for round-to-nearest-even (the path the
simulator takes without host code) and from :func:`d1c.isa.numerics.encode` with ``"sr"``,
``seed`` and ``stream`` for stochastic rounding (flat C-order element ``i`` uses ``h(i)``). Each
placement's box is then stored through a strided numpy view of its span, in placement order;
unpacking reads the boxes back in the same order (later placements win) and decodes them with
:func:`d1c.runtime.symbols.decode_output`. Tests require the JIT host code to give identical bytes
and bits; the benchmark ``benchmarks/host_pack.py`` times both.
"""

from __future__ import annotations

import numpy as np

from d1c.isa import numerics
from d1c.isa.d1x import Placement, Symbol, empty, window
from d1c.isa.tiles import CFLOAT, CODE_DTYPE, ELEM_BYTES
from d1c.runtime.symbols import decode_output, encode_input


def codes_of(
    sym: Symbol, value: np.ndarray, rounding: str = "rne", seed: int = 0, stream: int = 0
) -> np.ndarray:
    """The storage codes of ``value`` (shape and dtype checked as the simulator checks them)."""
    codes = encode_input(sym, value)
    if rounding == "rne" or sym.fmt in ("fp32", "i32"):
        return codes
    flat = np.asarray(value).astype(np.float32).reshape(-1)
    bias = sym.bias if sym.fmt in CFLOAT else None
    out = numerics.encode(flat, sym.fmt, bias=bias, rounding=rounding, seed=seed, stream=stream)
    return out.reshape(codes.shape)


def _view(span: np.ndarray, p: Placement, lo: int, fmt: str) -> np.ndarray:
    shape = tuple(stop - start for start, stop in p.region)
    return np.ndarray(shape, dtype=CODE_DTYPE[fmt], buffer=span, offset=-lo, strides=p.strides)


def _box(p: Placement) -> tuple[slice, ...]:
    return tuple(slice(a, b) for a, b in p.region)


def pack_reference(
    sym: Symbol,
    value: np.ndarray,
    spans: list[np.ndarray],
    *,
    rounding: str = "rne",
    seed: int = 0,
    stream: int = 0,
) -> None:
    """Store the codes of ``value`` into the span of every placement."""
    codes = codes_of(sym, value, rounding, seed, stream)
    for p, span in zip(sym.placements, spans, strict=True):
        lo, _ = window(p, tuple(sym.shape), ELEM_BYTES[sym.fmt], f"input {sym.name!r}")
        if not empty(p):
            _view(span, p, lo, sym.fmt)[...] = codes[_box(p)]


def unpack_reference(sym: Symbol, spans: list[np.ndarray]) -> np.ndarray:
    """The float32 values (int32 for i32) of an output gathered from its spans."""
    codes = np.zeros(tuple(sym.shape), dtype=CODE_DTYPE[sym.fmt])
    for p, span in zip(sym.placements, spans, strict=True):
        lo, _ = window(p, tuple(sym.shape), ELEM_BYTES[sym.fmt], f"output {sym.name!r}")
        if not empty(p):
            codes[_box(p)] = _view(span, p, lo, sym.fmt)
    return decode_output(sym, codes)


def new_spans(sym: Symbol, fill: int = 0) -> list[np.ndarray]:
    """Fresh spans for a symbol's placements (``fill`` in every byte; empty placements: 0 bytes)."""
    out = []
    for p in sym.placements:
        lo, hi = window(p, tuple(sym.shape), ELEM_BYTES[sym.fmt], f"symbol {sym.name!r}")
        out.append(np.full(0 if empty(p) else hi - lo, fill, dtype=np.uint8))
    return out
