"""Load a user's model file, export it with torch.export and import it into graph IR.

A MODEL spec is ``path.py`` (the file defines ``model() -> nn.Module`` and
``example_inputs() -> tuple[Tensor, ...]``) or ``path.py:factory`` (``factory()`` returns
``(model, inputs)``). Everything that can go wrong in the user's code — a missing file, a syntax
error, an exception in ``model()``, a model torch.export cannot trace — becomes a
:class:`D1cError` that points at the user's file and line, never a Python traceback.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch.export import ExportedProgram

import d1c.timing as timing
from d1c.errors import D1cError, Loc, UnsupportedError
from d1c.frontend.coverage import coverage_rows, coverage_table
from d1c.frontend.importer import import_program
from d1c.ir import Module

SPEC_HINT = (
    "a MODEL is path.py defining model() and example_inputs(), "
    "or path.py:factory where factory() returns (model, inputs)"
)
_MAX_MESSAGE_LINES = 4


def split_spec(spec: str) -> tuple[Path, str | None]:
    """``path.py[:factory]`` -> (path, factory or None)."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail.isidentifier() and head:
        return Path(head), tail
    return Path(spec), None


def _short(err: BaseException) -> str:
    lines = [ln for ln in str(err).splitlines() if ln.strip()][:_MAX_MESSAGE_LINES]
    return f"{type(err).__name__}: {' / '.join(lines)}" if lines else type(err).__name__


def user_frame(err: BaseException, path: Path | str | None) -> Loc | None:
    """The innermost traceback frame of ``err`` that lies in the user's file."""
    if path is None:
        return None
    want = os.path.realpath(path)
    frames = [
        f for f in traceback.extract_tb(err.__traceback__) if os.path.realpath(f.filename) == want
    ]
    if not frames:
        return None
    f = frames[-1]
    return Loc(f.filename, f.lineno or 1, (f.colno or 0) + 1)


def _user_error(err: BaseException, path: Path | None, what: str, hint: str) -> D1cError:
    return D1cError(f"{what} failed: {_short(err)}", user_frame(err, path), hint=hint)


def _exec_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise D1cError(f"model file '{path}' does not exist", hint=SPEC_HINT)
    name = "d1c_model_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(mod)
    except SyntaxError as err:
        loc = Loc(err.filename or str(path), err.lineno or 1, err.offset or 1)
        hint = "d1c imports the model file as Python; fix the syntax error"
        raise D1cError(f"syntax error in model file: {err.msg}", loc, hint=hint) from None
    except (Exception, SystemExit) as err:
        raise _user_error(
            err, path, "running the model file", "fix the error in the model file"
        ) from None
    finally:
        sys.path.remove(str(path.parent))
    return mod


def _callable(mod: ModuleType, name: str, path: Path) -> Callable[[], Any]:
    fn = getattr(mod, name, None)
    if not callable(fn):
        raise D1cError(f"model file '{path}' defines no function {name}()", hint=SPEC_HINT)
    return fn


def _call(fn: Callable[[], Any], path: Path) -> Any:
    try:
        return fn()
    except (Exception, SystemExit) as err:
        raise _user_error(
            err, path, f"{fn.__name__}()", "fix the error in the model file"
        ) from None


def _as_inputs(inputs: Any, path: Path) -> tuple[torch.Tensor, ...]:
    if isinstance(inputs, torch.Tensor):
        inputs = (inputs,)
    if not isinstance(inputs, list | tuple) or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise D1cError(
            f"example inputs from '{path}' must be a tuple of tensors, got {type(inputs).__name__}",
            hint=SPEC_HINT,
        )
    return tuple(inputs)


def load_model(spec: str) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    """The model and example inputs named by a MODEL spec."""
    path, factory = split_spec(spec)
    mod = _exec_file(path)
    if factory is not None:
        pair = _call(_callable(mod, factory, path), path)
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise D1cError(f"{factory}() must return (model, inputs)", hint=SPEC_HINT)
        model, inputs = pair
    else:
        model = _call(_callable(mod, "model", path), path)
        inputs = _call(_callable(mod, "example_inputs", path), path)
    if not isinstance(model, torch.nn.Module):
        raise D1cError(
            f"the model from '{path}' is a {type(model).__name__}, not an nn.Module", hint=SPEC_HINT
        )
    return model, _as_inputs(inputs, path)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence torch's warnings and error logging while exporting: d1c reports failures itself."""
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


# torch.export failures that mean "this op's output shape or value depends on the data": d1c
# compiles static graphs, so these are unsupported ops, not errors in the model.
DATA_DEPENDENT = frozenset(
    (
        "DataDependentOutputException",
        "DynamicOutputShapeException",
        "GuardOnDataDependentSymNode",
        "PendingUnbackedSymbolNotFound",
    )
)


