"""``assign-formats``: graph IR -> quantized IR (docs/lowering.md §1).

Every fp32 tensor value of the graph gets a storage element type; the rest keep theirs (integer
and ``i1`` values, and floats the graph itself already stores in a narrower format with an
explicit ``convert``). The pass builds a new module and leaves its input untouched, so the graph
stays available as the reference of the error bound (:mod:`d1c.accuracy.bounds`).

Formats (option ``dtype``)
    ``bf16`` (default): every fp32 value is stored as ``bf16``.
    ``fp32``: every value keeps its graph type: the D1 computes in fp32 anyway, so the program
    has no storage rounding at all (matmuls run on fp32 operands at the FP32 rate, ``mma``
    rounding each product to fp32); for checking a mapping without quantization noise.
    ``cfp8``: ``cfp8_143<bias>`` with a per-tensor bias chosen from the tensor's observed maximum
    magnitude m: the largest bias (the finest scale) whose ``max_value`` is at least
    ``HEADROOM × m`` (1.25, so values a quarter above the calibration maximum still fit; with
    max_value's steps of 2× the actual headroom is 1.25–2.5×). Constants (``const``, ``full``,
    ``iota``) are measured on their data; a finite constant beyond bias 0's range stays in
    bf16 like a non-finite one. Activations are measured by interpreting the graph on
    the calibration inputs of the pass context (``Context.calibration``, the example inputs);
    without them an activation gets the format's default bias 7 (range ±480, normals down to
    2^-6). A tensor that cfp8_143 cannot hold — one holding ±Inf or NaN (CFloat has neither:
    saturating a -inf attention mask would unmask it), or one beyond bias 0's ±61440/1.25 — is
    stored as ``bf16`` instead. An all-zero tensor gets the default bias.

Where rounding happens (the storage points)
    Arguments and results keep their graph types (fp32) in the signature: a ``convert`` after
    each argument encodes it (what the host does when it packs inputs) and a ``convert`` before
    ``return`` decodes each result. Constants are rounded at compile time with
    :func:`d1c.interp.round_constant` (always to nearest; the module keeps their names, and their
    data holds the rounded values as float32). A finite constant beyond the storage format's
    largest finite value — ``const`` data, a ``full`` value, a ``pad`` value — saturates to that
    value: it stays finite, as the graph means it (``torch.finfo(torch.float32).min`` in an HF
    padding mask is "minus infinity, but finite": ``0 × min`` must stay 0, where bf16's -inf
    would give NaN). ``full`` and ``pad`` keep their attribute: the interpreter and ``vfill``
    store it saturated (docs/lowering.md §1). Every op computes in fp32 from decoded operands and
    rounds its result once to its storage type, the interpreter's and the ISA's rule, so an op's
    result type *is* its storage format: matmul results included (the fp32 accumulator is rounded
    once, when the result is stored); softmax and layer_norm keep their statistics in fp32 inside
    the op and round only their output.

Ops and their operand types (the IR needs the float operands of an op, and its result, to share
one element type)
    - Layout ops (reshape, broadcast_to, permute, slice) and embedding keep their operand's type.
    - Ops whose results are operand values (neg, abs, relu, maximum, minimum, where, reduce_max,
      reduce_min, max_pool2d, concat, pad with a representable fill) keep their operands' type
      when the operands share one: no rounding at all.
    - matmul and conv2d (the matrix unit takes bf16 or cfp8 inputs at full rate, fp32 at the
      FP32 rate) run on one storage type: with cfp8, ``cfp8_143<b>`` with b the smallest bias
      among the operands' and the result's (covering all three ranges); operands are converted
      to it and the result is stored in it. With bf16 (fp32) everything is bf16 (fp32) already.
    - Any other op runs directly on its result's storage type when every operand converts to it
      exactly (the same type, or CFloat8 into bf16, which holds every CFloat8 value); otherwise
      its operands are decoded to fp32 (exact), it runs in fp32, and its result is converted to
      the storage type: the same single rounding, made explicit. Comparisons run on an operand
      type that holds the others, else on fp32.

An op result the graph itself rounds — every use of it is an explicit ``convert`` to a narrower
float format (a training step's parameter update, docs/training.md) — is stored in fp32, so that
convert, with its own rounding mode, is its one rounding.

Option ``rounding`` (``rne`` | ``sr``) is the rounding of the converts the pass inserts to a
storage format (decoding to fp32 is exact); the results of ops always round to nearest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from d1c.errors import CompileError, D1cError, UnsupportedError
from d1c.interp import EVALUATORS, Call, round_constant, round_to
from d1c.ir import BF16, FP32, Builder, ElemType, Function, Module, Op, Value
from d1c.ir.types import holds
from d1c.isa.numerics import DEFAULT_BIAS, max_value
from d1c.passes.pass_manager import Context, register_pass

DTYPES = ("bf16", "cfp8", "fp32")
CFP8 = "cfp8_143"
HEADROOM = 1.25
LAYOUT = frozenset(("reshape", "broadcast_to", "permute", "slice", "embedding"))
SELECT = frozenset(("neg", "abs", "relu", "maximum", "minimum", "where", "concat", "pad"))
SELECT |= {"reduce_max", "reduce_min", "max_pool2d"}
MATRIX = frozenset(("matmul", "conv2d"))
SOURCES = frozenset(("const", "full", "iota"))


def cfp8_bias(maxabs: float) -> int | None:
    """The largest bias whose max_value covers ``HEADROOM × maxabs`` (None: none can)."""
    if not np.isfinite(maxabs):
        return None
    if maxabs == 0:
        return DEFAULT_BIAS[CFP8]
    fits = [b for b in range(64) if max_value(CFP8, b) >= HEADROOM * maxabs]
    return max(fits) if fits else None


def cfp8_elem(maxabs: float) -> ElemType:
    """The cfp8 storage type of a tensor of observed maximum magnitude ``maxabs``."""
    bias = cfp8_bias(maxabs)
    return BF16 if bias is None else ElemType(CFP8, bias)


def max_magnitude(x: np.ndarray) -> float:
    """max |x| of a float array (inf if it holds a non-finite value; 0 if empty)."""
    x = np.asarray(x, np.float64)
    if x.size and not np.all(np.isfinite(x)):
        return float("inf")
    return float(np.max(np.abs(x), initial=0.0))


def _check_calibration(func: Function, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    if len(inputs) != len(func.args):
        raise D1cError(
            f"calibration gives {len(inputs)} inputs, @{func.name} takes {len(func.args)}",
            func.pos,
        )
    arrays = [np.asarray(x) for x in inputs]
    for i, (a, x) in enumerate(zip(func.args, arrays, strict=True)):
        host = np.dtype(a.type.elem.host_dtype)
        if x.shape != a.type.shape or x.dtype != host:
            raise D1cError(
                f"calibration input {i} is {x.dtype}{list(x.shape)}, expected {a.type}",
                func.pos,
                hint=f"pass {host} arrays of shape {list(a.type.shape)}",
            )
    return arrays


def observe(module: Module, func: Function, inputs: Sequence[np.ndarray]) -> dict[Value, float]:
    """max |value| of every float value of ``func`` interpreted (fp32 graph semantics) on
    ``inputs``: the calibration run."""
    env = dict(zip(func.args, _check_calibration(func, inputs), strict=True))
    seen = {a: max_magnitude(x) for a, x in env.items() if a.type.elem.is_float}
    with np.errstate(all="ignore"):
        for index, op in enumerate(func.ops[:-1]):
            if op.name not in EVALUATORS:
                raise UnsupportedError(
                    f"cannot calibrate: no evaluator for '{op.name}'", op.where()
                )
            call = Call(op, tuple(env[v] for v in op.operands), module, index, 0)
            out = round_to(np.asarray(EVALUATORS[op.name](call)), op.result.type.elem)
            env[op.result] = out
            if op.result.type.elem.is_float:
                seen[op.result] = max_magnitude(out)
    return seen


@dataclass
class _Lowering:
    """State of rewriting one function: the builder, value map, observed ranges, options."""

    src: Module
    consts: dict[str, np.ndarray]
    b: Builder
    dtype: str
    rounding: str
    ranges: dict[Value, float]
    env: dict[Value, Value]
    explicit: frozenset[Value] = frozenset()

    def storage(self, v: Value, maxabs: float | None = None) -> ElemType:
        """The storage type of graph value ``v``."""
        if v.type.elem != FP32 or self.dtype == "fp32" or v in self.explicit:
            return v.type.elem
        if self.dtype == "bf16":
            return BF16
        m = self.ranges.get(v) if maxabs is None else maxabs
        return ElemType(CFP8, DEFAULT_BIAS[CFP8]) if m is None else cfp8_elem(m)

    def convert(self, v: Value, elem: ElemType, loc: Any) -> Value:
        """``v`` converted to ``elem`` (decoding to fp32 is exact: always ``rne``)."""
        if v.type.elem == elem:
            return v
        attrs = {"rounding": "rne" if elem == FP32 else self.rounding}
        return self.b.create("convert", [v], attrs, v.type.with_elem(elem), loc=loc)

    def create(self, op: Op, operands: list[Value], elem: ElemType) -> Value:
        rtype = op.result.type.with_elem(elem) if op.result.type.elem.is_float else None
        return self.b.create(op.name, operands, dict(op.attrs), rtype or op.result.type, op.loc)


def _const(op: Op, lw: _Lowering) -> Value:
    name = op.attrs["name"].name
    data = lw.src.consts.get(name)
    if data is None:
        raise CompileError(
            f"constant @{name} has no data, so its storage format cannot be chosen",
            op.where(),
            hint="print the IR with its data lines",
        )
    elem = lw.storage(op.result, max_magnitude(data) if op.result.type.elem.is_float else 0.0)
    if elem.is_float and elem != FP32:
        data = round_constant(data, elem)
    lw.consts.setdefault(name, data)
    return lw.create(op, [], elem)


def _source(op: Op, lw: _Lowering) -> Value:
    if op.name == "full":
        value = float(np.float32(op.attrs["value"]))
        maxabs = abs(value) if np.isfinite(value) else float("inf")
    else:
        maxabs = max(op.result.type.shape[op.attrs["dim"]] - 1, 0)
    return lw.create(op, [], lw.storage(op.result, maxabs))


def _layout(op: Op, lw: _Lowering) -> Value:
    operands = [lw.env[v] for v in op.operands]
    return lw.create(op, operands, operands[0].type.elem)


def _graph_convert(op: Op, lw: _Lowering) -> Value:
    x, elem = lw.env[op.operands[0]], lw.storage(op.result)
    if x.type.elem == elem:
        return x
    return lw.b.create("convert", [x], dict(op.attrs), op.result.type.with_elem(elem), op.loc)


def _float_types(operands: list[Value]) -> set[ElemType]:
    return {v.type.elem for v in operands if v.type.elem.is_float}


def _fill_fits(op: Op, elem: ElemType) -> bool:
    """The pad value is a value of ``elem``, or finite beyond its range (saturated as a
    constant: the pad keeps its operand's type rather than making -inf at run time)."""
    fill = np.float32(op.attrs["value"])
    top = max_value(elem.name, elem.bias)
    return bool(round_to(np.asarray(fill), elem) == fill or (np.isfinite(fill) and abs(fill) > top))


def _select(op: Op, lw: _Lowering) -> Value | None:
    """Value-selecting ops on operands of one type keep it (None: they do not share one)."""
    operands = [lw.env[v] for v in op.operands]
    types = _float_types(operands)
    if len(types) != 1:
        return None
    (elem,) = types
    if op.name == "pad" and not _fill_fits(op, elem):
        return None
    return lw.create(op, operands, elem)


def _matrix(op: Op, lw: _Lowering) -> Value:
    operands = [lw.env[v] for v in op.operands]
    types = _float_types(operands) | {lw.storage(op.result)}
    if len(types) == 1:
        (elem,) = types
    elif all(t.name == CFP8 for t in types):
        elem = ElemType(CFP8, min(t.bias for t in types))
    else:
        elem = BF16
    return lw.create(op, [lw.convert(v, elem, op.loc) for v in operands], elem)


def _common(types: set[ElemType], prefer: ElemType | None) -> ElemType | None:
    """A type that holds every type of ``types`` exactly: ``prefer`` if it does, else one of
    them (None: only fp32 does)."""
    for t in ([prefer] if prefer else []) + sorted(types, key=str):
        if all(holds(t, u) for u in types):
            return t
    return None


def _compute(op: Op, lw: _Lowering) -> Value:
    """Run on the storage type when the operands convert to it exactly, else via fp32."""
    operands = [lw.env[v] for v in op.operands]
    is_float = op.result.type.elem.is_float
    elem = lw.storage(op.result) if is_float else None
    common = _common(_float_types(operands), elem)
    if common is not None and (common == elem or not is_float):
        same = [lw.convert(v, common, op.loc) if v.type.elem.is_float else v for v in operands]
        return lw.create(op, same, elem or op.result.type.elem)
    wide = [lw.convert(v, FP32, op.loc) if v.type.elem.is_float else v for v in operands]
    y = lw.create(op, wide, FP32 if is_float else op.result.type.elem)
    return lw.convert(y, elem, op.loc) if is_float else y


def _lower_op(op: Op, lw: _Lowering) -> Value:
    if op.name == "const":
        return _const(op, lw)
    if op.name in SOURCES:
        return _source(op, lw)
    if op.name == "convert":
        return _graph_convert(op, lw)
    if op.name in LAYOUT:
        return _layout(op, lw)
    if op.name in SELECT:
        y = _select(op, lw)
        if y is not None:
            return y
    if op.name in MATRIX:
        return _matrix(op, lw)
    return _compute(op, lw)


def _explicitly_rounded(f: Function) -> frozenset[Value]:
    """The fp32 op results whose every use is a ``convert`` of the graph to a narrower float
    (arguments keep their storage format: the host packs them in it)."""
    narrowed = {
        op.operands[0]
        for op in f.ops
        if op.name == "convert" and op.result.type.elem.is_float and op.result.type.elem != FP32
    }
    uses = f.uses()
    return frozenset(
        v
        for v in narrowed
        if v.owner is not None
        and v.type.elem == FP32
        and all(u.name == "convert" for u in uses.get(v, []))
    )


def _lower_function(f: Function, lw: _Lowering) -> Function:
    args = [Value(a.type, name=a.name) for a in f.args]
    out = Function(f.name, args, list(f.result_types), pos=f.pos)
    lw.b = Builder(out)
    for old, new in zip(f.args, args, strict=True):
        lw.env[old] = lw.convert(new, lw.storage(old), None)
    for op in f.ops[:-1]:
        lw.env[op.result] = _lower_op(op, lw)
    ret = f.ret
    results = [lw.convert(lw.env[v], v.type.elem, ret.loc) for v in ret.operands]
    lw.b.ret(results, loc=ret.loc)
    return out


@register_pass
@dataclass(frozen=True)
class AssignFormats:
    name: ClassVar[str] = "assign-formats"
    dtype: str = "bf16"
    rounding: str = "rne"

    def apply(self, module: Module, ctx: Context) -> Module:
        if self.dtype not in DTYPES or self.rounding not in ("rne", "sr"):
            raise CompileError(
                f"assign-formats: dtype must be one of {', '.join(DTYPES)} and rounding rne or "
                f"sr, got dtype={self.dtype}, rounding={self.rounding}"
            )
        consts: dict[str, np.ndarray] = {}
        funcs = [self._function(module, f, ctx, consts) for f in module.functions]
        return Module(module.name, funcs, consts)

    def _function(
        self, module: Module, f: Function, ctx: Context, consts: dict[str, np.ndarray]
    ) -> Function:
        calibration = ctx.calibration
        ranges: dict[Value, float] = {}
        if self.dtype == "cfp8" and calibration is not None and f is module.main:
            ranges = observe(module, f, calibration)
        lw = _Lowering(
            module,
            consts,
            Builder(f),
            self.dtype,
            self.rounding,
            ranges,
            {},
            _explicitly_rounded(f),
        )
        return _lower_function(f, lw)
