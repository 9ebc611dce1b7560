"""The compiler driver: read a MODEL or IR file, run the stages' pipelines, emit IR or a program.

The stages, in order, are the pipelines of :data:`d1c.passes.pipelines.STAGES`, then ``asm``:
instruction selection and emission of the .d1x program (:mod:`d1c.codegen`).

:func:`compile_stages` keeps a copy of the IR after every stage so that ``d1c verify`` can check
each stage against the next.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, TextIO

import numpy as np

from d1c import timing
from d1c.errors import D1cError
from d1c.ir import Module, parse_module, print_module
from d1c.ir.clone import clone_module
from d1c.passes.pipelines import STAGES, stage_pipeline
from d1c.progress import progress
from d1c.target import DEFAULT_TARGET

if TYPE_CHECKING:
    from d1c.isa.d1x import D1xProgram

IR_SUFFIXES = (".d1",)
DTYPES = ("bf16", "cfp8", "fp32")


@dataclass(frozen=True)
class DebugOptions:
    """The pass-manager knobs of the CLI."""

    print_after_all: bool = False
    print_after: frozenset[str] = field(default_factory=frozenset)
    time_passes: bool = False


@dataclass(frozen=True)
class Options:
    """What to compile for: the target and the storage dtype; calibration inputs for cfp8."""

    target: str = DEFAULT_TARGET
    dtype: str = "bf16"
    calibration: tuple[np.ndarray, ...] | None = None
    rounding: str = "rne"  # of the storage converts assign-formats inserts


STAGE_NAMES = (*STAGES, "asm")


def pipeline_for(stage: str, opts: Options) -> str:
    return stage_pipeline(stage, opts.dtype, opts.rounding)


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


@dataclass
class Source:
    """What the user compiles: the graph IR, example inputs (numpy) and, for a model, torch's
    outputs on them (the oracle of the first rung of the verification ladder)."""

    module: Module
    inputs: list[np.ndarray] | None = None
    reference: list[np.ndarray] | None = None


def load_source(
    spec: str, *, with_reference: bool = False, inputs_file: str | None = None
) -> Source:
    """A MODEL spec or IR file with its inputs: those of ``inputs_file`` (an .npz keyed by
    argument names, :func:`read_inputs`) if given, else the model's example inputs (None for IR
    files). ``with_reference`` adds torch's outputs on those same inputs."""
    if is_ir_file(spec):
        with timing.phase("read the IR file"):
            module = read_ir(spec)
        return Source(module, read_inputs(inputs_file, module) if inputs_file else None)
    with timing.phase("import torch and d1c's frontend"):
        from d1c.frontend import export_model, load_model, split_spec

    path, factory = split_spec(spec)
    with timing.phase("run the model file (model(), example_inputs())"):
        model, inputs = load_model(spec)
    module = export_model(
        model, inputs, name=path.stem, user_file=str(path), inputs_from=factory or "example_inputs"
    )
    arrays = [t.detach().numpy() for t in inputs]
    if inputs_file:
        arrays = read_inputs(inputs_file, module)
        inputs = tuple(_as_tensor(x, t) for x, t in zip(arrays, inputs, strict=True))
    if not with_reference:
        return Source(module, arrays)
    with timing.phase("torch eager (the reference outputs)"):
        return Source(module, arrays, eager_outputs(model, inputs))


