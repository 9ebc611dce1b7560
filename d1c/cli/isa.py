"""``d1c asm`` and ``d1c disasm``: assembly text to a ``.d1x`` container and back.

``d1c asm FILE.s -o FILE.bin`` writes the program as ``.d1x`` bytes (the container holds the
sections, labels and comments, so ``d1c disasm FILE.bin`` prints the canonical text again; for a
file already in canonical form that is the file itself).
"""

from __future__ import annotations

from pathlib import Path

import click

from d1c.cli import main
from d1c.errors import D1cError, DecodeError
from d1c.isa.asm import assemble
from d1c.isa.d1x import read_d1x
from d1c.isa.disasm import disassemble


def _read(path: str, binary: bool) -> str | bytes:
    try:
        p = Path(path)
        return p.read_bytes() if binary else p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise D1cError(f"cannot read {path}: {err}") from None


@main.command()
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="output .d1x/.bin file")
def asm(source: str, output: str | None) -> None:
    """Assemble SOURCE (D1 assembly) into a .d1x container."""
    program = assemble(_read(source, binary=False), file=source)
    out = output or str(Path(source).with_suffix(".d1x"))
    data = program.to_bytes()
    try:
        Path(out).write_bytes(data)
    except OSError as err:
        raise D1cError(f"cannot write {out}: {err}") from None
    words = sum(len(s.code) // 4 for s in program.code)
    sections = f"{len(program.code)} code section{'s' if len(program.code) != 1 else ''}"
    click.echo(
        f"wrote {out}: {len(data):,} bytes, {sections}, {words:,} instructions, target {program.target}",
        err=True,
    )


@main.command()
@click.argument("binary", type=click.Path(dir_okay=False))
@click.option(
    "--elide-data/--keep-data",
    default=None,
    help="Leave the .hex lines of SRAM/HBM images out, or keep them (default: left out on a "
    "terminal; a redirected listing keeps them and assembles back to the same bytes).",
)
def disasm(binary: str, elide_data: bool | None) -> None:
    """Print the canonical assembly text of a .d1x container."""
    from d1c.driver import write_listing

    data = _read(binary, binary=True)
    try:
        program = read_d1x(data)
    except DecodeError as err:
        raise DecodeError(f"{binary}: {err.message}") from None
    text_of = lambda e: disassemble(program, elide_data=e)  # noqa: E731
    write_listing(text_of, None, elide_data, bool(program.sram or program.hbm))
