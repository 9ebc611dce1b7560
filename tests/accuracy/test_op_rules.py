"""Every op of the op table has interpreter semantics, a float64 reference and an error-bound
rule (so ``d1c verify`` never fails for lack of one), and each elementwise rule is sound: a
one-op graph on random data, run in fp32 and with bf16 storage, stays within its derived bound
of the float64 reference, and the reference agrees with torch float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from d1c.accuracy.bound_rules import RULES
from d1c.accuracy.bounds import bounded_outputs, observed_error
from d1c.accuracy.ref64 import OPS64
from d1c.interp import EVALUATORS, interpret
from d1c.ir import FP32, Builder, Function, Module, TensorType, Value
from d1c.ir.ops import OPS
from d1c.passes import Context, run_pipeline
from d1c.passes.assign_formats import AssignFormats

NO_VALUE = {"return"}  # ends a function; computes nothing
REFERENCE_IN_WALKER = {"const"}  # the walker reads constant data itself


@pytest.mark.parametrize("name", sorted(set(OPS) - NO_VALUE))
def test_every_op_has_semantics_a_reference_and_a_bound_rule(name: str) -> None:
    assert name in EVALUATORS, f"'{name}' has no interpreter evaluator"
    assert name in OPS64 or name in REFERENCE_IN_WALKER, f"'{name}' has no float64 reference"
    assert name in RULES, f"'{name}' has no error-bound rule"


def one_op(name: str, operands: list[TensorType], attrs: dict | None = None) -> Module:
    args = [Value(t, name=f"a{i}") for i, t in enumerate(operands)]
    f = Function("main", args, [])
    b = Builder(f)
    b.ret([b.create(name, args, attrs or {})])
    return Module("m", [f])


def within_bound(m: Module, x: list[np.ndarray], dtype: str) -> None:
    q = m if dtype == "fp32" else run_pipeline(m, [AssignFormats(dtype=dtype)], ctx=Context())
    for out, b in zip(interpret(q, x), bounded_outputs(m, q, x), strict=True):
        err = observed_error(out, b.ref)
        assert np.all(err <= b.err), f"error {err.max()} beyond bound at {np.argmax(err > b.err)}"


def t(*shape: int) -> TensorType:
    return TensorType(shape, FP32)


# op name -> (operand types, torch float64 oracle, input generator)
def _pos(rng, shape):
    return rng.uniform(0.1, 4.0, shape)


def _any(rng, shape):
    return rng.standard_normal(shape) * 3


ELEMENTWISE = {
    "pow": (
        [t(4, 9), t(9)],
        lambda a, b: torch.pow(a, b),
        [_any, lambda r, s: r.integers(-4, 5, s)],
    ),
    "pow_real": ([t(4, 9), t(9)], lambda a, b: torch.pow(a, b), [_pos, _any]),
}


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("case", sorted(ELEMENTWISE))
def test_elementwise_rule_is_sound(case: str, dtype: str) -> None:
    types, oracle, gens = ELEMENTWISE[case]
    rng = np.random.default_rng(7)
    x = [g(rng, ty.shape).astype(np.float32) for g, ty in zip(gens, types, strict=True)]
    m = one_op(case.split("_")[0], types)
    within_bound(m, x, dtype)
    ref = bounded_outputs(m, m, x)[0].ref
    want = oracle(*[torch.from_numpy(a).double() for a in x]).numpy()
    np.testing.assert_allclose(ref, want, rtol=1e-12, equal_nan=True)
