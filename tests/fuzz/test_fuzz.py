"""``d1c fuzz``: a bounded, derandomized run is clean; the same seed draws the same examples; a
deliberately broken pass is caught, shrunk, saved and replayed from its reproducer with
``d1c verify``; the reproducers of the robustness properties hold what their commands need."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from d1c.cli import main
from d1c.driver import random_inputs
from d1c.fuzz.checks import Case, CaseDraw, Failure, check_mutant
from d1c.fuzz.repro import save_reproducer
from d1c.fuzz.runner import FuzzConfig, run_fuzz
from d1c.ir import parse_module
from d1c.passes.decompose_emit import Emitter
from d1c.testing.targets import TargetSpec

ROOT = Path(__file__).resolve().parents[2]


def test_bounded_run_is_clean(tmp_path: Path) -> None:
    result = run_fuzz(FuzzConfig(examples=40, seed=7, out=str(tmp_path)))
    assert result.ok, result.summary()
    assert result.examples == 40
    compiled = result.outcomes["compile"]
    assert compiled["verified"] >= 30, compiled  # most examples go through the whole ladder
    assert sum(result.outcomes["mutated IR"].values()) == 40
    assert sum(result.outcomes["assembly"].values()) == 40
    assert "no failures" in result.summary() and not list(tmp_path.iterdir())


def test_time_budget_stops_the_run() -> None:
    result = run_fuzz(FuzzConfig(examples=100_000, seed=0, out=None, time_budget=1.5))
    assert 0 < result.examples < 100_000 and result.stopped == "time budget"
    assert result.elapsed < 30 and "(stopped: time budget)" in result.summary()


def test_same_seed_same_examples(tmp_path: Path) -> None:
    runs = [run_fuzz(FuzzConfig(examples=12, seed=3, out=None)) for _ in range(2)]
    assert runs[0].outcomes == runs[1].outcomes
    other = run_fuzz(FuzzConfig(examples=12, seed=4, out=None))
    assert other.outcomes != runs[0].outcomes


def test_a_broken_pass_is_caught_shrunk_saved_and_replayed(tmp_path: Path, monkeypatch) -> None:
    """decompose with a wrong constant: every ``full`` it emits (the 1/n of means, layer_norm's
    count and eps, pool divisors, ...) is 10% too large. (1% is within the derived bound of some
    deep bf16 examples, so whether 40 examples catch it depended on hypothesis's version.)"""
    full = Emitter.full
    monkeypatch.setattr(Emitter, "full", lambda e, v, *a: full(e, 1.1 * v if v else v, *a))
    cfg = FuzzConfig(40, seed=4, target="mini", out=str(tmp_path), shrink_calls=60, torch_share=0)
    result = run_fuzz(cfg)
    found = result.found[0]  # rung 3 sees the decomposition change the real-number function
    assert found.failure.signature == "ladder: tiled IR computes the quantized IR (float64)"
    folder = found.folder
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", "case.d1", "inputs.npz"]
    ops = [op.name for op in parse_module((folder / "case.d1").read_text()).main.ops]
    # shrunk to a decomposed op and what it reads; which example fails first depends on every
    # draw before it, including the mutations of each example's program bytes
    assert len(ops) <= 6 and set(ops) & COMPOSITE, ops
    (cmd,) = found.commands
    assert cmd.startswith("d1c verify case.d1 --target mini") and "--inputs inputs.npz" in cmd
    assert cmd in (folder / "README.txt").read_text() and cmd in result.summary()
    replay = _replay(folder, cmd)
    assert replay.exit_code == 1
    assert "tiled IR computes the quantized IR (float64): FAILED" in replay.output, replay.output
    monkeypatch.undo()  # the pass fixed: the same reproducer passes
    replay = _replay(folder, cmd)
    assert replay.exit_code == 0 and "PASS" in replay.output


COMPOSITE = {"reduce_mean", "layer_norm", "batch_norm", "avg_pool2d", "adaptive_avg_pool2d"}


def _replay(folder: Path, cmd: str):
    args = cmd.split()[1:]
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        return CliRunner().invoke(main, args)
    finally:
        os.chdir(cwd)


def test_mutant_reproducer_holds_the_mutant_and_the_target(tmp_path: Path, monkeypatch) -> None:
    """A crash on a mutated IR text (simulated by a parser that raises a plain Python error)
    is reported with the mutant, the random target and a compile command."""
    import d1c.fuzz.checks as C

    def crash(text, file):
        raise IndexError("boom")

    monkeypatch.setattr(C, "parse_module", crash)
    spec = TargetSpec("fuzz-target", (1, 1), (2, 2), ((1, 1),), 65536)
    case = Case(CaseDraw(None, 0, 1.0, spec, "bf16"), None, [], spec.write(tmp_path))
    outcome, failure = check_mutant("module @m {\n}\n", case)
    assert outcome == "crash" and isinstance(failure, Failure)
    assert failure.signature.startswith("mutant-ir: IndexError at tests/fuzz/test_fuzz.py:")
    folder = save_reproducer(tmp_path / "out", 1, case, failure, "not shrunk")
    assert (folder / "mutant.d1").read_text() == "module @m {\n}\n"
    assert "chips_x = 1" in (folder / "target.toml").read_text()
    readme = (folder / "README.txt").read_text()
    assert "d1c compile mutant.d1 --target target.toml --dtype bf16" in readme
    assert "IndexError: boom" in readme


def test_cli_runs_quietly_when_piped(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["fuzz", "--examples", "4", "--seed", "0", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("d1c fuzz: 4 examples, seed 0, random mini-like targets")
    assert "no failures" in result.output and "\r" not in result.output


def test_cli_rejects_an_unknown_target() -> None:
    result = CliRunner().invoke(main, ["fuzz", "--examples", "1", "--target", "nope"])
    assert result.exit_code == 1 and "unknown target 'nope'" in result.output


@pytest.mark.slow
def test_acceptance_run_200_examples_seed_1(tmp_path: Path) -> None:
    result = run_fuzz(FuzzConfig(examples=200, seed=1, out=str(tmp_path)))
    assert result.ok, result.summary()


def _report(result) -> tuple:
    found = [(f.failure.signature, f.repeats, f.note) for f in result.found]
    return result.examples, {k: dict(v) for k, v in result.outcomes.items()}, found


SERIAL = """
from d1c.fuzz.runner import FuzzConfig, run_fuzz
r = run_fuzz(FuzzConfig(examples=24, seed={seed}, out=None, chunk=8))
found = [(f.failure.signature, f.repeats, f.note) for f in r.found]
print(repr((r.examples, {{k: dict(v) for k, v in r.outcomes.items()}}, found)))
"""


def _serial_in_a_fresh_process(seed: int) -> tuple:
    """The serial report as ``d1c fuzz`` computes it, in a process of its own: state left by the
    earlier tests of this process has been seen to change one example's outcome (an open bug:
    a long-lived process that compiled other programs can see a CompileError a fresh one does
    not)."""
    import ast
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", SERIAL.format(seed=seed)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    return ast.literal_eval(out.strip().splitlines()[-1])


def test_workers_and_ray_draw_the_same_examples_and_report() -> None:
    """24 examples in chunks of 8: run one after the other, in two processes, or as Ray tasks,
    they give the same report."""
    cfg = FuzzConfig(examples=24, seed=5, out=None, chunk=8)
    serial = _serial_in_a_fresh_process(5)
    assert serial[0] == 24 and sum(serial[1]["assembly"].values()) == 24
    assert _report(run_fuzz(cfg, workers=2)) == serial
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert _report(run_fuzz(cfg, ray=True)) == serial
    finally:
        ray.shutdown()
    assert _serial_in_a_fresh_process(6) != serial


def test_a_program_whose_listing_does_not_reassemble_is_a_failure(monkeypatch) -> None:
    """Every compiled example's listing must assemble back to its bytes: with the disassembler
    printing names bare again (as it did, breaking on the blob named host-ir), the check fails."""
    import d1c.isa.disasm as disasm
    from d1c.fuzz.checks import check_case

    text = (ROOT / "examples" / "attention.d1").read_text()
    module = parse_module(text)
    case = Case(CaseDraw(module, 0, 1.0, "mini", "bf16"), module, random_inputs(module), "mini")
    assert check_case(case)[0] == "verified"
    monkeypatch.setattr(disasm, "name", lambda text: text)
    outcome, failure, _ = check_case(case)
    assert outcome == "listing failure" and failure.signature == "listing: round trip"
    assert any("d1c asm case.s" in c for c in failure.commands)
