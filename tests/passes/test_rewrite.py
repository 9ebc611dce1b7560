"""The worklist rewrite driver: replacement, insertion order, DCE, fixpoint and rule checks."""

from __future__ import annotations

import numpy as np
import pytest

from d1c.errors import CompileError
from d1c.ir import FP32, Op, TensorType, Value, modules_equal, parse_module, print_module
from d1c.passes import rewrite
from d1c.passes.rewrite import Rewriter, RuleFn, apply_rules, drop_unused_consts, index_rules

SRC = """\
module @m {
  func @main(%x: tensor<4xfp32>) -> (tensor<4xfp32>) {
    %0 = exp %x : tensor<4xfp32>
    %1 = tanh %0 : tensor<4xfp32>
    %2 = exp %1 : tensor<4xfp32>
    return %2
  }
}
"""


def exp_to_sin_cos(op: Op, rw: Rewriter) -> Value | None:
    """exp(x) -> cos(sin(x)): two new ops inserted before the exp."""
    s = rw.create("sin", [op.operands[0]])
    return rw.create("cos", [s])


def sin_to_neg_abs(op: Op, rw: Rewriter) -> Value | None:
    """sin(x) -> neg(abs(x)): rewrites an op that a rule created."""
    return rw.create("neg", [rw.create("abs", [op.operands[0]])])


def test_created_ops_go_before_the_rewritten_op_and_are_revisited() -> None:
    m = parse_module(SRC)
    assert apply_rules(m, [("exp", exp_to_sin_cos), ("sin", sin_to_neg_abs)])
    want = """\
module @m {
  func @main(%x: tensor<4xfp32>) -> (tensor<4xfp32>) {
    %0 = abs %x : tensor<4xfp32>
    %1 = neg %0 : tensor<4xfp32>
    %2 = cos %1 : tensor<4xfp32>
    %3 = tanh %2 : tensor<4xfp32>
    %4 = abs %3 : tensor<4xfp32>
    %5 = neg %4 : tensor<4xfp32>
    %6 = cos %5 : tensor<4xfp32>
    return %6
  }
}
"""
    assert print_module(m) == want
    assert modules_equal(m, parse_module(want))


def test_no_match_means_no_change() -> None:
    m = parse_module(SRC)
    assert not apply_rules(m, [("relu", exp_to_sin_cos)])
    assert print_module(m) == SRC


def test_dead_chains_are_erased_but_side_effect_ops_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    src = SRC.replace("return %2", "return %x")
    m = parse_module(src)
    assert apply_rules(m, [])
    assert [op.name for op in m.main.ops] == ["return"]
    monkeypatch.setattr(rewrite, "SIDE_EFFECT_OPS", {"tanh"})
    m = parse_module(src)
    apply_rules(m, [])
    assert [op.name for op in m.main.ops] == ["exp", "tanh", "return"]
    m = parse_module(src)
    assert not apply_rules(m, [], dce=False)


def test_rules_apply_in_order_and_wildcards_match_all() -> None:
    seen: list[tuple[str, str]] = []

    def spy(tag: str) -> RuleFn:
        def fn(op: Op, rw: Rewriter) -> None:
            seen.append((tag, op.name))

        return fn

    a, b, c = spy("a"), spy("b"), spy("c")
    rules = [("exp", a), ("*", b), (("tanh", "exp"), c)]
    assert index_rules(rules)("exp") == [a, b, c]
    assert index_rules(rules)("tanh") == [b, c]
    assert index_rules(rules)("sin") == [b]
    apply_rules(parse_module(SRC), rules)
    assert seen == [
        ("a", "exp"), ("b", "exp"), ("c", "exp"),
        ("b", "tanh"), ("c", "tanh"),
        ("a", "exp"), ("b", "exp"), ("c", "exp"),
    ]  # fmt: skip


def test_rules_that_undo_each_other_are_reported() -> None:
    def to_sin(op: Op, rw: Rewriter) -> Value:
        return rw.create("sin", op.operands)

    def to_exp(op: Op, rw: Rewriter) -> Value:
        return rw.create("exp", op.operands)

    with pytest.raises(CompileError, match="did not reach a fixpoint in @main after 40 rewrites"):
        apply_rules(parse_module(SRC), [("exp", to_sin), ("sin", to_exp)], max_rewrites=40)


def test_a_rule_that_changes_the_type_is_named() -> None:
    def bad_reshape(op: Op, rw: Rewriter) -> Value:
        return rw.create("reshape", op.operands, result_type=TensorType((2, 2), FP32))

    with pytest.raises(CompileError, match=r"rule bad_reshape replaced a tensor<4xfp32> result"):
        apply_rules(parse_module(SRC), [("tanh", bad_reshape)])

    def itself(op: Op, rw: Rewriter) -> Value:
        return op.result

    with pytest.raises(CompileError, match="replaced 'tanh' by itself"):
        apply_rules(parse_module(SRC), [("tanh", itself)])


def test_replace_all_uses_updates_every_reader_including_return() -> None:
    m = parse_module(
        SRC.replace("%2 = exp %1", "%2 = add %1, %1").replace("return %2", "return %1")
    )
    rw = Rewriter(m, m.main)
    tanh = m.main.ops[1]
    rw.replace_all_uses(tanh.result, m.main.args[0])
    assert rw.users_of(tanh.result) == []
    assert m.main.ops[2].operands == [m.main.args[0]] * 2
    assert m.main.ret.operands == [m.main.args[0]]
    assert rw.users_of(m.main.args[0]) == [m.main.ops[0], m.main.ops[2], m.main.ret]
    with pytest.raises(ValueError, match="still used"):
        rw.erase(m.main.ops[0])


def test_add_const_makes_names_unique_and_unused_consts_drop() -> None:
    m = parse_module(SRC)
    m.consts["w"] = np.zeros(4, np.float32)
    rw = Rewriter(m, m.main)
    rw.current = m.main.ops[0]
    a = rw.add_const("w", np.ones(4, np.float32), TensorType((4,), FP32))
    b = rw.add_const("w", np.ones(4, np.float32), TensorType((4,), FP32))
    assert [v.owner.attrs["name"].name for v in (a, b)] == ["w.1", "w.2"]
    rw.materialize()
    assert [op.name for op in m.main.ops[:3]] == ["const", "const", "exp"]
    assert drop_unused_consts(m)
    assert list(m.consts) == ["w.1", "w.2"]


def test_rewriting_is_deterministic() -> None:
    texts = set()
    for _ in range(3):
        m = parse_module(SRC)
        apply_rules(m, [("exp", exp_to_sin_cos), ("sin", sin_to_neg_abs)])
        texts.add(print_module(m))
    assert len(texts) == 1


def test_a_rule_must_not_create_ops_and_then_decline() -> None:
    def sloppy(op: Op, rw: Rewriter) -> None:
        rw.create("sin", op.operands)

    with pytest.raises(CompileError, match="rule sloppy created ops but returned None"):
        apply_rules(parse_module(SRC), [("tanh", sloppy)])
