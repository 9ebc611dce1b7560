"""JIT host code vs the numpy reference packer: identical bytes and bits for every storage
format (CFloat8 with several biases), both rounding modes and every layout kind, on random and
special values; decoding checked on every code; bf16/fp16 RNE also against ml_dtypes."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from d1c.isa.d1x import D1xProgram
from d1c.isa.errors import SimulationError
from d1c.runtime.host import HostCode, new_spans, pack_reference, unpack_reference
from d1c.runtime.host.layout import symbol_layout
from tests.runtime.host.host_cases import FORMATS, LAYOUTS, SHAPE, integers, symbol, values

LAYOUT_FORMATS = (("bf16", 0), ("cfp8_143", 7), ("shp", 15), ("i32", 0))
CASES = [(fmt, bias, "compiler") for fmt, bias in FORMATS] + [
    (fmt, bias, lay) for fmt, bias in LAYOUT_FORMATS for lay in LAYOUTS[1:]
]
"""Every format in the compiler's layout; every layout kind with a 16-bit, an 8-bit, a CFloat16
and the integer format (the copy loops do not depend on the format beyond its element size)."""


def _name(fmt: str, bias: int, lay: str) -> str:
    return f"{fmt}_{bias}_{lay}"


@pytest.fixture(scope="module")
def host() -> HostCode:
    """One program holding an input and an output symbol per case (one JIT compile)."""
    syms = []
    for fmt, bias, lay in CASES:
        syms.append(symbol(_name(fmt, bias, lay), "input", fmt, bias, lay))
        syms.append(symbol("out_" + _name(fmt, bias, lay), "output", fmt, bias, lay))
    return HostCode.of(D1xProgram("mini", symbols=tuple(syms)))


def _pack_both(host, sym, value, **kw) -> tuple[list[np.ndarray], list[np.ndarray]]:
    got, want = new_spans(sym, 0xA5), new_spans(sym, 0xA5)  # gaps must keep their bytes
    host.pack(sym, value, got, **kw)
    pack_reference(sym, value, want, **kw)
    return got, want


@pytest.mark.parametrize("rounding", ["rne", "sr"])
@pytest.mark.parametrize(("fmt", "bias", "lay"), CASES, ids=[_name(*c) for c in CASES])
def test_pack_bytes_equal_reference(host, fmt, bias, lay, rounding) -> None:
    sym = host.layouts[_name(fmt, bias, lay)].sym
    for seed in (1, 2):
        x = integers(seed) if fmt == "i32" else values(seed)
        got, want = _pack_both(host, sym, x, rounding=rounding, seed=seed, stream=77 + seed)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert np.array_equal(g, w), f"placement {i} differs"


@pytest.mark.parametrize(("fmt", "bias", "lay"), CASES, ids=[_name(*c) for c in CASES])
def test_unpack_equals_reference_on_packed_and_random_bytes(host, fmt, bias, lay) -> None:
    inp = host.layouts[_name(fmt, bias, lay)].sym
    out = host.layouts["out_" + _name(fmt, bias, lay)].sym
    spans = new_spans(inp)
    host.pack(inp, integers(3) if fmt == "i32" else values(3), spans)
    rng = np.random.default_rng(4)
    noise = [rng.integers(0, 256, s.size, dtype=np.uint8) for s in new_spans(out)]
    for sp in (spans, noise):
        got, want = host.unpack(out, sp), unpack_reference(out, sp)
        assert got.dtype == want.dtype and got.shape == want.shape == SHAPE
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def _all_codes_program(fmt: str, bias: int) -> tuple[HostCode, object]:
    bits = 8 if fmt.startswith("cfp8") else 16
    shape = (1 << bits,)
    sym = symbol("all", "output", fmt, bias, "compiler", shape)
    return HostCode.of(D1xProgram("mini", symbols=(sym,))), sym


@pytest.mark.parametrize(
    ("fmt", "bias"), [f for f in FORMATS if f[0] not in ("fp32", "i32")], ids=str
)
def test_decode_every_code(fmt: str, bias: int) -> None:
    host, sym = _all_codes_program(fmt, bias)
    dtype = np.uint8 if fmt.startswith("cfp8") else np.uint16
    codes = np.arange(sym.shape[0], dtype=dtype)
    spans = [codes.view(np.uint8).copy()]
    got = host.unpack(sym, spans)
    assert np.array_equal(got.view(np.uint32), unpack_reference(sym, spans).view(np.uint32))
    if fmt in ("bf16", "fp16"):  # an independent oracle for the IEEE formats
        ref = codes.view(ml_dtypes.bfloat16 if fmt == "bf16" else np.float16).astype(np.float32)
        ok = ~np.isnan(ref)
        assert np.array_equal(got[ok].view(np.uint32), ref[ok].view(np.uint32))
        assert np.array_equal(np.isnan(got), ~ok)


@pytest.mark.parametrize("fmt", ["bf16", "fp16"])
def test_rne_matches_ml_dtypes(host, fmt: str) -> None:
    sym = host.layouts[_name(fmt, 0 if fmt == "bf16" else 15, "compiler")].sym
    x = values(9)
    spans = new_spans(sym)
    host.pack(sym, x, spans)
    got = spans[0].view(np.uint16).reshape(SHAPE)
    with np.errstate(over="ignore", invalid="ignore"):
        want = x.astype(ml_dtypes.bfloat16 if fmt == "bf16" else np.float16).view(np.uint16)
    ok = ~np.isnan(x)
    assert np.array_equal(got[ok], want[ok])


def test_sr_depends_on_seed_and_stream_and_is_unbiased(host) -> None:
    sym = host.layouts[_name("cfp8_143", 7, "compiler")].sym
    x = np.full(SHAPE, 1.0 + 1 / 32, dtype=np.float32)  # a quarter of the way from 1 to 1.125
    runs = {}
    for seed, stream in ((0, 0), (1, 0), (0, 1)):
        spans = new_spans(sym)
        host.pack(sym, x, spans, rounding="sr", seed=seed, stream=stream)
        runs[seed, stream] = spans[0].copy()
    assert len({r.tobytes() for r in runs.values()}) == 3
    up = np.mean(runs[0, 0] == 0x39)  # 1.125 with bias 7: exponent 7, mantissa 1
    assert set(np.unique(runs[0, 0])) == {0x38, 0x39}
    assert abs(up - 0.25) < 0.06


def test_layouts_collapse_to_few_loop_nests() -> None:
    dense = symbol_layout(0, symbol("x", "input", "bf16", 0, "compiler"))
    assert [n.extents for n in dense.nests] == [(SHAPE[0] * SHAPE[1],)]
    tiled = symbol_layout(0, symbol("x", "input", "bf16", 0, "tiled"))
    assert (
        len(tiled.sym.placements) == 3 * 3 and len(tiled.nests) == 4
    )  # full, right, bottom, corner
    runs = [(r.nest, r.last - r.first) for r in tiled.runs]  # row by row, in placement order
    assert runs == [(0, 2), (1, 1), (0, 2), (1, 1), (2, 2), (3, 1)]
    mixed = symbol_layout(0, symbol("x", "input", "bf16", 0, "mixed"))
    assert mixed.windows[2] is None and sum(map(len, mixed.members)) == 3


def test_bad_buffers_are_errors(host) -> None:
    sym = host.layouts[_name("bf16", 0, "tiled")].sym
    spans = new_spans(sym)
    with pytest.raises(SimulationError, match="shape"):
        host.pack(sym, np.zeros((2, 2), np.float32), spans)
    with pytest.raises(SimulationError, match="needs numbers"):
        host.pack(sym, np.full(SHAPE, "a"), spans)
    with pytest.raises(SimulationError, match="writable contiguous bytes"):
        host.pack(sym, values(1), [*spans[:-1], np.zeros(3, np.uint8)])
    with pytest.raises(SimulationError, match="placements"):
        host.pack(sym, values(1), spans[:2])
    with pytest.raises(SimulationError, match="i32 and needs integers"):
        host.pack(host.layouts[_name("i32", 0, "compiler")].sym, values(1), spans)


@pytest.mark.parametrize("lay", ["compiler", "tiled"])
def test_threaded_copies_equal_reference(lay: str, monkeypatch) -> None:
    """Above PARALLEL_MIN elements the work is split between threads (by rows of the one
    placement, or by placements); the bytes must not change."""
    monkeypatch.setenv("D1C_HOST_THREADS", "3")
    shape = (1200, 1000)
    sym = symbol("x", "input", "cfp8_152", 9, lay, shape)
    out = symbol("y", "output", "cfp8_152", 9, lay, shape)
    host = HostCode.of(D1xProgram("mini", symbols=(sym, out)))
    x = values(8, shape)
    got, want = _pack_both(host, sym, x, rounding="sr", seed=2)
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    back = host.unpack(out, got)
    assert np.array_equal(back.view(np.uint32), unpack_reference(out, got).view(np.uint32))
