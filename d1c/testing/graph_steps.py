"""Graph-IR steps for :func:`d1c.testing.strategies.graph_modules`: the composite and structural
ops of the graph level (matmul, softmax, layer_norm, batch_norm, compare + where, causal masks,
concat, pad, broadcast, conv2d, pools, embedding, gelu, log, sqrt, reciprocal, converts to
storage formats with random biases).

Every step has the signature ``step(draw, builder, module, value, loc) -> Value``: it applies one
op (or a short idiom) to the float value ``value`` and returns a float result. A step that does
not apply to the value's shape returns ``value`` unchanged. Results stay under
:data:`MAX_ELEMENTS` elements so that compiling and simulating a module stays fast.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from d1c.errors import Loc
from d1c.ir import FP32, Builder, ElemType, Module, Sym, TensorType, Value

MAX_ELEMENTS = 32768
COMPARES = ["eq", "ne", "lt", "le", "gt", "ge"]
# Sizes for new dims: 1, small primes and sizes that do not divide the tile sizes (64, 128, 512).
SIZES = st.sampled_from([1, 2, 3, 5, 7, 8, 13, 17, 31, 67, 131, 257, 600])


def weight(
    draw: st.DrawFn, b: Builder, m: Module, ty: TensorType, loc: Loc | None, scale: float = 1.0
) -> Value:
    """A ``const`` of random fp32 data (normal, times ``scale``), or a ``full``."""
    if draw(st.integers(0, 3)) == 0:
        value = draw(st.sampled_from([0.0, -0.0, 1.0, -2.5, 0.125, 3.0]))
        return b.create("full", [], {"value": value}, result_type=ty, loc=loc)
    name = f"c{len(m.consts)}"
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m.consts[name] = (scale * rng.standard_normal(ty.shape)).astype(np.float32)
    return b.create("const", [], {"name": Sym(name)}, result_type=ty, loc=loc)


def _fits(shape: tuple[int, ...]) -> bool:
    return math.prod(shape) <= MAX_ELEMENTS


def _bshape(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[int, ...]:
    keep = draw(st.integers(0, len(shape)))
    return tuple(1 if draw(st.booleans()) else d for d in shape[len(shape) - keep :])


def matmul(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    """v @ W (W [..., K, N], maybe batched), W @ v, or v @ v^T (attention scores)."""
    shape = v.type.shape
    if v.type.rank < 2:
        return v
    k, kind = shape[-1], draw(st.sampled_from(["right", "left", "self"]))
    if kind == "self":
        dims = (*range(v.type.rank - 2), v.type.rank - 1, v.type.rank - 2)
        vt = b.create("permute", [v], {"dims": dims}, loc=loc)
        out = (*shape[:-1], shape[-2])
        return b.create("matmul", [v, vt], loc=loc) if _fits(out) else v
    n = draw(SIZES)
    batch = shape[:-2] if draw(st.booleans()) else ()
    left = kind == "left"
    wshape = (*batch, n, shape[-2]) if left else (*batch, k, n)
    out = (*shape[:-2], n, k) if left else (*shape[:-1], n)
    if not (_fits(wshape) and _fits(out)):
        return v
    w = weight(draw, b, m, TensorType(wshape, FP32), loc, 0.5 if left else k**-0.5)
    return b.create("matmul", [w, v] if left else [v, w], loc=loc)


def softmax(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    if v.type.rank == 0:
        return v
    name = draw(st.sampled_from(["softmax", "softmax", "log_softmax"]))
    return b.create(name, [v], {"dim": draw(st.integers(0, v.type.rank - 1))}, loc=loc)


def layer_norm(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    if v.type.rank == 0:
        return v
    ndim = draw(st.integers(1, min(2, v.type.rank)))
    norm = TensorType(v.type.shape[v.type.rank - ndim :], FP32)
    extra = [weight(draw, b, m, norm, loc) for _ in range(draw(st.integers(0, 2)))]
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.0]))
    return b.create("layer_norm", [v, *extra], {"ndim": ndim, "eps": eps}, loc=loc)


def batch_norm(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    if v.type.rank < 2:
        return v
    ch = TensorType((v.type.shape[1],), FP32)
    w, bias, mean = (weight(draw, b, m, ch, loc) for _ in range(3))
    name = f"c{len(m.consts)}"
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m.consts[name] = rng.uniform(0.25, 2.0, ch.shape).astype(np.float32)
    var = b.create("const", [], {"name": Sym(name)}, result_type=ch, loc=loc)
    return b.create("batch_norm", [v, mean, var, w, bias], {"eps": 1e-5}, loc=loc)


def select(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    """where(v cmp c, v, other), the condition sometimes combined with a second comparison."""
    other = weight(draw, b, m, TensorType(_bshape(draw, v.type.shape), FP32), loc)
    cond = b.create(draw(st.sampled_from(COMPARES)), [v, other], loc=loc)
    if draw(st.booleans()):
        c2 = b.create(draw(st.sampled_from(COMPARES)), [other, v], loc=loc)
        cond = b.create(draw(st.sampled_from(["logical_and", "logical_or"])), [cond, c2], loc=loc)
    if draw(st.booleans()):
        cond = b.create("logical_not", [cond], loc=loc)
    alt = weight(draw, b, m, TensorType(_bshape(draw, v.type.shape), FP32), loc)
    args = [cond, v, alt] if draw(st.booleans()) else [cond, alt, v]
    return b.create("where", args, loc=loc)


def causal_mask(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    """where(iota_row >= iota_col, v, fill) over the last two dims: constant, folded early."""
    if v.type.rank < 2:
        return v
    rows, cols = v.type.shape[-2:]
    idx = TensorType((rows, cols), ElemType("i64"))
    r = b.create("iota", [], {"dim": 0}, result_type=idx, loc=loc)
    c = b.create("iota", [], {"dim": 1}, result_type=idx, loc=loc)
    mask = b.create(draw(st.sampled_from(["ge", "gt"])), [r, c], loc=loc)
    fill = b.create("full", [], {"value": draw(st.sampled_from([-1e9, -30.0, 0.0]))},
                    result_type=TensorType((), FP32), loc=loc)  # fmt: skip
    return b.create("where", [mask, v, fill], loc=loc)


def concat(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    if v.type.rank == 0:
        return v
    dim = draw(st.integers(0, v.type.rank - 1))
    shape = list(v.type.shape)
    shape[dim] = draw(SIZES)
    count = draw(st.integers(2, 3))
    total = shape[dim] + (count - 1) * v.type.shape[dim]
    if not _fits((*v.type.shape[:dim], total, *v.type.shape[dim + 1 :])):
        return v
    other = weight(draw, b, m, TensorType(tuple(shape), FP32), loc)
    parts = draw(st.permutations([v, other, v][:count]))
    return b.create("concat", list(parts), {"dim": dim}, loc=loc)


def pad(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    n = 2 * v.type.rank
    pads = tuple(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    out = tuple(s + pads[2 * i] + pads[2 * i + 1] for i, s in enumerate(v.type.shape))
    value = draw(st.sampled_from([0.0, -1.0, 0.5]))
    return b.create("pad", [v], {"pads": pads, "value": value}, loc=loc) if _fits(out) else v


def broadcast(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    lead = tuple(draw(st.lists(st.sampled_from([1, 2, 3]), max_size=max(0, 3 - v.type.rank))))
    shape = lead + tuple(draw(st.sampled_from([1, 2, 5])) if d == 1 else d for d in v.type.shape)
    if not _fits(shape):
        return v
    return b.create("broadcast_to", [v], result_type=v.type.with_shape(shape), loc=loc)


def _nchw(draw: st.DrawFn, b: Builder, v: Value, loc: Loc | None) -> Value:
    """``v`` as rank 4: itself, or reshaped to [1, C, H, W] with H*W taken from its last dims."""
    if v.type.rank == 4:
        return v
    shape = v.type.shape
    hw = shape[-2:] if v.type.rank >= 2 else (1, *shape[-1:]) if shape else (1, 1)
    c = max(1, v.type.numel // max(1, math.prod(hw)))
    return b.create("reshape", [v], result_type=v.type.with_shape((1, c, *hw)), loc=loc)


def conv2d(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    x = _nchw(draw, b, v, loc)
    n, c, h, w = x.type.shape
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
    o = groups * draw(st.integers(1, 3))
    pad_, dil, stride = draw(st.integers(0, 1)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kh = draw(st.integers(1, max(1, min(3, (h + 2 * pad_ - 1) // dil + 1))))
    kw = draw(st.integers(1, max(1, min(3, (w + 2 * pad_ - 1) // dil + 1))))
    if dil * (kh - 1) >= h + 2 * pad_ or dil * (kw - 1) >= w + 2 * pad_:
        return v
    wt = weight(draw, b, m, TensorType((o, c // groups, kh, kw), FP32), loc, 0.5)
    bias = [weight(draw, b, m, TensorType((o,), FP32), loc)] if draw(st.booleans()) else []
    attrs = {"stride": (stride,) * 2, "padding": (pad_,) * 2, "dilation": (dil,) * 2}
    if not _fits((n, o, h + 2, w + 2)):
        return v
    return b.create("conv2d", [x, wt, *bias], {**attrs, "groups": groups}, loc=loc)


def pool(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    x = _nchw(draw, b, v, loc)
    h, w = x.type.shape[2:]
    kind = draw(st.sampled_from(["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]))
    if kind == "adaptive_avg_pool2d":
        size = (draw(st.integers(1, h)), draw(st.integers(1, w)))
        return b.create(kind, [x], {"size": size}, loc=loc)
    k = (draw(st.integers(1, min(h, 3))), draw(st.integers(1, min(w, 3))))
    attrs = {
        "kernel": k,
        "stride": (draw(st.integers(1, 2)), draw(st.integers(1, 2))),
        "padding": (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2))),
        "ceil_mode": draw(st.booleans()),
    }
    return b.create(kind, [x], attrs, loc=loc)


def embedding(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    """Rows of ``v`` (rank 2, the table) picked by constant i64 indices."""
    if v.type.rank != 2:
        return v
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3, 7]), max_size=2)))
    if not _fits((*shape, v.type.shape[1])):
        return v
    name = f"c{len(m.consts)}"
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m.consts[name] = rng.integers(0, v.type.shape[0], shape).astype(np.int64)
    ity = TensorType(shape, ElemType("i64"))
    idx = b.create("const", [], {"name": Sym(name)}, result_type=ity, loc=loc)
    return b.create("embedding", [v, idx], loc=loc)


def unary_more(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    """The unary ops the first step table leaves out: log, sqrt, reciprocal, gelu. (``pow`` is
    left out: d1c.accuracy.bounds has no error-bound rule for it, so ``d1c verify`` rejects it.)"""
    name = draw(st.sampled_from(["log", "sqrt", "reciprocal", "gelu"]))
    if name == "gelu":
        approximate = draw(st.sampled_from(["none", "tanh"]))
        return b.create(name, [v], {"approximate": approximate}, loc=loc)
    if draw(st.booleans()):  # mostly a positive operand, so the result is not all NaN
        v = b.create("abs", [v], loc=loc)
    return b.create(name, [v], loc=loc)


def linear(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    """``v`` flattened to [rows, K] times a [K, N] weight with N from the sizes that span tiles
    (67, 131, 257): an unbatched matmul big enough to run on a systolic grid of cores."""
    if v.type.rank < 1 or v.type.numel == 0:
        return v
    rows, k = math.prod(v.type.shape[:-1]), v.type.shape[-1]
    n = draw(st.sampled_from([67, 131, 257]))
    if not (_fits((k, n)) and _fits((rows, n))):
        return v
    flat = b.create("reshape", [v], result_type=v.type.with_shape((rows, k)), loc=loc)
    w = weight(draw, b, m, TensorType((k, n), FP32), loc, k**-0.5)
    return b.create("matmul", [flat, w], loc=loc)


def convert_biased(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    """A round trip through a storage format with a random exponent bias (CFloat8/SHP)."""
    name = draw(st.sampled_from(["cfp8_143", "cfp8_152", "shp", "bf16"]))
    elem = ElemType(name, draw(st.integers(0, 63))) if name != "bf16" else ElemType(name)
    rounding = draw(st.sampled_from(["rne"] * 9 + ["sr"]))  # sr: a CompileError (documented)
    q = b.create("convert", [v], {"rounding": rounding}, v.type.with_elem(elem), loc=loc)
    return b.create("convert", [q], {"rounding": "rne"}, v.type, loc=loc)


GRAPH_STEPS = [
    matmul,
    matmul,
    linear,
    softmax,
    layer_norm,
    batch_norm,
    select,
    causal_mask,
    concat,
    pad,
    broadcast,
    conv2d,
    pool,
    embedding,
    unary_more,
    convert_biased,
]

__all__ = ["GRAPH_STEPS", "MAX_ELEMENTS", "SIZES", "weight"]
