"""``coverage_table``: every ATen op of an exported program, whether d1c lowers it, and where.

It runs the importer in collecting mode, so "supported" means "this model's uses of the op lower",
not merely "the op has a lowering": a supported target used in an unsupported way (reading
max-pool indices, a float64 cast) is listed as not supported, with the reason in the note.
"""

from __future__ import annotations

import operator

from torch import fx
from torch.export import ExportedProgram

from d1c.frontend.common import IGNORED_TARGETS, LOWERINGS, node_target, target_name
from d1c.frontend.importer import lower_program
from d1c.frontend.location import node_loc
from d1c.frontend.op_table import Row, describe_inputs, problem_rows, render


def _counted(node: fx.Node) -> bool:
    return (
        node.op == "call_function"
        and node.target is not operator.getitem
        and node_target(node) not in IGNORED_TARGETS
    )


def coverage_rows(ep: ExportedProgram) -> list[Row]:
    """One row per ATen target in first-use order, then rows for other problems (inputs)."""
    _, problems = lower_program(ep)
    broken = {r.op: r for r in problem_rows(problems)}
    rows: dict[str, Row] = {}
    for node in ep.graph.nodes:
        if not _counted(node):
            continue
        name = target_name(node_target(node))
        ok = node.target in LOWERINGS and name not in broken
        row = rows.setdefault(name, Row(name, ok))
        row.add(describe_inputs(node), node_loc(node))
        if name in broken:
            row.notes = broken[name].notes
    return list(rows.values()) + [r for name, r in broken.items() if name not in rows]


def coverage_table(rows: list[Row]) -> str:
    """The coverage table of :func:`coverage_rows` as text, unsupported ops first, then a
    one-line summary."""
    rows = list(rows)
    rows.sort(key=lambda r: r.supported)  # stable: keeps first-use order within each group
    bad = sum(not r.supported for r in rows)
    summary = f"{len(rows)} ops, {len(rows) - bad} supported, {bad} not supported"
    return render(rows) + "\n" + summary
