"""Differential tests of the backend: hand-written tiled-level IR per kernel kind, compiled with
``tile,place`` + ``build_program``, simulated on ``mini`` (SRAM-starved: many tiles, column
chunks, weight chunks) and on ``dojo-tile``, and compared BIT for BIT with
``d1c.interp.interpret`` (rules in backend_harness: NaN by isnan because the ISA canonicalises
NaN payloads). Inputs include -0.0, ±inf, NaN, denormals and values that overflow fp16/CFloat8.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from d1c.errors import CompileError, D1cError
from d1c.interp import interpret
from d1c.ir import parse_module
from d1c.testing.strategies import tiled_modules
from tests.codegen.backend_harness import TARGETS, check, compile_module, inputs_for, ir, mismatches

FORMATS = ("bf16", "fp16", "cfp8_143<5>", "cfp8_152<15>", "shp<20>")

# ------------------------------------------------------------------------ elementwise kernels
UNARY = ("exp", "tanh", "erf", "rsqrt", "reciprocal", "sigmoid", "log", "silu", "relu", "neg")
UNARY += ("abs", "sqrt", "floor", "ceil", "trunc", "round")


def _unary_module(fmt: str) -> str:
    t = f"tensor<3x7x{fmt}>"
    ops = [f'%0 = convert %x {{rounding = "rne"}} : {t}']
    ops += [f"%{i + 1} = {name} %0 : {t}" for i, name in enumerate(UNARY)]
    n = len(UNARY)
    ops += [f'%{n + 1} = gelu %0 {{approximate = "none"}} : {t}']
    ops += [f'%{n + 2} = gelu %0 {{approximate = "tanh"}} : {t}']
    rets = ", ".join(f"%{i}" for i in range(1, n + 3))
    return ir("%x: tensor<3x7xfp32>", ", ".join([t] * (n + 2)), *ops, f"return {rets}")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fmt", ("fp32", *FORMATS))
def test_unary_every_function_every_format(fmt: str, target: str) -> None:
    check(_unary_module(fmt), target, special=0.3)


# Operand shapes that broadcast to [2, 3, 5, 7] in every position (rank 0 included).
BROADCAST = ("7", "5x1", "3x1x1", "2x1x1x1", "1x3x1x7", "2x1x5x1", "", "1x1x1x1", "2x3x5x7")
BINARY = ("add", "sub", "mul", "div", "maximum", "minimum")


@pytest.mark.parametrize("target", TARGETS)
def test_binary_broadcasting_in_every_position(target: str) -> None:
    out = "tensor<2x3x5x7xfp32>"
    args = "%x: tensor<2x3x5x7xfp32>, " + ", ".join(
        f"%b{i}: tensor<{s + 'x' if s else ''}fp32>" for i, s in enumerate(BROADCAST)
    )
    ops = []
    for i in range(len(BROADCAST)):
        name = BINARY[i % len(BINARY)]
        ops += [f"%{2 * i} = {name} %x, %b{i} : {out}", f"%{2 * i + 1} = {name} %b{i}, %x : {out}"]
    rets = ", ".join(f"%{i}" for i in range(2 * len(BROADCAST)))
    check(ir(args, ", ".join([out] * 2 * len(BROADCAST)), *ops, f"return {rets}"), target)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_storage_format_arithmetic_and_select(fmt: str, target: str) -> None:
    t, r = f"tensor<4x1x9x{fmt}>", f"tensor<9x{fmt}>"
    text = ir(
        "%x: tensor<4x1x9xfp32>, %y: tensor<9xfp32>",
        f"{t}, {t}, tensor<4x1x9xi1>, {t}, tensor<4x1x9xfp32>",
        f'%0 = convert %x {{rounding = "rne"}} : {t}',
        f'%1 = convert %y {{rounding = "rne"}} : {r}',
        f"%2 = mul %0, %1 : {t}",
        f"%3 = div %1, %0 : {t}",
        "%4 = ge %0, %1 : tensor<4x1x9xi1>",
        f"%5 = where %4, %2, %1 : {t}",
        '%6 = convert %5 {rounding = "rne"} : tensor<4x1x9xfp32>',
        "return %2, %3, %4, %5, %6",
    )
    check(text, target, special=0.2)


@pytest.mark.parametrize("target", TARGETS)
def test_non_divisible_tiles_over_many_cores(target: str) -> None:
    text = ir(
        "%x: tensor<3x131x517xfp32>, %y: tensor<131x1xfp32>",
        "tensor<3x131x517xbf16>",
        '%0 = convert %x {rounding = "rne"} : tensor<3x131x517xbf16>',
        '%1 = convert %y {rounding = "rne"} : tensor<131x1xbf16>',
        "%2 = sub %1, %0 : tensor<3x131x517xbf16>",
        "return %2",
    )
    res = check(text, target)
    assert len(res.cores) > 1  # the tiles were spread over several cores


@pytest.mark.parametrize("target", TARGETS)
def test_rank0_and_size1_dims(target: str) -> None:
    text = ir(
        "%x: tensor<fp32>, %y: tensor<1x1x5xfp32>, %i: tensor<i64>",
        "tensor<fp32>, tensor<1x1x5xfp32>, tensor<2x3xfp32>, tensor<fp32>, tensor<3xfp32>",
        "%0 = exp %x : tensor<fp32>",
        "%1 = add %y, %x : tensor<1x1x5xfp32>",
        "%2 = broadcast_to %0 : tensor<2x3xfp32>",
        "%3 = permute %0 {dims = []} : tensor<fp32>",
        "%4 = full {value = 2.5} : tensor<3x3xfp32>",
        "%5 = embedding %4, %i : tensor<3xfp32>",
        "return %0, %1, %2, %3, %5",
    )
    check(text, target)


# ---------------------------------------------------------------------- logic, i1 and convert
@pytest.mark.parametrize("target", TARGETS)
def test_compare_where_logic_on_i1_and_on_numbers(target: str) -> None:
    b = "tensor<3x5xi1>"
    text = ir(
        "%x: tensor<3x5xfp32>, %y: tensor<5xfp32>, %m: tensor<3x1xi1>",
        f"{b}, {b}, {b}, tensor<3x5xbf16>, tensor<3x5xfp32>, tensor<3x5xfp32>, {b}, {b}, {b}",
        f"%0 = gt %x, %y : {b}",
        f"%1 = le %x, %y : {b}",
        f"%2 = logical_and %0, %m : {b}",
        f"%3 = logical_or %m, %1 : {b}",
        f"%4 = logical_not %3 : {b}",
        '%5 = convert %x {rounding = "rne"} : tensor<3x5xbf16>',
        '%6 = convert %y {rounding = "rne"} : tensor<5xbf16>',
        "%7 = where %0, %5, %6 : tensor<3x5xbf16>",
        "%8 = logical_and %x, %y : tensor<3x5xfp32>",
        "%9 = logical_or %y, %x : tensor<3x5xfp32>",
        f"%10 = add %0, %m : {b}",
        f"%11 = mul %m, %1 : {b}",
        f"%12 = eq %2, %3 : {b}",
        "return %2, %3, %4, %7, %8, %9, %10, %11, %12",
    )
    check(text, target, special=0.4)


@pytest.mark.parametrize("target", TARGETS)
def test_convert_between_every_kind(target: str) -> None:
    text = ir(
        "%x: tensor<4x6xfp32>, %i: tensor<4x6xi64>, %m: tensor<4x6xi1>",
        "tensor<4x6xi1>, tensor<4x6xfp16>, tensor<4x6xi32>, tensor<4x6xbf16>, "
        "tensor<4x6xcfp8_152<9>>, tensor<4x6xfp32>, tensor<4x6xi1>, tensor<4x6xi32>",
        '%0 = convert %x {rounding = "rne"} : tensor<4x6xi1>',
        '%1 = convert %i {rounding = "rne"} : tensor<4x6xfp16>',
        '%2 = convert %i {rounding = "rne"} : tensor<4x6xi32>',
        '%3 = convert %m {rounding = "rne"} : tensor<4x6xbf16>',
        '%4 = convert %x {rounding = "rne"} : tensor<4x6xcfp8_152<9>>',
        '%5 = convert %2 {rounding = "rne"} : tensor<4x6xfp32>',
        '%6 = convert %i {rounding = "rne"} : tensor<4x6xi1>',
        '%7 = convert %x {rounding = "rne"} : tensor<4x6xi32>',  # truncates, saturates, NaN 0
        "return %0, %1, %2, %3, %4, %5, %6, %7",
    )
    check(text, target, special=0.3)


# ------------------------------------------------------------------------ matmul and reduce
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_matmul_k_chunks_batch_broadcast(fmt: str, target: str) -> None:
    a, b, c = f"tensor<2x67x300x{fmt}>", f"tensor<300x37x{fmt}>", f"tensor<2x300x5x{fmt}>"
    text = ir(
        "%a: tensor<2x67x300xfp32>, %b: tensor<300x37xfp32>, %c: tensor<2x300x5xfp32>",
        "tensor<2x67x37xfp32>, tensor<2x67x5xfp32>",
        f'%0 = convert %a {{rounding = "rne"}} : {a}',
        f'%1 = convert %b {{rounding = "rne"}} : {b}',
        "%2 = matmul %0, %1 : tensor<2x67x37xfp32>",
        f'%3 = convert %c {{rounding = "rne"}} : {c}',
        "%4 = matmul %0, %3 : tensor<2x67x5xfp32>",
        "return %2, %4",
    )
    check(text, target)


@pytest.mark.parametrize("target", TARGETS)
def test_reduce_column_chunks_and_whole_rows(target: str) -> None:
    text = ir(
        "%x: tensor<37x1031xfp32>, %z: tensor<2x1x3xfp32>",
        "tensor<37x1xfp32>, tensor<37x1xbf16>, tensor<37xbf16>, tensor<37x1xfp32>, "
        "tensor<2x1x1xfp32>, tensor<2x1xi1>",
        "%0 = reduce_sum %x {dims = [1], keepdim = true} : tensor<37x1xfp32>",
        '%1 = convert %x {rounding = "rne"} : tensor<37x1031xbf16>',
        "%2 = reduce_sum %1 {dims = [1], keepdim = true} : tensor<37x1xbf16>",
        "%3 = reduce_max %1 {dims = [1], keepdim = false} : tensor<37xbf16>",
        "%4 = reduce_min %x {dims = [1], keepdim = true} : tensor<37x1xfp32>",
        "%5 = neg %z : tensor<2x1x3xfp32>",
        "%6 = reduce_sum %5 {dims = [2], keepdim = true} : tensor<2x1x1xfp32>",
        "%7 = gt %z, %5 : tensor<2x1x3xi1>",
        "%8 = reduce_sum %7 {dims = [2], keepdim = false} : tensor<2x1xi1>",
        "return %0, %2, %3, %4, %6, %8",
    )
    check(text, target, special=0.05)


# ----------------------------------------------------------------------------- data movement
@pytest.mark.parametrize("target", TARGETS)
def test_permutes_of_rank_3_and_4(target: str) -> None:
    """[0, 2, 1] keeps a transpose-like view (ttrans); the others move the stride-1 dim away
    from both last dims (element descriptors)."""
    text = ir(
        "%x: tensor<2x300x67xfp32>, %y: tensor<2x3x5x7xfp32>",
        "tensor<2x67x300xfp32>, tensor<67x2x300xfp32>, tensor<7x5x3x2xfp32>, "
        "tensor<5x2x7x3xfp32>, tensor<2x7x3x5xfp32>",
        "%0 = permute %x {dims = [0, 2, 1]} : tensor<2x67x300xfp32>",
        "%1 = permute %x {dims = [2, 0, 1]} : tensor<67x2x300xfp32>",
        "%2 = permute %y {dims = [3, 2, 1, 0]} : tensor<7x5x3x2xfp32>",
        "%3 = permute %y {dims = [2, 0, 3, 1]} : tensor<5x2x7x3xfp32>",
        "%4 = permute %y {dims = [0, 3, 1, 2]} : tensor<2x7x3x5xfp32>",
        "return %0, %1, %2, %3, %4",
    )
    check(text, target)


@pytest.mark.parametrize("target", TARGETS)
def test_broadcast_to_along_several_dims(target: str) -> None:
    text = ir(
        "%x: tensor<1x3x1xfp32>, %y: tensor<fp32>, %z: tensor<5x1xfp32>",
        "tensor<4x3x600xfp32>, tensor<2x3xfp32>, tensor<2x1x3x1xfp32>, tensor<3x2x5x7xfp32>",
        "%0 = broadcast_to %x : tensor<4x3x600xfp32>",
        "%1 = broadcast_to %y : tensor<2x3xfp32>",
        "%2 = broadcast_to %x : tensor<2x1x3x1xfp32>",
        "%3 = broadcast_to %z : tensor<3x2x5x7xfp32>",
        "return %0, %1, %2, %3",
    )
    check(text, target)


@pytest.mark.parametrize("target", TARGETS)
def test_slices_with_steps_on_every_dim(target: str) -> None:
    text = ir(
        "%x: tensor<67x1100xfp32>, %y: tensor<3x5x11xbf16>",
        "tensor<67x367xfp32>, tensor<23x1100xfp32>, tensor<3x5x4xbf16>, tensor<1x2x11xbf16>",
        "%0 = slice %x {dim = 1, start = 1, end = 1100, step = 3} : tensor<67x367xfp32>",
        "%1 = slice %x {dim = 0, start = 0, end = 67, step = 3} : tensor<23x1100xfp32>",
        "%2 = slice %y {dim = 2, start = 1, end = 11, step = 3} : tensor<3x5x4xbf16>",
        "%3 = slice %y {dim = 0, start = 2, end = 3, step = 1} : tensor<1x5x11xbf16>",
        "%4 = slice %3 {dim = 1, start = 1, end = 5, step = 2} : tensor<1x2x11xbf16>",
        "return %0, %1, %2, %4",
    )
    check(text, target)


@pytest.mark.parametrize("target", TARGETS)
def test_concat_along_every_dim(target: str) -> None:
    text = ir(
        "%x: tensor<5x300x600xfp32>, %y: tensor<5x300x7xfp32>, %z: tensor<2x3xfp32>",
        "tensor<5x300x1207xfp32>, tensor<10x300x600xfp32>, tensor<2x9xfp32>, tensor<6x3xfp32>",
        "%0 = concat %x, %y, %x {dim = 2} : tensor<5x300x1207xfp32>",
        "%1 = concat %x, %x {dim = 0} : tensor<10x300x600xfp32>",
        "%2 = concat %z, %z, %z {dim = 1} : tensor<2x9xfp32>",
        "%3 = concat %z, %z, %z {dim = 0} : tensor<6x3xfp32>",
        "return %0, %1, %2, %3",
    )
    check(text, target)


@pytest.mark.parametrize("target", TARGETS)
def test_pad_interior_window_and_fill(target: str) -> None:
    text = ir(
        "%x: tensor<2x3x100x600xfp32>, %v: tensor<7xfp32>",
        "tensor<2x5x103x602xfp32>, tensor<10xcfp8_143<5>>, tensor<7xfp32>, tensor<3x4xi1>",
        "%0 = pad %x {pads = [0, 0, 1, 1, 2, 1, 1, 1], value = -1.5} : tensor<2x5x103x602xfp32>",
        '%1 = convert %v {rounding = "rne"} : tensor<7xcfp8_143<5>>',
        "%2 = pad %1 {pads = [2, 1], value = 0.3} : tensor<10xcfp8_143<5>>",
        "%3 = pad %v {pads = [0, 0], value = 9.0} : tensor<7xfp32>",
        "%4 = gt %v, %v : tensor<7xi1>",
        "%5 = full {value = -2.0} : tensor<2x3xi1>",
        "%6 = pad %5 {pads = [0, 1, 1, 0], value = 0.0} : tensor<3x4xi1>",
        "return %0, %2, %3, %6",
    )
    check(text, target)


FULL_TYPES = ("fp32", "bf16", "fp16", "cfp8_143<3>", "cfp8_152<20>", "shp<9>", "i32", "i64", "i1")


@pytest.mark.parametrize("target", TARGETS)
def test_full_of_every_element_type(target: str) -> None:
    """Fill kernels (vfill of the value's fp32 bits, rounded like the IR's attribute); an
    integer fp32 cannot hold stays an HBM image."""
    types = [f"tensor<3x5x{t}>" for t in FULL_TYPES] + ["tensor<2xi64>", "tensor<i1>"]
    ops = [f"%{i} = full {{value = 0.1}} : {t}" for i, t in enumerate(types[:6])]
    ops += [
        "%6 = full {value = -7.0} : tensor<3x5xi32>",
        "%7 = full {value = 3.0} : tensor<3x5xi64>",
    ]
    ops += [
        "%8 = full {value = -0.5} : tensor<3x5xi1>",
        "%9 = full {value = 16777217.0} : tensor<2xi64>",
    ]
    ops += ["%10 = full {value = 0.0} : tensor<i1>"]
    rets = ", ".join(f"%{i}" for i in range(11))
    check(ir("", ", ".join(types), *ops, f"return {rets}"), target)


@pytest.mark.parametrize("target", TARGETS)
def test_embedding_index_ranks_and_weight_column_chunks(target: str) -> None:
    """5000 bf16 rows = 10 kB per column: mini's 128 kB budget takes ~12 columns per chunk."""
    text = ir(
        "%w: tensor<5000x40xfp32>, %i: tensor<300xi64>, %j: tensor<2x3xi64>, %k: tensor<i64>",
        "tensor<300x40xbf16>, tensor<2x3x40xbf16>, tensor<40xbf16>",
        '%0 = convert %w {rounding = "rne"} : tensor<5000x40xbf16>',
        "%1 = embedding %0, %i : tensor<300x40xbf16>",
        "%2 = embedding %0, %j : tensor<2x3x40xbf16>",
        "%3 = embedding %0, %k : tensor<40xbf16>",
        "return %1, %2, %3",
    )
    check(text, target, index_range=5000)


