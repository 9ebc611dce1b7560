"""A :class:`~d1c.report.collect.Report` as a compact terminal table, a JSON object and an HTML page.

The JSON object holds every figure the other two show (cycles, seconds, utilization, MACs, the
roofline, stalls, the per-op breakdown, per-core and per-chip SRAM, bytes per link), so scripts
never parse the text. The HTML page is self-contained: tables plus the heatmaps of
:mod:`d1c.report.plot` inlined as a base64 PNG.
"""

from __future__ import annotations

import base64
import html
from collections import defaultdict
from pathlib import Path

from d1c.report.collect import CoreSram, OpRow, Report

TOP_OPS = 12
TOP_LINES = 8
TOP_LINKS = 8


def fmt_bytes(n: float) -> str:
    """``1.5 KiB``-style sizes (bytes below 1 KiB)."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def fmt_pct(x: float) -> str:
    """Percentages with enough digits to be non-zero when small."""
    p = 100 * x
    return f"{p:.1f}%" if p >= 1 or p == 0 else f"{p:.2g}%"


def _link(k: tuple) -> str:
    return f"({k[0]},{k[1]}) {k[2]}"


# ---------------------------------------------------------------- summaries (shared)
def headline(r: Report) -> list[tuple[str, str]]:
    """(label, text) rows of the summary: time, work, roofline, stalls, SRAM, NoC."""
    rows = [("time", _time_line(r)), ("work", _work_line(r)), ("roofline", _roof_line(r))]
    rows.append(("stalls", _stall_line(r)))
    if r.sram:
        rows.append(("SRAM", _sram_line(r)))
    return [*rows, ("NoC", _noc_line(r))]


def _time_line(r: Report) -> str:
    t = r.target
    return (
        f"{r.cycles:,} cycles = {r.seconds * 1e6:,.2f} us at {t.clock_hz / 1e9:g} GHz "
        f"on {len(r.result.cores):,} of {t.num_cores:,} cores"
    )


def _work_line(r: Report) -> str:
    return (
        f"{r.macs:,} MACs, {r.result.total('vector_ops'):,} vector elements; utilization "
        f"{fmt_pct(r.utilization)} of {r.target.peak_flops / 1e12:,.1f} TFLOPS peak"
    )


def _roof_line(r: Report) -> str:
    roof = r.roofline
    return (
        f"{roof.bound()}-bound at {roof.cycles():,.0f} cycles ({fmt_bytes(roof.bytes)} DMA at "
        f"{roof.dip_bytes_per_cycle:,.0f} B/cycle, {roof.macs:,} MACs at "
        f"{roof.peak_macs_per_cycle:,}/cycle): achieved {fmt_pct(roof.cycles() / max(r.cycles, 1))}"
        f" of roofline; compulsory bytes {fmt_bytes(roof.compulsory)} -> "
        f"{roof.cycles(roof.compulsory):,.0f} cycles"
    )


def _stall_line(r: Report) -> str:
    core_cycles = max(r.cycles * len(r.result.cores), 1)
    parts = [f"{k} {fmt_pct(v / core_cycles)}" for k, v in r.stalls.items() if v]
    return (", ".join(parts) or "none") + " of core-cycles"


def _sram_line(r: Report) -> str:
    w = max(r.sram, key=lambda s: s.peak)
    return (
        f"peak {fmt_bytes(w.peak)} of {fmt_bytes(r.target.sram_bytes)} per core on "
        f"{_core(w.coord)} (buffers {fmt_bytes(w.buffers)}, records {fmt_bytes(w.records)}, "
        f"params {w.params} B)"
    )


def _noc_line(r: Report) -> str:
    sim = f"messages and DMA streams {fmt_bytes(sum(r.links.values()))} on {len(r.links)} links"
    if not r.dma_links:
        return sim
    top = max(r.dma_links.items(), key=lambda kv: kv[1])
    return (
        f"{sim}; compile-time DMA routes {fmt_bytes(sum(r.dma_links.values()))} "
        f"link-bytes on {len(r.dma_links)} links, busiest {_link(top[0])} {fmt_bytes(top[1])}"
    )


def _core(c: tuple) -> str:
    return ".".join(str(v) for v in c)


def top_stall(op: OpRow, cores: int) -> str:
    """The op's largest stall cause as a share of its core-cycles (cycles x cores)."""
    if not op.stalls or not max(op.stalls.values()):
        return "-"
    k, v = max(op.stalls.items(), key=lambda kv: kv[1])
    return f"{k} {fmt_pct(v / max(op.cycles * cores, 1))}"


