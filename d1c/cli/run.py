"""``d1c run``: simulate a ``.d1x`` program (or D1 assembly) and print its outputs and cycles.

``d1c run PROGRAM.d1x --input a=a.npy --input b=b.npy --output-dir out/`` packs each input into
the places the program's symbol table names with the program's JIT-compiled host code
(:mod:`d1c.runtime.host`; outputs are unpacked the same way), runs the bit-accurate simulator
(:func:`d1c.runtime.sim.simulate`), prints a one-line summary per output and the timing
summary, and saves every output as ``out/NAME.npy`` (float32 values; int32 for i32 outputs).
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from d1c.cli import main, sim_kwargs, sim_options
from d1c.cli.options import check_target
from d1c.errors import D1cError, did_you_mean
from d1c.isa.d1x import MAGIC, D1xProgram, argument_names, argument_of, read_d1x, symbol_inputs


def _program(path: str) -> D1xProgram:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise D1cError(f"cannot read {path}: {err.strerror}") from None
    if data[:4] == MAGIC:
        return read_d1x(data)
    from d1c.isa.asm import assemble

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise D1cError(f"{path} is neither a .d1x file nor UTF-8 assembly text") from None
    return assemble(text, file=path)


def _inputs(specs: tuple[str, ...]) -> dict[str, np.ndarray]:
    out = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep or not name or not file:
            raise D1cError(f"--input {spec!r}: expected NAME=FILE.npy")
        try:
            out[name] = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise D1cError(f"--input {name}: cannot load {file}: {err}") from None
    return out


def _takes(prog: D1xProgram) -> str:
    """``the program takes ids (i32[2, 16]): --input ids=FILE.npy`` for hints."""
    shapes: dict[str, str] = {}
    for s in prog.symbols:
        if s.role == "input":
            shapes.setdefault(argument_of(s.name), f"{s.fmt}{list(s.shape)}")
    if not shapes:
        return "the program takes no inputs"
    args = ", ".join(f"{n} ({t})" for n, t in shapes.items())
    flags = " ".join(f"--input {n}=FILE.npy" for n in shapes)
    return f"the program takes {args}: {flags}"


def _feeds(prog: D1xProgram, given: dict[str, np.ndarray], full: bool) -> dict[str, np.ndarray]:
    """The arrays of the named arguments, per input symbol (an argument packed in two formats
    feeds both of its symbols); unknown or (in full mode) missing arguments are errors."""
    names = argument_names(prog)
    unknown = sorted(set(given) - set(names))
    if unknown:
        hint = did_you_mean(unknown[0], names) + _takes(prog)
        raise D1cError(f"--input {unknown[0]}: the program has no input '{unknown[0]}'", hint=hint)
    missing = [n for n in names if n not in given]
    if missing and full:
        raise D1cError(f"missing input(s): {', '.join(missing)}", hint=_takes(prog))
    return symbol_inputs(prog, given)


def _describe(name: str, v: np.ndarray) -> str:
    if v.size == 0:
        return f"{name}: {v.dtype}{list(v.shape)} (empty)"
    f = v.astype(np.float64)
    finite = f[np.isfinite(f)]
    stats = (
        f"min {finite.min():.6g} max {finite.max():.6g} mean {finite.mean():.6g}"
        if finite.size
        else "no finite values"
    )
    nonfinite = f.size - finite.size
    return f"{name}: {v.dtype}{list(v.shape)} {stats}" + (
        f" ({nonfinite} non-finite)" if nonfinite else ""
    )


@main.command()
@click.argument("program", type=click.Path(dir_okay=False))
@click.option(
    "--input", "-i", "inputs", multiple=True, metavar="NAME=FILE.npy", help="an input array"
)
@click.option(
    "--output-dir", "-o", type=click.Path(file_okay=False), help="save outputs as NAME.npy here"
)
@click.option("--timing-only", is_flag=True, help="same timing, no data computed (no outputs)")
@click.option("--trace", type=click.Path(dir_okay=False), help="write a Chrome/Perfetto trace JSON")
@click.option(
    "--target",
    "-t",
    callback=check_target,
    help="target name or TOML file (default: the program's own)",
)
@click.option("--max-cycles", type=int, help="fault if a core runs past this many cycles")
@sim_options
def run(
    program: str,
    inputs: tuple[str, ...],
    output_dir: str | None,
    timing_only: bool,
    trace: str | None,
    target: str | None,
    max_cycles: int | None,
    workers: int,
    ray: str | None,
) -> None:
    """Simulate PROGRAM (.d1x or assembly) bit-accurately; print outputs and cycles."""
    from d1c.runtime.host import HostCode
    from d1c.runtime.sim import simulate

    prog = _program(program)
    res = simulate(
        prog,
        target,
        _feeds(prog, _inputs(inputs), not timing_only),
        timing_only=timing_only,
        trace=trace,
        max_cycles=max_cycles,
        io=None if timing_only else HostCode.of(prog),
        **sim_kwargs(workers, ray),
    )
    for name, value in res.outputs.items():
        click.echo(_describe(name, value))
    click.echo(res.summary())
    if res.undelivered:
        click.echo(f"warning: {res.undelivered} message(s) were sent but never received")
    if output_dir:
        _save(Path(output_dir), res.outputs)


def _save(out: Path, outputs: dict[str, np.ndarray]) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, value in outputs.items():
            np.save(out / f"{name}.npy", value)
    except OSError as err:
        raise D1cError(f"cannot write outputs to {out}: {err.strerror}") from None
    names = ", ".join(f"{n}.npy" for n in outputs)
    click.echo(f"wrote {out}/: {names or 'no outputs'}", err=True)
