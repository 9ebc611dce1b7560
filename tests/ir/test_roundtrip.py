"""Round trip of the textual IR: print(parse(t)) == t for canonical text, and parse(print(m)) is
structurally equal to m, over a hand-written corpus and hypothesis-generated modules."""

from pathlib import Path

import pytest
from hypothesis import given, settings

from d1c.ir import modules_equal, parse_module, print_module
from d1c.testing.strategies import graph_modules

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted((ROOT / "examples").glob("*.d1")) + sorted(
    (ROOT / "tests" / "ir" / "corpus").glob("*.d1")
)


def _without_comments(text: str) -> str:
    """Canonical text has no comments (the printer writes none)."""
    return "".join(
        line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("//")
    )


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_text_round_trips(path: Path) -> None:
    text = _without_comments(path.read_text())
    module = parse_module(text, str(path))
    assert print_module(module) == text
    assert modules_equal(parse_module(print_module(module)), module)


@settings(max_examples=60, deadline=None)
@given(graph_modules())
def test_generated_modules_round_trip(module) -> None:
    text = print_module(module)
    again = parse_module(text)
    assert modules_equal(again, module)
    assert print_module(again) == text


@settings(max_examples=30, deadline=None)
@given(graph_modules())
def test_elided_data_still_parses(module) -> None:
    text = print_module(module, elide_data=True)
    assert "data @" not in text
    again = parse_module(text)
    assert modules_equal(again, module, check_data=False)
    assert again.consts == {}


def test_structural_equality_ignores_names_but_not_wiring() -> None:
    a = parse_module(
        "module @m {\n  func @f(%x: tensor<2xfp32>, %y: tensor<2xfp32>) -> (tensor<2xfp32>) {\n"
        "    %0 = sub %x, %y : tensor<2xfp32>\n    return %0\n  }\n}\n"
    )
    renamed = parse_module(
        "module @m {\n  func @f(%a: tensor<2xfp32>, %b: tensor<2xfp32>) -> (tensor<2xfp32>) {\n"
        "    %r = sub %a, %b : tensor<2xfp32>\n    return %r\n  }\n}\n"
    )
    swapped = parse_module(
        "module @m {\n  func @f(%x: tensor<2xfp32>, %y: tensor<2xfp32>) -> (tensor<2xfp32>) {\n"
        "    %0 = sub %y, %x : tensor<2xfp32>\n    return %0\n  }\n}\n"
    )
    assert modules_equal(a, renamed)
    assert not modules_equal(a, swapped)
