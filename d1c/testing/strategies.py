"""Hypothesis strategies that generate valid d1c inputs: IR modules, targets, torch models,
ISA programs and mutations of valid texts. They are public: use them to fuzz your own
passes or targets, as ``d1c fuzz`` does.

``graph_modules()`` draws whole verified modules of graph IR: random arguments (ranks 0..4, sizes
including 1 and primes, or with ``sizes=graph_steps.SIZES`` sizes such as 67 and 131 that do not
divide the tile sizes), then a random chain of ops: elementwise with broadcasting, reductions,
layout ops, conversions to storage formats (random CFloat biases), constants with data, and the
composite ops of :mod:`d1c.testing.graph_steps` (matmul, softmax, layer_norm, batch_norm,
compare/where, causal masks, concat, pad, conv2d, pools, embedding), each with a random source
location. Use them to check properties that must hold for every module:

    from hypothesis import given
    from d1c.testing.strategies import graph_modules

    @given(graph_modules())
    def test_round_trip(m):
        assert print_module(parse_module(print_module(m))) == print_module(m)

``tiled_modules()`` draws modules of the tiled level instead: primitive ops only, within their
constraints, on small shapes — the input of ``tile``/``place``/``build_program`` for differential
tests of the backend against the interpreter (tests/codegen/test_backend.py).

Also here (from sibling modules): ``target_specs()`` random mini-like targets
(:mod:`d1c.testing.targets`), ``asm_programs()`` random assembly programs
(:mod:`d1c.testing.programs`), ``mutated_texts(text)`` and ``mutated_d1x(data)`` mutations of
valid IR/assembly text and ``.d1x`` bytes (:mod:`d1c.testing.mutations`). Random torch models,
``torch_recipes()``, live in :mod:`d1c.testing.torch_models` (it imports torch).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from d1c.errors import Loc
from d1c.ir import FP32, Builder, ElemType, Function, Module, Sym, TensorType, Value, verify_module
from d1c.testing.graph_steps import GRAPH_STEPS, MAX_ELEMENTS
from d1c.testing.mutations import mutated_d1x, mutated_texts
from d1c.testing.programs import asm_programs
from d1c.testing.targets import target_specs

__all__ = [
    "asm_programs",
    "graph_modules",
    "mutated_d1x",
    "mutated_texts",
    "shapes",
    "target_specs",
    "tiled_modules",
]

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
def shapes(
    draw: st.DrawFn,
    min_rank: int = 0,
    max_rank: int = 4,
    sizes: st.SearchStrategy[int] = DIMS,
    max_elements: int = MAX_ELEMENTS,
) -> tuple[int, ...]:
    """A shape of ``sizes``; leading dims are dropped while it holds more than ``max_elements``."""
    dims = draw(st.lists(sizes, min_size=min_rank, max_size=max_rank))
    while len(dims) > min_rank and int(np.prod(dims)) > max_elements:
        dims.pop(0)
    return tuple(dims)


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


STEPS = [_unary, _binary, _reduce, _permute, _reshape, _slice, _convert, *GRAPH_STEPS]


@st.composite
def graph_modules(
    draw: st.DrawFn, max_ops: int = 8, sizes: st.SearchStrategy[int] = DIMS
) -> Module:
    """A verified graph-IR module with fp32 arguments and results; argument dims from ``sizes``
    (e.g. :data:`d1c.testing.graph_steps.SIZES`, which has sizes that do not divide tiles)."""
    args = [
        Value(TensorType(draw(shapes(sizes=sizes)), FP32), name=f"x{i}")
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


# ---------------------------------------------------------------------------- tiled-level IR
# ``tiled_modules()`` draws modules of the tiled level (docs/lowering.md §2): only primitive ops
# within their constraints (matmul on storage formats with an fp32 result, reductions along the
# last dim, i1 as compare results, integer tensors as embedding indices), fp32 arguments that the
# first ops convert to storage formats, and small shapes so that compiling and simulating one
# module takes a fraction of a second.

TILED_UNARY = [*UNARY, "reciprocal", "log", "sqrt", "gelu"]
TILED_FORMATS = [FP32, *STORAGE]
COMPARES = ["eq", "ne", "lt", "le", "gt", "ge"]


def _data(draw: st.DrawFn, ty: TensorType) -> np.ndarray:
    """Random contents of ``ty`` that the type holds exactly (the interpreter checks)."""
    from d1c.isa.numerics import quantize

    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    name = ty.elem.name
    if name == "i1":
        return rng.integers(0, 2, ty.shape).astype(bool)
    if ty.elem.is_int:
        return rng.integers(-3, 4, ty.shape).astype(ty.elem.host_dtype)
    x = (rng.standard_normal(ty.shape) * 2).astype(np.float32)
    if name == "fp32":
        return x
    return quantize(x, name, bias=ty.elem.bias).reshape(ty.shape)


def _tconst(draw: st.DrawFn, b: Builder, m: Module, ty: TensorType) -> Value:
    """A ``const`` with data, or a ``full`` (a vfill kernel) of type ``ty``."""
    if draw(st.booleans()):
        values = [0.0, -0.0, 1.0, -2.5, 0.1, 3.0] if ty.elem.is_float else [0.0, 1.0, -2.0]
        value = draw(st.sampled_from(values))
        return b.create("full", [], {"value": value}, result_type=ty)
    name = f"c{len(m.consts)}"
    m.consts[name] = _data(draw, ty)
    return b.create("const", [], {"name": Sym(name)}, result_type=ty)


def _bshape(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts to ``shape``: leading dims dropped, some dims set to 1."""
    keep = draw(st.integers(0, len(shape)))
    return tuple(1 if draw(st.booleans()) else d for d in shape[len(shape) - keep :])


