"""Faults the verification ladder must catch (issue 12), each a patch of one piece of d1c that
stays in place while a model is compiled and verified:

    with FAULTS["bf16-accumulation"].injected():
        report = verify_module(module, inputs, "mini", "bf16")
    report.failed_rungs()        # {1, 2, 3}: the rungs that noticed

Three layers, as the issue lists them:

- *quantized semantics* — what the interpreter (and through :mod:`d1c.isa.numerics`, often the
  simulator too) takes the quantized IR to mean: round-to-nearest where stochastic rounding was
  asked for, a CFloat8 bias off by one (in the encoder, or the whole grid), a conversion that does
  not round, a double rounding, fp32 accumulation replaced by bf16;
- *passes* — the compiler producing a valid but wrong program: the last tile of a kernel one
  row short, a wrong row stride in DMA descriptors, the operands of ``mma`` swapped, and the
  operands of ``sub``/``div`` swapped by ``decompose`` (before the tiled IR, so only the
  simulated output's bound can see it);
- *simulator* — an instruction rounding stochastically instead of to nearest, a DMA dropping
  the last row of a multi-row transfer.

:mod:`d1c.fuzz.mutation` runs every fault on every example family and counts the rungs that
catch it; ``d1c fuzz --fault NAME`` checks that the fuzzer's properties detect it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from unittest import mock

import ml_dtypes
import numpy as np

from d1c.codegen import data_kernels, isel, plan, views
from d1c.interp import core as interp_core
from d1c.interp import linalg as interp_linalg
from d1c.ir import FP32
from d1c.isa import numerics
from d1c.passes.decompose_emit import Emitter
from d1c.runtime import dma, tileops

CFLOAT8 = ("cfp8_143", "cfp8_152")


@dataclass(frozen=True)
class Fault:
    name: str
    layer: str  # "quantized semantics", "passes" or "simulator"
    what: str
    patches: Callable[[Callable[[], None]], list[contextlib.AbstractContextManager]]
    dtypes: tuple[str, ...] = ("bf16", "cfp8")  # the storage dtypes it can show on
    rounding: str = "rne"  # the storage rounding it needs ("sr": the device cannot run it)

    @contextlib.contextmanager
    def injected(self) -> Iterator[Hits]:
        """The fault in place for the duration of the block (interpreter, compiler, simulator);
        the :class:`Hits` counts the calls in which the faulty code changed something."""
        hits = Hits()
        with contextlib.ExitStack() as stack:
            for p in self.patches(hits.hit):
                stack.enter_context(p)
            yield hits


@dataclass
class Hits:
    count: int = 0

    def hit(self) -> None:
        self.count += 1


# --- quantized semantics -----------------------------------------------------------------------

_encode, _decode = numerics.encode, numerics.decode


def _rne_for_sr(hit: Callable[[], None]) -> list:
    def encode(x, fmt, **kw):
        if kw.get("rounding") == "sr":
            hit()
        return _encode(x, fmt, **(kw | {"rounding": "rne"}))

    return [mock.patch.object(numerics, "encode", encode)]


def _cfp8_encoder_bias(hit: Callable[[], None]) -> list:
    """The encoder computes exponent codes with the bias one too large (decoding is right)."""

    def encode(x, fmt, **kw):
        if fmt in CFLOAT8 and kw.get("bias") is not None and kw["bias"] < 63:
            kw = kw | {"bias": kw["bias"] + 1}
            hit()
        return _encode(x, fmt, **kw)

    return [mock.patch.object(numerics, "encode", encode)]


def _cfp8_grid_bias(hit: Callable[[], None]) -> list:
    """Values round on the grid of bias - 1 (range and denormal step doubled) while the type
    says bias: encoder and decoder agree, so only the grid moves."""

    def shifted(fn):
        def call(x, fmt, **kw):
            if fmt in CFLOAT8 and kw.get("bias") not in (None, 0):
                kw = kw | {"bias": kw["bias"] - 1}
                hit()
            return fn(x, fmt, **kw)

        return call

    return [
        mock.patch.object(numerics, "encode", shifted(_encode)),
        mock.patch.object(numerics, "decode", shifted(_decode)),
    ]


def _dropped_convert(hit: Callable[[], None]) -> list:
    """A float ``convert`` to a storage format leaves its values unrounded."""
    convert, fit = interp_core.EVALUATORS["convert"], interp_core._fit

    def evaluate(c):
        if c.elem.is_float and c.elem != FP32 and c.args[0].dtype.kind == "f":
            hit()
            return c.args[0].astype(np.float32)
        return convert(c)

    def fit_unless_convert(out, call):
        if call.op.name == "convert" and call.elem.is_float:
            return out
        return fit(out, call)

    return [
        mock.patch.dict(interp_core.EVALUATORS, {"convert": evaluate}),
        mock.patch.object(interp_core, "_fit", fit_unless_convert),
    ]


def _keep_bits(x: np.ndarray, bits: int) -> np.ndarray:
    """fp32 values rounded to nearest-even at ``bits`` mantissa bits (finite values only)."""
    drop = 23 - bits
    u = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    half = (1 << (drop - 1)) - 1
    r = ((u + half + ((u >> drop) & 1)) >> drop) << drop
    out = r.astype(np.uint32).view(np.float32)
    return np.where(np.isfinite(x), out, x)


def _double_rounding(hit: Callable[[], None]) -> list:
    """Every round-to-nearest into a storage format goes through a format with three more
    mantissa bits first (a conversion done twice, through a wider intermediate)."""

    def encode(x, fmt, **kw):
        if fmt != "fp32" and kw.get("rounding", "rne") == "rne":
            x = _keep_bits(np.asarray(x, np.float32), numerics.FORMATS[fmt].man_bits + 3)
            hit()
        return _encode(x, fmt, **kw)

    return [mock.patch.object(numerics, "encode", encode)]


def _bf16_accumulation(hit: Callable[[], None]) -> list:
    """The matrix product accumulates in bf16 instead of fp32 (the interpreter's matmul_seq)."""

    def matmul_bf16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        hit()
        at, bt = np.moveaxis(a, -1, 0), np.moveaxis(b, -2, 0)
        acc = np.zeros(np.matmul(a[..., :1], b[..., :1, :]).shape, np.float32)
        for i in range(a.shape[-1]):
            acc = acc + at[i][..., :, None] * bt[i][..., None, :]
            acc = acc.astype(ml_dtypes.bfloat16).astype(np.float32)
        return acc

    return [mock.patch.object(interp_linalg, "matmul_seq", matmul_bf16)]


# --- passes ------------------------------------------------------------------------------------

_grid, _row_segments = plan.grid, views.row_segments


def _decompose_swap(hit: Callable[[], None]) -> list:
    """``decompose`` emits ``sub`` and ``div`` with their operands swapped (softmax's x - max,
    layer_norm's x - mean, ...)."""
    op = Emitter.op

    def swapped(e, name, operands, attrs=None, rtype=None):
        if name in ("sub", "div") and len(operands) == 2:
            a, b = operands
            if a.type.elem == b.type.elem:
                hit()
                operands = [b, a]
        return op(e, name, operands, attrs, rtype)

    return [mock.patch.object(Emitter, "op", swapped)]


def _tile_edge(hit: Callable[[], None]) -> list:
    """The last row of tiles of every kernel ends one row early."""

    def short_grid(rows: int, cols: int, tile: tuple[int, int]):
        out = _grid(rows, cols, tile)
        short = [((r0, r1 - 1 if r1 == rows and r1 - r0 > 1 else r1), c) for (r0, r1), c in out]
        if short != out:
            hit()
        return short

    return [
        mock.patch.object(plan, "grid", short_grid),
        mock.patch.object(data_kernels, "grid", short_grid),
    ]


def _row_stride(hit: Callable[[], None]) -> list:
    """The HBM stride of a multi-row DMA load whose rows are not contiguous is one element too
    large."""

    def segments(view, hbm, esize, rows, cols, sram, to_hbm=False):
        out = _row_segments(view, hbm, esize, rows, cols, sram, to_hbm)
        if to_hbm:
            return out
        bad = [d for d in out if d.rows > 1 and d.hbm_stride != d.row_bytes]
        if not bad:
            return out
        hit()
        return [replace(d, hbm_stride=d.hbm_stride + esize) if d in bad else d for d in out]

    return [mock.patch.object(views, "row_segments", segments)]


def _swapped_mma(hit: Callable[[], None]) -> list:
    """isel emits ``mma`` with its A and B operands swapped."""

    def steps(p):
        hit()
        return ["mma t0, t2, t1, zero"], ["mma t0, t2, t1, acc"]

    return [
        mock.patch.object(isel, "_matmul_steps", steps),
        mock.patch.dict(isel.STEP_CODE, {"matmul": steps}),
    ]


# --- simulator ---------------------------------------------------------------------------------

_store, _land = tileops.store, dma._land


def _sim_rounding(hit: Callable[[], None]) -> list:
    """Instruction results round stochastically where the program asks for round-to-nearest."""

    def store(c, d, vals, rounding: str = "rne"):
        if d.fmt != FP32.name:
            hit()
            rounding = "sr"
        return _store(c, d, vals, rounding)

    return [mock.patch.object(tileops, "store", store)]


def _dma_last_row(hit: Callable[[], None]) -> list:
    """A multi-row DMA load drops its last row (the SRAM keeps what it held there)."""

    def land(c, tag):
        kept = []
        for tid, part, (addr, rows, row_bytes, pitch), data, mask in c.landed[tag]:
            if rows > 1:
                hit()
                rows, data = rows - 1, data[: rows - 1]
                mask = None if mask is None else mask[:rows]
            kept.append((tid, part, (addr, rows, row_bytes, pitch), data, mask))
        c.landed[tag][:] = kept
        return _land(c, tag)

    return [mock.patch.object(dma, "_land", land)]


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault("rne-for-sr", "quantized semantics", "round-to-nearest where stochastic rounding "
              "is asked for", _rne_for_sr, rounding="sr"),
        Fault("cfp8-encoder-bias", "quantized semantics", "the CFloat8 encoder's exponent bias "
              "is one too large", _cfp8_encoder_bias, dtypes=("cfp8",)),
        Fault("cfp8-grid-bias", "quantized semantics", "CFloat8 values round on the grid of "
              "bias - 1", _cfp8_grid_bias, dtypes=("cfp8",)),
        Fault("dropped-convert", "quantized semantics", "a convert to a storage format does "
              "not round", _dropped_convert),
        Fault("double-rounding", "quantized semantics", "rounding to a storage format goes "
              "through a format three mantissa bits wider first", _double_rounding),
        Fault("bf16-accumulation", "quantized semantics", "the matrix product accumulates in "
              "bf16, not fp32", _bf16_accumulation),
        Fault("tile-edge", "passes", "the last tile row of every kernel is one row short",
              _tile_edge),
        Fault("row-stride", "passes", "DMA loads of non-contiguous rows step one element too "
              "far", _row_stride),
        Fault("swapped-mma", "passes", "isel swaps the A and B operands of mma", _swapped_mma),
        Fault("decompose-swap", "passes", "decompose swaps the operands of sub and div",
              _decompose_swap),
        Fault("sim-rounding", "simulator", "instruction results round stochastically instead "
              "of to nearest", _sim_rounding),
        Fault("dma-last-row", "simulator", "a multi-row DMA load drops its last row",
              _dma_last_row),
    )
}  # fmt: skip
