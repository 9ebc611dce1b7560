"""Layout lowerings: view sizes with -1, permute/transpose with negative dims, (un)squeeze,
select/slice with Python clamping, cat, split, expand, repeat."""

from __future__ import annotations

import torch

from tests.frontend.conftest import assert_ir, lower

X = torch.randn(2, 3, 4)


def test_view_permute_transpose_unsqueeze() -> None:
    assert_ir(
        lower(lambda a: (a.view(-1, 4), a.permute(2, 0, 1), a.transpose(-1, 0), a[:, None]), X),
        """module @m {
  func @forward(%a: tensor<2x3x4xfp32>) -> (tensor<6x4xfp32>, tensor<4x2x3xfp32>, tensor<4x3x2xfp32>, tensor<2x1x3x4xfp32>) {
    %0 = reshape %a : tensor<6x4xfp32>
    %1 = permute %a {dims = [2, 0, 1]} : tensor<4x2x3xfp32>
    %2 = permute %a {dims = [2, 1, 0]} : tensor<4x3x2xfp32>
    %3 = reshape %a : tensor<2x1x3x4xfp32>
    return %0, %1, %2, %3
  }
}""",
    )


def test_select_and_slices_with_negative_and_open_bounds() -> None:
    assert_ir(
        lower(lambda a: (a[:, -1], a[..., 1::2], a[-5:2], a[:, -2:]), X),
        """module @m {
  func @forward(%a: tensor<2x3x4xfp32>) -> (tensor<2x4xfp32>, tensor<2x3x2xfp32>, tensor<2x3x4xfp32>, tensor<2x2x4xfp32>) {
    %0 = slice %a {dim = 1, start = 2, end = 3, step = 1} : tensor<2x1x4xfp32>
    %1 = reshape %0 : tensor<2x4xfp32>
    %2 = slice %a {dim = 2, start = 1, end = 4, step = 2} : tensor<2x3x2xfp32>
    %3 = slice %a {dim = 0, start = 0, end = 2, step = 1} : tensor<2x3x4xfp32>
    %4 = slice %a {dim = 1, start = 1, end = 3, step = 1} : tensor<2x2x4xfp32>
    return %1, %2, %3, %4
  }
}""",
    )


def test_squeeze_only_drops_unit_dims() -> None:
    y = torch.randn(1, 3, 1)
    assert_ir(
        lower(lambda a: (a.squeeze(), a.squeeze(1), a.squeeze(-1)), y),
        """module @m {
  func @forward(%a: tensor<1x3x1xfp32>) -> (tensor<3xfp32>, tensor<1x3x1xfp32>, tensor<1x3xfp32>) {
    %0 = reshape %a : tensor<3xfp32>
    %1 = reshape %a : tensor<1x3x1xfp32>
    %2 = reshape %a : tensor<1x3xfp32>
    return %0, %1, %2
  }
}""",
    )


def test_cat_promotes_and_split_chunks() -> None:
    ints = torch.arange(8).view(2, 1, 4)
    assert_ir(
        lower(lambda a, i: (torch.cat([a, i], dim=-2), a.split(3, dim=-1)), X, ints),
        """module @m {
  func @forward(%a: tensor<2x3x4xfp32>, %i: tensor<2x1x4xi64>) -> (tensor<2x4x4xfp32>, tensor<2x3x3xfp32>, tensor<2x3x1xfp32>) {
    %0 = convert %i {rounding = "rne"} : tensor<2x1x4xfp32>
    %1 = concat %a, %0 {dim = 1} : tensor<2x4x4xfp32>
    %2 = slice %a {dim = 2, start = 0, end = 3, step = 1} : tensor<2x3x3xfp32>
    %3 = slice %a {dim = 2, start = 3, end = 4, step = 1} : tensor<2x3x1xfp32>
    return %1, %2, %3
  }
}""",
    )


def test_expand_keeps_minus_one_dims_and_adds_leading_ones() -> None:
    col = torch.randn(3, 1)
    assert_ir(
        lower(lambda a: a.expand(2, -1, 5), col),
        """module @m {
  func @forward(%a: tensor<3x1xfp32>) -> (tensor<2x3x5xfp32>) {
    %0 = broadcast_to %a : tensor<2x3x5xfp32>
    return %0
  }
}""",
    )


def test_repeat_tiles_through_an_interleaved_broadcast() -> None:
    row = torch.randn(2, 3)
    assert_ir(
        lower(lambda a: a.repeat(2, 1, 2), row),
        """module @m {
  func @forward(%a: tensor<2x3xfp32>) -> (tensor<2x2x6xfp32>) {
    %0 = reshape %a : tensor<1x1x1x2x1x3xfp32>
    %1 = broadcast_to %0 : tensor<2x1x1x2x2x3xfp32>
    %2 = reshape %1 : tensor<2x2x6xfp32>
    return %2
  }
}""",
    )
