"""``decompose``: rewrite every non-primitive op into the primitives of docs/lowering.md §2.

Runs on quantized IR (after ``assign-formats`` and ``canonicalize``) and on fp32 graph IR
alike. The rules live in :mod:`d1c.passes.decompose_math` (reductions, softmax, log_softmax,
layer_norm, batch_norm, matmul, pow, iota) and :mod:`d1c.passes.decompose_conv` (conv2d as
implicit GEMM, the pools); their docstrings give each decomposition and its order of operations.
Float intermediates of a composite op are fp32 and its result is converted once to the op's
type, so a quantized module keeps its storage formats at op boundaries.

Every decomposition follows the interpreter's evaluator step for step, so the decomposed module
computes the same bits, except conv2d (its K order changes, see decompose_conv) and ``pow``
with a run-time exponent (``exp(b * log(a))``, see decompose_math). The decomposed module is the
reference of the tiled level (tiling never changes bits).

Order of work:

1. Every op that is not primitive (:func:`d1c.passes.primitives.check_primitive`, structural
   part) and has no rule, or that its rule declines (integer ``pow``, ...), is collected
   first; if there is any, one :class:`CompileError` lists them all (op, count, source lines, reason) and the module is left untouched.
2. Each function is rebuilt in one pass in program order: primitive ops are kept, the others are
   replaced by the ops their rule emits at the op's location.
3. Dead ops are removed, then (``fold = true``, the default) the constant-folding rule
   (:func:`~d1c.passes.fold_constants.fold_module`) evaluates what
   the rules left constant (the conv weight's permute, batch_norm's per-channel chain, ...).
4. Every op is checked again; a leftover non-primitive op is a bug of this pass (CompileError).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from d1c.errors import CompileError
from d1c.ir import Builder, Function, Module, Op, Value
from d1c.passes import decompose_conv as C
from d1c.passes import decompose_math as M
from d1c.passes.decompose_emit import Emitter
from d1c.passes.fold_constants import MAX_ELEMENTS, fold_module
from d1c.passes.pass_manager import Context, register_pass
from d1c.passes.primitives import check_primitive
from d1c.passes.rewrite import drop_unused_consts, has_side_effects


@dataclass(frozen=True)
class Rule:
    build: Callable[[Op, Emitter], Value]
    reject: Callable[[Op], str | None] | None = None  # why this op cannot be decomposed


RULES: dict[str, Rule] = {
    "reduce_sum": Rule(M.reduction),
    "reduce_max": Rule(M.reduction),
    "reduce_min": Rule(M.reduction),
    "reduce_mean": Rule(M.reduce_mean),
    "softmax": Rule(M.softmax),
    "log_softmax": Rule(M.softmax),
    "layer_norm": Rule(M.layer_norm),
    "batch_norm": Rule(M.batch_norm),
    "matmul": Rule(M.matmul),
    "pow": Rule(M.pow_, M.reject_pow),
    "iota": Rule(M.iota),
    "sin": Rule(M.sin_cos),
    "cos": Rule(M.sin_cos),
    "conv2d": Rule(C.conv2d),
    "max_pool2d": Rule(C.max_pool2d),
    "avg_pool2d": Rule(C.avg_pool2d),
    "adaptive_avg_pool2d": Rule(C.adaptive_avg_pool2d),
}

HINT = (
    "express these with supported ops in the model; ops on constants only (up to 65,536 "
    "elements) are folded at compile time by canonicalize, which runs first"
)


@register_pass
@dataclass(frozen=True)
class Decompose:
    name: ClassVar[str] = "decompose"
    fold: bool = True
    max_elements: int = MAX_ELEMENTS  # fold-constants' bound, for the final folding

    def apply(self, module: Module, ctx: Context) -> Module:
        check_decomposable(module)
        for func in module.functions:
            decompose_function(module, func)
            remove_dead(func)
        if self.fold:
            fold_module(module, self.max_elements)
        drop_unused_consts(module)
        _check_result(module)
        return module


def _failure(op: Op) -> str | None:
    """Why ``op`` is neither primitive nor decomposable, or None."""
    why = check_primitive(op, formats=False)
    if why is None:
        return None
    rule = RULES.get(op.name)
    if rule is None:
        return why
    return rule.reject(op) if rule.reject is not None else None


def check_decomposable(module: Module) -> None:
    """Raise one CompileError listing every op without a primitive form (before any change)."""
    bad = [(op, why) for op in module.ops() if (why := _failure(op)) is not None]
    if bad:
        raise CompileError(_report(bad), bad[0][0].loc or bad[0][0].pos, hint=HINT)


def _report(bad: list[tuple[Op, str]]) -> str:
    groups: dict[str, list[tuple[Op, str]]] = {}
    for op, why in bad:
        groups.setdefault(op.name, []).append((op, why))
    lines = [f"{len(bad)} op(s) have no primitive form on the D1 tile:"]
    for name, items in groups.items():
        places = list(dict.fromkeys(_place(op) for op, _ in items))
        shown = ", ".join(places[:8]) + (
            f", ... ({len(places) - 8} more)" if len(places) > 8 else ""
        )
        lines.append(f"  '{name}' x{len(items)} at {shown}: {items[0][1]}")
    return "\n".join(lines)


def _place(op: Op) -> str:
    loc = op.loc or op.pos
    return f"{loc.file}:{loc.line}" if loc is not None else "<unknown location>"


def decompose_function(module: Module, func: Function) -> None:
    """Rebuild ``func`` with every non-primitive op replaced by its rule's ops."""
    out = Function(func.name, func.args, func.result_types)
    builder = Builder(out)
    emit = Emitter(module, builder)
    replaced: dict[Value, Value] = {}
    for op in func.ops:
        op.operands = [replaced.get(v, v) for v in op.operands]
        if check_primitive(op, formats=False) is None:
            out.ops.append(op)
            continue
        builder.loc = op.loc
        value = RULES[op.name].build(op, emit)
        if value.type != op.result.type:  # pragma: no cover - a rule bug
            raise CompileError(f"decompose: rule for '{op.name}' gave {value.type}", op.loc)
        replaced[op.result] = value
    func.ops = out.ops


def remove_dead(func: Function) -> None:
    """Drop ops whose results nobody reads (no side effects), in one backward sweep."""
    live: set[Value] = set()
    kept: list[Op] = []
    for op in reversed(func.ops):
        if has_side_effects(op) or any(r in live for r in op.results):
            kept.append(op)
            live.update(op.operands)
    func.ops = kept[::-1]


def _check_result(module: Module) -> None:
    left = [(op, why) for op in module.ops() if (why := check_primitive(op, formats=False))]
    if left:  # pragma: no cover - a rule bug
        raise CompileError("decompose left non-primitive ops:\n" + _report(left).split("\n", 1)[1])
