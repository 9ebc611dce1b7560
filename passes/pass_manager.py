"""Pass registry, pipeline parsing and the pass manager.

A pass is a small frozen dataclass with a class-level ``name`` (its CLI name) and
``apply(module, ctx) -> Module``; its dataclass fields are its options. Passes register themselves
in :data:`PASSES` with :func:`register_pass`; file, CLI and class names line up
(``fold_batchnorm.py``, ``fold-batchnorm``, ``FoldBatchnorm``).

Pipelines are written ``canonicalize,fold-batchnorm`` with optional options in braces,
``canonicalize{max-iterations=4}`` (options separated by commas or spaces, dashes in option names
read as underscores). :func:`run_pipeline` verifies the IR after each pass and names the pass that
broke it, prints IR after chosen passes and times them, the debugging knobs of the CLI
(``--print-ir-after-all``, ``--print-ir-after=NAME``, ``--time-passes``).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TextIO

import d1c.timing as timing
from d1c.errors import D1cError, Loc, ParseError, VerifyError, did_you_mean
from d1c.ir import Module, print_module, verify_module
from d1c.target import DEFAULT_TARGET, Target, load_target


@dataclass(frozen=True)
class Context:
    """What every pass may read besides the module: compile options shared by the pipeline."""

    target: Target = None  # type: ignore[assignment]  # a name or path is loaded here, once
    dtype: str | None = None
    debug: bool = False
    calibration: tuple | None = None  # example inputs (numpy arrays) for range-based choices

    def __post_init__(self) -> None:
        if not isinstance(self.target, Target):
            object.__setattr__(self, "target", load_target(self.target or DEFAULT_TARGET))


class Pass(Protocol):
    name: ClassVar[str]

    def apply(self, module: Module, ctx: Context) -> Module: ...


PASSES: dict[str, type] = {}


def register_pass(cls: type) -> type:
    """Class decorator: add a frozen dataclass pass to :data:`PASSES` under its ``name``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise ValueError(f"pass class {cls.__name__} needs a lower-case dashed `name`")
    if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:
        raise ValueError(f"pass class {cls.__name__} must be a frozen dataclass")
    if name in PASSES and PASSES[name] is not cls:
        raise ValueError(f"pass '{name}' is registered twice")
    PASSES[name] = cls
    return cls


# ---------------------------------------------------------------------------------------------
# Pipeline text


_ITEM = re.compile(r"\s*([A-Za-z0-9_-]+)\s*(?:\{([^{}]*)\})?\s*")


