"""``fold-constants``: before/after IR per case, folded data against numpy oracles, and the
example models interpreted bit-identically before and after folding."""

from __future__ import annotations

import functools

import ml_dtypes
import numpy as np
import pytest

from d1c.frontend import import_model, load_model
from d1c.interp import interpret
from d1c.ir import Module, modules_equal, parse_module, print_module
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


def test_causal_mask_becomes_one_constant() -> None:
    x = np.random.default_rng(0).standard_normal((2, 4, 4)).astype(np.float32)
    before = interpret(parse_module(CAUSAL), [x])
    m = fold(CAUSAL)
    assert print_module(m, elide_data=True) == mod(
        "%x: tensor<2x4x4xfp32>",
        "tensor<2x4x4xfp32>",
        """%0 = const {name = @fold.broadcast_to} : tensor<2x4x4xi1> loc("gpt.py":44:3)
           %1 = full {value = -inf} : tensor<2x4x4xfp32>
           %2 = where %0, %x, %1 : tensor<2x4x4xfp32>
           return %2""",
    )
    tril = np.tril(np.ones((4, 4), bool))
    np.testing.assert_array_equal(m.consts["fold.broadcast_to"], np.broadcast_to(tril, (2, 4, 4)))
    assert same_bits(interpret(m, [x]), before)
    expected = np.where(tril, x, -np.inf).astype(np.float32)
    np.testing.assert_array_equal(interpret(m, [x])[0], expected)


def test_a_big_broadcast_of_a_constant_stays_a_view() -> None:
    """A broadcast adding more than VIEW_LIMIT elements stays a view of the folded mask (a
    stride-0 read on the device), whatever the fold limit."""
    big = CAUSAL.replace("2x4x4x", "8193x4x4x").replace("2x4x4xfp32", "8193x4x4xfp32")
    m = fold(big)
    assert [op.name for op in m.main.ops] == ["const", "broadcast_to", "full", "where", "return"]
    np.testing.assert_array_equal(m.consts["fold.reshape.2"], np.tril(np.ones((4, 4), bool))[None])


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
    np.testing.assert_array_equal(m.consts["fold.mul"], np.tile([0.0, 0.5, 1.0], (2, 1)))


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
        """%0 = const {name = @fc.weight.permute} : tensor<3x2xfp32> loc("m.py":3:4)
           %1 = matmul %x, %0 : tensor<4x2xfp32>
           return %1""",
    )
    assert list(m.consts) == ["fc.weight.permute"]
    np.testing.assert_array_equal(m.consts["fc.weight.permute"], w.T)


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


def test_size_bound_keeps_big_results() -> None:
    text = mod(
        "%x: tensor<4x4xfp32>",
        "tensor<4x4xfp32>",
        """%0 = iota {dim = 0} : tensor<4x1xfp32>
           %1 = iota {dim = 1} : tensor<1x4xfp32>
           %2 = add %0, %1 : tensor<4x4xfp32>
           %3 = mul %x, %2 : tensor<4x4xfp32>
           return %3""",
    )
    m = fold(text, "fold-constants{max-elements=8}")  # the add has 16 elements: it stays
    assert [op.name for op in m.main.ops] == ["iota", "iota", "add", "mul", "return"]
    big = fold(text)
    assert [op.name for op in big.main.ops] == ["const", "mul", "return"]
    np.testing.assert_array_equal(big.consts["fold.add"], np.add.outer(*[np.arange(4.0)] * 2))


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
    np.testing.assert_array_equal(m.consts["c.convert"], expected)


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
        "%x: tensor<3x2xfp32>",
        "tensor<3x2xfp32>",
        """%0 = const {name = @w.permute} : tensor<3x2xfp32>
           %1 = const {name = @w} : tensor<2x3xfp32>
           %2 = permute %1 {dims = [1, 0]} : tensor<3x2xfp32>
           %3 = add %0, %x : tensor<3x2xfp32>
           %4 = add %3, %2 : tensor<3x2xfp32>
           return %4""",
    )
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    m = fold(text, **{"w.permute": np.full((3, 2), 7.0, np.float32), "w": w})
    assert sorted(m.consts) == ["w.permute", "w.permute.1"]
    np.testing.assert_array_equal(m.consts["w.permute.1"], w.T)
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


# Constant folding inside ``canonicalize``: values checked against numpy, size bound, and the
# cases that must not fold.


LINEAR = """\
module @m {
  func @main(%x: tensor<2x3xfp32>) -> (tensor<2x4xfp32>) {
    %0 = const {name = @fc.weight} : tensor<4x3xfp32>
    %1 = permute %0 {dims = [1, 0]} : tensor<3x4xfp32>
    %2 = matmul %x, %1 : tensor<2x4xfp32>
    return %2
  }
}
"""