def short_loc(loc: str) -> str:
    """A location relative to the working directory when under it, else its last 3 parts."""
    if not loc.startswith("/"):
        return loc
    path, _, line = loc.rpartition(":")
    here = Path.cwd()
    p = Path(path)
    rel = p.relative_to(here) if p.is_relative_to(here) else Path(*p.parts[-3:])
    return f"{rel}:{line}"


def by_line(ops: list[OpRow]) -> list[dict]:
    """Wall cycles and MACs per source line, largest first."""
    acc: dict[str, dict] = defaultdict(lambda: {"cycles": 0, "macs": 0, "kernels": 0, "source": ""})
    for op in ops:
        key = op.loc or op.op
        a = acc[key]
        a["cycles"] += op.cycles
        a["macs"] += op.macs
        a["kernels"] += 1
        a["source"] = op.source
    rows = [{"loc": k, **v} for k, v in acc.items()]
    return sorted(rows, key=lambda d: -d["cycles"])


def links_total(r: Report) -> dict[tuple, int]:
    """Simulated bytes per link: messages and DMA streams (the simulator moves both over the
    NoC; the compile-time routes in ``r.dma_links`` are for comparison only)."""
    return {tuple(k): v for k, v in r.links.items()}


# ---------------------------------------------------------------- terminal
def render_text(r: Report) -> str:
    mode = "  timing-only" if r.timing_only else ""
    dtype = f"  dtype {r.dtype}" if r.dtype else ""
    lines = [f"d1c report {r.name}  target {r.target.name}{dtype}{mode}", ""]
    lines += [f"{k:<9} {v}" for k, v in headline(r)]
    lines += ["", *_op_table(r), "", *_line_table(r), "", *_chip_table(r)]
    links = sorted(links_total(r).items(), key=lambda kv: -kv[1])[:TOP_LINKS]
    if links:
        lines += ["", "busiest links (messages + DMA streams): " + ", ".join(f"{_link(k)} {fmt_bytes(v)}" for k, v in links)]  # fmt: skip
    return "\n".join(lines)


def _op_table(r: Report) -> list[str]:
    ops = sorted(r.ops, key=lambda o: -o.cycles)[:TOP_OPS]
    total = max(r.cycles, 1)
    ncores = len(r.result.cores)
    head = f"{'#':>4} {'op':<13} {'cycles':>10} {'%':>6} {'MACs':>12} {'top stall':<13} source"
    out = [f"top {len(ops)} of {len(r.ops)} kernels by time", head]
    for o in ops:
        src = f"{short_loc(o.loc)}  {o.source}"[:64]
        out.append(f"{o.index:>4} {o.op:<13} {o.cycles:>10,} {100 * o.cycles / total:>5.1f}% {o.macs:>12,} {top_stall(o, ncores):<13} {src}")  # fmt: skip
    return out


def _line_table(r: Report) -> list[str]:
    rows = by_line(r.ops)[:TOP_LINES]
    total = max(r.cycles, 1)
    out = [f"by source line (top {len(rows)})"]
    for d in rows:
        out.append(f"  {d['cycles']:>10,} {100 * d['cycles'] / total:>5.1f}% {d['kernels']:>3} kernels  {short_loc(d['loc'])}  {d['source'][:50]}")  # fmt: skip
    return out


def _chip_table(r: Report) -> list[str]:
    out = ["SRAM per chip: chip cores max-core total/capacity"]
    for c in r.chips():
        out.append(f"  {c['chip']:<6} {c['cores']:>5} {fmt_bytes(c['max_core_peak']):>10} {fmt_bytes(c['total_peak']):>10} / {fmt_bytes(c['capacity'])}")  # fmt: skip
    return out


# ---------------------------------------------------------------- JSON
def to_json(r: Report) -> dict:
    t, roof = r.target, r.roofline
    return {
        "name": r.name,
        "target": t.name,
        "dtype": r.dtype,
        "timing_only": r.timing_only,
        "clock_hz": t.clock_hz,
        "cycles": r.cycles,
        "seconds": r.seconds,
        "cores": len(r.result.cores),
        "macs": r.macs,
        "peak_macs_per_cycle": t.peak_macs_per_cycle,
        "utilization": r.utilization,
        "roofline": {
            "macs": roof.macs,
            "dma_bytes": roof.bytes,
            "compulsory_bytes": roof.compulsory,
            "dip_bytes_per_cycle": roof.dip_bytes_per_cycle,
            "cycles": roof.cycles(),
            "bound": roof.bound(),
            "fraction_achieved": roof.cycles() / max(r.cycles, 1),
        },
        "stalls": r.stalls,
        "ops": [_op_json(o) for o in r.ops],
        "sram": {"cores": [_sram_json(s) for s in r.sram], "chips": r.chips()},
        "links": [{"link": list(k), "bytes": v} for k, v in sorted(r.links.items())],
        "dma_links": [{"link": list(k), "bytes": v} for k, v in sorted(r.dma_links.items())],
        "meta": r.meta,
    }


