"""layer_norm with eps = 0 on rows that a run-time rounding to the storage format makes
constant: the quantized result is 0/0 = NaN (saturated to the format's max by the final
convert) while the float64 reference is finite, so the bound must be unbounded there; the
rule's "normalised vectors on both sides" caps assumed a finite result (found by ``d1c fuzz
--seed 2``, where a weight and bias of zero hid the NaN from the reference; shrunk by hand)."""

import numpy as np

from d1c.accuracy.bounds import check_within_bound
from d1c.interp import interpret
from d1c.ir import parse_module
from d1c.passes import Context, run_pipeline

GRAPH = """module @m {
  func @main(%x: tensor<2x5xfp32>) -> (tensor<2x5xfp32>) {
    %0 = full {value = 0.0} : tensor<5xfp32>
    %1 = full {value = 16.0} : tensor<fp32>
    %2 = add %x, %1 : tensor<2x5xfp32>
    %3 = layer_norm %2, %0, %0 {ndim = 1, eps = 0.0} : tensor<2x5xfp32>
    return %3
  }
}
"""


def test_rows_rounded_to_constants_at_run_time_are_unbounded() -> None:
    # x is exact in cfp8; x + 16 rounds at run time (ulp 2 at 16), and row 0 becomes all 16.
    x = np.array([[0.0, 0.25, 0.5, 0.75, 0.5], [1.0, 2.0, 3.0, 4.0, 5.0]], np.float32)
    graph = parse_module(GRAPH)
    q = run_pipeline(
        parse_module(GRAPH), "assign-formats{dtype=cfp8}", ctx=Context(calibration=(x,))
    )
    (out,) = interpret(q, [x])
    assert np.all(out[1] == 0)
    ((err, bound, ok),) = check_within_bound(graph, q, [x])
    assert np.all(out[0] == 480.0)  # 0/0 = NaN, saturated to cfp8_143's max
    assert ok and err == 480.0 and bound == np.inf
