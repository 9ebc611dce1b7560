"""Type rules of the op table (shape and element-type inference) and attribute kind checks.

Each rule takes the operand types, the (defaults-filled) attributes and the declared result type
(or None) and returns the result type or raises :class:`TypeRuleError` saying what is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from d1c.ir.types import FP32, I1, ElemType, TensorType

Types = list[TensorType]
Attrs = dict[str, Any]


class TypeRuleError(Exception):
    """A broken type or attribute rule; callers attach the position."""


@dataclass(frozen=True)
class Sym:
    """A symbol reference attribute, printed ``@name``."""

    name: str

    def __str__(self) -> str:
        plain = (
            self.name.replace("_", "a").replace(".", "a").isalnum() and not self.name[:1].isdigit()
        )
        return f"@{self.name}" if plain else f'@"{self.name}"'


_KINDS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "str": (str,),
    "ints": (tuple, list),
    "elem": (ElemType,),
    "sym": (Sym,),
}


def check_attr_kind(op: str, key: str, kind: str, value: Any) -> Any:
    """Return ``value`` normalised to its kind (ints -> tuple, int -> float) or raise."""
    bad_bool = isinstance(value, bool) and kind in ("int", "float")
    if bad_bool or not isinstance(value, _KINDS[kind]):
        raise TypeRuleError(f"attribute '{key}' of '{op}' must be {kind}, got {value!r}")
    if kind == "float":
        return float(value)
    if kind == "ints":
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise TypeRuleError(
                f"attribute '{key}' of '{op}' must be a list of ints, got {value!r}"
            )
        return tuple(value)
    return value


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise TypeRuleError(message)


def _same_elem(ts: Types, what: str) -> ElemType:
    elems = {t.elem for t in ts}
    _need(
        len(elems) == 1,
        f"{what} operands must share an element type, got {', '.join(str(t) for t in ts)}",
    )
    return ts[0].elem


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """Numpy broadcasting of shapes, or TypeRuleError."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0} - {1}
        _need(
            len(dims) <= 1, f"shapes {' and '.join(str(list(s)) for s in shapes)} do not broadcast"
        )
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _axis(dim: int, rank: int, what: str = "dim") -> int:
    _need(0 <= dim < rank, f"{what} {dim} is out of range for rank {rank}")
    return dim