def _t_unary(draw: st.DrawFn, b: Builder, m: Module, v: Value) -> Value:
    if v.type.elem.name == "i1":
        return b.create("logical_not", [v])
    name = draw(st.sampled_from(TILED_UNARY if v.type.elem.is_float else ["neg", "abs", "relu"]))
    attrs = {"approximate": draw(st.sampled_from(["none", "tanh"]))} if name == "gelu" else {}
    return b.create(name, [v], attrs)


def _t_binary(draw: st.DrawFn, b: Builder, m: Module, v: Value) -> Value:
    other = _tconst(draw, b, m, TensorType(_bshape(draw, v.type.shape), v.type.elem))
    args = [v, other] if draw(st.booleans()) else [other, v]
    if v.type.elem.name == "i1":
        return b.create(draw(st.sampled_from(["logical_and", "logical_or", "add", "mul"])), args)
    ops = BINARY if v.type.elem.is_float else ["add", "sub", "mul", "maximum", "minimum"]
    return b.create(draw(st.sampled_from([*ops, "logical_and", "logical_or"])), args)


def _t_select(draw: st.DrawFn, b: Builder, m: Module, v: Value) -> Value:
    """A comparison (i1), sometimes feeding a ``where`` between v and a broadcast constant."""
    other = _tconst(draw, b, m, TensorType(_bshape(draw, v.type.shape), v.type.elem))
    cond = b.create(draw(st.sampled_from(COMPARES)), [v, other])
    if draw(st.booleans()):
        return cond
    alt = _tconst(draw, b, m, TensorType(_bshape(draw, v.type.shape), v.type.elem))
    return b.create("where", [cond, v, alt] if draw(st.booleans()) else [cond, alt, v])


def _t_convert(draw: st.DrawFn, b: Builder, m: Module, v: Value) -> Value:
    elem = draw(st.sampled_from([*TILED_FORMATS, ElemType("i1")]))
    if not v.type.elem.is_float and elem.name == "i1":
        elem = FP32
    return b.create("convert", [v], {"rounding": "rne"}, v.type.with_elem(elem))


def _t_reduce(draw: st.DrawFn, b: Builder, m: Module, v: Value) -> Value:
    if v.type.rank == 0 or v.type.elem.name in ("i32", "i64"):
        return v
    name = draw(st.sampled_from(["reduce_sum", "reduce_max", "reduce_min"]))
    attrs = {"dims": (v.type.rank - 1,), "keepdim": draw(st.booleans())}
    return b.create(name, [v], attrs)


