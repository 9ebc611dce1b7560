"""Training steps: the joint forward+backward graph and the optimizer update as one program.

    import d1c
    prog = d1c.compile_training(model, torch.nn.functional.mse_loss, ((x,), (y,)),
                                optimizer=d1c.optim.SGD(0.1, momentum=0.9), dtype="bf16")
    loss = prog.step((x,), (y,))     # one simulated step; the loss as a torch scalar
    prog.parameters()                # {name: current weight} as torch tensors

How (docs/training.md): the model and its loss are exported together in train mode
(``torch.export.export(..., strict=False)``), ``_export_forward_backward`` makes the joint graph
(decomposed to core ATen, outputs labelled ``LOSS_OUTPUT`` and ``GRADIENT_TO_PARAMETER``), the
frontend imports it with the parameters as arguments (:func:`joint_module`), and
:func:`step_module` appends the optimizer's update: the step's graph IR maps (parameters,
optimizer state, inputs, targets) to (loss, new parameters, new state). The new parameters are
rounded to the storage format by an explicit ``convert`` (``rne``, or ``sr`` seeded per step).

With ``rounding="rne"`` the step is compiled to a ``.d1x`` program and every ``step`` is
simulated; the parameters and the optimizer state go back to the host between steps (they are
arguments and results of the program, not yet resident in SRAM across steps). With
``rounding="sr"`` the step runs in the IR interpreter on the quantized IR: the D1 draws stochastic
rounding from a per-tile stream that cannot reproduce the interpreter's per-tensor stream yet
(``codegen/kinds.py``), and d1c never runs a program it cannot check bit for bit.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from d1c import driver
from d1c.errors import D1cError, UnsupportedError
from d1c.ir import BF16, FP32, Builder, Module, Value, verify_module
from d1c.ir.clone import clone_module
from d1c.optim import SGD
from d1c.target import DEFAULT_TARGET

ROUNDINGS = ("rne", "sr")
_PREFIX = "model."


class _WithLoss(torch.nn.Module):
    """``loss_fn(model(*inputs), *targets)`` as a module whose only output is the loss."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable, n_inputs: int) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn
        self.n_inputs = n_inputs

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor]:
        out = self.model(*args[: self.n_inputs])
        return (self.loss_fn(out, *args[self.n_inputs :]),)


@dataclass
class Joint:
    """The joint graph in graph IR: ``(params..., inputs..., targets...) -> (loss, grads...)``.

    ``params`` names the model's parameters in argument order (``state_dict`` keys);
    ``grads[i]`` is the index in ``params`` of the parameter of output ``1 + i``."""

    module: Module
    params: list[str]
    grads: list[int]


def export_joint(
    model: torch.nn.Module, loss_fn: Callable, inputs: tuple, targets: tuple
) -> torch.export.ExportedProgram:
    """The joint forward+backward program of ``loss_fn(model(*inputs), *targets)`` in train
    mode (``torch.export.experimental._export_forward_backward``, decomposed to core ATen)."""
    from torch.export.experimental import _export_forward_backward

    wrapped = _WithLoss(model, loss_fn, len(inputs)).train()
    try:
        with _quiet(), torch.enable_grad():
            ep = torch.export.export(wrapped, (*inputs, *targets), strict=False)
            ep = ep.run_decompositions()
            _check_buffers(ep)
            traces = {n.name: (n.target, n.meta.get("stack_trace")) for n in ep.graph.nodes}
            joint = _export_forward_backward(ep, joint_loss_index=0)
    except D1cError:
        raise
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise D1cError(
            f"torch.export of the training step failed: {type(err).__name__}: {first}",
            hint="loss_fn(model(*inputs), *targets) must run in train mode and return a scalar "
            "tensor that depends on the parameters",
        ) from None
    _restore_traces(joint, traces)
    return joint


def _check_buffers(ep: torch.export.ExportedProgram) -> None:
    from torch.export.graph_signature import OutputKind

    mutated = [
        s.target for s in ep.graph_signature.output_specs if s.kind == OutputKind.BUFFER_MUTATION
    ]
    if mutated:
        raise UnsupportedError(
            "a training step that updates buffers is not supported yet: "
            + ", ".join(_key(t) for t in mutated),
            hint="batch norm's running statistics change in train mode; use layer norm, or "
            "track_running_stats=False",
        )


