"""Regression tests of backend bugs found by the differential suite (each test says what was
wrong), and the compile-time diagnostics of variants the D1 has no bit-exact kernel for.
Comparison rules as in backend_harness (bit-identical to d1c.interp.interpret)."""

from __future__ import annotations

import numpy as np
import pytest
from backend_harness import TARGETS, check, compile_module, ir, mismatches

from d1c.errors import CompileError
from d1c.ir import parse_module


# ------------------------------------------------------------- regressions of fixed backend bugs
@pytest.mark.parametrize("target", TARGETS)
def test_regression_relu_keeps_negative_zero_and_nan(target: str) -> None:
    """vfn relu gave +0.0 for -0.0; the IR's relu (0 if x < 0 else x) keeps -0.0."""
    x = np.array([[-0.0, 0.0, -1.0, 2.0, np.nan, -np.inf]], dtype=np.float32)
    text = ir(
        "%x: tensor<1x6xfp32>", "tensor<1x6xfp32>", "%0 = relu %x : tensor<1x6xfp32>", "return %0"
    )
    res = check(text, target, [x])
    assert np.signbit(res.outputs["out0"][0, 0])


@pytest.mark.parametrize("target", TARGETS)
def test_regression_logic_on_numbers_that_are_not_zero_or_one(target: str) -> None:
    """logical_and/or were vmul/vmax and logical_not 1 - x: wrong for 2.0, -3.0, NaN, -0.0."""
    x = np.array([[2.0, -3.0, np.nan, -0.0, 0.0, 0.5]], dtype=np.float32)
    y = np.array([[-3.0, 0.0, 0.0, np.nan, -0.0, 4.0]], dtype=np.float32)
    t = "tensor<1x6xfp32>"
    text = ir(
        f"%x: {t}, %y: {t}",
        f"{t}, {t}, {t}",
        f"%0 = logical_and %x, %y : {t}",
        f"%1 = logical_or %x, %y : {t}",
        f"%2 = logical_not %x : {t}",
        "return %0, %1, %2",
    )
    res = check(text, target, [x, y])
    assert res.outputs["out0"].tolist() == [[1, 0, 0, 0, 0, 1]]


@pytest.mark.parametrize("target", TARGETS)
def test_regression_argument_read_directly_and_through_host_convert(target: str) -> None:
    """Both input symbols were named 'x': one of them was never written."""
    text = ir(
        "%x: tensor<3x5xfp32>",
        "tensor<3x5xfp32>, tensor<3x5xbf16>",
        '%0 = convert %x {rounding = "rne"} : tensor<3x5xbf16>',
        "%1 = neg %x : tensor<3x5xfp32>",
        "%2 = abs %0 : tensor<3x5xbf16>",
        "return %1, %2",
    )
    check(text, target)


@pytest.mark.parametrize("target", TARGETS)
def test_regression_returned_convert_that_another_op_reads(target: str) -> None:
    """A returned fp32 convert was left to the host even when a kernel read it (no HBM)."""
    text = ir(
        "%x: tensor<3x5xfp32>",
        "tensor<3x5xfp32>, tensor<3x5xfp32>",
        '%0 = convert %x {rounding = "rne"} : tensor<3x5xbf16>',
        '%1 = convert %0 {rounding = "rne"} : tensor<3x5xfp32>',
        "%2 = exp %1 : tensor<3x5xfp32>",
        "return %1, %2",
    )
    check(text, target)


def test_regression_records_beyond_the_addi_immediate() -> None:
    """528 column chunks make a 16.9 kB record: 'addi x1, x1, 16928' did not assemble."""
    text = ir(
        "%x: tensor<2x270000xfp32>",
        "tensor<2x1xfp32>",
        "%0 = reduce_sum %x {dims = [1], keepdim = true} : tensor<2x1xfp32>",
        "return %0",
    )
    check(text, "mini", special=0.0)


def test_regression_more_kernels_than_barrier_ids_and_ld_offsets() -> None:
    ops = ["%0 = neg %x : tensor<3x5xfp32>"]
    ops += [f"%{i} = neg %{i - 1} : tensor<3x5xfp32>" for i in range(1, 260)]
    text = ir("%x: tensor<3x5xfp32>", "tensor<3x5xfp32>", *ops, "return %259")
    check(text, "mini")


