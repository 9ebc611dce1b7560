"""The one error hierarchy of d1c.

It lives in the bottom layer (``d1c.isa``) so that every package can raise it without breaking the
one-way dependency rule; ``d1c.errors`` re-exports it for the rest of the project.

Every user-facing failure is a :class:`D1cError`. It carries an optional :class:`Loc` and renders
as ``file:line:col: error: message``, followed by the source line and a caret when the source text
is available, and an optional hint.
"""

from __future__ import annotations

import linecache
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
            lines.append(f"  {text}")
            lines.append("  " + " " * (max(self.loc.col, 1) - 1) + "^")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


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
