"""``d1c verify``: compile, simulate, and check the verification ladder (docs/lowering.md §1).

1. graph IR interpreted (fp32): every op within the rounding bound of its own operands
   (:mod:`d1c.accuracy.local`), and == torch eager within fp32 tolerance (models only): 1e-5 of
   the output's scale plus twice the derived bound of the fp32 evaluation, elementwise;
2. quantized IR interpreted: every op right against its own operands, and every output within
   the derived error bound of the float64 reference, elementwise: the smaller of the a priori
   bound (:mod:`d1c.accuracy.bounds`) and the a posteriori one (:mod:`d1c.accuracy.adjoint`);
3. the tiled IR computes the quantized IR's real-number function (float64, converts as the
   identity, constant subgraphs as folded), tiled IR interpreted == placed IR interpreted == the
   simulated program, bit for bit, and the simulated output is within rung 2's a priori bound
   (the first and the last cover the passes between quantized and tiled IR, which the bitwise
   comparison does not: decompose, canonicalize).

No rung passes on a non-finite surprise: an output element that is NaN or infinite where its
reference is finite fails, and the rung names the first op of its IR giving such a value, with
its source line (graph IR for rung 1, quantized IR for rung 2, tiled IR for rung 3). An element
whose bound or tolerance is inf or NaN could not be bounded: it fails unless the caller accepts
unbounded outputs (``accept_unbounded``, ``d1c verify --accept-unbounded``).

Besides: the IR after every stage round-trips through its text, and (``determinism``) compiling
twice gives the same ``.d1x`` bytes. :func:`verify` takes a MODEL spec or IR file,
:func:`verify_module` an in-memory module with its inputs (``d1c fuzz`` uses it). The
:class:`~d1c.ladder_report.Report` renders one screen (its module docstring); any
failure makes :attr:`~d1c.ladder_report.Report.ok` false.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from d1c import driver, progress
from d1c.accuracy.adjoint import tight_outputs
from d1c.accuracy.bound_rules import data_error
from d1c.accuracy.bounds import bound_values, bounded_outputs
from d1c.accuracy.checks import ElementCheck, check_elements, first_nonfinite
from d1c.accuracy.local import check_locally
from d1c.accuracy.ref64 import reference64
from d1c.errors import D1cError, UnsupportedError
from d1c.interp import interpret
from d1c.ir import Module, modules_equal, parse_module, print_module
from d1c.isa.d1x import D1xProgram
from d1c.ladder_report import OutputCheck, Report
from d1c.target import DEFAULT_TARGET, load_target

SAME_FUNCTION = "tiled IR computes the quantized IR (float64)"
TILED_PLACED = "tiled == placed (interpreted, bitwise)"

__all__ = [
    "OutputCheck",
    "Report",
    "bits_equal",
    "eager_tolerance",
    "tightness",
    "verify",
    "verify_module",
]


def bits_equal(a: np.ndarray, b: np.ndarray) -> tuple[bool, int]:
    """Bit equality of two outputs (bool/int compared by value, floats by their bits).

    NaN equals NaN whatever its payload: the ISA canonicalises every NaN it computes to
    0x7FC00000 while the interpreter keeps numpy's payloads, so payloads are not part of the
    contract (the backend harness compares them the same way).
    """
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape:
        return False, max(x.size, y.size)
    if x.dtype.kind == "f" and y.dtype.kind == "f":
        x, y = x.astype(np.float32), y.astype(np.float32)
        diff = (x.view(np.uint32) != y.view(np.uint32)) & ~(np.isnan(x) & np.isnan(y))
    else:
        diff = x.astype(np.float64) != y.astype(np.float64)
    return not diff.any(), int(diff.sum())


def eager_tolerance(ref: np.ndarray, fp32_bound: np.ndarray | float = 0.0) -> np.ndarray | float:
    """fp32 tolerance of the graph interpreter against torch eager: 1e-5 of the output's scale
    (its largest finite magnitude) plus twice ``fp32_bound``, the derived (elementwise) bound of
    the interpreter's fp32 evaluation against the float64 reference. Both evaluate the same math
    in fp32 in different orders, each within about that bound of the reference, so an
    ill-conditioned element (e.g. a layer_norm over two nearly equal values) gets the room its
    rounding needs while well-conditioned ones stay tight."""
    finite = np.abs(ref[np.isfinite(ref)]) if ref.size else ref
    scale = float(np.max(finite)) if finite.size else 0.0
    return 1e-5 * max(scale, 1.0) + 2.0 * fp32_bound


def _eager_checks(outs, reference, bounds) -> list[ElementCheck | None]:
    """Rung 1 per output: the graph interpreter against torch eager within
    :func:`eager_tolerance` elementwise (None without a torch reference)."""
    if reference is None:
        return [None] * len(outs)
    return [
        check_elements(g, r, eager_tolerance(np.asarray(r), b.err))
        for g, r, b in zip(outs, reference, bounds, strict=True)
    ]


def _device_form(x: np.ndarray) -> np.ndarray:
    """The interpreter's result as the device returns it (i1 comes back as float32 0/1)."""
    x = np.asarray(x)
    return x.astype(np.float32) if x.dtype == np.bool_ else x


