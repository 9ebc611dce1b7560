"""Progress bars for long work (compile stages, simulations, fuzzing) that stay quiet when piped.

A bar is drawn on standard error only when that stream is a terminal, ``D1C_PROGRESS`` is not
``0``, and the work has already taken ``delay`` seconds (so quick commands print nothing even on
a terminal). Redraws are throttled to ``interval`` seconds; closing the bar erases its line, so
what a command prints afterwards starts on a clean line. Nothing here changes results::

    with progress("simulate", total=len(kernels)) as bar:
        for k in kernels:
            ...
            bar.update(note=f"kernel {k}")

    for case in track(cases, "fuzz"):
        ...

A command made of stages opens one bar over them and the code it calls names each stage with
:func:`stage` (a no-op when no bar is open), so a terminal always shows what is running::

    with progress("verify", total=5):
        stage("compile")            # -> verify [#####...] 1/5 compile 3.2s
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO, TypeVar

T = TypeVar("T")
WIDTH = 24  # characters of the bar itself


def enabled_for(stream: TextIO) -> bool:
    """True if bars may be drawn on ``stream``: a terminal, and ``D1C_PROGRESS`` is not ``0``."""
    if os.environ.get("D1C_PROGRESS", "") == "0":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@dataclass
class Progress:
    """A bar over ``total`` steps (or a counter when ``total`` is None)."""

    label: str
    total: int | None = None
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    enabled: bool = True
    delay: float = 0.5
    interval: float = 0.1
    count: int = 0
    note: str = ""
    start: float = field(default_factory=time.monotonic)
    drawn: bool = False
    last: float = 0.0

    def update(self, n: int = 1, note: str | None = None, *, force: bool = False) -> None:
        """Advance by ``n`` steps; redraw if enabled and due (``force``: whatever the redraw
        interval, once the delay has passed)."""
        self.count += n
        if note is not None:
            self.note = note
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.start < self.delay or (now - self.last < self.interval and not force):
            return
        self.last = now
        self._draw(now)

    def _draw(self, now: float) -> None:
        self.stream.write("\r\033[K" + self.line(now - self.start))
        self.stream.flush()
        self.drawn = True

    def line(self, elapsed: float) -> str:
        """The text of the bar: label, bar, count, note and elapsed seconds."""
        if self.total:
            done = min(self.count, self.total)
            fill = WIDTH * done // self.total
            bar = f"[{'#' * fill}{'.' * (WIDTH - fill)}] {done}/{self.total}"
        else:
            bar = f"{self.count:,}"
        note = f" {self.note}" if self.note else ""
        return f"{self.label} {bar}{note} {elapsed:.1f}s"

    def close(self) -> None:
        """Erase the bar's line if one was drawn."""
        if self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.drawn = False

    def __enter__(self) -> Progress:
        _OPEN.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self in _OPEN:
            _OPEN.remove(self)
        self.close()


_OPEN: list[Progress] = []  # bars entered as context managers, innermost last


def stage(note: str) -> None:
    """Start the stage ``note`` of the innermost open bar: count it and show its name (nothing
    happens when no bar is open, e.g. when the caller is not a command on a terminal)."""
    if _OPEN:
        _OPEN[-1].update(1, note=note, force=True)


def progress(
    label: str,
    total: int | None = None,
    *,
    stream: TextIO | None = None,
    enabled: bool | None = None,
    delay: float = 0.5,
) -> Progress:
    """A :class:`Progress` on ``stream`` (default standard error), enabled on terminals only."""
    out = stream if stream is not None else sys.stderr
    on = enabled_for(out) if enabled is None else enabled
    return Progress(label, total, out, on, delay)


def track(
    items: Iterable[T],
    label: str,
    total: int | None = None,
    *,
    stream: TextIO | None = None,
    enabled: bool | None = None,
    delay: float = 0.5,
) -> Iterator[T]:
    """Yield ``items`` while a bar counts them (``total`` defaults to ``len(items)`` if known)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress(label, total, stream=stream, enabled=enabled, delay=delay) as bar:
        for item in items:
            yield item
            bar.update()