def _op_json(o: OpRow) -> dict:
    return {
        "kernel": o.index,
        "op": o.op,
        "loc": o.loc,
        "source": o.source,
        "start": o.start,
        "cycles": o.cycles,
        "macs": o.macs,
        "compute_core_cycles": o.compute,
        "dma_cycles": o.dma,
        "stalls": o.stalls,
        "sram": o.sram,
        "route": list(o.route) if o.route is not None else None,
    }


def _sram_json(s: CoreSram) -> dict:
    return {"core": _core(s.coord), "peak": s.peak, "buffers": s.buffers, "records": s.records,
            "params": s.params}  # fmt: skip


# ---------------------------------------------------------------- HTML
CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;
font-size:13px}th{background:#eee}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:12px}img{max-width:100%;border:1px solid #ddd}h1{font-size:1.4em}"""


def render_html(r: Report, png: bytes | None) -> str:
    """One self-contained page: summary, heatmaps (inline PNG), then the tables."""
    e = html.escape
    title = f"d1c report: {e(r.name)} on {e(r.target.name)}"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"]
    parts += [f"<style>{CSS}</style></head><body><h1>{title}</h1>"]
    parts.append(_table(["", ""], [list(row) for row in headline(r)]))
    if png is not None:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<h2>Heatmaps</h2><img alt='SRAM, NoC and busy heatmaps' src='data:image/png;base64,{data}'>")  # fmt: skip
    for heading, head, rows in html_sections(r):
        parts.append(f"<h2>{e(heading)}</h2>" + _table(head, rows))
    return "\n".join([*parts, "</body></html>"])


def html_sections(r: Report) -> list[tuple[str, list[str], list[list]]]:
    """(heading, column names, rows) of every table of the page."""
    return [
        ("Kernels (program order)", ["#", "op", "cycles", "%", "MACs", "compute core-cycles",
                                     "top stall", "location", "source"], _kernel_rows(r)),
        ("By source line", ["location", "kernels", "cycles", "%", "MACs", "source"], _line_rows(r)),
        ("SRAM per chip", ["chip", "cores", "max core peak", "total", "capacity"], _chip_rows(r)),
        ("SRAM high-water marks (top 32 cores, bytes)",
         ["core", "peak", "buffers", "records", "params"], _core_rows(r)),
        ("Busiest NoC links (top 32; messages + DMA streams)",
         ["link (gx,gy) dir", "bytes"], _link_rows(r)),
    ]  # fmt: skip


def _pct(n: int, r: Report) -> str:
    return f"{100 * n / max(r.cycles, 1):.1f}%"


def _kernel_rows(r: Report) -> list[list]:
    n = len(r.result.cores)
    return [[o.index, o.op, f"{o.cycles:,}", _pct(o.cycles, r), f"{o.macs:,}", f"{o.compute:,}",
             top_stall(o, n), short_loc(o.loc), o.source] for o in r.ops]  # fmt: skip


def _line_rows(r: Report) -> list[list]:
    return [[short_loc(d["loc"]), d["kernels"], f"{d['cycles']:,}", _pct(d["cycles"], r),
             f"{d['macs']:,}", d["source"]] for d in by_line(r.ops)]  # fmt: skip


def _chip_rows(r: Report) -> list[list]:
    return [[c["chip"], c["cores"], fmt_bytes(c["max_core_peak"]), fmt_bytes(c["total_peak"]),
             fmt_bytes(c["capacity"])] for c in r.chips()]  # fmt: skip


def _core_rows(r: Report) -> list[list]:
    top = sorted(r.sram, key=lambda s: -s.peak)[:32]
    return [[_core(s.coord), f"{s.peak:,}", f"{s.buffers:,}", f"{s.records:,}", s.params] for s in top]  # fmt: skip


def _link_rows(r: Report) -> list[list]:
    top = sorted(links_total(r).items(), key=lambda kv: -kv[1])[:32]
    return [[_link(k), f"{v:,}"] for k, v in top]


def _table(head: list[str], rows: list[list]) -> str:
    e = html.escape
    out = ["<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in head) + "</tr>"]
    for row in rows:
        cells = "".join(f"<td{_cls(v)}>{e(str(v))}</td>" for v in row)
        out.append(f"<tr>{cells}</tr>")
    return "".join(out) + "</table>"


def _cls(v: object) -> str:
    s = str(v).replace(",", "").rstrip("%")
    return " class='n'" if s.replace(".", "", 1).isdigit() else ""