def verify(
    spec: str,
    target: str = DEFAULT_TARGET,
    dtype: str = "bf16",
    *,
    inputs_file: str | None = None,
    determinism: bool = False,
    accept_unbounded: bool = False,
    sim: dict | None = None,
) -> Report:
    """The ladder for a MODEL spec or an IR file. Inputs: ``inputs_file`` (.npz, see
    :func:`d1c.driver.read_inputs`) if given, else the model's example inputs, else (IR files)
    :func:`d1c.driver.random_inputs` with seed 0. ``sim``: extra ``simulate`` arguments
    (``workers``, ``ray``)."""
    reference = not driver.is_ir_file(spec)
    progress.stage("load the model" if reference else "read the IR")
    src = driver.load_source(spec, with_reference=reference, inputs_file=inputs_file)
    inputs = src.inputs if src.inputs is not None else driver.random_inputs(src.module)
    return verify_module(
        src.module,
        inputs,
        target,
        dtype,
        reference=src.reference,
        name=spec,
        determinism=determinism,
        accept_unbounded=accept_unbounded,
        sim=sim,
    )


STAGES = 7  # the stage() calls of one verify() run (plus one with determinism)


def verify_module(
    module: Module,
    inputs: Sequence[np.ndarray],
    target: str = DEFAULT_TARGET,
    dtype: str = "bf16",
    *,
    reference: Sequence[np.ndarray] | None = None,
    name: str | None = None,
    determinism: bool = False,
    accept_unbounded: bool = False,
    rounding: str = "rne",
    adjoint_work: float | None = None,
    sim: dict | None = None,
) -> Report:
    """The ladder for an in-memory graph module (not modified) on ``inputs``; ``target`` is a
    shipped target's name or a .toml path. Also checks that the IR of every stage round-trips
    through its text, and with ``determinism`` that a second compilation gives the same bytes.
    With ``rounding="sr"`` (stochastic rounding of the storage converts, which the device runs
    only on the host side) the module is compiled to quantized IR and checked on rungs 1 and 2.
    ``adjoint_work`` caps the cost of the a posteriori bounds (:mod:`d1c.accuracy.adjoint`;
    None: its default budget, 0: forward bounds only)."""
    inputs = list(inputs)
    opts = driver.Options(target, dtype, tuple(inputs), rounding)
    progress.stage("compile")
    if rounding != "rne":
        snaps = driver.compile_stages(_copy(module), "quantized", opts)
        report = Report(name or f"@{module.name}", load_target(target), dtype, accept_unbounded)
        report.not_run = "stochastic rounding inside kernels has no bit-exact D1 lowering"
        _ladder(report, snaps, inputs, reference, None, adjoint_work)
        return report
    snaps = driver.compile_stages(_copy(module), "placed", opts)
    program = driver.build(snaps["placed"], opts)
    report = Report(
        name or f"@{module.name}", load_target(target), dtype, accept_unbounded, program=program
    )
    progress.stage("IR text round trips")
    report.stage_ok["IR text round-trips at every stage"] = all(
        round_trips(m) for m in snaps.values()
    )
    if determinism:
        progress.stage("compile again (determinism)")
        again = driver.build(driver.compile_stages(_copy(module), "placed", opts)["placed"], opts)
        same = again.to_bytes() == program.to_bytes()
        report.stage_ok["compiling twice gives identical .d1x bytes"] = same
    _ladder(report, snaps, inputs, reference, program, adjoint_work, sim or {})
    return report


def tightness(
    module: Module, inputs: Sequence[np.ndarray], dtype: str = "bf16"
) -> list[tuple[float, float, float]]:
    """Per output of the quantized IR of ``module`` (graph IR, or straight from the frontend):
    (largest observed error against the float64 reference, largest rung-2 bound, largest a
    priori bound) — how tight the bounds are (``benchmarks/bound_tightness.py``)."""
    inputs = list(inputs)
    opts = driver.Options(dtype=dtype, calibration=tuple(inputs))
    snaps = driver.compile_stages(_copy(module), "quantized", opts)
    graph, quantized = snaps["graph"], snaps["quantized"]
    outs, _, values, tight, _ = _bounded_trace(graph, quantized, inputs, {}, None)
    forward = bounded_outputs(graph, quantized, inputs, values)
    return [
        (float(data_error(o, t.ref).max(initial=0.0)), float(t.err.max()), float(f.err.max()))
        for o, t, f in zip(outs, tight, forward, strict=True)
    ]