def _as_tensor(x: np.ndarray, like):
    """``x`` as a torch tensor of the example input ``like``'s dtype."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(x)).to(like.dtype)


def eager_outputs(model, inputs) -> list[np.ndarray]:
    """torch eager outputs of ``model`` (eval mode, no grad) on ``inputs``, as numpy arrays."""
    import torch

    with torch.no_grad():
        out = model.eval()(*inputs)
    flat = out if isinstance(out, list | tuple) else (out,)
    return [t.detach().numpy() for t in flat]


def random_inputs(module: Module, seed: int = 0) -> list[np.ndarray]:
    """Seeded standard-normal inputs (integers: 0..7) for IR files, which bring no example data."""
    rng = np.random.default_rng(seed)
    out = []
    for a in module.main.args:
        t = a.type
        if t.elem.is_int:
            out.append(rng.integers(0, 8, size=t.shape).astype(t.elem.host_dtype))
        else:
            out.append(rng.standard_normal(t.shape).astype(np.float32))
    return out


def write_inputs(path: str | IO[bytes], module: Module, inputs: Sequence[np.ndarray]) -> None:
    """Save inputs as an .npz (a path or a binary file) keyed by the argument names of
    ``module``'s entry function (the names ``d1c run --input`` takes,
    :meth:`~d1c.ir.core.Function.arg_names`)."""
    names = module.main.arg_names()
    try:
        np.savez(path, **{n: np.asarray(x) for n, x in zip(names, inputs, strict=True)})
    except OSError as err:
        raise D1cError(f"cannot write '{path}': {err.strerror}") from None


def describe_args(module: Module) -> str:
    """``@forward of @gpt_block takes 1 input: ids (tensor<2x16xi64>)`` for hints."""
    func = module.main
    args = ", ".join(f"{n} ({a.type})" for n, a in zip(func.arg_names(), func.args, strict=True))
    count = f"{len(func.args)} input{'s' if len(func.args) != 1 else ''}"
    return f"@{func.name} of @{module.name} takes {count}: {args or 'none'}"


def read_inputs(path: str, module: Module) -> list[np.ndarray]:
    """Inputs of ``module``'s entry function from an .npz keyed by argument names (as
    :func:`write_inputs` writes it), checked against the argument types (shape, element kind)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as err:
        raise D1cError(f"cannot read inputs file '{path}': {err}") from None
    names = module.main.arg_names()
    if sorted(arrays) != sorted(names):
        raise D1cError(
            f"inputs file '{path}' holds {', '.join(sorted(arrays)) or 'nothing'}",
            hint=describe_args(module),
        )
    out = [arrays[n] for n in names]
    for n, a, x in zip(names, module.main.args, out, strict=True):
        _check_input(path, n, a.type, x, module)
    return out


def _check_input(path: str, name: str, ty, x: np.ndarray, module: Module) -> None:
    kinds = "b" if ty.elem.name == "i1" else "iu" if ty.elem.is_int else "f"
    kind_ok = x.dtype.kind in kinds
    if tuple(x.shape) != tuple(ty.shape) or not kind_ok:
        raise D1cError(
            f"inputs file '{path}': {name} is {x.dtype}{list(x.shape)}, expected {ty}",
            hint=describe_args(module),
        )


def _context(opts: Options):
    from d1c.passes import Context

    return Context(target=opts.target, dtype=opts.dtype, calibration=opts.calibration)


def run_passes(
    module: Module,
    pipeline: str,
    debug: DebugOptions,
    out: TextIO | None = None,
    opts: Options | None = None,
) -> Module:
    from d1c.passes import run_pipeline

    return run_pipeline(
        module,
        pipeline,
        ctx=_context(opts or Options()),
        print_after_all=debug.print_after_all,
        print_after=debug.print_after,
        out=out,
    )


def check_stage(stage: str) -> None:
    if stage not in STAGE_NAMES:
        raise D1cError(f"unknown stage '{stage}'", hint=f"stages: {', '.join(STAGE_NAMES)}")


def check_const_data(module: Module) -> None:
    """Every ``const`` op must have its data: IR printed with ``--elide-data`` parses (for
    reading) but cannot be compiled."""
    from d1c.errors import CompileError

    missing = [
        op
        for op in module.ops()
        if op.name == "const" and op.attrs["name"].name not in module.consts
    ]
    if missing:
        names = ", ".join(sorted({f"@{op.attrs['name'].name}" for op in missing}))
        raise CompileError(
            f"constant(s) {names} have no data",
            missing[0].where(),
            hint="add their `data @NAME` lines (was the IR printed with --elide-data?)",
        )


