"""Every command the README shows with its output is run, and its output must be the README's.

A shown command is a ``$ d1c ...`` line inside a fenced block of README.md; its output is the
lines after it, up to the next ``$`` line or the end of the block (trailing blank lines
dropped). The commands run as a user runs them: each in a fresh shell (``bash -c``, so pipes and
redirections work) with this interpreter's ``d1c`` first on ``PATH``, in order, in a scratch
folder holding a copy of ``examples/`` (so ``-o gpt.d1x`` then ``d1c run gpt.d1x`` works); their
standard output and error are read together, as a terminal shows them (progress bars are drawn
on terminals only). A command shown without output must run cleanly (exit 0); one shown with
output must print it exactly, except host wall-clock times (``12.3 s``), which the README states
as measured on a named machine; a ``...`` line stands for any lines.

After a change that moves a figure, refresh the README's outputs with
``python tests/test_readme.py --update`` and review the diff.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
HOST_TIME = re.compile(r"\b\d+(\.\d+)? s\b")
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```\n", re.S | re.M)


@dataclass
class Shown:
    """One ``$ command`` of the README with the output printed under it."""

    block: int
    command: str
    output: list[str]
    start: int  # offset in README.md of the first output line
    end: int  # offset just after the last output line


def shown_commands(text: str) -> list[Shown]:
    """The ``$ d1c ...`` commands of ``text`` in order, with their outputs and positions."""
    out = []
    for n, block in enumerate(FENCE.finditer(text)):
        body, base = block.group(1), block.start(1)
        marks = [m for m in re.finditer(r"^\$ (.*)\n", body, re.M)]
        for i, m in enumerate(marks):
            stop = marks[i + 1].start() if i + 1 < len(marks) else len(body)
            lines = body[m.end() : stop].split("\n")
            while lines and not lines[-1].strip():
                lines.pop()
            end = base + m.end() + sum(len(x) + 1 for x in lines)
            out.append(Shown(n, m.group(1), lines, base + m.end(), end))
    return out


def run_shown(command: str, cwd: Path) -> str:
    """What a terminal shows for ``command`` (see the module docstring), run in ``cwd``."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", f"({command}) 2>&1"], cwd=cwd, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, f"{command!r} exited {done.returncode}:\n{done.stdout}"
    return done.stdout


def matches(want: list[str], got: list[str]) -> bool:
    """``got`` equals ``want`` up to host times; a ``...`` line in ``want`` is any lines."""
    if not want:
        return not got
    if want[0].strip() == "...":
        return any(matches(want[1:], got[i:]) for i in range(len(got) + 1))
    if not got or HOST_TIME.sub("T s", want[0]) != HOST_TIME.sub("T s", got[0]):
        return False
    return matches(want[1:], got[1:])


SHOWN = shown_commands(README.read_text())


def run_all(folder: Path) -> list[str]:
    """Each shown command's output, run in order in ``folder`` (a copy of ``examples/`` is
    made there), so that a command can use the files an earlier one wrote."""
    shutil.copytree(ROOT / "examples", folder / "examples")
    return [run_shown(s.command, folder).rstrip("\n") for s in SHOWN]


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return run_all(tmp_path_factory.mktemp("readme"))


def test_the_readme_shows_commands_with_outputs() -> None:
    assert sum(1 for s in SHOWN if s.output) >= 4, [s.command for s in SHOWN]


@pytest.mark.parametrize("i", range(len(SHOWN)), ids=[s.command.split("  #")[0] for s in SHOWN])
def test_readme_command_prints_what_the_readme_shows(i: int, printed: list[str]) -> None:
    shown, got = SHOWN[i], printed[i].split("\n")
    if not shown.output:
        return  # shown without output: running cleanly (checked by run_shown) is all it claims
    assert matches(shown.output, got), (
        f"README.md shows for `{shown.command}`:\n"
        + "\n".join(shown.output)
        + "\n\nbut it prints:\n"
        + "\n".join(got)
        + "\n\n(run `python tests/test_readme.py --update` to refresh the README)"
    )


def update(readme: Path = README) -> None:
    """Rewrite the outputs shown in ``readme`` that no longer match with what the commands
    print now (run as the test runs them)."""
    import tempfile

    text = readme.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = run_all(Path(tmp))
    for s, out in reversed(list(zip(SHOWN, fresh, strict=True))):
        if s.output and not matches(s.output, out.split("\n")):
            text = text[: s.start] + out + "\n" + text[s.end :]
    readme.write_text(text)


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        raise SystemExit("usage: python tests/test_readme.py --update")
    update()


def test_matching_rules() -> None:
    """Only host times and ``...`` lines are free; every other character counts."""
    assert matches(["d1c fuzz: 20 examples, 12.0 s", "no failures"], ["d1c fuzz: 20 examples, 3 s", "no failures"])  # fmt: skip
    assert not matches(["cycles: 15,159 (7.58 us at 2 GHz)"], ["cycles: 15,160 (7.58 us at 2 GHz)"])
    assert not matches(["7.58 us"], ["7.59 us"])  # simulated time is no host time
    assert matches(["a", "...", "z"], ["a", "b", "c", "z"]) and matches(
        ["a", "...", "z"], ["a", "z"]
    )
    assert not matches(["a"], ["a", "extra line"])
    text = "x\n```console\n$ d1c targets   # a comment\nline 1\n\n$ d1c run a.d1x\n```\n"
    (first, second) = shown_commands(text)
    assert first.command == "d1c targets   # a comment" and first.output == ["line 1"]
    assert second.output == [] and text[first.start : first.end] == "line 1\n"


PERFORMANCE = re.compile(r"^\| (.+?) \| (\d+) s \| ([\d,]+) \| ([\d.]+) \|$", re.M)


@pytest.mark.slow
def test_performance_table_is_what_the_benchmark_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """README "Performance today": simulated cycles and x bound of benchmarks/utilization.py
    (compile seconds are host times, measured on the machine the README names)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import utilization

    rows = PERFORMANCE.findall(README.read_text())
    assert len(rows) == len(utilization.WORKLOADS)
    assert utilization.main(["--target", "dojo-tile"]) == 0
    printed = [ln.split() for ln in capsys.readouterr().out.splitlines()[3:]]
    for (_, _, cycles, ratio), got in zip(rows, printed, strict=True):
        assert got[-3] == cycles and float(got[-2]) == pytest.approx(float(ratio), abs=0.01)