def _bounded_trace(graph: Module, module: Module, inputs, trace: dict, work: float | None):
    """Interpret ``module`` into ``trace``, check every op locally, bound its outputs: (outputs,
    local checks, every value's forward bound, the bound per output, whether it is a
    posteriori)."""
    outs = interpret(module, inputs, trace=trace)
    local = check_locally(module, trace, graph.consts)
    values = bound_values(graph, module, inputs)
    bounds, adjoint = tight_outputs(graph, module, inputs, trace, values, local, work)
    return outs, local, values, bounds, adjoint


def round_trips(m: Module) -> bool:
    """``print(parse(print(m))) == print(m)`` and the parsed module equals ``m`` structurally."""
    text = print_module(m)
    again = parse_module(text, f"<{m.name}>")
    return print_module(again) == text and modules_equal(m, again)


def _copy(m: Module) -> Module:
    from d1c.ir.clone import clone_module

    return clone_module(m)


def _simulate(
    report: Report, snaps: dict[str, Module], inputs, program, sim: dict
) -> list[np.ndarray]:
    from d1c.codegen.emit import input_arrays
    from d1c.runtime.sim import simulate

    placed = snaps["placed"]
    progress.stage("simulate")
    result = simulate(program, report.target, input_arrays(placed.main, inputs, program), **sim)
    report.cycles = result.cycles
    report.macs = result.total("macs")
    report.cores = len(result.cores)
    report.sram_peak = int(dict(program.meta).get("sram_peak", 0))
    return [result.outputs[f"out{i}"] for i in range(len(placed.main.ret.operands))]


@dataclass
class _Run:
    """What the rungs share: the stages, inputs, the torch reference, the values they compute."""

    snaps: dict[str, Module]
    inputs: list[np.ndarray]
    reference: Sequence[np.ndarray] | None
    program: D1xProgram | None
    traces: dict[str, dict] = field(default_factory=dict)
    work: float | None = None  # the adjoint bounds' budget (d1c.accuracy.adjoint)
    sim: dict = field(default_factory=dict)  # extra simulate() arguments (workers, ray)
    bounded: list = field(default_factory=list)  # rung 2's references and bounds per output
    forward: list = field(default_factory=list)  # rung 2's forward (a priori) bounds
    refs: dict = field(default_factory=dict)  # rung 2's float64 reference of every value
    graph_bounds: list = field(default_factory=list)  # rung 1's fp32 bounds per output


def _ladder(
    report: Report, snaps, inputs, reference, program, work: float | None, sim: dict | None = None
) -> None:
    run = _Run(snaps, inputs, reference, program, work=work, sim=sim or {})
    report.outputs = [
        OutputCheck(f"out{i}", tuple(t.shape))
        for i, t in enumerate(snaps["graph"].main.result_types)
    ]
    rungs = (
        ((1, _rung1), (2, _rung2), (3, _rung3))
        if program is not None
        else ((1, _rung1), (2, _rung2))
    )
    for rung, fn in rungs:
        try:
            fn(report, run)
        except UnsupportedError:
            raise  # a documented gap (e.g. an op without an error-bound rule), not a wrong result
        except D1cError as err:  # the program faults, or a rung finds the IR inconsistent
            report.add_error(rung, err.render())


def _checked_trace(
    report: Report, rung: int, run: _Run, stage: str, graph: Module, module: Module
) -> tuple[list[np.ndarray], list, dict]:
    """Interpret ``module``, check every op locally, bound its outputs (forward and adjoint):
    (outputs, bounds per output, every value's forward bound)."""
    trace = run.traces.setdefault(stage, {})
    outs, local, values, bounds, adjoint = _bounded_trace(
        graph, module, run.inputs, trace, run.work
    )
    if local.violation is not None:
        what = f"rung {rung} ({stage} IR)"
        report.add_finding(rung, "local", local.violation.error(what).render())
    report.adjoint[rung] = adjoint
    return outs, bounds, values


