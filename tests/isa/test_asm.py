"""Assembler/disassembler: per-row text round trips, the canonical example, the CLI, errors."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings

from d1c.cli import main
from d1c.isa import encoding, spec
from d1c.isa.asm import assemble, assemble_inst
from d1c.isa.d1x import read_d1x
from d1c.isa.disasm import disassemble, format_inst, quote
from d1c.isa.errors import ParseError
from tests.isa.isa_strategies import insts

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "matmul64.s"
ROW_IDS = [r.name for r in spec.ROWS]


@pytest.mark.parametrize("row", spec.ROWS, ids=ROW_IDS)
def test_assemble_disassemble_roundtrip_per_row(row: spec.Row) -> None:
    @settings(max_examples=25, deadline=None)
    @given(insts(row))
    def check(inst: spec.Inst) -> None:
        word = encoding.encode(inst)
        text = format_inst(encoding.decode(word))
        assert encoding.encode(assemble_inst(text)) == word
        assert format_inst(assemble_inst(text)) == text

    check()


def test_operand_syntax_hand_examples() -> None:
    assert format_inst(spec.Inst("lui", (5, 0x3F800))) == "lui x5, 0x3f800"
    assert format_inst(spec.Inst("vred", (3, 2, 0, 1, 0, 1))) == "vred t3, t2, sum, cols, zero, sr"
    assert format_inst(spec.Inst("csrr", (4, 6))) == "csrr x4, param"
    assert assemble_inst("beq x1, x2, -3  ; back") == spec.Inst("beq", (1, 2, -3))
    assert assemble_inst("ld x1, x2, 0x10") == spec.Inst("ld", (1, 2, 16))


def test_example_is_canonical() -> None:
    text = EXAMPLE.read_text()
    assert disassemble(assemble(text, str(EXAMPLE))) == text


def test_cli_asm_then_disasm_prints_the_file(tmp_path: Path) -> None:
    out = tmp_path / "m.bin"
    runner = CliRunner()
    res = runner.invoke(main, ["asm", str(EXAMPLE), "-o", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["disasm", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output == EXAMPLE.read_text()


def test_cli_reports_errors_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.s"
    bad.write_text(".code main, 0.0.0.0\n    add x1, x2, t3\n")
    res = CliRunner().invoke(main, ["asm", str(bad), "-o", str(tmp_path / "x.bin")])
    assert res.exit_code == 1
    assert f"{bad}:2:17: error: expected a register x0..x31, got 't3'" in res.output
    assert "    add x1, x2, t3\n" + " " * 18 + "^" in res.output
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"D1X\x00\x01\x00")
    res = CliRunner().invoke(main, ["disasm", str(junk)])
    assert res.exit_code == 1 and "byte offset 6: truncated header" in res.output
    assert "Traceback" not in res.output


LABELS = """\
.code main, 0.0.0.0
start:
    li x1, 3
loop_top:
    addi x1, x1, -1
    bne x1, x0, loop_top
    beq x0, x0, done
    j start
done:
    halt