def _split_top(text: str) -> list[tuple[int, str]]:
    """Split at commas outside braces, keeping each item's start column (0-based)."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append((start, text[start:i]))
            start = i + 1
    items.append((start, text[start:]))
    return items


def _perr(text: str, col: int, message: str, hint: str | None = None) -> ParseError:
    return ParseError(message, Loc("<pipeline>", 1, col + 1), source=text, hint=hint)


def parse_pipeline(text: str) -> list[Any]:
    """Parse ``a,b{opt=1},c`` into pass instances; errors point at the offending item."""
    if not text.strip():
        return []
    passes = []
    for col, item in _split_top(text):
        m = _ITEM.fullmatch(item)
        if m is None:
            raise _perr(
                text, col, f"malformed pass '{item.strip()}'; expected NAME or NAME{{opt=value}}"
            )
        col += len(item) - len(item.lstrip())
        cls = PASSES.get(m.group(1))
        if cls is None:
            known = ", ".join(sorted(PASSES))
            hint = did_you_mean(m.group(1), PASSES) + f"known passes: {known}"
            raise _perr(text, col, f"unknown pass '{m.group(1)}'", hint=hint)
        passes.append(_instantiate(cls, m.group(2) or "", text, col))
    return passes


def _instantiate(cls: type, body: str, text: str, col: int) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    options: dict[str, Any] = {}
    for word in filter(None, re.split(r"[,\s]+", body)):
        key, eq, raw = word.partition("=")
        key = key.replace("-", "_")
        if not eq or key not in fields:
            known = ", ".join(f.replace("_", "-") for f in fields) or "none"
            raise _perr(text, col, f"pass '{cls.name}' has no option '{word}'; options: {known}")
        try:
            options[key] = _convert(raw, fields[key].type)
        except ValueError as err:
            raise _perr(text, col, f"option '{word}' of pass '{cls.name}': {err}") from None
    return cls(**options)


def _convert(raw: str, annotation: Any) -> Any:
    kind = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    if kind == "bool":
        if raw.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"expected true or false, got '{raw}'")
        return raw.lower() in ("true", "1")
    if kind in ("int", "float"):
        return {"int": int, "float": float}[kind](raw)
    if kind == "str":
        return raw
    raise ValueError(f"options of type {kind} cannot be set from a pipeline")


def pass_spec(p: Any) -> str:
    """The pipeline text of one pass instance: its name and the options that differ from defaults."""
    opts = [
        f"{f.name.replace('_', '-')}={_format_option(getattr(p, f.name))}"
        for f in dataclasses.fields(p)
        if f.default is dataclasses.MISSING or getattr(p, f.name) != f.default
    ]
    return p.name + ("{" + ",".join(opts) + "}" if opts else "")


def _format_option(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# ---------------------------------------------------------------------------------------------
# Running


@dataclass(frozen=True)
class PassManager:
    """Runs pass instances in order with the debugging knobs of the CLI."""

    passes: tuple[Any, ...]
    ctx: Context = field(default_factory=Context)
    verify_each: bool = True
    print_after_all: bool = False
    print_after: frozenset[str] = frozenset()
    time_passes: bool = False

    def run(self, module: Module, out: TextIO | None = None) -> Module:
        """Run the pipeline on ``module`` (passes may mutate it) and return the result.

        Each pass and the verifier add their time to the command's timeline when one records
        (:mod:`d1c.timing`); ``time_passes`` prints the table of this run alone. Dumps and the
        table go to ``out`` (default: stderr).
        """
        out = sys.stderr if out is None else out
        _check_print_after(self.print_after, self.passes)
        if not self.time_passes:
            return self._run(module, out)
        with timing.recording(since_import=False) as tl:
            module = self._run(module, out)
        out.write(timing.render(tl, "passes"))
        return module

    def _run(self, module: Module, out: TextIO) -> Module:
        if self.verify_each:
            with timing.phase("verifier"):
                _verify(module, None)
        for p in self.passes:
            with timing.phase(p.name):
                module = _run_one(p, module, self.ctx)
            if self.print_after_all or p.name in self.print_after:
                out.write(dump_after(p.name, module))
            if self.verify_each:
                with timing.phase("verifier"):
                    _verify(module, p.name)
        return module


def run_pipeline(
    module: Module,
    passes: str | Sequence[Any],
    *,
    ctx: Context | None = None,
    verify_each: bool = True,
    print_after_all: bool = False,
    print_after: Iterable[str] = (),
    time_passes: bool = False,
    out: TextIO | None = None,
) -> Module:
    """Parse ``passes`` if it is pipeline text, then run it with a :class:`PassManager`."""
    pm = PassManager(
        tuple(parse_pipeline(passes) if isinstance(passes, str) else passes),
        ctx or Context(),
        verify_each,
        print_after_all,
        frozenset(print_after),
        time_passes,
    )
    return pm.run(module, out)


def _check_print_after(names: frozenset[str], passes: tuple[Any, ...]) -> None:
    known = set(PASSES) | {p.name for p in passes}
    unknown = sorted(names - known)
    if unknown:
        raise D1cError(
            f"--print-ir-after names unknown pass '{unknown[0]}'",
            hint=did_you_mean(unknown[0], known) + "known passes: " + ", ".join(sorted(known)),
        )


def _run_one(p: Any, module: Module, ctx: Context) -> Module:
    try:
        result = p.apply(module, ctx)
    except D1cError:
        raise
    except Exception as err:  # a bug in the pass: keep the traceback, say which pass
        if hasattr(err, "add_note"):
            err.add_note(f"while running pass '{pass_spec(p)}'")
        raise
    if not isinstance(result, Module):
        raise TypeError(f"pass '{p.name}' returned {type(result).__name__}, not a Module")
    return result


def _verify(module: Module, pass_name: str | None) -> None:
    try:
        verify_module(module)
    except VerifyError as err:
        if pass_name is None:
            raise VerifyError(
                f"the input IR is invalid before any pass ran: {err.message}", err.loc
            ) from None
        raise VerifyError(
            f"pass '{pass_name}' produced invalid IR: {err.message}",
            err.loc,
            hint=f"rerun with --print-ir-after={pass_name} to see the IR it produced",
        ) from None


def dump_after(name: str, module: Module) -> str:
    """The ``--print-ir-after`` dump: a header naming the pass, then the IR without data lines."""
    return f"// -----// IR Dump After {name} //----- //\n{print_module(module, elide_data=True)}\n"
