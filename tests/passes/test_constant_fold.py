"""Constant folding inside ``canonicalize``: values checked against numpy, size bound, and the
cases that must not fold."""

from __future__ import annotations

import numpy as np
import pytest

from d1c.ir import modules_equal, parse_module, print_module
from d1c.passes import run_pipeline

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
    %0 = const {name = @folded.le} : tensor<4x4xi1>
    %1 = full {value = -inf} : tensor<fp32>
    %2 = where %0, %x, %1 : tensor<4x4xfp32>
    return %2
  }
}
"""
    out = canon(src)
    assert print_module(out, elide_data=True) == want
    np.testing.assert_array_equal(out.consts["folded.le"], np.tril(np.ones((4, 4), bool)))


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
