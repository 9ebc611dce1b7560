"""The examples ``d1c fuzz`` draws and the properties it checks on each (docs/design.md §5).

One example is a :class:`CaseDraw` (a graph-IR module from
:func:`d1c.testing.strategies.graph_modules` or a torch model recipe, inputs, a target, a
storage dtype), then a mutant of its IR text, a mutant of its ``.d1x`` bytes and a random
assembly program. Properties:

- ``ladder``: :func:`d1c.ladder.verify_module` passes (eager, every op against its operands,
  derived bound, tiled == placed == simulated bitwise, the IR of every stage round-trips, two
  compilations give the same bytes), accepting elements that cannot be bounded; an example whose
  only failures are NaN/inf at such elements is rejected (:func:`ill_posed`);
- ``listing``: the compiled program's disassembly assembles back to the same bytes;
- ``crash``: compiling and verifying raise nothing but a :class:`~d1c.errors.D1cError`;
- ``mutant-ir``: a mutated IR text is parsed and compiled or rejected with a D1cError;
- ``d1x``: mutated ``.d1x`` bytes are read, disassembled and simulated or rejected with a
  D1cError;
- ``asm``: a random assembly program assembles or fails with a D1cError; if it assembles, its
  bytes read back to the same program and its disassembly reassembles to the same bytes; it
  simulates or faults with a SimulationError.

Each check returns an outcome name (for the summary) and a :class:`Failure` or None.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from d1c import driver
from d1c.errors import D1cError, InternalError
from d1c.ir import Module, parse_module
from d1c.testing.graph_steps import SIZES
from d1c.testing.strategies import graph_modules
from d1c.testing.targets import TargetSpec, target_specs

ROOT = Path(__file__).resolve().parents[2]  # the repository (d1c/fuzz/checks.py)
DTYPES = ("bf16", "cfp8")
MAX_CYCLES = 20_000  # simulating a mutant program: its branches may loop forever
MAX_INPUT_ELEMENTS = 1 << 16  # inputs of a mutant's symbols (beyond: timing-only simulation)
ADJOINT_WORK = 2e7  # the a posteriori bounds only where cheap (multiply-adds): examples stay fast


@dataclass(frozen=True, eq=False)
class CaseDraw:
    """What hypothesis draws for one compiled example (plain data, so it shrinks and prints)."""

    source: Module | object  # a graph module, or a d1c.testing.torch_models.TorchRecipe
    input_seed: int
    input_scale: float
    target: str | TargetSpec  # a shipped target's name, or a random mini-like one
    dtype: str


@dataclass
class Case:
    """A drawn example made concrete: graph IR (exported for torch), inputs, a target path."""

    draw: CaseDraw
    module: Module | None
    inputs: list[np.ndarray]
    target: str
    reference: list[np.ndarray] | None = None
    rounding: str = "rne"  # of the storage converts ("sr": checked on rungs 1 and 2 only)

    @property
    def recipe(self) -> object | None:
        return None if isinstance(self.draw.source, Module) else self.draw.source

    @property
    def target_arg(self) -> str:
        """The ``--target`` value of the reproducer's commands."""
        return "target.toml" if isinstance(self.draw.target, TargetSpec) else self.draw.target


@dataclass(frozen=True)
class Failure:
    """A property that did not hold: its signature (property + where), the details, extra
    reproducer files (name, bytes) and the commands that replay it (in the reproducer folder)."""

    prop: str
    signature: str
    detail: str
    files: tuple[tuple[str, bytes], ...] = ()
    commands: tuple[str, ...] = ()


@st.composite
def case_draws(
    draw: st.DrawFn,
    target: str | None = None,
    dtypes: tuple[str, ...] = DTYPES,
    torch_share: float = 0.25,
) -> CaseDraw:
    """A graph module (or, with probability ``torch_share``, a torch recipe), inputs, target
    (``target``, else a random mini-like one) and dtype."""
    if torch_share > 0 and draw(st.floats(0, 1)) > 1 - torch_share:
        from d1c.testing.torch_models import torch_recipes

        source = draw(torch_recipes())
    else:
        source = draw(graph_modules(max_ops=16, sizes=SIZES))
    return CaseDraw(
        source,
        draw(st.integers(0, 2**16)),
        draw(st.sampled_from([1.0, 4.0, 0.01, 100.0])),
        target if target is not None else draw(target_specs()),
        draw(st.sampled_from(dtypes)),
    )


def target_path(cd: CaseDraw, folder: Path, tag: str) -> str:
    """The ``--target`` of a case: a shipped name, or its random spec written to ``folder``."""
    if isinstance(cd.target, TargetSpec):
        return cd.target.write(folder, f"target-{tag}.toml")
    return cd.target


