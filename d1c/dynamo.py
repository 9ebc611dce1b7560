"""``torch.compile(model, backend="d1c")``: compile each TorchDynamo subgraph with d1c.

Registered through the ``torch_dynamo_backends`` entry point (pyproject), so it works after
``pip install`` without importing d1c first. Options: ``torch.compile(model, backend="d1c",
options={"target": "mini", "dtype": "cfp8"})`` (defaults ``dojo-tile`` and ``bf16``).

Dynamo hands over an FX ``GraphModule`` (torch-level ops; parameters may be graph inputs) and
example inputs. The backend re-exports it with ``torch.export`` and decomposes it to core ATen
(:func:`d1c.frontend.export_program`), lowers it with the frontend's table, compiles it
(:func:`d1c.api.compile_exported`) and returns a function that runs the program on the simulator
(inputs packed by the JIT host code). A subgraph that cannot be compiled — unsupported ops (all
listed in ONE :class:`FallbackWarning`), inputs that are not tensors (dynamic shapes), an export
failure, or a compile error — runs eagerly instead, with one warning saying why.

:func:`programs` lists the programs compiled so far in this process (``report()``, ``ir()``,
``last_inputs``), e.g. to check outputs against their derived error bounds.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from d1c.errors import D1cError
from d1c.target import DEFAULT_TARGET

_PROGRAMS: list = []


class FallbackWarning(UserWarning):
    """A dynamo subgraph runs eagerly because d1c cannot compile it (the message says why)."""


def programs() -> list:
    """The :class:`d1c.api.Program` of every subgraph compiled by the backend, in order."""
    return list(_PROGRAMS)


def _fallback(gm, why: str) -> Callable[..., Any]:
    warnings.warn(f"d1c: running a subgraph eagerly: {why}", FallbackWarning, stacklevel=3)
    return gm.forward


def _unsupported(ep) -> str:
    """Every op of the subgraph that d1c does not lower (as ``d1c coverage`` lists them, so an
    op that only consumes another unsupported op's result is named too)."""
    from d1c.frontend import coverage_rows

    ops = sorted(r.op for r in coverage_rows(ep) if not r.supported)
    return f"{len(ops)} unsupported op(s): {', '.join(ops)}"


def _compile(gm, inputs: tuple, target: str, dtype: str):
    """The Program of ``gm``, or the reason it has none."""
    from d1c.api import compile_exported
    from d1c.frontend import export_program, lower_program
    from d1c.ir import verify_module

    ep = export_program(gm, inputs)
    module, problems = lower_program(ep, name="dynamo_graph")
    if problems:
        return None, _unsupported(ep)
    verify_module(module)
    return compile_exported(ep, module, inputs, target, dtype), None


def backend(gm, example_inputs, options: dict | None = None, **_kw) -> Callable[..., Any]:
    """The TorchDynamo backend (see the module docstring)."""
    import torch

    opts = dict(options or {})
    target, dtype = opts.pop("target", DEFAULT_TARGET), opts.pop("dtype", "bf16")
    if opts:
        raise D1cError(f"unknown d1c backend option(s): {', '.join(sorted(opts))}")
    inputs = tuple(example_inputs)
    if not all(isinstance(t, torch.Tensor) for t in inputs):
        return _fallback(gm, "non-tensor inputs (dynamic shapes) are not supported")
    try:
        program, why = _compile(gm, inputs, target, dtype)
    except D1cError as err:
        return _fallback(gm, err.message.splitlines()[0])
    if program is None:
        return _fallback(gm, why)
    _PROGRAMS.append(program)

    def run(*args: Any) -> Any:
        with torch.no_grad():
            return program.run(*args)

    return run
