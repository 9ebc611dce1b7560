"""Import a ``torch.export`` program (core ATen) into graph IR.

One pass over the FX graph: placeholders become function arguments (user inputs) or module
constants (parameters, buffers, lifted tensors; emitted as ``const`` ops at their first use, with
that use's location), each ``call_function`` node goes through its registered lowering, and the
output node becomes ``return``. A joint forward+backward program
(``torch.export.experimental._export_forward_backward``) imports with ``joint=True``: its
parameters become arguments too (they change every training step) and it returns the loss and
the parameters' gradients, in the order of its output specs. Nothing fails early: every
unsupported target, unsupported use of a supported target and unsupported dtype is collected as
a :class:`Problem` (nodes that depend on one are skipped, not counted twice), so one run reports
all of them.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import fx
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind

from d1c.errors import CompileError, Loc, UnsupportedError
from d1c.frontend import (  # noqa: F401 (registers)
    creation,
    elementwise,
    indexing,
    layout,
    nn,
    reductions,
    resample,
)
from d1c.frontend.common import (
    IGNORED_TARGETS,
    LOWERINGS,
    Ctx,
    Unavailable,
    Unsupported,
    elem_of_dtype,
    node_target,
    target_name,
    type_of_meta,
)
from d1c.frontend.location import node_loc
from d1c.frontend.op_table import Problem, describe_inputs, render_problems
from d1c.ir import Builder, Function, Module, Sym, TensorType, Value, verify_module


@dataclass
class _State:
    ep: ExportedProgram
    module: Module
    builder: Builder
    env: dict[fx.Node, Any] = field(default_factory=dict)
    lazy: dict[fx.Node, tuple[str, torch.Tensor]] = field(default_factory=dict)
    poisoned: set[fx.Node] = field(default_factory=set)
    joint: bool = False
    problems: list[Problem] = field(default_factory=list)

    def problem(self, node: fx.Node, reason: str, target: str | None = None) -> None:
        name = target or target_name(node.target)
        loc = node_loc(node)
        self.problems.append(Problem(name, reason, describe_inputs(node), loc))
        self.poisoned.add(node)


def import_program(ep: ExportedProgram, *, name: str = "model", joint: bool = False) -> Module:
    """Graph IR of ``ep``; :class:`UnsupportedError` listing every problem if there is any."""
    module, problems = lower_program(ep, name=name, joint=joint)
    if problems:
        raise UnsupportedError(
            f"model '{name}' uses operations d1c cannot compile:\n{render_problems(problems)}",
            hint="`d1c coverage MODEL` lists every op of the model and whether d1c supports it",
        )
    verify_module(module)
    return module


def lower_program(
    ep: ExportedProgram, *, name: str = "model", joint: bool = False
) -> tuple[Module, list[Problem]]:
    """Lower what can be lowered; return the module (incomplete if there are problems) and them."""
    func = Function("forward", [], [])
    st = _State(ep, Module(name, [func]), Builder(func), joint=joint)
    for node in ep.graph.nodes:
        if node.op == "placeholder":
            _placeholder(st, node)
        elif node.op == "call_function":
            _call(st, node)
        elif node.op == "output":
            _output(st, node)
    return st.module, st.problems


def _placeholder(st: _State, node: fx.Node) -> None:
    spec = next(s for s in st.ep.graph_signature.input_specs if s.arg.name == node.name)
    if spec.kind == InputKind.USER_INPUT or (st.joint and spec.kind == InputKind.PARAMETER):
        try:
            arg = Value(type_of_meta(node.meta.get("val")), name=node.name)
        except Unsupported as err:
            st.problem(node, str(err), target=f"input {node.name}")
            return
        st.builder.func.args.append(arg)
        st.env[node] = arg
    elif spec.kind == InputKind.TOKEN:  # threads side effects through the graph: no data
        st.env[node] = None
    elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
        data = st.ep.state_dict.get(spec.target)
        st.lazy[node] = (spec.target, st.ep.constants[spec.target] if data is None else data)
    else:
        st.problem(node, f"{spec.kind.name.lower()} inputs are not supported", f"input {node.name}")


def _const(st: _State, node: fx.Node, loc: Loc | None) -> Value:
    """Emit the module constant behind a parameter/buffer placeholder (once, at its first use)."""
    name, tensor = st.lazy.pop(node)
    try:
        elem = elem_of_dtype(tensor.dtype)
    except Unsupported as err:
        raise Unsupported(f"constant {name}: {err}") from None
    data = tensor.detach().cpu()
    data = data.to(torch.float32) if elem.is_float else data
    st.module.consts[name] = np.array(data.numpy(), order="C")  # a copy; keeps rank 0
    ty = TensorType(tuple(tensor.shape), elem)
    value = st.builder.create("const", [], {"name": Sym(name)}, ty, loc=loc)
    st.env[node] = value
    return value


def _arg(st: _State, a: Any, loc: Loc | None) -> Any:
    """An FX argument with nodes replaced by IR values (recursively through lists)."""
    if isinstance(a, fx.Node):
        return _const(st, a, loc) if a in st.lazy else st.env[a]
    if isinstance(a, list | tuple):
        return [_arg(st, x, loc) for x in a]
    return a


def bind(target: torch._ops.OpOverload, args: tuple, kwargs: dict) -> tuple[list, dict]:
    """Positional and keyword-only arguments of an ATen call, with schema defaults filled in."""
    pos: list = []
    kw: dict = {}
    for i, arg in enumerate(target._schema.arguments):
        if arg.name in kwargs:
            value = kwargs[arg.name]
        elif not arg.kwarg_only and i < len(args):
            value = args[i]
        else:
            value = arg.default_value if arg.has_default_value() else None
        if arg.kwarg_only:
            kw[arg.name] = value
        else:
            pos.append(value)
    return pos, kw


def _inputs(node: fx.Node) -> list[fx.Node]:
    return list(node.all_input_nodes)


def _call(st: _State, node: fx.Node) -> None:
    target = node_target(node)
    if any(n in st.poisoned for n in _inputs(node)):
        # downstream of a problem: still list an op that has no lowering at all
        known = target in LOWERINGS or target in IGNORED_TARGETS
        if not known and target is not operator.getitem:
            st.problem(node, "no lowering", target_name(target))
        st.poisoned.add(node)
    elif target in IGNORED_TARGETS:
        st.env[node] = None
    elif target is operator.getitem:
        _getitem(st, node)
    elif target not in LOWERINGS or target is not node.target:
        st.problem(node, "no lowering", target_name(target))
    else:
        try:
            _lower(st, node)
        except Unsupported as err:
            st.problem(node, str(err))


def _getitem(st: _State, node: fx.Node) -> None:
    source, index = node.args
    if st.env[source] is None:  # an item of a dropped node (an ignored check's token)
        st.env[node] = None
        return
    value = st.env[source][index]
    if isinstance(value, Unavailable):
        st.problem(
            node, f"output {index} ({value.what}) is not computed", target_name(source.target)
        )
    else:
        st.env[node] = value


def _lower(st: _State, node: fx.Node) -> None:
    loc = node_loc(node)
    expected = _expected_types(node.meta.get("val"))
    pos, kw = bind(node.target, node.args, node.kwargs)
    ctx = Ctx(st.builder, node, loc)
    result = LOWERINGS[node.target](ctx, *_arg(st, pos, loc), **_arg_dict(st, kw, loc))
    _check(node, result, expected, loc)
    st.env[node] = result


def _arg_dict(st: _State, kw: dict, loc: Loc | None) -> dict:
    return {k: _arg(st, v, loc) for k, v in kw.items()}


def _expected_types(val: Any) -> Any:
    """IR types of what torch computed (raises Unsupported for dtypes the IR lacks)."""
    if isinstance(val, list | tuple):
        return [_expected_types(v) for v in val]
    return type_of_meta(val)


def _check(node: fx.Node, result: Any, expected: Any, loc: Loc | None) -> None:
    """The lowering must produce exactly the types torch recorded for the node."""
    got = [result] if isinstance(expected, TensorType) else result
    want = [expected] if isinstance(expected, TensorType) else expected
    if not isinstance(got, list) or len(got) != len(want):
        raise CompileError(f"lowering of {target_name(node.target)} returned {result!r}", loc)
    for g, w in zip(got, want, strict=True):
        if isinstance(g, Unavailable):
            continue
        if not isinstance(g, Value) or g.type != w:
            what = g.type if isinstance(g, Value) else repr(g)
            raise CompileError(
                f"lowering of {target_name(node.target)} gives {what}, but torch computed {w}", loc
            )


_JOINT_OUTPUTS = (OutputKind.LOSS_OUTPUT, OutputKind.GRADIENT_TO_PARAMETER)


def _output(st: _State, node: fx.Node) -> None:
    specs = st.ep.graph_signature.output_specs
    outs = node.args[0] if isinstance(node.args[0], list | tuple) else [node.args[0]]
    values = []
    kinds = _JOINT_OUTPUTS if st.joint else (OutputKind.USER_OUTPUT,)
    for spec, out in zip(specs, outs, strict=True):
        if st.joint and spec.kind not in kinds:
            what = spec.kind.name.lower().replace("_", " ")
            st.problem(node, f"a training step with a {what} is not supported", "output")
            continue
        if spec.kind not in kinds:
            continue
        if not isinstance(out, fx.Node):
            st.problem(node, f"returns a {type(out).__name__}, not a tensor", "output")
        elif out not in st.poisoned:
            values.append(_arg(st, out, None))
    if not st.problems:
        st.builder.ret(values)
