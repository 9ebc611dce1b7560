"""Heatmaps of a :class:`~d1c.report.collect.Report` over the chips x cores mesh (matplotlib, Agg).

Three panels over global core positions (x = chip_x * cores_x + core_x, y likewise, chip 0.0 at
the top left): each core's SRAM high-water mark against its capacity, the bytes leaving each
core's router on its four outgoing NoC links (simulated messages and DMA streams), and how busy
each core's tile units were. Black-on-white lines are chip boundaries and the tick labels name
the chips; light grey cores run nothing; dark sites marked x are disabled.

A program that uses a small part of a big mesh (an MLP on the 8,850 cores of ``dojo-tile``)
would be a few pixels in a sea of grey, so the panels zoom to the cores it runs on
(:func:`used_window`, padded) and a row of overviews below shows each panel over the whole
mesh, the zoomed window outlined in red and the disabled sites marked large enough to see.

"""

from __future__ import annotations

import io
from collections import defaultdict

import numpy as np

from d1c.report.collect import Report
from d1c.report.render import fmt_pct, links_total
from d1c.runtime.trace import category

UNUSED = "#e4e4e4"
DISABLED = (0.25, 0.25, 0.25, 1.0)
MIN_WINDOW = 8  # sites: a zoomed window is at least this wide and tall (when the mesh is)
PAD = 2  # sites of context around the used cores
Window = tuple[int, int, int, int]  # x0, x1, y0, y1: global core columns [x0, x1), rows [y0, y1)


def _grid(r: Report) -> tuple[int, int, int, int]:
    (chips_x, chips_y), (gw, gh) = r.target.chips, r.target.chip_grid
    return chips_x * gw, chips_y * gh, gw, gh


def _pos(c: tuple, gw: int, gh: int) -> tuple[int, int]:
    return c[0] * gw + c[2], c[1] * gh + c[3]


def sram_grid(r: Report) -> np.ndarray:
    """SRAM peak per core in KiB (NaN where a core runs nothing)."""
    w, h, gw, gh = _grid(r)
    out = np.full((h, w), np.nan)
    for s in r.sram:
        x, y = _pos(s.coord, gw, gh)
        out[y, x] = s.peak / 1024
    return out


def link_grid(r: Report) -> np.ndarray:
    """Bytes sent on each core's outgoing links (0 where none; NaN nowhere)."""
    w, h, _, _ = _grid(r)
    out = np.zeros((h, w))
    for (gx, gy, _), nbytes in links_total(r).items():
        out[gy, gx] += nbytes
    return out


def busy_grid(r: Report) -> np.ndarray:
    """Per core: cycles in tile ops over total cycles, in percent (NaN where unused)."""
    w, h, gw, gh = _grid(r)
    busy: dict[tuple, int] = defaultdict(int)
    for name, coord, _, dur, _ in r.result.trace or ():
        if category(name) == "compute":
            busy[coord] += dur
    out = np.full((h, w), np.nan)
    for coord in r.result.cores:
        x, y = _pos(coord, gw, gh)
        out[y, x] = 100 * busy[coord] / max(r.cycles, 1)
    return out


def disabled_mask(r: Report) -> np.ndarray:
    w, h, gw, gh = _grid(r)
    out = np.zeros((h, w), dtype=bool)
    for cy in range(r.target.chips[1]):
        for cx in range(r.target.chips[0]):
            for x, y in r.target.disabled:
                out[cy * gh + y, cx * gw + x] = True
    return out


def used_window(r: Report) -> Window:
    """The global sites to zoom to: the cores the program ran on, padded by :data:`PAD` sites
    and widened to :data:`MIN_WINDOW`, within the mesh (the whole mesh if it is no bigger)."""
    w, h, gw, gh = _grid(r)
    pos = [_pos(c, gw, gh) for c in r.result.cores] or [(0, 0)]
    xs, ys = [x for x, _ in pos], [y for _, y in pos]
    x0, x1 = _span(min(xs) - PAD, max(xs) + 1 + PAD, w)
    y0, y1 = _span(min(ys) - PAD, max(ys) + 1 + PAD, h)
    return x0, x1, y0, y1