# ----------------------------------------------------------------------------- determinism
def test_build_program_is_deterministic() -> None:
    text = ir(
        "%x: tensor<3x131x517xfp32>, %w: tensor<50x8xfp32>, %i: tensor<7xi64>",
        "tensor<3x517x131xbf16>, tensor<7x8xbf16>, tensor<3x131x1xfp32>",
        '%0 = convert %x {rounding = "rne"} : tensor<3x131x517xbf16>',
        "%1 = permute %0 {dims = [0, 2, 1]} : tensor<3x517x131xbf16>",
        '%2 = convert %w {rounding = "rne"} : tensor<50x8xbf16>',
        "%3 = embedding %2, %i : tensor<7x8xbf16>",
        "%4 = reduce_sum %x {dims = [2], keepdim = true} : tensor<3x131x1xfp32>",
        "return %1, %3, %4",
    )
    first = compile_module(parse_module(text), "mini")[1].to_bytes()
    again = compile_module(parse_module(text), "mini")[1].to_bytes()
    assert first == again
    assert compile_module(parse_module(text), "dojo-tile")[1].to_bytes() != first


# ------------------------------------------------------------------------ property: random IR
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiled_modules(), st.sampled_from(TARGETS), st.integers(0, 2**16))
def test_random_tiled_modules_are_bit_identical(m, target: str, seed: int) -> None:
    xs = inputs_for(m, seed=seed)
    try:
        interpret(m, xs)
    except D1cError:
        assume(False)  # a data fault of the module itself (the interpreter's verdict)
    check(m, target, xs)


