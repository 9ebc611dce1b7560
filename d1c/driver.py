"""The compiler driver: read a MODEL or IR file, run the stages' pipelines, write IR.

Stages and their pipelines are listed in :data:`STAGES`; ``compile_module`` runs them in order up to
the requested one. Later stages (quantized, tiled, placed, asm) join this list as they land.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from d1c.errors import D1cError
from d1c.ir import Module, parse_module, print_module

IR_SUFFIXES = (".d1",)


@dataclass(frozen=True)
class DebugOptions:
    """The pass-manager knobs of the CLI."""

    print_after_all: bool = False
    print_after: frozenset[str] = field(default_factory=frozenset)
    time_passes: bool = False


def _graph_pipeline() -> str:
    from d1c.passes import GRAPH_PIPELINE

    return GRAPH_PIPELINE


# (stage name, pipeline factory): each stage's pipeline runs on the previous stage's output.
STAGES = (("graph", _graph_pipeline),)
STAGE_NAMES = tuple(name for name, _ in STAGES)


def is_ir_file(spec: str) -> bool:
    return spec == "-" or spec.endswith(IR_SUFFIXES)


def read_ir(spec: str) -> Module:
    """Parse textual IR from a file, or from standard input for ``-``."""
    if spec == "-":
        return parse_module(sys.stdin.read(), "<stdin>")
    try:
        text = Path(spec).read_text()
    except OSError as err:
        raise D1cError(f"cannot read IR file '{spec}': {err.strerror}") from None
    return parse_module(text, spec)


def load_input(spec: str) -> Module:
    """A MODEL spec (``model.py`` or ``model.py:factory``) or an IR file, as IR."""
    if is_ir_file(spec):
        return read_ir(spec)
    from d1c.frontend import import_model

    return import_model(spec)


def run_passes(
    module: Module, pipeline: str, debug: DebugOptions, out: TextIO | None = None
) -> Module:
    from d1c.passes import run_pipeline

    return run_pipeline(
        module,
        pipeline,
        print_after_all=debug.print_after_all,
        print_after=debug.print_after,
        time_passes=debug.time_passes,
        out=out,
    )


def compile_module(
    module: Module, stage: str = "graph", debug: DebugOptions | None = None
) -> Module:
    """Run every stage's pipeline up to and including ``stage``."""
    if stage not in STAGE_NAMES:
        raise D1cError(f"unknown stage '{stage}'", hint=f"stages: {', '.join(STAGE_NAMES)}")
    debug = debug or DebugOptions()
    for name, pipeline in STAGES:
        module = run_passes(module, pipeline(), debug)
        if name == stage:
            break
    return module


def write_text(text: str, output: str | None) -> None:
    """Write to a file, or to standard output when ``output`` is None or ``-``."""
    if output in (None, "-"):
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text)
    except OSError as err:
        raise D1cError(f"cannot write '{output}': {err.strerror}") from None


def emit_ir(module: Module, output: str | None, *, elide_data: bool = False) -> None:
    write_text(print_module(module, elide_data=elide_data), output)


def split_names(values: Iterable[str]) -> frozenset[str]:
    """``--print-ir-after a,b --print-ir-after c`` -> {a, b, c}."""
    return frozenset(n.strip() for v in values for n in v.split(",") if n.strip())
