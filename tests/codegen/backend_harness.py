"""Compile tiled-level IR with ``tile,place`` + ``build_program``, simulate it, and compare every
output with :func:`d1c.interp.interpret` on the same inputs, bit for bit.

Comparison rules (the oracle is the interpreter on the *uncompiled* module):

- float outputs: equal float32 bit patterns, -0.0 vs +0.0 included. NaN is compared with
  ``isnan`` only: the ISA canonicalises the NaN of every float32 result to 0x7FC00000
  (``canon`` in isa/semantics.py, applied by every ew/reduce/matrix row), while the interpreter
  keeps numpy's payloads (x86's 0/0 is 0xFFC00000), so payload bits are not part of the contract.
- i1 outputs are stored as bf16 0.0/1.0 on the device and come back as float32 0/1;
  i64 outputs are i32 on the device and come back as int32 (values stay in range here).
"""

from __future__ import annotations

import numpy as np

from d1c.codegen.emit import build_program, input_arrays, output_names
from d1c.interp import interpret
from d1c.ir import Module, parse_module, print_module
from d1c.isa.d1x import D1xProgram
from d1c.isa.numerics import quantize
from d1c.passes import Context, run_pipeline
from d1c.runtime.sim import SimResult, simulate
from d1c.target import load_target

TARGETS = ("mini", "dojo-tile")
SPECIAL = np.array([-0.0, 0.0, np.inf, -np.inf, np.nan, 1e-40, -3e38, 7e4], dtype=np.float32)


def ir(args: str, results: str, *ops: str) -> str:
    """Module text of ``func @main(args) -> (results)`` with one op per line."""
    body = "".join(f"    {op}\n" for op in ops)
    return f"module @m {{\n  func @main({args}) -> ({results}) {{\n{body}  }}\n}}\n"


def inputs_for(m: Module, seed: int = 0, special: float = 0.1, index_range: int = 3) -> list:
    """Random inputs: floats ~ N(0, 2) with a fraction ``special`` of -0, +0, ±inf, NaN,
    denormals and values beyond fp16; integers in [0, index_range); i1 as booleans."""
    rng = np.random.default_rng(seed)
    out = []
    for a in m.main.args:
        elem, shape = a.type.elem, a.type.shape
        if elem.name == "i1":
            out.append(rng.integers(0, 2, shape).astype(bool))
        elif elem.is_int:
            out.append(rng.integers(0, index_range, shape).astype(elem.host_dtype))
        else:
            x = (rng.standard_normal(shape) * 2).astype(np.float32).reshape(-1)
            pick = rng.random(x.size) < special
            x[pick] = rng.choice(SPECIAL, int(pick.sum()))
            if elem.name != "fp32":  # arguments in a storage format hold its values exactly
                x = quantize(x, elem.name, bias=elem.bias)
            out.append(x.reshape(shape))
    return out


def compile_module(m: Module, target: str) -> tuple[Module, D1xProgram]:
    """(placed module, program) for a tiled-level module (a fresh copy is compiled)."""
    placed = run_pipeline(parse_module(print_module(m)), "tile,place", ctx=Context(target=target))
    return placed, build_program(placed, load_target(target))


def expected(r: np.ndarray) -> np.ndarray:
    """The interpreter's result in the form the device returns it."""
    r = np.asarray(r)
    if r.dtype == np.bool_:
        return r.astype(np.float32)
    return r.astype(np.int32) if r.dtype.kind in "iu" else r.astype(np.float32)


def mismatches(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Mask of elements that differ (bits; NaN vs NaN by isnan; ints by value)."""
    if want.dtype.kind != "f":
        return got.astype(np.int64) != want.astype(np.int64)
    both_nan = np.isnan(got) & np.isnan(want)
    return (got.view(np.uint32) != want.view(np.uint32)) & ~both_nan


def check(
    text_or_module: str | Module, target: str, inputs: list | None = None, **kw: float
) -> SimResult:
    """Compile, simulate and assert bit-identical outputs; returns the simulation result."""
    m = text_or_module
    if isinstance(m, str):
        m = parse_module(m, "<test>")
    xs = inputs_for(m, **kw) if inputs is None else inputs
    ref = interpret(m, xs)
    placed, prog = compile_module(m, target)
    tgt = load_target(target)
    res = simulate(prog, tgt, input_arrays(placed.main, xs, prog))
    for name, r in zip(output_names(placed.main), ref, strict=True):
        got, want = res.outputs[name], expected(r)
        assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
        bad = mismatches(got, want)
        assert not bad.any(), (
            f"{name} on {target}: {int(bad.sum())} of {bad.size} elements differ, first at "
            f"{np.argwhere(bad)[0].tolist()}: got {got[bad][:4]} want {want[bad][:4]}\n"
            + print_module(m)
        )
    return res
