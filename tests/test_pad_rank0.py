"""``pad`` of a rank-0 tensor (no pads) is the identity in the interpreter and in the float64
reference; numpy cannot pad 0-d arrays, so both used to fail on this valid op (found by the
extended ``graph_modules`` strategy in tests/test_bounds.py and by ``d1c fuzz``)."""

import numpy as np

from d1c.accuracy.ref64 import reference64
from d1c.interp import interpret
from d1c.ir import parse_module

TEXT = """module @m {
  func @main(%x: tensor<fp32>) -> (tensor<fp32>) {
    %0 = pad %x {pads = [], value = 0.0} : tensor<fp32>
    return %0
  }
}
"""


def test_pad_of_a_scalar_is_the_identity() -> None:
    m = parse_module(TEXT)
    x = np.array(-1.5, np.float32)
    (got,) = interpret(m, [x])
    (ref,) = reference64(m, [x])
    assert got.shape == () and got == np.float32(-1.5) and got.dtype == np.float32
    assert ref.shape == () and ref == -1.5


def test_pad_of_a_scalar_has_the_bound_of_its_operand() -> None:
    from d1c.accuracy.bounds import check_within_bound

    m = parse_module(TEXT)
    x = [np.array(-1.5, np.float32)]
    ((err, bound, ok),) = check_within_bound(m, m, x)
    assert (err, bound, ok) == (0.0, 0.0, True)
