"""``canonicalize``: one before/after IR text pair per rule, compared structurally and as text."""

from __future__ import annotations

import numpy as np
import pytest

from d1c.interp import interpret
from d1c.ir import modules_equal, parse_module, print_module, verify_module
from d1c.passes import Context, run_pipeline
from d1c.passes.canonicalize import Canonicalize

T = "tensor<2x3xfp32>"


def mod(args: str, results: str, body: str) -> str:
    body = "\n".join("    " + line.strip() for line in body.strip().splitlines())
    return f"module @m {{\n  func @main({args}) -> ({results}) {{\n{body}\n  }}\n}}\n"


def canonicalize(text: str):
    m = Canonicalize().apply(parse_module(text), Context())
    verify_module(m)
    return m


# (id, function arguments, result types, body before, body after)
CASES = [
    ("dce", f"%x: {T}", T,
     f"""%0 = exp %x : {T}
         %1 = tanh %x : {T}
         return %1""",
     f"""%0 = tanh %x : {T}
         return %0"""),
    ("cse-ops", f"%x: {T}", T,
     f"""%0 = exp %x : {T}
         %1 = exp %x : {T}
         %2 = add %0, %1 : {T}
         return %2""",
     f"""%0 = exp %x : {T}
         %1 = add %0, %0 : {T}
         return %1"""),
    ("cse-full-by-bits", f"%x: {T}", T,
     f"""%0 = full {{value = 0.0}} : tensor<fp32>
         %1 = full {{value = -0.0}} : tensor<fp32>
         %2 = full {{value = 0.0}} : tensor<fp32>
         %3 = maximum %x, %0 : {T}
         %4 = maximum %3, %1 : {T}
         %5 = maximum %4, %2 : {T}
         return %5""",
     f"""%0 = full {{value = 0.0}} : tensor<fp32>
         %1 = full {{value = -0.0}} : tensor<fp32>
         %2 = maximum %x, %0 : {T}
         %3 = maximum %2, %1 : {T}
         %4 = maximum %3, %0 : {T}
         return %4"""),
    ("cse-keeps-sr-converts", f"%x: {T}", "tensor<2x3xbf16>",
     """%0 = convert %x {rounding = "sr"} : tensor<2x3xbf16>
        %1 = convert %x {rounding = "sr"} : tensor<2x3xbf16>
        %2 = add %0, %1 : tensor<2x3xbf16>
        return %2""",
     None),
    ("cse-needs-equal-attrs", f"%x: {T}", T,
     f"""%0 = gelu %x {{approximate = "none"}} : {T}
         %1 = gelu %x {{approximate = "tanh"}} : {T}
         %2 = add %0, %1 : {T}
         return %2""",
     None),
    ("reshape-chain", f"%x: {T}", "tensor<6xfp32>",
     """%0 = reshape %x : tensor<3x2xfp32>
        %1 = reshape %0 : tensor<6xfp32>
        return %1""",
     """%0 = reshape %x : tensor<6xfp32>
        return %0"""),
    ("reshape-chain-to-identity", f"%x: {T}", T,
     f"""%0 = reshape %x : tensor<6xfp32>
         %1 = reshape %0 : {T}
         return %1""",
     "return %x"),
    ("permute-compose", "%x: tensor<2x3x4xfp32>", "tensor<3x2x4xfp32>",
     """%0 = permute %x {dims = [1, 2, 0]} : tensor<3x4x2xfp32> loc("a.py":1:1)
        %1 = permute %0 {dims = [0, 2, 1]} : tensor<3x2x4xfp32> loc("a.py":2:1)
        return %1""",
     """%0 = permute %x {dims = [1, 0, 2]} : tensor<3x2x4xfp32> loc("a.py":2:1)
        return %0"""),
    ("permute-inverse", "%x: tensor<2x3x4xfp32>", "tensor<2x3x4xfp32>",
     """%0 = permute %x {dims = [1, 2, 0]} : tensor<3x4x2xfp32>
        %1 = permute %0 {dims = [2, 0, 1]} : tensor<2x3x4xfp32>
        return %1""",
     "return %x"),
    ("permute-identity", f"%x: {T}", T,
     f"""%0 = permute %x {{dims = [0, 1]}} : {T}
         return %0""",
     "return %x"),
    ("square-transpose-kept", "%x: tensor<3x3xfp32>", "tensor<3x3xfp32>",
     """%0 = permute %x {dims = [1, 0]} : tensor<3x3xfp32>
        return %0""",
     None),
    ("broadcast-chain", "%x: tensor<3xfp32>", "tensor<4x2x3xfp32>",
     """%0 = broadcast_to %x : tensor<2x3xfp32>
        %1 = broadcast_to %0 : tensor<4x2x3xfp32>
        return %1""",
     """%0 = broadcast_to %x : tensor<4x2x3xfp32>
        return %0"""),
    ("broadcast-identity", f"%x: {T}", T, f"%0 = broadcast_to %x : {T}\nreturn %0", "return %x"),
    ("convert-same-type", f"%x: {T}", T,
     f'%0 = convert %x {{rounding = "rne"}} : {T}\nreturn %0', "return %x"),
    ("convert-other-type-kept", f"%x: {T}", "tensor<2x3xbf16>",
     '%0 = convert %x {rounding = "rne"} : tensor<2x3xbf16>\nreturn %0', None),
    ("slice-full", f"%x: {T}", T,
     f"%0 = slice %x {{dim = 1, start = 0, end = 3, step = 1}} : {T}\nreturn %0", "return %x"),
    ("slice-size-one-step-two", "%x: tensor<1x3xfp32>", "tensor<1x3xfp32>",
     "%0 = slice %x {dim = 0, start = 0, end = 1, step = 2} : tensor<1x3xfp32>\nreturn %0",
     "return %x"),
    ("slice-part-kept", f"%x: {T}", "tensor<2x2xfp32>",
     "%0 = slice %x {dim = 1, start = 1, end = 3, step = 1} : tensor<2x2xfp32>\nreturn %0", None),
    ("pad-zero", f"%x: {T}", T,
     f"%0 = pad %x {{pads = [0, 0, 0, 0], value = 0.0}} : {T}\nreturn %0", "return %x"),
    ("concat-one", f"%x: {T}", T, f"%0 = concat %x {{dim = 0}} : {T}\nreturn %0", "return %x"),
    ("splat-moves", f"%x: {T}", T,
     f"""%0 = full {{value = 2.5}} : tensor<3x1xfp32>
         %1 = permute %0 {{dims = [1, 0]}} : tensor<1x3xfp32>
         %2 = broadcast_to %1 : {T}
         %3 = add %x, %2 : {T}
         return %3""",
     f"""%0 = full {{value = 2.5}} : {T}
         %1 = add %x, %0 : {T}
         return %1"""),
    ("mul-one", f"%x: {T}", T,
     f"""%0 = full {{value = 1.0}} : tensor<fp32>
         %1 = mul %x, %0 : {T}
         %2 = mul %0, %1 : {T}
         return %2""",
     "return %x"),
    ("mul-one-that-broadcasts-kept", "%x: tensor<3xfp32>", T,
     f"""%0 = full {{value = 1.0}} : {T}
         %1 = mul %x, %0 : {T}
         return %1""",
     None),
    ("add-neg-zero", f"%x: {T}", T,
     f"""%0 = full {{value = -0.0}} : tensor<fp32>
         %1 = add %0, %x : {T}
         return %1""",
     "return %x"),
    ("add-pos-zero-kept", f"%x: {T}", T,
     f"""%0 = full {{value = 0.0}} : tensor<fp32>
         %1 = add %x, %0 : {T}
         return %1""",
     None),
    ("add-int-zero", "%x: tensor<4xi64>", "tensor<4xi64>",
     """%0 = full {value = 0.0} : tensor<i64>
        %1 = add %x, %0 : tensor<4xi64>
        return %1""",
     "return %x"),
    ("sub-pos-zero", f"%x: {T}", T,
     f"""%0 = full {{value = 0.0}} : tensor<fp32>
         %1 = sub %x, %0 : {T}
         return %1""",
     "return %x"),
    ("sub-neg-zero-kept", f"%x: {T}", T,
     f"""%0 = full {{value = -0.0}} : tensor<fp32>
         %1 = sub %x, %0 : {T}
         return %1""",
     None),
    ("neg-zero-minus-x", f"%x: {T}", T,
     f"""%0 = full {{value = -0.0}} : tensor<fp32>
         %1 = sub %0, %x : {T}
         return %1""",
     f"""%0 = neg %x : {T}
         return %0"""),
    ("pos-zero-minus-x-kept", f"%x: {T}", T,
     f"""%0 = full {{value = 0.0}} : tensor<fp32>
         %1 = sub %0, %x : {T}
         return %1""",
     None),
    ("div-one", f"%x: {T}", T,
     f"""%0 = full {{value = 1.0}} : tensor<1x3xfp32>
         %1 = div %x, %0 : {T}
         return %1""",
     "return %x"),
    ("int-div-one-kept", "%x: tensor<4xi64>", "tensor<4xi64>",
     """%0 = full {value = 1.0} : tensor<i64>
        %1 = div %x, %0 : tensor<4xi64>
        return %1""",
     None),
    ("neg-neg", f"%x: {T}", T, f"%0 = neg %x : {T}\n%1 = neg %0 : {T}\nreturn %1", "return %x"),
    ("not-not", "%x: tensor<4xi1>", "tensor<4xi1>",
     "%0 = logical_not %x : tensor<4xi1>\n%1 = logical_not %0 : tensor<4xi1>\nreturn %1",
     "return %x"),
    ("idempotent", f"%x: {T}", T,
     f"""%0 = relu %x : {T}
         %1 = relu %0 : {T}
         %2 = neg %1 : {T}
         %3 = abs %2 : {T}
         %4 = abs %3 : {T}
         %5 = floor %4 : {T}
         %6 = floor %5 : {T}
         return %6""",
     f"""%0 = relu %x : {T}
         %1 = abs %0 : {T}
         %2 = floor %1 : {T}
         return %2"""),
    ("same-operands", f"%x: {T}, %c: tensor<2x1xi1>", T,
     f"""%0 = maximum %x, %x : {T}
         %1 = minimum %0, %0 : {T}
         %2 = where %c, %1, %1 : {T}
         return %2""",
     "return %x"),
    ("where-splat-cond", f"%x: {T}, %y: {T}", T,
     f"""%0 = full {{value = 1.0}} : tensor<i1>
         %1 = full {{value = 0.0}} : tensor<i1>
         %2 = where %0, %x, %y : {T}
         %3 = where %1, %y, %2 : {T}
         return %3""",
     "return %x"),
    ("logic-units", "%x: tensor<4xi1>", "tensor<4xi1>",
     """%0 = full {value = 1.0} : tensor<i1>
        %1 = full {value = 0.0} : tensor<i1>
        %2 = logical_and %0, %x : tensor<4xi1>
        %3 = logical_or %2, %1 : tensor<4xi1>
        %4 = logical_and %3, %1 : tensor<4xi1>
        return %4""",
     """%0 = full {value = 0.0} : tensor<i1>
        %1 = logical_and %x, %0 : tensor<4xi1>
        return %1"""),
    ("chain-to-fixpoint", "%x: tensor<2x3x4xfp32>", "tensor<24xfp32>",
     """%0 = permute %x {dims = [2, 0, 1]} : tensor<4x2x3xfp32>
        %1 = neg %0 : tensor<4x2x3xfp32>
        %2 = permute %x {dims = [2, 0, 1]} : tensor<4x2x3xfp32>
        %3 = neg %2 : tensor<4x2x3xfp32>
        %4 = neg %3 : tensor<4x2x3xfp32>
        %5 = full {value = 1.0} : tensor<fp32>
        %6 = mul %4, %5 : tensor<4x2x3xfp32>
        %7 = permute %6 {dims = [1, 2, 0]} : tensor<2x3x4xfp32>
        %8 = reshape %7 : tensor<6x4xfp32>
        %9 = reshape %8 : tensor<24xfp32>
        return %9""",
     """%0 = reshape %x : tensor<24xfp32>
        return %0"""),
]  # fmt: skip


