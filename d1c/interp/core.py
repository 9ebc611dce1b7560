"""The interpreter loop, the evaluator table, input/constant checks and rounding to element types.

An evaluator is a small function ``fn(call) -> np.ndarray`` registered for one op name with
:func:`register_eval`. The loop hands it the operand arrays in a :class:`Call`; it returns the
result computed in float32 (or the integer/bool host dtype), and the loop rounds float results to
the result's element type with :func:`d1c.isa.numerics.quantize` and checks shape and dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from d1c.errors import D1cError, Loc, SimulationError, UnsupportedError
from d1c.ir.core import Function, Module, Op, Value
from d1c.ir.types import FP32, ElemType, TensorType
from d1c.isa.numerics import quantize, saturate


@dataclass(frozen=True, slots=True)
class Call:
    """One op about to be evaluated: its operand arrays and the context an evaluator may need."""

    op: Op
    args: tuple[np.ndarray, ...]
    module: Module
    index: int  # position of the op in its function; the stochastic-rounding stream
    seed: int

    @property
    def attrs(self) -> dict[str, Any]:
        return self.op.attrs

    @property
    def type(self) -> TensorType:
        return self.op.result.type

    @property
    def elem(self) -> ElemType:
        return self.op.result.type.elem

    def fail(self, message: str, hint: str | None = None) -> SimulationError:
        """A data-dependent fault of this op (bad index, integer division by zero)."""
        return SimulationError(f"'{self.op.name}': {message}", self.op.where(), hint=hint)


Eval = Callable[[Call], Any]
EVALUATORS: dict[str, Eval] = {}


def register_eval(*names: str) -> Callable[[Eval], Eval]:
    """Decorator: register ``fn`` as the evaluator of the ops ``names``."""

    def wrap(fn: Eval) -> Eval:
        for name in names:
            if name in EVALUATORS:
                raise ValueError(f"op '{name}' has two evaluators")
            EVALUATORS[name] = fn
        return fn

    return wrap


def round_to(x: np.ndarray, elem: ElemType, rounding: str = "rne", **kw: int) -> np.ndarray:
    """``x`` (float32) rounded to the float element type ``elem`` (identity for fp32)."""
    if elem == FP32 or not elem.is_float:
        return x
    return quantize(x, elem.name, bias=elem.bias, rounding=rounding, **kw)


def round_constant(x: np.ndarray, elem: ElemType) -> np.ndarray:
    """A constant (``const`` data, a ``full`` or ``pad`` value) as the float element type
    ``elem`` stores it: a finite value beyond the type's largest finite value saturates to that
    value with its sign (``torch.finfo(torch.float32).min`` in bf16 is bf16's most negative
    finite value, not -inf: docs/lowering.md §1), then it rounds to nearest; ±inf and NaN stay."""
    x = np.asarray(x, dtype=np.float32)
    if elem == FP32 or not elem.is_float:
        return x
    return round_to(saturate(x, elem.name, elem.bias), elem)


def interpret(
    module: Module,
    inputs: Sequence[np.ndarray],
    *,
    func: str | None = None,
    seed: int = 0,
    trace: dict[Value, np.ndarray] | None = None,
) -> list[np.ndarray]:
    """Run function ``func`` (default: the first) of ``module`` on ``inputs``; return its results.

    ``seed`` seeds stochastic rounding in ``convert {rounding = "sr"}``. Bad inputs, missing
    constant data, ops without an evaluator and data faults raise :class:`D1cError`. With
    ``trace`` (a dict), every argument and op result is also stored there by its value, as it is
    computed (so an error leaves the values before it).
    """
    f = _pick_function(module, func)
    _prescan(f, module)
    env: dict[Value, np.ndarray] = {} if trace is None else trace
    env.update(zip(f.args, _check_inputs(f, inputs), strict=True))
    with np.errstate(all="ignore"):
        for index, op in enumerate(f.ops):
            args = tuple(_operand(env, v, op) for v in op.operands)
            if op.name == "return":
                return [np.array(a, copy=True) for a in args]
            env[op.result] = _evaluate(Call(op, args, module, index, seed))
    raise D1cError(f"function @{f.name} has no 'return'", f.pos)


def _pick_function(module: Module, name: str | None) -> Function:
    if name is None:
        if not module.functions:
            raise D1cError(f"module @{module.name} has no function")
        return module.main
    try:
        return module.function(name)
    except KeyError:
        have = ", ".join(f"@{f.name}" for f in module.functions)
        raise D1cError(
            f"module @{module.name} has no function @{name}", hint=f"it has {have}"
        ) from None


def _prescan(f: Function, module: Module) -> None:
    """Fail before running anything on an op without an evaluator or a constant without data."""
    for op in f.ops:
        if op.name not in EVALUATORS:
            raise UnsupportedError(
                f"the interpreter has no evaluator for op '{op.name}'",
                op.where(),
                hint="register one with d1c.interp.register_eval",
            )
        if op.name == "const":
            _check_const(op, module)


def _check_const(op: Op, module: Module) -> None:
    name = op.attrs["name"].name
    data = module.consts.get(name)
    if data is None:
        raise D1cError(
            f"constant @{name} has no data",
            op.where(),
            hint="the IR was probably printed with its data elided; print it with the data lines",
        )
    _check_array(data, op.result.type, f"constant @{name}", op.where())


def _check_inputs(f: Function, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    want = ", ".join(str(a.type) for a in f.args)
    if len(inputs) != len(f.args):
        raise D1cError(
            f"function @{f.name} takes {len(f.args)} inputs, got {len(inputs)}",
            f.pos,
            hint=f"pass arrays of types ({want})",
        )
    arrays = []
    for i, (arg, x) in enumerate(zip(f.args, inputs, strict=True)):
        what = f"input {i} (%{arg.name or f'arg{i}'})"
        a = np.asarray(x)
        _check_array(a, arg.type, what, f.pos)
        arrays.append(a)
    return arrays


def _check_array(a: np.ndarray, t: TensorType, what: str, loc: Loc | None) -> None:
    """Shape, host dtype, and exact representability in a float element type below fp32."""
    host = np.dtype(t.elem.host_dtype)
    if a.shape != t.shape:
        raise D1cError(
            f"{what} has shape {list(a.shape)}, expected {t}",
            loc,
            hint=f"reshape it to {list(t.shape)}",
        )
    if a.dtype != host:
        raise D1cError(
            f"{what} has dtype {a.dtype}, expected {host} for {t}",
            loc,
            hint=f"convert it with .astype(numpy.{host})",
        )
    if t.elem.is_float and t.elem != FP32:
        q = round_to(a, t.elem)
        if not np.array_equal(q, a, equal_nan=True):
            raise D1cError(
                f"{what} holds values that {t.elem} cannot represent exactly",
                loc,
                hint=f"round it first with d1c.isa.numerics.quantize(x, '{t.elem.name}')",
            )


def _operand(env: dict, v: Any, op: Op) -> np.ndarray:
    a = env.get(v)
    if a is None:
        raise D1cError(
            f"'{op.name}' uses a value that is not defined before it",
            op.where(),
            hint="run d1c.ir.verify_module on the module",
        )
    return a


def _evaluate(call: Call) -> np.ndarray:
    op = call.op
    try:
        out = EVALUATORS[op.name](call)
    except D1cError as err:
        if err.loc is None:
            err.loc = op.where()
        raise
    except (TypeError, ValueError, ArithmeticError, IndexError) as err:
        raise UnsupportedError(
            f"cannot evaluate '{op.name}' on {', '.join(str(v.type) for v in op.operands)}: {err}",
            op.where(),
        ) from None
    return _fit(np.asarray(out), call)


def _fit(out: np.ndarray, call: Call) -> np.ndarray:
    """Round a float result to its element type; check shape and dtype (evaluator bugs)."""
    t = call.type
    if out.shape != t.shape or out.dtype != np.dtype(t.elem.host_dtype):
        raise D1cError(
            f"interpreter bug: '{call.op.name}' gave {out.dtype}{list(out.shape)}, expected {t}",
            call.op.where(),
        )
    return round_to(out, t.elem)
