"""Kernel kinds: how each op of placed IR runs (on the host, as an HBM alias or image, inside a
fused group, or as a kernel of one kind), the device formats of IR types, and the op tables the
planners and the code templates share. Variants the D1 cannot compute bit-exactly are
CompileErrors here, before any work is planned (docs/lowering.md §5)."""

from __future__ import annotations

import numpy as np

from d1c.errors import CompileError
from d1c.ir import Function, Op, TensorType, Value
from d1c.isa.tiles import ELEM_BYTES

# IR element type name -> device tile format: i1 is stored as bf16 0.0/1.0, integer indices as i32.
DEVICE_FMT = {
    **{f: f for f in ("fp32", "bf16", "fp16", "cfp8_143", "cfp8_152", "shp", "i32")},
    "i64": "i32",
    "i1": "bf16",
}
VFN = ("exp", "tanh", "erf", "rsqrt", "reciprocal", "sigmoid", "log", "silu", "neg", "abs")
UNARY_FN = {n: n for n in (*VFN, "sqrt")}  # op -> vfn function (relu is vmaxs with +0)
ROUND_MODE = {"floor": "floor", "ceil": "ceil", "trunc": "trunc", "round": "rne"}  # vround
BINARY_INST = {
    "add": "vadd",
    "sub": "vsub",
    "mul": "vmul",
    "div": "vdiv",
    "maximum": "vmax",
    "minimum": "vmin",
}
COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")
MOVEMENT = ("permute", "slice", "broadcast_to")
LOGIC = ("logical_and", "logical_or", "logical_not")
EW = (
    *UNARY_FN,
    *ROUND_MODE,
    "relu",
    "gelu",
    *BINARY_INST,
    *COMPARE,
    *LOGIC,
    "where",
    "convert",
    *MOVEMENT,
)
REDUCE = {"reduce_sum": "sum", "reduce_max": "max", "reduce_min": "min"}


def device_fmt(t: TensorType) -> tuple[str, int]:
    """(tile format, bias) of a tensor type on the device."""
    return DEVICE_FMT[t.elem.name], t.elem.bias or 0


def esize(t: TensorType) -> int:
    return ELEM_BYTES[device_fmt(t)[0]]


def kind_of(op: Op, returned: set[Value]) -> str:
    """How an op runs: on the host (input packing / output unpacking), as an HBM alias or image,
    inside the kernel of its fused group's producer (``fused``), as part of a matmul operand's
    window (``window``, no kernel and no address), or as a kernel of one of the
    kinds ew, matmul, reduce, concat, fill (full, pad), gather (embedding). Variants the D1 cannot compute bit-exactly raise CompileError here, before any
    work is planned."""
    if _host_in(op):
        return "host_in"
    if _host_out(op, returned):
        return "host_out"
    if op.name == "const" or (op.name == "full" and not _fillable(op)):
        return "data"
    if "window" in op.attrs:
        return "window"  # read through by the matmul that uses it (d1c.codegen.windows)
    if op.name == "reshape":
        return "alias"
    if "fuse" in op.attrs and "tile" not in op.attrs:
        return "fused"  # runs in the kernel of its group's producer (d1c.codegen.epilogue)
    kind = KINDS.get(op.name) or ("ew" if op.name in EW else None)
    if kind is None:
        raise CompileError(
            f"'{op.name}' has no kernel on the D1 (run the tiled pipeline first)", op.loc
        )
    _check_variant(op)
    return kind


KINDS = {
    "matmul": "matmul",
    **dict.fromkeys(REDUCE, "reduce"),
    "concat": "concat",
    "pad": "fill",
    "full": "fill",
    "embedding": "gather",
}


def _host_in(op: Op) -> bool:
    """A round-to-nearest float conversion of a function argument: the host packs the input
    straight into the storage format (:func:`d1c.runtime.symbols.encode_input` is RNE)."""
    return (
        op.name == "convert"
        and op.operands[0].owner is None
        and op.attrs["rounding"] == "rne"
        and op.result.type.elem.is_float
    )


def _host_out(op: Op, returned: set[Value]) -> bool:
    """A float-to-fp32 conversion of a result that nothing else reads: the host decodes it
    (exact, so the rounding mode does not matter)."""
    return (
        op.name == "convert"
        and op.result in returned
        and op.result.type.elem.name == "fp32"
        and op.operands[0].type.elem.name not in ("i32", "i64")
    )


def _fillable(op: Op) -> bool:
    """``full`` is a vfill kernel unless its value is an integer fp32 cannot hold exactly."""
    v = op.attrs["value"]
    t = op.result.type.elem
    return not (t.is_int and t.name != "i1" and float(np.float32(v)) != v)


def _check_variant(op: Op) -> None:
    """CompileError for the variants of kernel ops the D1 has no bit-exact instruction for."""
    why = None
    if op.name == "convert":
        why = _convert_problem(op)
    elif op.name == "div" and op.result.type.elem.is_int:
        why = "integer (floor) division has no D1 instruction"
    elif op.name == "matmul" and op.result.type.elem.name != "fp32":
        why = "a matmul result must be the fp32 accumulator (convert it afterwards)"
    elif op.name in REDUCE and tuple(op.attrs["dims"]) != (op.operands[0].type.rank - 1,):
        why = "reductions run along the last dim only (permute first)"
    if why:
        raise CompileError(f"'{op.name}' to {op.result.type}: {why}", op.loc)


def _convert_problem(op: Op) -> str | None:
    dst = op.result.type.elem
    if op.attrs["rounding"] == "sr" and dst.is_float:
        return (
            "stochastic rounding on the device draws from a per-tile stream (srseed, tile "
            "element index) that cannot reproduce the interpreter's per-tensor stream"
        )
    return None


def returned_values(func: Function) -> set[Value]:
    """The function results that no op other than ``return`` reads."""
    read = {v for op in func.ops[:-1] for v in op.operands}
    return {v for v in func.outputs if v not in read}