def _restore_traces(joint: torch.export.ExportedProgram, traces: dict) -> None:
    """The joint graph is a retrace whose stack traces point into torch's proxy code: its
    forward nodes keep their names and targets, so they get the user's source lines back; the
    backward nodes get none."""
    for node in joint.graph.nodes:
        target, trace = traces.get(node.name, (None, None))
        node.meta["stack_trace"] = _without_wrapper(trace) if target == node.target else None


def _without_wrapper(trace: str | None) -> str | None:
    """A stack trace without the frame of :class:`_WithLoss` (d1c's code, not the model's)."""
    if not trace:
        return trace
    here = re.escape(__file__)
    return re.sub(rf'(?m)^ *File "{here}", line \d+, in [^\n]*\n( {{4}}[^\n]*\n)?', "", trace)


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def joint_module(ep: torch.export.ExportedProgram, name: str = "train_step") -> Joint:
    """Import the joint program ``ep``: parameters become arguments, gradients results."""
    from torch.export.graph_signature import InputKind, OutputKind

    from d1c.frontend import import_program

    module = import_program(ep, name=name, joint=True)
    sig = ep.graph_signature
    params = [_key(s.target) for s in sig.input_specs if s.kind == InputKind.PARAMETER]
    outs = sig.output_specs
    if not outs or outs[0].kind != OutputKind.LOSS_OUTPUT:
        raise D1cError("the joint graph's first output is not the loss")
    grads = [params.index(_key(s.target)) for s in outs[1:]]
    return Joint(module, params, grads)


def _key(target: str) -> str:
    return target[len(_PREFIX) :] if target.startswith(_PREFIX) else target


def step_module(joint: Joint, optimizer: SGD, dtype: str, rounding: str) -> Module:
    """The joint graph with ``optimizer``'s update appended: arguments (params, state, inputs,
    targets), results (loss, updated params, updated state) — updated params are those with a
    gradient, in ``joint.grads`` order, each followed by its state tensors."""
    func = joint.module.main
    ret = func.ops.pop()
    loss, grads = ret.operands[0], ret.operands[1:]
    b = Builder(func, ret.loc)
    n = len(joint.params)
    state_args: list[Value] = []
    results = [loss]
    for k, g in zip(joint.grads, grads, strict=True):
        p = func.args[k]
        state = [Value(p.type, name=f"{s}_{p.name}") for s in optimizer.state()]
        state_args += state
        new_p, new_state = optimizer.update(b, p, g, state)
        results += [_stored(b, new_p, dtype, rounding), *new_state]
    func.args[n:n] = state_args
    b.ret(results)
    verify_module(joint.module)
    return joint.module


def _stored(b: Builder, x: Value, dtype: str, rounding: str) -> Value:
    """``x`` rounded to the storage format by an explicit convert (fp32: as it is)."""
    if dtype == "fp32":
        return x
    narrow = b.create("convert", [x], {"rounding": rounding}, x.type.with_elem(BF16))
    return b.create("convert", [narrow], {"rounding": "rne"}, x.type.with_elem(FP32))


