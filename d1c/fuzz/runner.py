"""``d1c fuzz``: property-based fuzzing of the whole lowering, driven by hypothesis.

    result = run_fuzz(FuzzConfig(examples=200, seed=1, out="fuzz-out"))
    print(result.summary())

Each example is drawn by :func:`d1c.fuzz.checks.case_draws` and checked by the properties of
:mod:`d1c.fuzz.checks`. The search is hypothesis's: a seeded ``@given`` run (no example
database, so a seed always means the same examples) that stops at the first failure with a new
*signature* (property + where it failed) and shrinks it. Shrinking re-checks candidates; after
``shrink_calls`` candidates (or when the time budget is spent) the run is stopped and the
smallest failing example so far is kept (a count, not a time, so the result is deterministic).
It is reduced further on the IR (:mod:`d1c.fuzz.reduce`) and saved as a reproducer
(:mod:`d1c.fuzz.repro`); a new seeded run continues with the remaining examples, and later
examples failing with a known signature are only counted.

Checks are cached by their input within a run, so the shrinker's repeated candidates cost
nothing.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from d1c.errors import D1cError
from d1c.fuzz import checks as C
from d1c.fuzz.reduce import reduce_case
from d1c.fuzz.repro import replay_commands, save_reproducer
from d1c.ir import Module, print_module
from d1c.testing.mutations import apply_d1x_edits, apply_text_edits, d1x_edits, text_edits
from d1c.testing.programs import asm_programs


@dataclass(frozen=True)
class FuzzConfig:
    """What ``d1c fuzz`` runs: its options, plus the share of torch examples and the dtypes."""

    examples: int = 100
    seed: int = 0
    target: str | None = None  # None: a random mini-like target per example
    time_budget: float | None = None  # seconds; the run stops drawing new examples after it
    out: str | None = "fuzz-out"  # reproducer folder (None: do not save)
    shrink_calls: int = 150  # candidates checked while shrinking one failure
    dtypes: tuple[str, ...] = C.DTYPES
    torch_share: float = 0.25
    fault: str | None = None  # a d1c.fuzz.faults.FAULTS name injected for the whole run


@dataclass
class Found:
    """A failure found by the run: the shrunk failure, its reproducer and how often it recurred."""

    failure: C.Failure
    folder: Path | None
    commands: list[str]
    note: str  # how it was shrunk
    repeats: int = 0


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    failures: int
    elapsed: float
    shrinking: bool


@dataclass
class FuzzResult:
    config: FuzzConfig
    examples: int = 0
    elapsed: float = 0.0
    outcomes: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    found: list[Found] = field(default_factory=list)
    stopped: str = ""  # why the run ended early: "time budget", "interrupted"

    @property
    def ok(self) -> bool:
        return not self.found

    def summary(self) -> str:
        """A few lines: outcomes per property, then each failure with its replay command."""
        cfg = self.config
        where = cfg.target or "random mini-like targets"
        head = f"d1c fuzz: {self.examples} examples, seed {cfg.seed}, {where}, {self.elapsed:.1f} s"
        lines = [head + (f" (stopped: {self.stopped})" if self.stopped else "")]
        for prop, counts in self.outcomes.items():
            parts = ", ".join(f"{name} {n}" for name, n in counts.most_common())
            lines.append(f"  {prop:<13} {parts}")
        if not self.found:
            return "\n".join([*lines, "no failures"])
        lines.append(f"{len(self.found)} failure(s):")
        for i, f in enumerate(self.found, 1):
            lines += _describe(i, f)
        return "\n".join(lines)


def _describe(i: int, f: Found) -> list[str]:
    more = f"; {f.repeats} more example(s) failed the same way" if f.repeats else ""
    out = [f"  [{i}] {f.failure.signature}  ({f.note}{more})"]
    if f.folder is not None:
        out.append(f"      reproducer: {f.folder}")
        out += [f"      replay: cd {f.folder} && {cmd}" for cmd in f.commands]
    return out


class _Found(Exception):
    """Raised inside the hypothesis test to mark a failing example."""


class _StopRun(BaseException):
    """Raised inside the hypothesis test when the examples, the time budget or the shrink
    budget are spent: hypothesis lets a BaseException end the run at once (it is not a test
    failure)."""


class _Search:
    """The state shared by the hypothesis runs of one fuzz session."""

    def __init__(self, cfg: FuzzConfig, tmp: Path, progress: Callable[[Progress], None] | None):
        self.cfg, self.tmp, self.progress = cfg, tmp, progress
        self.rounding = _rounding(cfg)
        self.result = FuzzResult(cfg)
        self.start = time.monotonic()
        self.known: dict[str, Found] = {}
        self.pending: dict[str, tuple[C.Case, C.Failure]] = {}  # seen, not shrunk yet
        self.examples = st.tuples(
            C.case_draws(cfg.target, cfg.dtypes, cfg.torch_share),
            text_edits(),
            d1x_edits(),
            asm_programs(),
        )
        self.new_run()

    def new_run(self) -> None:
        self.goal: str | None = None  # the signature being shrunk
        self.best: tuple[C.Case, C.Failure] | None = None
        self.shrink_checks = 0  # shrink candidates checked (not frozen)
        self.cache: dict[tuple, object] = {}

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def out_of_time(self) -> bool:
        return self.cfg.time_budget is not None and self.elapsed() > self.cfg.time_budget

    def body(self, data: st.DataObject) -> None:
        # Every call draws the same structure whatever the state (hypothesis requires data
        # generation not to depend on external state); the state only decides what is checked.
        drawn = data.draw(self.examples)
        shrinking = self.goal is not None
        if shrinking and (self.shrink_checks >= self.cfg.shrink_calls or self.out_of_time()):
            raise _StopRun  # keep the smallest failure so far (self.best)
        if not shrinking and (self.result.examples >= self.cfg.examples or self.out_of_time()):
            raise _StopRun
        if not shrinking:
            self.result.examples += 1
        self.shrink_checks += shrinking
        self._tick(shrinking)
        case, failures = self.example(drawn, count=not shrinking)
        self.judge(case, failures, shrinking)

    def _tick(self, shrinking: bool) -> None:
        if self.progress is not None:
            r = self.result
            self.progress(
                Progress(r.examples, self.cfg.examples, len(self.known), self.elapsed(), shrinking)
            )

    def example(self, drawn: tuple, count: bool) -> tuple[C.Case | None, list]:
        """Run every property on one drawn example (cached by input)."""
        cd, ir_edits, d1x_edits, asm = drawn
        key = _case_key(cd)
        tag = hashlib.sha256(key.encode()).hexdigest()[:12]
        case, outcome, failure, program = self.checked(
            ("case", key), lambda: self.run_case(cd, tag)
        )
        results = [("compile", outcome, failure)]
        if case is not None and case.module is not None:
            text = apply_text_edits(print_module(case.module), ir_edits)
            res = self.checked(("ir", key, text), lambda: C.check_mutant(text, case))
            results.append(("mutated IR", *res))
        if case is not None and program is not None:
            blob = apply_d1x_edits(program, d1x_edits)
            res = self.checked(("d1x", key, blob), lambda: C.check_d1x(blob, case))
            results.append(("mutated .d1x", *res))
        res = self.checked(("asm", asm), lambda: C.check_asm(asm))
        results.append(("assembly", *res))
        if count:
            for prop, outcome, _ in results:
                self.result.outcomes[prop][outcome] += 1
        return case, [f for _, _, f in results if f is not None]

    def checked(self, key: tuple, run: Callable[[], object]) -> object:
        if key not in self.cache:
            self.cache[key] = run()
        return self.cache[key]

    def run_case(self, cd: C.CaseDraw, tag: str):
        target = C.target_path(cd, self.tmp, tag)
        try:
            case = C.materialize(cd, target)
        except D1cError as err:
            return None, f"rejected ({type(err).__name__})", None, None
        except Exception as err:  # a crash of the frontend: replay with the model file
            return C.Case(cd, None, [], target), "crash", C.crash_failure("crash", err), None
        case.rounding = self.rounding
        return (case, *C.check_case(case))

    def judge(self, case: C.Case | None, failures: list[C.Failure], shrinking: bool) -> None:
        """Raise :class:`_Found` (from this one line: hypothesis tells bugs apart by where they
        are raised) if the example fails the signature being shrunk, or a new one."""
        hit = self._hit(case, failures) if shrinking else self._new(case, failures)
        if hit is not None:
            self.best = (case, hit)
            raise _Found(hit.signature)

    def _hit(self, case: C.Case | None, failures: list[C.Failure]) -> C.Failure | None:
        return next((f for f in failures if f.signature == self.goal), None)

    def _new(self, case: C.Case | None, failures: list[C.Failure]) -> C.Failure | None:
        new = [f for f in failures if f.signature not in self.known]
        for f in failures:
            if f.signature in self.known:
                self.known[f.signature].repeats += 1
        for f in new[1:]:
            self.pending.setdefault(f.signature, (case, f))
        if new:
            self.goal = new[0].signature
        return new[0] if new else None

    def save(self, case: C.Case, failure: C.Failure, note: str) -> None:
        if failure.prop in ("ladder", "crash") and case.module is not None:
            before = len(case.module.main.ops)
            case = reduce_case(case, failure.signature, _signatures)
            note += f", reduced from {before} to {len(case.module.main.ops)} ops"
        folder = None
        if self.cfg.out is not None:
            out = Path(self.cfg.out)
            folder = save_reproducer(out, len(self.known) + 1, case, failure, note)
        found = Found(failure, folder, replay_commands(case, failure), note)
        self.known[failure.signature] = found
        self.result.found.append(found)
        self.pending.pop(failure.signature, None)


def _rounding(cfg: FuzzConfig) -> str:
    """The storage rounding of the run: stochastic when the injected fault needs it."""
    if cfg.fault is None:
        return "rne"
    from d1c.fuzz.faults import FAULTS

    return FAULTS[cfg.fault].rounding


def _signatures(case: C.Case) -> set[str]:
    failure = C.check_case(case)[1]
    return {failure.signature} if failure is not None else set()


def _case_key(cd: C.CaseDraw) -> str:
    src = print_module(cd.source) if isinstance(cd.source, Module) else repr(cd.source)
    return f"{src}\n{cd.input_seed} {cd.input_scale} {cd.target!r} {cd.dtype}"


def _hypothesis_run(s: _Search, seed: int) -> bool:
    """One seeded hypothesis run; True when it ended without finding a new failure."""

    @hypothesis_seed(seed)
    @settings(
        settings.get_profile("default"),  # the caller's profile (a test suite's) must not matter
        database=None,
        max_examples=max(1, s.cfg.examples - s.result.examples),
        deadline=None,
        phases=(Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    @given(st.data())
    def search(data: st.DataObject) -> None:
        s.body(data)

    try:
        search()
    except _StopRun:
        return s.best is None
    except Exception:
        if s.best is None:
            raise  # not a property failure: a bug of the fuzzer itself
        return False
    return True


def run_fuzz(cfg: FuzzConfig, progress: Callable[[Progress], None] | None = None) -> FuzzResult:
    """Fuzz ``cfg.examples`` examples (see the module docstring); reproducers go to ``cfg.out``.
    With ``cfg.fault`` the fault (:mod:`d1c.fuzz.faults`) is in place for the whole run: the
    properties must find it."""
    if cfg.fault is None:
        return _run_fuzz(cfg, progress)
    from d1c.fuzz.faults import FAULTS

    with FAULTS[cfg.fault].injected():
        return _run_fuzz(cfg, progress)


def _run_fuzz(cfg: FuzzConfig, progress: Callable[[Progress], None] | None) -> FuzzResult:
    with tempfile.TemporaryDirectory(prefix="d1c-fuzz-") as tmp:
        s = _Search(cfg, Path(tmp), progress)
        run = 0
        try:
            while s.result.examples < cfg.examples and not s.out_of_time():
                s.new_run()
                clean = _hypothesis_run(s, cfg.seed * 1_000_003 + run)
                run += 1
                if s.best is not None:
                    s.save(*s.best, f"shrunk in {s.shrink_checks} checked candidates")
                elif clean:
                    break
        except KeyboardInterrupt:
            s.result.stopped = "interrupted"
        for case, failure in list(s.pending.values()):
            s.save(case, failure, "not shrunk: found alongside another failure")
        if s.out_of_time() and not s.result.stopped:
            s.result.stopped = "time budget"
        s.result.elapsed = s.elapsed()
        return s.result
