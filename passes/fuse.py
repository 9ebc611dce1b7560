"""``fuse``: run chains of elementwise ops inside the kernel of their producer (epilogue fusion).

After ``tile``, a *producer* is a kernel op of kind ``matmul``, ``reduce`` or ``ew``. Its chain
grows one op at a time while the current value has exactly one use, that use is an elementwise op
(not a data-movement view) of the same shape reading it directly, and every other operand of that
op (a bias, a scalar, a residual, a mask...) is a *direct* view (last-dim stride 0 or 1) in the
2-D form of the producer's result, so its tile loads with the tile of the producer. A ``reshape``
joins as an alias: elementwise ops do not care where an element sits, so the chain keeps
working on the producer's tiles, and side operands after a reshape that changes the 2-D form
are read through their view reshaped to the producer's shape (:func:`side_view`; a convolution's
matmul ``[N, O, OH*OW]`` thus takes the bias, ReLU and residual add of its ``[N, O, OH, OW]``
result). The chain stops at a value with several uses or a function result.

Every op of a group gets ``fuse = G``; the producer keeps its ``tile`` and the others lose theirs
(they are no kernels: :func:`~d1c.codegen.plan.kind_of` says ``fused``). The group moves
together to the position of its last op, which is always legal (each op only moves later, and
its result is read only by the next op of the group), so every side operand exists when the
group's single kernel runs. The ops stay in the IR and the interpreter evaluates them as before:
fusion changes no bits, only where intermediate tiles live (SRAM instead of DIP HBM).

The group's buffers (producer's plus, per chain op, a result tile and side operand tiles; loads
counted twice for double buffering, as ``tile`` counts them) must fit ``tile``'s budget; an
elementwise producer's tile rows shrink to make room, a matmul or reduction chain stops instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from d1c.codegen import views as V
from d1c.codegen.epilogue import side_view
from d1c.codegen.plan import MOVEMENT, esize, kind_of, operand_view, returned_values
from d1c.ir import Function, Module, Op, Value
from d1c.passes.pass_manager import Context, register_pass

PRODUCERS = ("ew", "matmul", "reduce")


def _sole_user(v: Value, uses: dict[Value, list[Op]]) -> Op | None:
    users = {id(op): op for op in uses.get(v, [])}
    return next(iter(users.values())) if len(users) == 1 else None


def _joins(op: Op, value: Value, returned: set[Value], form: tuple[int, ...]) -> bool:
    """Whether ``op`` (the only user of ``value``) can run on the tile of ``value``, a tile of
    the 2-D form of the producer's result shape ``form``."""
    if op.name == "reshape":
        return True
    if op.name == "return" or op.name in MOVEMENT or kind_of(op, returned) != "ew":
        return False
    if op.result.type.shape != value.type.shape:
        return False
    sides = [i for i, v in enumerate(op.operands) if v is not value]
    return all(_direct(side_view(op, i, form)) for i in sides)


def _direct(view: V.View | None) -> bool:
    return view is not None and V.load_mode(view) == "direct"


def _per_elem(op: Op, value: Value) -> int:
    """Buffer bytes per tile element of one chain op: its result, its side operands twice."""
    if op.name == "reshape":
        return 0
    sides = [v for v in op.operands if v is not value]
    return esize(op.result.type) + sum(2 * esize(v.type) for v in sides)


def _ew_per(op: Op) -> int:
    """Buffer bytes per element of an elementwise kernel as ``tile`` counts them."""
    return esize(op.result.type) + sum(2 * esize(v.type) for v in op.operands)


def _fixed_bytes(op: Op) -> tuple[int, int]:
    """(bytes of a matmul's or reduction's own buffers, elements of its result tile)."""
    tile = op.attrs["tile"]
    if op.name == "matmul":
        tm, tn, tk = tile
        return tm * tn * 4 + (tm + tn) * tk * esize(op.operands[0].type), tm * tn
    tr, tc = tile[:2]
    return tr * 4 + tr * tc * esize(op.operands[0].type), tr


def _rows_for(p: Op, kind: str, per: int, budget: int) -> int:
    """Tile rows with which producer ``p`` and a chain of ``per`` bytes per element fit the
    budget: an elementwise producer's rows shrink (transposed operand loads keep them a divisor
    of the second-last dim, as in ``tile``); 0 if nothing fits."""
    tr, tc = p.attrs["tile"][:2]
    if kind != "ew":
        own, elems = _fixed_bytes(p)
        return tr if own + elems * per <= budget else 0
    rows = min(tr, budget // max(tc * (_ew_per(p) + per), 1))
    shape = p.result.type.shape
    modes = [V.load_mode(operand_view(p, i, shape)) for i in range(len(p.operands))]
    if rows >= 1 and "trans" in modes:
        rows = max(d for d in range(1, min(shape[-2], rows) + 1) if shape[-2] % d == 0)
    return max(rows, 0)


@dataclass
class _Chain:
    producer: Op
    ops: list[Op]
    rows: int  # tile rows of the producer (an elementwise producer's may shrink)


def _grow(p: Op, uses, returned: set[Value], budget: int) -> _Chain:
    """The longest chain from producer ``p`` within the budget (trailing reshapes dropped)."""
    kind = kind_of(p, returned)
    chain, value, per = _Chain(p, [], p.attrs["tile"][0]), p.result, 0
    form = p.result.type.shape
    while (op := _sole_user(value, uses)) is not None and _joins(op, value, returned, form):
        rows = _rows_for(p, kind, per + _per_elem(op, value), budget)
        if rows == 0:
            break
        chain.ops.append(op)
        chain.rows, per, value = rows, per + _per_elem(op, value), op.result
    while chain.ops and chain.ops[-1].name == "reshape":
        chain.ops.pop()
    return chain


def fuse_function(func: Function, budget: int) -> int:
    """Form the groups of ``func`` (module docstring); returns how many were formed."""
    uses, returned = func.uses(), returned_values(func)
    gid = 1 + max((op.attrs["fuse"] for op in func.ops if "fuse" in op.attrs), default=-1)
    first = gid
    for op in func.ops[:-1]:
        if "fuse" in op.attrs or "tile" not in op.attrs:
            continue
        if kind_of(op, returned) not in PRODUCERS:
            continue
        chain = _grow(op, uses, returned, budget)
        if chain.ops:
            _mark(chain, gid)
            gid += 1
    func.ops = _gathered(func.ops)
    return gid - first


def _mark(chain: _Chain, gid: int) -> None:
    p = chain.producer
    if chain.rows != p.attrs["tile"][0]:
        p.attrs["tile"] = (chain.rows, *tuple(p.attrs["tile"])[1:])
    p.attrs["fuse"] = gid
    for op in chain.ops:
        op.attrs.pop("tile", None)
        op.attrs["fuse"] = gid


def _gathered(ops: list[Op]) -> list[Op]:
    """``ops`` with every group moved to the position of its last op (order kept inside)."""
    last = {op.attrs["fuse"]: op for op in ops if "fuse" in op.attrs}
    held: dict[int, list[Op]] = {}
    out = []
    for op in ops:
        g = op.attrs.get("fuse")
        if g is None:
            out.append(op)
        elif last[g] is op:
            out += [*held.pop(g, []), op]
        else:
            held.setdefault(g, []).append(op)
    return out


@register_pass
@dataclass(frozen=True)
class Fuse:
    name: ClassVar[str] = "fuse"

    def apply(self, module: Module, ctx: Context) -> Module:
        budget = ctx.target.sram_bytes // 2  # ``tile``'s budget
        for func in module.functions:
            fuse_function(func, budget)
        return module
