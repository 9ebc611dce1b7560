"""Parallel simulation (:mod:`d1c.runtime.parallel`): 1, 2 and 4 workers give identical outputs
(bit for bit), cycles, per-core counters, link bytes, barriers, traces and faults, on random
communicating programs (also with striped DMA over several DIPs), random ISA programs and
compiled models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from d1c.isa.asm import assemble
from d1c.isa.d1x import D1xProgram
from d1c.isa.errors import D1cError, SimulationError
from d1c.runtime.parallel import partition
from d1c.runtime.sim import simulate
from d1c.target import load_target
from d1c.testing.comm_programs import comm_programs
from d1c.testing.programs import asm_programs
from d1c.testing.targets import TargetSpec

MINI = load_target("mini")
RUN = settings(max_examples=12, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


def outcome(prog: D1xProgram, target, inputs: dict | None, **kw) -> tuple:
    """Everything a run produces, or its fault."""
    try:
        r = simulate(prog, target, inputs, trace=True, max_cycles=200_000, **kw)
    except SimulationError as err:
        return ("fault", err.message)
    outs = {k: np.ascontiguousarray(v).view(np.uint8).tobytes() for k, v in r.outputs.items()}
    return (r.cycles, r.cores, r.link_bytes, r.barriers, r.undelivered, r.trace, outs)


def same_for_all_workers(prog: D1xProgram, target, inputs: dict | None) -> tuple:
    one = outcome(prog, target, inputs)
    for n in (2, 4):
        assert outcome(prog, target, inputs, workers=n) == one, f"{n} workers differ"
    return one


@pytest.fixture(scope="module")
def three_dips(tmp_path_factory) -> object:
    """mini's mesh with three DIPs, so DMA in the striped window is served by several."""
    spec = TargetSpec("mini3", (2, 2), (4, 4), ((3, 2),), 262144, dips=3)
    return load_target(spec.write(tmp_path_factory.mktemp("t")))


@RUN
@given(case=comm_programs(dips=3))
def test_communicating_programs_are_identical_for_any_worker_count(case, three_dips) -> None:
    text, inputs = case
    got = same_for_all_workers(assemble(text), three_dips, inputs)
    assert got[0] != "fault", got[1]


@RUN
@given(case=comm_programs(dips=1))
def test_communicating_programs_on_mini(case) -> None:
    text, inputs = case
    got = same_for_all_workers(assemble(text), MINI, inputs)
    assert got[0] != "fault", got[1]


@settings(max_examples=25, deadline=None, derandomize=True)
@given(text=asm_programs())
def test_random_isa_programs_run_or_fault_the_same(text: str) -> None:
    try:
        prog = assemble(text)
    except D1cError:
        return
    same_for_all_workers(prog, MINI, {"x": np.ones((2, 2), np.float32)} if "x," in text else None)


def test_faults_in_two_regions_report_the_earlier() -> None:
    # 0.0.0.0 faults at cycle 30 (a misaligned ld), 1.1.0.0 at cycle 10: the later region's
    # fault is reported, however the chips are split
    text = (
        """.target "mini"
.code a, 0.0.0.0
"""
        + "    nop\n" * 30
        + """    li x1, 2
    ld x2, x1, 0
    halt
.code b, 1.1.0.0
"""
        + "    nop\n" * 10
        + """    li x1, 6
    ld x2, x1, 0
    halt
"""
    )
    prog = assemble(text)
    assert len(partition(prog, MINI, 2)) == 2
    got = same_for_all_workers(prog, MINI, None)
    assert got[0] == "fault" and "core 1.1.0.0" in got[1] and "at cycle 11" in got[1]


def test_deadlock_across_regions_names_the_wait_for_cycle() -> None:
    text = """.target "mini"
.code a, 0.0.0.0
    lui x1, 0x1010
    recv t0, x1, 3
    halt
.code b, 1.1.0.0
    li x1, 0
    recv t0, x1, 3
    halt
"""
    got = same_for_all_workers(assemble(text), MINI, None)
    assert got[0] == "fault" and "wait-for cycle: 0.0.0.0 -(recv tag 3)-> 1.1.0.0" in got[1]


def test_partition_balances_running_cores_over_contiguous_chips() -> None:
    text = '.target "dojo-tile"\n.code k, 0-4.0-1.0-17.0-19\n    halt\n'
    prog = assemble(text)
    tile = load_target("dojo-tile")
    parts = partition(prog, tile, 2)
    assert [sorted(p) for p in parts] == [list(range(0, 5)), list(range(5, 25))]
    assert len(partition(prog, tile, 4)) == 4 and len(partition(prog, tile, 64)) == 10


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["ring", "allreduce"])
def test_shipped_programs(name: str) -> None:
    text = (ROOT / "tests" / "runtime" / "programs" / f"{name}.s").read_text()
    shape = (8, 16) if name == "ring" else (8, 4, 16)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    got = same_for_all_workers(assemble(text), MINI, {"x": x})
    assert got[0] != "fault"


@given(st.just(None))
def test_strategy_module_exports(_) -> None:
    from d1c.testing import strategies

    assert strategies.comm_programs is comm_programs


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of two CPUs for this module's tests."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@settings(max_examples=4, deadline=None, derandomize=True)
@given(case=comm_programs(dips=3))
def test_ray_actors_give_the_serial_result(case, three_dips, local_ray) -> None:
    text, inputs = case
    prog = assemble(text)
    assert outcome(prog, three_dips, inputs, ray=True) == outcome(prog, three_dips, inputs)


def test_ray_faults_like_a_serial_run(local_ray) -> None:
    text = '.target "mini"\n.code a, 0.0.0.0\n    li x1, 2\n    ld x2, x1, 0\n    halt\n.code b, 1.1.0.0\n    halt\n'
    prog = assemble(text)
    assert outcome(prog, MINI, None, ray=True) == outcome(prog, MINI, None)


EXAMPLES = ["mlp.py", "cnn.py", "gpt_block.py", "transformer.py", "attention.d1"]


def _compiled(example: str, target: str) -> tuple[D1xProgram, dict]:
    from d1c import driver
    from d1c.codegen.emit import input_arrays

    src = driver.load_source(str(ROOT / "examples" / example))
    inputs = src.inputs if src.inputs is not None else driver.random_inputs(src.module)
    opts = driver.Options(target, "bf16", tuple(inputs))
    placed = driver.compile_stages(src.module, "placed", opts)["placed"]
    prog = driver.build(placed, opts)
    return prog, input_arrays(placed.main, inputs, prog)


def test_a_compiled_example_is_identical_for_any_worker_count() -> None:
    prog, inputs = _compiled("cnn.py", "mini")
    assert len(partition(prog, MINI, 4)) >= 2
    got = same_for_all_workers(prog, MINI, inputs)
    assert got[0] != "fault" and got[6]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["mini", "dojo-tile"])
@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_is_identical_for_any_worker_count_and_ray(example, target, local_ray):
    prog, inputs = _compiled(example, target)
    tgt = load_target(target)
    got = same_for_all_workers(prog, tgt, inputs)
    assert got[0] != "fault", got[1]
    assert outcome(prog, tgt, inputs, ray=True, workers=2) == got
