"""Generate the ISA reference page ``docs/isa.md`` from the instruction table.

Run ``python -m d1c.isa.docs`` to rewrite the page; ``tests/isa/test_docs.py`` fails when the
committed page differs from :func:`render`, so the page can never drift from the table.
"""

from __future__ import annotations

import sys
from pathlib import Path

from d1c.isa import asm, d1x, spec, tiles

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "isa.md"

_INTRO = """\
# D1 tile ISA reference

Generated from `isa/spec.py` by `python -m d1c.isa.docs`; do not edit by hand.

The machine figures cite `docs/targets.md` ("facts §n"). Tesla's real
instruction set and encoding are not public (facts §1), so this ISA is a documented design:
a RISC-like scalar side ("resembles RISC-V on the scalar side", facts §1) plus tile-descriptor,
matrix, vector, move, DMA, NoC and sync instructions. Items marked [A] are assumptions.

## Machine model in one screen

- **Words**: every instruction is one fixed 32-bit little-endian word (facts §7: 4 B fixed [A]).
  Bits 0..6 are the opcode; the format places the other fields; uncovered bits are reserved and
  must be 0; opcode 0 is invalid. Offsets of branches count words from the branch itself.
- **Scalar registers** `x0..x31`, 32-bit, `x0` = 0. The real core is 64-bit (facts §1); 32 bits
  cover the 2 MiB SRAM space [A]. HBM addresses take a register pair (lo, hi).
- **Tile-descriptor registers** `t0..t15`: SRAM base, rows, cols, row stride in bytes (0 = dense),
  format, bias. Formats: {fmts}. Elements are little-endian, rows contiguous.
- **Special registers** (read by `csrr`, `flags`/`srseed` written by `csrw`): table below. Core
  coordinates are packed as `chip_x<<24 | chip_y<<16 | core_x<<8 | core_y`.
- **SRAM** 1.25 MiB per core, byte addressed (facts §1, §7). **HBM**: DIP d owns global addresses
  `[d<<35, (d+1)<<35)` (32 GB per DIP, 5 per tile, facts §3); window 31, `[31<<35, 32<<35)`, is
  *striped*: its 4 KiB stripe s is served by DIP `s mod dips`, so one tensor streams from every DIP.
- **Numerics** (docs/design.md §4): tile operands are decoded to fp32, computed in fp32 by the row's
  semantics function, rounded to the destination format with the instruction's rounding mode
  (`rne` or `sr`). Stochastic rounding uses `seed = srseed`, `stream = 0`, element index = flat
  row-major index in the destination tile; the compiler sets `srseed`. NaN results are
  canonical (0x7fc00000) so results never depend on the host.
- **mma**: `acc = fp32(acc + fp32(a_k * b_k))` for k = 0..K-1 in order over the whole [M,N]
  block, never fused; inputs bf16/fp16/cfp8/shp; accumulator fp32. Cost per 8x8x4 step
  (256 MAC/cycle, facts §1).
- **Reductions** are sequential from index 0 in fp32, starting from the identity (-0.0 for sum,
  -inf for max, +inf for min) or from the destination in `acc` mode.
- **DMA** is asynchronous per tag (`dma.wait tag`); **send** is non-blocking (the bytes leave at
  issue), **recv** blocks until the message of (source, tag) arrives, in order per
  (source, destination, tag); **mcast** sends to every core of a mesh row or column segment.
"""


def _syntax(row: spec.Row) -> str:
    return f"`{row.name}" + (" " + ", ".join(row.operands) if row.operands else "") + "`"


def _sem_name(row: spec.Row) -> str:
    if row.sem is None:
        return "—"
    return f"`{row.sem.__module__.rsplit('.', 1)[-1]}.{row.sem.__name__}`"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |" for r in rows]
    return [*out, ""]


def _layout(fields: tuple[spec.Field, ...]) -> str:
    parts = ["0-6 opcode"]
    for f in sorted(fields, key=lambda f: f.lo):
        kind = f"{f.kind}:{f.enum}" if f.enum else f.kind
        parts.append(f"{f.lo}-{f.lo + f.width - 1} {f.name} ({kind})")
    return "; ".join(parts)


def _formats() -> list[str]:
    rows = [[f"`{name}`", _layout(fields)] for name, fields in spec.FORMATS.items()]
    kinds = (
        "Operand kinds: `xreg` scalar register, `treg` tile register, `simm` signed and `uimm`"
        " unsigned immediate, `hex` unsigned immediate printed in hex, `off` signed word offset"
        " (a label in assembly), `enum` a name from the enum table. All other bits are reserved."
    )
    return ["## Bit-field formats", "", *_table(["format", "bits (LSB first)"], rows), kinds, ""]


def _enums() -> list[str]:
    rows = [
        [f"`{e}`", ", ".join(f"{n}={c}" for n, c in vals.items())] for e, vals in spec.ENUMS.items()
    ]
    sregs = [[f"`{n}`", str(spec.ENUMS["sreg"][n]), d] for n, d in spec.SREGS.items()]
    return [
        "## Enums",
        "",
        *_table(["enum", "name=code"], rows),
        "## Special registers",
        "",
        *_table(["name", "code", "meaning"], sregs),
    ]


def _instructions() -> list[str]:
    out = ["## Instructions", ""]
    for unit in spec.UNITS:
        rows = [r for r in spec.ROWS if r.unit == unit]
        cells = [
            [_syntax(r), f"0x{r.opcode:02x}", r.fmt, r.exec, _sem_name(r), r.doc] for r in rows
        ]
        out += [
            f"### {unit}",
            "",
            *_table(["syntax", "opcode", "format", "exec", "semantics", "effect"], cells),
        ]
    return out


def _units() -> list[str]:
    rows = [[f"`{u}`", hint] for u, hint in spec.UNITS.items()]
    return ["## Timing classes", "", *_table(["unit", "cost hint for the simulator"], rows)]


def _records() -> list[str]:
    dma = [[str(i), f"`{name}`"] for i, name in enumerate(tiles.DMA_DESC_FIELDS)]
    return [
        "## Memory records",
        "",
        "Tile descriptor record for `tld` (16 bytes): word0 base, word1 rows | cols << 16,"
        " word2 stride, word3 format code | bias << 8.",
        "",
        "`dma.list` descriptor (8 little-endian words, 32 bytes; flags bit 0 = SRAM to HBM):",
        "",
        *_table(["word", "field"], dma),
    ]


def _docstring_section(title: str, module: object) -> list[str]:
    return [f"## {title}", "", "```text", (module.__doc__ or "").strip(), "```", ""]


def render() -> str:
    """The full text of ``docs/isa.md``."""
    intro = _INTRO.format(fmts=", ".join(f"`{f}`" for f in tiles.FMT_NAMES))
    parts = [intro, *_formats(), *_enums(), *_instructions(), *_units(), *_records()]
    parts += _docstring_section("Assembly language", asm)
    parts += _docstring_section("The .d1x container", d1x)
    return "\n".join(parts).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> None:
    """Write the page (to ``argv[0]`` if given, else ``docs/isa.md`` of the source tree)."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DOC_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
