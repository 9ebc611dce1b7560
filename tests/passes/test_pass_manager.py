"""Pass registry, pipeline text, and the pass manager's verify / print / timing knobs."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import ClassVar

import pytest

from d1c.errors import D1cError, ParseError, VerifyError
from d1c.ir import FP32, Module, TensorType, parse_module, print_module
from d1c.passes import (
    PASSES,
    Context,
    PassManager,
    parse_pipeline,
    pass_spec,
    register_pass,
    run_pipeline,
)
from d1c.passes.canonicalize import Canonicalize
from d1c.passes.fold_batchnorm import FoldBatchnorm

SRC = """\
module @m {
  func @main(%x: tensor<2x3xfp32>) -> (tensor<2x3xfp32>) {
    %0 = const {name = @w} : tensor<3xfp32>
    %1 = add %x, %0 : tensor<2x3xfp32>
    %2 = exp %1 : tensor<2x3xfp32>
    %3 = neg %2 : tensor<2x3xfp32>
    %4 = neg %3 : tensor<2x3xfp32>
    return %4
  }
  data @w : tensor<3xfp32> = 0x0000803f0000004000004040
}
"""

AFTER_CANON = """\
module @m {
  func @main(%x: tensor<2x3xfp32>) -> (tensor<2x3xfp32>) {
    %0 = const {name = @w} : tensor<3xfp32>
    %1 = add %x, %0 : tensor<2x3xfp32>
    %2 = exp %1 : tensor<2x3xfp32>
    return %2
  }
}
"""


@dataclass(frozen=True)
class BreakTypes:
    """A deliberately wrong pass: it changes the result type of the first ``exp`` op so that
    its user no longer type-checks."""

    name: ClassVar[str] = "break-types"

    def apply(self, module: Module, ctx: Context) -> Module:
        op = next(op for op in module.ops() if op.name == "exp")
        op.result.type = TensorType((5,), FP32)
        return module


@dataclass(frozen=True)
class Identity:
    name: ClassVar[str] = "identity"

    def apply(self, module: Module, ctx: Context) -> Module:
        return module


def test_pipeline_text_gives_instances_in_order() -> None:
    passes = parse_pipeline("canonicalize, fold-batchnorm,canonicalize")
    assert [type(p) for p in passes] == [Canonicalize, FoldBatchnorm, Canonicalize]
    assert parse_pipeline("  ") == []


def test_pipeline_options_set_dataclass_fields() -> None:
    (p,) = parse_pipeline("canonicalize{max-iterations=3}")
    assert p == Canonicalize(max_iterations=3)
    assert pass_spec(p) == "canonicalize{max-iterations=3}"
    assert pass_spec(Canonicalize()) == "canonicalize"
    two = parse_pipeline("canonicalize{max_iterations=2},fold-batchnorm{}")
    assert two == [Canonicalize(2), FoldBatchnorm()]


def test_unknown_pass_lists_known_ones_with_a_caret() -> None:
    with pytest.raises(ParseError) as info:
        parse_pipeline("canonicalize,fold-bn")
    err = info.value
    known = ", ".join(sorted(PASSES))
    assert err.message == "unknown pass 'fold-bn'"
    assert err.hint == f"did you mean 'fold-batchnorm'? known passes: {known}"
    assert "canonicalize" in known and "fold-batchnorm" in known
    assert err.render().splitlines()[1:3] == ["  canonicalize,fold-bn", "               ^"]
    assert str(err.loc) == "<pipeline>:1:14"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("canonicalize{", "malformed pass 'canonicalize{'"),
        ("canonicalize,,fold-batchnorm", "malformed pass ''"),
        (
            "canonicalize{foo=1}",
            "pass 'canonicalize' has no option 'foo=1'; options: max-iterations",
        ),
        ("fold-batchnorm{x=1}", "pass 'fold-batchnorm' has no option 'x=1'; options: none"),
        (
            "canonicalize{max-iterations=many}",
            "option 'max-iterations=many' of pass 'canonicalize'",
        ),
        ("canonicalize{max-iterations}", "has no option 'max-iterations'"),
    ],
)
def test_malformed_pipelines_are_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_pipeline(text)
    assert message in info.value.message


def test_register_pass_rejects_bad_classes() -> None:
    @dataclass
    class NotFrozen:
        name: ClassVar[str] = "not-frozen"

    @dataclass(frozen=True)
    class BadName:
        name: ClassVar[str] = "Bad_Name"

    for cls in (NotFrozen, BadName):
        with pytest.raises(ValueError):
            register_pass(cls)
    with pytest.raises(ValueError, match="registered twice"):
        register_pass(type("Canon2", (Identity,), {"name": "canonicalize"}))
    assert "not-frozen" not in PASSES and PASSES["canonicalize"] is Canonicalize


def test_run_pipeline_applies_passes() -> None:
    out = run_pipeline(parse_module(SRC), "canonicalize")
    assert print_module(out, elide_data=True) == AFTER_CANON


def test_verify_each_names_the_pass_that_broke_the_ir() -> None:
    with pytest.raises(VerifyError) as info:
        run_pipeline(parse_module(SRC), [Identity(), BreakTypes(), Canonicalize()])
    err = info.value
    assert err.message == (
        "pass 'break-types' produced invalid IR: "
        "'exp' result type should be tensor<2x3xfp32>, not tensor<5xfp32>"
    )
    assert err.hint == "rerun with --print-ir-after=break-types to see the IR it produced"
    assert err.loc is not None and err.loc.line == 5  # the `%2 = exp` line of SRC
    # Without verification the broken module comes back unverified.
    broken = run_pipeline(parse_module(SRC), [BreakTypes()], verify_each=False)
    assert isinstance(broken, Module)


def test_invalid_input_is_reported_before_any_pass() -> None:
    m = parse_module(SRC)
    BreakTypes().apply(m, Context())
    with pytest.raises(VerifyError, match="the input IR is invalid before any pass ran"):
        run_pipeline(m, "canonicalize")


def test_print_after_all_dumps_each_pass_without_data() -> None:
    out = io.StringIO()
    result = run_pipeline(
        parse_module(SRC), "canonicalize,fold-batchnorm", print_after_all=True, out=out
    )
    header = "// -----// IR Dump After {} //----- //\n"
    want = header.format("canonicalize") + AFTER_CANON + "\n"
    want += header.format("fold-batchnorm") + AFTER_CANON + "\n"
    assert out.getvalue() == want
    assert "data @w" in print_module(result)  # only the dump elides the data


def test_print_after_selected_pass_only() -> None:
    out = io.StringIO()
    run_pipeline(
        parse_module(SRC), "fold-batchnorm,canonicalize", print_after={"canonicalize"}, out=out
    )
    assert out.getvalue().count("IR Dump After") == 1
    assert out.getvalue().startswith("// -----// IR Dump After canonicalize //----- //\n")


def test_print_after_unknown_pass_is_an_error() -> None:
    with pytest.raises(D1cError, match="unknown pass 'canonicalise'"):
        run_pipeline(parse_module(SRC), "canonicalize", print_after={"canonicalise"})


def test_time_passes_prints_a_table_that_adds_up() -> None:
    out = io.StringIO()
    pm = PassManager(tuple(parse_pipeline("canonicalize,fold-batchnorm")), time_passes=True)
    pm.run(parse_module(SRC), out)
    text = out.getvalue()
    assert "passes: wall-clock time" in text
    rows = re.findall(r"^\s+(\d+\.\d{4})\s+(\d+\.\d)  (.+)$", text, re.M)
    names = [name for _, _, name in rows]
    assert names == [
        "verifier",
        "canonicalize",
        "fold-batchnorm",
        "(other: between the phases above)",
        "total",
    ]
    total = float(re.search(r"Total: (\d+\.\d+) s", text).group(1))
    assert float(rows[-1][0]) == pytest.approx(total, abs=1e-4)
    assert sum(float(s) for s, _, _ in rows[:-1]) == pytest.approx(total, abs=5e-4)
    assert rows[-1][1] == "100.0"


def test_no_timing_table_unless_asked() -> None:
    out = io.StringIO()
    run_pipeline(parse_module(SRC), "canonicalize", out=out)
    assert out.getvalue() == ""
