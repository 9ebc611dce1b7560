"""Elementwise checks of the verification ladder (DESIGN §5): an output against its reference
within a per-element allowance (a derived bound, or rung 1's tolerance), and the op where a
non-finite value first appears.

    c = check_elements(got, ref, bound)
    c.err, c.allowed, c.ratio, c.index     # the worst element: the largest error/allowance ratio
    c.median                               # the median ratio: the headroom of a typical element
    c.ok(accept_unbounded=False)

Two things are never "within": an element that is NaN or infinite where the reference is finite
(a *non-finite surprise*, counted in ``nonfinite``; its ratio is inf), and an element whose
allowance is inf or NaN (*unbounded*: the rung could not bound it; counted in ``unbounded`` and
left out of the ratios). An unbounded element fails the check unless the caller accepts
unbounded outputs explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from d1c.accuracy.bound_rules import data_error
from d1c.errors import AccuracyError
from d1c.ir import Function, Op, Value
from d1c.ir.printer import op_text

F64 = np.float64


@dataclass(frozen=True, slots=True)
class ElementCheck:
    """One output checked elementwise against its allowance (see the module docstring)."""

    err: float  # |got - ref| at the worst element
    allowed: float  # the allowance (bound or tolerance) of that element
    ratio: float  # err / allowed there: > 1 is a failure (nan: no element has a finite allowance)
    index: tuple[int, ...] | None  # the worst element (None for an empty output)
    median: float  # median of err / allowed over the elements with a finite allowance
    unbounded: int  # elements whose allowance is inf or NaN
    nonfinite: int  # elements NaN or infinite where the reference is finite
    wild: int = 0  # of those, the ones whose allowance is inf or NaN too (the rung said so)
    exceeded: int = 0  # finite elements beyond their finite allowance

    @property
    def within(self) -> bool:
        """Every bounded element within its allowance and no non-finite surprise."""
        return self.nonfinite == 0 and self.exceeded == 0

    def ok(self, accept_unbounded: bool = False) -> bool:
        return self.within and (accept_unbounded or self.unbounded == 0)


def nonfinite_surprises(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Elementwise: ``got`` is NaN or infinite where ``ref`` is finite."""
    g = np.asarray(got)
    if g.dtype.kind != "f":
        return np.zeros(g.shape, bool)
    return ~np.isfinite(g) & np.isfinite(np.asarray(ref, F64))


def check_elements(got: np.ndarray, ref: np.ndarray, allowed: np.ndarray | float) -> ElementCheck:
    """``got`` against ``ref`` (float64) within ``allowed``, elementwise."""
    ref = np.asarray(ref, F64)
    err = data_error(np.asarray(got), ref)
    allowed = np.broadcast_to(np.asarray(allowed, F64), err.shape)
    surprise = nonfinite_surprises(got, ref)
    bounded = np.isfinite(allowed)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / np.where(bounded, allowed, 1.0))
    ratio = np.where(surprise, np.inf, np.where(bounded, ratio, -1.0))
    if err.size == 0:
        return ElementCheck(0.0, 0.0, 0.0, None, 0.0, 0, 0, 0, 0)
    i = int(np.argmax(ratio))
    counted = ratio[ratio >= 0]
    return ElementCheck(
        float(err.flat[i]),
        float(allowed.flat[i]),
        float(ratio.flat[i]) if ratio.flat[i] >= 0 else float("nan"),
        tuple(int(k) for k in np.unravel_index(i, err.shape)),
        float(np.median(counted)) if counted.size else float("nan"),
        int(np.count_nonzero(~bounded & ~surprise)),
        int(np.count_nonzero(surprise)),
        int(np.count_nonzero(~bounded & surprise)),
        int(np.count_nonzero(bounded & ~surprise & (err > allowed))),
    )


@dataclass(frozen=True, slots=True)
class NonFinite:
    """The first op whose result is NaN or infinite where its float64 reference is finite."""

    func: Function
    op: Op
    count: int  # such elements of its result
    index: tuple[int, ...]  # the first of them
    value: float

    def error(self, what: str) -> AccuracyError:
        """The finding as an error at the op's position, for the report of rung ``what``."""
        kind = "NaN" if np.isnan(self.value) else f"{self.value:+}"
        return AccuracyError(
            f"{what}: `{op_text(self.func, self.op)}` gives {kind} at {list(self.index)} "
            f"({self.count} element(s) NaN or infinite where the float64 reference is finite)",
            self.op.where(),
            hint=_nonfinite_hint(self.op),
        )


def _nonfinite_hint(op: Op) -> str:
    elem = op.result.type.elem
    if elem.is_float and elem.name not in ("fp32",):
        return (
            f"the result type {elem} overflows or an operand is non-finite; see "
            "docs/lowering.md §1 for how values beyond a storage format's range are stored"
        )
    return "an operand of this op is outside the op's domain in fp32"


def first_nonfinite(
    func: Function, values: dict[Value, np.ndarray], refs: dict[Value, np.ndarray]
) -> NonFinite | None:
    """The first op of ``func`` (in program order) with a non-finite surprise in ``values``
    against ``refs`` (ops missing from either are skipped)."""
    for op in func.ops[:-1]:
        v = op.result
        if v not in values or v not in refs:
            continue
        bad = nonfinite_surprises(values[v], refs[v])
        if bad.any():
            i = int(np.argmax(bad))
            index = tuple(int(k) for k in np.unravel_index(i, bad.shape))
            return NonFinite(func, op, int(bad.sum()), index, float(np.asarray(values[v]).flat[i]))
    return None
