"""``canonicalize`` never changes what a module computes: the reference interpreter gives the
same bits (NaN as NaN) before and after, on random modules full of foldable patterns and on
inputs full of -0.0, ±inf, NaN and denormals. Also ``canonicalize,fold-batchnorm`` against
torch eager on a conv + batch-norm model through the interpreter."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from d1c.interp import interpret
from d1c.ir import (
    FP32,
    I1,
    Builder,
    Function,
    Module,
    TensorType,
    Value,
    parse_module,
    print_module,
)
from d1c.passes import run_pipeline

SPECIAL = np.array(
    [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -3e-39, 1.0, -1.0, -2.5, 0.5, 3e38], np.float32
)
SPLATS = [0.0, -0.0, 1.0, -1.0, 2.0, float("nan"), float("inf")]


def full(b: Builder, value: float, shape: tuple[int, ...], elem=FP32) -> Value:
    return b.create("full", [], {"value": value}, result_type=TensorType(shape, elem))


def unary(draw: st.DrawFn, b: Builder, v: Value, vals: list[Value]) -> Value:
    return b.create(draw(st.sampled_from(["neg", "abs", "relu", "floor", "ceil"])), [v])


def splat_binary(draw: st.DrawFn, b: Builder, v: Value, vals: list[Value]) -> Value:
    name = draw(st.sampled_from(["add", "sub", "mul", "div", "maximum", "minimum"]))
    shape = draw(st.sampled_from([(), (1,) * v.type.rank, v.type.shape]))
    s = full(b, draw(st.sampled_from(SPLATS)), shape)
    return b.create(name, [s, v] if draw(st.booleans()) else [v, s])


def self_binary(draw: st.DrawFn, b: Builder, v: Value, vals: list[Value]) -> Value:
    same = [w for w in vals if w.type == v.type]
    other = draw(st.sampled_from(same))
    return b.create(draw(st.sampled_from(["add", "mul", "maximum", "minimum", "sub"])), [v, other])


def permute(draw: st.DrawFn, b: Builder, v: Value, vals: list[Value]) -> Value:
    return b.create("permute", [v], {"dims": tuple(draw(st.permutations(range(v.type.rank))))})


def reshape(draw: st.DrawFn, b: Builder, v: Value, vals: list[Value]) -> Value:
    s = v.type.shape
    shape = draw(st.sampled_from([(v.type.numel,), s[::-1], (1, *s), s]))
    return b.create("reshape", [v], result_type=v.type.with_shape(shape))


def broadcast(draw: st.DrawFn, b: Builder, v: Value, vals: list[Value]) -> Value:
    shape = draw(st.sampled_from([(2, *v.type.shape), v.type.shape]))
    return b.create("broadcast_to", [v], result_type=v.type.with_shape(shape))


def identity_op(draw: st.DrawFn, b: Builder, v: Value, vals: list[Value]) -> Value:
    kind = draw(st.sampled_from(["convert", "slice", "pad", "concat"]))
    if kind == "convert":
        return b.create("convert", [v], result_type=v.type)
    if kind == "slice" and v.type.rank:
        return b.create("slice", [v], {"dim": 0, "start": 0, "end": v.type.shape[0]})
    if kind == "pad" and v.type.rank:  # (the interpreter rejects pads=[] on rank 0)
        return b.create("pad", [v], {"pads": (0,) * (2 * v.type.rank)})
    return b.create("concat", [v], {"dim": 0}) if v.type.rank else v


def where(draw: st.DrawFn, b: Builder, v: Value, vals: list[Value]) -> Value:
    if draw(st.booleans()):
        cond = full(b, draw(st.sampled_from([0.0, 1.0])), (), I1)
    else:
        cond = b.create("gt", [v, full(b, 0.0, ())])
    other = draw(st.sampled_from([w for w in vals if w.type == v.type]))
    return b.create("where", [cond, v, other])


def splat_source(draw: st.DrawFn, b: Builder, v: Value, vals: list[Value]) -> Value:
    """A ``full`` of v's type, so later steps build constant subexpressions that fold."""
    return full(b, draw(st.sampled_from(SPLATS)), v.type.shape)


