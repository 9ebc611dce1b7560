"""The float64 reference of a module: every op evaluated in float64 numpy, independently of the
fp32 interpreter (docs/design.md §5, rung 2: the quantized result is checked against this).

    outputs = reference64(module, inputs)

The reference is the graph's *real-number* semantics, approximated in float64 (about 2^-53
relative per operation, far below any fp32 or storage-format error):

- converts between float formats are the identity, and float results are never rounded to their
  element type: the storage formats are what the error bound (:mod:`d1c.accuracy.bounds`) accounts for;
- float data of the program itself is taken as exact: constants as their float32 data, float
  attributes (``full``/``pad`` values, ``eps``) as their fp32 rounding, the value the graph holds;
- transcendentals use float64 libm (``math.erf`` for erf), never :mod:`d1c.isa.fpmath`;
- sums have no prescribed order (numpy's pairwise float64 sums);
- integers follow the interpreter's integer rules (floor division, floor-divided means) and
  floats convert to integers by truncation, saturating, NaN -> 0.

:func:`evaluate_op` evaluates one op from its operand arrays; the error-bound walker uses it so that
its reference values are bit-identical to :func:`reference64` of the graph.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from d1c.errors import D1cError, UnsupportedError
from d1c.ir import I1, Module, Op

F64 = np.float64
Fn = Callable[[list[np.ndarray], Op], np.ndarray]
OPS64: dict[str, Fn] = {}
_ERF = np.frompyfunc(math.erf, 1, 1)
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def _reg(*names: str) -> Callable[[Fn], Fn]:
    def wrap(fn: Fn) -> Fn:
        for n in names:
            OPS64[n] = fn
        return fn

    return wrap


def f32(value: float) -> float:
    """A float attribute as the graph holds it: rounded to fp32."""
    return float(np.float32(value))


def erf64(x: np.ndarray) -> np.ndarray:
    return np.asarray(_ERF(np.asarray(x, F64)), dtype=F64)


def erfc64(x: np.ndarray) -> np.ndarray:
    return np.asarray(_ERFC(np.asarray(x, F64)), dtype=F64)


def sigmoid64(x: np.ndarray) -> np.ndarray:
    """1/(1+e^-x) without overflow."""
    x = np.asarray(x, F64)
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def gelu_tanh64(x: np.ndarray) -> np.ndarray:
    k = math.sqrt(2.0 / math.pi)
    return x * sigmoid64(2.0 * k * (x + 0.044715 * x**3))


UNARY64: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: 1.0 / np.sqrt(x),
    "reciprocal": lambda x: 1.0 / x,
    "tanh": np.tanh,
    "sigmoid": sigmoid64,
    "erf": erf64,
    "silu": lambda x: x * sigmoid64(x),
    "sin": np.sin,
    "cos": np.cos,
    "floor": np.floor,
    "ceil": np.ceil,
    "trunc": np.trunc,
    "round": np.rint,
    "gelu_erf": lambda x: 0.5 * x * erfc64(-np.asarray(x, F64) / math.sqrt(2.0)),
    "gelu_tanh": gelu_tanh64,
}
BINARY64 = {"add": np.add, "sub": np.subtract, "mul": np.multiply}
COMPARE64 = {
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
}


def _register_tables() -> None:
    for name in UNARY64:
        if not name.startswith("gelu"):
            _reg(name)(lambda a, op, f=UNARY64[name]: f(a[0]))
    for name, fn in BINARY64.items():
        _reg(name)(lambda a, op, f=fn: f(a[0], a[1]))
    for name, fn in COMPARE64.items():
        _reg(name)(lambda a, op, f=fn: f(a[0], a[1]))


_register_tables()


def gelu_name(op: Op) -> str:
    return "gelu_erf" if op.attrs["approximate"] == "none" else "gelu_tanh"


@_reg("gelu")
def _gelu(a: list[np.ndarray], op: Op) -> np.ndarray:
    return UNARY64[gelu_name(op)](a[0])


@_reg("neg", "abs", "relu")
def _sign_ops(a: list[np.ndarray], op: Op) -> np.ndarray:
    fn = {"neg": np.negative, "abs": np.abs, "relu": lambda x: np.where(x < 0, 0, x)}[op.name]
    return fn(a[0]).astype(a[0].dtype)


@_reg("div")
def _div(a: list[np.ndarray], op: Op) -> np.ndarray:
    if a[0].dtype.kind == "f":
        return a[0] / a[1]
    return np.floor_divide(a[0], np.where(a[1] == 0, 1, a[1]))


@_reg("pow")
def _pow(a: list[np.ndarray], op: Op) -> np.ndarray:
    return np.power(a[0], a[1])


@_reg("maximum", "minimum")
def _maxmin(a: list[np.ndarray], op: Op) -> np.ndarray:
    return (np.maximum if op.name == "maximum" else np.minimum)(a[0], a[1])


@_reg("logical_and", "logical_or", "logical_not")
def _logic(a: list[np.ndarray], op: Op) -> np.ndarray:
    if op.name == "logical_not":
        return (a[0] == 0).astype(a[0].dtype)
    fn = np.logical_and if op.name == "logical_and" else np.logical_or
    return fn(a[0] != 0, a[1] != 0).astype(a[0].dtype)


@_reg("where")
def _where(a: list[np.ndarray], op: Op) -> np.ndarray:
    return np.where(*a)


@_reg("convert")
def _convert(a: list[np.ndarray], op: Op) -> np.ndarray:
    x, elem = a[0], op.result.type.elem
    if elem.is_float:
        return x.astype(F64)
    if elem == I1:
        return x != 0
    if x.dtype.kind != "f":
        return x.astype(elem.host_dtype)
    info = np.iinfo(elem.host_dtype)
    hi, lo = x >= 2.0 ** (info.bits - 1), x < -(2.0 ** (info.bits - 1))
    safe = np.where(hi | lo | np.isnan(x), 0, np.trunc(x)).astype(elem.host_dtype)
    return np.where(hi, info.max, np.where(lo, info.min, safe)).astype(elem.host_dtype)


@_reg("reshape", "broadcast_to")
def _reshape(a: list[np.ndarray], op: Op) -> np.ndarray:
    fn = np.reshape if op.name == "reshape" else np.broadcast_to
    return fn(a[0], op.result.type.shape)


@_reg("permute")
def _permute(a: list[np.ndarray], op: Op) -> np.ndarray:
    return np.transpose(a[0], op.attrs["dims"])


def slice_index(op: Op, rank: int) -> tuple[slice, ...]:
    at = op.attrs
    index = [slice(None)] * rank
    index[at["dim"]] = slice(at["start"], at["end"], at["step"])
    return tuple(index)


@_reg("slice")
def _slice(a: list[np.ndarray], op: Op) -> np.ndarray:
    return a[0][slice_index(op, a[0].ndim)]


@_reg("concat")
def _concat(a: list[np.ndarray], op: Op) -> np.ndarray:
    return np.concatenate(a, axis=op.attrs["dim"])


def pad_widths(op: Op, rank: int) -> list[tuple[int, int]]:
    p = op.attrs["pads"]
    return [(p[2 * i], p[2 * i + 1]) for i in range(rank)]


def fill_value(op: Op, key: str = "value") -> float | int | bool:
    """A ``value``/fill attribute as the graph holds it in the op's result type."""
    elem, v = op.result.type.elem, op.attrs[key]
    if elem.is_float:
        return f32(v)
    return v != 0 if elem == I1 else int(v)


