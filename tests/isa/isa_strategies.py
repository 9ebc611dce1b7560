"""Hypothesis strategies shared by the ISA tests: instructions of any table row."""

from __future__ import annotations

from hypothesis import strategies as st

from d1c.isa.spec import ENUMS, ROWS, Field, Inst, Row, field_range


def field_values(f: Field) -> st.SearchStrategy[int]:
    """Every value the field can encode (enums: only defined codes)."""
    if f.kind == "enum":
        return st.sampled_from(sorted(ENUMS[f.enum].values()))
    lo, hi = field_range(f)
    return st.integers(lo, hi)


def insts(row: Row) -> st.SearchStrategy[Inst]:
    """Instructions of ``row`` with every operand drawn over its whole range."""
    return st.tuples(*(field_values(f) for f in row.fields)).map(lambda a: Inst(row.name, a))


def any_inst() -> st.SearchStrategy[Inst]:
    """An instruction of any row."""
    return st.sampled_from(ROWS).flatmap(insts)
