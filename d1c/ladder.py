"""``d1c verify``: compile, simulate, and check the verification ladder (docs/design.md §5).

1. graph IR interpreted (fp32) == torch eager within fp32 tolerance (models only): 1e-5 of the
   output's scale plus twice the derived bound of the fp32 evaluation;
2. quantized IR interpreted is within the derived error bound of the float64 reference, and so
   is the simulated program's output (this covers the passes between quantized and tiled IR,
   which rung 3 does not: decompose, canonicalize);
3. tiled IR interpreted == placed IR interpreted == the simulated program, bit for bit.

Besides: the IR after every stage round-trips through its text, and (``determinism``) compiling
twice gives the same ``.d1x`` bytes. :func:`verify` takes a MODEL spec or IR file,
:func:`verify_module` an in-memory module with its inputs (``d1c fuzz`` uses it).

One screen: per output the max error against the bound and bit-exactness, then cycles,
utilization and the SRAM peak per core. Any failure makes :attr:`Report.ok` false.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from d1c import driver, progress
from d1c.errors import D1cError, UnsupportedError
from d1c.interp import interpret
from d1c.ir import Module, modules_equal, parse_module, print_module
from d1c.isa.d1x import D1xProgram
from d1c.target import DEFAULT_TARGET, Target, load_target


@dataclass
class OutputCheck:
    name: str
    shape: tuple[int, ...]
    eager_err: float | None  # graph interpreter vs torch eager (max abs)
    eager_tol: float | None
    quant_err: float | None  # quantized vs float64 reference (max abs)
    quant_bound: float | None
    quant_ok: bool
    bit_exact: bool
    mismatches: int


@dataclass
class Report:
    model: str
    target: Target
    dtype: str
    outputs: list[OutputCheck] = field(default_factory=list)
    cycles: int = 0
    macs: int = 0
    sram_peak: int = 0
    cores: int = 0
    stage_ok: dict[str, bool] = field(default_factory=dict)
    program: D1xProgram | None = None  # the compiled program the ladder simulated
    errors: list[str] = field(default_factory=list)  # errors raised by a rung (rendered)

    @property
    def ok(self) -> bool:
        checks = [o.quant_ok and o.bit_exact for o in self.outputs]
        checks += [o.eager_err <= o.eager_tol for o in self.outputs if o.eager_err is not None]
        return all(checks) and all(self.stage_ok.values())

    @property
    def utilization(self) -> float:
        peak = self.target.peak_macs_per_cycle * max(self.cycles, 1)
        return self.macs / peak

    def render(self) -> str:
        t = self.target
        lines = [
            f"d1c verify {self.model}  target {t.name} ({t.num_cores:,} cores)  dtype {self.dtype}",
            "",
        ]
        lines.append(
            f"{'output':<8} {'shape':<18} {'eager err/tol':<22} {'quantized err / bound':<26} {'bit-exact':<10}"
        )
        for o in self.outputs:
            eager = (
                "-"
                if o.eager_err is None
                else f"{o.eager_err:.2e}/{o.eager_tol:.1e} {_mark(o.eager_err <= o.eager_tol)}"
            )
            quant = (
                "-"
                if o.quant_err is None
                else f"{o.quant_err:.2e} / {o.quant_bound:.2e} {_mark(o.quant_ok)}"
            )
            exact = "yes" if o.bit_exact else f"NO ({o.mismatches} differ)"
            lines.append(f"{o.name:<8} {list(o.shape)!s:<18} {eager:<22} {quant:<26} {exact:<10}")
        lines.append("")
        lines += self.errors
        for stage, good in self.stage_ok.items():
            lines.append(f"{stage}: {'ok' if good else 'FAILED'}")
        us = self.cycles / t.clock_hz * 1e6
        lines.append(
            f"cycles: {self.cycles:,} ({us:.2f} us at {t.clock_hz / 1e9:g} GHz) on {self.cores:,} cores"
        )
        lines.append(
            f"utilization: {100 * self.utilization:.4f}% of {t.peak_flops / 1e12:,.1f} TFLOPS peak ({self.macs:,} MACs)"
        )
        lines.append(f"SRAM peak per core: {self.sram_peak:,} of {t.sram_bytes:,} bytes")
        lines.append("PASS" if self.ok else "FAIL")
        return "\n".join(lines)


def _mark(ok: bool) -> str:
    return "ok" if ok else "FAIL"


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


def _eager_check(got: np.ndarray, ref: np.ndarray, bound: np.ndarray) -> tuple[float, float]:
    """(error, tolerance) at the element with the largest error/tolerance ratio, so that
    error <= tolerance says every element is within its own; equal infinities and NaN vs NaN
    count as no error."""
    from d1c.accuracy.bounds import observed_error

    ref = np.asarray(ref)
    err = observed_error(np.asarray(got), np.asarray(ref, np.float64))
    tol = np.broadcast_to(eager_tolerance(ref, bound), err.shape)
    if err.size == 0:
        return 0.0, float(eager_tolerance(ref))
    with np.errstate(invalid="ignore"):
        ratio = np.nan_to_num(err / tol, nan=0.0)  # inf / inf: an unbounded element
    i = int(np.argmax(ratio))
    return float(err.flat[i]), float(tol.flat[i])


def _eager_checks(graph: Module, inputs, graph_out, reference) -> list[tuple]:
    """Rung 1 per output: (error, tolerance), or (None, None) without a torch reference."""
    from d1c.accuracy.bounds import error_bound

    if reference is None:
        return [(None, None)] * len(graph_out)
    bounds = error_bound(graph, graph, inputs)
    return [_eager_check(g, r, b) for g, r, b in zip(graph_out, reference, bounds, strict=True)]


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
) -> Report:
    """The ladder for a MODEL spec or an IR file. Inputs: ``inputs_file`` (.npz, see
    :func:`d1c.driver.read_inputs`) if given, else the model's example inputs, else (IR files)
    :func:`d1c.driver.random_inputs` with seed 0."""
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
) -> Report:
    """The ladder for an in-memory graph module (not modified) on ``inputs``; ``target`` is a
    shipped target's name or a .toml path. Also checks that the IR of every stage round-trips
    through its text, and with ``determinism`` that a second compilation gives the same bytes."""
    inputs = list(inputs)
    opts = driver.Options(target, dtype, tuple(inputs))
    progress.stage("compile")
    snaps = driver.compile_stages(_copy(module), "placed", opts)
    program = driver.build(snaps["placed"], opts)
    report = Report(name or f"@{module.name}", load_target(target), dtype, program=program)
    progress.stage("IR text round trips")
    report.stage_ok["IR text round-trips at every stage"] = all(
        round_trips(m) for m in snaps.values()
    )
    if determinism:
        progress.stage("compile again (determinism)")
        again = driver.build(driver.compile_stages(_copy(module), "placed", opts)["placed"], opts)
        same = again.to_bytes() == program.to_bytes()
        report.stage_ok["compiling twice gives identical .d1x bytes"] = same
    try:
        _ladder(report, snaps, inputs, reference, program, opts)
    except UnsupportedError:
        raise  # a documented gap (e.g. an op without an error-bound rule), not a wrong result
    except D1cError as err:  # the compiled program faults, or a rung finds the IR inconsistent
        report.errors.append(err.render())
        report.stage_ok["every rung ran without an error"] = False
    return report


def round_trips(m: Module) -> bool:
    """``print(parse(print(m))) == print(m)`` and the parsed module equals ``m`` structurally."""
    text = print_module(m)
    again = parse_module(text, f"<{m.name}>")
    return print_module(again) == text and modules_equal(m, again)


def _copy(m: Module) -> Module:
    from d1c.ir.clone import clone_module

    return clone_module(m)


def _ladder(report: Report, snaps, inputs, reference, program, opts) -> None:
    from d1c.accuracy.bounds import check_within_bound
    from d1c.codegen.emit import input_arrays
    from d1c.runtime.sim import simulate

    progress.stage("interpret graph IR")
    graph_out = interpret(snaps["graph"], inputs)
    progress.stage("quantized IR and its error bound")
    quant = check_within_bound(snaps["graph"], snaps["quantized"], inputs)
    progress.stage("interpret tiled and placed IR")
    tiled_out = interpret(snaps["tiled"], inputs)
    placed_out = interpret(snaps["placed"], inputs)
    progress.stage("simulate")
    result = simulate(program, report.target, input_arrays(snaps["placed"].main, inputs, program))
    report.stage_ok["tiled == placed (interpreted, bitwise)"] = all(
        bits_equal(a, b)[0] for a, b in zip(tiled_out, placed_out, strict=True)
    )
    sim_outs = [result.outputs[f"out{i}"] for i in range(len(placed_out))]
    sim_quant = check_within_bound(snaps["graph"], snaps["quantized"], inputs, sim_outs)
    report.stage_ok["simulated outputs within the derived bound"] = all(c.ok for c in sim_quant)
    eager = _eager_checks(snaps["graph"], inputs, graph_out, reference)
    for i, (g, p) in enumerate(zip(graph_out, placed_out, strict=True)):
        exact, bad = bits_equal(sim_outs[i], _device_form(p))
        report.outputs.append(
            OutputCheck(f"out{i}", tuple(np.shape(g)), *eager[i], *quant[i], exact, bad)
        )
    report.cycles = result.cycles
    report.macs = result.total("macs")
    report.cores = len(result.cores)
    report.sram_peak = int(dict(program.meta).get("sram_peak", 0))
