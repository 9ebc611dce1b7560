"""The primitive ops of the tiled level (docs/lowering.md §2): the single source of truth.

After ``fold-constants`` and ``decompose`` a function holds only the ops of :data:`PRIMITIVES`,
each within the constraints below; ``tile``, ``isel`` and the verifier of the tiled stage ask
:func:`check_primitive` rather than keeping lists of their own.

Structural constraints (what ``decompose`` guarantees on any input, fp32 graph IR included):

- ``matmul``: both operands rank 2, or both rank 3 with equal batch dims; a float result is
  fp32 (the matrix unit's accumulator: a narrower result is a separate ``convert``).
- ``reduce_sum``/``reduce_max``/``reduce_min``: over the last dim only, ``keepdim = true``; a
  float ``reduce_sum`` is fp32 (its accumulator), max/min keep any format (they are exact).
- ``gelu``: ``approximate`` is ``none`` or ``tanh`` (the two ``vfn`` GELUs).
- ``full`` is primitive at any shape (``vfill``, or a scalar register operand of ``v*s``), so a
  splat never needs HBM data; ``iota`` is not (it becomes a ``const``).

Format constraints (``formats=True``, what ``assign-formats`` must have done): the operands of a
``matmul`` are one of the matrix unit's input formats (bf16, fp16, cfp8, shp, or fp32 at the
FP32 rate: the ``fp32`` storage mode).
"""

from __future__ import annotations

from d1c.ir import Op

UNARY = frozenset(
    [
        "exp",
        "tanh",
        "erf",
        "rsqrt",
        "reciprocal",
        "sigmoid",
        "log",
        "gelu",
        "silu",
        "relu",
        "neg",
        "abs",
        "sqrt",
        "floor",
        "ceil",
        "trunc",
        "round",
    ]
)
BINARY = frozenset(["add", "sub", "mul", "div", "maximum", "minimum"])
LOGIC = frozenset(
    ["eq", "ne", "lt", "le", "gt", "ge", "where", "logical_not", "logical_and", "logical_or"]
)
REDUCTIONS = frozenset(("reduce_sum", "reduce_max", "reduce_min"))
MOVEMENT = frozenset(["permute", "reshape", "broadcast_to", "slice", "concat", "pad"])
SOURCES = frozenset(("const", "full"))
PRIMITIVES: frozenset[str] = (
    UNARY
    | BINARY
    | LOGIC
    | REDUCTIONS
    | MOVEMENT
    | SOURCES
    | {"matmul", "convert", "embedding", "return"}
)

# Input formats of the matrix unit (docs/isa.md, ``mma``; fp32 runs at the FP32 FMA rate).
MATMUL_FORMATS = frozenset(("bf16", "fp16", "cfp8_143", "cfp8_152", "shp", "fp32"))

# Ops that have no primitive form at all, with what to do about them.
NO_PRIMITIVE_FORM: dict[str, str] = {}


def check_primitive(op: Op, *, formats: bool = True) -> str | None:
    """Why ``op`` is not a tiled-level primitive, or None if it is one.

    ``formats=False`` checks only the structural constraints (the contract of ``decompose``);
    the default also checks the storage formats the ISA needs (the tiled stage's verifier).
    """
    name = op.name
    if name not in PRIMITIVES:
        why = NO_PRIMITIVE_FORM.get(name)
        return f"'{name}' is not a primitive op" + (f": {why}" if why else "")
    if name == "matmul":
        return _check_matmul(op, formats)
    if name in REDUCTIONS:
        return _check_reduction(op)
    if name == "gelu" and op.attrs.get("approximate") not in ("none", "tanh"):
        return f"'gelu' approximate = {op.attrs.get('approximate')!r} is not 'none' or 'tanh'"
    return None


def _check_matmul(op: Op, formats: bool) -> str | None:
    a, b = (v.type for v in op.operands)
    out = op.result.type
    if not (a.rank == b.rank == 2 or (a.rank == b.rank == 3 and a.shape[0] == b.shape[0])):
        return f"'matmul' needs rank-2 operands or rank-3 ones with equal batch, got {a} and {b}"
    if out.elem.is_float and out.elem.name != "fp32":
        return f"'matmul' result must be the fp32 accumulator, got {out}"
    if formats and a.elem.name not in MATMUL_FORMATS:
        names = ", ".join(sorted(MATMUL_FORMATS))
        return f"'matmul' operands are {a.elem}; the matrix unit reads {names}"
    return None


def _check_reduction(op: Op) -> str | None:
    x = op.operands[0].type
    dims, keep = tuple(op.attrs.get("dims", ())), op.attrs.get("keepdim")
    if x.rank == 0 or dims != (x.rank - 1,) or not keep:
        return f"'{op.name}' must reduce the last dim with keepdim, got dims {list(dims)} of {x}"
    if op.name == "reduce_sum" and x.elem.is_float and x.elem.name != "fp32":
        return f"'reduce_sum' accumulates in fp32, got {x}"
    return None