# Regression tests of backend bugs found by the differential suite (each test says what was
# wrong), and the compile-time diagnostics of variants the D1 has no bit-exact kernel for.
# Comparison rules as in backend_harness (bit-identical to d1c.interp.interpret).


@pytest.mark.parametrize("target", TARGETS)
def test_regression_relu_keeps_negative_zero_and_nan(target: str) -> None:
    """vfn relu gave +0.0 for -0.0; the IR's relu (0 if x < 0 else x) keeps -0.0."""
    x = np.array([[-0.0, 0.0, -1.0, 2.0, np.nan, -np.inf]], dtype=np.float32)
    text = ir(
        "%x: tensor<1x6xfp32>", "tensor<1x6xfp32>", "%0 = relu %x : tensor<1x6xfp32>", "return %0"
    )
    res = check(text, target, [x])
    assert np.signbit(res.outputs["out0"][0, 0])


@pytest.mark.parametrize("target", TARGETS)
def test_regression_logic_on_numbers_that_are_not_zero_or_one(target: str) -> None:
    """logical_and/or were vmul/vmax and logical_not 1 - x: wrong for 2.0, -3.0, NaN, -0.0."""
    x = np.array([[2.0, -3.0, np.nan, -0.0, 0.0, 0.5]], dtype=np.float32)
    y = np.array([[-3.0, 0.0, 0.0, np.nan, -0.0, 4.0]], dtype=np.float32)
    t = "tensor<1x6xfp32>"
    text = ir(
        f"%x: {t}, %y: {t}",
        f"{t}, {t}, {t}",
        f"%0 = logical_and %x, %y : {t}",
        f"%1 = logical_or %x, %y : {t}",
        f"%2 = logical_not %x : {t}",
        "return %0, %1, %2",
    )
    res = check(text, target, [x, y])
    assert res.outputs["out0"].tolist() == [[1, 0, 0, 0, 0, 1]]