LINEAR_FOLDED = """\
module @m {
  func @main(%x: tensor<2x3xfp32>) -> (tensor<2x4xfp32>) {
    %0 = const {name = @fc.weight.permute} : tensor<3x4xfp32>
    %1 = matmul %x, %0 : tensor<2x4xfp32>
    return %1
  }
}
"""

W = np.arange(12, dtype=np.float32).reshape(4, 3) * np.float32(0.37) - 1


def canon(text: str, pipeline: str = "canonicalize", **consts: np.ndarray):
    m = parse_module(text)
    m.consts.update(consts)
    return run_pipeline(m, pipeline)


def test_transposed_weight_becomes_a_new_constant() -> None:
    out = canon(LINEAR, **{"fc.weight": W})
    assert print_module(out, elide_data=True) == LINEAR_FOLDED
    assert modules_equal(parse_module(LINEAR_FOLDED), out, check_data=False)
    assert list(out.consts) == ["fc.weight.permute"]
    np.testing.assert_array_equal(out.consts["fc.weight.permute"], W.T)


def test_causal_mask_from_iotas_folds_to_an_i1_constant() -> None:
    src = """\
module @m {
  func @main(%x: tensor<4x4xfp32>) -> (tensor<4x4xfp32>) {
    %0 = iota {dim = 0} : tensor<4x1xi64>
    %1 = iota {dim = 1} : tensor<1x4xi64>
    %2 = le %1, %0 : tensor<4x4xi1>
    %3 = full {value = -inf} : tensor<fp32>
    %4 = where %2, %x, %3 : tensor<4x4xfp32>
    return %4
  }
}
"""
    want = """\
module @m {
  func @main(%x: tensor<4x4xfp32>) -> (tensor<4x4xfp32>) {
    %0 = const {name = @fold.le} : tensor<4x4xi1>
    %1 = full {value = -inf} : tensor<fp32>
    %2 = where %0, %x, %1 : tensor<4x4xfp32>
    return %2
  }
}
"""
    out = canon(src)
    assert print_module(out, elide_data=True) == want
    np.testing.assert_array_equal(out.consts["fold.le"], np.tril(np.ones((4, 4), bool)))


def test_splat_results_become_full() -> None:
    src = """\
module @m {
  func @main() -> (tensor<3xfp32>, tensor<2xi64>) {
    %0 = full {value = 1.5} : tensor<3xfp32>
    %1 = full {value = -4.0} : tensor<fp32>
    %2 = mul %0, %1 : tensor<3xfp32>
    %3 = const {name = @idx} : tensor<2xi64>
    %4 = reduce_sum %3 {dims = [0], keepdim = true} : tensor<1xi64>
    %5 = broadcast_to %4 : tensor<2xi64>
    return %2, %5
  }
}
"""
    want = """\
module @m {
  func @main() -> (tensor<3xfp32>, tensor<2xi64>) {
    %0 = full {value = -6.0} : tensor<3xfp32>
    %1 = full {value = 11.0} : tensor<2xi64>
    return %0, %1
  }
}
"""
    out = canon(src, idx=np.array([4, 7], np.int64))
    assert print_module(out) == want
    assert out.consts == {}


BIG_BROADCAST = """\
module @m {
  func @main(%x: tensor<300x300xfp32>) -> (tensor<300x300xfp32>) {
    %0 = const {name = @b} : tensor<300xfp32>
    %1 = broadcast_to %0 : tensor<300x300xfp32>
    %2 = add %x, %1 : tensor<300x300xfp32>
    return %2
  }
}
"""


SR_CONVERT = """\
module @m {
  func @main() -> (tensor<4x3xbf16>) {
    %0 = const {name = @fc.weight} : tensor<4x3xfp32>
    %1 = convert %0 {rounding = "sr"} : tensor<4x3xbf16>
    return %1
  }
}
"""

SHARED_WEIGHT = """\
module @m {
  func @main(%x: tensor<2x3xfp32>, %y: tensor<4x3xfp32>) -> (tensor<2x4xfp32>, tensor<4x3xfp32>) {
    %0 = const {name = @fc.weight} : tensor<4x3xfp32>
    %1 = permute %0 {dims = [1, 0]} : tensor<3x4xfp32>
    %2 = matmul %x, %1 : tensor<2x4xfp32>
    %3 = add %y, %0 : tensor<4x3xfp32>
    return %2, %3
  }
}
"""


@pytest.mark.parametrize(
    ("text", "pipeline", "why"),
    [
        (BIG_BROADCAST, "canonicalize", "90000 new elements exceed the default 65536"),
        (SHARED_WEIGHT,
         "canonicalize{fold-limit=11}", "the weight stays alive: 12 new elements > 11"),
        (LINEAR, "canonicalize{fold-limit=0}", "folding is off"),
        (SR_CONVERT,
         "canonicalize", "stochastic rounding depends on where it runs"),
    ],
)  # fmt: skip
def test_no_fold(text: str, pipeline: str, why: str) -> None:
    consts = {"b": np.ones(300, np.float32), "fc.weight": W}
    m = parse_module(text)
    consts = {k: v for k, v in consts.items() if f"@{k}}}" in text}
    out = canon(text, pipeline, **consts)
    assert print_module(out, elide_data=True) == print_module(m, elide_data=True), why


