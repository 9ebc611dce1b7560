"""docs/isa.md is generated from the table: a stale page fails here."""

from __future__ import annotations

from pathlib import Path

from d1c.isa import docs, spec

PAGE = Path(__file__).resolve().parents[2] / "docs" / "isa.md"


def test_page_is_up_to_date() -> None:
    assert PAGE.read_text(encoding="utf-8") == docs.render(), "run: python -m d1c.isa.docs"


def test_page_lists_every_row_format_and_enum() -> None:
    text = docs.render()
    for row in spec.ROWS:
        assert f"| `{row.name}" in text and f"0x{row.opcode:02x}" in text, row.name
    for name in spec.FORMATS:
        assert f"| `{name}` |" in text
    for enum, values in spec.ENUMS.items():
        assert f"| `{enum}` |" in text and all(f"{n}={c}" in text for n, c in values.items())


def test_main_writes_the_rendered_page(tmp_path: Path) -> None:
    out = tmp_path / "isa.md"
    docs.main([str(out)])
    assert out.read_text(encoding="utf-8") == docs.render()