def _rung1(report: Report, run: _Run) -> None:
    """Graph IR interpreted (fp32): every op within the rounding bound of its own operands, the
    outputs within fp32 tolerance of torch eager."""
    progress.stage("rung 1: graph IR against eager")
    graph = run.snaps["graph"]
    outs, run.graph_bounds, _ = _checked_trace(report, 1, run, "graph", graph, graph)
    bounds = run.graph_bounds
    for o, c in zip(report.outputs, _eager_checks(outs, run.reference, bounds), strict=True):
        o.eager = c
    if any(o.eager is not None and o.eager.nonfinite for o in report.outputs):
        refs: dict = {}
        reference64(graph, run.inputs, trace=refs)
        _name_nonfinite(report, 1, "rung 1 (graph IR)", graph, run.traces["graph"], refs)


def _rung2(report: Report, run: _Run) -> None:
    """Quantized IR interpreted: every op within the rounding bound of its own operands, every
    output within the derived bound of the float64 reference."""
    progress.stage("rung 2: quantized IR and its error bound")
    graph, quantized = run.snaps["graph"], run.snaps["quantized"]
    outs, run.bounded, values = _checked_trace(report, 2, run, "quantized", graph, quantized)
    run.forward = bounded_outputs(graph, quantized, run.inputs, values)
    for o, got, b in zip(report.outputs, outs, run.bounded, strict=True):
        o.quantized = check_elements(got, b.ref, b.err)
    if any(o.quantized.nonfinite for o in report.outputs):
        same_ops = Module(quantized.name, quantized.functions, graph.consts)
        reference64(same_ops, run.inputs, trace=run.refs)  # the graph's values, by quantized value
        trace = run.traces["quantized"]
        _name_nonfinite(report, 2, "rung 2 (quantized IR)", quantized, trace, run.refs)


def _rung3(report: Report, run: _Run) -> None:
    """The tiled IR computes the quantized IR's function; tiled IR == placed IR == simulated
    program, bit for bit; simulated within rung 2's a priori bound."""
    progress.stage("rung 3: tiled and placed IR")
    tiled, trace = run.snaps["tiled"], run.traces.setdefault("tiled", {})
    tiled_out = interpret(tiled, run.inputs, trace=trace)
    report.stage_ok[SAME_FUNCTION] = _same_function(run)
    placed_out = interpret(run.snaps["placed"], run.inputs)
    report.stage_ok[TILED_PLACED] = all(
        bits_equal(a, b)[0] for a, b in zip(tiled_out, placed_out, strict=True)
    )
    sim_outs = _simulate(report, run.snaps, run.inputs, run.program, run.sim)
    for o, got, p in zip(report.outputs, sim_outs, placed_out, strict=True):
        o.bit_exact, o.mismatches = bits_equal(got, _device_form(p))
    for o, got, b in zip(
        report.outputs, sim_outs, run.forward, strict=False
    ):  # none: rung 2 stopped
        o.simulated = check_elements(got, b.ref, b.err)
    if any(o.simulated is not None and o.simulated.nonfinite for o in report.outputs):
        refs: dict = {}
        reference64(tiled, run.inputs, trace=refs)
        if not _name_nonfinite(report, 3, "rung 3 (tiled IR)", tiled, trace, refs):
            report.add_finding(
                3,
                "nonfinite",
                "rung 3: a simulated output is NaN or infinite where the float64 reference is "
                "finite, but no op of the interpreted tiled IR is (the simulated program "
                "differs from it)",
            )


def _same_function(run: _Run) -> bool:
    """The passes after quantization (decompose, canonicalize, fold-constants, tile, fuse)
    keep the real-number function: the tiled and the quantized IR, evaluated in float64 with
    converts as the identity and constant subgraphs as folded (their interpreted values), agree
    within 1e-9 of the output's scale plus rung 1's fp32 bound: decompose precomputes some
    constants in fp32 (batch norm's scale and shift, 1/n of a mean), roundings that bound covers.
    This is what the simulated output's bound alone, loose in CFloat8, cannot see: a
    decomposition with its operands swapped moves outputs by their own size."""
    quantized, tiled = run.snaps["quantized"], run.snaps["tiled"]
    want = reference64(quantized, run.inputs, folded=run.traces["quantized"])
    got = reference64(tiled, run.inputs, folded=run.traces["tiled"])
    for a, b, g in zip(got, want, run.graph_bounds, strict=True):
        tol = eager_tolerance(np.asarray(b), 0.0) * 1e-4 + g.err
        if not np.all(data_error(a, b) <= tol):
            return False
    return True


def _name_nonfinite(report: Report, rung: int, what: str, module: Module, trace, refs) -> bool:
    """Report the first op of ``module`` giving a non-finite surprise (False: there is none)."""
    found = first_nonfinite(module.main, trace, refs)
    if found is not None:
        report.add_finding(rung, "nonfinite", found.error(what).render())
    return found is not None