class TrainingProgram:
    """A compiled training step: ``step``, ``parameters``, ``state_dict``, ``ir``."""

    def __init__(
        self,
        joint: Joint,
        module: Module,
        opts: driver.Options,
        optimizer: SGD,
        *,
        rounding: str = "rne",
        seed: int = 0,
    ) -> None:
        self.joint = joint
        self.optimizer = optimizer
        self.seed = seed
        self.steps = 0
        self._opts = opts
        self.module = clone_module(module)  # the step's graph IR as built (the ladder's input)
        self.rounding = rounding
        simulated = rounding == "rne"
        stages = driver.compile_stages(module, "placed" if simulated else "quantized", opts)
        self._stages = stages
        self.program = driver.build(stages["placed"], opts) if simulated else None
        self._last = None  # the latest simulation
        self._values: dict[str, np.ndarray] = {}
        self._state: list[np.ndarray] = []

    def _start(self, params: dict[str, np.ndarray]) -> None:
        """Initial weights (rounded to the storage format) and zero optimizer state."""
        self._values = {k: _round(v, self._opts.dtype) for k, v in params.items()}
        trained = [self.joint.params[k] for k in self.joint.grads]
        self._state = [
            np.zeros_like(self._values[name]) for name in trained for _ in self.optimizer.state()
        ]

    def step_inputs(self, inputs: Sequence[Any], targets: Sequence[Any]) -> list[np.ndarray]:
        """The step program's arguments for one step on ``(inputs, targets)``."""
        data = [_numpy(t) for t in (*inputs, *targets)]
        params = [self._values[name] for name in self.joint.params]
        return [*params, *self._state, *data]

    def step(self, inputs: Sequence[Any], targets: Sequence[Any]) -> torch.Tensor:
        """One training step (simulated; interpreted with ``rounding="sr"``); the loss."""
        args = self.step_inputs(inputs, targets)
        outs = self._run(args)
        self._apply(outs[1:])
        self.steps += 1
        return torch.from_numpy(np.asarray(outs[0], np.float32)).reshape(())

    def _run(self, args: list[np.ndarray]) -> list[np.ndarray]:
        if self.program is None:
            from d1c.interp import interpret

            return interpret(self._stages["quantized"], args, seed=self.step_seed())
        from d1c.isa.d1x import symbol_inputs
        from d1c.runtime.sim import simulate

        names = self._stages["placed"].main.arg_names()
        sym = symbol_inputs(self.program, dict(zip(names, args, strict=True)))
        result = simulate(self.program, None, sym)
        self._last = result
        return [result.outputs[f"out{i}"] for i in range(len(result.outputs))]

    def verify(self, inputs: Sequence[Any], targets: Sequence[Any], **kw: Any) -> Any:
        """The verification ladder (:func:`d1c.ladder.verify_module`) of the step program on
        the current weights and ``(inputs, targets)``; with ``rne`` rung 3 (tiled == placed ==
        simulated, bit for bit) included. The weights do not change."""
        from d1c.ladder import verify_module

        args = self.step_inputs(inputs, targets)
        o = self._opts
        return verify_module(
            clone_module(self.module), args, o.target, o.dtype, rounding=self.rounding, **kw
        )

    def step_seed(self) -> int:
        """The stochastic-rounding seed of the next step: (seed, step) mixed, so steps differ."""
        return (self.seed * 0x9E3779B97F4A7C15 + self.steps + 1) % (1 << 64)

    def _apply(self, outs: list[np.ndarray]) -> None:
        per = 1 + len(self.optimizer.state())
        state: list[np.ndarray] = []
        for i, k in enumerate(self.joint.grads):
            self._values[self.joint.params[k]] = np.asarray(outs[i * per], np.float32)
            state += [np.asarray(s, np.float32) for s in outs[i * per + 1 : (i + 1) * per]]
        self._state = state

    def parameters(self) -> dict[str, torch.Tensor]:
        """The current weights, keyed like ``model.named_parameters()``."""
        return {k: torch.from_numpy(v.copy()) for k, v in self._values.items()}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The current weights (as ``parameters``) plus the optimizer state, keyed
        ``optimizer.<param>.<state name>``."""
        out = self.parameters()
        trained = [self.joint.params[k] for k in self.joint.grads]
        names = [f"optimizer.{p}.{s}" for p in trained for s in self.optimizer.state()]
        out.update({n: torch.from_numpy(v.copy()) for n, v in zip(names, self._state, strict=True)})
        return out

    def report(self) -> Any:
        """Simulated figures of the latest step (:class:`d1c.api.Report`; before any step, of
        a timing-only simulation: the same cycles). Forward, backward and update are one
        program here, not timed apart."""
        from d1c.api import _report
        from d1c.runtime.sim import simulate

        if self.program is None:
            raise D1cError("rounding='sr' steps run in the IR interpreter: no simulated figures")
        result = self._last or simulate(self.program, None, None, timing_only=True)
        return _report(self.program, result)

    def ir(self, stage: str) -> str:
        """The step's IR at ``stage`` (graph, quantized, and with ``rne`` tiled, placed)."""
        from d1c.ir import print_module

        if stage not in self._stages:
            raise D1cError(f"no {stage} IR", hint=f"stages: {', '.join(self._stages)}")
        return print_module(self._stages[stage], elide_data=True)

    @property
    def graph(self) -> Module:
        """The step's graph IR (the ladder's reference)."""
        return self._stages["graph"]


