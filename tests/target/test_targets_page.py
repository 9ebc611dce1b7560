"""docs/targets.md: the generated table of shipped targets is current, and the page cites its
sources inside the repository."""

from __future__ import annotations

from d1c.target.docs import PAGE, render


def test_targets_table_is_current() -> None:
    page = PAGE.read_text()
    assert page == render(page), "docs/targets.md is stale: run `python -m d1c.target.docs`"
    assert "| `dojo-tile` | 5x5 | 18x20 (-6) | 8,850 |" in page


def test_every_cited_source_key_is_listed() -> None:
    import re

    page = PAGE.read_text()
    body, _, sources = page.partition("## 8. Sources")
    keys = set(re.findall(r"\*\*([A-Z0-9-]+)\*\*:", sources))
    cited = {
        k
        for group in re.findall(r"\[([A-Z0-9-]+(?:, ?[A-Z0-9-]+)*)\]", body)
        for k in re.split(r",\s*", group)
    }
    cited -= {"A", "I", "S", "S2", "T"}
    assert {"HC34-U", "HC34-S", "WP"} <= keys
    assert cited <= keys, cited - keys
