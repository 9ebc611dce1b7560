"""canonicalize: matmul(a, broadcast_to(w)) reads w directly (torch's expand + bmm pattern)."""

import numpy as np

from d1c.interp import interpret
from d1c.ir import modules_equal, parse_module
from d1c.passes import run_pipeline

BEFORE = """module @m {
  func @main(%x: tensor<4x8x16xfp32>, %w: tensor<16x32xfp32>) -> (tensor<4x8x32xfp32>) {
    %0 = broadcast_to %w : tensor<4x16x32xfp32>
    %1 = matmul %x, %0 : tensor<4x8x32xfp32>
    return %1
  }
}
"""

AFTER = """module @m {
  func @main(%x: tensor<4x8x16xfp32>, %w: tensor<16x32xfp32>) -> (tensor<4x8x32xfp32>) {
    %0 = matmul %x, %w : tensor<4x8x32xfp32>
    return %0
  }
}
"""

# The broadcast here changes the rows of w (1 -> 16): not a pure batch broadcast, so it stays.
KEEP = """module @m {
  func @main(%x: tensor<4x8x16xfp32>, %w: tensor<1x32xfp32>) -> (tensor<4x8x32xfp32>) {
    %0 = broadcast_to %w : tensor<4x16x32xfp32>
    %1 = matmul %x, %0 : tensor<4x8x32xfp32>
    return %1
  }
}
"""


def test_batch_broadcast_of_the_weight_is_dropped_with_identical_bits() -> None:
    before = parse_module(BEFORE)
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal(a.type.shape).astype(np.float32) for a in before.main.args]
    want = interpret(before, inputs)[0]
    after = run_pipeline(before, "canonicalize")
    assert modules_equal(after, parse_module(AFTER))
    got = interpret(after, inputs)[0]
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_broadcast_of_the_contracted_rows_is_kept() -> None:
    m = run_pipeline(parse_module(KEEP), "canonicalize")
    assert [op.name for op in m.main.ops] == ["broadcast_to", "matmul", "return"]
