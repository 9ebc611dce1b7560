"""``fold-batchnorm``: IR before/after, when it must not fire, and numerics against torch eager."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from d1c.frontend import export_model, load_model
from d1c.interp import interpret
from d1c.ir import (
    FP32,
    Builder,
    Function,
    Module,
    Sym,
    TensorType,
    Value,
    modules_equal,
    parse_module,
    print_module,
    verify_module,
)
from d1c.passes import GRAPH_PIPELINE, Context, run_pipeline
from d1c.passes.fold_batchnorm import FoldBatchnorm

U = 2.0**-24  # unit roundoff of fp32

BEFORE = """\
module @m {
  func @main(%x: tensor<1x2x4x4xfp32>) -> (tensor<1x3x4x4xfp32>) {
    %0 = const {name = @conv.weight} : tensor<3x2x3x3xfp32> loc("m.py":3:1)
    %1 = const {name = @conv.bias} : tensor<3xfp32>
    %2 = conv2d %x, %0, %1 {stride = [1, 1], padding = [1, 1], dilation = [1, 1], groups = 1} : tensor<1x3x4x4xfp32> loc("m.py":7:5)
    %3 = const {name = @bn.running_mean} : tensor<3xfp32>
    %4 = const {name = @bn.running_var} : tensor<3xfp32>
    %5 = const {name = @bn.weight} : tensor<3xfp32>
    %6 = const {name = @bn.bias} : tensor<3xfp32>
    %7 = batch_norm %2, %3, %4, %5, %6 {eps = 0.001} : tensor<1x3x4x4xfp32> loc("m.py":8:5)
    return %7
  }
}
"""

AFTER = """\
module @m {
  func @main(%x: tensor<1x2x4x4xfp32>) -> (tensor<1x3x4x4xfp32>) {
    %0 = const {name = @conv.weight.bnfold} : tensor<3x2x3x3xfp32> loc("m.py":3:1)
    %1 = const {name = @conv.weight.bnfold_bias} : tensor<3xfp32> loc("m.py":3:1)
    %2 = conv2d %x, %0, %1 {stride = [1, 1], padding = [1, 1], dilation = [1, 1], groups = 1} : tensor<1x3x4x4xfp32> loc("m.py":7:5)
    return %2
  }
}
"""

NAMES = ["conv.weight", "conv.bias", "bn.running_mean", "bn.running_var", "bn.weight", "bn.bias"]


def reference_fold(w, b, mean, var, gamma, beta, eps):
    """An independent float64 formula (a different evaluation order from the pass)."""
    inv_std = (var.astype(np.float64) + eps) ** -0.5
    scale = gamma.astype(np.float64) * inv_std
    w2 = np.einsum("oihw,o->oihw", w.astype(np.float64), scale)
    b2 = beta.astype(np.float64) + scale * (b.astype(np.float64) - mean.astype(np.float64))
    return w2.astype(np.float32), b2.astype(np.float32)


def random_params(rng: np.random.Generator, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    arrays[3] = rng.uniform(0.1, 3.0, shapes[3]).astype(np.float32)  # variance > 0
    return arrays


def test_conv_bn_folds_to_one_conv_with_new_constants() -> None:
    m = parse_module(BEFORE)
    params = random_params(np.random.default_rng(0), [(3, 2, 3, 3), *[(3,)] * 5])
    m.consts.update(zip(NAMES, params, strict=True))
    out = FoldBatchnorm().apply(m, Context())
    verify_module(out)
    assert modules_equal(parse_module(AFTER), out, check_data=False)
    assert print_module(out, elide_data=True) == AFTER
    assert list(out.consts) == ["conv.weight.bnfold", "conv.weight.bnfold_bias"]
    w2, b2 = reference_fold(*params, eps=0.001)
    for got, want in zip(out.consts.values(), (w2, b2), strict=True):
        assert got.dtype == np.float32
        np.testing.assert_array_max_ulp(got, want, maxulp=1)


def test_conv_without_bias_gets_one() -> None:
    m = parse_module(BEFORE.replace(", %0, %1 {", ", %0 {"))
    params = random_params(np.random.default_rng(1), [(3, 2, 3, 3), *[(3,)] * 5])
    params[1] = np.zeros(3, np.float32)
    m.consts.update({k: v for k, v in zip(NAMES, params, strict=True) if k != "conv.bias"})
    out = FoldBatchnorm().apply(m, Context())
    assert print_module(out, elide_data=True) == AFTER
    w2, b2 = reference_fold(*params, eps=0.001)
    np.testing.assert_array_max_ulp(out.consts["conv.weight.bnfold"], w2, maxulp=1)
    np.testing.assert_array_max_ulp(out.consts["conv.weight.bnfold_bias"], b2, maxulp=1)


STANDALONE = """\
module @m {
  func @main(%x: tensor<1x3x4x4xfp32>) -> (tensor<1x3x4x4xfp32>) {
    %0 = relu %x : tensor<1x3x4x4xfp32>
    %1 = const {name = @bn.running_mean} : tensor<3xfp32>
    %2 = const {name = @bn.running_var} : tensor<3xfp32>
    %3 = const {name = @bn.weight} : tensor<3xfp32>
    %4 = const {name = @bn.bias} : tensor<3xfp32>
    %5 = batch_norm %0, %1, %2, %3, %4 {eps = 1e-05} : tensor<1x3x4x4xfp32>
    return %5
  }
}
"""

SECOND_READER = BEFORE.replace("return %7", "%8 = add %7, %2 : tensor<1x3x4x4xfp32>\n    return %8")


@pytest.mark.parametrize("text", [STANDALONE, SECOND_READER], ids=["standalone", "second-reader"])
def test_no_fold_unless_a_conv_feeds_only_the_batch_norm(text: str) -> None:
    m = parse_module(text)
    params = random_params(np.random.default_rng(2), [(3, 2, 3, 3), *[(3,)] * 5])
    m.consts.update((k, v) for k, v in zip(NAMES, params, strict=True) if f"@{k}}}" in text)
    before = print_module(m)
    out = FoldBatchnorm().apply(m, Context())
    assert print_module(out) == before


def test_no_fold_when_weight_is_not_constant_or_data_is_elided() -> None:
    m = parse_module(BEFORE)  # no data: the parser accepts elided constants
    assert print_module(FoldBatchnorm().apply(m, Context())) == BEFORE
    text = BEFORE.replace(
        "(%x: tensor<1x2x4x4xfp32>)", "(%x: tensor<1x2x4x4xfp32>, %w: tensor<3x2x3x3xfp32>)"
    )
    text = text.replace("conv2d %x, %0,", "conv2d %x, %w,")
    m = parse_module(text)
    m.consts.update(
        zip(
            NAMES, random_params(np.random.default_rng(3), [(3, 2, 3, 3), *[(3,)] * 5]), strict=True
        )
    )
    out = FoldBatchnorm().apply(m, Context())
    assert "batch_norm" in print_module(out)


# ---------------------------------------------------------------------------------------------
# Numerics against torch eager (conv then batch norm in eval mode)


def torch_conv_bn(cin: int, cout: int, groups: int, bias: bool, seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    conv = torch.nn.Conv2d(cin, cout, 3, stride=2, padding=2, dilation=2, groups=groups, bias=bias)
    bn = torch.nn.BatchNorm2d(cout, eps=1e-3)
    with torch.no_grad():
        bn.running_mean.normal_(0, 2)
        bn.running_var.uniform_(0.05, 4)
        bn.weight.normal_(0, 2)
        bn.bias.normal_()
    return torch.nn.Sequential(conv, bn).eval()


def to_ir(model: torch.nn.Sequential, xshape: tuple[int, ...]) -> Module:
    """conv2d + batch_norm IR with the model's parameters as constants (built by hand)."""
    conv, bn = model
    f = Function("forward", [Value(TensorType(xshape, FP32), name="x")], [])
    m = Module("convbn", [f])
    b = Builder(f)

    def const(name: str, t: torch.Tensor) -> Value:
        m.consts[name] = t.detach().numpy().astype(np.float32)
        return b.create(
            "const", [], {"name": Sym(name)}, result_type=TensorType(tuple(t.shape), FP32)
        )

    ops = [const("conv.weight", conv.weight)]
    if conv.bias is not None:
        ops.append(const("conv.bias", conv.bias))
    attrs = {
        "stride": conv.stride,
        "padding": conv.padding,
        "dilation": conv.dilation,
        "groups": conv.groups,
    }
    y = b.create("conv2d", [f.args[0], *ops], attrs)
    stats = [
        const(f"bn.{k}", getattr(bn, k)) for k in ("running_mean", "running_var", "weight", "bias")
    ]
    b.ret([b.create("batch_norm", [y, *stats], {"eps": bn.eps})])
    verify_module(m)
    return m