@pytest.mark.parametrize("target", TARGETS)
def test_regression_argument_read_directly_and_through_host_convert(target: str) -> None:
    """Both input symbols were named 'x': one of them was never written."""
    text = ir(
        "%x: tensor<3x5xfp32>",
        "tensor<3x5xfp32>, tensor<3x5xbf16>",
        '%0 = convert %x {rounding = "rne"} : tensor<3x5xbf16>',
        "%1 = neg %x : tensor<3x5xfp32>",
        "%2 = abs %0 : tensor<3x5xbf16>",
        "return %1, %2",
    )
    check(text, target)


@pytest.mark.parametrize("target", TARGETS)
def test_regression_returned_convert_that_another_op_reads(target: str) -> None:
    """A returned fp32 convert was left to the host even when a kernel read it (no HBM)."""
    text = ir(
        "%x: tensor<3x5xfp32>",
        "tensor<3x5xfp32>, tensor<3x5xfp32>",
        '%0 = convert %x {rounding = "rne"} : tensor<3x5xbf16>',
        '%1 = convert %0 {rounding = "rne"} : tensor<3x5xfp32>',
        "%2 = exp %1 : tensor<3x5xfp32>",
        "return %1, %2",
    )
    check(text, target)


def test_regression_records_beyond_the_addi_immediate() -> None:
    """528 column chunks make a 16.9 kB record: 'addi x1, x1, 16928' did not assemble."""
    text = ir(
        "%x: tensor<2x270000xfp32>",
        "tensor<2x1xfp32>",
        "%0 = reduce_sum %x {dims = [1], keepdim = true} : tensor<2x1xfp32>",
        "return %0",
    )
    check(text, "mini", special=0.0)


