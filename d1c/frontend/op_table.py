"""The op table shown by ``d1c coverage`` and by the unsupported-op error.

One row per ATen target (or per problem kind): how often it occurs, whether d1c lowers it, the
input shapes/dtypes it was called with, and the user's source lines. The same renderer serves both
uses, so the error a failing compile prints is a subset of the coverage table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import fx

from d1c.errors import Loc
from d1c.frontend.common import WITH_EFFECTS, Unsupported, elem_of_dtype

MAX_SIGNATURES = 1
HEADER = ("op", "count", "supported", "inputs", "source lines", "note")


@dataclass(frozen=True, slots=True)
class Problem:
    """Something d1c cannot lower: the target, why, the inputs it saw and where it is."""

    target: str
    reason: str
    inputs: str
    loc: Loc | None


@dataclass(slots=True)
class Row:
    """One line of the table, accumulated over all nodes of one target."""

    op: str
    supported: bool
    count: int = 0
    inputs: list[str] = field(default_factory=list)
    locs: list[Loc] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, inputs: str, loc: Loc | None, note: str | None = None) -> None:
        self.count += 1
        if inputs not in self.inputs:
            self.inputs.append(inputs)
        if loc is not None:
            self.locs.append(loc)
        if note and note not in self.notes:
            self.notes.append(note)


def _short(val: object) -> str:
    if not isinstance(val, torch.Tensor):
        return "?"
    try:
        name = str(elem_of_dtype(val.dtype))
    except Unsupported:
        name = str(val.dtype).removeprefix("torch.")
    return f"{name}[{','.join(str(s) for s in val.shape)}]"


def describe_inputs(node: fx.Node) -> str:
    """``f32[2,3], i64[4]``: the tensor inputs of a node, in argument order (an effect token
    threaded by torch.export is no input of the model's op)."""
    nodes = node.all_input_nodes
    if node.target is WITH_EFFECTS:
        nodes = [n for n in nodes if n is not node.args[0]]
    parts = [_short(n.meta.get("val")) for n in nodes]
    return ", ".join(parts) if parts else "-"


def format_lines(locs: Iterable[Loc]) -> str:
    """``examples/mlp.py:12,30 torch/nn/modules/linear.py:134``: lines grouped by file."""
    by_file: dict[str, list[int]] = {}
    for loc in locs:
        lines = by_file.setdefault(loc.file, [])
        if loc.line not in lines:
            lines.append(loc.line)
    return " ".join(f"{f}:{','.join(map(str, sorted(ls)))}" for f, ls in by_file.items()) or "-"


def _inputs_cell(inputs: Sequence[str]) -> str:
    shown = " | ".join(inputs[:MAX_SIGNATURES])
    more = len(inputs) - MAX_SIGNATURES
    return shown + (f" (+{more} more)" if more > 0 else "")


def _cells(row: Row) -> tuple[str, ...]:
    return (
        row.op,
        str(row.count),
        "yes" if row.supported else "no",
        _inputs_cell(row.inputs),
        format_lines(row.locs),
        "; ".join(row.notes),
    )


def render(rows: Sequence[Row]) -> str:
    """A plain-text table with aligned columns (count right-aligned)."""
    cells = [HEADER, *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = []
    for k, c in enumerate(cells):
        parts = [
            v.rjust(w) if i == 1 and k else v.ljust(w)
            for i, (v, w) in enumerate(zip(c, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def problem_rows(problems: Iterable[Problem]) -> list[Row]:
    """Problems grouped by target, in first-seen order."""
    rows: dict[str, Row] = {}
    for p in problems:
        rows.setdefault(p.target, Row(p.target, False)).add(p.inputs, p.loc, p.reason)
    return list(rows.values())


def render_problems(problems: Iterable[Problem]) -> str:
    return render(problem_rows(problems))
