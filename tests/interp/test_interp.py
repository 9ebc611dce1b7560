"""The reference interpreter against torch eager, hand-computed numbers and the order contract.

Tolerance (``close``): ``|got - want| <= 1e-5 * |want| + atol``. Elementwise ops use atol 1e-7
(fpmath is within a few ulp, torch's libm within 1-2 ulp; 1e-5 is ~170 fp32 ulp). An n-term fp32
sum of terms bounded by ``mag`` errs from the exact sum by at most about ``n * 2^-24 * mag`` in
any order, so two orders differ by at most twice that: sums get atol ``2 * n * 2^-24 * mag``
with ``mag`` the element-wise sum of |terms| (e.g. ``|a| @ |b|`` for matmul).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from d1c.accuracy.ref64 import reference64
from d1c.errors import D1cError, SimulationError, UnsupportedError
from d1c.interp import EVALUATORS, interpret
from d1c.ir import (
    BF16,
    FP16,
    FP32,
    I1,
    I64,
    OPS,
    Builder,
    ElemType,
    Function,
    Module,
    Op,
    Sym,
    TensorType,
    Value,
    elem_of_numpy,
    parse_module,
    print_module,
    verify_module,
)
from d1c.isa import fpmath

EPS = 2.0**-24
RNG = np.random.default_rng(0)


def build(name, arrays, attrs=None, rtype=None, elems=None, extra=None) -> Module:
    """A module whose function applies op ``name`` to arguments shaped like ``arrays``."""
    elems = elems or [elem_of_numpy(a.dtype) for a in arrays]
    args = [
        Value(TensorType(a.shape, e), name=f"a{i}")
        for i, (a, e) in enumerate(zip(arrays, elems, strict=True))
    ]
    f = Function("main", args, [])
    m = Module("t", [f])
    b = Builder(f)
    b.ret([b.create(name, args, dict(attrs or {}), result_type=rtype)])
    verify_module(m)
    return m


def run1(name, arrays, attrs=None, rtype=None, elems=None) -> np.ndarray:
    return interpret(build(name, arrays, attrs, rtype, elems), arrays)[0]


def close(got, want, *, n: int = 1, mag=0.0) -> None:
    want = np.asarray(want, dtype=np.float64)
    atol = np.maximum(1e-7, 2 * n * EPS * np.asarray(mag, dtype=np.float64))
    assert got.shape == want.shape
    with np.errstate(invalid="ignore"):
        err = np.abs(got.astype(np.float64) - want)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    bad = ~((err <= 1e-5 * np.abs(want) + atol) | same)
    assert not bad.any(), f"max error {err[bad].max()} at {np.argwhere(bad)[0]}"


def randn(*shape, scale=1.0) -> np.ndarray:
    return np.asarray(RNG.standard_normal(shape) * scale, dtype=np.float32)


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a))  # a copy; keeps rank 0


def test_every_op_row_has_an_evaluator() -> None:
    assert set(OPS) <= set(EVALUATORS)


# ----------------------------------------------------------------------------- elementwise
UNARY = {
    "exp": (torch.exp, 3.0),
    "log": (torch.log, None),
    "sqrt": (torch.sqrt, None),
    "rsqrt": (torch.rsqrt, None),
    "reciprocal": (torch.reciprocal, 3.0),
    "tanh": (torch.tanh, 3.0),
    "sigmoid": (torch.sigmoid, 6.0),
    "erf": (torch.erf, 2.0),
    "silu": (F.silu, 4.0),
    "sin": (torch.sin, 4.0),
    "cos": (torch.cos, 4.0),
    "floor": (torch.floor, 4.0),
    "ceil": (torch.ceil, 4.0),
    "neg": (torch.neg, 4.0),
    "abs": (torch.abs, 4.0),
    "relu": (torch.relu, 4.0),
}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", [(), (1,), (7, 13), (2, 3, 5)])
def test_unary_float_matches_torch(name, shape) -> None:
    fn, scale = UNARY[name]
    x = randn(*shape, scale=scale or 1.0)
    if scale is None:
        x = np.abs(x) * 10 + np.float32(1e-3)
    close(run1(name, [x]), fn(t(x)).numpy())


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate) -> None:
    x = randn(5, 31, scale=4.0)
    got = run1("gelu", [x], {"approximate": approximate})
    # torch's x * (1 + erf(x / sqrt2)) / 2 cancels for x < 0 and its vectorised erf is a few ulp
    # off: measured absolute error up to 6 * |x| * 2^-24, so allow 8 (n=4).
    close(got, F.gelu(t(x), approximate=approximate), n=4, mag=np.abs(x))


@pytest.mark.parametrize("name", ["exp", "tanh", "erf", "log", "sigmoid"])
def test_transcendentals_are_the_fpmath_sequences(name) -> None:
    x = np.abs(randn(64, scale=5.0)) + np.float32(0.01)
    got = run1(name, [x])
    assert got.tobytes() == getattr(fpmath, name)(x).tobytes()


BROADCAST = [((3, 1, 5), (1, 4, 5)), ((7,), (2, 3, 7)), ((), (2, 3)), ((1,), (1,)), ((2, 1), (13,))]


@pytest.mark.parametrize(("sa", "sb"), BROADCAST)
@pytest.mark.parametrize(
    ("name", "fn"),
    [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul), ("div", torch.div),
     ("maximum", torch.maximum), ("minimum", torch.minimum)],
)  # fmt: skip
def test_binary_float_is_bit_exact_with_torch(name, fn, sa, sb) -> None:
    a, b = randn(*sa), randn(*sb)
    assert run1(name, [a, b]).tobytes() == fn(t(a), t(b)).numpy().tobytes()


def test_maximum_minimum_relu_propagate_nan() -> None:
    a = np.float32([np.nan, 1.0, 2.0, -np.inf])
    b = np.float32([0.0, np.nan, 3.0, -1.0])
    np.testing.assert_array_equal(run1("maximum", [a, b]), [np.nan, np.nan, 3.0, -1.0])
    np.testing.assert_array_equal(run1("minimum", [a, b]), [np.nan, np.nan, 2.0, -np.inf])
    np.testing.assert_array_equal(run1("relu", [a]), [np.nan, 1.0, 2.0, 0.0])


@pytest.mark.parametrize(("sa", "sb"), BROADCAST)
def test_pow_matches_torch(sa, sb) -> None:
    a = np.abs(randn(*sa, scale=3.0)) + np.float32(0.1)
    b = randn(*sb, scale=2.0)
    got = run1("pow", [a, b])
    close(got, torch.pow(t(a), t(b)), mag=np.abs(got) * np.abs(b * np.log(a)) * 4)


def test_pow_integral_exponents_and_signs() -> None:
    a = np.float32([-3.0, -1.5, 0.0, 2.0, -2.0, -8.0, 1.1])
    b = np.float32([2.0, 3.0, 2.0, -1.0, 0.5, 40.0, 0.0])
    want = [9.0, -3.375, 0.0, 0.5, np.nan, 8.0**40, 1.0]
    close(run1("pow", [a, b]), want)
    x = randn(50)
    assert run1("pow", [x, np.full((), 2, np.float32)]).tobytes() == (x * x).tobytes()


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_integer_ops_match_torch(dtype) -> None:
    a = RNG.integers(-50, 50, (4, 6)).astype(dtype)
    b = RNG.integers(1, 9, (6,)).astype(dtype)
    e = RNG.integers(0, 4, (6,)).astype(dtype)
    ta, tb = t(a), t(b)
    for name, want in [
        ("add", ta + tb), ("sub", ta - tb), ("mul", ta * tb), ("maximum", torch.maximum(ta, tb)),
        ("div", torch.div(ta, tb, rounding_mode="floor")), ("neg", -ta), ("abs", ta.abs()),
        ("relu", ta.relu()), ("pow", ta ** t(e)),
    ]:  # fmt: skip
        ops = [a, e] if name == "pow" else [a] if name in ("neg", "abs", "relu") else [a, b]
        got = run1(name, ops)
        assert got.dtype == dtype and np.array_equal(got, want.numpy()), name


@pytest.mark.parametrize(("sa", "sb"), BROADCAST)
def test_compare_logic_where_match_torch(sa, sb) -> None:
    a, b = np.round(randn(*sa)), np.round(randn(*sb))
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        assert np.array_equal(run1(name, [a, b]), getattr(torch, name)(t(a), t(b)).numpy())
    p, q = a > 0, b > 0
    assert np.array_equal(run1("logical_and", [p, q]), np.logical_and(p, q))
    assert np.array_equal(run1("logical_or", [p, q]), np.logical_or(p, q))
    assert np.array_equal(run1("logical_not", [p]), ~p)
    assert np.array_equal(run1("where", [p, a, b]), torch.where(t(p), t(a), t(b)).numpy())


# ----------------------------------------------------------------------------- reductions
REDUCE = [((5,), (0,)), ((3, 7), (1,)), ((3, 7), (0, 1)), ((2, 1, 11), (0, 2)), ((4, 3, 2), (1,))]


@pytest.mark.parametrize(("shape", "dims"), REDUCE)
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions_match_torch(shape, dims, keepdim) -> None:
    x = randn(*shape, scale=3.0)
    n = int(np.prod([shape[d] for d in dims]))
    mag = np.abs(x).sum(axis=dims, keepdims=keepdim)
    attrs = {"dims": dims, "keepdim": keepdim}
    tx = t(x)
    close(run1("reduce_sum", [x], attrs), tx.sum(dims, keepdim), n=n, mag=mag)
    close(run1("reduce_mean", [x], attrs), tx.mean(dims, keepdim), n=n, mag=mag / n)
    assert np.array_equal(run1("reduce_max", [x], attrs), tx.amax(dims, keepdim).numpy())
    assert np.array_equal(run1("reduce_min", [x], attrs), tx.amin(dims, keepdim).numpy())


def test_sum_is_sequential_in_row_major_order() -> None:
    # Hand-computed: ((((0 + 1e8) + 1) + -1e8) + 1) = 1 in fp32 (1e8 + 1 rounds to 1e8).
    x = np.float32([[1e8, 1.0], [-1e8, 1.0]])
    assert run1("reduce_sum", [x], {"dims": (0, 1)}).item() == 1.0
    # Transposed: 1e8, -1e8, 1, 1 in row-major order gives 2.
    assert run1("reduce_sum", [x.T.copy()], {"dims": (0, 1)}).item() == 2.0


def test_integer_and_bool_reductions() -> None:
    x = RNG.integers(-9, 9, (3, 5))
    assert np.array_equal(run1("reduce_sum", [x], {"dims": (1,)}), x.sum(1))
    assert np.array_equal(run1("reduce_mean", [x], {"dims": (1,)}), x.sum(1) // 5)
    assert np.array_equal(run1("reduce_max", [x > 0], {"dims": (0,)}), (x > 0).any(0))


@pytest.mark.parametrize(("shape", "dim"), [((7,), 0), ((3, 13), 1), ((2, 5, 3), 1)])
def test_softmax_log_softmax_match_torch(shape, dim) -> None:
    x = randn(*shape, scale=4.0)
    x.flat[0] = -np.inf  # masked entry, as in causal attention
    n = shape[dim]
    close(run1("softmax", [x], {"dim": dim}), torch.softmax(t(x), dim), n=n, mag=1.0)
    close(run1("log_softmax", [x], {"dim": dim}), torch.log_softmax(t(x), dim), n=n, mag=4.0)


@pytest.mark.parametrize(
    ("shape", "ndim", "n_affine"), [((4, 9), 1, 2), ((2, 3, 5), 2, 1), ((6,), 1, 0)]
)
def test_layer_norm_matches_torch(shape, ndim, n_affine) -> None:
    x = randn(*shape, scale=3.0) + np.float32(2.0)
    norm = shape[len(shape) - ndim :]
    affine = [randn(*norm) for _ in range(n_affine)]
    got = run1("layer_norm", [x, *affine], {"ndim": ndim, "eps": 1e-5})
    want = F.layer_norm(t(x), norm, *(t(p) for p in affine), eps=1e-5)
    close(got, want, n=int(np.prod(norm)), mag=4.0)


def test_batch_norm_matches_torch() -> None:
    x = randn(2, 5, 3, 4, scale=2.0)
    mean, weight, bias = randn(5), randn(5), randn(5)
    var = np.abs(randn(5)) + np.float32(0.5)
    got = run1("batch_norm", [x, mean, var, weight, bias], {"eps": 1e-3})
    want = F.batch_norm(t(x), t(mean), t(var), t(weight), t(bias), eps=1e-3)
    close(got, want, mag=10.0)


# ----------------------------------------------------------------------------- matmul / conv / pool
@pytest.mark.parametrize(
    ("sa", "sb"),
    [((1, 1), (1, 1)), ((3, 17, 11), (11, 2)), ((2, 1, 3, 5), (4, 5, 7)), ((13, 64), (64, 9))],
)
def test_matmul_matches_torch(sa, sb) -> None:
    a, b = randn(*sa), randn(*sb)
    close(run1("matmul", [a, b]), t(a) @ t(b), n=sa[-1], mag=np.abs(a) @ np.abs(b))


def test_matmul_accumulates_sequentially_in_k() -> None:
    a, b = randn(3, 6), randn(6, 4)
    want = np.zeros((3, 4), np.float32)
    for m in range(3):
        for n in range(4):
            acc = np.float32(0)
            for k in range(6):
                acc = np.float32(acc + np.float32(a[m, k] * b[k, n]))
            want[m, n] = acc
    assert run1("matmul", [a, b]).tobytes() == want.tobytes()


CONV = [  # (N, C, H, W, O, K, stride, padding, dilation, groups, bias)
    (1, 3, 8, 8, 4, 3, (1, 1), (1, 1), (1, 1), 1, True),
    (2, 4, 9, 7, 6, 3, (2, 1), (0, 2), (1, 1), 2, False),
    (1, 6, 11, 11, 6, 3, (1, 1), (2, 2), (2, 2), 3, True),
    (1, 2, 5, 5, 3, 1, (2, 2), (0, 0), (1, 1), 1, True),
]


@pytest.mark.parametrize("cfg", CONV)
def test_conv2d_matches_torch(cfg) -> None:
    n, c, h, w, o, k, stride, padding, dilation, groups, has_bias = cfg
    x, wt = randn(n, c, h, w), randn(o, c // groups, k, k)
    args = [x, wt] + ([randn(o)] if has_bias else [])
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    want = F.conv2d(
        *(t(a) for a in args), stride=stride, padding=padding, dilation=dilation, groups=groups
    )
    mag = F.conv2d(t(np.abs(x)), t(np.abs(wt)), None, stride, padding, dilation, groups).numpy()
    close(run1("conv2d", args, attrs), want, n=c // groups * k * k + 1, mag=mag + 3)


def test_conv2d_contracts_channel_then_kernel_row_then_column() -> None:
    x, wt = randn(1, 2, 4, 4), randn(1, 2, 2, 2)
    want = np.zeros((1, 1, 3, 3), np.float32)
    for i in range(3):
        for j in range(3):
            acc = np.float32(0)
            for ci in range(2):
                for ki in range(2):
                    for kj in range(2):
                        acc = np.float32(
                            acc + np.float32(x[0, ci, i + ki, j + kj] * wt[0, ci, ki, kj])
                        )
            want[0, 0, i, j] = acc
    assert run1("conv2d", [x, wt]).tobytes() == want.tobytes()


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation", "ceil_mode"),
    [((2, 2), (2, 2), (0, 0), (1, 1), False), ((3, 3), (2, 2), (1, 1), (1, 1), True),
     ((3, 2), (1, 2), (1, 0), (2, 1), False), ((2, 3), (2, 2), (0, 1), (1, 1), True)],
)  # fmt: skip
def test_max_pool2d_is_exact_with_torch(kernel, stride, padding, dilation, ceil_mode) -> None:
    x = randn(2, 3, 9, 10)
    attrs = {
        "kernel": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "ceil_mode": ceil_mode,
    }
    want = F.max_pool2d(t(x), kernel, stride, padding, dilation, ceil_mode)
    assert np.array_equal(run1("max_pool2d", [x], attrs), want.numpy())


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "ceil_mode", "include", "divisor"),
    [((2, 2), (2, 2), (0, 0), False, True, 0), ((3, 3), (2, 2), (1, 1), True, True, 0),
     ((3, 3), (2, 2), (1, 1), True, False, 0), ((3, 2), (1, 2), (1, 1), False, True, 5)],
)  # fmt: skip
def test_avg_pool2d_matches_torch(kernel, stride, padding, ceil_mode, include, divisor) -> None:
    x = randn(2, 3, 9, 10)
    attrs = {"kernel": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil_mode,
             "count_include_pad": include, "divisor": divisor}  # fmt: skip
    want = F.avg_pool2d(t(x), kernel, stride, padding, ceil_mode, include, divisor or None)
    close(run1("avg_pool2d", [x], attrs), want, n=6, mag=4.0)


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (7, 7), (10, 13)])
def test_adaptive_avg_pool2d_matches_torch(size) -> None:
    x = randn(2, 3, 10, 13)
    close(
        run1("adaptive_avg_pool2d", [x], {"size": size}),
        F.adaptive_avg_pool2d(t(x), size),
        n=130,
        mag=4.0,
    )


# ----------------------------------------------------------------------------- data movement
def test_data_movement_matches_torch() -> None:
    x = randn(2, 3, 5)
    tx = t(x)
    r = TensorType((5, 6), FP32)
    assert np.array_equal(run1("reshape", [x], rtype=r), tx.reshape(5, 6).numpy())
    b = TensorType((4, 2, 3, 5), FP32)
    assert np.array_equal(run1("broadcast_to", [x], rtype=b), tx.expand(4, 2, 3, 5).numpy())
    assert np.array_equal(run1("permute", [x], {"dims": (2, 0, 1)}), tx.permute(2, 0, 1).numpy())
    sl = {"dim": 2, "start": 1, "end": 5, "step": 3}
    assert np.array_equal(run1("slice", [x], sl), tx[:, :, 1:5:3].numpy())
    y, z = randn(2, 1, 5), randn(2, 4, 5)
    assert np.array_equal(
        run1("concat", [x, y, z], {"dim": 1}), torch.cat([tx, t(y), t(z)], 1).numpy()
    )
    pads = {"pads": (0, 1, 2, 0, 1, 1), "value": -1.5}
    assert np.array_equal(run1("pad", [x], pads), F.pad(tx, (1, 1, 2, 0, 0, 1), value=-1.5).numpy())


def test_embedding_iota_full_const() -> None:
    w, idx = randn(11, 4), RNG.integers(0, 11, (3, 5))
    assert np.array_equal(run1("embedding", [w, idx]), F.embedding(t(idx), t(w)).numpy())
    assert np.array_equal(
        run1("iota", [], {"dim": 1}, TensorType((3, 4), I64)), torch.arange(4).expand(3, 4).numpy()
    )
    full = run1("full", [], {"value": -np.inf}, TensorType((2,), BF16))
    assert full.dtype == np.float32 and np.array_equal(full, [-np.inf, -np.inf])
    f = Function("main", [], [])
    m = Module("c", [f], {"w": w})
    bld = Builder(f)
    bld.ret([bld.create("const", [], {"name": Sym("w")}, result_type=TensorType(w.shape, FP32))])
    got = interpret(m, [])[0]
    assert np.array_equal(got, w) and got is not w


# ----------------------------------------------------------------------------- formats
@pytest.mark.parametrize(("elem", "tdtype"), [(BF16, torch.bfloat16), (FP16, torch.float16)])
def test_convert_and_arithmetic_in_16_bit_formats_match_torch(elem, tdtype) -> None:
    x, y = randn(64, scale=100.0), randn(64)
    xr = run1("convert", [x], rtype=TensorType((64,), elem))
    assert np.array_equal(xr, t(x).to(tdtype).float().numpy())
    yr = t(y).to(tdtype).float().numpy()
    for name, fn in [("add", torch.add), ("mul", torch.mul), ("div", torch.div)]:
        got = run1(name, [xr, yr], elems=[elem, elem])
        assert np.array_equal(got, fn(t(xr).to(tdtype), t(yr).to(tdtype)).float().numpy()), name


def test_convert_stochastic_rounding_picks_a_neighbour_reproducibly() -> None:
    x = randn(4096)
    m = build("convert", [x], {"rounding": "sr"}, TensorType(x.shape, BF16))
    got = interpret(m, [x], seed=7)[0]
    down = (x.view(np.uint32) & 0xFFFF0000).view(np.float32)  # toward zero
    up = np.nextafter(
        down.astype(ml_dtypes.bfloat16), np.copysign(np.inf, x).astype(ml_dtypes.bfloat16)
    )
    assert np.all((got == down) | (got == up.astype(np.float32)))
    assert 0.3 < np.mean(got != down) < 0.7
    assert got.tobytes() == interpret(m, [x], seed=7)[0].tobytes()
    assert got.tobytes() != interpret(m, [x], seed=8)[0].tobytes()


def test_convert_between_integers_floats_and_bool() -> None:
    x = np.float32([2.7, -2.7, 0.0, np.nan, 1e20, -1e20, 3e9])
    got = run1("convert", [x], rtype=TensorType((7,), I64))
    assert list(got) == [2, -2, 0, 0, 2**63 - 1, -(2**63), 3000000000]
    assert np.array_equal(got[:3], t(x[:3]).to(torch.int64).numpy())
    assert list(run1("convert", [x], rtype=TensorType((7,), I1))) == [1, 1, 0, 1, 1, 1, 1]
    i = np.int64([3, -(2**40) - 1, 2**24 + 1])
    assert np.array_equal(run1("convert", [i], rtype=TensorType((3,), FP32)), t(i).float().numpy())


def test_cfloat8_results_saturate() -> None:
    e = ElemType("cfp8_143", 7)
    x = np.float32([32.0, 4.0, 3.0])
    got = run1("mul", [x, np.float32([16.0, -240.0, 1.25])], elems=[e, e])
    assert list(got) == [480.0, -480.0, 3.75]  # 1-4-3 bias 7, no Inf: max = 1.875 * 2^(15-7)


# ----------------------------------------------------------------------------- errors, determinism
MLP = """module @m {
  func @main(%x: tensor<2x3xfp32>) -> (tensor<2x4xfp32>) {
    %0 = const {name = @w} : tensor<3x4xfp32>
    %1 = matmul %x, %0 : tensor<2x4xfp32>
    %2 = tanh %1 : tensor<2x4xfp32>
    return %2
  }
  data @w : tensor<3x4xfp32> = 0x%s
}
""".replace("%s", randn(3, 4).tobytes().hex())


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [([], "takes 1 inputs, got 0"), ([np.zeros((3, 2), np.float32)], "has shape [3, 2]"),
     ([np.zeros((2, 3))], "has dtype float64")],
)  # fmt: skip
def test_bad_inputs_are_reported(inputs, fragment) -> None:
    with pytest.raises(D1cError, match=None) as info:
        interpret(parse_module(MLP), inputs)
    assert fragment in str(info.value) and "hint:" in str(info.value)


def test_unrepresentable_bf16_input_is_reported() -> None:
    x = np.float32([1.0 + 2**-10])
    with pytest.raises(D1cError, match="bf16 cannot represent"):
        interpret(build("neg", [x], elems=[BF16]), [x])


def test_elided_data_names_the_constant() -> None:
    m = parse_module(print_module(parse_module(MLP), elide_data=True), "dump.d1")
    with pytest.raises(D1cError) as info:
        interpret(m, [randn(2, 3)])
    assert "constant @w has no data" in str(info.value) and str(info.value).startswith(
        "dump.d1:3:5"
    )


def test_unknown_op_is_named_with_its_position() -> None:
    m = parse_module(MLP, "m.d1")
    op = m.main.ops[2]
    m.main.ops[2] = Op("frobnicate", op.operands, op.results, {}, None, op.pos)
    with pytest.raises(UnsupportedError, match="no evaluator for op 'frobnicate'") as info:
        interpret(m, [randn(2, 3)])
    assert str(info.value).startswith("m.d1:5:5")


def test_data_faults_and_unsupported_types() -> None:
    with pytest.raises(SimulationError, match="index 11 is out of range"):
        run1("embedding", [randn(11, 2), np.int64([3, 11])])
    with pytest.raises(SimulationError, match="integer division by zero"):
        run1("div", [np.int64([1, 2]), np.int64([1, 0])])
    with pytest.raises(UnsupportedError, match="not defined on i1"):
        run1("neg", [np.bool_([True])])
    with pytest.raises(D1cError, match="has no function @nope"):
        interpret(parse_module(MLP), [randn(2, 3)], func="nope")


def test_runs_are_bit_identical() -> None:
    m, x = parse_module(MLP), randn(2, 3)
    first = interpret(m, [x])[0]
    assert first.tobytes() == interpret(parse_module(MLP), [x.copy()])[0].tobytes()
    w = m.consts["w"]
    close(first, np.tanh(x.astype(np.float64) @ w), n=3, mag=np.abs(x) @ np.abs(w))


# ``pad`` of a rank-0 tensor (no pads) is the identity in the interpreter and in the float64
# reference; numpy cannot pad 0-d arrays, so both used to fail on this valid op (found by the
# extended ``graph_modules`` strategy in tests/accuracy/test_bounds.py and by ``d1c fuzz``).


TEXT = """module @m {
  func @main(%x: tensor<fp32>) -> (tensor<fp32>) {
    %0 = pad %x {pads = [], value = 0.0} : tensor<fp32>
    return %0
  }
}
"""


def test_pad_of_a_scalar_is_the_identity() -> None:
    m = parse_module(TEXT)
    x = np.array(-1.5, np.float32)
    (got,) = interpret(m, [x])
    (ref,) = reference64(m, [x])
    assert got.shape == () and got == np.float32(-1.5) and got.dtype == np.float32
    assert ref.shape == () and ref == -1.5


def test_pad_of_a_scalar_has_the_bound_of_its_operand() -> None:
    from d1c.accuracy.bounds import check_within_bound

    m = parse_module(TEXT)
    x = [np.array(-1.5, np.float32)]
    (c,) = check_within_bound(m, m, x)
    assert (c.err, c.allowed, c.index, c.ok()) == (0.0, 0.0, (), True)
