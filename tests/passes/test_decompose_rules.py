"""``decompose`` rule by rule: the IR each rule emits (hand-written expected text), and its
values against the interpreter's composite op (bit-identical, in fp32, bf16 and cfp8 storage)
or, for conv2d, against a float64 torch oracle within the fp32 accumulation bound."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from d1c.interp import interpret, round_to
from d1c.ir import BF16, Module, parse_module, print_module
from d1c.passes import run_pipeline
from d1c.passes.primitives import check_primitive

FORMATS = ("fp32", "bf16", "cfp8_143<9>")


def mod(args: str, results: str, body: str) -> str:
    body = "\n".join("    " + line.strip() for line in body.strip().splitlines())
    return f"module @m {{\n  func @main({args}) -> ({results}) {{\n{body}\n  }}\n}}\n"


def decompose(text: str, fold: bool = False) -> Module:
    m = run_pipeline(parse_module(text), f"decompose{{fold={str(fold).lower()}}}")
    for op in m.ops():
        assert check_primitive(op, formats=False) is None, op.name
    return m


def inputs_for(m: Module, seed: int, specials: bool = True) -> list[np.ndarray]:
    """Random inputs of the main function's argument types (floats rounded to their format),
    with NaN, infinities and signed zeros sprinkled in when ``specials``."""
    rng = np.random.default_rng(seed)
    out = []
    for arg in m.main.args:
        t = arg.type
        x = (rng.standard_normal(t.shape) * 2).astype(np.float32)
        if specials and x.size >= 8:
            flat = x.reshape(-1)
            flat[rng.choice(x.size, 4, replace=False)] = [np.nan, np.inf, -np.inf, -0.0]
        out.append(round_to(x, t.elem))
    return out


def assert_same(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    """Equal values bit for bit (NaNs compared by position, signed zeros by sign)."""
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        ok = ~np.isnan(w)
        np.testing.assert_array_equal(g[ok].view(np.uint32), w[ok].view(np.uint32))


def check_bits(text: str, seeds: int = 3, specials: bool = True) -> None:
    src = parse_module(text)
    out = decompose(text)
    for seed in range(seeds):
        xs = inputs_for(src, seed, specials)
        assert_same(interpret(out, xs), interpret(src, xs))


# -- the IR each rule emits ------------------------------------------------------------------

CASES = {
    "reduce-other-dim": (
        "%x: tensor<2x3x4xfp32>",
        "tensor<3x4xfp32>",
        "%0 = reduce_sum %x {dims = [0], keepdim = false} : tensor<3x4xfp32>\nreturn %0",
        """%0 = permute %x {dims = [1, 2, 0]} : tensor<3x4x2xfp32>
           %1 = reduce_sum %0 {dims = [2], keepdim = true} : tensor<3x4x1xfp32>
           %2 = reshape %1 : tensor<3x4xfp32>
           return %2""",
    ),
    "reduce-mean-two-dims-bf16": (
        "%x: tensor<2x3x4xbf16>",
        "tensor<2x1x1xbf16>",
        "%0 = reduce_mean %x {dims = [1, 2], keepdim = true} : tensor<2x1x1xbf16>\nreturn %0",
        """%0 = reshape %x : tensor<2x12xbf16>
           %1 = convert %0 {rounding = "rne"} : tensor<2x12xfp32>
           %2 = reduce_sum %1 {dims = [1], keepdim = true} : tensor<2x1xfp32>
           %3 = reshape %2 : tensor<2x1x1xfp32>
           %4 = full {value = 12.0} : tensor<fp32>
           %5 = div %3, %4 : tensor<2x1x1xfp32>
           %6 = convert %5 {rounding = "rne"} : tensor<2x1x1xbf16>
           return %6""",
    ),
    "reduce-max-stays-in-its-format": (
        "%x: tensor<2x3xbf16>",
        "tensor<2xbf16>",
        "%0 = reduce_max %x {dims = [1], keepdim = false} : tensor<2xbf16>\nreturn %0",
        """%0 = reduce_max %x {dims = [1], keepdim = true} : tensor<2x1xbf16>
           %1 = reshape %0 : tensor<2xbf16>
           return %1""",
    ),
    "softmax-inner-dim-bf16": (
        "%x: tensor<2x3x4xbf16>",
        "tensor<2x3x4xbf16>",
        "%0 = softmax %x {dim = 1} : tensor<2x3x4xbf16>\nreturn %0",
        """%0 = convert %x {rounding = "rne"} : tensor<2x3x4xfp32>
           %1 = permute %0 {dims = [0, 2, 1]} : tensor<2x4x3xfp32>
           %2 = reduce_max %1 {dims = [2], keepdim = true} : tensor<2x4x1xfp32>
           %3 = sub %1, %2 : tensor<2x4x3xfp32>
           %4 = exp %3 : tensor<2x4x3xfp32>
           %5 = reduce_sum %4 {dims = [2], keepdim = true} : tensor<2x4x1xfp32>
           %6 = div %4, %5 : tensor<2x4x3xfp32>
           %7 = permute %6 {dims = [0, 2, 1]} : tensor<2x3x4xfp32>
           %8 = convert %7 {rounding = "rne"} : tensor<2x3x4xbf16>
           return %8""",
    ),
    "log-softmax": (
        "%x: tensor<2x3xfp32>",
        "tensor<2x3xfp32>",
        "%0 = log_softmax %x {dim = 1} : tensor<2x3xfp32>\nreturn %0",
        """%0 = reduce_max %x {dims = [1], keepdim = true} : tensor<2x1xfp32>
           %1 = sub %x, %0 : tensor<2x3xfp32>
           %2 = exp %1 : tensor<2x3xfp32>
           %3 = reduce_sum %2 {dims = [1], keepdim = true} : tensor<2x1xfp32>
           %4 = log %3 : tensor<2x1xfp32>
           %5 = sub %1, %4 : tensor<2x3xfp32>
           return %5""",
    ),
    "layer-norm-two-dims": (
        "%x: tensor<2x3x4xfp32>, %w: tensor<3x4xfp32>",
        "tensor<2x3x4xfp32>",
        "%0 = layer_norm %x, %w {ndim = 2, eps = 1e-05} : tensor<2x3x4xfp32>\nreturn %0",
        """%0 = reshape %x : tensor<2x12xfp32>
           %1 = reduce_sum %0 {dims = [1], keepdim = true} : tensor<2x1xfp32>
           %2 = full {value = 12.0} : tensor<fp32>
           %3 = div %1, %2 : tensor<2x1xfp32>
           %4 = sub %0, %3 : tensor<2x12xfp32>
           %5 = mul %4, %4 : tensor<2x12xfp32>
           %6 = reduce_sum %5 {dims = [1], keepdim = true} : tensor<2x1xfp32>
           %7 = full {value = 12.0} : tensor<fp32>
           %8 = div %6, %7 : tensor<2x1xfp32>
           %9 = full {value = 1e-05} : tensor<fp32>
           %10 = add %8, %9 : tensor<2x1xfp32>
           %11 = rsqrt %10 : tensor<2x1xfp32>
           %12 = mul %4, %11 : tensor<2x12xfp32>
           %13 = reshape %12 : tensor<2x3x4xfp32>
           %14 = mul %13, %w : tensor<2x3x4xfp32>
           return %14""",
    ),
    "batch-norm": (
        "%x: tensor<2x3x4xfp32>, %m: tensor<3xfp32>, %v: tensor<3xfp32>, %w: tensor<3xfp32>, "
        "%b: tensor<3xfp32>",
        "tensor<2x3x4xfp32>",
        "%0 = batch_norm %x, %m, %v, %w, %b {eps = 0.001} : tensor<2x3x4xfp32>\nreturn %0",
        """%0 = full {value = 0.001} : tensor<fp32>
           %1 = add %v, %0 : tensor<3xfp32>
           %2 = sqrt %1 : tensor<3xfp32>
           %3 = reshape %m : tensor<1x3x1xfp32>
           %4 = sub %x, %3 : tensor<2x3x4xfp32>
           %5 = reshape %2 : tensor<1x3x1xfp32>
           %6 = div %4, %5 : tensor<2x3x4xfp32>
           %7 = reshape %w : tensor<1x3x1xfp32>
           %8 = mul %6, %7 : tensor<2x3x4xfp32>
           %9 = reshape %b : tensor<1x3x1xfp32>
           %10 = add %8, %9 : tensor<2x3x4xfp32>
           return %10""",
    ),
    "matmul-batch-into-rows-bf16": (
        "%a: tensor<2x3x4x5xbf16>, %b: tensor<5x6xbf16>",
        "tensor<2x3x4x6xbf16>",
        "%0 = matmul %a, %b : tensor<2x3x4x6xbf16>\nreturn %0",
        """%0 = reshape %a : tensor<24x5xbf16>
           %1 = matmul %0, %b : tensor<24x6xfp32>
           %2 = reshape %1 : tensor<2x3x4x6xfp32>
           %3 = convert %2 {rounding = "rne"} : tensor<2x3x4x6xbf16>
           return %3""",
    ),
    "matmul-broadcast-batch": (
        "%a: tensor<3x4xfp32>, %b: tensor<2x1x4x5xfp32>",
        "tensor<2x1x3x5xfp32>",
        "%0 = matmul %a, %b : tensor<2x1x3x5xfp32>\nreturn %0",
        """%0 = broadcast_to %a : tensor<2x1x3x4xfp32>
           %1 = reshape %0 : tensor<2x3x4xfp32>
           %2 = reshape %b : tensor<2x4x5xfp32>
           %3 = matmul %1, %2 : tensor<2x3x5xfp32>
           %4 = reshape %3 : tensor<2x1x3x5xfp32>
           return %4""",
    ),
    "pow-constant-exponents": (
        "%x: tensor<4xfp32>",
        "tensor<4xfp32>, tensor<4xfp32>, tensor<4xfp32>",
        """%0 = full {value = 3.0} : tensor<fp32>
           %1 = pow %x, %0 : tensor<4xfp32>
           %2 = full {value = -2.0} : tensor<fp32>
           %3 = pow %x, %2 : tensor<4xfp32>
           %4 = full {value = 0.5} : tensor<fp32>
           %5 = pow %x, %4 : tensor<4xfp32>
           return %1, %3, %5""",
        """%0 = mul %x, %x : tensor<4xfp32>
           %1 = mul %x, %0 : tensor<4xfp32>
           %2 = mul %x, %x : tensor<4xfp32>
           %3 = full {value = 1.0} : tensor<fp32>
           %4 = div %3, %2 : tensor<4xfp32>
           %5 = full {value = 0.5} : tensor<fp32>
           %6 = abs %x : tensor<4xfp32>
           %7 = log %6 : tensor<4xfp32>
           %8 = mul %5, %7 : tensor<4xfp32>
           %9 = exp %8 : tensor<4xfp32>
           %10 = full {value = 0.0} : tensor<fp32>
           %11 = lt %x, %10 : tensor<4xi1>
           %12 = full {value = nan} : tensor<fp32>
           %13 = where %11, %12, %9 : tensor<4xfp32>
           return %1, %4, %13""",
    ),
    "conv2d-grouped-implicit-gemm": (
        "%x: tensor<1x2x3x3xfp32>, %w: tensor<4x1x2x1xfp32>, %b: tensor<4xfp32>",
        "tensor<1x4x2x3xfp32>",
        "%0 = conv2d %x, %w, %b {stride = [1, 1], padding = [0, 0], dilation = [1, 1], "
        "groups = 2} : tensor<1x4x2x3xfp32>\nreturn %0",
        """%0 = slice %x {dim = 2, start = 0, end = 2, step = 1} : tensor<1x2x2x3xfp32>
           %1 = reshape %0 : tensor<1x2x1x6xfp32>
           %2 = slice %x {dim = 2, start = 1, end = 3, step = 1} : tensor<1x2x2x3xfp32>
           %3 = reshape %2 : tensor<1x2x1x6xfp32>
           %4 = concat %1, %3 {dim = 2} : tensor<1x2x2x6xfp32>
           %5 = reshape %4 : tensor<2x2x6xfp32>
           %6 = reshape %w : tensor<2x2x2xfp32>
           %7 = matmul %6, %5 : tensor<2x2x6xfp32>
           %8 = reshape %7 : tensor<1x4x2x3xfp32>
           %9 = reshape %b : tensor<1x4x1x1xfp32>
           %10 = add %8, %9 : tensor<1x4x2x3xfp32>
           return %10""",
    ),
    "max-pool-ceil-mode": (
        "%x: tensor<1x1x3x3xbf16>",
        "tensor<1x1x2x2xbf16>",
        "%0 = max_pool2d %x {kernel = [2, 2], stride = [2, 2], padding = [0, 0], "
        "dilation = [1, 1], ceil_mode = true} : tensor<1x1x2x2xbf16>\nreturn %0",
        """%0 = pad %x {pads = [0, 0, 0, 0, 0, 1, 0, 1], value = -inf} : tensor<1x1x4x4xbf16>
           %1 = slice %0 {dim = 2, start = 0, end = 3, step = 2} : tensor<1x1x2x4xbf16>
           %2 = slice %1 {dim = 3, start = 0, end = 3, step = 2} : tensor<1x1x2x2xbf16>
           %3 = slice %1 {dim = 3, start = 1, end = 4, step = 2} : tensor<1x1x2x2xbf16>
           %4 = slice %0 {dim = 2, start = 1, end = 4, step = 2} : tensor<1x1x2x4xbf16>
           %5 = slice %4 {dim = 3, start = 0, end = 3, step = 2} : tensor<1x1x2x2xbf16>
           %6 = slice %4 {dim = 3, start = 1, end = 4, step = 2} : tensor<1x1x2x2xbf16>
           %7 = maximum %2, %3 : tensor<1x1x2x2xbf16>
           %8 = maximum %7, %5 : tensor<1x1x2x2xbf16>
           %9 = maximum %8, %6 : tensor<1x1x2x2xbf16>
           return %9""",
    ),
    "avg-pool-uneven-divisors": (
        "%x: tensor<1x1x3x3xfp32>",
        "tensor<1x1x2x2xfp32>",
        "%0 = avg_pool2d %x {kernel = [2, 2], stride = [2, 2], padding = [1, 1], "
        "ceil_mode = false, count_include_pad = false, divisor = 0} : tensor<1x1x2x2xfp32>\n"
        "return %0",
        """%0 = pad %x {pads = [0, 0, 0, 0, 1, 1, 1, 1], value = 0.0} : tensor<1x1x5x5xfp32>
           %1 = full {value = 0.0} : tensor<fp32>
           %2 = slice %0 {dim = 2, start = 0, end = 3, step = 2} : tensor<1x1x2x5xfp32>
           %3 = slice %2 {dim = 3, start = 0, end = 3, step = 2} : tensor<1x1x2x2xfp32>
           %4 = slice %2 {dim = 3, start = 1, end = 4, step = 2} : tensor<1x1x2x2xfp32>
           %5 = slice %0 {dim = 2, start = 1, end = 4, step = 2} : tensor<1x1x2x5xfp32>
           %6 = slice %5 {dim = 3, start = 0, end = 3, step = 2} : tensor<1x1x2x2xfp32>
           %7 = slice %5 {dim = 3, start = 1, end = 4, step = 2} : tensor<1x1x2x2xfp32>
           %8 = add %1, %3 : tensor<1x1x2x2xfp32>
           %9 = add %8, %4 : tensor<1x1x2x2xfp32>
           %10 = add %9, %6 : tensor<1x1x2x2xfp32>
           %11 = add %10, %7 : tensor<1x1x2x2xfp32>
           %12 = const {name = @pool_divisor.0} : tensor<2x2xfp32>
           %13 = div %11, %12 : tensor<1x1x2x2xfp32>
           return %13""",
    ),
    "adaptive-avg-pool-even": (
        "%x: tensor<1x2x4x6xfp32>",
        "tensor<1x2x2x3xfp32>",
        "%0 = adaptive_avg_pool2d %x {size = [2, 3]} : tensor<1x2x2x3xfp32>\nreturn %0",
        """%0 = reshape %x : tensor<1x2x2x2x3x2xfp32>
           %1 = permute %0 {dims = [0, 1, 2, 4, 3, 5]} : tensor<1x2x2x3x2x2xfp32>
           %2 = reshape %1 : tensor<1x2x2x3x4xfp32>
           %3 = reduce_sum %2 {dims = [4], keepdim = true} : tensor<1x2x2x3x1xfp32>
           %4 = reshape %3 : tensor<1x2x2x3xfp32>
           %5 = full {value = 4.0} : tensor<fp32>
           %6 = div %4, %5 : tensor<1x2x2x3xfp32>
           return %6""",
    ),
    "iota-becomes-const": (
        "%x: tensor<3xfp32>",
        "tensor<3xfp32>",
        "%0 = iota {dim = 0} : tensor<3xfp32>\n%1 = add %x, %0 : tensor<3xfp32>\nreturn %1",
        """%0 = const {name = @iota.0} : tensor<3xfp32>
           %1 = add %x, %0 : tensor<3xfp32>
           return %1""",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_rule_emits_the_expected_ir(case: str) -> None:
    args, results, before, after = CASES[case]
    out = decompose(mod(args, results, before))
    assert print_module(out, elide_data=True) == mod(args, results, after)


def test_pool_divisors_and_iota_data() -> None:
    args, results, before, _ = CASES["avg-pool-uneven-divisors"]
    out = decompose(mod(args, results, before))
    # windows cover rows/cols {0} and {1, 2} of the input once padding is excluded
    np.testing.assert_array_equal(out.consts["pool_divisor.0"], [[1, 2], [2, 4]])
    args, results, before, _ = CASES["iota-becomes-const"]
    np.testing.assert_array_equal(decompose(mod(args, results, before)).consts["iota.0"], [0, 1, 2])


# -- values: bit-identical to the composite ops, in every storage format ---------------------

BIT_EXACT = [c for c in CASES if not c.startswith("conv2d")]


@pytest.mark.parametrize("elem", FORMATS)
@pytest.mark.parametrize("case", BIT_EXACT)
def test_rule_is_bit_identical_to_the_composite_op(case: str, elem: str) -> None:
    args, results, before, _ = CASES[case]
    text = mod(args, results, before).replace("xfp32>", f"x{elem}>").replace("xbf16>", f"x{elem}>")
    text = text.replace("tensor<fp32>", f"tensor<{elem}>")
    check_bits(text)


POW_EXPONENTS = [0.0, 1.0, 2.0, 3.0, 5.0, 31.0, 32.0, 33.0, -1.0, -3.0, 0.5, -1.5, 2.5]


@pytest.mark.parametrize("elem", ["fp32", "bf16"])
def test_pow_constant_exponents_match_the_interpreter(elem: str) -> None:
    for b in POW_EXPONENTS:
        t = f"tensor<16x{elem}>"
        check_bits(
            mod(
                f"%x: {t}",
                t,
                f"%0 = full {{value = {b!r}}} : tensor<{elem}>\n%1 = pow %x, %0 : {t}\nreturn %1",
            ),
            seeds=2,
        )


def test_pow_run_time_exponent_is_exp_log_on_non_negative_bases() -> None:
    text = mod(
        "%x: tensor<64xfp32>, %y: tensor<64xfp32>",
        "tensor<64xfp32>",
        "%0 = pow %x, %y : tensor<64xfp32>\nreturn %0",
    )
    rng = np.random.default_rng(1)
    x = rng.uniform(0.0, 4.0, 64).astype(np.float32)
    y = rng.uniform(-3.0, 3.0, 64).astype(np.float32)
    got = interpret(decompose(text), [x, y])[0]
    np.testing.assert_allclose(got, x.astype(np.float64) ** y, rtol=2e-6)
    assert np.isnan(interpret(decompose(text), [-x - 1, y])[0]).all()  # the documented domain


POOLS = [
    ("max_pool2d", (3, 3), (2, 2), (1, 1), (1, 1), False, ""),
    ("max_pool2d", (2, 3), (2, 1), (1, 1), (2, 1), True, ""),
    ("avg_pool2d", (3, 3), (2, 2), (1, 1), None, True, ", count_include_pad = true, divisor = 0"),
    ("avg_pool2d", (3, 2), (1, 2), (1, 0), None, False, ", count_include_pad = false, divisor = 0"),
    ("avg_pool2d", (2, 2), (2, 2), (0, 0), None, True, ", count_include_pad = true, divisor = 3"),
]


@pytest.mark.parametrize("pool", POOLS)
def test_pools_match_the_interpreter_and_torch(pool: tuple) -> None:
    name, k, s, p, dil, ceil, extra = pool
    x = torch.randn(2, 3, 7, 6)
    dil_attr = f", dilation = [{dil[0]}, {dil[1]}]" if dil else ""
    if name == "max_pool2d":
        want = torch.nn.functional.max_pool2d(x, k, s, p, dil, ceil_mode=ceil)
    else:
        div = int(extra.split("divisor = ")[1]) or None
        inc = "true" in extra
        want = torch.nn.functional.avg_pool2d(x, k, s, p, ceil, inc, div)
    attrs = f"kernel = [{k[0]}, {k[1]}], stride = [{s[0]}, {s[1]}], padding = [{p[0]}, {p[1]}]"
    attrs += f"{dil_attr}, ceil_mode = {str(ceil).lower()}{extra}"
    out_t = f"tensor<{'x'.join(map(str, want.shape))}xfp32>"
    text = mod(
        "%x: tensor<2x3x7x6xfp32>", out_t, f"%0 = {name} %x {{{attrs}}} : {out_t}\nreturn %0"
    )
    check_bits(text)
    got = interpret(decompose(text), [x.numpy()])[0]
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (3, 2), (4, 5)])
@pytest.mark.parametrize("elem", ["fp32", "bf16"])
def test_adaptive_avg_pool_matches_the_interpreter(size: tuple[int, int], elem: str) -> None:
    out_t = f"tensor<2x3x{size[0]}x{size[1]}x{elem}>"
    text = mod(
        f"%x: tensor<2x3x6x7x{elem}>",
        out_t,
        f"%0 = adaptive_avg_pool2d %x {{size = [{size[0]}, {size[1]}]}} : {out_t}\nreturn %0",
    )
    check_bits(text)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    data=st.data(),
    kind=st.sampled_from(["reduce_sum", "reduce_mean", "reduce_max", "reduce_min"]),
    keepdim=st.booleans(),
    elem=st.sampled_from(["fp32", "bf16"]),
)
def test_reductions_over_any_dims_are_bit_identical(shape, data, kind, keepdim, elem) -> None:
    dims = sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1)))
    out = (
        [1 if i in dims else s for i, s in enumerate(shape)]
        if keepdim
        else [s for i, s in enumerate(shape) if i not in dims]
    )
    ty = lambda sh: f"tensor<{''.join(f'{d}x' for d in sh)}{elem}>"  # noqa: E731
    body = f"%0 = {kind} %x {{dims = {dims}, keepdim = {str(keepdim).lower()}}} : {ty(out)}"
    check_bits(mod(f"%x: {ty(shape)}", ty(out), body + "\nreturn %0"), seeds=1)


# -- conv2d: a new reference (K order kh, kw, c), checked against float64 torch ---------------

CONVS = [  # N, C, H, W, O, KH, KW, stride, padding, dilation, groups, bias
    (2, 3, 7, 6, 4, 3, 3, (1, 1), (1, 1), (1, 1), 1, True),
    (1, 4, 8, 8, 6, 3, 2, (2, 1), (0, 1), (1, 2), 2, False),
    (2, 4, 5, 5, 4, 3, 3, (1, 1), (1, 1), (1, 1), 4, True),
    (2, 8, 4, 4, 3, 1, 1, (1, 1), (0, 0), (1, 1), 1, True),
]


def _conv_text(cfg: tuple, elem: str) -> tuple[str, tuple[int, ...]]:
    n, c, h, w, o, kh, kw, s, p, d, g, bias = cfg
    oh = (h + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1
    t = lambda *sh: f"tensor<{''.join(f'{x}x' for x in sh)}{elem}>"  # noqa: E731
    args = f"%x: {t(n, c, h, w)}, %w: {t(o, c // g, kh, kw)}" + (f", %b: {t(o)}" if bias else "")
    attrs = f"stride = [{s[0]}, {s[1]}], padding = [{p[0]}, {p[1]}], "
    attrs += f"dilation = [{d[0]}, {d[1]}], groups = {g}"
    operands = "%x, %w, %b" if bias else "%x, %w"
    body = f"%0 = conv2d {operands} {{{attrs}}} : {t(n, o, oh, ow)}\nreturn %0"
    return mod(args, t(n, o, oh, ow), body), (n, o, oh, ow)


@pytest.mark.parametrize("cfg", CONVS)
def test_conv2d_within_the_fp32_accumulation_bound_of_float64_torch(cfg: tuple) -> None:
    text, _ = _conv_text(cfg, "fp32")
    src, out = parse_module(text), decompose(text, fold=True)
    xs = inputs_for(src, 0, specials=False)
    t64 = [torch.from_numpy(a.astype(np.float64)) for a in xs]
    _n, c, _h, _w, _o, kh, kw, s, p, d, g, bias = cfg
    ref = torch.nn.functional.conv2d(*t64, stride=s, padding=p, dilation=d, groups=g).numpy()
    mag = torch.nn.functional.conv2d(
        t64[0].abs(), t64[1].abs(), t64[2].abs() if bias else None, s, p, d, g
    ).numpy()
    k = c // g * kh * kw + 2  # sequential sum, product rounding, bias add
    bound = k * 2.0**-24 * mag * 1.01
    got, orig = interpret(out, xs)[0], interpret(src, xs)[0]
    assert np.all(np.abs(got - ref) <= bound) and np.all(np.abs(orig - ref) <= bound)
    if c // g == 1 or kh * kw == 1:  # one K index order only: the same bits as the composite op
        assert_same([got], [orig])


@pytest.mark.parametrize("cfg", CONVS[:3])
def test_conv2d_bf16_storage_is_within_one_final_rounding(cfg: tuple) -> None:
    text, _ = _conv_text(cfg, "bf16")
    src, out = parse_module(text), decompose(text, fold=True)
    xs = inputs_for(src, 1, specials=False)
    got, orig = interpret(out, xs)[0], interpret(src, xs)[0]
    ulp = np.spacing(np.abs(orig).astype(ml_dtypes.bfloat16)).astype(np.float32)
    assert np.all(np.abs(got - orig) <= ulp)
    assert np.mean(got == orig) > 0.9


def test_conv2d_weight_folds_and_the_output_needs_no_transpose() -> None:
    body = """%0 = const {name = @w} : tensor<4x3x3x3xbf16>
              %1 = conv2d %x, %0 {stride = [1, 1], padding = [1, 1], dilation = [1, 1], groups = 1} : tensor<2x4x5x5xbf16>
              return %1"""
    m = parse_module(mod("%x: tensor<2x3x5x5xbf16>", "tensor<2x4x5x5xbf16>", body))
    w = round_to(np.random.default_rng(2).standard_normal((4, 3, 3, 3)).astype(np.float32), BF16)
    m.consts["w"] = w
    out = run_pipeline(m, "decompose")
    names = [op.name for op in out.main.ops]
    assert (
        names.count("matmul") == 1
        and "permute" not in names
        and list(out.consts) == ["w.reshape.1"]
    )
    (mm,) = [op for op in out.main.ops if op.name == "matmul"]
    assert [str(v.type) for v in mm.operands] == ["tensor<2x4x27xbf16>", "tensor<2x27x25xbf16>"]
    assert str(mm.result.type) == "tensor<2x4x25xfp32>"
    assert all(check_primitive(op) is None for op in out.main.ops)
    # K order (kh, kw, c): weight column kh*9 + kw*3 + c holds w[:, c, kh, kw]; the small
    # batch broadcast of the weight is folded too (docs/lowering.md §2)
    want = np.broadcast_to(w.transpose(0, 2, 3, 1).reshape(4, 27), (2, 4, 27))
    np.testing.assert_array_equal(out.consts["w.reshape.1"].reshape(2, 4, 27), want)
