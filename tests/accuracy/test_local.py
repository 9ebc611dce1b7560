"""d1c.accuracy.local: every op of an interpreted quantized module against its own operands.

Sound: on random graphs in bf16, cfp8 and with stochastic rounding no correct interpretation is
ever flagged. Sharp: a value changed by one grid step, a value off the grid, a constant rounded the
wrong way, a matrix product accumulated in bf16, and a stochastic rounding that always rounds to
nearest are each flagged at the op that did it."""

from __future__ import annotations

import ml_dtypes
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from d1c.accuracy.local import first_violation
from d1c.interp import interpret
from d1c.ir import Module, parse_module
from d1c.passes import Context, run_pipeline
from d1c.passes.assign_formats import AssignFormats
from d1c.testing.strategies import graph_modules


def quantize(m: Module, dtype: str, x: list[np.ndarray], rounding: str = "rne") -> Module:
    ctx = Context(calibration=tuple(x))
    return run_pipeline(m, [AssignFormats(dtype=dtype, rounding=rounding)], ctx=ctx)


def traced(q: Module, x: list[np.ndarray]) -> dict:
    trace: dict = {}
    interpret(q, x, trace=trace)
    return trace


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(graph_modules(), st.integers(0, 2**32 - 1), st.sampled_from(["bf16", "cfp8"]), st.booleans())
def test_a_correct_interpretation_is_never_flagged(m: Module, seed: int, dtype: str, sr: bool):
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-3, 3)
    x = [(scale * rng.standard_normal(a.type.shape)).astype(np.float32) for a in m.main.args]
    q = quantize(m, dtype, x, "sr" if sr else "rne")
    assert first_violation(q, traced(q, x), m.consts) is None


MLP = """module @m {
  func @main(%x: tensor<16x64xfp32>) -> (tensor<16x32xfp32>) {
    %0 = const {name = @w} : tensor<64x32xfp32>
    %1 = matmul %x, %0 : tensor<16x32xfp32>
    %2 = add %1, %1 : tensor<16x32xfp32>
    return %2
  }
}
"""


def _mlp(dtype: str = "bf16", rounding: str = "rne") -> tuple[Module, Module, list, dict]:
    rng = np.random.default_rng(0)
    graph = parse_module(MLP, "m.d1")
    graph.consts["w"] = (rng.standard_normal((64, 32)) / 8).astype(np.float32)
    x = [rng.standard_normal((16, 64)).astype(np.float32)]
    q = quantize(graph, dtype, x, rounding)
    return graph, q, x, traced(q, x)


def _op(q: Module, name: str):
    return next(op for op in q.main.ops if op.name == name)


def test_one_grid_step_off_in_a_correctly_rounded_op_is_flagged() -> None:
    graph, q, _, trace = _mlp()
    add = _op(q, "add")
    assert first_violation(q, trace, graph.consts) is None
    bad = trace[add.result].copy()
    bad[3, 4] = np.nextafter(bad[3, 4].astype(ml_dtypes.bfloat16), np.inf).astype(np.float32)
    trace[add.result] = bad
    v = first_violation(q, trace, graph.consts)
    assert v.op is add and v.index == (3, 4) and v.count == 1
    assert "where fp32 arithmetic rounded to nearest bf16 gives" in v.error("rung 2").render()


def test_a_value_off_the_grid_is_flagged() -> None:
    graph, q, _, trace = _mlp("cfp8")
    mm = _op(q, "matmul")
    trace[mm.result] = trace[mm.result] * np.float32(1 + 2.0**-10)
    v = first_violation(q, trace, graph.consts)
    assert v.op is mm and "gives values that are not cfp8_143" in v.why


def test_a_constant_rounded_the_wrong_way_is_flagged() -> None:
    """Stored data truncated (rounded toward zero) instead of rounded to nearest."""
    graph, q, _, _ = _mlp()
    w = graph.consts["w"]
    q.consts["w"] = (w.view(np.uint32) & 0xFFFF0000).view(np.float32)  # bf16 by truncation
    v = first_violation(q, traced(q, [np.zeros((16, 64), np.float32)]), graph.consts)
    assert v.op is _op(q, "const") and "rounded to nearest bf16 is" in v.why


def test_bf16_accumulation_is_outside_the_matmul_bound() -> None:
    graph, q, _, trace = _mlp()
    mm = _op(q, "matmul")
    a, b = (trace[v].astype(np.float32) for v in mm.operands)
    acc = np.zeros((16, 32), np.float32)
    for k in range(64):
        acc = (acc + a[:, k : k + 1] * b[k]).astype(ml_dtypes.bfloat16).astype(np.float32)
    trace[mm.result] = acc
    v = first_violation(q, trace, graph.consts)
    assert v.op is mm and "beyond its rounding bound" in v.why


def test_stochastic_rounding_that_always_rounds_to_nearest_is_flagged() -> None:
    graph, q, x, trace = _mlp(rounding="sr")
    (convert,) = [op for op in q.main.ops if op.attrs.get("rounding") == "sr"]
    assert first_violation(q, trace, graph.consts) is None  # real SR rounds some away
    trace[convert.result] = x[0].astype(ml_dtypes.bfloat16).astype(np.float32)
    v = first_violation(q, trace, graph.consts)
    assert v.op is convert and "rounds every inexact element to nearest" in v.why
