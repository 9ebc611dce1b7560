"""The four examples import completely, verify, round-trip through text, carry the user's source
lines, and appear fully supported in the coverage table."""

from __future__ import annotations

import operator
from collections import Counter
from pathlib import Path

import pytest
import torch

from d1c.errors import CompileError
from d1c.frontend import LOWERINGS, coverage_rows, export_program, import_program, load_model
from d1c.ir import I32, modules_equal, parse_module, print_module
from tests.frontend.conftest import EXAMPLES, ROOT


@pytest.fixture(scope="module")
def exported() -> dict[str, tuple[torch.export.ExportedProgram, str]]:
    """Each example exported once (export dominates the cost of these tests)."""
    out = {}
    for name in EXAMPLES:
        path = str(ROOT / "examples" / f"{name}.py")
        model, inputs = load_model(path)
        out[name] = (export_program(model, inputs), path)
    return out


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_imports_and_round_trips(exported, name: str) -> None:
    ep, _ = exported[name]
    module = import_program(ep, name=name)
    text = print_module(module)
    again = parse_module(text)
    assert modules_equal(again, module)
    assert print_module(again) == text
    assert print_module(import_program(ep, name=name)) == text  # deterministic


@pytest.mark.parametrize("name", EXAMPLES)
def test_coverage_counts_every_aten_call(exported, name: str) -> None:
    ep, _ = exported[name]
    rows = coverage_rows(ep)
    counted = Counter(
        str(n.target)
        for n in ep.graph.nodes
        if n.op == "call_function" and n.target is not operator.getitem
    )
    assert {r.op: r.count for r in rows} == dict(counted)
    assert all(r.supported for r in rows)


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_op_has_a_location(exported, name: str) -> None:
    ep, _ = exported[name]
    module = import_program(ep, name=name)
    assert all(op.loc is not None for op in module.main.ops[:-1])


def _line_of(path: str, needle: str) -> int:
    (n,) = [i for i, t in enumerate(Path(path).read_text().splitlines(), 1) if needle in t]
    return n


def test_gpt_block_locations_are_lines_of_the_model_file(exported) -> None:
    ep, path = exported["gpt_block"]
    module = import_program(ep, name="gpt_block")
    lines = {}
    for op in module.main.ops[:-1]:
        assert Path(op.loc.file).name == "gpt_block.py"
        lines.setdefault(op.name, set()).add(op.loc.line)
    assert lines["softmax"] == {_line_of(path, "torch.softmax(att")}
    assert lines["embedding"] == {_line_of(path, "self.wte(ids)")}
    assert lines["gelu"] == {_line_of(path, 'approximate="tanh"')}
    assert lines["concat"] == {_line_of(path, "torch.cat(")}
    assert _line_of(path, "self.ln_1(x)") in lines["layer_norm"]


def test_transformer_locations_fall_back_to_torch_sources(exported) -> None:
    """The model file has no forward of its own, so ops point into torch.nn's modules."""
    ep, _ = exported["transformer"]
    module = import_program(ep, name="transformer")
    files = {op.loc.file for op in module.main.ops[:-1]}
    assert files and all(f.startswith("torch/nn/modules/") for f in files)


def test_a_lowering_that_disagrees_with_torch_is_reported(exported, monkeypatch) -> None:
    """The importer checks each result type against the shape/dtype torch recorded."""
    ep, path = exported["mlp"]
    aten = torch.ops.aten
    monkeypatch.setitem(LOWERINGS, aten.relu.default, lambda ctx, x: ctx.cast(x, I32))
    with pytest.raises(CompileError) as info:
        import_program(ep, name="mlp")
    err = info.value
    assert "aten.relu.default" in err.message and "tensor<8x128xfp32>" in err.message
    assert err.loc.line == _line_of(path, "torch.relu(self.fc1(x))")