def same(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    return ts[0]


def unary_float(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    _need(ts[0].elem.is_float, f"operand must be a float tensor, got {ts[0]}")
    return ts[0]


def broadcast(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    elem = _same_elem(ts, "elementwise")
    return TensorType(broadcast_shapes(*(t.shape for t in ts)), elem)


def compare(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    return broadcast(ts, a, d).with_elem(I1)


def where(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    _need(ts[0].elem == I1, f"the condition of 'where' must be i1, got {ts[0]}")
    elem = _same_elem(ts[1:], "'where' value")
    return TensorType(broadcast_shapes(*(t.shape for t in ts)), elem)


def declared(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    _need(d is not None, "the result type must be given")
    return d


def convert(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    _need(
        d is not None and d.shape == ts[0].shape,
        "'convert' keeps the shape and needs a declared result type",
    )
    _need(a["rounding"] in ("rne", "sr"), f'rounding must be "rne" or "sr", got "{a["rounding"]}"')
    return d


def reshape(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    _need(d is not None, "'reshape' needs a declared result type")
    _need(d.numel == ts[0].numel and d.elem == ts[0].elem, f"cannot reshape {ts[0]} to {d}")
    return d


def broadcast_to(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    _need(
        d is not None and d.elem == ts[0].elem,
        "'broadcast_to' needs a declared result type of the same element type",
    )
    _need(broadcast_shapes(ts[0].shape, d.shape) == d.shape, f"cannot broadcast {ts[0]} to {d}")
    return d


def permute(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    dims, shape = a["dims"], ts[0].shape
    _need(
        sorted(dims) == list(range(len(shape))),
        f"dims {list(dims)} is not a permutation of 0..{len(shape) - 1}",
    )
    return ts[0].with_shape(tuple(shape[i] for i in dims))


def slice_(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    shape = list(ts[0].shape)
    dim = _axis(a["dim"], len(shape))
    start, end, step = a["start"], a["end"], a["step"]
    _need(
        0 <= start <= end <= shape[dim] and step >= 1,
        f"slice {start}:{end}:{step} is invalid for size {shape[dim]}",
    )
    shape[dim] = -(-(end - start) // step)
    return ts[0].with_shape(tuple(shape))


def concat(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    elem = _same_elem(ts, "'concat'")
    rank = ts[0].rank
    dim = _axis(a["dim"], rank)
    for t in ts:
        rest = [s for i, s in enumerate(t.shape) if i != dim]
        _need(
            t.rank == rank and rest == [s for i, s in enumerate(ts[0].shape) if i != dim],
            f"cannot concatenate {ts[0]} and {t} along dim {dim}",
        )
    shape = list(ts[0].shape)
    shape[dim] = sum(t.shape[dim] for t in ts)
    return TensorType(tuple(shape), elem)


def pad(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    pads, shape = a["pads"], ts[0].shape
    _need(
        len(pads) == 2 * len(shape) and min(pads, default=0) >= 0,
        f"pads needs 2 non-negative entries per dim ({2 * len(shape)}), got {list(pads)}",
    )
    return ts[0].with_shape(tuple(s + pads[2 * i] + pads[2 * i + 1] for i, s in enumerate(shape)))


def reduce(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    dims, shape = a["dims"], ts[0].shape
    _need(list(dims) == sorted(set(dims)), f"dims {list(dims)} must be sorted and unique")
    for x in dims:
        _axis(x, len(shape))
    if a["keepdim"]:
        return ts[0].with_shape(tuple(1 if i in dims else s for i, s in enumerate(shape)))
    return ts[0].with_shape(tuple(s for i, s in enumerate(shape) if i not in dims))


def softmax(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    _axis(a["dim"], ts[0].rank)
    return unary_float(ts, a, d)


def layer_norm(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    x, n = ts[0], a["ndim"]
    _need(1 <= n <= x.rank, f"ndim {n} is out of range for {x}")
    for t in ts[1:]:
        _need(
            t.shape == x.shape[x.rank - n :],
            f"layer_norm weight/bias {t} must have shape {list(x.shape[x.rank - n :])}",
        )
    _same_elem(ts, "'layer_norm'")
    return unary_float(ts, a, d)


def batch_norm(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    x = ts[0]
    _need(x.rank >= 2, f"batch_norm input must have a channel dim, got {x}")
    for t in ts[1:]:
        _need(t.shape == (x.shape[1],), f"batch_norm statistics {t} must have shape [{x.shape[1]}]")
    _same_elem(ts, "'batch_norm'")
    return unary_float(ts, a, d)


def matmul(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    x, y = ts
    _need(x.rank >= 2 and y.rank >= 2, f"matmul operands need rank >= 2, got {x} and {y}")
    _need(x.shape[-1] == y.shape[-2], f"matmul contraction mismatch: {x} @ {y}")
    batch = broadcast_shapes(x.shape[:-2], y.shape[:-2])
    elem = _same_elem(ts, "matmul")
    if d is not None and d.elem == FP32 and elem.is_float:
        elem = FP32  # the fp32 accumulator itself, not rounded to the operand format
    return TensorType((*batch, x.shape[-2], y.shape[-1]), elem)


def _window(size: int, k: int, s: int, p: int, dil: int, ceil_mode: bool) -> int:
    span = size + 2 * p - dil * (k - 1) - 1
    _need(
        span >= 0 and s >= 1,
        f"window {k} (dilation {dil}, padding {p}) does not fit input size {size}",
    )
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if (
        ceil_mode and (out - 1) * s >= size + p
    ):  # torch: the last window must start inside the input
        out -= 1
    return out


def _pair(a: Attrs, key: str) -> tuple[int, int]:
    v = a[key]
    _need(len(v) == 2, f"'{key}' must have 2 entries, got {list(v)}")
    return v


def conv2d(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    x, w = ts[0], ts[1]
    g = a["groups"]
    _need(x.rank == 4 and w.rank == 4, f"conv2d takes NCHW input and OIHW weight, got {x} and {w}")
    _need(
        g >= 1 and x.shape[1] == w.shape[1] * g and w.shape[0] % g == 0,
        f"conv2d channels do not match: input {x}, weight {w}, groups {g}",
    )
    _need(
        len(ts) < 3 or ts[2].shape == (w.shape[0],), f"conv2d bias must have shape [{w.shape[0]}]"
    )
    (sh, sw), (ph, pw), (dh, dw) = _pair(a, "stride"), _pair(a, "padding"), _pair(a, "dilation")
    oh = _window(x.shape[2], w.shape[2], sh, ph, dh, False)
    ow = _window(x.shape[3], w.shape[3], sw, pw, dw, False)
    return TensorType((x.shape[0], w.shape[0], oh, ow), _same_elem(ts, "conv2d"))


def _pool(ts: Types, a: Attrs, dil: tuple[int, int]) -> TensorType:
    x = ts[0]
    _need(x.rank == 4, f"pooling takes an NCHW input, got {x}")
    (kh, kw), (sh, sw), (ph, pw) = _pair(a, "kernel"), _pair(a, "stride"), _pair(a, "padding")
    _need(2 * ph <= kh and 2 * pw <= kw, "pooling padding must be at most half the kernel")
    oh = _window(x.shape[2], kh, sh, ph, dil[0], a["ceil_mode"])
    ow = _window(x.shape[3], kw, sw, pw, dil[1], a["ceil_mode"])
    return x.with_shape((x.shape[0], x.shape[1], oh, ow))


def max_pool2d(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    return _pool(ts, a, _pair(a, "dilation"))


def avg_pool2d(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    unary_float(ts, a, d)
    return _pool(ts, a, (1, 1))


def adaptive_avg_pool2d(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    x = ts[0]
    oh, ow = _pair(a, "size")
    _need(
        x.rank == 4 and oh >= 1 and ow >= 1,
        f"adaptive_avg_pool2d takes NCHW input and a positive size, got {x}",
    )
    return unary_float(ts, a, d).with_shape((x.shape[0], x.shape[1], oh, ow))


def embedding(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    w, idx = ts
    _need(
        w.rank == 2 and idx.elem.is_int and idx.elem != I1,
        f"embedding takes weight [V, D] and integer indices, got {w} and {idx}",
    )
    return TensorType((*idx.shape, w.shape[1]), w.elem)


def iota(ts: Types, a: Attrs, d: TensorType | None) -> TensorType:
    _need(d is not None, "'iota' needs a declared result type")
    _axis(a["dim"], d.rank)
    return d


def numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)