def error_bound(model: torch.nn.Sequential, x: torch.Tensor) -> np.ndarray:
    """Per-element bound on |fp32 result - exact| for conv+bn in either form.

    A dot product of n terms plus a bias computed in fp32 in any order is within
    gamma_{n+1} * sum|terms| of the exact value (gamma_k ~ k*u); rounding w' and b' once adds u
    times their magnitude, and the batch-norm steps of the eager form a few u times
    |s| (|conv| + |mean|) + |beta|. So both forms are within (n + 8) * u * M of the exact result,
    M = |s| * (sum |x||w| + |b| + |mean|) + |beta|, all in float64.
    """
    conv, bn = model
    d = {k: v.detach().double() for k, v in bn.state_dict().items() if v.is_floating_point()}
    s = (d["weight"] / torch.sqrt(d["running_var"] + bn.eps)).abs()
    a = torch.nn.functional.conv2d(
        x.double().abs(), conv.weight.double().abs(), None, conv.stride, conv.padding,
        conv.dilation, conv.groups,
    )  # fmt: skip
    bias = conv.bias.double().abs() if conv.bias is not None else torch.zeros_like(s)
    c = (s * (bias + d["running_mean"].abs()) + d["bias"].abs())[:, None, None]
    n = conv.weight[0].numel()
    return ((n + 8) * U * (s[:, None, None] * a + c)).numpy()


