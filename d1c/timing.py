"""Where the wall-clock time of one command goes: the ``--time-passes`` table.

A command that was asked for timings runs inside :func:`recording`; the code it calls marks its
phases with :func:`phase` (a no-op when nothing records), and the pass manager adds one row per
pass and its verifier time, grouped under the stage that runs them (:func:`group`). The table
(:func:`render`) covers the whole command, from the start of the process (:data:`STARTED`) to
the end:
start-up, loading the model, torch.export, each pass of each stage, instruction selection,
emission, the host code, writing the output — and ``(other)``, the time between phases, so the
rows add up to the total::

    with recording() as tl:
        with phase("torch.export"):
            ...
    print(render(tl, "d1c compile"))
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def _process_start() -> float:
    """The ``perf_counter()`` reading at which this process started: from ``/proc`` on Linux
    (to the kernel's clock tick), elsewhere the first import of this module."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime, counted from field 3 after the name
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return time.perf_counter()
    return time.perf_counter() - max(uptime - ticks / os.sysconf("SC_CLK_TCK"), 0.0)


STARTED = _process_start()
RULE = "===" + "-" * 73 + "===\n"


@dataclass
class Timeline:
    """Phases in the order they ended: (group, name, seconds); ``start`` is d1c's import."""

    rows: list[tuple[str, str, float]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    start: float = STARTED

    def add(self, name: str, seconds: float) -> None:
        """Record a phase; repeated (group, name) rows are summed."""
        key = (self.groups[-1] if self.groups else "", name)
        for i, (g, n, s) in enumerate(self.rows):
            if (g, n) == key:
                self.rows[i] = (g, n, s + seconds)
                return
        self.rows.append((*key, seconds))


_ACTIVE: list[Timeline] = []


def active() -> Timeline | None:
    """The timeline being recorded, if any."""
    return _ACTIVE[-1] if _ACTIVE else None


@contextmanager
def recording(*, since_import: bool = True) -> Iterator[Timeline]:
    """Record the phases of the enclosed work: a whole command (``since_import``: the first
    row is the start-up since :data:`STARTED`), or just the enclosed work."""
    tl = Timeline() if since_import else Timeline(start=time.perf_counter())
    if since_import:
        tl.add("start-up (Python, d1c and click imports)", time.perf_counter() - tl.start)
    _ACTIVE.append(tl)
    try:
        yield tl
    finally:
        _ACTIVE.pop()


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the enclosed work as one row (when a timeline is recording)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        tl = active()
        if tl is not None:
            tl.add(name, time.perf_counter() - start)


@contextmanager
def group(name: str) -> Iterator[None]:
    """Rows recorded inside belong to ``name`` (a stage of the pipeline)."""
    tl = active()
    if tl is not None:
        tl.groups.append(name)
    try:
        yield
    finally:
        if tl is not None:
            tl.groups.pop()


def render(tl: Timeline, title: str) -> str:
    """The table: one row per phase in order, ``(other)`` for the time between them, a total."""
    total = time.perf_counter() - tl.start
    rows = [(f"{g}: {n}" if g else n, s) for g, n, s in tl.rows]
    rows.append(("(other: between the phases above)", max(total - sum(s for _, s in rows), 0.0)))
    lines = [RULE, f"{title}: wall-clock time".center(79).rstrip() + "\n", RULE]
    lines.append(f"  Total: {total:.4f} s\n\n   seconds       %  phase\n")
    for name, seconds in [*rows, ("total", total)]:
        pct = 100.0 * seconds / total if total else 0.0
        lines.append(f"  {seconds:8.4f}  {pct:6.1f}  {name}\n")
    return "".join(lines)