def _span(lo: int, hi: int, size: int) -> tuple[int, int]:
    """[lo, hi) widened to MIN_WINDOW, then moved (and cut) into [0, size)."""
    grow = max(MIN_WINDOW - (hi - lo), 0)
    lo, hi = lo - grow // 2, hi + grow - grow // 2
    shift = max(-lo, 0) - max(hi - size, 0)
    return max(lo + shift, 0), min(hi + shift, size)


def zoomed(r: Report) -> bool:
    """True if :func:`used_window` is smaller than the mesh (the figure then has overviews)."""
    w, h, _, _ = _grid(r)
    return used_window(r) != (0, w, 0, h)


# ---------------------------------------------------------------- drawing
def heatmaps_png(r: Report, dpi: int = 110) -> bytes:
    """The three heatmaps as PNG bytes."""
    buf = io.BytesIO()
    heatmaps_figure(r, dpi).savefig(buf, format="png")
    return buf.getvalue()


def heatmaps_figure(r: Report, dpi: int = 110):
    """The figure of :func:`heatmaps_png`: three panels zoomed to the used cores and, when that
    is less than the mesh, a row of whole-mesh overviews under them."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    zoom = zoomed(r)
    fig = Figure(figsize=(18, 8.8 if zoom else 6.0), dpi=dpi, layout="constrained")
    axes = fig.subplots(2, 3, height_ratios=(2.2, 1)) if zoom else [fig.subplots(1, 3)]
    panels = _panels(r)
    for ax, (data, kw, title, label) in zip(axes[0], panels, strict=True):
        _panel(fig, ax, data, r, title, label, **kw)
    for ax, (data, kw, _, _) in zip(axes[1] if zoom else (), panels, strict=False):
        _overview(ax, data, r, **kw)
    legend = [Patch(color=UNUSED, label="core runs nothing / no traffic"), Patch(color=DISABLED, label="disabled site (x)")]  # fmt: skip
    fig.legend(handles=legend, loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle(_title(r), fontsize=13)
    return fig


def _panels(r: Report) -> list[tuple[np.ndarray, dict, str, str]]:
    """(data, imshow options, title, colorbar label) of the three panels."""
    cap = r.target.sram_bytes / 1024
    sram_kw = {"vmin": 0, "vmax": cap}
    busy = busy_grid(r)
    top = float(np.nanmax(busy)) if np.isfinite(busy).any() else 0.0
    busy_kw = {"vmin": 0, "vmax": max(top, 1e-9), "cmap": "cividis"}
    return [
        (sram_grid(r), sram_kw, "SRAM high-water mark per core", f"KiB (capacity {cap:,.0f} KiB)"),
        _link_panel(r),
        (busy, busy_kw, "Tile units busy (time in tile ops / total)", f"% of cycles (max {top:.2g}%)"),
    ]  # fmt: skip


def _link_panel(r: Report) -> tuple[np.ndarray, dict, str, str]:
    from matplotlib.colors import LogNorm

    links = link_grid(r)
    title = "NoC bytes leaving each core (messages + DMA streams)"
    if links.max() <= 0:
        return links, {"vmin": 0, "vmax": 1, "cmap": "Blues"}, title + ": none", "bytes"
    shown = np.where(links > 0, links, np.nan)
    norm = LogNorm(vmin=max(np.nanmin(shown), 1), vmax=links.max())
    return shown, {"norm": norm, "cmap": "plasma"}, title, "bytes on its 4 outgoing links (log scale)"  # fmt: skip


def _panel(fig, ax, data: np.ndarray, r: Report, title: str, label: str, **kw) -> None:
    """One heatmap zoomed to :func:`used_window`; ``kw`` go to ``imshow`` (norm, cmap, ...)."""
    im = _draw_mesh(ax, data, r, **kw)
    x0, x1, y0, y1 = used_window(r)
    ax.set_xlim(x0 - 0.5, x1 - 0.5)
    ax.set_ylim(y1 - 0.5, y0 - 0.5)
    _disabled_marks(ax, r, 330 / max(x1 - x0, y1 - y0))  # points per site on a ~4.6-inch panel
    _chip_lines(ax, r)
    _chip_ticks(ax, r)
    ax.set_title(title, fontsize=11)
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label(label)


def _overview(ax, data: np.ndarray, r: Report, **kw) -> None:
    """The panel's data over the whole mesh, the zoomed window outlined in red."""
    from matplotlib.patches import Rectangle

    _draw_mesh(ax, data, r, **kw)
    w, h, _, _ = _grid(r)
    _disabled_marks(ax, r, 150 / max(w, h), least=2.5)
    x0, x1, y0, y1 = used_window(r)
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="red", lw=1.4))
    _chip_lines(ax, r)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"whole {r.target.name} ({w} x {h} sites); red: the window above", fontsize=8)


