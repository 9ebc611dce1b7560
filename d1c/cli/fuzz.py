"""``d1c fuzz``: property-based fuzzing of the lowering from the command line (:mod:`d1c.fuzz.runner`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from d1c.cli import FUZZ_HELP, main, sim_kwargs, sim_options
from d1c.cli.options import check_target

if TYPE_CHECKING:  # hypothesis, which the fuzzer imports, costs every other command ~1 s
    from d1c.fuzz.runner import Progress

BAR = 30


def _bar(p: Progress) -> None:
    """A one-line progress bar on stderr (only called when stderr is a terminal)."""
    done = min(BAR, BAR * p.done // max(p.total, 1))
    state = "shrinking a failure" if p.shrinking else f"{p.failures} failure(s)"
    line = f"\r[{'#' * done}{'.' * (BAR - done)}] {p.done}/{p.total}  {p.elapsed:6.1f} s  {state}"
    sys.stderr.write(line.ljust(78))
    sys.stderr.flush()


@main.command(
    epilog="Each failure is shrunk and saved under --out with the commands that replay it, "
    "e.g. `d1c verify case.d1 --target target.toml --inputs inputs.npz`."
)
@click.option("--examples", default=100, show_default=True, help="Examples to draw.")
@click.option("--seed", default=0, show_default=True, help="Same seed, same examples.")
@click.option(
    "--target",
    default=None,
    callback=check_target,
    help="Target name or .toml for every example (default: random mini-like targets).",
)
@click.option(
    "--time-budget",
    type=float,
    metavar="SECONDS",
    help="Stop drawing new examples after this long.",
)
@click.option(
    "--out",
    default="fuzz-out",
    show_default=True,
    metavar="DIR",
    help="Folder for the reproducers of failures.",
)
@click.option(
    "--fault",
    metavar="NAME",
    help="Inject this fault (d1c.fuzz.faults.FAULTS) for the whole run, to see the properties "
    "find it.",
)
@click.option(
    "--shrink-calls",
    default=150,
    show_default=True,
    help="Candidates checked while shrinking one failure.",
)
@sim_options(helps=FUZZ_HELP)
def fuzz(
    examples: int,
    seed: int,
    target: str | None,
    time_budget: float | None,
    out: str,
    fault: str | None,
    shrink_calls: int,
    workers: int,
    ray: str | None,
) -> None:
    """Fuzz the lowering: random models, targets, IR mutants, .d1x mutants and ISA programs."""
    from d1c.fuzz.runner import FuzzConfig, run_fuzz

    if fault is not None:
        from d1c.fuzz.faults import FAULTS

        if fault not in FAULTS:
            raise click.BadParameter(
                f"choose from {', '.join(sorted(FAULTS))}", param_hint="--fault"
            )
    cfg = FuzzConfig(examples, seed, target, time_budget, out, shrink_calls, fault=fault)
    tty = sys.stderr.isatty()
    result = run_fuzz(cfg, _bar if tty else None, **sim_kwargs(workers, ray))
    if tty:
        sys.stderr.write("\r" + " " * 78 + "\r")
    click.echo(result.summary())
    if not result.ok:
        raise SystemExit(1)