@pytest.mark.parametrize("target", TARGETS)
def test_regression_integer_convert_keeps_values_beyond_fp32(target: str) -> None:
    """i64 -> i32 is a raw copy on the device (both i32); vcvt would round through fp32."""
    i = np.array([[16777217, -2147483647, 123456789]], dtype=np.int64)
    text = ir(
        "%i: tensor<1x3xi64>",
        "tensor<1x3xi32>",
        '%0 = convert %i {rounding = "rne"} : tensor<1x3xi32>',
        "return %0",
    )
    res = check(text, target, [i])
    assert res.outputs["out0"].tolist() == i.tolist()


# -------------------------------------------------------------------- compile-time diagnostics
UNSUPPORTED = {  # what the CompileError says -> (op on %1 = neg %x, its result type)
    "stochastic rounding": ('convert %1 {rounding = "sr"}', "tensor<4x4xbf16>"),
    "float-to-integer": ('convert %1 {rounding = "rne"}', "tensor<4x4xi32>"),
    "last dim": ("reduce_sum %1 {dims = [0], keepdim = true}", "tensor<1x4xfp32>"),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_variants_without_a_bit_exact_kernel_are_compile_errors(case: str) -> None:
    op, result = UNSUPPORTED[case]
    text = ir(
        "%x: tensor<4x4xfp32>",
        result,
        "%1 = neg %x : tensor<4x4xfp32>",
        f"%0 = {op} : {result}",
        "return %0",
    )
    with pytest.raises(CompileError, match=case):
        compile_module(parse_module(text), "mini")


def test_integer_division_and_narrow_matmul_are_compile_errors() -> None:
    text = ir(
        "%i: tensor<4xi32>",
        "tensor<4xi32>",
        "%0 = full {value = 2.0} : tensor<4xi32>",
        "%1 = div %i, %0 : tensor<4xi32>",
        "return %1",
    )
    with pytest.raises(CompileError, match="integer"):
        compile_module(parse_module(text), "mini")
    text = ir(
        "%a: tensor<4x4xbf16>",
        "tensor<4x4xbf16>",
        "%0 = matmul %a, %a : tensor<4x4xbf16>",
        "return %0",
    )
    with pytest.raises(CompileError, match="fp32 accumulator"):
        compile_module(parse_module(text), "mini")


def test_embedding_weight_column_too_big_for_a_core_is_a_compile_error() -> None:
    text = ir(
        "%w: tensor<70000x4xbf16>, %i: tensor<3xi64>",
        "tensor<3x4xbf16>",
        "%0 = embedding %w, %i : tensor<3x4xbf16>",
        "return %0",
    )
    with pytest.raises(CompileError, match="does not fit"):
        compile_module(parse_module(text), "mini")


def test_harness_detects_sign_of_zero_nan_and_int_differences() -> None:
    """The comparison itself can fail: -0 vs +0 and NaN vs a number differ, NaN payloads not."""
    got = np.array([-0.0, np.nan, np.float32(np.nan) * -1, 1.0], dtype=np.float32)
    want = np.array([0.0, 1.0, np.nan, 1.0], dtype=np.float32)
    assert mismatches(got, want).tolist() == [True, True, False, False]
    assert mismatches(np.array([3], np.int32), np.array([4], np.int32)).tolist() == [True]


@pytest.mark.parametrize("target", TARGETS)
def test_regression_arguments_returned_as_results(target: str) -> None:
    """symbols() asked kind_of about the 'return' op when an argument was returned."""
    text = ir(
        "%x: tensor<3x5xfp32>, %m: tensor<3x5xi1>, %i: tensor<3x5xi64>",
        "tensor<3x5xbf16>, tensor<3x5xfp32>, tensor<15xfp32>, tensor<3x5xi1>, tensor<3x5xi64>",
        '%0 = convert %x {rounding = "rne"} : tensor<3x5xbf16>',
        "%1 = reshape %x : tensor<15xfp32>",
        "return %0, %x, %1, %m, %i",
    )
    check(text, target)


def test_tensors_beyond_dip_hbm_are_a_compile_error() -> None:
    """mini has one DIP of 1 GiB: a 1.2 GB fill cannot be placed (it used to get an address
    past the DIP's HBM and fail only in the simulator)."""
    text = ir(
        "%x: tensor<4xfp32>",
        "tensor<300000000xfp32>",
        "%0 = full {value = 1.0} : tensor<300000000xfp32>",
        "return %0",
    )
    with pytest.raises(CompileError, match="does not fit in DIP HBM"):
        compile_module(parse_module(text), "mini")
