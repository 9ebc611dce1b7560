"""The op table: one row per op kind, read by the builder (result types), the verifier (operand
counts, attributes, type rules) and the op reference ``docs/ir.md``. The printer and the parser
are generic: they print and read any op of the form ``%r = name %a, %b {attrs} : type``, and the
verifier then checks it against its row.

A row gives the op's name, how many operands it takes, its attributes (kind and default), and a
type rule ``infer(operand_types, attrs, declared) -> TensorType`` that both computes the result type
(builder) and checks a declared one (verifier). ``declared`` is the type written in the IR text or
passed to the builder; ops whose type operands and attributes do not fix (``const``, ``full``,
``iota``, ``convert``, ``reshape``, ``broadcast_to``) take it from there.

Every op of every level (graph, quantized, tiled, placed) has its row here; :func:`register_op`
adds one and refuses a duplicate name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from d1c.ir import shapes as S
from d1c.ir.shapes import TypeRuleError
from d1c.ir.types import TensorType

REQUIRED = object()
AttrSpec = tuple[str, Any]  # (kind, default or REQUIRED); kinds: int float bool str ints elem sym
Infer = Callable[[list[TensorType], dict[str, Any], TensorType | None], TensorType]


@dataclass(frozen=True)
class OpDef:
    name: str
    arity: tuple[int, int | None]  # (min, max); max None = variadic
    infer: Infer | None  # None: no result (return)
    attrs: dict[str, AttrSpec] = field(default_factory=dict)
    doc: str = ""


OPS: dict[str, OpDef] = {}


def register_op(opdef: OpDef) -> OpDef:
    if opdef.name in OPS:
        raise ValueError(f"op '{opdef.name}' is registered twice")
    OPS[opdef.name] = opdef
    return opdef


def lookup(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise TypeRuleError(f"unknown op '{name}'") from None


# Attributes any op may carry, added by the lowering stages (docs/lowering.md); they never change
# an op's value, so the interpreter ignores them. Printed after the op's own attributes when set.
COMMON_ATTRS: dict[str, tuple[str, str]] = {
    "tile": (
        "ints",
        "tile shape chosen by `tile`: rows, cols of the 2-D view (and K chunk for matmul)",
    ),
    "fuse": (
        "int",
        "kernel group (`fuse`): the op with a `tile` is the kernel, the others its epilogue",
    ),
    "window": (
        "int",
        "operand window (`fuse-windows`): a data-movement op no kernel runs; the matmul reading "
        "it loads its operand tiles straight from the window's source tensor (implicit GEMM)",
    ),
    "cores": ("int", "number of cores the op's tiles are dealt over (`place`)"),
    "hbm": (
        "int",
        "byte address of the op's result (`place`): in DIP HBM, or from 2^62 in the logical "
        "space of intermediate tensors, which `allocate-sram` gives a `home`",
    ),
    "home": (
        "str",
        'where an intermediate tensor lives between kernels (`allocate-sram`): "sram" (in the '
        'SRAM of the cores that computed its tiles) or "hbm" (spilled to DIP HBM)',
    ),
    "sram": ("int", "SRAM bytes of the op's kernel buffers on each of its cores (`allocate-sram`)"),
    "route": ("ints", "max hops of the DMA routes, bytes on the busiest NoC link (`route`)"),
    "buffers": ("int", "buffer sets of the op's kernel: 2 = DMA overlaps compute (`schedule`)"),
    "grid": (
        "ints",
        "systolic matmul (`place`): rows, cols of its core grid; A tiles flow along the rows and "
        "B tiles down the columns over the NoC, so each is read from HBM once per grid row/col",
    ),
}


def fill_defaults(opdef: OpDef, attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes in table order with defaults filled in, then the common attributes that are set;
    unknown or missing ones are errors."""
    unknown = sorted(set(attrs) - set(opdef.attrs) - set(COMMON_ATTRS))
    if unknown:
        raise TypeRuleError(f"'{opdef.name}' has no attribute '{unknown[0]}'")
    out = {}
    for key, (kind, default) in opdef.attrs.items():
        if key not in attrs and default is REQUIRED:
            raise TypeRuleError(f"'{opdef.name}' needs attribute '{key}' ({kind})")
        out[key] = S.check_attr_kind(opdef.name, key, kind, attrs.get(key, default))
    for key, (kind, _) in COMMON_ATTRS.items():
        if key in attrs:
            out[key] = S.check_attr_kind(opdef.name, key, kind, attrs[key])
    return out


