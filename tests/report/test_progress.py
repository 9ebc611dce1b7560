"""d1c.progress: bars on terminals only, after the delay, erased on close; counts and notes."""

from __future__ import annotations

import io

import pytest

from d1c.progress import Progress, enabled_for, progress, stage, track


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_when_piped() -> None:
    out = io.StringIO()
    with progress("work", 3, stream=out, delay=0) as bar:
        for _ in range(3):
            bar.update()
    assert out.getvalue() == ""
    assert list(track(range(4), "t", stream=out, delay=0)) == [0, 1, 2, 3]
    assert out.getvalue() == ""


def test_draws_on_a_terminal_and_erases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("D1C_PROGRESS", raising=False)
    out = Tty()
    bar = progress("compile", 4, stream=out, delay=0)
    bar.interval = 0
    bar.update(note="graph")
    bar.update(2, note="tiled")
    assert "compile [" + "#" * 6 + "." * 18 + "] 1/4 graph" in out.getvalue()
    assert "] 3/4 tiled" in out.getvalue()
    bar.close()
    assert out.getvalue().endswith("\r\033[K")


def test_env_switch_and_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("D1C_PROGRESS", "0")
    assert not enabled_for(Tty())
    monkeypatch.delenv("D1C_PROGRESS")
    assert enabled_for(Tty()) and not enabled_for(io.StringIO())
    out = Tty()
    with progress("slow", 2, stream=out, delay=60) as bar:
        bar.update()
    assert out.getvalue() == ""  # finished before the delay: nothing drawn


def test_counter_without_total() -> None:
    bar = Progress("sim", None, io.StringIO(), enabled=False, count=12345, note="cycle 7")
    assert bar.line(2.0) == "sim 12,345 cycle 7 2.0s"
    full = Progress("x", 8, io.StringIO(), enabled=False, count=20)
    assert full.line(0.0).startswith("x [" + "#" * 24 + "] 8/8")


def test_track_closes_on_break(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("D1C_PROGRESS", raising=False)
    out = Tty()
    gen = track(iter(range(100)), "loop", 100, stream=out, delay=0)
    for i in gen:
        if i == 5:
            break
    gen.close()
    assert out.getvalue().endswith("\r\033[K")


def test_stages_name_what_runs_in_the_innermost_open_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("D1C_PROGRESS", raising=False)
    stage("nothing open")  # a no-op, not an error
    out = Tty()
    with progress("verify", 3, stream=out, delay=0):
        stage("compile")
        stage("simulate")  # drawn at once, however soon after the previous stage
    shown = out.getvalue()
    assert "verify [########................] 1/3 compile" in shown
    assert "] 2/3 simulate" in shown and shown.endswith("\r\033[K")


def test_benchmarks_name_the_item_they_measure(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    monkeypatch.setattr(sys, "stderr", Tty())
    from bench_common import each

    assert list(each(["gemm", "resnet"], "utilization")) == ["gemm", "resnet"]
    shown = sys.stderr.getvalue()
    assert "utilization [############............] 1/2 gemm" in shown and "2/2 resnet" in shown
