"""d1c report: figures against independent oracles (the model's shapes, the simulator run on its
own, hand-computed target figures, the source file), kernels mapped to their ops, SRAM against
the compile-time layout, heatmap data, and the terminal/JSON/PNG/HTML outputs."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from d1c.cli import main
from d1c.codegen.emit import input_arrays
from d1c.codegen.kernel_table import kernel_ops
from d1c.report.collect import Roofline, report_program
from d1c.report.plot import disabled_mask, link_grid, sram_grid
from d1c.report.render import links_total, render_text, to_json
from d1c.runtime.sim import simulate
from d1c.target import load_target
from tests.report.report_helpers import MLP, ROOT

MINI = load_target("mini")
MLP_LINES = (Path(MLP).read_text().splitlines(), 23)  # line 23: x = torch.relu(self.fc1(x))


@pytest.fixture(scope="module")
def mlp_report(mlp_build):
    src, placed, prog = mlp_build
    arrays = input_arrays(placed.main, src.inputs, prog)
    return report_program(prog, MINI, arrays, name="mlp", dtype="bf16")


def test_totals_against_the_model_and_a_separate_run(mlp_report, mlp_build) -> None:
    r, prog = mlp_report, mlp_build[2]
    macs = 8 * (64 * 128 + 128 * 128 + 128 * 10)  # batch 8 through the three Linear layers
    assert r.macs == macs
    alone = simulate(prog, MINI, None, timing_only=True)
    assert r.cycles == alone.cycles and r.seconds == alone.cycles / 2e9
    assert r.utilization == pytest.approx(macs / (15 * 4 * 256 * alone.cycles))  # 60 cores
    assert r.roofline.dip_bytes_per_cycle == 400.0  # 1 DIP, min(800, 900) GB/s at 2 GHz
    assert r.roofline.bytes == alone.total("dma_bytes")


def test_kernels_map_to_ops_and_source_lines(mlp_report, mlp_build) -> None:
    r, placed = mlp_report, mlp_build[1]
    ops = kernel_ops(placed)
    kernels = [o for o in r.ops if o.op != "(tail)"]
    assert [o.op for o in kernels] == [op.name for op in ops]
    # kernels overlap (no barrier), but each starts after the previous one started, the first
    # after the three prologue instructions; the program ends after the last kernel's events
    # (a core's last tokens and halt take a few cycles)
    assert [o.start for o in r.ops] == sorted(o.start for o in r.ops)
    last = max(o.start + o.cycles for o in r.ops)
    assert r.ops[0].start == 3 and r.cycles - 16 <= last <= r.cycles
    assert sum(o.cycles for o in r.ops) >= r.cycles - r.ops[0].start - 1
    lines, first = MLP_LINES
    assert kernels[0].loc.endswith(f"mlp.py:{first}")
    assert kernels[0].source == lines[first - 1].strip()
    for o, op in zip(kernels, ops, strict=True):
        if op.name == "matmul":
            (m, k), n = op.operands[0].type.shape[-2:], op.operands[1].type.shape[-1]
            assert o.macs == m * n * k
        else:
            assert o.macs == 0


def test_sram_against_the_compile_time_layout(mlp_report) -> None:
    r = mlp_report
    assert max(s.peak for s in r.sram) == int(r.meta["sram_peak"])
    assert len(r.sram) == int(r.meta["cores"])
    for s in r.sram:
        # tiles (kernel buffers and the resident tensors above them) sit below the records
        assert 0 < s.buffers <= s.peak - s.records - s.params
        assert s.params == 4 * (1 + 2 * int(r.meta["kernels"]))
    chips = r.chips()
    assert sum(c["cores"] for c in chips) == len(r.sram)
    assert chips[0]["capacity"] == 15 * 256 * 1024


def test_roofline_arithmetic() -> None:
    roof = Roofline(macs=10_000, bytes=4_000, compulsory=1_000, peak_macs_per_cycle=100,
                    dip_bytes_per_cycle=20.0)  # fmt: skip
    assert roof.cycles() == 200 and roof.bound() == "memory"  # 4000 B / 20 > 10000 / 100
    assert roof.cycles(1_000) == 100 and roof.bound(1_000) == "compute"


def test_heatmap_data(mlp_report) -> None:
    r = mlp_report
    grid = sram_grid(r)
    assert grid.shape == (8, 8)
    for s in r.sram:
        x, y = s.coord[0] * 4 + s.coord[2], s.coord[1] * 4 + s.coord[3]
        assert grid[y, x] == s.peak / 1024
    assert np.isnan(grid).sum() == 64 - len(r.sram)
    assert sorted(zip(*np.nonzero(disabled_mask(r)), strict=True)) == [
        (2, 3),
        (2, 7),
        (6, 3),
        (6, 7),
    ]
    assert link_grid(r).sum() == sum(links_total(r).values()) > 0


def test_text_and_json(mlp_report) -> None:
    r = mlp_report
    text = render_text(r)
    assert text.startswith("d1c report mlp  target mini  dtype bf16")
    assert f"{r.cycles:,} cycles" in text and "x = torch.relu(self.fc1(x))" in text
    data = json.loads(json.dumps(to_json(r)))
    assert data["cycles"] == r.cycles and data["macs"] == r.macs
    assert data["utilization"] == pytest.approx(r.utilization)
    assert [o["op"] for o in data["ops"]] == [o.op for o in r.ops]
    assert {c["core"] for c in data["sram"]["cores"]} == {"0.0.0.0", "0.0.1.0"}
    assert sum(link["bytes"] for link in data["dma_links"]) == sum(r.dma_links.values())


def test_cli_report_d1x_matches_the_model(
    tmp_path: Path, mlp_d1x: Path, mlp_report, monkeypatch
) -> None:
    """A saved program reports like its model: op names, source lines (read at compile time:
    the .d1x is reported from another folder, where examples/mlp.py is not), DMA link loads."""
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["report", str(mlp_d1x), "--timing-only", "--json", "-"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["cycles"] == mlp_report.cycles and data["timing_only"]
    want = to_json(mlp_report)
    strip = ("op", "loc", "source", "sram", "route", "cycles", "start")
    assert [{k: o[k] for k in strip} for o in data["ops"]] == [
        {k: o[k] for k in strip} for o in want["ops"]
    ]
    assert data["ops"][0]["source"] == MLP_LINES[0][MLP_LINES[1] - 1].strip()
    assert data["dma_links"] == want["dma_links"] != [] and data["target"] == "mini"
    peaks = {c["core"]: c["peak"] for c in data["sram"]["cores"]}
    assert peaks == {".".join(map(str, s.coord)): s.peak for s in mlp_report.sram}


def test_cli_errors_are_clean(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["report", str(tmp_path / "none.py")])
    assert res.exit_code == 1 and "does not exist" in res.output and "Traceback" not in res.output
    junk = tmp_path / "junk.d1x"
    junk.write_bytes(b"D1X\x00\x01")
    res = runner.invoke(main, ["report", str(junk)])
    assert res.exit_code == 1 and "Traceback" not in res.output


def check_png(data: bytes) -> None:
    """A PNG at least 1500 px wide with many colours (heatmaps, not a blank canvas)."""
    from matplotlib.image import imread

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    import io

    img = imread(io.BytesIO(data))
    assert img.shape[1] >= 1500 and img.shape[0] >= 500
    colours = np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 200


def check_page(page: str, png: bytes, model_line: str) -> None:
    img = re.search(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert img is not None and base64.b64decode(img.group(1)) == png
    for heading in ("Heatmaps", "Kernels (program order)", "By source line", "SRAM per chip",
                    "SRAM high-water marks", "Busiest NoC links"):  # fmt: skip
        assert f"<h2>{heading}" in page
    assert model_line in page and "utilization" in page and "<script" not in page


def run_acceptance(tmp_path: Path, target: list[str]) -> tuple[str, str, bytes]:
    png, page = tmp_path / "r.png", tmp_path / "r.html"
    args = ["report", str(ROOT / "examples" / "transformer.py"), *target]
    res = CliRunner().invoke(main, [*args, "--png", str(png), "--html", str(page)])
    assert res.exit_code == 0, res.output
    return res.output, page.read_text(), png.read_bytes()


def test_acceptance_transformer_on_mini(tmp_path: Path) -> None:
    out, page, png = run_acceptance(tmp_path, ["--target", "mini"])
    assert "d1c report transformer  target mini" in out and "by source line" in out
    check_png(png)
    check_page(page, png, "return F.linear(input, self.weight, self.bias)")


@pytest.mark.slow
def test_acceptance_transformer_on_dojo_tile(tmp_path: Path) -> None:
    out, page, png = run_acceptance(tmp_path, [])
    assert "target dojo-tile" in out and "of 8,850 cores" in out
    check_png(png)
    check_page(page, png, "return F.linear(input, self.weight, self.bias)")