def duplicate(draw: st.DrawFn, b: Builder, v: Value, vals: list[Value]) -> Value:
    ops = [op for op in b.func.ops if op.name != "return" and op.result.type.elem == FP32]
    if not ops:
        return v
    op = draw(st.sampled_from(ops))
    return b.create(op.name, op.operands, dict(op.attrs), result_type=op.result.type)


STEPS = [
    unary,
    splat_binary,
    self_binary,
    permute,
    reshape,
    broadcast,
    identity_op,
    where,
    duplicate,
]


@st.composite
def foldable_modules(draw: st.DrawFn) -> Module:
    # 12 elements: the input holds every value of SPECIAL once, in a random order.
    shape = draw(st.sampled_from([(3, 4), (4, 3), (2, 1, 6), (12,), (2, 3, 2), (1, 12)]))
    f = Function("main", [Value(TensorType(shape, FP32), name="x")], [])
    b = Builder(f)
    vals = [f.args[0]]
    for _ in range(draw(st.integers(1, 12))):
        v = draw(st.sampled_from(vals))
        vals.append(draw(st.sampled_from(STEPS))(draw, b, v, vals))
    b.ret([vals[-1], *draw(st.lists(st.sampled_from(vals), max_size=2))])
    return Module("r", [f])


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Bitwise equality, except that any NaN equals any NaN."""
    if a.shape != b.shape or a.dtype != b.dtype or a.dtype != np.float32:
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    bits_a, bits_b = a[~nan_a].view(np.uint32), b[~nan_b].view(np.uint32)
    return bool(np.array_equal(nan_a, nan_b) and np.array_equal(bits_a, bits_b))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(foldable_modules(), st.integers(0, 2**32 - 1))
def test_canonicalize_keeps_interpreter_bits(m: Module, seed: int) -> None:
    text = print_module(m)
    rng = np.random.default_rng(seed)
    x = rng.permutation(SPECIAL).reshape(m.main.args[0].type.shape)
    want = interpret(parse_module(text), [x])
    out = run_pipeline(parse_module(text), "canonicalize")
    printed = print_module(out)
    assert print_module(parse_module(printed)) == printed
    got = interpret(parse_module(printed), [x])  # folded values survive the text round trip
    assert all(same_bits(g, w) for g, w in zip(got, want, strict=True)), text + printed
    assert len(out.main.ops) <= len(m.main.ops)


def check_same_results(text: str, inputs: list[np.ndarray]) -> Module:
    want = interpret(parse_module(text), inputs)
    out = run_pipeline(parse_module(text), "canonicalize")
    got = interpret(out, inputs)
    assert all(same_bits(g, w) for g, w in zip(got, want, strict=True)), text + print_module(out)
    return out


BINARY = ["add", "sub", "mul", "div", "maximum", "minimum"]


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("value", SPLATS)
@pytest.mark.parametrize("left", [False, True])
def test_every_binary_op_with_every_splat_keeps_bits(name: str, value: float, left: bool) -> None:
    """Exhaustive over the splat rules: op(x, full v) and op(full v, x) on every special x."""
    f = Function("main", [Value(TensorType((12,), FP32), name="x")], [])
    b = Builder(f)
    s = full(b, value, ())
    b.ret([b.create(name, [s, f.args[0]] if left else [f.args[0], s])])
    check_same_results(print_module(Module("m", [f])), [SPECIAL])


@pytest.mark.parametrize("outer", ["neg", "abs", "relu", "floor", "ceil"])
@pytest.mark.parametrize("inner", ["neg", "abs", "relu", "floor", "ceil"])
def test_every_pair_of_unary_ops_keeps_bits(outer: str, inner: str) -> None:
    f = Function("main", [Value(TensorType((12,), FP32), name="x")], [])
    b = Builder(f)
    b.ret([b.create(outer, [b.create(inner, [f.args[0]])])])
    out = check_same_results(print_module(Module("m", [f])), [SPECIAL])
    if (outer, inner) == ("neg", "neg"):
        kept = []
    elif outer == inner or (outer, inner) == ("abs", "neg"):
        kept = [outer]
    else:
        kept = [inner, outer]
    assert [op.name for op in out.main.ops] == [*kept, "return"]
