"""The ladder's kill rate: every fault of :mod:`d1c.fuzz.faults` injected into every example
family, and which rungs notice (issue 12).

    trials = run_suite(target="mini")
    print(summary(trials))

A *trial* compiles and verifies one family's example (``examples/``: an MLP, a CNN with batch
norm, a transformer encoder layer, a GPT block) in each storage dtype the fault can show on, with
the fault in place. It is *caught* by a rung when that rung fails (a check, a finding or an
error), by ``compile`` when compiling raises a :class:`~d1c.errors.D1cError`, and is a
``crash`` when anything else escapes. A trial whose faulty code never changed anything (no
:class:`~d1c.fuzz.faults.Hits`) was not *injected* and is not counted. A fault that needs
stochastic rounding inside kernels, which the device cannot run, is checked on rungs 1 and 2
(:func:`d1c.ladder.verify_module` with ``rounding="sr"``). Each family is also verified without a fault first: a
ladder that fails the unfaulted model would "catch" everything.
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from d1c import driver
from d1c.errors import D1cError
from d1c.fuzz.faults import FAULTS, Fault
from d1c.ladder import Report, verify_module

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = {
    "mlp": "examples/mlp.py",
    "cnn": "examples/cnn.py",
    "transformer": "examples/transformer.py",
    "gpt_block": "examples/gpt_block.py",
}
RUNGS = ("compile", "1", "2", "3")


@dataclass(frozen=True)
class Trial:
    fault: str
    family: str
    dtype: str
    injected: bool
    caught: frozenset[str]  # of RUNGS, or {"crash"}
    note: str = ""  # the first thing that failed


def _source(family: str) -> driver.Source:
    return driver.load_source(str(ROOT / FAMILIES[family]), with_reference=True)


def _verify(fault: Fault | None, src: driver.Source, dtype: str, target: str) -> Report:
    rounding = "rne" if fault is None else fault.rounding
    inputs = list(src.inputs)
    return verify_module(
        src.module, inputs, target, dtype, reference=src.reference, rounding=rounding
    )


def run_trial(fault: Fault, family: str, dtype: str, target: str = "mini") -> Trial:
    """``fault`` injected while ``family``'s example is compiled and verified in ``dtype``."""
    src = _source(family)
    with fault.injected() as hits:
        try:
            report = _verify(fault, src, dtype, target)
        except D1cError as err:
            note = err.message.splitlines()[0]
            return Trial(fault.name, family, dtype, hits.count > 0, frozenset({"compile"}), note)
        except Exception as err:  # a crash is an outcome to count, not to hide
            note = "".join(traceback.format_exception_only(err)).strip()
            return Trial(fault.name, family, dtype, hits.count > 0, frozenset({"crash"}), note)
    caught = frozenset(str(r) for r in report.failed_rungs())
    return Trial(fault.name, family, dtype, hits.count > 0, caught, _note(report))


def _note(report: Report) -> str:
    """The first thing the report found: a finding or error, else the first failed check."""
    for text in [f.text for f in report.findings] + report.errors:
        return text.splitlines()[0]
    for o in report.outputs:
        for what, c in o.checks():
            if not c.ok(report.accept_unbounded):
                return f"{o.name} rung {what}: error {c.err:.3g} > {c.allowed:.3g} at {c.index}"
        if o.bit_exact is False:
            return f"{o.name}: {o.mismatches} simulated elements differ from the placed IR"
    return ""


def check_baseline(family: str, dtype: str, target: str = "mini", rounding: str = "rne") -> Report:
    """The family verified without a fault (``rounding``: as the faults that need it do)."""
    fault = (
        None if rounding == "rne" else Fault("none", "-", "-", lambda hit: [], (dtype,), rounding)
    )
    return _verify(fault, _source(family), dtype, target)


def run_suite(
    faults: Iterable[Fault] = FAULTS.values(),
    families: Iterable[str] = FAMILIES,
    target: str = "mini",
) -> list[Trial]:
    """Every fault on every family and dtype it applies to."""
    faults, families = list(faults), list(families)
    return [
        run_trial(f, family, dtype, target)
        for f in faults
        for family in families
        for dtype in f.dtypes
    ]


def summary(trials: list[Trial]) -> str:
    """A table of the rungs that caught each fault per family, then caught / injected per layer
    and rung."""
    families = list(dict.fromkeys(t.family for t in trials))
    lines = [f"{'fault':<19} {'dtype':<5} " + " ".join(f"{f:<12}" for f in families)]
    keys = list(dict.fromkeys((t.fault, t.dtype) for t in trials))
    cells = {(t.fault, t.dtype, t.family): _cell(t) for t in trials}
    for fault, dtype in keys:
        row = " ".join(f"{cells.get((fault, dtype, f), '-'):<12}" for f in families)
        lines.append(f"{fault:<19} {dtype:<5} {row}")
    lines += ["", _per_rung(trials)]
    missed = [t for t in trials if t.injected and not t.caught]
    lines += [f"MISSED: {t.fault} on {t.family} ({t.dtype})" for t in missed]
    return "\n".join(lines)


def _cell(t: Trial) -> str:
    if not t.injected:
        return "n/a"
    if not t.caught:
        return "MISSED"
    return "+".join(r for r in (*RUNGS, "crash") if r in t.caught)


def _per_rung(trials: list[Trial]) -> str:
    head = f"{'caught / injected':<21} " + " ".join(f"{r:>9}" for r in ("compile", "rung 1"))
    head += " " + " ".join(f"{r:>9}" for r in ("rung 2", "rung 3", "any"))
    lines = [head]
    layers = list(dict.fromkeys(FAULTS[t.fault].layer for t in trials))
    for layer in layers:
        ts = [t for t in trials if FAULTS[t.fault].layer == layer and t.injected]
        by = Counter(r for t in ts for r in t.caught)
        cols = [f"{by[r]}/{len(ts)}" for r in RUNGS]
        cols.append(f"{sum(1 for t in ts if t.caught)}/{len(ts)}")
        lines.append(f"{layer:<21} " + " ".join(f"{c:>9}" for c in cols))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m d1c.fuzz.mutation [FAULT ...] [--families F,...] [--target T]``: the suite,
    printed (:func:`summary`)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m d1c.fuzz.mutation", description=main.__doc__)
    ap.add_argument("faults", nargs="*", metavar="FAULT", help=f"of: {', '.join(FAULTS)}")
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated")
    ap.add_argument("--target", default="mini")
    args = ap.parse_args(argv)
    bad = [n for n in args.faults if n not in FAULTS]
    bad += [f for f in args.families.split(",") if f not in FAMILIES]
    if bad:
        ap.error(f"unknown: {', '.join(bad)} (faults: {', '.join(FAULTS)}; families: "
                 f"{', '.join(FAMILIES)})")  # fmt: skip
    faults = [FAULTS[n] for n in args.faults or FAULTS]
    trials = run_suite(faults, args.families.split(","), args.target)
    print(summary(trials), flush=True)


if __name__ == "__main__":
    main()
