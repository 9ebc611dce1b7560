"""Emit: placed IR -> a ``.d1x`` program (:class:`~d1c.isa.d1x.D1xProgram`).

The program is :func:`d1c.codegen.homes.homed_program`: per core, SRAM holds its kernel buffers
from 0, the parts of resident tensors above them, the static image of work records, token lists
and DMA lists above those, and the parameter-table row ``[cores in program, records of kernel
0, count, ...]`` at the top (:mod:`d1c.passes.allocate_sram` proves it fits). Constants become
DIP HBM images in their device format; inputs and outputs become symbols placed in HBM.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

import d1c.timing as timing
from d1c.codegen.homes import homed_program
from d1c.codegen.isel import kernel_code, prologue
from d1c.codegen.placement import addresses
from d1c.codegen.plan import KernelPlan, device_fmt, esize, kind_of, returned_values
from d1c.codegen.sram import prove_fit, sram_peak
from d1c.ir import Function, Module, Value
from d1c.isa import numerics
from d1c.isa.asm import assemble
from d1c.isa.d1x import (
    CoreRange,
    D1xProgram,
    HbmImage,
    ParamRow,
    Placement,
    SramImage,
    Symbol,
    symbol_inputs,
)
from d1c.isa.tiles import ELEM_BYTES
from d1c.target import Target


def program_code(plans: list[KernelPlan]) -> str:
    lines = prologue()
    for k, plan in enumerate(plans):
        lines += kernel_code(k, plan)
    lines.append("halt")
    return "\n".join(f"    {ln}" if not ln.endswith(":") else ln for ln in lines) + "\n"


def build_program(module: Module, target: Target) -> D1xProgram:
    func = module.main
    with timing.phase("plan kernels (work lists, SRAM homes)"):
        homed = homed_program(func, target)
        plans, order, lay, cores = homed.plans, homed.coords, homed.layout, homed.cores
        prove_fit(plans, lay, cores, func)
    with timing.phase("isel"):
        code = program_code(plans)
    with timing.phase("emit (assemble, images, symbols)"):
        return _emit(module, target, code, plans, order, lay, cores)


def _emit(module: Module, target: Target, code: str, plans, order, lay, cores) -> D1xProgram:
    func = module.main
    text = f'.target "{target.name}"\n.code main, {", ".join(str(r) for r in _ranges(order))}\n'
    prog = assemble(text + code, "<isel>")
    return replace(
        prog,
        param_addr=lay.param_addr,
        param_words=lay.param_words,
        params=tuple(ParamRow(c.coord, tuple(c.row)) for c in cores),
        sram=tuple(
            SramImage((CoreRange.single(c.coord),), c.image.base, c.image.data())
            for c in cores
            if c.image.words
        ),
        hbm=tuple(hbm_images(func, module, target)),
        symbols=tuple(symbols(func, target)),
        meta=(
            ("module", module.name),
            ("kernels", str(len(plans))),
            ("cores", str(len(order))),
            ("sram_peak", str(sram_peak(cores, lay))),
        ),
    )


def _ranges(order: list[tuple[int, int, int, int]]) -> list[CoreRange]:
    """Runs of cores along core_x (same chip, same row) as boxes."""
    out: list[list] = []
    for c in order:
        last = out[-1] if out else None
        if last and last[1][:2] == c[:2] and last[1][3] == c[3] and last[1][2] + 1 == c[2]:
            last[1] = c
        else:
            out.append([c, c])
    return [CoreRange(tuple(lo), tuple(hi)) for lo, hi in out]


def encode_data(values: np.ndarray, v: Value) -> bytes:
    """Device-format bytes of a constant (i1 as bf16 0/1, integers as i32)."""
    fmt, bias = device_fmt(v.type)
    if fmt == "i32":
        return np.asarray(values).astype("<i4").tobytes()
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    if fmt == "fp32":
        return flat.astype("<f4").tobytes()
    codes = numerics.encode(
        flat, fmt, bias=bias if fmt in ("cfp8_143", "cfp8_152", "shp") else None
    )
    return np.asarray(codes).astype("<u2" if ELEM_BYTES[fmt] == 2 else "u1").tobytes()


def hbm_images(func: Function, module: Module, target: Target) -> list[HbmImage]:
    """Constants (and ``full`` ops that are not vfill kernels) as device-format HBM images."""
    returned = returned_values(func)
    out = []
    for op in func.ops[:-1]:
        if kind_of(op, returned) != "data":
            continue
        if op.name == "const":
            data = module.consts[op.attrs["name"].name]
            out.append(HbmImage(op.attrs["hbm"], encode_data(data, op.result)))
        elif op.name == "full":
            data = np.full(op.result.type.shape, op.attrs["value"], dtype=np.float64)
            out.append(HbmImage(op.attrs["hbm"], encode_data(data, op.result)))
    return out


def _symbol(name: str, role: str, v: Value, addr: int) -> Symbol:
    fmt, bias = device_fmt(v.type)
    shape = v.type.shape
    strides, acc = [], esize(v.type)
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    region = tuple((0, d) for d in shape)
    place = Placement("hbm", None, addr, region, tuple(reversed(strides)))
    return Symbol(name, role, shape, fmt, bias, f"row-major {fmt} in DIP HBM", (place,))


def symbols(func: Function, target: Target) -> list[Symbol]:
    """Input symbols: an argument read by kernels is ``name`` (device format of its type); each
    conversion the host packs it into is ``name`` too when the argument is not read directly,
    else ``name.1``, ``name.2``, ... (names must be unique). Outputs are ``out0``, ``out1``..."""
    where = addresses(func, target)
    returned = returned_values(func)
    out = []
    for i, arg in enumerate(func.args):
        users = [op for op in func.ops if arg in op.operands]
        packed = [op for op in users if op is not func.ret and kind_of(op, returned) == "host_in"]
        direct = len(packed) < len(users) or not users
        name = func.arg_names()[i]
        out += [_symbol(name, "input", arg, where[arg])] if direct else []
        out += [
            _symbol(name if j == 0 else f"{name}.{j}", "input", op.result, where[op.result])
            for j, op in enumerate(packed, start=int(direct))
        ]
    for i, v in enumerate(func.outputs):
        src = (
            v.owner.operands[0]
            if v.owner is not None and kind_of(v.owner, returned) == "host_out"
            else v
        )
        out.append(_symbol(f"out{i}", "output", src, where[src]))  # an argument: its input
    return out


def output_names(func: Function) -> list[str]:
    return [f"out{i}" for i in range(len(func.outputs))]


def input_arrays(
    func: Function, inputs: list[np.ndarray], prog: D1xProgram
) -> dict[str, np.ndarray]:
    """Map the function's arguments to the program's input symbols."""
    arrays = [np.asarray(x) for x in inputs]
    return symbol_inputs(prog, dict(zip(func.arg_names(), arrays, strict=False)))
