"""The generated table of ``docs/targets.md`` (§9, the shipped targets); a test fails when it is
stale. The rest of the page (the public figures and their sources) is written by hand.

Regenerate with ``python -m d1c.target.docs`` (rewrites the table in place).
"""

from __future__ import annotations

from pathlib import Path

from d1c.target import list_targets, load_target

PAGE = Path(__file__).resolve().parents[2] / "docs" / "targets.md"
BEGIN = (
    "<!-- generated from d1c/target/*.toml by `python -m d1c.target.docs` (a test checks it) -->"
)
END = "<!-- end of generated table -->"
HEAD = (
    "| target | chips | cores per chip (grid - disabled) | cores | SRAM/core | SRAM total "
    "| BF16 TFLOPS | DIPs | description |"
)


def _row(name: str) -> str:
    t = load_target(name)
    cx, cy = t.chips
    gx, gy = t.chip_grid
    tflops = t.peak_flops / 1e12
    return (
        f"| `{t.name}` | {cx}x{cy} | {gx}x{gy} (-{len(t.disabled)}) | {t.num_cores:,} | "
        f"{t.sram_bytes / 2**20:g} MiB | {t.num_cores * t.sram_bytes / 1e9:,.2f} GB | {tflops:,.1f} | "
        f"{int(t.dip['count'])} | {t.description} |"
    )


def table() -> str:
    rows = [HEAD, "|---|---|---|---|---|---|---|---|---|", *(_row(n) for n in list_targets())]
    return "\n".join(rows) + "\n"


def render(page: str) -> str:
    """``page`` with the text between its generated-table markers replaced by :func:`table`."""
    head, _, rest = page.partition(BEGIN + "\n")
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table()}{END}{tail}"


if __name__ == "__main__":
    PAGE.write_text(render(PAGE.read_text()))
