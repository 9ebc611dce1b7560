"""The float64 reference of ``matmul`` does not depend on memory layout: numpy evaluates
``x @ x.T`` (one buffer) with BLAS syrk, whose sums round differently from gemm's, so the graph
``matmul(x, permute(x))`` and its quantized module (where a convert copies the operand) had
different references and ``d1c verify`` failed with "the quantized module does not compute its
graph" (found by ``d1c fuzz --seed 2``; this is its shrunk reproducer)."""

import numpy as np

from d1c.bounds import check_within_bound
from d1c.ir import parse_module
from d1c.passes import Context, run_pipeline
from d1c.ref64 import reference64

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
    ((err, bound, ok),) = check_within_bound(graph, quantized, x)
    assert ok and 0 < err <= bound
