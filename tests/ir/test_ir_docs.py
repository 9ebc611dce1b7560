from pathlib import Path

from d1c.ir.docs import render
from d1c.ir.ops import OPS

DOC = Path(__file__).resolve().parents[2] / "docs" / "ir.md"


def test_ir_reference_is_current() -> None:
    assert DOC.read_text() == render(), (
        "docs/ir.md is stale: run `python -m d1c.ir.docs > docs/ir.md`"
    )


def test_every_op_is_documented() -> None:
    text = DOC.read_text()
    for name, op in OPS.items():
        assert f"| `{name}` |" in text
        assert op.doc, f"op {name} has no doc string"
