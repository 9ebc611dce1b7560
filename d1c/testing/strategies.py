"""Hypothesis strategies that generate valid d1c IR.

``graph_modules()`` draws whole verified modules of graph IR: random arguments (ranks 0..4, sizes
including 1 and primes), then a random chain of ops from the op table (elementwise with
broadcasting, reductions, layout ops, conversions to storage formats, constants with data), each
with a random source location. Use them to check properties that must hold for every module:

    from hypothesis import given
    from d1c.testing.strategies import graph_modules

    @given(graph_modules())
    def test_round_trip(m):
        assert print_module(parse_module(print_module(m))) == print_module(m)
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from d1c.errors import Loc
from d1c.ir import FP32, Builder, ElemType, Function, Module, Sym, TensorType, Value, verify_module

DIMS = st.sampled_from([1, 2, 3, 4, 5, 7])
UNARY = ["neg", "abs", "exp", "tanh", "sigmoid", "erf", "relu", "rsqrt", "silu"]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum"]
STORAGE = [
    ElemType("bf16"),
    ElemType("fp16"),
    ElemType("cfp8_143", 7),
    ElemType("cfp8_152", 15),
    ElemType("shp", 15),
]


@st.composite
def shapes(draw: st.DrawFn, min_rank: int = 0, max_rank: int = 4) -> tuple[int, ...]:
    return tuple(draw(st.lists(DIMS, min_size=min_rank, max_size=max_rank)))


@st.composite
def locs(draw: st.DrawFn) -> Loc | None:
    if draw(st.booleans()):
        return None
    return Loc(
        draw(st.sampled_from(["model.py", "examples/m.py", "a b/c.py"])),
        draw(st.integers(1, 999)),
        draw(st.integers(1, 80)),
    )


def _unary(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    return b.create(draw(st.sampled_from(UNARY)), [v], loc=loc)


def _binary(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    # The other operand has a shape that broadcasts with v: drop leading dims and set some to 1.
    keep = draw(st.integers(0, v.type.rank))
    shape = tuple(1 if draw(st.booleans()) else d for d in v.type.shape[v.type.rank - keep :])
    other = _const(draw, b, m, TensorType(shape, FP32), loc)
    args = [v, other] if draw(st.booleans()) else [other, v]
    return b.create(draw(st.sampled_from(BINARY)), args, loc=loc)


def _reduce(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    dims = sorted(draw(st.sets(st.integers(0, max(v.type.rank - 1, 0)), max_size=v.type.rank)))
    name = draw(st.sampled_from(["reduce_sum", "reduce_mean", "reduce_max", "reduce_min"]))
    return b.create(name, [v], {"dims": tuple(dims), "keepdim": draw(st.booleans())}, loc=loc)


def _permute(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    dims = draw(st.permutations(range(v.type.rank)))
    return b.create("permute", [v], {"dims": tuple(dims)}, loc=loc)


def _reshape(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    n = v.type.numel
    first = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0] or [1]))
    shape = (first, n // first) if draw(st.booleans()) else (n,)
    return b.create("reshape", [v], result_type=v.type.with_shape(shape), loc=loc)


def _slice(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    if v.type.rank == 0:
        return v
    dim = draw(st.integers(0, v.type.rank - 1))
    size = v.type.shape[dim]
    start = draw(st.integers(0, size - 1))
    end = draw(st.integers(start + 1, size))
    attrs = {"dim": dim, "start": start, "end": end, "step": draw(st.integers(1, 3))}
    return b.create("slice", [v], attrs, loc=loc)


def _convert(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    q = b.create(
        "convert",
        [v],
        {"rounding": "rne"},
        v.type.with_elem(draw(st.sampled_from(STORAGE))),
        loc=loc,
    )
    return b.create("convert", [q], {"rounding": "rne"}, v.type, loc=loc)


def _const(draw: st.DrawFn, b: Builder, m: Module, ty: TensorType, loc: Loc | None) -> Value:
    if draw(st.booleans()):
        value = draw(st.floats(-4, 4, width=32))
        return b.create("full", [], {"value": value}, result_type=ty, loc=loc)
    name = f"c{len(m.consts)}"
    seed = draw(st.integers(0, 2**32 - 1))
    m.consts[name] = np.random.default_rng(seed).standard_normal(ty.shape).astype(np.float32)
    return b.create("const", [], {"name": Sym(name)}, result_type=ty, loc=loc)


STEPS = [_unary, _binary, _reduce, _permute, _reshape, _slice, _convert]


@st.composite
def graph_modules(draw: st.DrawFn, max_ops: int = 8) -> Module:
    """A verified graph-IR module with fp32 arguments and results."""
    args = [
        Value(TensorType(draw(shapes()), FP32), name=f"x{i}")
        for i in range(draw(st.integers(1, 3)))
    ]
    func = Function("main", args, [])
    module = Module(draw(st.sampled_from(["m", "model", "fuzz.case"])), [func])
    b = Builder(func)
    live = list(args)
    for _ in range(draw(st.integers(1, max_ops))):
        v = draw(st.sampled_from(live))
        step = draw(st.sampled_from(STEPS))
        live.append(step(draw, b, module, v, draw(locs())))
    outputs = draw(
        st.lists(st.sampled_from(live[len(args) :] or live), min_size=1, max_size=3, unique=True)
    )
    b.ret(outputs)
    verify_module(module)
    return module