def test_no_fold_without_data_or_when_the_interpreter_refuses() -> None:
    assert print_module(canon(LINEAR)) == LINEAR  # data elided
    bad_index = """\
module @m {
  func @main() -> (tensor<2x3xfp32>) {
    %0 = const {name = @idx} : tensor<2xi64>
    %1 = full {value = 1.0} : tensor<4x3xfp32>
    %2 = embedding %1, %0 : tensor<2x3xfp32>
    return %2
  }
}
"""
    out = canon(bad_index, idx=np.array([0, 7], np.int64))  # row 7 of 4: fails when run
    assert print_module(out, elide_data=True) == bad_index


def test_folding_the_linear_weight_keeps_the_result() -> None:
    from d1c.interp import interpret

    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    before = parse_module(LINEAR)
    before.consts["fc.weight"] = W
    want = interpret(before, [x])[0]
    got = interpret(canon(LINEAR, **{"fc.weight": W}), [x])[0]
    assert want.tobytes() == got.tobytes()


def test_the_size_bound_counts_only_new_data() -> None:
    out = canon(SHARED_WEIGHT, "canonicalize{fold-limit=12}", **{"fc.weight": W})
    assert list(out.consts) == ["fc.weight", "fc.weight.permute"]


def test_contractions_over_the_work_limit_stay() -> None:
    """512x512 @ 512x128: 33.5M multiply-adds > WORK_LIMIT (16.8M); 512x256 @ 256x128 folds."""
    src = """\
module @m {
  func @main() -> (tensor<512x128xfp32>) {
    %0 = const {name = @a} : tensor<512xKxfp32>
    %1 = const {name = @b} : tensor<Kx128xfp32>
    %2 = matmul %0, %1 : tensor<512x128xfp32>
    return %2
  }
}
"""
    rng = np.random.default_rng(0)
    for k, folds in ((512, False), (256, True)):
        a = rng.standard_normal((512, k)).astype(np.float32)
        b = rng.standard_normal((k, 128)).astype(np.float32)
        out = canon(src.replace("K", str(k)), "canonicalize{fold-limit=1}", a=a, b=b)
        assert ("matmul" in [op.name for op in out.main.ops]) != folds
        if folds:
            np.testing.assert_allclose(
                out.consts["a.matmul"], a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4
            )


def test_layout_changes_of_a_weight_fold_whatever_their_size(monkeypatch) -> None:
    """With the limits shrunk below the weight's size (as 8192x8192 is above the real ones),
    nn.Linear's compiled program still reads its weight pre-transposed: no permute anywhere from
    the graph to the placed IR, and the ladder is bit-exact against the interpreter."""
    import torch

    from d1c import driver
    from d1c.frontend import export_model
    from d1c.ladder import verify_module
    from d1c.passes import fold_constants

    monkeypatch.setattr(fold_constants, "WORK_LIMIT", 1)
    monkeypatch.setattr(fold_constants, "MAX_ELEMENTS", 1)
    torch.manual_seed(0)
    layer = torch.nn.Linear(24, 40, bias=False)
    x = torch.randn(8, 24)
    graph = export_model(layer, (x,))
    assert "permute" in [op.name for op in graph.main.ops]  # what torch.export gives
    opts = driver.Options("mini", "bf16", (x.numpy(),))
    snaps = driver.compile_stages(graph, "placed", opts)
    for stage, m in snaps.items():
        assert not any(op.name == "permute" for op in m.main.ops), stage
    (w,) = [v for k, v in snaps["placed"].consts.items() if k.endswith(".permute")]
    want = layer.weight.detach().numpy().T.astype(ml_dtypes.bfloat16).astype(np.float32)
    np.testing.assert_array_equal(w, want)  # stored transposed and in bf16
    (eager,) = driver.eager_outputs(layer, (x,))
    report = verify_module(graph, [x.numpy()], "mini", reference=[eager])
    assert report.ok and report.outputs[0].bit_exact, report.render()


def test_a_layout_change_over_the_work_limit_folds_but_a_computing_op_does_not(
    monkeypatch,
) -> None:
    from d1c.passes import fold_constants

    monkeypatch.setattr(fold_constants, "WORK_LIMIT", 4)  # below the weight's 12 elements
    out = canon(LINEAR, **{"fc.weight": W})
    assert print_module(out, elide_data=True) == LINEAR_FOLDED
    neg = mod(
        "",
        "tensor<4x3xfp32>",
        """%0 = const {name = @fc.weight} : tensor<4x3xfp32>
           %1 = neg %0 : tensor<4x3xfp32>
           return %1""",
    )
    assert [op.name for op in canon(neg, **{"fc.weight": W}).main.ops] == ["const", "neg", "return"]
