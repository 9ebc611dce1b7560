"""The float64 reference does not depend on memory layout, so a graph and its quantized module
(where converts copy values into other layouts) have the same reference. Two cases found by
``d1c fuzz``, where ``d1c verify`` failed with "the quantized module does not compute its graph"
(these are their shrunk reproducers):

- ``matmul(x, permute(x))``: numpy evaluates ``x @ x.T`` (one buffer) with BLAS syrk, whose sums
  round differently from gemm's (``--seed 2``);
- ``softmax`` of a ``broadcast_to``: the convert of a broadcast view kept a strided layout, and
  numpy sums a strided axis sequentially but a contiguous one pairwise (``--seed 7``)."""

import numpy as np

from d1c.accuracy.bounds import check_within_bound
from d1c.accuracy.ref64 import reference64
from d1c.ir import parse_module
from d1c.passes import Context, run_pipeline

GRAPH = """module @m {
  func @main(%x: tensor<31x67xfp32>) -> (tensor<31x31xfp32>) {
    %0 = permute %x {dims = [1, 0]} : tensor<67x31xfp32>
    %1 = matmul %x, %0 : tensor<31x31xfp32>
    return %1
  }
}
"""


def _x() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((31, 67)).astype(np.float32)


def test_reference_of_x_times_x_transposed_is_the_gemm_result() -> None:
    x = _x()
    (ref,) = reference64(parse_module(GRAPH), [x])
    x64 = x.astype(np.float64)
    want = np.matmul(np.array(x64), np.array(x64.T, order="C"))  # two buffers: gemm
    assert np.array_equal(ref, want)


def test_quantized_x_times_x_transposed_is_checked_against_its_bound() -> None:
    graph, x = parse_module(GRAPH), [_x()]
    quantized = run_pipeline(
        parse_module(GRAPH), "assign-formats{dtype=cfp8}", ctx=Context(calibration=tuple(x))
    )
    (c,) = check_within_bound(graph, quantized, x)
    assert c.ok() and 0 < c.err <= c.allowed


BROADCAST = """module @m {
  func @main(%x: tensor<257xfp32>) -> (tensor<1x2x257xfp32>) {
    %0 = broadcast_to %x : tensor<1x2x257xfp32>
    %1 = softmax %0 {dim = 2} : tensor<1x2x257xfp32>
    return %1
  }
}
"""


def test_quantized_softmax_of_a_broadcast_is_checked_against_its_bound() -> None:
    graph = parse_module(BROADCAST)
    x = [np.random.default_rng(0).standard_normal(257).astype(np.float32)]
    quantized = run_pipeline(
        parse_module(BROADCAST), "assign-formats{dtype=cfp8}", ctx=Context(calibration=tuple(x))
    )
    (c,) = check_within_bound(graph, quantized, x)
    assert c.ok() and 0 < c.err <= c.allowed
