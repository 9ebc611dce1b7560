"""Factory lowerings: full/zeros/ones(_like), scalar_tensor, arange (dtype inference as torch)."""

from __future__ import annotations

import torch

from tests.frontend.conftest import assert_ir, lower

X = torch.randn(2, 3)


def test_full_dtypes_follow_the_fill_value() -> None:
    assert_ir(
        lower(
            lambda a: (
                a + torch.full((2, 3), 7.0),
                torch.full((3,), 7),
                torch.zeros_like(a, dtype=torch.int32),
            ),
            X,
        ),
        """module @m {
  func @forward(%a: tensor<2x3xfp32>) -> (tensor<2x3xfp32>, tensor<3xi64>, tensor<2x3xi32>) {
    %0 = full {value = 7.0} : tensor<2x3xfp32>
    %1 = add %a, %0 : tensor<2x3xfp32>
    %2 = full {value = 7.0} : tensor<3xi64>
    %3 = full {value = 0.0} : tensor<2x3xi32>
    return %1, %2, %3
  }
}""",
    )


def test_arange_is_scaled_and_offset_iota() -> None:
    assert_ir(
        lower(lambda a: (torch.arange(2, 11, 3), torch.arange(4.0), torch.arange(1, 0, -0.25)), X),
        """module @m {
  func @forward(%a: tensor<2x3xfp32>) -> (tensor<3xi64>, tensor<4xfp32>, tensor<4xfp32>) {
    %0 = iota {dim = 0} : tensor<3xi64>
    %1 = full {value = 3.0} : tensor<i64>
    %2 = mul %0, %1 : tensor<3xi64>
    %3 = full {value = 2.0} : tensor<i64>
    %4 = add %2, %3 : tensor<3xi64>
    %5 = iota {dim = 0} : tensor<4xfp32>
    %6 = iota {dim = 0} : tensor<4xfp32>
    %7 = full {value = -0.25} : tensor<fp32>
    %8 = mul %6, %7 : tensor<4xfp32>
    %9 = full {value = 1.0} : tensor<fp32>
    %10 = add %8, %9 : tensor<4xfp32>
    return %4, %5, %10
  }
}""",
    )


def test_causal_mask_from_arange_comparison() -> None:
    def masked(a: torch.Tensor) -> torch.Tensor:
        t = a.shape[-1]
        keep = torch.arange(t)[None, :] <= torch.arange(t)[:, None]
        return a.masked_fill(~keep, float("-inf"))

    assert_ir(
        lower(masked, torch.randn(3, 3)),
        """module @m {
  func @forward(%a: tensor<3x3xfp32>) -> (tensor<3x3xfp32>) {
    %0 = iota {dim = 0} : tensor<3xi64>
    %1 = reshape %0 : tensor<1x3xi64>
    %2 = iota {dim = 0} : tensor<3xi64>
    %3 = reshape %2 : tensor<3x1xi64>
    %4 = le %1, %3 : tensor<3x3xi1>
    %5 = logical_not %4 : tensor<3x3xi1>
    %6 = full {value = -inf} : tensor<fp32>
    %7 = where %5, %6, %a : tensor<3x3xfp32>
    return %7
  }
}""",
    )