@_reg("pad")
def _pad(a: list[np.ndarray], op: Op) -> np.ndarray:
    if a[0].ndim == 0:  # nothing to pad (numpy cannot pad a 0-d array)
        return a[0].copy()
    return np.pad(a[0], pad_widths(op, a[0].ndim), constant_values=fill_value(op))


@_reg("embedding")
def _embedding(a: list[np.ndarray], op: Op) -> np.ndarray:
    w, idx = a
    if idx.size and (idx.min() < 0 or idx.max() >= w.shape[0]):
        raise D1cError("'embedding': index out of range", op.where())
    return w[idx]


@_reg("iota")
def _iota(a: list[np.ndarray], op: Op) -> np.ndarray:
    t, dim = op.result.type, op.attrs["dim"]
    line = np.arange(t.shape[dim]).reshape([-1 if i == dim else 1 for i in range(t.rank)])
    host = F64 if t.elem.is_float else t.elem.host_dtype
    return np.ascontiguousarray(np.broadcast_to(line.astype(host), t.shape))


@_reg("full")
def _full(a: list[np.ndarray], op: Op) -> np.ndarray:
    t = op.result.type
    return np.full(t.shape, fill_value(op), dtype=F64 if t.elem.is_float else t.elem.host_dtype)


def _keep(op: Op, r: np.ndarray) -> np.ndarray:
    return np.asarray(r).reshape(op.result.type.shape)


