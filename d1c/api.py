"""The Python API: compile a torch model for a D1 target, run it on the simulator, inspect it.

    import d1c
    prog = d1c.compile(model, (x,), target="dojo-tile", dtype="bf16")
    y = prog.run(x)                 # torch tensors shaped like model(x), simulated bit-accurately
    print(prog.report())            # cycles, utilization, SRAM peak, counters
    print(prog.ir("tiled"))         # graph | quantized | tiled | placed | asm | host-ir
    prog.save("model.d1x"); prog = d1c.load("model.d1x")

``run`` packs the inputs with the program's JIT host code (:mod:`d1c.runtime.host`), simulates
the ``.d1x`` program (:func:`d1c.runtime.sim.simulate`) and unpacks the outputs, then restores
the model's output structure (the ``torch.export`` output tree) and dtypes. A saved program keeps
what ``run``, ``report`` and ``ir`` need as ``.d1x`` blobs: ``api`` (JSON: argument names, output
dtypes and tree) and ``ir.<stage>`` (each stage's IR text with constant data elided).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from d1c import driver
from d1c.errors import D1cError
from d1c.ir import Module, print_module
from d1c.target import DEFAULT_TARGET

IR_STAGES = (*driver.STAGE_NAMES, "host-ir")
_BOOL = "bool"
_NARROW_OF = {"bf16": "bfloat16", "fp16": "float16"}  # IR element -> torch dtype name
_NARROW = frozenset(_NARROW_OF.values())


@dataclass(frozen=True)
class Report:
    """Simulated figures of one run (``str(report)`` is a short readable summary)."""

    target: str
    cycles: int
    clock_hz: float
    cores: int
    macs: int
    peak_macs_per_cycle: int
    sram_peak: int
    sram_bytes: int
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Simulated time at the target's clock."""
        return self.cycles / self.clock_hz

    @property
    def utilization(self) -> float:
        """MACs done over the target's peak MACs in the same cycles."""
        return self.macs / (self.peak_macs_per_cycle * max(self.cycles, 1))

    def __str__(self) -> str:
        c = self.counters
        stalls = ", ".join(f"{k[6:]} {v:,}" for k, v in c.items() if k.startswith("stall_"))
        return "\n".join(
            [
                f"target {self.target}: {self.cycles:,} cycles ({self.seconds * 1e6:.3f} us "
                f"at {self.clock_hz / 1e9:g} GHz) on {self.cores:,} cores",
                f"utilization {100 * self.utilization:.4f}% of peak ({self.macs:,} MACs)",
                f"SRAM peak per core {self.sram_peak:,} of {self.sram_bytes:,} bytes",
                f"instructions {c.get('instructions', 0):,}, vector ops "
                f"{c.get('vector_ops', 0):,}, DMA bytes {c.get('dma_bytes', 0):,}, NoC bytes "
                f"{c.get('noc_sent', 0):,}",
                f"stall cycles: {stalls}",
            ]
        )


def _report(prog, result) -> Report:
    from d1c.target import load_target

    t = load_target(prog.target)
    names = ("instructions", "vector_ops", "dma_bytes", "noc_sent", "sram_read", "sram_written")
    counters = {n: result.total(n) for n in names}
    for cause in ("recv", "barrier", "sem", "dma"):
        counters[f"stall_{cause}"] = sum(s.stall.get(cause, 0) for s in result.cores.values())
    return Report(
        prog.target,
        result.cycles,
        result.clock_hz,
        len(result.cores),
        result.total("macs"),
        t.peak_macs_per_cycle,
        int(dict(prog.meta).get("sram_peak", 0)),
        t.sram_bytes,
        counters,
    )