@pytest.mark.parametrize(("args", "results", "before", "after"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_rule(args: str, results: str, before: str, after: str | None) -> None:
    expected = mod(args, results, after if after is not None else before)
    got = canonicalize(mod(args, results, before))
    assert modules_equal(parse_module(expected), got)
    assert print_module(got) == expected
    # The expected output is a fixpoint: canonicalizing it changes nothing.
    assert print_module(canonicalize(expected)) == expected


def test_consts_merge_by_name_and_unused_data_is_dropped() -> None:
    a, b = np.array([1, 2, 3], np.float32), np.array([4, 5, 6], np.float32)
    src = mod(
        "%x: tensor<3xfp32>",
        "tensor<3xfp32>",
        """%0 = const {name = @a} : tensor<3xfp32>
           %1 = const {name = @b} : tensor<3xfp32>
           %2 = const {name = @a} : tensor<3xfp32>
           %3 = add %x, %0 : tensor<3xfp32>
           %4 = add %3, %2 : tensor<3xfp32>
           return %4""",
    )
    m = parse_module(src)
    m.consts.update(a=a, b=b, c=np.zeros(2, np.float32))
    got = Canonicalize().apply(m, Context())
    expected = mod(
        "%x: tensor<3xfp32>",
        "tensor<3xfp32>",
        """%0 = const {name = @a} : tensor<3xfp32>
           %1 = add %x, %0 : tensor<3xfp32>
           %2 = add %1, %0 : tensor<3xfp32>
           return %2""",
    ).replace("}\n}\n", "}\n  data @a : tensor<3xfp32> = 0x" + a.tobytes().hex() + "\n}\n")
    assert list(got.consts) == ["a"]
    assert print_module(got) == expected
    assert modules_equal(parse_module(expected), got)


def test_max_iterations_bounds_the_rounds() -> None:
    src = mod(
        f"%x: {T}", T, f"%0 = exp %x : {T}\n%1 = exp %x : {T}\n%2 = add %0, %1 : {T}\nreturn %2"
    )
    m = Canonicalize(max_iterations=0).apply(parse_module(src), Context())
    assert print_module(m) == src


# canonicalize: matmul(a, broadcast_to(w)) reads w directly (torch's expand + bmm pattern).


BEFORE = """module @m {
  func @main(%x: tensor<4x8x16xfp32>, %w: tensor<16x32xfp32>) -> (tensor<4x8x32xfp32>) {
    %0 = broadcast_to %w : tensor<4x16x32xfp32>
    %1 = matmul %x, %0 : tensor<4x8x32xfp32>
    return %1
  }
}
"""

AFTER = """module @m {
  func @main(%x: tensor<4x8x16xfp32>, %w: tensor<16x32xfp32>) -> (tensor<4x8x32xfp32>) {
    %0 = matmul %x, %w : tensor<4x8x32xfp32>
    return %0
  }
}
"""

# The broadcast here changes the rows of w (1 -> 16): not a pure batch broadcast, so it stays.
KEEP = """module @m {
  func @main(%x: tensor<4x8x16xfp32>, %w: tensor<1x32xfp32>) -> (tensor<4x8x32xfp32>) {
    %0 = broadcast_to %w : tensor<4x16x32xfp32>
    %1 = matmul %x, %0 : tensor<4x8x32xfp32>
    return %1
  }
}
"""


def test_batch_broadcast_of_the_weight_is_dropped_with_identical_bits() -> None:
    before = parse_module(BEFORE)
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal(a.type.shape).astype(np.float32) for a in before.main.args]
    want = interpret(before, inputs)[0]
    after = run_pipeline(before, "canonicalize")
    assert modules_equal(after, parse_module(AFTER))
    got = interpret(after, inputs)[0]
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_broadcast_of_the_contracted_rows_is_kept() -> None:
    m = run_pipeline(parse_module(KEEP), "canonicalize")
    assert [op.name for op in m.main.ops] == ["broadcast_to", "matmul", "return"]