def _round(x: np.ndarray, dtype: str) -> np.ndarray:
    from d1c.interp import round_to

    x = np.asarray(x, np.float32)
    return x.copy() if dtype == "fp32" else round_to(x, BF16).astype(np.float32)


def _numpy(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def load_training_file(path: str) -> tuple[torch.nn.Module, Callable, Any]:
    """``model()``, ``loss`` and ``iter(batches())`` of a training MODEL file (the convention
    of ``d1c train``, ``examples/train_mlp.py``); clean errors for what is missing."""
    from pathlib import Path

    from d1c.frontend.loader import _call, _callable, _exec_file

    file = Path(path)
    mod = _exec_file(file)
    model = _call(_callable(mod, "model", file), file)
    if not isinstance(model, torch.nn.Module):
        raise D1cError(f"model() of {path} returned a {type(model).__name__}, not an nn.Module")
    loss = _callable(mod, "loss", file)
    batches = _call(_callable(mod, "batches", file), file)
    try:
        return model, loss, iter(batches)
    except TypeError:
        raise D1cError(
            f"batches() of {path} must return an iterable of (inputs, targets)"
        ) from None


def _check_options(optimizer: Any, dtype: str, rounding: str) -> None:
    if not isinstance(optimizer, SGD):
        raise D1cError(
            f"optimizer must be a d1c.optim.SGD, got {type(optimizer).__name__}",
            hint="d1c.optim.SGD(lr, momentum=0.0, weight_decay=0.0); AdamW is not implemented yet",
        )
    if dtype not in ("bf16", "fp32"):
        raise D1cError(
            f"training supports dtype bf16 or fp32, got '{dtype}'",
            hint="CFloat8 training needs per-tensor biases for gradients and loss scaling "
            "(not implemented yet)",
        )
    if rounding not in ROUNDINGS:
        raise D1cError(f"rounding must be rne or sr, got '{rounding}'")


def _detached(t: Any) -> Any:
    """Data of the batch, never a leaf autograd would differentiate (only parameters are)."""
    return t.detach() if isinstance(t, torch.Tensor) else t


def _as_tuple(x: Any) -> tuple:
    return tuple(x) if isinstance(x, list | tuple) else (x,)


def compile_training(
    model: torch.nn.Module,
    loss_fn: Callable,
    example: tuple[Any, Any],
    *,
    optimizer: SGD,
    target: str = DEFAULT_TARGET,
    dtype: str = "bf16",
    rounding: str = "rne",
    seed: int = 0,
) -> TrainingProgram:
    """Compile one training step of ``model`` under ``loss_fn(model(*inputs), *targets)``
    (a scalar) with ``optimizer``, on the example batch ``example = (inputs, targets)`` (each a
    tensor or a tuple of tensors). The weights start from the model's current parameters."""
    _check_options(optimizer, dtype, rounding)
    if not isinstance(example, tuple | list) or len(example) != 2:
        raise D1cError("example must be (inputs, targets)", hint="e.g. ((x,), (y,))")
    inputs, targets = (tuple(_detached(t) for t in _as_tuple(e)) for e in example)
    name = re.sub(r"[^A-Za-z0-9_]", "_", type(model).__name__.lower()) + "_step"
    joint = joint_module(export_joint(model, loss_fn, inputs, targets), name)
    module = step_module(joint, optimizer, dtype, rounding)
    opts = driver.Options(target, dtype)  # activations round to nearest; the update: rounding
    prog = TrainingProgram(joint, module, opts, optimizer, rounding=rounding, seed=seed)
    params = dict(model.named_parameters())
    prog._start({k: params[k].detach().numpy() for k in joint.params})
    return prog