@_reg("reduce_sum", "reduce_mean", "reduce_max", "reduce_min")
def _reduce(a: list[np.ndarray], op: Op) -> np.ndarray:
    x, dims = a[0], tuple(op.attrs["dims"])
    if op.name in ("reduce_max", "reduce_min"):
        return _keep(op, (np.max if op.name == "reduce_max" else np.min)(x, axis=dims))
    s = np.sum(x, axis=dims, dtype=x.dtype if x.dtype != np.bool_ else np.int64)
    if op.name == "reduce_sum":
        return _keep(op, s.astype(x.dtype) if x.dtype == np.bool_ else s)
    count = math.prod(x.shape[d] for d in dims)
    return _keep(op, s / count if x.dtype.kind == "f" else (s // max(count, 1)).astype(x.dtype))


@_reg("softmax", "log_softmax")
def _softmax(a: list[np.ndarray], op: Op) -> np.ndarray:
    x, dim = a[0], op.attrs["dim"]
    z = x - np.max(x, axis=dim, keepdims=True)
    s = np.sum(np.exp(z), axis=dim, keepdims=True)
    return np.exp(z) / s if op.name == "softmax" else z - np.log(s)


@_reg("layer_norm")
def _layer_norm(a: list[np.ndarray], op: Op) -> np.ndarray:
    x, *affine = a
    dims = tuple(range(x.ndim - op.attrs["ndim"], x.ndim))
    d = x - np.mean(x, axis=dims, keepdims=True)
    y = d / np.sqrt(np.mean(d * d, axis=dims, keepdims=True) + f32(op.attrs["eps"]))
    for i, p in enumerate(affine):
        y = y * p if i == 0 else y + p
    return y


@_reg("batch_norm")
def _batch_norm(a: list[np.ndarray], op: Op) -> np.ndarray:
    x, mean, var, w, b = a
    shape = [1] * x.ndim
    shape[1] = x.shape[1]
    mean, var, w, b = (p.reshape(shape) for p in (mean, var, w, b))
    return (x - mean) / np.sqrt(var + f32(op.attrs["eps"])) * w + b


@_reg("matmul")
def _matmul(a: list[np.ndarray], op: Op) -> np.ndarray:
    # Fresh contiguous copies: for ``x @ x.T`` (one buffer) numpy calls BLAS syrk, whose sums
    # round differently from gemm's, so the reference would depend on memory layout.
    return np.matmul(np.array(a[0], order="C"), np.array(a[1], order="C"))


def windows(x: np.ndarray, op: Op, kernel: tuple[int, int], fill: float) -> np.ndarray:
    """The ``[N, C, OH, OW, KH, KW]`` windows of an NCHW ``x`` for a conv or pool ``op``,
    padded with ``fill`` (bottom/right as far as ceil-mode windows reach)."""
    at = op.attrs
    (kh, kw), (oh, ow) = kernel, op.result.type.shape[2:]
    (sh, sw), (ph, pw) = at["stride"], at["padding"]
    dh, dw = at.get("dilation", (1, 1))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    bottom = max(ph, (oh - 1) * sh + span_h - x.shape[2] - ph)
    right = max(pw, (ow - 1) * sw + span_w - x.shape[3] - pw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, bottom), (pw, right)), constant_values=fill)
    v = sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
    return v[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :oh, :ow]


