"""``assign-formats``: IR before/after (bf16, cfp8 with and without calibration), the bias rule,
constant data against independent rounding oracles, masks, integers, and example invariants."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

from d1c.errors import D1cError
from d1c.frontend import import_model, load_model
from d1c.interp import interpret
from d1c.ir import Module, modules_equal, parse_module, print_module
from d1c.passes import GRAPH_PIPELINE, Context, parse_pipeline, run_pipeline
from d1c.passes.assign_formats import AssignFormats, cfp8_bias

BEFORE = """\
module @m {
  func @main(%x: tensor<2x3xfp32>) -> (tensor<8xfp32>) {
    %0 = const {name = @w} : tensor<3x4xfp32> loc("m.py":1:1)
    %1 = matmul %x, %0 : tensor<2x4xfp32> loc("m.py":2:1)
    %2 = const {name = @b} : tensor<4xfp32>
    %3 = add %1, %2 : tensor<2x4xfp32> loc("m.py":3:1)
    %4 = relu %3 : tensor<2x4xfp32>
    %5 = reshape %4 : tensor<8xfp32>
    return %5
  }
}
"""
W = np.array([[0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 0.5, 0.25]], np.float32)
B = np.array([0.25, -0.25, 0.125, 1.0], np.float32)
X = np.array([[3, 1, 0], [0, -1, 2]], np.float32)

AFTER_BF16 = """\
module @m {
  func @main(%x: tensor<2x3xfp32>) -> (tensor<8xfp32>) {
    %0 = convert %x {rounding = "rne"} : tensor<2x3xbf16>
    %1 = const {name = @w} : tensor<3x4xbf16> loc("m.py":1:1)
    %2 = matmul %0, %1 : tensor<2x4xbf16> loc("m.py":2:1)
    %3 = const {name = @b} : tensor<4xbf16>
    %4 = add %2, %3 : tensor<2x4xbf16> loc("m.py":3:1)
    %5 = relu %4 : tensor<2x4xbf16>
    %6 = reshape %5 : tensor<8xbf16>
    %7 = convert %6 {rounding = "rne"} : tensor<8xfp32>
    return %7
  }
}
"""

# Biases by hand: b = floor(15 + log2(1.875 / (1.25 m))) for observed max m. x: m = 3 -> 14;
# w: 0.5 -> 16; x @ w = [[1.5, .5, 0, 0], [0, -.5, 1, .5]]: 1.5 -> 15; b: 1 -> 15;
# + b = [[1.75, .25, .125, 1], [.25, -.75, 1.125, 1.5]]: 1.75 -> 14. The matmul runs on the
# smallest of 14, 16, 15; the add's operands (14, 15) differ from its result (14): via fp32.
AFTER_CFP8 = """\
module @m {
  func @main(%x: tensor<2x3xfp32>) -> (tensor<8xfp32>) {
    %0 = convert %x {rounding = "rne"} : tensor<2x3xcfp8_143<14>>
    %1 = const {name = @w} : tensor<3x4xcfp8_143<16>> loc("m.py":1:1)
    %2 = convert %1 {rounding = "rne"} : tensor<3x4xcfp8_143<14>> loc("m.py":2:1)
    %3 = matmul %0, %2 : tensor<2x4xcfp8_143<14>> loc("m.py":2:1)
    %4 = const {name = @b} : tensor<4xcfp8_143<15>>
    %5 = convert %3 {rounding = "rne"} : tensor<2x4xfp32> loc("m.py":3:1)
    %6 = convert %4 {rounding = "rne"} : tensor<4xfp32> loc("m.py":3:1)
    %7 = add %5, %6 : tensor<2x4xfp32> loc("m.py":3:1)
    %8 = convert %7 {rounding = "rne"} : tensor<2x4xcfp8_143<14>> loc("m.py":3:1)
    %9 = relu %8 : tensor<2x4xcfp8_143<14>>
    %10 = reshape %9 : tensor<8xcfp8_143<14>>
    %11 = convert %10 {rounding = "rne"} : tensor<8xfp32>
    return %11
  }
}
"""

# No calibration: activations take the default bias 7, constants still their own; sr converts.
AFTER_CFP8_DEFAULT_SR = """\
module @m {
  func @main(%x: tensor<2x3xfp32>) -> (tensor<8xfp32>) {
    %0 = convert %x {rounding = "sr"} : tensor<2x3xcfp8_143<7>>
    %1 = const {name = @w} : tensor<3x4xcfp8_143<16>>
    %2 = convert %1 {rounding = "sr"} : tensor<3x4xcfp8_143<7>>
    %3 = matmul %0, %2 : tensor<2x4xcfp8_143<7>>
    %4 = const {name = @b} : tensor<4xcfp8_143<15>>
    %5 = convert %3 {rounding = "rne"} : tensor<2x4xfp32>
    %6 = convert %4 {rounding = "rne"} : tensor<4xfp32>
    %7 = add %5, %6 : tensor<2x4xfp32>
    %8 = convert %7 {rounding = "sr"} : tensor<2x4xcfp8_143<7>>
    %9 = relu %8 : tensor<2x4xcfp8_143<7>>
    %10 = reshape %9 : tensor<8xcfp8_143<7>>
    %11 = convert %10 {rounding = "rne"} : tensor<8xfp32>
    return %11
  }
}
"""


def graph() -> Module:
    m = parse_module(BEFORE)
    m.consts.update(w=W, b=B)
    return m


def assert_ir(got: Module, expected: str, check_locs: bool = True) -> None:
    want = parse_module(expected, verify=False)
    if not modules_equal(want, got, check_locs=check_locs, check_data=False):
        pytest.fail(f"IR differs.\n--- got:\n{print_module(got, elide_data=True)}")


def cfp8_nearest(x: np.ndarray, bias: int) -> np.ndarray:
    """Round to nearest cfp8_143<bias> value (ties to the even code) by brute force over the
    code table built from the format's definition (normal (1 + m/8)·2^(e - bias), denormal
    m/8·2^(1 - bias))."""
    codes = np.arange(128)
    e, m = codes >> 3, codes & 7
    mags = np.where(e == 0, m / 8 * 2.0 ** (1 - bias), (1 + m / 8) * 2.0 ** (e - bias))
    out = np.empty(x.size)
    for i, v in enumerate(np.abs(x.astype(np.float64)).ravel()):
        d = np.abs(mags - v)
        best = np.flatnonzero(d == d.min())
        out[i] = mags[best[0] if len(best) == 1 or best[0] % 2 == 0 else best[1]]
    return (np.sign(x) * out.reshape(x.shape)).astype(np.float32)


def test_bf16_before_after() -> None:
    q = run_pipeline(graph(), [AssignFormats()])
    assert_ir(q, AFTER_BF16)
    for name, data in (("w", W), ("b", B)):
        want = data.astype(ml_dtypes.bfloat16).astype(np.float32)
        assert q.consts[name].dtype == np.float32
        assert np.array_equal(q.consts[name], want)


def test_bf16_interpreted_matches_an_emulation() -> None:
    """bf16 inputs, fp32 sequential accumulation, one bf16 rounding per op (ml_dtypes)."""

    def bf(v: np.ndarray) -> np.ndarray:
        return np.asarray(v, np.float32).astype(ml_dtypes.bfloat16).astype(np.float32)

    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    xb, wb = bf(x), bf(W)
    acc = np.zeros((2, 4), np.float32)
    for k in range(3):
        acc = acc + xb[:, k : k + 1] * wb[k : k + 1, :]
    want = np.maximum(bf(bf(acc) + bf(B)), 0).reshape(8)
    (got,) = interpret(run_pipeline(graph(), [AssignFormats()]), [x])
    assert np.array_equal(got, want)


def test_cfp8_with_calibration_before_after() -> None:
    q = run_pipeline(graph(), [AssignFormats(dtype="cfp8")], ctx=Context(calibration=(X,)))
    assert_ir(q, AFTER_CFP8)
    assert np.array_equal(q.consts["w"], cfp8_nearest(W, 16))
    assert np.array_equal(q.consts["b"], cfp8_nearest(B, 15))
    (got,) = interpret(q, [X])  # every value of this example is exact in its format
    assert np.array_equal(got, np.maximum(X @ W + B, 0).reshape(8))


def test_cfp8_without_calibration_and_stochastic_converts() -> None:
    q = run_pipeline(graph(), [AssignFormats(dtype="cfp8", rounding="sr")])
    assert_ir(q, AFTER_CFP8_DEFAULT_SR, check_locs=False)


def test_the_input_module_is_left_untouched() -> None:
    m = graph()
    before = print_module(m)
    AssignFormats(dtype="cfp8").apply(m, Context(calibration=(X,)))
    assert print_module(m) == before


@pytest.mark.parametrize(
    ("maxabs", "bias"),
    [
        *[(3.0, 14), (0.5, 16), (1.5, 15), (1.0, 15), (384.0, 7), (385.0, 6), (1e-10, 48)],
        *[(49152.0, 0), (49153.0, None), (math.inf, None), (0.0, 7)],
    ],
)
def test_bias_rule(maxabs: float, bias: int | None) -> None:
    """Hand values of floor(15 + log2(1.5 / m)), the largest bias with 1.875·2^(15-b) >= 1.25m."""
    assert cfp8_bias(maxabs) == bias


MASKED = """\
module @m {
  func @main(%s: tensor<2x4xfp32>) -> (tensor<2x4xfp32>) {
    %0 = const {name = @mask} : tensor<2x4xi1>
    %1 = full {value = -inf} : tensor<2x4xfp32>
    %2 = where %0, %s, %1 : tensor<2x4xfp32>
    %3 = softmax %2 {dim = 1} : tensor<2x4xfp32>
    return %3
  }
}
"""


def test_cfp8_keeps_minus_inf_masks_in_bf16() -> None:
    """CFloat has no -inf: a -inf fill (and the masked scores) are stored as bf16 (the cfp8
    scores convert to bf16 exactly), so masked entries still get probability exactly 0."""
    m = parse_module(MASKED)
    m.consts["mask"] = np.array([[1, 1, 0, 1], [1, 0, 0, 0]], bool)
    s = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    q = run_pipeline(m, [AssignFormats(dtype="cfp8")], ctx=Context(calibration=(s,)))
    types = {op.name: str(op.result.type.elem) for op in q.main.ops[:-1]}
    assert types["full"] == "bf16" and types["where"] == "bf16"
    softmax = next(op for op in q.main.ops if op.name == "softmax")  # bf16 in, cfp8 out: fp32
    (encode,) = q.main.uses()[softmax.result]
    assert types["softmax"] == "fp32" and encode.result.type.elem.name == "cfp8_143"
    (got,) = interpret(q, [s])
    assert np.all(got[~m.consts["mask"]] == 0) and np.all(got[m.consts["mask"]] > 0)


INTEGERS = """\
module @m {
  func @main(%ids: tensor<2x3xi64>, %x: tensor<2x3x4xfp32>) -> (tensor<2x3x4xfp32>, tensor<2x3xi1>) {
    %0 = const {name = @emb} : tensor<5x4xfp32>
    %1 = embedding %0, %ids : tensor<2x3x4xfp32>
    %2 = convert %x {rounding = "rne"} : tensor<2x3x4xfp16>
    %3 = convert %2 {rounding = "rne"} : tensor<2x3x4xfp32>
    %4 = add %1, %3 : tensor<2x3x4xfp32>
    %5 = reduce_sum %4 {dims = [2], keepdim = false} : tensor<2x3xfp32>
    %6 = full {value = 0.0} : tensor<fp32>
    %7 = gt %5, %6 : tensor<2x3xi1>
    return %4, %7
  }
}
"""

INTEGERS_BF16 = """\
module @m {
  func @main(%ids: tensor<2x3xi64>, %x: tensor<2x3x4xfp32>) -> (tensor<2x3x4xfp32>, tensor<2x3xi1>) {
    %0 = convert %x {rounding = "rne"} : tensor<2x3x4xbf16>
    %1 = const {name = @emb} : tensor<5x4xbf16>
    %2 = embedding %1, %ids : tensor<2x3x4xbf16>
    %3 = convert %0 {rounding = "rne"} : tensor<2x3x4xfp16>
    %4 = convert %3 {rounding = "rne"} : tensor<2x3x4xbf16>
    %5 = add %2, %4 : tensor<2x3x4xbf16>
    %6 = reduce_sum %5 {dims = [2], keepdim = false} : tensor<2x3xbf16>
    %7 = full {value = 0.0} : tensor<bf16>
    %8 = gt %6, %7 : tensor<2x3xi1>
    %9 = convert %5 {rounding = "rne"} : tensor<2x3x4xfp32>
    return %9, %8
  }
}
"""


def test_integers_and_explicit_graph_formats_keep_their_types() -> None:
    m = parse_module(INTEGERS)
    m.consts["emb"] = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    assert_ir(run_pipeline(m, [AssignFormats()]), INTEGERS_BF16)


def test_pipeline_options_and_errors() -> None:
    (p,) = parse_pipeline("assign-formats{dtype=cfp8, rounding=sr}")
    assert (p.dtype, p.rounding) == ("cfp8", "sr")
    with pytest.raises(D1cError, match="dtype must be one of bf16, cfp8"):
        run_pipeline(graph(), "assign-formats{dtype=fp8}")
    with pytest.raises(D1cError, match=r"calibration input 0 is float64\[2, 3\]"):
        run_pipeline(
            graph(), "assign-formats{dtype=cfp8}", ctx=Context(calibration=(X.astype(np.float64),))
        )
    m = graph()
    del m.consts["w"]
    with pytest.raises(D1cError, match="constant @w has no data"):
        run_pipeline(m, [AssignFormats()])


@pytest.fixture(scope="module")
def gpt_block() -> tuple[Module, list[np.ndarray]]:
    m = run_pipeline(import_model("examples/gpt_block.py"), GRAPH_PIPELINE)
    _, inputs = load_model("examples/gpt_block.py")
    return m, [t.numpy() for t in inputs]


@pytest.mark.parametrize("dtype", ["bf16", "cfp8"])
def test_example_invariants(gpt_block: tuple[Module, list[np.ndarray]], dtype: str) -> None:
    """Signature kept; matrix-unit operands in storage formats; fp32 values only at the
    boundary or between a decode and an encode; the result is deterministic and runs."""
    m, x = gpt_block
    ctx = Context(calibration=tuple(x))
    q = run_pipeline(m, [AssignFormats(dtype=dtype)], ctx=ctx)
    assert [a.type for a in q.main.args] == [a.type for a in m.main.args]
    assert q.main.result_types == m.main.result_types
    uses = q.main.uses()
    for op in q.main.ops[:-1]:
        if op.name in ("matmul", "conv2d"):
            assert {v.type.elem.name for v in op.operands} <= {"bf16", "cfp8_143"}
        if str(op.result.type.elem) == "fp32" and op.name != "convert":
            assert all(u.name == "convert" for u in uses[op.result]), op.name
    assert {str(op.result.type.elem) for op in q.main.ops if op.name == "embedding"} != {"fp32"}
    again = run_pipeline(m, [AssignFormats(dtype=dtype)], ctx=ctx)
    assert print_module(again) == print_module(q)
    got = interpret(q, x)
    assert [g.shape for g in got] == [t.shape for t in q.main.result_types]