def _t_movement(draw: st.DrawFn, b: Builder, m: Module, v: Value) -> Value:
    step = draw(st.sampled_from([_permute, _reshape, _slice, _t_broadcast, _t_concat, _t_pad]))
    return step(draw, b, m, v, None)


def _t_broadcast(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    lead = tuple(draw(st.lists(st.sampled_from([1, 2, 3]), max_size=max(0, 3 - v.type.rank))))
    shape = lead + tuple(draw(st.sampled_from([1, 2, 4])) if d == 1 else d for d in v.type.shape)
    return b.create("broadcast_to", [v], result_type=v.type.with_shape(shape), loc=loc)


def _t_concat(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    if v.type.rank == 0:
        return v
    dim = draw(st.integers(0, v.type.rank - 1))
    shape = list(v.type.shape)
    shape[dim] = draw(DIMS)
    other = _tconst(draw, b, m, v.type.with_shape(tuple(shape)))
    args = draw(st.permutations([v, other, v][: draw(st.integers(2, 3))]))
    return b.create("concat", list(args), {"dim": dim}, loc=loc)


def _t_pad(draw: st.DrawFn, b: Builder, m: Module, v: Value, loc: Loc | None) -> Value:
    pads = tuple(
        draw(st.lists(st.integers(0, 2), min_size=2 * v.type.rank, max_size=2 * v.type.rank))
    )
    value = draw(st.sampled_from([0.0, -1.0, 0.5]))
    return b.create("pad", [v], {"pads": pads, "value": value}, loc=loc)


def _t_matmul(draw: st.DrawFn, b: Builder, m: Module, v: Value) -> Value:
    if v.type.rank not in (2, 3) or not v.type.elem.is_float:
        return v
    if v.type.elem == FP32:
        v = b.create(
            "convert", [v], {"rounding": "rne"}, v.type.with_elem(draw(st.sampled_from(STORAGE)))
        )
    k, n = v.type.shape[-1], draw(DIMS)
    batch = v.type.shape[:-2] if draw(st.booleans()) else ()
    w = _tconst(draw, b, m, TensorType((*batch, k, n), v.type.elem))
    args = [v, w]
    out = (*v.type.shape[:-1], n)
    return b.create("matmul", args, result_type=TensorType(out, FP32))


def _t_embedding(draw: st.DrawFn, b: Builder, m: Module, v: Value) -> Value:
    if v.type.rank != 2 or not v.type.elem.is_float:
        return v
    name = f"c{len(m.consts)}"
    shape = draw(shapes(0, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m.consts[name] = rng.integers(0, v.type.shape[0], shape).astype(np.int64)
    idx = b.create("const", [], {"name": Sym(name)}, result_type=TensorType(shape, ElemType("i64")))
    return b.create("embedding", [v, idx])


TILED_STEPS = [
    _t_unary,
    _t_binary,
    _t_select,
    _t_convert,
    _t_reduce,
    _t_movement,
    _t_matmul,
    _t_embedding,
]


@st.composite
def tiled_modules(draw: st.DrawFn, max_ops: int = 5) -> Module:
    """A verified module of tiled-level primitive ops on small shapes (ranks 0..4).

    Arguments are fp32 (the host packs them: the first op converts some of them to a storage
    format); results are any values computed (floats of every format, i1, integers).
    """
    func = Function("main", [], [])
    module = Module("tiled", [func])
    b = Builder(func)
    for i in range(draw(st.integers(1, 2))):
        arg = Value(TensorType(draw(shapes()), FP32), name=f"x{i}")
        func.args.append(arg)
    live = [
        b.create(
            "convert", [a], {"rounding": "rne"}, a.type.with_elem(draw(st.sampled_from(STORAGE)))
        )
        if draw(st.booleans())
        else a
        for a in func.args
    ]
    for _ in range(draw(st.integers(1, max_ops))):
        v = draw(st.sampled_from(live))
        live.append(draw(st.sampled_from(TILED_STEPS))(draw, b, module, v))
    made = [v for v in live if v.owner is not None] or [_t_unary(draw, b, module, live[-1])]
    b.ret(draw(st.lists(st.sampled_from(made), min_size=1, max_size=3, unique=True)))
    verify_module(module)
    return module