def conv_operands(x: np.ndarray, w: np.ndarray, op: Op) -> tuple[np.ndarray, np.ndarray]:
    """im2col: ``cols [N, G, OH*OW, K]`` and ``wmat [G, K, O/G]`` with K = C/G*KH*KW."""
    n, o, oh, ow = op.result.type.shape
    g, (cg, kh, kw) = op.attrs["groups"], w.shape[1:]
    win = windows(x, op, (kh, kw), 0.0)
    cols = win.reshape(n, g, cg, oh, ow, kh, kw).transpose(0, 1, 3, 4, 2, 5, 6)
    wmat = w.reshape(g, o // g, cg * kh * kw).transpose(0, 2, 1)
    return cols.reshape(n, g, oh * ow, cg * kh * kw), wmat


def conv_result(y: np.ndarray, op: Op) -> np.ndarray:
    """``[N, G, OH*OW, O/G]`` back to NCHW."""
    n, o, oh, ow = op.result.type.shape
    return y.transpose(0, 1, 3, 2).reshape(n, o, oh, ow)


@_reg("conv2d")
def _conv2d(a: list[np.ndarray], op: Op) -> np.ndarray:
    y = conv_result(np.matmul(*conv_operands(a[0], a[1], op)), op)
    return y + a[2].reshape(1, -1, 1, 1) if len(a) == 3 else y


@_reg("max_pool2d")
def _max_pool(a: list[np.ndarray], op: Op) -> np.ndarray:
    return windows(a[0], op, op.attrs["kernel"], -np.inf).max(axis=(4, 5))


def pool_divisors(op: Op, hw: tuple[int, int]) -> np.ndarray:
    """torch's avg_pool2d divisor per output position, ``[OH, OW]``."""
    at = op.attrs
    if at["divisor"]:
        return np.full(op.result.type.shape[2:], float(at["divisor"]))
    sizes = []
    for axis in (0, 1):
        k, s, p = at["kernel"][axis], at["stride"][axis], at["padding"][axis]
        start = np.arange(op.result.type.shape[2 + axis]) * s - p
        end = np.minimum(start + k, hw[axis] + p)
        if not at["count_include_pad"]:
            start, end = np.maximum(start, 0), np.minimum(end, hw[axis])
        sizes.append(end - start)
    return np.outer(sizes[0], sizes[1]).astype(F64)


@_reg("avg_pool2d")
def _avg_pool(a: list[np.ndarray], op: Op) -> np.ndarray:
    s = windows(a[0], op, op.attrs["kernel"], 0.0).sum(axis=(4, 5))
    return s / pool_divisors(op, a[0].shape[2:])


def adaptive_cells(size: int, out: int) -> list[tuple[int, int]]:
    """torch's adaptive pooling windows ``floor(i*H/OH) .. ceil((i+1)*H/OH)``."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


@_reg("adaptive_avg_pool2d")
def _adaptive_avg_pool(a: list[np.ndarray], op: Op) -> np.ndarray:
    x = a[0]
    out = np.empty(op.result.type.shape, dtype=F64)
    rows, cols = (adaptive_cells(x.shape[2 + i], op.result.type.shape[2 + i]) for i in (0, 1))
    for i, (h0, h1) in enumerate(rows):
        for j, (w0, w1) in enumerate(cols):
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


def evaluate_op(op: Op, args: list[np.ndarray], consts: dict[str, np.ndarray]) -> np.ndarray:
    """The float64 reference result of one op (``const`` data is read from ``consts``)."""
    if op.name == "const":
        name = op.attrs["name"].name
        if name not in consts:
            raise D1cError(f"constant @{name} has no reference data", op.where())
        data = consts[name]
        return data.astype(F64) if op.result.type.elem.is_float else data
    fn = OPS64.get(op.name)
    if fn is None:
        raise UnsupportedError(f"no float64 reference for op '{op.name}'", op.where())
    with np.errstate(all="ignore"):
        return _c_order(np.asarray(fn(args, op)))


def _c_order(x: np.ndarray) -> np.ndarray:
    """``x`` in C order: numpy's sums (pairwise on contiguous axes) and BLAS calls depend on
    memory layout, so every reference value gets the same layout, whatever view made it."""
    return x if x.flags.c_contiguous else x.copy(order="C")


def reference64(
    module: Module, inputs: Sequence[np.ndarray], *, func: str | None = None
) -> list[np.ndarray]:
    """The float64 reference outputs of ``func`` (default: the first function) on ``inputs``."""
    f = module.main if func is None else module.function(func)
    if len(inputs) != len(f.args):
        raise D1cError(f"function @{f.name} takes {len(f.args)} inputs, got {len(inputs)}")
    env = {a: as_reference(x, a.type.elem.is_float) for a, x in zip(f.args, inputs, strict=True)}
    for op in f.ops[:-1]:
        env[op.result] = evaluate_op(op, [env[v] for v in op.operands], module.consts)
    return [env[v] for v in f.ret.operands]


def as_reference(x: np.ndarray, is_float: bool) -> np.ndarray:
    """An input array as a reference value: floats widened to float64, integers unchanged."""
    x = np.asarray(x)
    return x.astype(F64) if is_float else x
