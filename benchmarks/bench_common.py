"""Shared pieces of the example benchmarks: the example models, timing, compiling, tables.

Every benchmark script imports this file from its own folder (``python benchmarks/X.py`` puts
``benchmarks/`` first on ``sys.path``). Timings are host wall-clock seconds (``perf_counter``),
best of ``repeat`` runs; every ratio a script prints is computed from figures measured in that
same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("mlp", "cnn", "gpt_block", "transformer")
T = TypeVar("T")


def example_path(name: str) -> str:
    return str(ROOT / "examples" / f"{name}.py")


def each(items: Iterable[T], label: str) -> Iterator[T]:
    """``items`` one by one under a progress bar that names the current one (on a terminal;
    silent when piped), so a benchmark that takes minutes shows what it is doing."""
    from d1c.progress import progress, stage

    items = list(items)
    with progress(label, len(items), delay=0):
        for item in items:
            stage(str(item))
            yield item


def best_seconds(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The shortest wall time of ``repeat`` calls of ``fn`` and the last call's result."""
    best, out = float("inf"), None
    for _ in range(max(repeat, 1)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


@dataclass
class Build:
    """One example compiled for one target: the program and what it was built from."""

    name: str
    model: object
    inputs: tuple
    placed: object
    program: object
    arrays: dict[str, np.ndarray]
    graph: object


def build(name: str, target: str, dtype: str = "bf16") -> Build:
    """Compile ``examples/<name>.py`` for ``target`` (the ``d1c compile`` path, no timing)."""
    from d1c import driver
    from d1c.codegen.emit import input_arrays
    from d1c.frontend import export_model, load_model

    path = example_path(name)
    model, inputs = load_model(path)
    module = export_model(model, inputs, name=name, user_file=path)
    arrays = [t.detach().numpy() for t in inputs]
    opts = driver.Options(target, dtype, tuple(arrays))
    snaps = driver.compile_stages(module, "placed", opts)
    prog = driver.build(snaps["placed"], opts)
    feeds = input_arrays(snaps["placed"].main, arrays, prog)
    return Build(name, model, inputs, snaps["placed"], prog, feeds, snaps["graph"])


def table(head: list[str], rows: list[list[object]]) -> str:
    """A plain fixed-width table (first column left-aligned, the rest right-aligned)."""
    cells = [[str(h) for h in head]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = []
    for r in cells:
        parts = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(parts))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
