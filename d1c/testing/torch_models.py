"""Random torch models built from the op set the frontend supports, for the frontend path of
``d1c fuzz`` (torch.export -> graph IR -> ... -> simulator, checked against torch eager).

A model is described by a :class:`TorchRecipe`, plain data: the input shape, a chain of layers
(each a kind and its parameters) and a seed for the weights. Hypothesis draws and shrinks
recipes (:func:`torch_recipes`); :meth:`TorchRecipe.model` builds the ``nn.Module`` and
:meth:`TorchRecipe.source` writes a model file that ``d1c verify`` loads:

    from d1c.testing.torch_models import torch_recipes

    @given(torch_recipes())
    def test_export(recipe):
        module = export_model(recipe.model(), recipe.inputs())

Layers: linear, activations (relu, gelu, tanh, sigmoid, silu, leaky_relu, elu, hardtanh),
softmax/log_softmax, layer_norm, a residual linear, scale-and-shift, mean/sum/amax reductions,
transpose, flatten, self-attention, where, clamp, cat; on NCHW inputs also conv2d, max/avg pooling
and batch_norm (eval mode, random running statistics).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from hypothesis import strategies as st
from torch import nn

Shape = tuple[int, ...]
MAX_ELEMENTS = 2048
ACTS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.1),
    "elu": nn.ELU,
    "hardtanh": nn.Hardtanh,
}


class Fn(nn.Module):
    """A functional layer: ``f(x)`` with the parameters of its recipe entry."""

    def __init__(self, f: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.f = f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.f(x)


class Residual(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.lin = nn.Linear(n, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.lin(x)


def _attention(x: torch.Tensor) -> torch.Tensor:
    scores = x @ x.transpose(-1, -2) / math.sqrt(x.shape[-1])
    return torch.softmax(scores, dim=-1) @ x


def _batchnorm(c: int) -> nn.Module:
    bn = nn.BatchNorm2d(c)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    return bn


# kind -> (builder(shape, params) -> module, result shape(shape, params))
def _reduced(s: Shape, p: tuple) -> Shape:
    dim, keep = p[0] % len(s), p[1]
    return tuple(1 if i == dim else d for i, d in enumerate(s) if keep or i != dim)


def _swapped(s: Shape, p: tuple) -> Shape:
    out = list(s)
    out[p[0] % len(s)], out[p[1] % len(s)] = s[p[1] % len(s)], s[p[0] % len(s)]
    return tuple(out)


def _conv_out(s: Shape, p: tuple) -> Shape:
    o, k, stride, pad = p
    return (s[0], o, *((d + 2 * pad - k) // stride + 1 for d in s[2:]))


def _cat_out(s: Shape, p: tuple) -> Shape:
    return tuple(2 * d if i == p[0] % len(s) else d for i, d in enumerate(s))


LAYERS: dict[str, tuple[Callable, Callable[[Shape, tuple], Shape]]] = {
    "linear": (lambda s, p: nn.Linear(s[-1], p[0], bias=p[1]), lambda s, p: (*s[:-1], p[0])),
    "act": (lambda s, p: ACTS[p[0]](), lambda s, p: s),
    "softmax": (lambda s, p: nn.Softmax(dim=p[0]), lambda s, p: s),
    "log_softmax": (lambda s, p: nn.LogSoftmax(dim=p[0]), lambda s, p: s),
    "layer_norm": (lambda s, p: nn.LayerNorm(s[-p[0] :], elementwise_affine=p[1]), lambda s, p: s),
    "residual": (lambda s, p: Residual(s[-1]), lambda s, p: s),
    "scale": (lambda s, p: Fn(lambda x: x * p[0] + 0.5), lambda s, p: s),
    "mean": (lambda s, p: Fn(lambda x: x.mean(dim=p[0], keepdim=p[1])), _reduced),
    "sum": (lambda s, p: Fn(lambda x: x.sum(dim=p[0], keepdim=p[1])), _reduced),
    "amax": (lambda s, p: Fn(lambda x: x.amax(dim=p[0], keepdim=p[1])), _reduced),
    "transpose": (lambda s, p: Fn(lambda x: x.transpose(p[0], p[1])), _swapped),
    "flatten": (lambda s, p: nn.Flatten(), lambda s, p: (s[0], math.prod(s[1:]))),
    "attention": (lambda s, p: Fn(_attention), lambda s, p: s),
    "where": (lambda s, p: Fn(lambda x: torch.where(x > p[0], x, x * 0.25)), lambda s, p: s),
    "clamp": (lambda s, p: Fn(lambda x: x.clamp(p[0], p[1])), lambda s, p: s),
    "cat": (lambda s, p: Fn(lambda x: torch.cat([x, 2 * x], dim=p[0])), _cat_out),
    "conv": (lambda s, p: nn.Conv2d(s[1], p[0], p[1], p[2], p[3]), _conv_out),
    "maxpool": (
        lambda s, p: nn.MaxPool2d(p[0]),
        lambda s, p: (*s[:2], *(d // p[0] for d in s[2:])),
    ),
    "avgpool": (
        lambda s, p: nn.AvgPool2d(p[0]),
        lambda s, p: (*s[:2], *(d // p[0] for d in s[2:])),
    ),
    "batchnorm": (lambda s, p: _batchnorm(s[1]), lambda s, p: s),
}


@dataclass(frozen=True)
class TorchRecipe:
    """A random model: ``layers`` applied in order to one input of ``input_shape``."""

    input_shape: Shape
    layers: tuple[tuple[str, tuple], ...]
    seed: int = 0

    def shapes(self) -> list[Shape]:
        """The shape after each layer (the first entry is the input's)."""
        out = [self.input_shape]
        for kind, p in self.layers:
            out.append(LAYERS[kind][1](out[-1], p))
        return out

    def model(self) -> nn.Module:
        torch.manual_seed(self.seed)
        shapes = self.shapes()
        mods = [LAYERS[k][0](s, p) for (k, p), s in zip(self.layers, shapes, strict=False)]
        return nn.Sequential(*mods).eval()

    def inputs(self) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(self.seed + 1)
        return (torch.randn(self.input_shape, generator=g),)

    def source(self) -> str:
        """A MODEL file (``model()`` and ``example_inputs()``) that rebuilds this model."""
        return (
            '"""A random model from d1c fuzz (d1c.testing.torch_models); '
            '`d1c verify` this file."""\n\n'
            "from d1c.testing.torch_models import TorchRecipe\n\n"
            f"RECIPE = {self!r}\n\n\n"
            "def model():\n    return RECIPE.model()\n\n\n"
            "def example_inputs():\n    return RECIPE.inputs()\n"
        )


def _params(draw: st.DrawFn, kind: str, s: Shape) -> tuple | None:
    """Parameters of a ``kind`` layer on shape ``s``, or None if it does not apply."""
    rank, sizes = len(s), st.sampled_from([1, 2, 3, 5, 8, 13, 17, 31, 67])
    dim = st.integers(-rank, rank - 1) if rank else st.nothing()
    if rank == 0 and kind not in ("act", "scale", "where", "clamp"):
        return None
    if kind in ("conv", "maxpool", "avgpool", "batchnorm") and rank != 4:
        return None
    if kind in ("attention", "transpose", "flatten") and rank < 2:
        return None
    table = {
        "linear": lambda: (draw(sizes), draw(st.booleans())),
        "act": lambda: (draw(st.sampled_from(sorted(ACTS))),),
        "softmax": lambda: (draw(dim),),
        "log_softmax": lambda: (draw(dim),),
        "layer_norm": lambda: (draw(st.integers(1, min(2, rank))), draw(st.booleans())),
        "scale": lambda: (draw(st.sampled_from([2.0, -0.5, 0.125])),),
        "mean": lambda: (draw(dim), draw(st.booleans())),
        "sum": lambda: (draw(dim), draw(st.booleans())),
        "amax": lambda: (draw(dim), draw(st.booleans())),
        "transpose": lambda: (draw(dim), draw(dim)),
        "where": lambda: (draw(st.sampled_from([0.0, 0.5, -1.0])),),
        "clamp": lambda: (draw(st.sampled_from([-1.0, -0.5])), draw(st.sampled_from([0.5, 2.0]))),
        "cat": lambda: (draw(dim),),
        "conv": lambda: _conv_params(draw, s),
        "maxpool": lambda: (draw(st.integers(1, max(1, min(s[2:])))),),
        "avgpool": lambda: (draw(st.integers(1, max(1, min(s[2:])))),),
    }
    return table[kind]() if kind in table else ()


def _conv_params(draw: st.DrawFn, s: Shape) -> tuple | None:
    k = draw(st.integers(1, 3))
    pad = draw(st.integers(0, k // 2))
    if min(s[2:]) + 2 * pad < k:
        return None
    return (draw(st.integers(1, 4)), k, draw(st.integers(1, 2)), pad)


@st.composite
def torch_recipes(draw: st.DrawFn, max_layers: int = 5) -> TorchRecipe:
    """A recipe whose every intermediate tensor has at most :data:`MAX_ELEMENTS` elements."""
    rank = draw(st.integers(1, 4))
    sizes = st.sampled_from([1, 2, 3, 4, 5, 7, 8, 13])
    start = shape = tuple(draw(st.lists(sizes, min_size=rank, max_size=rank)))
    layers: list[tuple[str, tuple]] = []
    for _ in range(draw(st.integers(1, max_layers))):
        kind = draw(st.sampled_from(sorted(LAYERS)))
        params = _params(draw, kind, shape)
        if params is None:
            continue
        new = LAYERS[kind][1](shape, params)
        if math.prod(new) > MAX_ELEMENTS or min(new, default=1) < 1:
            continue
        layers.append((kind, params))
        shape = new
    return TorchRecipe(start, tuple(layers), draw(st.integers(0, 2**16)))
