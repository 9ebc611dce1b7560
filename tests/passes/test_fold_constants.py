"""``fold-constants``: before/after IR per case, folded data against numpy oracles, and the
example models interpreted bit-identically before and after folding."""

from __future__ import annotations

import functools

import ml_dtypes
import numpy as np
import pytest

from d1c.frontend import import_model, load_model
from d1c.interp import interpret
from d1c.ir import Module, parse_module, print_module
from d1c.passes import run_pipeline

EXAMPLES = ("mlp", "cnn", "transformer", "gpt_block")


def mod(args: str, results: str, body: str) -> str:
    body = "\n".join("    " + line.strip() for line in body.strip().splitlines())
    return f"module @m {{\n  func @main({args}) -> ({results}) {{\n{body}\n  }}\n}}\n"


def fold(text: str, pipeline: str = "fold-constants", **consts: np.ndarray) -> Module:
    m = parse_module(text)
    m.consts.update(consts)
    return run_pipeline(m, pipeline)


def same_bits(xs: list[np.ndarray], ys: list[np.ndarray]) -> bool:
    return all(
        x.dtype == y.dtype and x.tobytes() == y.tobytes() for x, y in zip(xs, ys, strict=True)
    )


CAUSAL = mod(
    "%x: tensor<2x4x4xfp32>",
    "tensor<2x4x4xfp32>",
    """%0 = iota {dim = 0} : tensor<4xi64>
       %1 = reshape %0 : tensor<4x1xi64>
       %2 = iota {dim = 0} : tensor<4xi64>
       %3 = reshape %2 : tensor<1x4xi64>
       %4 = le %3, %1 : tensor<4x4xi1> loc("gpt.py":44:1)
       %5 = reshape %4 : tensor<1x4x4xi1> loc("gpt.py":44:2)
       %6 = broadcast_to %5 : tensor<2x4x4xi1> loc("gpt.py":44:3)
       %7 = full {value = -inf} : tensor<2x4x4xfp32>
       %8 = where %6, %x, %7 : tensor<2x4x4xfp32>
       return %8""",
)


def test_causal_mask_becomes_one_constant_under_its_broadcast() -> None:
    x = np.random.default_rng(0).standard_normal((2, 4, 4)).astype(np.float32)
    before = interpret(parse_module(CAUSAL), [x])
    m = fold(CAUSAL)
    assert print_module(m, elide_data=True) == mod(
        "%x: tensor<2x4x4xfp32>",
        "tensor<2x4x4xfp32>",
        """%0 = const {name = @fold.0} : tensor<1x4x4xi1> loc("gpt.py":44:2)
           %1 = broadcast_to %0 : tensor<2x4x4xi1> loc("gpt.py":44:3)
           %2 = full {value = -inf} : tensor<2x4x4xfp32>
           %3 = where %1, %x, %2 : tensor<2x4x4xfp32>
           return %3""",
    )
    np.testing.assert_array_equal(m.consts["fold.0"], np.tril(np.ones((4, 4), bool))[None])
    assert same_bits(interpret(m, [x]), before)
    expected = np.where(np.tril(np.ones((4, 4), bool)), x, -np.inf).astype(np.float32)
    np.testing.assert_array_equal(interpret(m, [x])[0], expected)


def test_a_constant_op_reading_a_broadcast_folds_through_it() -> None:
    text = mod(
        "%x: tensor<2x3xfp32>",
        "tensor<2x3xfp32>",
        """%0 = iota {dim = 0} : tensor<3xfp32>
           %1 = broadcast_to %0 : tensor<2x3xfp32>
           %2 = full {value = 0.5} : tensor<fp32>
           %3 = mul %1, %2 : tensor<2x3xfp32>
           %4 = add %x, %3 : tensor<2x3xfp32>
           return %4""",
    )
    m = fold(text)
    assert [op.name for op in m.main.ops] == ["const", "add", "return"]
    np.testing.assert_array_equal(m.consts["fold.0"], np.tile([0.0, 0.5, 1.0], (2, 1)))


def test_weight_transpose_folds_and_the_unused_weight_is_dropped() -> None:
    w = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    text = mod(
        "%x: tensor<4x3xfp32>",
        "tensor<4x2xfp32>",
        """%0 = const {name = @fc.weight} : tensor<2x3xfp32>
           %1 = permute %0 {dims = [1, 0]} : tensor<3x2xfp32> loc("m.py":3:4)
           %2 = matmul %x, %1 : tensor<4x2xfp32>
           return %2""",
    )
    m = fold(text, **{"fc.weight": w})
    assert print_module(m, elide_data=True) == mod(
        "%x: tensor<4x3xfp32>",
        "tensor<4x2xfp32>",
        """%0 = const {name = @fold.0} : tensor<3x2xfp32> loc("m.py":3:4)
           %1 = matmul %x, %0 : tensor<4x2xfp32>
           return %1""",
    )
    assert list(m.consts) == ["fold.0"]
    np.testing.assert_array_equal(m.consts["fold.0"], w.T)


