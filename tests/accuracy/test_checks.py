"""d1c.accuracy.checks: the worst element and the median ratio by hand, and the two things that
are never "within" — a NaN/inf where the reference is finite, and an element whose allowance is
inf or NaN (unless unbounded outputs are accepted explicitly)."""

from __future__ import annotations

import numpy as np

from d1c.accuracy.checks import check_elements, first_nonfinite
from d1c.accuracy.ref64 import reference64
from d1c.interp import interpret
from d1c.ir import parse_module


def test_worst_element_is_the_largest_ratio_not_the_largest_error() -> None:
    ref = np.array([[1.0, 2.0], [3.0, 4.0]])
    got = np.array([[1.5, 2.0], [3.1, 4.0]], np.float32)
    bound = np.array([[10.0, 1.0], [0.2, 1.0]])
    c = check_elements(got, ref, bound)
    assert c.index == (1, 0) and np.isclose(c.ratio, 0.5)  # not [0, 0], the largest error
    assert np.isclose(c.err, 0.1) and c.allowed == 0.2
    assert np.isclose(c.median, np.median([0.05, 0.0, 0.5, 0.0]))
    assert c.ok() and c.unbounded == c.nonfinite == 0


def test_an_error_above_its_bound_fails_at_its_index() -> None:
    c = check_elements(np.array([0.0, 5.0], np.float32), np.zeros(2), np.array([1.0, 2.0]))
    assert c.index == (1,) and c.ratio == 2.5 and c.exceeded == 1 and not c.within and not c.ok()


def test_nan_or_inf_where_the_reference_is_finite_is_never_within() -> None:
    for bad in (np.nan, np.inf, -np.inf):
        got = np.array([1.0, bad], np.float32)
        for bound in (np.array([0.5, 0.5]), np.array([0.5, np.inf]), np.array([0.5, np.nan])):
            c = check_elements(got, np.ones(2), bound)
            assert c.nonfinite == 1 and c.index == (1,) and c.ratio == np.inf
            assert not c.within and not c.ok(accept_unbounded=True)


def test_the_same_special_value_as_the_reference_is_no_error() -> None:
    got = np.array([-np.inf, np.nan, 2.0], np.float32)
    c = check_elements(got, np.array([-np.inf, np.nan, 2.0]), 0.0)
    assert c.ok() and c.err == 0.0 and c.nonfinite == 0


def test_an_infinite_or_nan_bound_is_unbounded_not_ok() -> None:
    got = np.array([1.0, 1.0, 1.0], np.float32)
    c = check_elements(got, np.array([1.0, 0.0, 1.0]), np.array([1.0, np.inf, np.nan]))
    assert c.unbounded == 2 and c.within and not c.ok() and c.ok(accept_unbounded=True)
    assert c.index == (0,) and c.ratio == 0.0 and c.median == 0.0
    every = check_elements(got, np.zeros(3), np.inf)  # nothing bounded: no ratio at all
    assert np.isnan(every.ratio) and np.isnan(every.median) and not every.ok()


def test_empty_and_integer_outputs() -> None:
    assert check_elements(np.zeros((0, 3), np.float32), np.zeros((0, 3)), 1.0).ok()
    c = check_elements(np.array([1, 2, 3]), np.array([1, 2, 4]), np.array([0.0, 0.0, np.inf]))
    assert c.unbounded == 1 and c.within and c.err == 0


MODULE = """module @m {
  func @main(%x: tensor<3xfp32>) -> (tensor<3xfp32>) {
    %0 = mul %x, %x : tensor<3xfp32>
    %1 = log %x : tensor<3xfp32>
    %2 = add %0, %1 : tensor<3xfp32>
    return %2
  }
}
"""


def test_first_nonfinite_names_the_op_that_made_it() -> None:
    m = parse_module(MODULE, "m.d1")
    x = [np.array([1.0, 3e19, 2.0], np.float32)]  # x*x overflows fp32 only
    values, refs = {}, {}
    interpret(m, x, trace=values)
    reference64(m, x, trace=refs)
    found = first_nonfinite(m.main, values, refs)
    assert found.op is m.main.ops[0] and found.count == 1 and found.index == (1,)
    text = found.error("rung 1").render()
    assert text.startswith("m.d1:3:5: error: rung 1: `%0 = mul %x, %x : tensor<3xfp32>` gives +inf")
    values[m.main.ops[0].result] = np.ones(3, np.float32)  # then the add is the first
    assert first_nonfinite(m.main, values, refs).op is m.main.ops[2]