def test_regression_more_kernels_than_barrier_ids_and_ld_offsets() -> None:
    ops = ["%0 = neg %x : tensor<3x5xfp32>"]
    ops += [f"%{i} = neg %{i - 1} : tensor<3x5xfp32>" for i in range(1, 260)]
    text = ir("%x: tensor<3x5xfp32>", "tensor<3x5xfp32>", *ops, "return %259")
    check(text, "mini")


@pytest.mark.parametrize("target", TARGETS)
def test_regression_integer_convert_keeps_values_beyond_fp32(target: str) -> None:
    """i64 -> i32 is a raw copy on the device (both i32); vcvt would round through fp32."""
    i = np.array([[16777217, -2147483647, 123456789]], dtype=np.int64)
    text = ir(
        "%i: tensor<1x3xi64>",
        "tensor<1x3xi32>",
        '%0 = convert %i {rounding = "rne"} : tensor<1x3xi32>',
        "return %0",
    )
    res = check(text, target, [i])
    assert res.outputs["out0"].tolist() == i.tolist()


# -------------------------------------------------------------------- compile-time diagnostics
UNSUPPORTED = {  # what the CompileError says -> (op on %1 = neg %x, its result type)
    "stochastic rounding": ('convert %1 {rounding = "sr"}', "tensor<4x4xbf16>"),
    "last dim": ("reduce_sum %1 {dims = [0], keepdim = true}", "tensor<1x4xfp32>"),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_variants_without_a_bit_exact_kernel_are_compile_errors(case: str) -> None:
    op, result = UNSUPPORTED[case]
    text = ir(
        "%x: tensor<4x4xfp32>",
        result,
        "%1 = neg %x : tensor<4x4xfp32>",
        f"%0 = {op} : {result}",
        "return %0",
    )
    with pytest.raises(CompileError, match=case):
        compile_module(parse_module(text), "mini")


def test_integer_division_and_narrow_matmul_are_compile_errors() -> None:
    text = ir(
        "%i: tensor<4xi32>",
        "tensor<4xi32>",
        "%0 = full {value = 2.0} : tensor<4xi32>",
        "%1 = div %i, %0 : tensor<4xi32>",
        "return %1",
    )
    with pytest.raises(CompileError, match="integer"):
        compile_module(parse_module(text), "mini")
    text = ir(
        "%a: tensor<4x4xbf16>",
        "tensor<4x4xbf16>",
        "%0 = matmul %a, %a : tensor<4x4xbf16>",
        "return %0",
    )
    with pytest.raises(CompileError, match="fp32 accumulator"):
        compile_module(parse_module(text), "mini")


def test_embedding_weight_column_too_big_for_a_core_is_a_compile_error() -> None:
    text = ir(
        "%w: tensor<70000x4xbf16>, %i: tensor<3xi64>",
        "tensor<3x4xbf16>",
        "%0 = embedding %w, %i : tensor<3x4xbf16>",
        "return %0",
    )
    with pytest.raises(CompileError, match="does not fit"):
        compile_module(parse_module(text), "mini")


def test_harness_detects_sign_of_zero_nan_and_int_differences() -> None:
    """The comparison itself can fail: -0 vs +0 and NaN vs a number differ, NaN payloads not."""
    got = np.array([-0.0, np.nan, np.float32(np.nan) * -1, 1.0], dtype=np.float32)
    want = np.array([0.0, 1.0, np.nan, 1.0], dtype=np.float32)
    assert mismatches(got, want).tolist() == [True, True, False, False]
    assert mismatches(np.array([3], np.int32), np.array([4], np.int32)).tolist() == [True]


@pytest.mark.parametrize("target", TARGETS)
def test_regression_arguments_returned_as_results(target: str) -> None:
    """symbols() asked kind_of about the 'return' op when an argument was returned."""
    text = ir(
        "%x: tensor<3x5xfp32>, %m: tensor<3x5xi1>, %i: tensor<3x5xi64>",
        "tensor<3x5xbf16>, tensor<3x5xfp32>, tensor<15xfp32>, tensor<3x5xi1>, tensor<3x5xi64>",
        '%0 = convert %x {rounding = "rne"} : tensor<3x5xbf16>',
        "%1 = reshape %x : tensor<15xfp32>",
        "return %0, %x, %1, %m, %i",
    )
    check(text, target)


def test_tensors_beyond_dip_hbm_are_a_compile_error() -> None:
    """mini has one DIP of 1 GiB: a 1.2 GB fill cannot be placed (it used to get an address
    past the DIP's HBM and fail only in the simulator)."""
    text = ir(
        "%x: tensor<4xfp32>",
        "tensor<300000000xfp32>",
        "%0 = full {value = 1.0} : tensor<300000000xfp32>",
        "return %0",
    )
    with pytest.raises(CompileError, match="does not fit in DIP HBM"):
        compile_module(parse_module(text), "mini")
