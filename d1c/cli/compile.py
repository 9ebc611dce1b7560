"""``d1c compile``, ``d1c opt``, ``d1c coverage`` and ``d1c targets``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from d1c import driver, timing
from d1c.cli import main, sim_kwargs, sim_options
from d1c.cli.options import check_target
from d1c.errors import D1cError
from d1c.target import DEFAULT_TARGET

MODEL_HELP = (
    "MODEL is model.py (defining model() and example_inputs()), model.py:factory, or an IR file "
    "(.d1, - for stdin)."
)


def debug_options(f):
    f = click.option(
        "--time-passes",
        is_flag=True,
        help="Print where the command's time goes to stderr: start-up, model loading, "
        "torch.export, each pass, isel, emit, host code, writing, and the total.",
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


def target_options(f):
    f = click.option(
        "--dtype",
        type=click.Choice(driver.DTYPES),
        default="bf16",
        show_default=True,
        help="Storage format of weights and activations.",
    )(f)
    f = click.option(
        "--target",
        default=DEFAULT_TARGET,
        show_default=True,
        callback=check_target,
        help="Target name (d1c targets) or a target .toml file.",
    )(f)
    return f


def _debug(
    print_ir_after_all: bool, print_after: tuple[str, ...], time_passes: bool
) -> driver.DebugOptions:
    return driver.DebugOptions(print_ir_after_all, driver.split_names(print_after), time_passes)


def options_for(src: driver.Source, target: str, dtype: str) -> driver.Options:
    calibration = tuple(src.inputs) if src.inputs is not None else None
    return driver.Options(target, dtype, calibration)


ELIDE_HELP = (
    "Leave constant bytes (weights) out of IR text, or keep them (default: left out when the "
    "text goes to a terminal)."
)


@main.command(epilog=MODEL_HELP)
@click.argument("model")
@target_options
@click.option(
    "--emit",
    type=click.Choice((*driver.STAGE_NAMES, "host-ir")),
    help="Write the IR of this stage as text (asm: the program listing; host-ir: the LLVM IR "
    "of the host code) instead of a .d1x.",
)
@click.option(
    "--stop-after",
    type=click.Choice(driver.STAGE_NAMES),
    help="Stop after this stage and write its IR.",
)
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Output file (default: MODEL.d1x for a program, stdout for text).",
)
@click.option("--elide-data/--keep-data", default=None, help=ELIDE_HELP)
@click.option(
    "--dump-ir", "dump_dir", metavar="DIR", help="Also write the IR after every stage into DIR."
)
@debug_options
def compile(
    model: str,
    target: str,
    dtype: str,
    emit: str | None,
    stop_after: str | None,
    output: str | None,
    elide_data: bool | None,
    dump_dir: str | None,
    **debug,
) -> None:
    """Compile MODEL for a target: a .d1x program, or the IR of one stage."""
    stage = _check_compile_flags(emit, stop_after, elide_data, dump_dir)
    with timings(debug["time_passes"], "d1c compile"):
        src = driver.load_source(model)
        opts = options_for(src, target, dtype)
        snaps = driver.compile_stages(
            src.module, "placed" if stage == "asm" else stage, opts, _debug(**debug)
        )
        if dump_dir:
            with timing.phase(f"write {dump_dir}/"):
                _dump(snaps, dump_dir, bool(elide_data))
        if stage != "asm":
            with timing.phase(f"write the {stage} IR"):
                driver.emit_ir(snaps[stage], output, elide_data=elide_data)
            return
        program = driver.build(snaps["placed"], opts)
        if emit in ("host-ir", "asm"):
            with timing.phase(f"write the {emit} text"):
                _write_program_text(program, emit, output, elide_data)
            return
        _write_program(program, output or _default_output(model), opts)


@contextlib.contextmanager
def timings(enabled: bool, title: str) -> Iterator[None]:
    """With ``--time-passes``: time the command's phases and print the table to stderr."""
    if not enabled:
        yield
        return
    with timing.recording() as tl:
        yield
    click.echo(timing.render(tl, title), err=True, nl=False)


def _check_compile_flags(
    emit: str | None, stop_after: str | None, elide_data: bool | None, dump_dir: str | None
) -> str:
    """The stage to compile to; contradictory flags are a usage error, not a silent choice."""
    if emit and stop_after and emit != stop_after:
        raise D1cError(
            f"--emit {emit} contradicts --stop-after {stop_after}",
            hint="--emit STAGE already compiles up to STAGE and writes its text; give one of them",
        )
    with_data = (emit or stop_after) not in (None, "host-ir") or dump_dir
    if elide_data is not None and not with_data:
        flag = "--elide-data" if elide_data else "--keep-data"
        raise D1cError(
            f"{flag} applies to IR text and listings, but this command writes "
            + (f"the {emit} text" if emit else "a .d1x program"),
            hint="combine it with --emit STAGE, --stop-after STAGE or --dump-ir DIR",
        )
    return "asm" if emit == "host-ir" else emit or stop_after or "asm"


