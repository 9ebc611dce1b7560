"""A small ResNet-style CNN for 3x32x32 images.

Stem (conv3x3-BN-ReLU, 2x2 max pool), then three basic blocks
(conv3x3-BN-ReLU-conv3x3-BN plus a shortcut, then ReLU): the second block downsamples with
stride 2 and a 1x1-conv shortcut, the third uses a grouped conv and a dilated conv. Adaptive
average pooling, flatten and a linear classifier finish it. Batch norm runs in eval mode.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(
    c_in: int, c_out: int, stride: int = 1, groups: int = 1, dilation: int = 1
) -> nn.Sequential:
    """A 3x3 convolution (padding keeps the size at stride 1) followed by batch norm."""
    conv = nn.Conv2d(
        c_in,
        c_out,
        3,
        stride=stride,
        padding=dilation,
        dilation=dilation,
        groups=groups,
        bias=False,
    )
    return nn.Sequential(conv, nn.BatchNorm2d(c_out))


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus identity (or 1x1 conv + BN when the shape changes)."""

    def __init__(
        self, c_in: int, c_out: int, stride: int = 1, groups: int = 1, dilation: int = 1
    ) -> None:
        super().__init__()
        self.a = conv_bn(c_in, c_out, stride, groups=groups)
        self.b = conv_bn(c_out, c_out, dilation=dilation)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.a(x))
        y = self.b(y)
        return torch.relu(y + self.shortcut(x))


class SmallResNet(nn.Module):
    """Stem, three basic blocks, global average pool, linear head."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.block1 = BasicBlock(16, 16)
        self.block2 = BasicBlock(16, 32, stride=2)
        self.block3 = BasicBlock(32, 32, groups=4, dilation=2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stem(x))
        x = self.block3(self.block2(self.block1(x)))
        x = torch.flatten(self.gap(x), 1)
        return self.fc(x)


def _randomize_bn(m: nn.Module) -> None:
    """Give batch norms non-trivial running statistics and affine parameters."""
    for bn in m.modules():
        if isinstance(bn, nn.BatchNorm2d):
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n) * 0.1)
            bn.running_var.copy_(torch.rand(n) + 0.5)
            bn.weight.data.copy_(torch.rand(n) + 0.5)
            bn.bias.data.copy_(torch.randn(n) * 0.1)


def model() -> nn.Module:
    """The CNN with seeded weights and batch-norm statistics."""
    torch.manual_seed(0)
    m = SmallResNet()
    with torch.no_grad():
        _randomize_bn(m)
    return m


def example_inputs() -> tuple[torch.Tensor, ...]:
    """A batch of two 3x32x32 images."""
    torch.manual_seed(0)
    return (torch.randn(2, 3, 32, 32),)