def materialize(cd: CaseDraw, target: str) -> Case:
    """The case of a draw: a graph module with scaled seeded inputs, or a torch recipe exported
    (export errors propagate: a D1cError rejects the example, anything else is a crash)."""
    if isinstance(cd.source, Module):
        xs = driver.random_inputs(cd.source, cd.input_seed)
        xs = [x * np.float32(cd.input_scale) if x.dtype.kind == "f" else x for x in xs]
        return Case(cd, cd.source, xs, target)
    from d1c.frontend import export_model

    model, inputs = cd.source.model(), cd.source.inputs()
    module = export_model(model, inputs, name="fuzz")
    arrays = [t.detach().numpy() for t in inputs]
    return Case(cd, module, arrays, target, driver.eager_outputs(model, inputs))


def crash_signature(prop: str, err: BaseException) -> str:
    """``PROP: Type at file:line in function``, the innermost frame inside the project."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if _in_project(f.filename)] or frames
    f = ours[-1]
    return f"{prop}: {type(err).__name__} at {_rel(f.filename)}:{f.lineno} in {f.name}"


def _in_project(filename: str) -> bool:
    path = Path(filename).resolve()
    return path.is_relative_to(ROOT) and "site-packages" not in path.parts


def _rel(filename: str) -> str:
    path = Path(filename).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else filename


def crash_failure(prop: str, err: BaseException, **kw: tuple) -> Failure:
    """A failure of property ``prop`` because ``err`` (not a D1cError) escaped."""
    text = "".join(traceback.format_exception(err))
    return Failure(prop, crash_signature(prop, err), text, **kw)


def failed_checks(report) -> list[str]:
    """The names of the ladder checks a :class:`~d1c.ladder.Report` failed."""
    bad = [name for name, ok in report.stage_ok.items() if not ok and not report.errors]
    bad += [_first_words(e) for e in [f.text for f in report.findings] + report.errors]
    outs = report.outputs
    if any(not o.bit_exact for o in outs):
        bad.append("simulated == placed IR (bitwise)")
    names = {
        "eager": "graph IR == torch eager",
        "quantized": "quantized IR within the derived bound",
        "simulated": "simulated outputs within the derived bound",
    }
    for attr, name in names.items():
        checks = [getattr(o, attr) for o in outs if getattr(o, attr) is not None]
        if any(not c.ok(report.accept_unbounded) for c in checks):
            bad.append(name)
    return bad


def ill_posed(report) -> bool:
    """The report failed only where its rungs could not bound the output: NaN or infinity at
    elements whose bound is infinite (a random graph taking the sqrt or log of a value that
    rounding pushes across 0). ``d1c verify`` fails such a model; for the fuzzer it is a
    rejected example, not a bug of d1c."""
    if report.errors or not all(report.stage_ok.values()):
        return False
    if any(f.kind != "nonfinite" for f in report.findings):
        return False
    for o in report.outputs:
        if o.bit_exact is False:
            return False
        if any(c.exceeded or c.nonfinite > c.wild for _, c in o.checks()):
            return False
    return bool(report.findings)


def _first_words(rendered: str) -> str:
    """The gist of a rendered error for a signature: its message without position or numbers."""
    head = rendered.splitlines()[0]
    head = head.split("error: ", 1)[-1]
    return re.sub(r"\d+", "N", head)[:80]


def check_case(case: Case) -> tuple[str, Failure | None, bytes | None]:
    """The ladder on one case: (outcome, failure, the compiled program's bytes or None)."""
    from d1c.ladder import verify_module

    try:
        report = verify_module(
            case.module,
            case.inputs,
            case.target,
            case.draw.dtype,
            reference=case.reference,
            name="case.d1",
            determinism=True,
            rounding=case.rounding,
            accept_unbounded=True,
            adjoint_work=ADJOINT_WORK,
        )
    except InternalError as err:  # a broken invariant of the compiler is a bug, not a rejection
        return "internal error", Failure("internal", "internal: " + err.message.splitlines()[0],
                                         err.render()), None  # fmt: skip
    except D1cError as err:
        return f"rejected ({type(err).__name__})", None, None
    except Exception as err:  # the property: nothing else may escape
        return "crash", crash_failure("crash", err), None
    program = report.program.to_bytes() if report.program is not None else None
    if program is not None and not listing_round_trips(report.program):
        opts = f"--target {case.target_arg} --dtype {case.draw.dtype}"
        cmds = (
            f"d1c compile case.d1 {opts} -o case.d1x",
            "d1c disasm case.d1x > case.s && d1c asm case.s -o again.d1x && cmp case.d1x again.d1x",
        )
        detail = "disassemble(program) does not assemble back to the program's bytes"
        failure = Failure("listing", "listing: round trip", detail, commands=cmds)
        return "listing failure", failure, program
    if report.ok:
        return "verified", None, program
    if ill_posed(report):
        return "rejected (NaN where the bound is infinite)", None, program
    checks = failed_checks(report)
    failure = Failure("ladder", "ladder: " + ", ".join(checks), report.render())
    return "ladder failure", failure, program


def listing_round_trips(prog) -> bool:
    """True if ``assemble(disassemble(prog))`` gives ``prog``'s bytes back."""
    from d1c.isa.asm import assemble
    from d1c.isa.disasm import disassemble

    try:
        return assemble(disassemble(prog), "listing.s").to_bytes() == prog.to_bytes()
    except D1cError:
        return False


def check_mutant(text: str, case: Case) -> tuple[str, Failure | None]:
    """Parse a mutated IR text; a mutant that parses is a valid module, so it must compile and
    verify like any other (on seeded inputs, as ``d1c verify mutant.d1`` does) or be rejected
    with a D1cError."""
    from d1c.ladder import verify_module

    files = (("mutant.d1", text.encode()),)
    opts = f"--target {case.target_arg} --dtype {case.draw.dtype}"
    try:
        module = parse_module(text, "mutant.d1")
        inputs = driver.random_inputs(module)
        report = verify_module(
            module,
            inputs,
            case.target,
            case.draw.dtype,
            name="mutant.d1",
            accept_unbounded=True,
            adjoint_work=ADJOINT_WORK,
        )
    except D1cError as err:
        return type(err).__name__, None
    except Exception as err:
        cmd = f"d1c compile mutant.d1 {opts} -o mutant.d1x"
        return "crash", crash_failure("mutant-ir", err, files=files, commands=(cmd,))
    if report.ok:
        return "verified", None
    if ill_posed(report):
        return "rejected (NaN where the bound is infinite)", None
    sig = "mutant-ir: ladder: " + ", ".join(failed_checks(report))
    cmd = f"d1c verify mutant.d1 {opts}"
    return "ladder failure", Failure("mutant-ir", sig, report.render(), files, (cmd,))


def check_d1x(data: bytes, case: Case) -> tuple[str, Failure | None]:
    """Read, disassemble and simulate mutated .d1x bytes: only D1cErrors may escape."""
    from d1c.isa.d1x import read_d1x
    from d1c.isa.disasm import disassemble
    from d1c.runtime.sim import simulate
    from d1c.target import load_target

    try:
        prog = read_d1x(data)
        disassemble(prog)
        inputs = _zero_inputs(prog)
        simulate(
            prog,
            load_target(case.target),
            inputs,
            timing_only=inputs is None,
            max_cycles=MAX_CYCLES,
        )
    except D1cError as err:
        return type(err).__name__, None
    except Exception as err:
        t = case.target_arg
        cmds = ("d1c disasm bad.d1x", f"d1c run bad.d1x --target {t} --max-cycles {MAX_CYCLES}")
        return "crash", crash_failure("d1x", err, files=(("bad.d1x", data),), commands=cmds)
    return "ran", None


def _zero_inputs(prog) -> dict[str, np.ndarray] | None:
    """Zero inputs for the program's input symbols; None (timing-only) if they are huge."""
    shapes = {s.name: tuple(s.shape) for s in prog.symbols if s.role == "input"}
    if sum(int(np.prod(s, dtype=np.float64)) for s in shapes.values()) > MAX_INPUT_ELEMENTS:
        return None
    return {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}


def check_asm(text: str) -> tuple[str, Failure | None]:
    """Assemble a random program; if it assembles it must read back and reassemble to the same
    bytes, and simulate or fault with a D1cError."""
    from d1c.isa.asm import assemble
    from d1c.isa.d1x import read_d1x
    from d1c.isa.disasm import disassemble
    from d1c.runtime.sim import simulate

    files = (("prog.s", text.encode()),)
    cmds = ("d1c asm prog.s -o prog.d1x", f"d1c run prog.d1x --max-cycles {MAX_CYCLES}")
    try:
        prog = assemble(text, "prog.s")
        data = prog.to_bytes()
        if read_d1x(data) != prog or assemble(disassemble(prog)).to_bytes() != data:
            detail = (
                "the program's bytes do not read back, or its disassembly reassembles differently"
            )
            return "round-trip failure", Failure("asm", "asm: round trip", detail, files, cmds)
        simulate(prog, "mini", max_cycles=MAX_CYCLES)
    except D1cError as err:
        return type(err).__name__, None
    except Exception as err:
        return "crash", crash_failure("asm", err, files=files, commands=cmds)
    return "ran", None
