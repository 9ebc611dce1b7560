"""NN lowerings: linear/matmul forms, convolutions, norms, softmax, pooling, embedding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from d1c.errors import UnsupportedError
from d1c.frontend import import_program
from tests.frontend.conftest import Fn, assert_ir, lower


def test_linear_is_permute_matmul_add() -> None:
    torch.manual_seed(0)
    assert_ir(
        lower(nn.Linear(4, 3), torch.randn(2, 4)),
        """module @m {
  func @forward(%x: tensor<2x4xfp32>) -> (tensor<2x3xfp32>) {
    %0 = const {name = @weight} : tensor<3x4xfp32>
    %1 = permute %0 {dims = [1, 0]} : tensor<4x3xfp32>
    %2 = const {name = @bias} : tensor<3xfp32>
    %3 = matmul %x, %1 : tensor<2x3xfp32>
    %4 = add %3, %2 : tensor<2x3xfp32>
    return %4
  }
}""",
    )


def test_parameters_become_module_constants_with_their_values() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    m = lower(layer, torch.randn(2, 4))
    assert set(m.consts) == {"weight", "bias"}
    assert (m.consts["weight"] == layer.weight.detach().numpy()).all()
    assert m.consts["weight"].dtype == "float32"


def test_vector_matmul_decomposes_to_mul_and_sum() -> None:
    assert_ir(
        lower(lambda a, v: a @ v, torch.randn(2, 3, 3), torch.randn(3)),
        """module @m {
  func @forward(%a: tensor<2x3x3xfp32>, %v: tensor<3xfp32>) -> (tensor<2x3xfp32>) {
    %0 = reshape %a : tensor<6x3xfp32>
    %1 = mul %0, %v : tensor<6x3xfp32>
    %2 = reduce_sum %1 {dims = [1], keepdim = false} : tensor<6xfp32>
    %3 = reshape %2 : tensor<2x3xfp32>
    return %3
  }
}""",
    )


def test_undecomposed_matmul_gives_vectors_a_unit_dim() -> None:
    """aten.matmul only appears without run_decompositions; 1-D operands follow torch.matmul."""
    ep = torch.export.export(Fn(lambda v, a: v @ a), (torch.randn(3), torch.randn(2, 3, 4)))
    assert_ir(
        import_program(ep, name="m"),
        """module @m {
  func @forward(%v: tensor<3xfp32>, %a: tensor<2x3x4xfp32>) -> (tensor<2x4xfp32>) {
    %0 = reshape %v : tensor<1x3xfp32>
    %1 = matmul %0, %a : tensor<2x1x4xfp32>
    %2 = reshape %1 : tensor<2x4xfp32>
    return %2
  }
}""",
    )


def test_grouped_dilated_strided_conv2d() -> None:
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2, bias=False)
    assert_ir(
        lower(conv, torch.randn(1, 4, 9, 9)),
        """module @m {
  func @forward(%x: tensor<1x4x9x9xfp32>) -> (tensor<1x6x5x5xfp32>) {
    %0 = const {name = @weight} : tensor<6x2x3x3xfp32>
    %1 = conv2d %x, %0 {stride = [2, 2], padding = [2, 2], dilation = [2, 2], groups = 2} : tensor<1x6x5x5xfp32>
    return %1
  }
}""",
    )


def test_conv1d_runs_as_conv2d_over_unit_height() -> None:
    conv = nn.Conv1d(2, 3, 3, stride=2, padding=1)
    assert_ir(
        lower(conv, torch.randn(1, 2, 8)),
        """module @m {
  func @forward(%x: tensor<1x2x8xfp32>) -> (tensor<1x3x4xfp32>) {
    %0 = const {name = @weight} : tensor<3x2x3xfp32>
    %1 = const {name = @bias} : tensor<3xfp32>
    %2 = reshape %x : tensor<1x2x1x8xfp32>
    %3 = reshape %0 : tensor<3x2x1x3xfp32>
    %4 = conv2d %2, %3, %1 {stride = [1, 2], padding = [0, 1], dilation = [1, 1], groups = 1} : tensor<1x3x1x4xfp32>
    %5 = reshape %4 : tensor<1x3x4xfp32>
    return %5
  }
}""",
    )


def test_transposed_conv_is_reported() -> None:
    with pytest.raises(UnsupportedError, match="transposed convolution"):
        lower(nn.ConvTranspose2d(2, 2, 3), torch.randn(1, 2, 5, 5))


def test_batch_norm_without_affine_gets_unit_weight_and_zero_bias() -> None:
    bn = nn.BatchNorm2d(3, affine=False, eps=1e-3)
    assert_ir(
        lower(bn, torch.randn(2, 3, 4, 4)),
        """module @m {
  func @forward(%x: tensor<2x3x4x4xfp32>) -> (tensor<2x3x4x4xfp32>) {
    %0 = const {name = @running_mean} : tensor<3xfp32>
    %1 = const {name = @running_var} : tensor<3xfp32>
    %2 = full {value = 1.0} : tensor<3xfp32>
    %3 = full {value = 0.0} : tensor<3xfp32>
    %4 = batch_norm %x, %0, %1, %2, %3 {eps = 0.001} : tensor<2x3x4x4xfp32>
    return %4
  }
}""",
    )


def test_layer_norm_over_two_dims_and_softmaxes() -> None:
    ln = nn.LayerNorm((3, 4), elementwise_affine=False)
    assert_ir(
        lower(lambda a: (ln(a), a.softmax(-2), F.log_softmax(a, 0)), torch.randn(2, 3, 4)),
        """module @m {
  func @forward(%a: tensor<2x3x4xfp32>) -> (tensor<2x3x4xfp32>, tensor<2x3x4xfp32>, tensor<2x3x4xfp32>) {
    %0 = layer_norm %a {ndim = 2, eps = 1e-05} : tensor<2x3x4xfp32>
    %1 = softmax %a {dim = 1} : tensor<2x3x4xfp32>
    %2 = log_softmax %a {dim = 0} : tensor<2x3x4xfp32>
    return %0, %1, %2
  }
}""",
    )


def test_pools_fill_in_omitted_defaults() -> None:
    x = torch.randn(1, 2, 7, 7)
    assert_ir(
        lower(
            lambda a: (
                F.max_pool2d(a, 3, 2, 1, ceil_mode=True),
                F.avg_pool2d(a, 2),
                F.avg_pool2d(a, 3, 2, 1, count_include_pad=False, divisor_override=4),
                F.adaptive_avg_pool2d(a, (3, 2)),
            ),
            x,
        ),
        """module @m {
  func @forward(%a: tensor<1x2x7x7xfp32>) -> (tensor<1x2x4x4xfp32>, tensor<1x2x3x3xfp32>, tensor<1x2x4x4xfp32>, tensor<1x2x3x2xfp32>) {
    %0 = max_pool2d %a {kernel = [3, 3], stride = [2, 2], padding = [1, 1], dilation = [1, 1], ceil_mode = true} : tensor<1x2x4x4xfp32>
    %1 = avg_pool2d %a {kernel = [2, 2], stride = [2, 2], padding = [0, 0], ceil_mode = false, count_include_pad = true, divisor = 0} : tensor<1x2x3x3xfp32>
    %2 = avg_pool2d %a {kernel = [3, 3], stride = [2, 2], padding = [1, 1], ceil_mode = false, count_include_pad = false, divisor = 4} : tensor<1x2x4x4xfp32>
    %3 = adaptive_avg_pool2d %a {size = [3, 2]} : tensor<1x2x3x2xfp32>
    return %0, %1, %2, %3
  }
}""",
    )


def test_embedding_of_int64_ids() -> None:
    emb = nn.Embedding(10, 4)
    assert_ir(
        lower(emb, torch.tensor([[1, 2, 3]])),
        """module @m {
  func @forward(%ids: tensor<1x3xi64>) -> (tensor<1x3x4xfp32>) {
    %0 = const {name = @weight} : tensor<10x4xfp32>
    %1 = embedding %0, %ids : tensor<1x3x4xfp32>
    return %1
  }
}""",
    )


def test_group_norm_is_layer_norm_per_group_then_channel_affine() -> None:
    gn = nn.GroupNorm(2, 4, eps=1e-3)
    assert_ir(
        lower(gn, torch.randn(1, 4, 3, 3)),
        """module @m {
  func @forward(%x: tensor<1x4x3x3xfp32>) -> (tensor<1x4x3x3xfp32>) {
    %0 = const {name = @weight} : tensor<4xfp32>
    %1 = const {name = @bias} : tensor<4xfp32>
    %2 = reshape %x : tensor<1x2x18xfp32>
    %3 = layer_norm %2 {ndim = 1, eps = 0.001} : tensor<1x2x18xfp32>
    %4 = reshape %3 : tensor<1x4x3x3xfp32>
    %5 = reshape %0 : tensor<4x1x1xfp32>
    %6 = mul %4, %5 : tensor<1x4x3x3xfp32>
    %7 = reshape %1 : tensor<4x1x1xfp32>
    %8 = add %6, %7 : tensor<1x4x3x3xfp32>
    return %8
  }
}""",
    )


def test_lifted_tensor_literals_and_buffers_become_constants() -> None:
    class WithLiterals(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("scale", torch.tensor(2.0), persistent=False)

        def forward(self, a: torch.Tensor) -> torch.Tensor:
            return torch.where(torch.tensor(True), a * self.scale, a)

    m = lower(WithLiterals(), torch.randn(3))
    consts = {name: (arr.shape, arr.dtype.name) for name, arr in m.consts.items()}
    assert consts == {"scale": ((), "float32"), "lifted_tensor_0": ((), "bool")}
    assert m.consts["scale"] == 2.0 and m.consts["lifted_tensor_0"]
