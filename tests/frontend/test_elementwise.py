"""Elementwise lowerings: broadcasting, Python scalars, torch's type promotion, activations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.frontend.conftest import assert_ir, lower

X = torch.randn(2, 3)
ROW = torch.randn(3)
IDX = torch.arange(6).view(2, 3)


def test_broadcast_and_python_scalars() -> None:
    assert_ir(
        lower(lambda a, b: ((a - b) / 2, 1 - a), X, ROW),
        """module @m {
  func @forward(%a: tensor<2x3xfp32>, %b: tensor<3xfp32>) -> (tensor<2x3xfp32>, tensor<2x3xfp32>) {
    %0 = sub %a, %b : tensor<2x3xfp32>
    %1 = full {value = 2.0} : tensor<fp32>
    %2 = div %0, %1 : tensor<2x3xfp32>
    %3 = full {value = 1.0} : tensor<fp32>
    %4 = sub %3, %a : tensor<2x3xfp32>
    return %2, %4
  }
}""",
    )


def test_int_float_promotion_and_true_division() -> None:
    assert_ir(
        lower(lambda a, i: (a + i, i / 2, i * 2, torch.exp(i)), X, IDX),
        """module @m {
  func @forward(%a: tensor<2x3xfp32>, %i: tensor<2x3xi64>) -> (tensor<2x3xfp32>, tensor<2x3xfp32>, tensor<2x3xi64>, tensor<2x3xfp32>) {
    %0 = convert %i {rounding = "rne"} : tensor<2x3xfp32>
    %1 = add %a, %0 : tensor<2x3xfp32>
    %2 = convert %i {rounding = "rne"} : tensor<2x3xfp32>
    %3 = full {value = 2.0} : tensor<fp32>
    %4 = div %2, %3 : tensor<2x3xfp32>
    %5 = full {value = 2.0} : tensor<i64>
    %6 = mul %i, %5 : tensor<2x3xi64>
    %7 = convert %i {rounding = "rne"} : tensor<2x3xfp32>
    %8 = exp %7 : tensor<2x3xfp32>
    return %1, %4, %6, %8
  }
}""",
    )


def test_comparisons_where_and_masked_fill() -> None:
    assert_ir(
        lower(lambda a, i: (torch.where(a > 0, a, 0.0), a.masked_fill(i >= 2, -1.0)), X, IDX),
        """module @m {
  func @forward(%a: tensor<2x3xfp32>, %i: tensor<2x3xi64>) -> (tensor<2x3xfp32>, tensor<2x3xfp32>) {
    %0 = full {value = 0.0} : tensor<fp32>
    %1 = gt %a, %0 : tensor<2x3xi1>
    %2 = full {value = 0.0} : tensor<fp32>
    %3 = where %1, %a, %2 : tensor<2x3xfp32>
    %4 = full {value = 2.0} : tensor<i64>
    %5 = ge %i, %4 : tensor<2x3xi1>
    %6 = full {value = -1.0} : tensor<fp32>
    %7 = where %5, %6, %a : tensor<2x3xfp32>
    return %3, %7
  }
}""",
    )


def test_comparison_promotes_int_tensor_against_float_scalar() -> None:
    assert_ir(
        lower(lambda i: i < 2.5, IDX),
        """module @m {
  func @forward(%i: tensor<2x3xi64>) -> (tensor<2x3xi1>) {
    %0 = convert %i {rounding = "rne"} : tensor<2x3xfp32>
    %1 = full {value = 2.5} : tensor<fp32>
    %2 = lt %0, %1 : tensor<2x3xi1>
    return %2
  }
}""",
    )


def test_clamp_hardtanh_and_leaky_relu() -> None:
    assert_ir(
        lower(lambda a: (a.clamp(min=-0.5), F.hardtanh(a), F.leaky_relu(a, 0.2)), X),
        """module @m {
  func @forward(%a: tensor<2x3xfp32>) -> (tensor<2x3xfp32>, tensor<2x3xfp32>, tensor<2x3xfp32>) {
    %0 = full {value = -0.5} : tensor<fp32>
    %1 = maximum %a, %0 : tensor<2x3xfp32>
    %2 = full {value = -1.0} : tensor<fp32>
    %3 = maximum %a, %2 : tensor<2x3xfp32>
    %4 = full {value = 1.0} : tensor<fp32>
    %5 = minimum %3, %4 : tensor<2x3xfp32>
    %6 = full {value = 0.0} : tensor<fp32>
    %7 = gt %a, %6 : tensor<2x3xi1>
    %8 = full {value = 0.2} : tensor<fp32>
    %9 = mul %a, %8 : tensor<2x3xfp32>
    %10 = where %7, %a, %9 : tensor<2x3xfp32>
    return %1, %5, %10
  }
}""",
    )


@pytest.mark.parametrize(
    ("fn", "ops"),
    [
        (torch.sigmoid, ["sigmoid"]),
        (torch.tanh, ["tanh"]),
        (torch.rsqrt, ["rsqrt"]),
        (torch.neg, ["neg"]),
        (torch.erf, ["erf"]),
        (F.silu, ["sigmoid", "mul"]),  # core ATen decomposes silu
        (lambda a: a.pow(2), ["full", "pow"]),
        (lambda a: torch.pow(2.0, a), ["full", "pow"]),
    ],
    ids=["sigmoid", "tanh", "rsqrt", "neg", "erf", "silu", "pow_scalar", "scalar_pow"],
)
def test_unary_family(fn, ops) -> None:
    assert [op.name for op in lower(fn, X).main.ops[:-1]] == ops


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_keeps_its_approximation(approximate: str) -> None:
    m = lower(lambda a: F.gelu(a, approximate=approximate), X)
    (gelu,) = [op for op in m.main.ops if op.name == "gelu"]
    assert gelu.attrs == {"approximate": approximate}


def test_casts_and_copies() -> None:
    assert_ir(
        lower(lambda a: (a.to(torch.bfloat16), a.detach().clone(), (a > 0).float()), X),
        """module @m {
  func @forward(%a: tensor<2x3xfp32>) -> (tensor<2x3xbf16>, tensor<2x3xfp32>, tensor<2x3xfp32>) {
    %0 = convert %a {rounding = "rne"} : tensor<2x3xbf16>
    %1 = full {value = 0.0} : tensor<fp32>
    %2 = gt %a, %1 : tensor<2x3xi1>
    %3 = convert %2 {rounding = "rne"} : tensor<2x3xfp32>
    return %0, %a, %3
  }
}""",
    )


def test_logical_ops_on_non_bool_compare_with_zero() -> None:
    assert_ir(
        lower(lambda i: torch.logical_not(i), IDX),
        """module @m {
  func @forward(%i: tensor<2x3xi64>) -> (tensor<2x3xi1>) {
    %0 = full {value = 0.0} : tensor<i64>
    %1 = ne %i, %0 : tensor<2x3xi1>
    %2 = logical_not %1 : tensor<2x3xi1>
    return %2
  }
}""",
    )


def test_bitwise_not_of_integers_is_minus_x_minus_one() -> None:
    assert_ir(
        lower(lambda i: ~i, IDX),
        """module @m {
  func @forward(%i: tensor<2x3xi64>) -> (tensor<2x3xi64>) {
    %0 = neg %i : tensor<2x3xi64>
    %1 = full {value = 1.0} : tensor<i64>
    %2 = sub %0, %1 : tensor<2x3xi64>
    return %2
  }
}""",
    )


def test_elu() -> None:
    assert_ir(
        lower(lambda a: F.elu(a, alpha=0.5), X),
        """module @m {
  func @forward(%a: tensor<2x3xfp32>) -> (tensor<2x3xfp32>) {
    %0 = exp %a : tensor<2x3xfp32>
    %1 = full {value = 1.0} : tensor<fp32>
    %2 = sub %0, %1 : tensor<2x3xfp32>
    %3 = full {value = 0.5} : tensor<fp32>
    %4 = mul %2, %3 : tensor<2x3xfp32>
    %5 = full {value = 0.0} : tensor<fp32>
    %6 = gt %a, %5 : tensor<2x3xi1>
    %7 = where %6, %a, %4 : tensor<2x3xfp32>
    return %7
  }
}""",
    )