def test_splat_results_become_full_and_sources_stay() -> None:
    text = mod(
        "%x: tensor<2x3xfp32>",
        "tensor<2x3xfp32>",
        """%0 = full {value = 1.5} : tensor<2x3xfp32>
           %1 = full {value = 2.0} : tensor<fp32>
           %2 = add %0, %1 : tensor<2x3xfp32>
           %3 = mul %x, %2 : tensor<2x3xfp32>
           %4 = sub %3, %1 : tensor<2x3xfp32>
           return %4""",
    )
    assert print_module(fold(text)) == mod(
        "%x: tensor<2x3xfp32>",
        "tensor<2x3xfp32>",
        """%0 = full {value = 2.0} : tensor<fp32>
           %1 = full {value = 3.5} : tensor<2x3xfp32>
           %2 = mul %x, %1 : tensor<2x3xfp32>
           %3 = sub %2, %0 : tensor<2x3xfp32>
           return %3""",
    )


def test_size_bound_keeps_big_results_and_materializes_their_operands() -> None:
    text = mod(
        "%x: tensor<4x4xfp32>",
        "tensor<4x4xfp32>",
        """%0 = iota {dim = 0} : tensor<4x1xfp32>
           %1 = iota {dim = 1} : tensor<1x4xfp32>
           %2 = add %0, %1 : tensor<4x4xfp32>
           %3 = mul %x, %2 : tensor<4x4xfp32>
           return %3""",
    )
    m = fold(text, "fold-constants{max-elements=8}")
    assert [op.name for op in m.main.ops] == ["const", "const", "add", "mul", "return"]
    np.testing.assert_array_equal(m.consts["fold.0"], np.arange(4, dtype=np.float32)[:, None])
    np.testing.assert_array_equal(m.consts["fold.1"], np.arange(4, dtype=np.float32)[None])
    big = fold(text)
    assert [op.name for op in big.main.ops] == ["const", "mul", "return"]


def test_rne_convert_folds_with_bf16_rounding_and_sr_convert_stays() -> None:
    data = np.array([1.0, 1.00390625, 3.14159, -2.71828e-3], np.float32)
    text = mod(
        "%x: tensor<4xbf16>",
        "tensor<4xbf16>",
        """%0 = const {name = @c} : tensor<4xfp32>
           %1 = convert %0 {rounding = "rne"} : tensor<4xbf16>
           %2 = convert %0 {rounding = "sr"} : tensor<4xbf16>
           %3 = add %x, %1 : tensor<4xbf16>
           %4 = add %3, %2 : tensor<4xbf16>
           return %4""",
    )
    m = fold(text, c=data)
    assert [op.name for op in m.main.ops] == ["const", "const", "convert", "add", "add", "return"]
    expected = data.astype(ml_dtypes.bfloat16).astype(np.float32)
    np.testing.assert_array_equal(m.consts["fold.0"], expected)


def test_ops_the_interpreter_refuses_stay() -> None:
    text = mod(
        "%x: tensor<2x2xfp32>",
        "tensor<2x2xfp32>",
        """%0 = const {name = @w} : tensor<3x2xfp32>
           %1 = const {name = @i} : tensor<2xi64>
           %2 = embedding %0, %1 : tensor<2x2xfp32>
           %3 = add %x, %2 : tensor<2x2xfp32>
           return %3""",
    )
    w, idx = np.ones((3, 2), np.float32), np.array([0, 7])
    m = fold(text, w=w, i=idx)
    assert [op.name for op in m.main.ops] == ["const", "const", "embedding", "add", "return"]


def test_new_names_skip_taken_ones_and_folding_is_idempotent() -> None:
    text = mod(
        "%x: tensor<3xfp32>",
        "tensor<3xfp32>",
        """%0 = const {name = @fold.0} : tensor<3xfp32>
           %1 = iota {dim = 0} : tensor<3xfp32>
           %2 = add %0, %x : tensor<3xfp32>
           %3 = add %2, %1 : tensor<3xfp32>
           return %3""",
    )
    m = fold(text, **{"fold.0": np.full(3, 7.0, np.float32)})
    assert sorted(m.consts) == ["fold.0", "fold.1"]
    np.testing.assert_array_equal(m.consts["fold.1"], [0.0, 1.0, 2.0])
    once = print_module(m)
    assert print_module(run_pipeline(m, "fold-constants")) == once


@functools.cache
def example(name: str) -> tuple[str, list[np.ndarray]]:
    spec = f"examples/{name}.py"
    _, inputs = load_model(spec)
    return print_module(import_model(spec)), [t.numpy() for t in inputs]


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_fold_bit_identically_and_completely(name: str) -> None:
    text, inputs = example(name)
    before = interpret(parse_module(text), inputs)
    m = fold(text)
    assert same_bits(interpret(m, inputs), before)
    defined = {op.result: op for op in m.main.ops if op.results}
    for op in m.main.ops:
        sources = [defined.get(v) for v in op.operands]
        all_const = bool(sources) and all(
            s is not None and s.name in ("const", "full") for s in sources
        )
        assert op.name == "broadcast_to" or not all_const, f"'{op.name}' was left unfolded"
    assert not any(op.name == "iota" for op in m.main.ops)
