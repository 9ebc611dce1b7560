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

Chunks: the examples are drawn in chunks of ``FuzzConfig.chunk`` (50), each an independent search seeded by
(seed, chunk index), so ``--workers N`` (processes) or ``--ray`` (Ray tasks) can run chunks at
the same time and the report is the same for any N: chunks are merged in order, a failure
signature found by several chunks keeps the first chunk's shrunk example and counts the rest as
repeats, and reproducers are numbered in that order.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from d1c.errors import D1cError
from d1c.fuzz import checks as C
from d1c.fuzz.reduce import reduce_case
from d1c.fuzz.repro import replay_commands, reproducer_files, write_reproducer
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
    chunk: int = 50  # examples per chunk (module docstring): up to 50 examples are one search
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


@dataclass
class Chunk:
    """What one chunk reports (plain data, so it crosses process boundaries): its example count,
    outcomes, and per failure (failure, reproducer files, replay commands, note, repeats)."""

    examples: int = 0
    outcomes: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    found: list[list] = field(default_factory=list)
    stopped: str = ""


class _Search:
    """The state shared by the hypothesis runs of one chunk."""

    def __init__(self, cfg: FuzzConfig, tmp: Path, progress: Callable[[int, bool], None] | None,
                 deadline: float | None) -> None:  # fmt: skip
        self.cfg, self.tmp, self.progress, self.deadline = cfg, tmp, progress, deadline
        self.rounding = _rounding(cfg)
        self.result = Chunk()
        self.known: dict[str, list] = {}
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

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.time() > self.deadline

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
            self.progress(self.result.examples, shrinking)

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
                self.known[f.signature][4] += 1
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
        files = reproducer_files(case, failure, note)
        entry = [failure, files, replay_commands(case, failure), note, 0]
        self.known[failure.signature] = entry
        self.result.found.append(entry)
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


def run_chunk(cfg: FuzzConfig, index: int, deadline: float | None,
              progress: Callable[[int, bool], None] | None = None) -> Chunk:  # fmt: skip
    """Fuzz chunk ``index`` of ``cfg.examples`` examples (its own seeded search). With
    ``cfg.fault`` the fault (:mod:`d1c.fuzz.faults`) is in place for the whole chunk (in the
    process that runs it): the properties must find it."""
    if cfg.fault is None:
        return _run_chunk(cfg, index, deadline, progress)
    from d1c.fuzz.faults import FAULTS

    with FAULTS[cfg.fault].injected():
        return _run_chunk(cfg, index, deadline, progress)


def _run_chunk(cfg: FuzzConfig, index: int, deadline: float | None,
               progress: Callable[[int, bool], None] | None) -> Chunk:  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="d1c-fuzz-") as tmp:
        s = _Search(cfg, Path(tmp), progress, deadline)
        run = 0
        try:
            while s.result.examples < cfg.examples and not s.out_of_time():
                s.new_run()
                clean = _hypothesis_run(s, cfg.seed * 1_000_003 + index * 10_007 + run)
                run += 1
                if s.best is not None:
                    s.save(*s.best, f"shrunk in {s.shrink_checks} checked candidates")
                elif clean:
                    break
        except KeyboardInterrupt:
            s.result.stopped = "interrupted"
        for case, failure in list(s.pending.values()):
            s.save(case, failure, "not shrunk: found alongside another failure")
        return s.result


def run_fuzz(
    cfg: FuzzConfig,
    progress: Callable[[Progress], None] | None = None,
    *,
    workers: int = 1,
    ray: str | bool | None = None,
) -> FuzzResult:
    """Fuzz ``cfg.examples`` examples (see the module docstring), in ``workers`` processes or on
    Ray (``ray``: True or a cluster address); reproducers go to ``cfg.out``."""
    start = time.monotonic()
    deadline = None if cfg.time_budget is None else time.time() + cfg.time_budget
    step = max(1, cfg.chunk)
    sizes = [min(step, cfg.examples - at) for at in range(0, cfg.examples, step)]
    jobs = [(replace(cfg, examples=n), i, deadline) for i, n in enumerate(sizes)]
    if workers > 1 or ray:
        from d1c.fuzz.distribute import run_chunks

        chunks = run_chunks(jobs, workers, ray, _chunk_progress(cfg, progress, start))
    else:
        chunks = _sequential(jobs, cfg, progress, start)
    result = merge(cfg, chunks)
    if deadline is not None and time.time() > deadline and not result.stopped:
        result.stopped = "time budget"
    result.elapsed = time.monotonic() - start
    return result


def _sequential(jobs: list[tuple], cfg: FuzzConfig, progress, start: float) -> list[Chunk]:
    chunks: list[Chunk] = []
    for job in jobs:
        deadline = job[2]
        if deadline is not None and time.time() > deadline:
            break
        done = sum(c.examples for c in chunks)
        failures = len({e[0].signature for c in chunks for e in c.found})

        def tick(n: int, shrinking: bool, done: int = done, failures: int = failures) -> None:
            if progress is not None:
                elapsed = time.monotonic() - start
                progress(Progress(done + n, cfg.examples, failures, elapsed, shrinking))

        chunks.append(run_chunk(*job, tick))
        if chunks[-1].stopped:
            break
    return chunks


def _chunk_progress(cfg: FuzzConfig, progress, start: float):
    """A callback for finished chunks that reports overall progress."""
    if progress is None:
        return None

    def done(chunks: list[Chunk]) -> None:
        n = sum(c.examples for c in chunks)
        failures = len({e[0].signature for c in chunks for e in c.found})
        progress(Progress(n, cfg.examples, failures, time.monotonic() - start, False))

    return done


def merge(cfg: FuzzConfig, chunks: list[Chunk]) -> FuzzResult:
    """The report of the chunks, in chunk order (module docstring); writes the reproducers."""
    result = FuzzResult(cfg)
    known: dict[str, Found] = {}
    for chunk in chunks:
        result.examples += chunk.examples
        for prop, counts in chunk.outcomes.items():
            result.outcomes[prop].update(counts)
        result.stopped = result.stopped or chunk.stopped
        for failure, files, commands, note, repeats in chunk.found:
            if failure.signature in known:
                known[failure.signature].repeats += 1 + repeats
                continue
            folder = None
            if cfg.out is not None:
                folder = write_reproducer(Path(cfg.out), len(known) + 1, failure.prop, files)
            known[failure.signature] = Found(failure, folder, list(commands), note, repeats)
            result.found.append(known[failure.signature])
    return result