def _data_dependent(err: BaseException, op: str, user_file: str | None) -> UnsupportedError:
    """An UnsupportedError naming the data-dependent op ``op`` (Python control flow on data
    names none: that stays an export error with its own hint)."""
    return UnsupportedError(
        f"'{op}' has a data-dependent output ({type(err).__name__}): d1c compiles static graphs",
        user_frame(err, user_file),
        hint="compute the value on the host, or give the op a static shape",
    )


def export_program(
    model: torch.nn.Module,
    inputs: tuple[torch.Tensor, ...],
    *,
    user_file: str | None = None,
    inputs_from: str = "example_inputs",
) -> ExportedProgram:
    """``torch.export`` (non-strict, autograd on, eval mode) decomposed to core ATen. If export
    fails because the model fails on its inputs in plain eager mode too (a shape mismatch), the
    error says so and points at ``inputs_from()`` in ``user_file``."""
    try:
        with _quiet(), torch.enable_grad():
            ep = torch.export.export(model.eval(), tuple(inputs), strict=False)
            return ep.run_decompositions()
    except Exception as err:
        ops = re.findall(r"aten\.[\w.]+", str(err))
        if type(err).__name__ in DATA_DEPENDENT and ops:
            raise _data_dependent(err, ops[0], user_file) from None
        eager = _eager_failure(model, inputs)
        if eager is not None:
            raise _mismatch_error(eager, model, inputs, user_file, inputs_from) from None
        raise _user_error(
            err,
            user_file,
            "torch.export" + (f" of {user_file}" if user_file else ""),
            "d1c traces the model with torch.export(strict=False); data-dependent Python control "
            "flow and unsupported Python constructs in forward() prevent that",
        ) from None


def _eager_failure(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> Exception | None:
    """The error of running ``model`` on ``inputs`` in eager mode, or None if it runs."""
    try:
        with _quiet(), torch.no_grad():
            model.eval()(*inputs)
    except Exception as err:
        return err
    return None


def _mismatch_error(
    err: Exception,
    model: torch.nn.Module,
    inputs: tuple[torch.Tensor, ...],
    user_file: str | None,
    inputs_from: str,
) -> D1cError:
    """The model fails on its inputs without torch.export too: not a tracing problem."""
    loc = user_frame(err, user_file) or function_return_loc(user_file, inputs_from)
    names = _forward_names(model, len(inputs))
    given = ", ".join(
        f"{n}: {str(t.dtype).removeprefix('torch.')}{list(t.shape)}"
        for n, t in zip(names, inputs, strict=True)
    )
    return D1cError(
        f"the model fails on its example inputs: {_short(err)}",
        loc,
        hint=f"torch eager fails too, so the inputs do not fit the model: {inputs_from}() gives "
        f"{given or 'no inputs'}; check their shapes and dtypes against forward()",
    )


def _forward_names(model: torch.nn.Module, n: int) -> list[str]:
    """The names of forward()'s first ``n`` parameters (``arg<i>`` where it has none)."""
    import inspect

    try:
        params = list(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"arg{i}" for i in range(n)]


def function_return_loc(path: str | None, name: str) -> Loc | None:
    """Where module-level function ``name`` of ``path`` returns (its last ``return``; its
    ``def`` line if it has none), or None."""
    import ast

    try:
        tree = ast.parse(Path(path).read_text()) if path else None
    except (OSError, SyntaxError, ValueError):
        return None
    fn = next(
        (f for f in getattr(tree, "body", ()) if isinstance(f, ast.FunctionDef) and f.name == name),
        None,
    )
    if fn is None:
        return None
    returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return)]
    at = max(returns, key=lambda r: r.lineno) if returns else fn
    return Loc(path, at.lineno, at.col_offset + 1)


def export_model(
    model: torch.nn.Module,
    inputs: tuple[torch.Tensor, ...],
    *,
    name: str = "model",
    user_file: str | None = None,
    inputs_from: str = "example_inputs",
) -> Module:
    """Graph IR of ``model`` called on ``inputs``."""
    with timing.phase("torch.export"):
        ep = export_program(model, inputs, user_file=user_file, inputs_from=inputs_from)
    with timing.phase("import into graph IR"):
        return import_program(ep, name=name)


def import_model(spec: str) -> Module:
    """Graph IR of the model named by a MODEL spec (the module is named after the file)."""
    path, factory = split_spec(spec)
    model, inputs = load_model(spec)
    return export_model(
        model, inputs, name=path.stem, user_file=str(path), inputs_from=factory or "example_inputs"
    )


def coverage(spec: str) -> tuple[str, int]:
    """The coverage table of the model named by a MODEL spec, and how many of its ops d1c
    cannot lower."""
    path, factory = split_spec(spec)
    model, inputs = load_model(spec)
    ep = export_program(model, inputs, user_file=str(path), inputs_from=factory or "example_inputs")
    rows = coverage_rows(ep)
    return coverage_table(rows), sum(not r.supported for r in rows)