class Program:
    """A compiled program: ``run``, ``report``, ``ir``, ``save`` (see the module docstring)."""

    def __init__(
        self,
        program,
        info: dict[str, Any],
        stages: dict[str, Module] | None = None,
        texts: dict[str, str] | None = None,
    ) -> None:
        self.program = program  # the .d1x program without the API blobs
        self.info = info
        self._stages = stages or {}
        self._texts = texts or {}  # stage IR text (constant data elided) of a loaded program
        self._host = None
        self._last = None
        self._last_inputs: tuple[np.ndarray, ...] | None = None

    def __repr__(self) -> str:
        args = ", ".join(self.info["args"])
        return f"<d1c.Program {self.info['name']}({args}) target={self.program.target}>"

    @property
    def target(self) -> str:
        return self.program.target

    @property
    def last_inputs(self) -> tuple[np.ndarray, ...] | None:
        """The inputs of the latest ``run`` (numpy), or None."""
        return self._last_inputs

    def run(self, *tensors: Any, workers: int = 1, ray: str | bool | None = None) -> Any:
        """Simulate the program on ``tensors``; torch tensors in the model's output structure.
        ``workers`` > 1 simulates regions of chips in that many processes, ``ray`` (True or a
        cluster address) on Ray actors; the results are identical."""
        from d1c.runtime.host import HostCode
        from d1c.runtime.sim import simulate

        arrays = self._arrays(tensors)
        if self._host is None:
            self._host = HostCode.of(self.program)
        inputs = self._symbol_inputs(arrays)
        self._last = simulate(self.program, None, inputs, io=self._host, workers=workers, ray=ray)
        self._last_inputs = arrays
        outs = [self._last.outputs[f"out{i}"] for i in range(len(self.info["outputs"]))]
        return self._to_torch(outs)

    def _arrays(self, tensors: Sequence[Any]) -> tuple[np.ndarray, ...]:
        want = len(self.info["args"])
        if len(tensors) != want:
            raise D1cError(f"{self!r} takes {want} input(s), got {len(tensors)}")
        return tuple(_numpy(t) for t in tensors)

    def _symbol_inputs(self, arrays: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
        from d1c.isa.d1x import symbol_inputs

        return symbol_inputs(self.program, dict(zip(self.info["args"], arrays, strict=True)))

    def _to_torch(self, outs: list[np.ndarray]) -> Any:
        from torch.utils import _pytree

        leaves = [_leaf(arr, dtype) for arr, dtype in zip(outs, self.info["outputs"], strict=True)]
        spec = self.info.get("tree")
        if spec is None:
            return leaves[0] if len(leaves) == 1 else tuple(leaves)
        tree = _pytree.treespec_loads(spec)
        out = _pytree.tree_unflatten(leaves, tree)
        names = self.info.get("structseq") or {}
        return _restore(out, tree, names, [0]) if names else out

    def report(self) -> Report:
        """Figures of the latest ``run``; before any run, of a timing-only simulation (the same
        cycles: control flow does not depend on data)."""
        from d1c.runtime.sim import simulate

        result = self._last or simulate(self.program, None, None, timing_only=True)
        return _report(self.program, result)

    def ir(self, stage: str, *, elide_data: bool = True) -> str:
        """The text of one stage: graph, quantized, tiled, placed (IR), asm (listing), host-ir."""
        if stage not in IR_STAGES:
            raise D1cError(f"unknown stage '{stage}'", hint=f"stages: {', '.join(IR_STAGES)}")
        if stage == "asm":
            from d1c.isa.disasm import disassemble

            return disassemble(self.program)
        if stage == "host-ir":
            from d1c.runtime.host import host_ir, stored_ir

            return stored_ir(self.program) or host_ir(self.program)
        if stage in self._stages:
            return print_module(self._stages[stage], elide_data=elide_data)
        if elide_data and stage in self._texts:
            return self._texts[stage]
        raise D1cError(f"this program has no {stage} IR with its constant data (it was loaded)")

    def error_bounds(self, *tensors: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per output: the float64 reference of the graph on ``tensors`` and the derived bound on
        |output - reference| that ``d1c verify`` checks (needs a freshly compiled program)."""
        from d1c.accuracy.bounds import bounded_outputs

        if "graph" not in self._stages:
            raise D1cError("error bounds need the graph and quantized IR (compile, not load)")
        arrays = list(self._arrays(tensors))
        got = bounded_outputs(self._stages["graph"], self._stages["quantized"], arrays)
        return [(np.asarray(b.ref, np.float64), np.asarray(b.err, np.float64)) for b in got]

    def to_bytes(self) -> bytes:
        """The ``.d1x`` bytes, with the API blobs."""
        blobs = dict(self.program.blobs)
        blobs["api"] = json.dumps(self.info, sort_keys=True).encode()
        texts = {s: print_module(m, elide_data=True) for s, m in self._stages.items()}
        for stage, text in (texts or self._texts).items():
            blobs[f"ir.{stage}"] = text.encode()
        return replace(self.program, blobs=tuple(blobs.items())).to_bytes()

    def save(self, path: str | Path) -> None:
        """Write the program as a ``.d1x`` file that :func:`load` reads back."""
        driver.write_bytes(self.to_bytes(), str(path))


def _leaf(arr: np.ndarray, dtype: str) -> Any:
    """One output as a torch tensor of the model's dtype and shape (rank 0 stays rank 0; bf16
    and fp16 results come back in their own dtype: their values are exact in either)."""
    import torch

    if dtype == _BOOL:
        return torch.from_numpy(np.array(arr != 0, order="C"))
    if dtype in _NARROW:
        return torch.from_numpy(np.array(arr, np.float32, order="C")).to(getattr(torch, dtype))
    return torch.from_numpy(np.array(arr, dtype, order="C"))


def _tree(spec: Any) -> tuple[str | None, dict[str, str]]:
    """(JSON of the output tree, ``torch.return_types`` class names by node). torch cannot
    serialize named-tuple nodes (``torch.aminmax``, ``max(dim)``...), so they are stored as
    tuples, with their class names keyed by the node's preorder index."""
    from torch.utils import _pytree

    if spec is None:
        return None, {}
    names: dict[str, str] = {}
    return _pytree.treespec_dumps(_plain(spec, names, [0])), names


def _plain(spec: Any, names: dict[str, str], count: list[int]) -> Any:
    """``spec`` with every named-tuple node made a tuple, its class name put in ``names``."""
    from torch.utils import _pytree

    index = count[0]
    count[0] += 1
    children = [_plain(c, names, count) for c in spec.children()]
    if spec.type is not None and _pytree.is_structseq_class(spec.type):
        names[str(index)] = spec.type.__name__
        return _pytree.TreeSpec(tuple, None, children)
    if not children:
        return spec
    return _pytree.TreeSpec(spec.type, spec.context, children)


def _restore(obj: Any, spec: Any, names: dict[str, str], count: list[int]) -> Any:
    """``obj`` (unflattened with the plain spec) with the named tuples of ``names`` rebuilt."""
    import torch

    index = count[0]
    count[0] += 1
    if spec.is_leaf():
        return obj
    keys = list(spec.context) if isinstance(obj, dict) else range(len(obj))
    old = [obj[k] for k in keys]
    kids = [_restore(o, c, names, count) for o, c in zip(old, spec.children(), strict=True)]
    if str(index) in names:
        return getattr(torch.return_types, names[str(index)])(kids)
    if all(a is b for a, b in zip(kids, old, strict=True)):
        return obj
    if isinstance(obj, dict):
        return type(obj)(zip(keys, kids, strict=True))
    return type(obj)(kids)


def _numpy(t: Any) -> np.ndarray:
    if hasattr(t, "detach"):
        return t.detach().cpu().numpy()
    if isinstance(t, np.ndarray | np.generic | int | float | bool):
        return np.asarray(t)
    raise D1cError(f"inputs must be tensors or numpy arrays, got {type(t).__name__}")


def _out_dtypes(module: Module) -> list[str]:
    out = []
    for v in module.main.outputs:
        e = v.type.elem
        out.append(_BOOL if e.name == "i1" else _NARROW_OF.get(e.name, np.dtype(e.host_dtype).name))
    return out


def _module_name(model: Any) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", type(model).__name__.lower())
    return name if re.match(r"[A-Za-z_]", name) else f"m_{name}"


def _as_tuple(example_inputs: Any) -> tuple:
    if isinstance(example_inputs, list | tuple):
        return tuple(example_inputs)
    return (example_inputs,)


def compile_exported(ep, module: Module, inputs: tuple, target: str, dtype: str) -> Program:
    """A Program from an imported ``torch.export`` program (the API and the dynamo backend)."""
    if dtype not in driver.DTYPES:
        raise D1cError(f"unknown dtype '{dtype}'", hint=f"dtypes: {', '.join(driver.DTYPES)}")
    arrays = tuple(_numpy(t) for t in inputs)
    opts = driver.Options(target, dtype, arrays)
    stages = driver.compile_stages(module, "placed", opts)
    program = driver.build(stages["placed"], opts)
    func = stages["graph"].main
    tree, structseq = _tree(ep.call_spec.out_spec)
    info = {
        "name": module.name,
        "args": func.arg_names(),
        "outputs": _out_dtypes(stages["graph"]),
        "tree": tree,
        "structseq": structseq,
        "dtype": dtype,
    }
    return Program(program, info, stages)


def compile(
    model: Any, example_inputs: Any, *, target: str = DEFAULT_TARGET, dtype: str = "bf16"
) -> Program:
    """Compile ``model`` (a ``torch.nn.Module``) for ``target`` with ``dtype`` storage
    (``bf16``, ``cfp8`` — which calibrates its biases on ``example_inputs`` — or ``fp32``: no
    storage rounding, for checking a mapping without quantization noise)."""
    from d1c.frontend import export_program, import_program

    inputs = _as_tuple(example_inputs)
    ep = export_program(model, inputs)
    module = import_program(ep, name=_module_name(model))
    return compile_exported(ep, module, inputs, target, dtype)


def load(path: str | Path) -> Program:
    """A program saved with :meth:`Program.save`."""
    from d1c.isa.d1x import read_d1x

    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise D1cError(f"cannot read {path}: {err.strerror}") from None
    prog = read_d1x(data)
    blobs = dict(prog.blobs)
    if "api" not in blobs:
        raise D1cError(f"{path} was not saved by d1c.Program.save (it has no 'api' blob)")
    try:
        info = json.loads(blobs.pop("api"))
        texts = {k[3:]: blobs.pop(k).decode() for k in list(blobs) if k.startswith("ir.")}
    except ValueError as err:
        raise D1cError(f"{path}: a d1c.Program blob is damaged: {err}") from None
    if not _info_ok(info):
        raise D1cError(f"{path}: the 'api' blob lacks the argument names or output dtypes")
    return Program(replace(prog, blobs=tuple(blobs.items())), info, texts=texts)


def _info_ok(info: Any) -> bool:
    if not isinstance(info, dict) or not isinstance(info.get("name"), str):
        return False
    lists = [info.get("args"), info.get("outputs")]
    return all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in lists)
