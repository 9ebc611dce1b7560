"""``d1c compile``, ``d1c opt``, ``d1c coverage`` and ``d1c targets``."""

from __future__ import annotations

import click

from d1c import driver
from d1c.cli import main

_MODEL_HELP = "MODEL is model.py (defining model() and example_inputs()), model.py:factory, or an IR file (.d1, - for stdin)."


def _debug_options(f):
    f = click.option(
        "--time-passes", is_flag=True, help="Print a table of time per pass to stderr."
    )(f)
    f = click.option(
        "--print-ir-after",
        "print_after",
        multiple=True,
        metavar="PASS",
        help="Print IR after the named pass(es) to stderr.",
    )(f)
    f = click.option(
        "--print-ir-after-all", is_flag=True, help="Print IR after every pass to stderr."
    )(f)
    return f


def _debug(
    print_ir_after_all: bool, print_after: tuple[str, ...], time_passes: bool
) -> driver.DebugOptions:
    return driver.DebugOptions(print_ir_after_all, driver.split_names(print_after), time_passes)


@main.command(epilog=_MODEL_HELP)
@click.argument("model")
@click.option(
    "--emit",
    type=click.Choice(driver.STAGE_NAMES),
    default="graph",
    show_default=True,
    help="The stage whose output to write.",
)
@click.option("-o", "--output", metavar="FILE", help="Write here instead of standard output.")
@click.option(
    "--elide-data", is_flag=True, help="Leave constant bytes (weights) out of the IR text."
)
@_debug_options
def compile(model: str, emit: str, output: str | None, elide_data: bool, **debug) -> None:
    """Compile MODEL and write the IR of the stage named by --emit."""
    module = driver.compile_module(driver.load_input(model), emit, _debug(**debug))
    driver.emit_ir(module, output, elide_data=elide_data)


@main.command(epilog="Example: d1c opt model.d1 -p canonicalize,fold-batchnorm")
@click.argument("file")
@click.option(
    "-p",
    "--passes",
    "pipeline",
    required=True,
    metavar="PIPELINE",
    help="Comma-separated passes, e.g. canonicalize,fold-batchnorm.",
)
@click.option("-o", "--output", metavar="FILE", help="Write here instead of standard output.")
@click.option("--elide-data", is_flag=True, help="Leave constant bytes out of the IR text.")
@_debug_options
def opt(file: str, pipeline: str, output: str | None, elide_data: bool, **debug) -> None:
    """Run a pass pipeline on textual IR (FILE, or - for standard input)."""
    module = driver.run_passes(driver.read_ir(file), pipeline, _debug(**debug))
    driver.emit_ir(module, output, elide_data=elide_data)


@main.command(epilog=_MODEL_HELP)
@click.argument("model")
def coverage(model: str) -> None:
    """List every op MODEL uses, with counts, shapes, source lines and whether d1c lowers it."""
    from d1c.frontend import coverage as coverage_of

    click.echo(coverage_of(model).rstrip("\n"))


@main.command()
def targets() -> None:
    """List the shipped machine descriptions with their key figures."""
    from d1c.target import list_targets, load_target

    rows = [load_target(n).summary() for n in list_targets()]
    click.echo(
        f"{'target':<12} {'chips':>6} {'cores':>9} {'SRAM':>10} {'BF16 peak':>12}  description"
    )
    for r in rows:
        sram = f"{r['sram'] / 1e9:.2f} GB"
        peak = (
            f"{r['peak_tflops_bf16'] / 1000:.2f} PFLOPS"
            if r["peak_tflops_bf16"] >= 1000
            else f"{r['peak_tflops_bf16']:.1f} TFLOPS"
        )
        click.echo(
            f"{r['name']:<12} {r['chips']:>6} {r['cores']:>9,} {sram:>10} {peak:>12}  {r['description']}"
        )