def compile_stages(
    module: Module,
    stop_after: str = "asm",
    opts: Options | None = None,
    debug: DebugOptions | None = None,
) -> dict[str, Module]:
    """Run the stages in order up to ``stop_after`` (IR stages only); a copy of the IR after each."""
    check_stage(stop_after)
    check_const_data(module)
    opts, debug = opts or Options(), debug or DebugOptions()
    snapshots = {}
    stages = list(STAGES)
    total = stages.index(stop_after) + 1 if stop_after in stages else len(stages)
    with progress("compile", total) as bar:
        for stage in stages:
            bar.update(0, note=stage)
            with timing.group(stage):
                module = run_passes(module, pipeline_for(stage, opts), debug, opts=opts)
            bar.update()
            if stage == stop_after:  # nothing runs after it: no copy, so emit reuses its plans
                snapshots[stage] = module
                break
            snapshots[stage] = clone_module(module)
    return snapshots


def compile_module(
    module: Module,
    stage: str = "graph",
    debug: DebugOptions | None = None,
    opts: Options | None = None,
) -> Module:
    """The IR after ``stage`` (for ``asm``: the placed IR the program is built from)."""
    snaps = compile_stages(module, stage if stage != "asm" else "placed", opts, debug)
    return snaps[stage if stage != "asm" else "placed"]


def build(placed: Module, opts: Options) -> D1xProgram:
    """Instruction selection and emission: placed IR -> ``.d1x`` program, with the LLVM IR of its
    host code (pack/unpack of the symbols, launch sequence) as the ``host-ir`` blob and what
    ``d1c report`` needs from the placed IR (kernel ops, source lines, DMA link loads) as the
    ``kernels`` blob."""
    from d1c.codegen.emit import build_program
    from d1c.codegen.kernel_table import with_kernel_table
    from d1c.passes.route import link_loads
    from d1c.runtime.host import with_host_ir
    from d1c.target import load_target

    target = load_target(opts.target)
    program = build_program(placed, target)
    with timing.phase("host code (LLVM IR of pack/unpack)"):
        program = with_host_ir(program)
    with timing.phase("kernel table for d1c report"):
        return with_kernel_table(program, placed, link_loads(placed, target))


def write_text(text: str, output: str | None) -> None:
    """Write to a file, or to standard output when ``output`` is None or ``-``."""
    if output in (None, "-"):
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text)
    except OSError as err:
        raise D1cError(f"cannot write '{output}': {err.strerror}") from None


def write_bytes(data: bytes, output: str) -> None:
    try:
        Path(output).write_bytes(data)
    except OSError as err:
        raise D1cError(f"cannot write '{output}': {err.strerror}") from None


def stdout_is_terminal() -> bool:
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def elide_for(output: str | None, elide_data: bool | None) -> bool:
    """Whether text written to ``output`` leaves data bytes out: as asked, or (``None``)
    exactly when it goes to a terminal, where megabytes of hex help no reader."""
    if elide_data is not None:
        return elide_data
    return output in (None, "-") and stdout_is_terminal()


def write_listing(text_of, output: str | None, elide_data: bool | None, has_data: bool) -> None:
    """Write ``text_of(elide)`` (IR or a program listing) with :func:`elide_for`'s rule, and
    say on stderr when the terminal rule left data out."""
    elide = elide_for(output, elide_data)
    write_text(text_of(elide), output)
    if elide_data is None and elide and has_data:
        sys.stderr.write("(data bytes left out on a terminal; --keep-data prints them)\n")


def emit_ir(module: Module, output: str | None, *, elide_data: bool | None = False) -> None:
    """Write IR text; see :func:`write_listing` for ``elide_data``."""
    text_of = lambda elide: print_module(module, elide_data=elide)  # noqa: E731
    write_listing(text_of, output, elide_data, bool(module.consts))


def split_names(values: Iterable[str]) -> frozenset[str]:
    """``--print-ir-after a,b --print-ir-after c`` -> {a, b, c}."""
    return frozenset(n.strip() for v in values for n in v.split(",") if n.strip())
