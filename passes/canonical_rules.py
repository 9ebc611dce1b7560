"""Local rewrite rules of ``canonicalize``: view-chain folding and no-op removal.

Every rule here is exact: for every input, including -0.0, ±inf and NaN, the rewritten program
computes the same values as the original (NaN compared as NaN, not by payload). A rule that is
only approximately right does not belong here. In particular ``x + 0.0`` is *not* removed
(``-0.0 + 0.0 == +0.0``), while ``x + (-0.0)``, ``x - 0.0``, ``x * 1`` and ``x / 1`` are.
A rule that removes an op only fires when the op's result type equals the surviving operand's
type, so broadcasting by a splat operand never silently changes a shape.

Each rule is ``fn(op, rewriter) -> replacement | None`` (see :mod:`d1c.passes.rewrite`).
"""

from __future__ import annotations

import math

from d1c.ir import Op, Value
from d1c.passes.rewrite import Rewriter, Rule


def splat(value: Value) -> float | None:
    """The fill value if ``value`` is produced by a ``full`` op, else None."""
    op = value.owner
    return op.attrs["value"] if op is not None and op.name == "full" else None


def _is_neg_zero(v: float | None, is_float: bool) -> bool:
    """True for the additive identity of the type: -0.0 for floats, 0 for integers."""
    return v == 0 and (not is_float or math.copysign(1.0, v) < 0)


def _other_if(op: Op, test: object) -> Value | None:
    """For a binary op: the operand that is not a splat satisfying ``test``, if the result keeps
    that operand's type (so dropping the op changes neither shape nor element type)."""
    a, b = op.operands
    for keep, other in ((a, b), (b, a)):
        if keep.type == op.result.type and test(splat(other), keep.type.elem.is_float):
            return keep
    return None


# ---------------------------------------------------------------------------------------------
# Views and data movement


def remove_identity_view(op: Op, rw: Rewriter) -> Value | None:
    """reshape / broadcast_to / convert / slice to the operand's own type, permute by the identity,
    pad by zeros, concat of one tensor: the result is the operand. (A slice keeping the size
    of its dim must start at 0 and, for sizes >= 2, step by 1, so it takes every element.)"""
    x = op.operands[0]
    if op.result.type != x.type:
        return None
    if op.name == "permute" and list(op.attrs["dims"]) != list(range(x.type.rank)):
        return None
    if op.name == "pad" and any(op.attrs["pads"]):
        return None
    if op.name == "concat" and len(op.operands) != 1:
        return None
    return x


def fold_reshape_chain(op: Op, rw: Rewriter) -> Value | None:
    """reshape(reshape(x)) -> reshape(x): both reinterpret the same row-major element order."""
    inner = op.operands[0].owner
    if inner is None or inner.name != "reshape":
        return None
    return rw.create("reshape", [inner.operands[0]], result_type=op.result.type)


def compose_permutes(op: Op, rw: Rewriter) -> Value | None:
    """permute(permute(x, p), q) -> permute(x, r) with r[i] = p[q[i]]: outer dim i is inner dim
    q[i], which is x's dim p[q[i]]."""
    inner = op.operands[0].owner
    if inner is None or inner.name != "permute":
        return None
    p, q = inner.attrs["dims"], op.attrs["dims"]
    return rw.create("permute", [inner.operands[0]], {"dims": tuple(p[i] for i in q)})


def fold_broadcast_chain(op: Op, rw: Rewriter) -> Value | None:
    """broadcast_to(broadcast_to(x, s1), s2) -> broadcast_to(x, s2): every element of the result
    comes from the same element of x either way."""
    inner = op.operands[0].owner
    if inner is None or inner.name != "broadcast_to":
        return None
    return rw.create("broadcast_to", [inner.operands[0]], result_type=op.result.type)


def matmul_unbroadcast(op: Op, rw: Rewriter) -> Value | None:
    """matmul(a, broadcast_to(w)) -> matmul(a, w) when the broadcast only adds or repeats batch
    dims: matmul broadcasts batch dims itself, and every output element sums the same products in
    the same K order, so the bits are equal. (torch's decomposition of a 3-D @ 2-D matmul gives
    ``bmm(x, expand(w))``; without this rule the weight would be materialised B times.)"""
    for i, v in enumerate(op.operands):
        inner = v.owner
        if inner is None or inner.name != "broadcast_to":
            continue
        w = inner.operands[0]
        if w.type.rank < 2 or w.type.shape[-2:] != v.type.shape[-2:]:
            continue
        operands = list(op.operands)
        operands[i] = w
        if matmul_shape(operands) != op.result.type.shape:
            continue
        return rw.create("matmul", operands, result_type=op.result.type)
    return None


def matmul_shape(operands: list[Value]) -> tuple[int, ...]:
    from d1c.ir import broadcast_shapes

    a, b = (v.type.shape for v in operands)
    return (*broadcast_shapes(a[:-2], b[:-2]), a[-2], b[-1])


