"""The result of ``d1c verify`` (:mod:`d1c.ladder`) and its one-screen rendering.

Per output, one row per elementwise check — rung 1 (graph IR in fp32 against torch eager, within
fp32 tolerance), rung 2 (quantized IR against the float64 reference, within the derived bound),
rung 3 (the simulated output against the same reference and bound) — showing the element with the
worst error/allowance ratio: its index, its error, its allowance, the ratio, and the median ratio
over the output's elements (how much headroom a typical element had); then whether the simulated
output equals the placed IR interpreted, bit for bit. Below the table: the findings of the rungs
(the first op giving NaN or infinity where the reference is finite, an op outside the rounding
bound of its own operands, an error a rung raised), the whole-module checks, cycles, utilization
and the SRAM peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from d1c.accuracy.checks import ElementCheck
from d1c.isa.d1x import D1xProgram
from d1c.target import Target


@dataclass(frozen=True)
class Finding:
    """Something a rung found at an op: ``kind`` is ``nonfinite`` (NaN/inf where the reference
    is finite) or ``local`` (an op outside the rounding bound of its own operands)."""

    rung: int
    kind: str
    text: str  # the rendered error


@dataclass
class OutputCheck:
    """The checks of one output; a check is None when its rung did not get to it (``eager``:
    also without a torch reference)."""

    name: str
    shape: tuple[int, ...]
    eager: ElementCheck | None = None  # rung 1: graph IR interpreted vs eager, fp32 tolerance
    quantized: ElementCheck | None = None  # rung 2: quantized IR vs float64, derived bound
    simulated: ElementCheck | None = None  # rung 3: simulated output vs float64, derived bound
    bit_exact: bool | None = None  # rung 3: simulated == placed IR interpreted
    mismatches: int = 0

    def checks(self) -> list[tuple[str, ElementCheck]]:
        """(label, check) of the elementwise checks that ran."""
        rows = [("1 fp32 vs eager", self.eager), ("2 quantized", self.quantized)]
        rows.append(("3 simulated", self.simulated))
        return [(what, c) for what, c in rows if c is not None]


@dataclass
class Report:
    model: str
    target: Target
    dtype: str
    accept_unbounded: bool = False  # elements the rungs could not bound do not fail
    outputs: list[OutputCheck] = field(default_factory=list)
    cycles: int = 0
    macs: int = 0
    sram_peak: int = 0
    cores: int = 0
    stage_ok: dict[str, bool] = field(default_factory=dict)
    program: D1xProgram | None = None  # the compiled program the ladder simulated
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # errors raised by a rung (rendered)
    flagged: set[int] = field(default_factory=set)  # rungs with a finding or an error
    not_run: str = ""  # why rung 3 (compiling and simulating) did not run, if it did not
    adjoint: dict[int, bool] = field(default_factory=dict)  # rung -> its bound is a posteriori

    @property
    def ok(self) -> bool:
        checks = [o.bit_exact is not False for o in self.outputs]
        checks += [c.ok(self.accept_unbounded) for o in self.outputs for _, c in o.checks()]
        return all(checks) and all(self.stage_ok.values()) and not self.findings

    def add_finding(self, rung: int, kind: str, text: str) -> None:
        self.findings.append(Finding(rung, kind, text))
        self.flagged.add(rung)

    def add_error(self, rung: int, text: str) -> None:
        self.errors.append(f"rung {rung} stopped: {text}")
        self.flagged.add(rung)
        self.stage_ok["every rung ran without an error"] = False

    def failed_rungs(self) -> set[int]:
        """The rungs that found something: a failed check, a finding or an error."""
        bad = set(self.flagged)
        for o in self.outputs:
            for i, c in enumerate((o.eager, o.quantized, o.simulated), start=1):
                if c is not None and not c.ok(self.accept_unbounded):
                    bad.add(i)
            if o.bit_exact is False:
                bad.add(3)
        rung3 = (
            "tiled == placed (interpreted, bitwise)",
            "tiled IR computes the quantized IR (float64)",
        )
        if any(self.stage_ok.get(name) is False for name in rung3):
            bad.add(3)
        return bad

    @property
    def utilization(self) -> float:
        peak = self.target.peak_macs_per_cycle * max(self.cycles, 1)
        return self.macs / peak

    def render(self) -> str:
        t = self.target
        head = (
            f"d1c verify {self.model}  target {t.name} ({t.num_cores:,} cores)  dtype {self.dtype}"
        )
        lines = [head, "", _HEADER]
        for o in self.outputs:
            lines += self._rows(o)
        lines += ["", self._bounds(), *(f.text for f in self.findings), *self.errors]
        lines += [f"{stage}: {'ok' if good else 'FAILED'}" for stage, good in self.stage_ok.items()]
        lines += [f"rung 3 not run: {self.not_run}"] if self.not_run else self._machine()
        lines.append("PASS" if self.ok else "FAIL")
        return "\n".join(lines)

    def _rows(self, o: OutputCheck) -> list[str]:
        lines = []
        for i, (what, c) in enumerate(o.checks()):
            name, shape = (o.name, str(list(o.shape))) if i == 0 else ("", "")
            status = check_status(c, self.accept_unbounded)
            lines.append(f"{name:<7} {shape:<13} {what:<16} {_numbers(c)}  {status}")
        if o.bit_exact is None:
            return lines
        exact = "yes" if o.bit_exact else f"NO ({o.mismatches} elements differ)"
        lines.append(f"{'':<21} {'3 bit-exact':<16} simulated == placed IR: {exact}")
        return lines

    def _bounds(self) -> str:
        """Which bounds the rungs used (the a posteriori one where it was affordable)."""
        kinds = {True: "a posteriori (trace)", False: "a priori"}
        parts = [f"rung {r} {kinds[a]}" for r, a in sorted(self.adjoint.items())]
        return "bounds: " + ", ".join([*parts, "rung 3 a priori"]) if parts else "bounds: -"

    def _machine(self) -> list[str]:
        t = self.target
        us = self.cycles / t.clock_hz * 1e6
        return [
            f"cycles: {self.cycles:,} ({us:.2f} us at {t.clock_hz / 1e9:g} GHz) on {self.cores:,} cores",
            f"utilization: {100 * self.utilization:.4f}% of {t.peak_flops / 1e12:,.1f} TFLOPS peak "
            f"({self.macs:,} MACs)",
            f"SRAM peak per core: {self.sram_peak:,} of {t.sram_bytes:,} bytes",
        ]


_HEADER = (
    f"{'output':<7} {'shape':<13} {'rung':<16} {'worst at':<12} {'error':>9} {'allowed':>9} "
    f"{'ratio':>9} {'median':>9}"
)


def _number(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.2e}"


def _numbers(c: ElementCheck) -> str:
    at = "-" if c.index is None else str(list(c.index)).replace(" ", "")
    return (
        f"{at:<12} {_number(c.err):>9} {_number(c.allowed):>9} {_number(c.ratio):>9} "
        f"{_number(c.median):>9}"
    )


def check_status(c: ElementCheck, accept_unbounded: bool = False) -> str:
    """``ok``, or why the check failed (or which unbounded elements were accepted)."""
    if c.nonfinite:
        return f"FAIL ({c.nonfinite} NaN/inf where the reference is finite)"
    if c.ratio > 1:
        return "FAIL"
    if c.unbounded:
        verdict = "accepted" if accept_unbounded else "FAIL"
        return f"{verdict} ({c.unbounded} elements could not be bounded)"
    return "ok"