def infer_result_type(
    name: str, operand_types: list[TensorType], attrs: dict[str, Any], declared: TensorType | None
) -> TensorType:
    """Check operand count and attributes (filling defaults in place) and return the result type."""
    opdef = lookup(name)
    lo, hi = opdef.arity
    n = len(operand_types)
    if n < lo or (hi is not None and n > hi):
        want = f"{lo}" if lo == hi else f"{lo}..{'' if hi is None else hi}"
        raise TypeRuleError(f"'{name}' takes {want} operands, got {n}")
    attrs.update(fill_defaults(opdef, attrs))
    if opdef.infer is None:
        raise TypeRuleError(f"'{name}' has no result")
    result = opdef.infer(operand_types, attrs, declared)
    if declared is not None and declared != result:
        raise TypeRuleError(f"'{name}' result type should be {result}, not {declared}")
    return result


def _row(
    name: str, arity: tuple[int, int | None], infer: Infer, doc: str, /, **attrs: AttrSpec
) -> None:
    register_op(OpDef(name, arity, infer, dict(attrs), doc))


UNARY_FLOAT = {
    "exp": "e^x",
    "log": "natural logarithm",
    "sqrt": "square root",
    "rsqrt": "1/sqrt(x)",
    "reciprocal": "1/x",
    "tanh": "hyperbolic tangent",
    "sigmoid": "1/(1+e^-x)",
    "erf": "error function",
    "silu": "x*sigmoid(x)",
    "sin": "sine",
    "cos": "cosine",
    "floor": "round toward -inf",
    "ceil": "round toward +inf",
    "trunc": "round toward zero",
    "round": "round to the nearest integer, ties to even",
}
UNARY_ANY = {"neg": "-x", "abs": "|x|", "relu": "max(x, 0)", "logical_not": "not x (i1)"}
BINARY = {
    "add": "a + b",
    "sub": "a - b",
    "mul": "a * b",
    "div": "a / b (true division)",
    "pow": "a ** b",
    "maximum": "elementwise max (NaN propagates)",
    "minimum": "elementwise min (NaN propagates)",
    "logical_and": "a and b (i1)",
    "logical_or": "a or b (i1)",
}
COMPARE = {
    "eq": "a == b",
    "ne": "a != b",
    "lt": "a < b",
    "le": "a <= b",
    "gt": "a > b",
    "ge": "a >= b",
}
REDUCE = {"reduce_sum": "sum", "reduce_mean": "mean", "reduce_max": "max", "reduce_min": "min"}

for _n, _d in UNARY_FLOAT.items():
    _row(_n, (1, 1), S.unary_float, f"Elementwise {_d}.")
for _n, _d in UNARY_ANY.items():
    _row(_n, (1, 1), S.same, f"Elementwise {_d}.")
for _n, _d in BINARY.items():
    _row(
        _n,
        (2, 2),
        S.broadcast,
        f"Elementwise {_d} with numpy broadcasting; operands share an element type.",
    )
for _n, _d in COMPARE.items():
    _row(_n, (2, 2), S.compare, f"Elementwise {_d} with broadcasting; result i1.")
for _n, _d in REDUCE.items():
    _row(
        _n,
        (1, 1),
        S.reduce,
        f"{_d.capitalize()} over `dims` (sorted, non-negative).",
        dims=("ints", REQUIRED),
        keepdim=("bool", False),
    )

