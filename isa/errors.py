"""The one error hierarchy of d1c.

It lives in the bottom layer (``d1c.isa``) so that every package can raise it without breaking the
one-way dependency rule; ``d1c.errors`` re-exports it for the rest of the project.

Every user-facing failure is a :class:`D1cError`. It carries an optional :class:`Loc` and renders
as ``file:line:col: error: message``, followed by the source line and a caret when the source text
is available, and an optional hint.
"""

from __future__ import annotations

import difflib
import linecache
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Loc:
    """A source position: a file (or ``<stdin>``), a 1-based line and a 1-based column."""

    file: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class D1cError(Exception):
    """Base of every error d1c reports to a user. Never a bare Python traceback."""

    kind = "error"

    def __init__(
        self,
        message: str,
        loc: Loc | None = None,
        *,
        hint: str | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.hint = hint
        self.source = source

    def render(self) -> str:
        """The full diagnostic: position, message, the source line with a caret, and the hint."""
        head = (
            f"{self.loc}: {self.kind}: {self.message}"
            if self.loc
            else f"{self.kind}: {self.message}"
        )
        lines = [head]
        text = _source_line(self.loc, self.source)
        if text is not None:
            shown, caret = source_window(text, max(self.loc.col, 1))
            lines.append(f"  {shown}")
            lines.append("  " + " " * (caret - 1) + "^")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"did you mean 'x'? "`` for the choice closest to a misspelt ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


WINDOW = 100  # characters of a source line shown with a caret; longer lines show a window


def source_window(text: str, col: int, width: int = WINDOW) -> tuple[str, int]:
    """``text`` cut to at most ``width`` characters around 1-based column ``col`` (elided ends
    marked ``...``), and the caret's column in the cut text."""
    if len(text) <= width:
        return text, col
    half = width // 2
    start = min(max(col - 1 - half, 0), len(text) - width)
    head = "..." if start > 0 else ""
    tail = "..." if start + width < len(text) else ""
    return head + text[start : start + width] + tail, col - start + len(head)


def _source_line(loc: Loc | None, source: str | None) -> str | None:
    if loc is None or loc.line < 1:
        return None
    if source is not None:
        lines = source.splitlines()
        return lines[loc.line - 1].expandtabs(1) if loc.line <= len(lines) else None
    text = linecache.getline(loc.file, loc.line)
    return text.rstrip("\n").expandtabs(1) or None


class ParseError(D1cError):
    """Malformed text: IR, assembly."""


class VerifyError(D1cError):
    """Well-formed text that breaks a rule (types, shapes, SSA)."""


class DecodeError(D1cError):
    """Bytes that are not a valid instruction or ``.d1x`` file; the message names the byte offset."""


class UnsupportedError(D1cError):
    """A model uses operations d1c cannot lower."""


class CompileError(D1cError):
    """The compiler cannot map a valid program (for example SRAM overflow)."""


class InternalError(CompileError):
    """The compiler broke one of its own invariants (a bug in d1c, not in the input): for
    example a kernel that reads bytes no earlier kernel wrote. Fuzzing reports it as a failure,
    never as a rejected input."""


class AccuracyError(D1cError):
    """The verification ladder found a wrong number at an op: NaN or infinity where the float64
    reference is finite, or a result outside the rounding bound of its own operands."""


class SimulationError(D1cError):
    """A simulated fault: out-of-bounds access, invalid instruction, deadlock."""
