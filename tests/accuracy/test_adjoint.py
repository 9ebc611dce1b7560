"""d1c.accuracy.adjoint: the a posteriori bound holds on random graphs (bf16, cfp8), its
linearisations are exact where they claim to be (the remainders of secant rules are float64
noise), and it is within a small factor of the observed error where forward propagation is not
(a stack of matrix products)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from d1c.accuracy.adjoint import adjoint_bound
from d1c.accuracy.adjoint_rules import LINEAR
from d1c.accuracy.bound_rules import data_error
from d1c.accuracy.bounds import bound_values, bounded_outputs
from d1c.accuracy.local import check_locally
from d1c.interp import interpret
from d1c.ir import FP32, Builder, Function, Module, Sym, TensorType, Value
from d1c.passes import Context, run_pipeline
from d1c.passes.assign_formats import AssignFormats
from d1c.testing.strategies import graph_modules


def _bounds(m: Module, dtype: str, x: list[np.ndarray]):
    q = run_pipeline(m, [AssignFormats(dtype=dtype)], ctx=Context(calibration=tuple(x)))
    trace: dict = {}
    outs = interpret(q, x, trace=trace)
    values = bound_values(m, q, x)
    local = check_locally(q, trace, m.consts)
    adj = adjoint_bound(q, trace, values, local, work=1e9)
    return q, outs, values, adj


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(graph_modules(), st.integers(0, 2**32 - 1), st.sampled_from(["bf16", "cfp8"]))
def test_the_adjoint_bound_holds_on_random_graphs(m: Module, seed: int, dtype: str) -> None:
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-3, 3)
    x = [(scale * rng.standard_normal(a.type.shape)).astype(np.float32) for a in m.main.args]
    q, outs, values, adj = _bounds(m, dtype, x)
    if adj is None:
        return
    for out, v, b in zip(outs, q.main.ret.operands, adj, strict=True):
        assert np.all(data_error(out, values[v].ref) <= b)


def stack(depth: int, width: int = 64) -> Module:
    """x -> relu(x W_1) W_2 ... : forward propagation loses |W|'s cancellations at each layer."""
    x = Value(TensorType((8, width), FP32), name="x")
    f = Function("main", [x], [])
    m, b, v = Module("stack", [f]), Builder(f), x
    rng = np.random.default_rng(depth)
    for i in range(depth):
        m.consts[f"w{i}"] = (rng.standard_normal((width, width)) * 1.4 / width**0.5).astype(
            np.float32
        )
        w = b.create(
            "const", [], {"name": Sym(f"w{i}")}, result_type=TensorType((width,) * 2, FP32)
        )
        v = b.create("matmul", [v, w])
        v = b.create("relu", [v]) if i < depth - 1 else v
    b.ret([v])
    return m


@pytest.mark.parametrize("dtype", ["bf16", "cfp8"])
def test_deep_stacks_stay_tight(dtype: str) -> None:
    """Ten layers: the forward bound is hundreds of times the observed error, the adjoint bound
    a few times (measured 3-6x)."""
    m = stack(10)
    x = [np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)]
    q, (out,), values, (adj,) = _bounds(m, dtype, x)
    (fwd,) = bounded_outputs(m, q, x, values)
    v = q.main.ret.operands[0]
    err = data_error(out, values[v].ref)
    assert np.all(err <= adj) and adj.max() <= 10 * err.max() < fwd.err.max() / 20


def test_secant_rules_have_no_remainder() -> None:
    """For ops with exact secants, A Δ is the whole change: op(t) - op(y) - A Δ is float64
    noise."""
    from d1c.accuracy import ref64
    from d1c.ir import parse_module

    text = """module @m {
  func @main(%a: tensor<4x5xfp32>, %b: tensor<4x5xfp32>) -> (tensor<4x5xfp32>) {
    %0 = mul %a, %b : tensor<4x5xfp32>
    return %0
  }
}
"""
    rng = np.random.default_rng(3)
    for name in ("mul", "div", "add", "sub", "maximum", "tanh", "exp", "relu", "gelu"):
        m = parse_module(
            text.replace(
                "mul %a, %b",
                f"{name} %a, %b"
                if name in ("mul", "div", "add", "sub", "maximum")
                else f"{name} %a",
            )
        )
        op = m.main.ops[0]
        y = [rng.standard_normal((4, 5)) + 3 for _ in op.operands]
        t = [a + 1e-3 * rng.standard_normal((4, 5)) for a in y]
        lin = LINEAR[name](op, t, y, [False] * len(y))
        change = ref64.evaluate_op(op, t, {}) - ref64.evaluate_op(op, y, {})
        assert np.allclose(lin.jvp([a - b for a, b in zip(t, y, strict=True)]), change,
                           rtol=1e-9, atol=1e-14), name  # fmt: skip