_row(
    "gelu",
    (1, 1),
    S.unary_float,
    'GELU; approximate = "none" (erf) or "tanh".',
    approximate=("str", "none"),
)
_row("where", (3, 3), S.where, "where(cond, a, b) with broadcasting; cond is i1.")
_row(
    "convert",
    (1, 1),
    S.convert,
    'Element type conversion; `rounding` is "rne" or "sr".',
    rounding=("str", "rne"),
)
_row("reshape", (1, 1), S.reshape, "Same elements, new (declared) shape, row-major.")
_row("broadcast_to", (1, 1), S.broadcast_to, "Numpy broadcast to the declared shape.")
_row(
    "permute",
    (1, 1),
    S.permute,
    "Transpose axes: result dim i is operand dim dims[i].",
    dims=("ints", REQUIRED),
)
_row(
    "slice",
    (1, 1),
    S.slice_,
    "Elements start, start+step, ... < end along `dim` (0 <= start <= end <= size, step >= 1).",
    dim=("int", REQUIRED),
    start=("int", REQUIRED),
    end=("int", REQUIRED),
    step=("int", 1),
)
_row("concat", (1, None), S.concat, "Concatenate along `dim`.", dim=("int", REQUIRED))
_row(
    "pad",
    (1, 1),
    S.pad,
    "Constant padding; `pads` = [lo0, hi0, lo1, hi1, ...] per dim.",
    pads=("ints", REQUIRED),
    value=("float", 0.0),
)
_row("softmax", (1, 1), S.softmax, "Softmax along `dim`.", dim=("int", REQUIRED))
_row("log_softmax", (1, 1), S.softmax, "Log-softmax along `dim`.", dim=("int", REQUIRED))
_row(
    "layer_norm",
    (1, 3),
    S.layer_norm,
    "Normalise over the last `ndim` dims; optional weight and bias operands.",
    ndim=("int", REQUIRED),
    eps=("float", 1e-5),
)
_row(
    "batch_norm",
    (5, 5),
    S.batch_norm,
    "Inference batch norm over dim 1: (x - mean) / sqrt(var + eps) * weight + bias.",
    eps=("float", 1e-5),
)
_row(
    "matmul",
    (2, 2),
    S.matmul,
    "a[..., M, K] @ b[..., K, N] with broadcast batch dims; the result has the operands' type, "
    "or fp32 when declared so (the accumulator, not rounded).",
)
_row(
    "conv2d",
    (2, 3),
    S.conv2d,
    "NCHW convolution with weight [O, C/groups, KH, KW] and optional bias [O].",
    stride=("ints", (1, 1)),
    padding=("ints", (0, 0)),
    dilation=("ints", (1, 1)),
    groups=("int", 1),
)
_row(
    "max_pool2d",
    (1, 1),
    S.max_pool2d,
    "NCHW max pooling (padding is -inf).",
    kernel=("ints", REQUIRED),
    stride=("ints", REQUIRED),
    padding=("ints", (0, 0)),
    dilation=("ints", (1, 1)),
    ceil_mode=("bool", False),
)
_row(
    "avg_pool2d",
    (1, 1),
    S.avg_pool2d,
    "NCHW average pooling.",
    kernel=("ints", REQUIRED),
    stride=("ints", REQUIRED),
    padding=("ints", (0, 0)),
    ceil_mode=("bool", False),
    count_include_pad=("bool", True),
    divisor=("int", 0),
)
_row(
    "adaptive_avg_pool2d",
    (1, 1),
    S.adaptive_avg_pool2d,
    "NCHW adaptive average pooling to `size` = [OH, OW] (torch's window rule).",
    size=("ints", REQUIRED),
)
_row(
    "embedding",
    (2, 2),
    S.embedding,
    "Rows of weight [V, D] selected by integer indices: result indices.shape + [D].",
)
_row(
    "iota", (0, 0), S.iota, "Counting 0, 1, ... along `dim` of the declared shape.", dim=("int", 0)
)
_row(
    "full",
    (0, 0),
    S.declared,
    "A tensor of the declared type filled with `value`.",
    value=("float", REQUIRED),
)
_row(
    "const",
    (0, 0),
    S.declared,
    "The module constant named `name` (its bytes are in a `data` line).",
    name=("sym", REQUIRED),
)
register_op(OpDef("return", (0, None), None, {}, "Ends a function; operands are its results."))