def _draw_mesh(ax, data: np.ndarray, r: Report, **kw):
    """The data over the whole mesh (unused sites light grey) with disabled sites dark."""
    import matplotlib as mpl

    cmap = mpl.colormaps[kw.pop("cmap", "viridis")].with_extremes(bad=UNUSED)
    w, h, _, _ = _grid(r)
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, extent=extent, interpolation="nearest", **kw)  # fmt: skip
    over = np.zeros((h, w, 4))
    over[disabled_mask(r)] = DISABLED
    ax.imshow(over, extent=extent, interpolation="nearest")
    return im


def _disabled_marks(ax, r: Report, cell: float, least: float = 2.0) -> None:
    """An x on every disabled site, at least ``least`` points across however small the site
    (white on big sites, black where the mark is bigger than its site)."""
    ys, xs = np.nonzero(disabled_mask(r))
    size = max(0.45 * cell, least)
    ax.scatter(xs, ys, marker="x", c="white" if size < cell else "black", s=size**2,
               linewidths=max(0.3, min(cell / 12, 1.5)), zorder=3)  # fmt: skip


def _chip_lines(ax, r: Report) -> None:
    _, _, gw, gh = _grid(r)
    (cx, cy) = r.target.chips
    for i in range(1, cx):
        ax.axvline(i * gw - 0.5, color="white", lw=1.6)
        ax.axvline(i * gw - 0.5, color="black", lw=0.6)
    for j in range(1, cy):
        ax.axhline(j * gh - 0.5, color="white", lw=1.6)
        ax.axhline(j * gh - 0.5, color="black", lw=0.6)


def _chip_ticks(ax, r: Report) -> None:
    """Ticks at the window's edges and the first site of each chip in it, labelled with the
    global coordinate and, at chip starts, the chip: chip names stay off the data."""
    x0, x1, y0, y1 = used_window(r)
    _, _, gw, gh = _grid(r)
    xs = sorted({x0, x1 - 1, *range(-(-x0 // gw) * gw, x1, gw)})
    ys = sorted({y0, y1 - 1, *range(-(-y0 // gh) * gh, y1, gh)})
    ax.set_xticks(xs, [f"{x}\nchip x {x // gw}" if x % gw == 0 else str(x) for x in xs], fontsize=7)
    ax.set_yticks(ys, [f"chip y {y // gh}  {y}" if y % gh == 0 else str(y) for y in ys], fontsize=7)
    ax.set_xlabel(f"global core x  ({r.target.chips[0]} chips of {gw})")
    ax.set_ylabel(f"global core y  ({r.target.chips[1]} chips of {gh})")


def _title(r: Report) -> str:
    return (
        f"{r.name} on {r.target.name}: {r.cycles:,} cycles ({r.seconds * 1e6:,.1f} us), "
        f"{len(r.result.cores):,} cores, utilization {fmt_pct(r.utilization)} of peak"
    )
