"""Heatmaps of a :class:`~d1c.report.collect.Report` over the chips x cores mesh (matplotlib, Agg).

Three panels over global core positions (x = chip_x * cores_x + core_x, y likewise, chip 0.0 at
the top left): each core's SRAM high-water mark against its capacity, the bytes leaving each
core's router on its four outgoing NoC links (simulated messages and DMA streams), and how busy each core's tile units were. White lines are chip boundaries;
light grey cores run nothing; dark grey sites are disabled.
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


def _panel(fig, ax, data: np.ndarray, r: Report, title: str, label: str, **kw) -> None:
    import matplotlib as mpl

    cmap = mpl.colormaps[kw.pop("cmap", "viridis")].with_extremes(bad=UNUSED)
    w, h, gw, gh = _grid(r)
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, extent=extent, interpolation="nearest", **kw)  # fmt: skip
    over = np.zeros((h, w, 4))
    mask = disabled_mask(r)
    over[mask] = DISABLED
    ax.imshow(over, extent=extent, interpolation="nearest")
    ys, xs = np.nonzero(mask)
    cell = 330 / max(w, h)  # points per core site on a ~4.6-inch panel
    ax.scatter(xs, ys, marker="x", c="white", s=(0.45 * cell) ** 2, linewidths=max(0.3, cell / 12))
    _chip_lines(ax, r)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(f"global core x  ({r.target.chips[0]} chips of {gw})")
    ax.set_ylabel(f"global core y  ({r.target.chips[1]} chips of {gh})")
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label(label)


def _chip_lines(ax, r: Report) -> None:
    w, h, gw, gh = _grid(r)
    (cx, cy) = r.target.chips
    for i in range(1, cx):
        ax.axvline(i * gw - 0.5, color="white", lw=1.6)
        ax.axvline(i * gw - 0.5, color="black", lw=0.6)
    for j in range(1, cy):
        ax.axhline(j * gh - 0.5, color="white", lw=1.6)
        ax.axhline(j * gh - 0.5, color="black", lw=0.6)
    ax.set_xticks([i * gw for i in range(cx)] + [w - 1])
    ax.set_yticks([j * gh for j in range(cy)] + [h - 1])
    for i in range(cx):
        for j in range(cy):
            ax.text(i * gw - 0.4, j * gh - 0.4, f"chip {i}.{j}", color="black", fontsize=7, va="top", ha="left",
                    bbox={"facecolor": "white", "alpha": 0.6, "pad": 0.5, "lw": 0})  # fmt: skip


def heatmaps_png(r: Report, dpi: int = 110) -> bytes:
    """The three heatmaps as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    fig = Figure(figsize=(18, 6.0), dpi=dpi, layout="constrained")
    axes = fig.subplots(1, 3)
    cap = r.target.sram_bytes / 1024
    _panel(fig, axes[0], sram_grid(r), r, "SRAM high-water mark per core", f"KiB (capacity {cap:,.0f} KiB)", vmin=0, vmax=cap)  # fmt: skip
    links = link_grid(r)
    _link_panel(fig, axes[1], links, r)
    busy = busy_grid(r)
    top = float(np.nanmax(busy)) if np.isfinite(busy).any() else 0.0
    _panel(fig, axes[2], busy, r, "Tile units busy (time in tile ops / total)", f"% of cycles (max {top:.2g}%)", vmin=0, vmax=max(top, 1e-9), cmap="cividis")  # fmt: skip
    legend = [Patch(color=UNUSED, label="core runs nothing / no traffic"), Patch(color=DISABLED, label="disabled site (x)")]  # fmt: skip
    fig.legend(handles=legend, loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle(_title(r), fontsize=13)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _link_panel(fig, ax, links: np.ndarray, r: Report) -> None:
    from matplotlib.colors import LogNorm

    title = "NoC bytes leaving each core (messages + DMA streams)"
    if links.max() <= 0:
        _panel(fig, ax, links, r, title + ": none", "bytes", vmin=0, vmax=1, cmap="Blues")
        return
    shown = np.where(links > 0, links, np.nan)
    norm = LogNorm(vmin=max(np.nanmin(shown), 1), vmax=links.max())
    _panel(fig, ax, shown, r, title, "bytes on its 4 outgoing links (log scale)", norm=norm, cmap="plasma")  # fmt: skip


def _title(r: Report) -> str:
    return (
        f"{r.name} on {r.target.name}: {r.cycles:,} cycles ({r.seconds * 1e6:,.1f} us), "
        f"{len(r.result.cores):,} cores, utilization {fmt_pct(r.utilization)} of peak"
    )