"""


def test_labels_resolve_to_word_offsets() -> None:
    prog = assemble(LABELS)
    words = encoding.decode_words(prog.code[0].code)
    assert words[2] == spec.Inst("bne", (1, 0, -1))  # index 2 -> loop_top at 1
    assert words[3] == spec.Inst("beq", (0, 0, 2))  # index 3 -> done at 5
    assert words[4] == spec.Inst("j", (-4,))  # index 4 -> start at 0
    assert dict(prog.code[0].labels) == {"start": 0, "loop_top": 1, "done": 5}
    assert disassemble(prog).endswith(LABELS)


def test_comments_are_kept_with_their_instruction() -> None:
    src = '; top note\n.target "mini"\n.code k, 0.0.0.0\n    nop ; first\n    ; before halt\n    halt\n    ; tail\n'
    prog = assemble(src)
    assert prog.notes == ("top note",)
    assert prog.code[0].comments == ((0, "first"), (1, "before halt"), (2, "tail"))
    assert disassemble(prog).splitlines()[4:] == [
        "    ; first",
        "    nop",
        "    ; before halt",
        "    halt",
        "    ; tail",
    ]


def test_implicit_section_and_default_target() -> None:
    prog = assemble("halt\n")
    assert prog.target == "dojo-tile"
    assert prog.code[0].name == "main" and str(prog.code[0].cores[0]) == "0.0.0.0"


def test_data_directives_produce_little_endian_bytes() -> None:
    prog = assemble(
        '.sram 0x40, 0.0.0-1.0\n.word 1, -1\n.half 0x1234\n.byte 255, -1\n.float 1.5, -2\n.hex "a0 b1"\n'
    )
    want = struct.pack("<IIHBBff", 1, 0xFFFFFFFF, 0x1234, 255, 255, 1.5, -2.0) + b"\xa0\xb1"
    (img,) = prog.sram
    assert img.addr == 0x40 and img.data == want and str(img.cores[0]) == "0.0.0-1.0"


def test_strings_roundtrip_through_quote() -> None:
    data = bytes(range(256))
    prog = assemble(f'.blob b, {quote(data)}\n.meta "k\u00e9y", {quote("v")}\n')
    assert prog.blobs == (("b", data),) and prog.meta == (("k\u00e9y", "v"),)
    assert assemble(disassemble(prog)) == prog


def test_whole_program_text_roundtrip_via_container() -> None:
    prog = assemble(EXAMPLE.read_text())
    assert read_d1x(prog.to_bytes()) == prog


@pytest.mark.parametrize(
    ("src", "line", "col", "msg"),
    [
        ("    add x1, x2\n", 1, 5, "add takes 3 operands"),
        ("nop\n  foo x1\n", 2, 3, "unknown instruction 'foo'"),
        ("vadd t1, t2, t3, rnz\n", 1, 18, "rnd must be one of rne, sr"),
        ("tshapei t0, 1024, 1\n", 1, 13, "out of range 0..1023"),
        ("beq x1, x2, nowhere\n", 1, 13, "undefined label 'nowhere'"),
        ("a:\na:\n", 2, 1, "label 'a' is already defined"),
        ("add x1,, x2\n", 1, 8, "unexpected ','"),
        (".bogus 1\n", 1, 1, "unknown directive .bogus"),
        (".word 1\n", 1, 1, ".word outside an .sram or .hbm image"),
        (".code a, 0.0.0.0\n.code a, 0.0.0.1\n", 2, 7, "already defined"),
        (".param 0.0.0-1.0, 1\n", 1, 8, "single core"),
        (".place hbm, 0, [0:1], [1]\n", 1, 1, ".place must follow a .symbol"),
        ('.symbol a, input, bf17, 0, [1], ""\n', 1, 19, "format must be one of"),
        ('.blob a, "\\q"\n', 1, 10, "unknown escape"),
        ("li x1, @\n", 1, 8, "unexpected character '@'"),
    ],
)
def test_errors_point_at_line_and_column(src: str, line: int, col: int, msg: str) -> None:
    with pytest.raises(ParseError) as info:
        assemble(src, "t.s")
    err = info.value
    assert msg in err.message and (err.loc.line, err.loc.col) == (line, col)
    rendered = err.render().splitlines()
    assert rendered[0].startswith(f"t.s:{line}:{col}: error:")
    assert (
        rendered[1] == "  " + src.splitlines()[line - 1]
        and rendered[2] == "  " + " " * (col - 1) + "^"
    )


COMPILED = [
    ("mlp.py", "mini", "bf16"),
    ("cnn.py", "mini", "cfp8"),
    ("gpt_block.py", "mini", "bf16"),
    ("gpt_block.py", "dojo-tile", "cfp8"),
    ("transformer.py", "mini", "bf16"),
    ("attention.d1", "mini", "bf16"),
]


@pytest.mark.parametrize(("example", "target", "dtype"), COMPILED)
def test_disasm_then_asm_is_the_identity_on_compiled_examples(
    example: str, target: str, dtype: str
) -> None:
    """Every program d1c writes (here: each example, with its host-IR blob, symbols, images and
    parameter rows) disassembles to text that assembles back to the same bytes."""
    from d1c import driver

    src = driver.load_source(str(EXAMPLE.parent / example))
    inputs = src.inputs or driver.random_inputs(src.module)
    opts = driver.Options(target, dtype, tuple(inputs))
    prog = driver.build(driver.compile_stages(src.module, "placed", opts)["placed"], opts)
    assert prog.blobs, "a compiled program carries blobs (host IR): the case that broke"
    text = disassemble(prog)
    assert assemble(text, "listing.s").to_bytes() == prog.to_bytes()


def test_names_that_are_not_bare_words_are_quoted_and_read_back() -> None:
    prog = assemble('.blob "host-ir", "x"\n.blob plain, "y"\n')
    text = disassemble(prog)
    assert '.blob "host-ir", "x"' in text and ".blob plain, " in text
    assert assemble(text) == prog


def test_an_error_on_a_long_line_shows_a_window_around_the_column() -> None:
    src = ".blob a, " + '"' + "z" * 8000 + '", @\n'
    with pytest.raises(ParseError) as info:
        assemble(src, "long.s")
    text, caret = info.value.render().splitlines()[1:3]
    assert len(text) < 120 and text.startswith("  ...") and text.rstrip().endswith("@")
    assert text[caret.index("^")] == "@"
