"""The public strategies of d1c.testing: what they generate is valid (checked by the verifier,
the target loader, torch itself, the assembler) and the mutation helpers do what they say."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from d1c.errors import D1cError
from d1c.ir import parse_module, print_module, verify_module
from d1c.isa.asm import assemble
from d1c.isa.d1x import read_d1x
from d1c.isa.disasm import disassemble
from d1c.target import load_target
from d1c.testing.graph_steps import MAX_ELEMENTS, SIZES
from d1c.testing.mutations import apply_text_edits, mutated_d1x, mutated_texts, reseal, text_edits
from d1c.testing.strategies import asm_programs, graph_modules
from d1c.testing.targets import TargetSpec, connected, target_specs

FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
ROOT = Path(__file__).resolve().parents[2]


@FAST
@given(graph_modules(max_ops=10, sizes=SIZES))
def test_graph_modules_verify_and_stay_small(m) -> None:
    verify_module(m)
    for op in m.main.ops[:-1]:
        assert op.result.type.numel <= MAX_ELEMENTS, (op.name, op.result.type)


@FAST
@given(target_specs())
def test_random_targets_load_with_their_fields(tmp_path_factory, spec: TargetSpec) -> None:
    t = load_target(spec.write(tmp_path_factory.mktemp("t")))
    assert t.chips == spec.chips and t.chip_grid == spec.cores
    assert t.disabled == frozenset(spec.disabled) and t.sram_bytes == spec.sram_bytes
    assert t.dip["count"] == spec.dips and t.dip["hbm_bytes"] == spec.hbm_bytes
    assert t.num_cores == spec.chips[0] * spec.chips[1] * (
        math.prod(spec.cores) - len(spec.disabled)
    )
    assert connected(spec.chips, spec.cores, set(spec.disabled))


def test_connected_sees_a_mesh_cut_by_holes() -> None:
    assert connected((1, 1), (3, 1), set())
    assert not connected((1, 1), (3, 1), {(1, 0)})  # a 1x3 chip with its middle core disabled
    assert not connected((1, 2), (3, 1), {(1, 0)})  # the same cut on each chip
    assert connected((2, 2), (2, 2), {(0, 0)})


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_torch_recipes_predict_their_shapes(data) -> None:
    torch = pytest.importorskip("torch")
    from d1c.testing.torch_models import TorchRecipe, torch_recipes

    recipe: TorchRecipe = data.draw(torch_recipes())
    model, (x,) = recipe.model(), recipe.inputs()
    with torch.no_grad():
        shapes = [tuple(x.shape)]
        for layer in model:
            x = layer(x)
            shapes.append(tuple(x.shape))
    assert shapes == recipe.shapes()
    namespace: dict = {}
    exec(recipe.source(), namespace)  # the reproducer's model file rebuilds the same model
    assert namespace["RECIPE"] == recipe


@FAST
@given(asm_programs())
def test_asm_programs_assemble_or_fail_cleanly_and_round_trip(text: str) -> None:
    try:
        prog = assemble(text)
    except D1cError:
        return
    assert read_d1x(prog.to_bytes()) == prog
    assert assemble(disassemble(prog)).to_bytes() == prog.to_bytes()


def test_asm_programs_mostly_assemble() -> None:
    ok = 0

    @settings(max_examples=30, deadline=None, database=None)
    @given(asm_programs())
    def count(text: str) -> None:
        nonlocal ok
        try:
            assemble(text)
            ok += 1
        except D1cError:
            pass

    count()
    assert ok >= 20


EXAMPLE = (ROOT / "examples" / "attention.d1").read_text()


@FAST
@given(text_edits())
def test_text_edits_are_deterministic_and_change_the_text(edits) -> None:
    once = apply_text_edits(EXAMPLE, edits)
    assert once == apply_text_edits(EXAMPLE, edits)
    try:
        m = parse_module(once, "mutant.d1")
    except D1cError:
        return
    print_module(m)  # a mutant that parses is a verified module: it prints


@FAST
@given(mutated_texts("module @m {\n}\n"))
def test_mutated_texts_of_a_tiny_module_parse_or_fail_cleanly(text: str) -> None:
    with contextlib.suppress(D1cError):
        parse_module(text)


def _program():
    return assemble(
        '.target "mini"\n.code main, 0.0.0.0\n    li x1, 5\n    addi x1, x1, 1\n    halt\n'
    )


def test_reseal_makes_an_edited_body_pass_the_checksum() -> None:
    data = bytearray(_program().to_bytes())
    with pytest.raises(D1cError, match="checksum"):
        read_d1x(bytes(data[:-1]) + bytes([data[-1] ^ 1]))
    assert read_d1x(reseal(bytes(data))) == _program()  # an intact body reseals to itself
    data[-1] ^= 1  # flip a bit of the last section: still a checksum error until resealed
    with pytest.raises(D1cError) as err:
        read_d1x(reseal(bytes(data)))
    assert "checksum" not in str(err.value)


@FAST
@given(mutated_d1x(_program().to_bytes()))
def test_mutated_d1x_is_read_or_rejected_with_a_decode_error(data: bytes) -> None:
    with contextlib.suppress(D1cError):
        read_d1x(data)
