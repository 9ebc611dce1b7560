"""Heatmaps zoom to the cores a program uses, with the whole mesh as an overview and disabled
sites visible: the window by hand, and the rendered pixels of a one-core program on dojo-tile."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from d1c import driver
from d1c.ir import parse_module
from d1c.report.collect import report_program
from d1c.report.plot import heatmaps_figure, used_window, zoomed
from d1c.target import load_target

TILE, MINI = load_target("dojo-tile"), load_target("mini")
ONE_CORE = """module @small {
  func @forward(%x: tensor<64x64xfp32>) -> (tensor<64x64xfp32>) {
    %0 = exp %x : tensor<64x64xfp32>
    return %0
  }
}
"""


def _fake(target, *cores):
    return SimpleNamespace(target=target, result=SimpleNamespace(cores=dict.fromkeys(cores)))


@pytest.mark.parametrize(
    ("target", "cores", "window"),
    [
        # chip 1.0, cores (3, 4) and (5, 6): global x 21..23, y 4..6; 2 sites of padding make
        # 7 x 7, widened to 8 x 8 (the extra site after)
        (TILE, [(1, 0, 3, 4), (1, 0, 5, 6)], (19, 27, 2, 10)),
        (TILE, [(0, 0, 0, 0)], (0, 8, 0, 8)),  # at the corner: moved inside the mesh
        (TILE, [(4, 4, 17, 19)], (82, 90, 92, 100)),  # the far corner
        # a tall window: rows 0..40 padded to -2..43, moved inside the mesh: 0..45
        (TILE, [(0, 0, 0, 0), (0, 2, 0, 0)], (0, 8, 0, 45)),
        (MINI, [(0, 0, 1, 1)], (0, 8, 0, 8)),  # the whole 8 x 8 mesh: no zoom
    ],
)
def test_the_window_is_the_used_cores_padded(target, cores, window) -> None:
    fake = _fake(target, *cores)
    assert used_window(fake) == window
    assert zoomed(fake) == (target is TILE)


@pytest.fixture(scope="module")
def one_core_report():
    module = parse_module(ONE_CORE)
    opts = driver.Options("dojo-tile", "bf16", tuple(driver.random_inputs(module)))
    prog = driver.build(driver.compile_stages(module, "placed", opts)["placed"], opts)
    return report_program(prog, TILE, timing_only=True, name="small")


def _pixel(fig, rgba: np.ndarray, ax, x: float, y: float) -> np.ndarray:
    """The RGB of data point (x, y) of ``ax`` in the rendered figure."""
    px, py = ax.transData.transform((x, y))
    return rgba[round(rgba.shape[0] - py), round(px), :3] / 255.0


def test_a_one_core_program_on_the_tile_is_zoomed_with_an_overview(one_core_report) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.patches import Rectangle

    r = one_core_report
    assert list(r.result.cores) == [(0, 0, 0, 0)]
    fig = heatmaps_figure(r)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    images = [ax for ax in fig.axes if ax.images]
    main, overview = images[:3], images[3:]
    assert len(main) == 3 and len(overview) == 3
    for ax in main:
        assert ax.get_xlim() == (-0.5, 7.5) and ax.get_ylim() == (7.5, -0.5)
        assert not np.allclose(_pixel(fig, rgba, ax, 0, 0), [0.894] * 3, atol=0.01)  # data
        assert np.allclose(_pixel(fig, rgba, ax, 5, 5), [0.894] * 3, atol=0.01)  # unused
    for ax in overview:
        assert ax.get_xlim() == (-0.5, 89.5)
        (box,) = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert (box.get_x(), box.get_y(), box.get_width(), box.get_height()) == (-0.5, -0.5, 8, 8)
        dark = _pixel(fig, rgba, ax, 17, 4)  # a disabled site of chip 0.0
        assert dark.max() < 0.5, dark
    labels = [t.get_text() for t in main[0].get_xticklabels()]
    assert labels[0] == "0\nchip x 0" and all("chip" not in t.get_text() for t in main[0].texts)