@pytest.mark.parametrize(
    ("cin", "cout", "groups", "bias"), [(4, 8, 1, True), (4, 8, 2, False), (6, 6, 6, True)]
)
def test_folded_conv_matches_torch_eager_within_the_fp32_bound(
    cin: int, cout: int, groups: int, bias: bool
) -> None:
    model = torch_conv_bn(cin, cout, groups, bias, seed=cin * 10 + groups)
    x = torch.randn(2, cin, 11, 9)
    folded = run_pipeline(to_ir(model, tuple(x.shape)), "canonicalize,fold-batchnorm")
    assert [op.name for op in folded.main.ops] == ["const", "const", "conv2d", "return"]
    w2, b2 = (torch.from_numpy(a) for a in folded.consts.values())
    conv = model[0]
    with torch.no_grad():
        eager = model(x).double().numpy()
        y_fold = (
            torch.nn.functional.conv2d(
                x, w2, b2, conv.stride, conv.padding, conv.dilation, conv.groups
            )
            .double()
            .numpy()
        )
        exact = copy.deepcopy(model).double()(x.double()).numpy()
        bound = error_bound(model, x)
    assert np.all(np.abs(eager - exact) <= bound)  # the bound holds for torch's own form
    assert np.all(np.abs(y_fold - exact) <= bound)
    assert np.all(np.abs(y_fold - eager) <= 2 * bound)
    # The bound is tight enough to catch a wrong fold, e.g. forgetting the running mean.
    bn = {k: v.double().numpy() for k, v in model[1].state_dict().items()}
    shift = bn["running_mean"] * bn["weight"] / np.sqrt(bn["running_var"] + 1e-3)
    assert np.any(np.abs(y_fold + shift[:, None, None] - exact) > bound)


def test_folded_module_interprets_within_the_bound() -> None:
    """The reference interpreter on the folded IR agrees with torch eager like torch's own conv."""
    model = torch_conv_bn(4, 8, 2, True, seed=7)
    x = torch.randn(1, 4, 7, 7)
    module = to_ir(model, tuple(x.shape))
    unfolded = interpret(module, [x.numpy()])[0]
    folded = run_pipeline(module, "fold-batchnorm")
    assert "batch_norm" not in print_module(folded)
    with torch.no_grad():
        exact = copy.deepcopy(model).double()(x.double()).numpy()
        bound = error_bound(model, x)
    assert np.all(np.abs(interpret(folded, [x.numpy()])[0] - exact) <= bound)
    assert np.all(np.abs(unfolded - exact) <= bound)


def test_cnn_example_folds_every_batch_norm() -> None:
    """Frontend IR of examples/cnn.py: every conv -> batch_norm pair folds, and the folded
    program is as close to the float64 model as the unfolded fp32 program (within 2x its error
    plus a few ulps of the output scale: both are fp32 programs of the same depth)."""
    model, inputs = load_model("examples/cnn.py")
    module = export_model(model, inputs, name="cnn")
    args = [t.numpy() for t in inputs]
    unfolded = interpret(module, args)[0]
    folded = run_pipeline(module, GRAPH_PIPELINE)
    names = [op.name for op in folded.main.ops]
    assert "batch_norm" not in names and names.count("conv2d") == 8
    assert sum(k.endswith(".bnfold") for k in folded.consts) == 8
    with torch.no_grad():
        exact = copy.deepcopy(model).double()(*(t.double() for t in inputs)).numpy()
    err_ref = np.max(np.abs(unfolded - exact))
    err_fold = np.max(np.abs(interpret(folded, args)[0] - exact))
    assert err_fold <= 2 * err_ref + 8 * U * np.max(np.abs(exact))