def move_splat(op: Op, rw: Rewriter) -> Value | None:
    """reshape / permute / broadcast_to / slice / single-tensor concat of a ``full``: a ``full``
    of the result type (moving equal elements around leaves them equal)."""
    if len(op.operands) != 1 or splat(op.operands[0]) is None:
        return None
    value = splat(op.operands[0])
    return rw.create("full", [], {"value": value}, result_type=op.result.type)


# ---------------------------------------------------------------------------------------------
# Arithmetic identities


def mul_by_one(op: Op, rw: Rewriter) -> Value | None:
    """x * 1 -> x (either side): exact for every x, including -0.0, ±inf and NaN."""
    return _other_if(op, lambda v, f: v == 1)


def add_neg_zero(op: Op, rw: Rewriter) -> Value | None:
    """x + (-0.0) -> x (either side), and x + 0 for integers. Not x + (+0.0): -0.0 + +0.0 is
    +0.0, which differs from x = -0.0."""
    return _other_if(op, _is_neg_zero)


def sub_zero(op: Op, rw: Rewriter) -> Value | None:
    """x - (+0.0) -> x (x - 0 for integers): x - 0.0 == x + (-0.0). Not x - (-0.0)."""
    x, y = op.operands
    v = splat(y)
    if x.type != op.result.type or v != 0:
        return None
    return x if not x.type.elem.is_float or math.copysign(1.0, v) > 0 else None


def neg_zero_minus(op: Op, rw: Rewriter) -> Value | None:
    """(-0.0) - x -> neg(x) (0 - x for integers): exact for every x, -0.0 - (+0.0) is -0.0.
    Not (+0.0) - x, which gives +0.0 for x = +0.0 where neg gives -0.0."""
    zero, x = op.operands
    if x.type != op.result.type or not _is_neg_zero(splat(zero), x.type.elem.is_float):
        return None
    return rw.create("neg", [x])


def div_by_one(op: Op, rw: Rewriter) -> Value | None:
    """x / 1.0 -> x for float x (exact for every x). Integer division is left alone."""
    x, y = op.operands
    if x.type != op.result.type or not x.type.elem.is_float or splat(y) != 1:
        return None
    return x


def fold_involution(op: Op, rw: Rewriter) -> Value | None:
    """neg(neg(x)) -> x, logical_not(logical_not(x)) -> x: each flips a sign bit / a truth value."""
    inner = op.operands[0].owner
    if inner is None or inner.name != op.name:
        return None
    return inner.operands[0]


def fold_idempotent(op: Op, rw: Rewriter) -> Value | None:
    """f(f(x)) -> f(x) for abs, relu, floor and ceil; abs(neg(x)) -> abs(x). Once applied, each
    maps its own results to themselves (relu's result is >= 0, a zero or NaN it keeps)."""
    inner = op.operands[0].owner
    if inner is None:
        return None
    if inner.name == op.name:
        return op.operands[0]
    if op.name == "abs" and inner.name == "neg":
        return rw.create("abs", [inner.operands[0]])
    return None


def same_operands(op: Op, rw: Rewriter) -> Value | None:
    """maximum(x, x), minimum(x, x), logical_and(x, x), logical_or(x, x) -> x, and where(c, x, x)
    -> x when the condition does not broadcast the result to a larger shape."""
    a, b = op.operands[-2:]
    if a is not b or a.type != op.result.type:
        return None
    return a


def where_splat_cond(op: Op, rw: Rewriter) -> Value | None:
    """where(full true, a, b) -> a and where(full false, a, b) -> b, when types allow."""
    cond = splat(op.operands[0])
    if cond is None:
        return None
    chosen = op.operands[1] if cond != 0 else op.operands[2]
    return chosen if chosen.type == op.result.type else None


def logic_identity(op: Op, rw: Rewriter) -> Value | None:
    """logical_and(x, true) -> x and logical_or(x, false) -> x (either side)."""
    unit = 1 if op.name == "logical_and" else 0
    return _other_if(op, lambda v, f: v is not None and (v != 0) == unit)


VIEW_OPS = ("reshape", "permute", "broadcast_to", "slice", "concat")

RULES: list[Rule] = [
    (
        ("reshape", "broadcast_to", "convert", "slice", "permute", "pad", "concat"),
        remove_identity_view,
    ),
    ("reshape", fold_reshape_chain),
    ("permute", compose_permutes),
    ("broadcast_to", fold_broadcast_chain),
    ("matmul", matmul_unbroadcast),
    (VIEW_OPS, move_splat),
    ("mul", mul_by_one),
    ("add", add_neg_zero),
    ("sub", sub_zero),
    ("sub", neg_zero_minus),
    ("div", div_by_one),
    (("neg", "logical_not"), fold_involution),
    (("abs", "relu", "floor", "ceil"), fold_idempotent),
    (("maximum", "minimum", "logical_and", "logical_or", "where"), same_operands),
    ("where", where_splat_cond),
    (("logical_and", "logical_or"), logic_identity),
]
