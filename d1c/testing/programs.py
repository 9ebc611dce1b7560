"""Random D1 assembly programs for the ``mini`` target, as text (the input of ``d1c asm``).

A program has a parameter table, one or two code sections on boxes of mini's cores, an SRAM
image, an HBM image with an input symbol, and in each section a preamble that gives four tile
registers distinct SRAM bases, shapes and formats (so that tile ops get past their shape
checks) followed by random instructions of any ISA row with mostly small operands (registers
x0..x5, short offsets, small immediates), labels, and a final ``halt``:

    @given(asm_programs())
    def test_assembler(text):
        try:
            program = assemble(text)
        except D1cError:
            return
        assert read_d1x(program.to_bytes()) == program

Simulate them with a ``max_cycles`` limit: random branches loop.
"""

from __future__ import annotations

from hypothesis import strategies as st

from d1c.isa.disasm import format_inst
from d1c.isa.spec import ENUMS, ROWS, Field, Inst, field_range

SMALL = {"off": (-4, 6), "simm": (-8, 300), "uimm": (0, 40), "xreg": (0, 5), "treg": (0, 4)}
FORMATS = ["fp32", "bf16", "cfp8_143"]
CORE_BOXES = ["0.0.0.0", "0.0.0-1.0", "0-1.0.0.0-1", "1.1.2.3", "0.0.0-3.0-1"]


def _operand(draw: st.DrawFn, f: Field) -> int:
    if f.kind == "enum":
        return draw(st.sampled_from(sorted(ENUMS[f.enum].values())))
    lo, hi = field_range(f)
    if f.kind in SMALL and draw(st.integers(0, 4)) > 0:
        lo, hi = max(lo, SMALL[f.kind][0]), min(hi, SMALL[f.kind][1])
    return draw(st.integers(lo, hi))


def instructions(draw: st.DrawFn) -> str:
    row = draw(st.sampled_from(ROWS))
    return format_inst(Inst(row.name, tuple(_operand(draw, f) for f in row.fields)))


def _preamble(draw: st.DrawFn) -> list[str]:
    lines = []
    for t in range(4):
        rows, cols = draw(st.sampled_from([(4, 4), (1, 8), (8, 1), (2, 16)]))
        lines += [
            f"tbase t{t}, x0, {256 * t}",
            f"tshapei t{t}, {rows}, {cols}",
            f"tfmt t{t}, {draw(st.sampled_from(FORMATS))}, {draw(st.integers(0, 20))}",
        ]
    return lines


def _section(draw: st.DrawFn, name: str, max_insts: int) -> list[str]:
    head = f".code {name}, {draw(st.sampled_from(CORE_BOXES))}"
    body = _preamble(draw) if draw(st.integers(0, 3)) else []
    for i in range(draw(st.integers(0, max_insts))):
        label = f"L{name}{i}: " if draw(st.integers(0, 5)) == 0 else ""
        body.append(label + instructions(draw))
    return [head, *(f"    {ln}" for ln in body), "    halt"]


def _data(draw: st.DrawFn) -> list[str]:
    words = draw(st.lists(st.integers(0, 2**32 - 1), max_size=6))
    lines = [".params 0x3f000, 2", ".param 0.0.0.0, 1, 2"]
    if words:
        lines += [".sram 0x800, 0.0.0.0", ".word " + ", ".join(str(w) for w in words)]
    if draw(st.booleans()):
        lines += [
            ".hbm 0x0",
            '.hex "' + draw(st.binary(max_size=16)).hex() + '"',
            '.symbol x, input, fp32, 0, [2, 2], "row-major"',
            ".place hbm, 0, [0:2, 0:2], [8, 4]",
        ]
    return lines


@st.composite
def asm_programs(draw: st.DrawFn, max_insts: int = 16) -> str:
    """Assembly text of a random program for ``mini`` (see the module docstring)."""
    lines = ['.target "mini"', *_data(draw)]
    for s in range(draw(st.integers(1, 2))):
        lines += _section(draw, f"s{s}", max_insts)
    return "\n".join(lines) + "\n"
