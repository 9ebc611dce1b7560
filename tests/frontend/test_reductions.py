"""Reduction lowerings: dim normalisation (negative, int, list, None/[] = all), keepdim, dtypes."""

from __future__ import annotations

import pytest
import torch

from d1c.errors import UnsupportedError
from tests.frontend.conftest import assert_ir, lower

X = torch.randn(2, 3, 4)


def test_sum_mean_amax_dims() -> None:
    assert_ir(
        lower(lambda a: (a.sum(), a.mean(-1, keepdim=True), a.amax((0, -1)), a.sum(dim=(2, 1))), X),
        """module @m {
  func @forward(%a: tensor<2x3x4xfp32>) -> (tensor<fp32>, tensor<2x3x1xfp32>, tensor<3xfp32>, tensor<2xfp32>) {
    %0 = reduce_sum %a {dims = [0, 1, 2], keepdim = false} : tensor<fp32>
    %1 = reduce_mean %a {dims = [2], keepdim = true} : tensor<2x3x1xfp32>
    %2 = reduce_max %a {dims = [0, 2], keepdim = false} : tensor<3xfp32>
    %3 = reduce_sum %a {dims = [1, 2], keepdim = false} : tensor<2xfp32>
    return %0, %1, %2, %3
  }
}""",
    )


def test_integer_sum_accumulates_in_int64_and_dtype_casts_first() -> None:
    ints = torch.arange(6, dtype=torch.int32).view(2, 3)
    assert_ir(
        lower(lambda i: (i.sum(-1), i.sum(dtype=torch.float32)), ints),
        """module @m {
  func @forward(%i: tensor<2x3xi32>) -> (tensor<2xi64>, tensor<fp32>) {
    %0 = convert %i {rounding = "rne"} : tensor<2x3xi64>
    %1 = reduce_sum %0 {dims = [1], keepdim = false} : tensor<2xi64>
    %2 = convert %i {rounding = "rne"} : tensor<2x3xfp32>
    %3 = reduce_sum %2 {dims = [0, 1], keepdim = false} : tensor<fp32>
    return %1, %3
  }
}""",
    )


def test_any_and_max_values() -> None:
    assert_ir(
        lower(lambda a: ((a > 0).any(-1), a.amax(dim=1), a.max()), X),
        """module @m {
  func @forward(%a: tensor<2x3x4xfp32>) -> (tensor<2x3xi1>, tensor<2x4xfp32>, tensor<fp32>) {
    %0 = full {value = 0.0} : tensor<fp32>
    %1 = gt %a, %0 : tensor<2x3x4xi1>
    %2 = reduce_max %1 {dims = [2], keepdim = false} : tensor<2x3xi1>
    %3 = reduce_max %a {dims = [1], keepdim = false} : tensor<2x4xfp32>
    %4 = reduce_max %a {dims = [0, 1, 2], keepdim = false} : tensor<fp32>
    return %2, %3, %4
  }
}""",
    )


def test_var_is_mean_centred_sum_over_n_minus_correction() -> None:
    assert_ir(
        lower(lambda a: a.var(dim=(0, 2), keepdim=True), X),
        """module @m {
  func @forward(%a: tensor<2x3x4xfp32>) -> (tensor<1x3x1xfp32>) {
    %0 = reduce_mean %a {dims = [0, 2], keepdim = true} : tensor<1x3x1xfp32>
    %1 = sub %a, %0 : tensor<2x3x4xfp32>
    %2 = mul %1, %1 : tensor<2x3x4xfp32>
    %3 = reduce_sum %2 {dims = [0, 2], keepdim = true} : tensor<1x3x1xfp32>
    %4 = full {value = 7.0} : tensor<fp32>
    %5 = div %3, %4 : tensor<1x3x1xfp32>
    return %5
  }
}""",
    )


def test_euclidean_norm_and_other_orders() -> None:
    assert_ir(
        lower(lambda a: a.norm(dim=-1), X),
        """module @m {
  func @forward(%a: tensor<2x3x4xfp32>) -> (tensor<2x3xfp32>) {
    %0 = mul %a, %a : tensor<2x3x4xfp32>
    %1 = reduce_sum %0 {dims = [2], keepdim = false} : tensor<2x3xfp32>
    %2 = sqrt %1 : tensor<2x3xfp32>
    return %2
  }
}""",
    )
    with pytest.raises(UnsupportedError, match="order 1"):
        lower(lambda a: a.norm(p=1, dim=-1), X)
