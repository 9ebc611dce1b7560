"""``d1c report``: compile (or read) a program, simulate it once, and show where time, SRAM and
NoC traffic go (:mod:`d1c.report.collect`): a compact table on the terminal, and on request heatmaps
(``--png``), a self-contained page (``--html``), the figures as JSON (``--json``) and the
Chrome/Perfetto timeline (``--trace``, kernels named by their ops)."""

from __future__ import annotations

import json

import click

from d1c.cli import main
from d1c.cli.options import check_target
from d1c.driver import DTYPES, write_text


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
def report(
    program: str,
    target: str | None,
    dtype: str,
    html_file: str | None,
    png_file: str | None,
    json_file: str | None,
    trace_file: str | None,
    timing_only: bool,
) -> None:
    """Report cycles, utilization, per-op time, stalls, SRAM and NoC use of PROGRAM (.d1x, MODEL
    or IR file)."""
    from d1c.report.collect import report_source
    from d1c.report.render import render_text, to_json

    rep = report_source(program, target, dtype, timing_only=timing_only)
    if json_file != "-":
        click.echo(render_text(rep))
    if json_file:
        write_text(json.dumps(to_json(rep), indent=1) + "\n", json_file)
    if trace_file:
        _write_trace(rep, trace_file)
    png = _png(rep, png_file) if png_file or html_file else None
    if html_file:
        from d1c.report.render import render_html

        write_text(render_html(rep, png), html_file)


def _png(rep, png_file: str | None) -> bytes:
    from d1c.driver import write_bytes
    from d1c.report.plot import heatmaps_png

    data = heatmaps_png(rep)
    if png_file:
        write_bytes(data, png_file)
    return data


def _write_trace(rep, path: str) -> None:
    from d1c.runtime.trace import chrome_trace, write_json

    names = [f"{o.index} {o.op} {o.loc}".strip() for o in rep.ops]
    res = rep.result
    write_json(chrome_trace(res.trace or [], list(res.barriers), rep.target.chips[0], res.clock_hz, names), path)  # fmt: skip
