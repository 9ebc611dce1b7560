"""Structural equality treats NaN as equal to NaN, in constant data and in float attributes, so a
module whose folded constants or ``full`` values are NaN still equals its own round trip (found
by ``d1c fuzz``: ``log`` of a negative constant folded into a NaN constant)."""

import numpy as np

from d1c.ir import modules_equal, parse_module, print_module

TEXT = """module @m {
  func @main(%x: tensor<2xfp32>) -> (tensor<2xfp32>) {
    %0 = full {value = nan} : tensor<2xfp32>
    %1 = const {name = @c} : tensor<2xfp32>
    %2 = add %x, %0 : tensor<2xfp32>
    %3 = add %2, %1 : tensor<2xfp32>
    return %3
  }
}
"""


def _module():
    m = parse_module(TEXT, verify=False)
    m.consts["c"] = np.array([np.nan, 1.0], np.float32)
    return m


def test_nan_constants_and_attributes_round_trip_equal() -> None:
    m = _module()
    again = parse_module(print_module(m))
    assert print_module(again) == print_module(m)
    assert modules_equal(m, again)


def test_different_constants_are_still_unequal() -> None:
    m, other = _module(), _module()
    other.consts["c"] = np.array([np.nan, 2.0], np.float32)
    assert not modules_equal(m, other)
    changed = parse_module(TEXT.replace("nan", "1.0"), verify=False)
    assert not modules_equal(m, changed, check_data=False)
