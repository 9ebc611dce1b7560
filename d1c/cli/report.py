"""``d1c report``: compile (or read) a program, simulate it once, and show where time, SRAM and
NoC traffic go (:mod:`d1c.report.collect`): a compact table on the terminal, and on request heatmaps
(``--png``), a self-contained page (``--html``), the figures as JSON (``--json``) and the
Chrome/Perfetto timeline (``--trace``, kernels named by their ops)."""

from __future__ import annotations

import json

import click

from d1c.cli import main, sim_kwargs, sim_options
from d1c.cli.options import check_target
from d1c.driver import DTYPES, write_bytes


@main.command()
@click.argument("program")
@click.option(
    "--target",
    "-t",
    callback=check_target,
    help="target name or TOML file (default: dojo-tile; a .d1x: its own)",
)
@click.option("--dtype", type=click.Choice(DTYPES), default="bf16", show_default=True, help="storage dtype when compiling a model")  # fmt: skip
@click.option("--html", "html_file", type=click.Path(dir_okay=False), help="write a self-contained HTML page")  # fmt: skip
@click.option("--png", "png_file", type=click.Path(dir_okay=False), help="write SRAM/NoC/busy heatmaps as PNG")  # fmt: skip
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="write the figures as JSON ('-' for stdout)")  # fmt: skip
@click.option("--trace", "trace_file", type=click.Path(dir_okay=False), help="write a Chrome/Perfetto trace JSON")  # fmt: skip
@click.option("--timing-only", is_flag=True, help="simulate timing only (same cycles, no data)")
@sim_options
def report(
    program: str,
    target: str | None,
    dtype: str,
    html_file: str | None,
    png_file: str | None,
    json_file: str | None,
    trace_file: str | None,
    timing_only: bool,
    workers: int,
    ray: str | None,
) -> None:
    """Report cycles, utilization, per-op time, stalls, SRAM and NoC use of PROGRAM (.d1x, MODEL
    or IR file)."""
    from d1c.progress import progress, stage
    from d1c.report.collect import STAGES, report_source

    files = sum(f is not None for f in (html_file, png_file, json_file, trace_file))
    with progress("report", STAGES + files, delay=0):
        rep = report_source(
            program, target, dtype, timing_only=timing_only, sim=sim_kwargs(workers, ray)
        )
        if json_file:
            stage("JSON")
            _write_json(rep, json_file)
        if trace_file:
            stage("trace")
            _write_trace(rep, trace_file)
        png = _png(rep, png_file) if png_file or html_file else None
        if html_file:
            stage("HTML")
            _write_html(rep, png, html_file)
    if json_file != "-":
        from d1c.report.render import render_text

        click.echo(render_text(rep))


def wrote(path: str, data: bytes | str, what: str) -> None:
    """Write ``data`` to ``path`` and say so on stderr (a file a command writes is named)."""
    raw = data.encode() if isinstance(data, str) else data
    write_bytes(raw, path)
    click.echo(f"wrote {path}: {what}, {len(raw):,} bytes", err=True)


def _write_json(rep, path: str) -> None:
    from d1c.report.render import to_json

    text = json.dumps(to_json(rep), indent=1) + "\n"
    if path == "-":
        click.echo(text, nl=False)
    else:
        wrote(path, text, "the report's figures as JSON")


def _write_html(rep, png: bytes | None, path: str) -> None:
    from d1c.report.render import render_html

    wrote(path, render_html(rep, png), "a self-contained HTML page")


def _png(rep, png_file: str | None) -> bytes:
    from d1c.progress import stage
    from d1c.report.plot import heatmaps_png

    stage("heatmaps")
    data = heatmaps_png(rep)
    if png_file:
        wrote(png_file, data, "SRAM, NoC and busy heatmaps (PNG)")
    return data


def _write_trace(rep, path: str) -> None:
    from d1c.runtime.trace import chrome_trace

    names = [f"{o.index} {o.op} {o.loc}".strip() for o in rep.ops]
    res = rep.result
    finish = {c: s.finish for c, s in res.cores.items()}
    trace = chrome_trace(
        res.trace or [], list(res.barriers), rep.target.chips[0], res.clock_hz, names, finish
    )
    wrote(path, json.dumps(trace), "a Chrome/Perfetto trace (open it in ui.perfetto.dev)")