def _write_program_text(program, emit: str, output: str | None, elide: bool | None) -> None:
    if emit == "host-ir":
        from d1c.runtime.host import stored_ir

        driver.write_text(stored_ir(program) or "", output)
        return
    from d1c.isa.disasm import disassemble

    text_of = lambda e: disassemble(program, elide_data=e)  # noqa: E731
    driver.write_listing(text_of, output, elide, bool(program.sram or program.hbm))


def _default_output(model: str) -> str:
    return "out.d1x" if model == "-" else f"{Path(model).stem}.d1x"


def _write_program(program, out: str, opts: driver.Options) -> None:
    with timing.phase(f"write {out}"):
        data = program.to_bytes()
        driver.write_bytes(data, out)
    click.echo(
        f"wrote {out}: {len(data):,} bytes, target {opts.target}, dtype {opts.dtype}", err=True
    )


def _dump(snaps: dict, folder: str, elide_data: bool) -> None:
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for i, (stage, module) in enumerate(snaps.items()):
        driver.emit_ir(module, str(path / f"{i}-{stage}.d1"), elide_data=elide_data)


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
@click.option("--elide-data/--keep-data", default=None, help=ELIDE_HELP)
@target_options
@debug_options
def opt(
    file: str,
    pipeline: str,
    output: str | None,
    elide_data: bool | None,
    target: str,
    dtype: str,
    **debug,
) -> None:
    """Run a pass pipeline on textual IR (FILE, or - for standard input)."""
    with timings(debug["time_passes"], "d1c opt"):
        with timing.phase("read the IR"):
            module = driver.read_ir(file)
        module = driver.run_passes(
            module, pipeline, _debug(**debug), opts=driver.Options(target, dtype)
        )
        with timing.phase("write the IR"):
            driver.emit_ir(module, output, elide_data=elide_data)


@main.command(epilog=MODEL_HELP)
@click.argument("model")
def coverage(model: str) -> None:
    """List every op MODEL uses, with counts, shapes, source lines and whether d1c lowers it;
    exit 1 if d1c cannot lower some of them."""
    from d1c.frontend import coverage as coverage_of

    table, unsupported = coverage_of(model)
    click.echo(table.rstrip("\n"))
    if unsupported:
        raise SystemExit(1)


@main.command()
def targets() -> None:
    """List the shipped machine descriptions with their key figures."""
    from d1c.target import list_targets, load_target

    rows = [load_target(n).summary() for n in list_targets()]
    click.echo(
        f"{'target':<12} {'chips':>6} {'cores':>9} {'SRAM':>10} {'BF16 peak':>14}  description"
    )
    for r in rows:
        sram = f"{r['sram'] / 1e9:.2f} GB"
        tf = r["peak_tflops_bf16"]
        peak = f"{tf / 1000:.2f} PFLOPS" if tf >= 1000 else f"{tf:.1f} TFLOPS"
        click.echo(
            f"{r['name']:<12} {r['chips']:>6} {r['cores']:>9,} {sram:>10} {peak:>14}  {r['description']}"
        )


@main.command(epilog=MODEL_HELP)
@click.argument("model")
@target_options
@click.option(
    "--inputs",
    "inputs_file",
    metavar="FILE.npz",
    help="Inputs keyed by the model's argument names (the names `d1c run --input` takes) "
    "instead of the example or seeded random inputs.",
)
@click.option("--determinism", is_flag=True, help="Also compile twice and compare the .d1x bytes.")
@click.option(
    "--accept-unbounded",
    is_flag=True,
    help="Pass even if the derived bound or tolerance of some output elements is infinite "
    "(they are still reported); by default an element that cannot be bounded fails.",
)
@sim_options
def verify(model: str, target: str, dtype: str, inputs_file: str | None, determinism: bool,
           accept_unbounded: bool, workers: int, ray: str | None) -> None:  # fmt: skip
    """Compile MODEL, simulate it, and check every rung of the verification ladder."""
    from d1c.ladder import STAGES
    from d1c.ladder import verify as run_verify
    from d1c.progress import progress

    with progress("verify", STAGES + int(determinism), delay=0):
        report = run_verify(model, target, dtype, inputs_file=inputs_file,
                            determinism=determinism, accept_unbounded=accept_unbounded,
                            sim=sim_kwargs(workers, ray))  # fmt: skip
    click.echo(report.render())
    if not report.ok:
        raise SystemExit(1)
