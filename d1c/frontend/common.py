"""The lowering table and the helpers every lowering uses.

A lowering is a small function registered per ATen target with ``@register_lowering(target)``
(PyTorch inductor's ``lowering.py`` pattern). The importer binds the FX node's arguments against the
target's schema (defaults filled in, so omitted arguments such as ``padding`` of
``max_pool2d_with_indices`` arrive with their default), replaces tensor arguments by IR values, and
calls ``fn(ctx, *positional, **kwarg_only)``. The lowering emits IR through ``ctx.emit`` and returns
one :class:`~d1c.ir.Value` or, for multi-output targets, a list whose entries may be
:class:`Unavailable` (an output the IR does not compute, such as max-pool indices).

A lowering raises :class:`Unsupported` for a use of a supported target that d1c cannot lower (a
transposed convolution, a float64 cast); the importer collects it with the unsupported targets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx

from d1c.errors import CompileError, Loc
from d1c.ir import BF16, FP16, FP32, I1, I32, I64, Builder, ElemType, TensorType, TypeRuleError
from d1c.ir import Value as IRValue

aten = torch.ops.aten

Lowering = Callable[..., Any]
LOWERINGS: dict[Any, Lowering] = {}

# Targets that compute nothing (runtime assertions of export, error checks such as
# linalg.inv's singularity check); the importer drops them.
IGNORED_TARGETS = frozenset(
    {
        aten._assert_tensor_metadata.default,
        aten._assert_scalar.default,
        aten._assert_async.msg,
        aten.sym_constrain_range_for_size.default,
        aten._linalg_check_errors.default,
    }
)
WITH_EFFECTS = torch.ops.higher_order.with_effects


def node_target(node: fx.Node) -> Any:
    """The op a call node runs: for torch.export's ``with_effects(token, op, *args)`` wrapper
    of an op with side effects, the wrapped ``op`` (the token threading is export's
    bookkeeping, not an op of the model)."""
    if node.target is WITH_EFFECTS and len(node.args) > 1:
        return node.args[1]
    return node.target


_ELEM_OF_DTYPE = {
    torch.float32: FP32,
    torch.bfloat16: BF16,
    torch.float16: FP16,
    torch.int64: I64,
    torch.int32: I32,
    torch.bool: I1,
}
_DTYPE_OF_ELEM = {e: d for d, e in _ELEM_OF_DTYPE.items()}


class Unsupported(Exception):
    """A supported target used in a way that d1c cannot lower; the message says how."""


@dataclass(frozen=True, slots=True)
class Unavailable:
    """An output of a multi-output ATen op that the IR does not compute (``what`` names it)."""

    what: str


def register_lowering(*targets: Any) -> Callable[[Lowering], Lowering]:
    """Register ``fn`` as the lowering of each ATen overload in ``targets``."""

    def deco(fn: Lowering) -> Lowering:
        for target in targets:
            if target in LOWERINGS:
                raise ValueError(f"{target} has two lowerings")
            LOWERINGS[target] = fn
        return fn

    return deco


def target_name(target: Any) -> str:
    """``aten.add.Tensor`` for ATen overloads, the function name for others."""
    if isinstance(target, torch._ops.OpOverload):
        return str(target)
    return getattr(target, "__name__", str(target))


def elem_of_dtype(dtype: torch.dtype) -> ElemType:
    """The IR element type of a torch dtype; :class:`Unsupported` for dtypes the IR lacks."""
    elem = _ELEM_OF_DTYPE.get(dtype)
    if elem is None:
        raise Unsupported(f"dtype {str(dtype).removeprefix('torch.')} is not supported")
    return elem


def dtype_of_elem(elem: ElemType) -> torch.dtype:
    return _DTYPE_OF_ELEM[elem]


def type_of_meta(val: Any) -> TensorType:
    """The IR type of an FX ``meta['val']`` tensor (static shapes only)."""
    if not isinstance(val, torch.Tensor):
        raise Unsupported(f"produces a {type(val).__name__}, not a tensor")
    if not all(isinstance(s, int) for s in val.shape):
        raise Unsupported(f"dynamic shape {list(val.shape)} is not supported")
    return TensorType(tuple(int(s) for s in val.shape), elem_of_dtype(val.dtype))


@dataclass(slots=True)
class Ctx:
    """What a lowering needs: the builder, the node being lowered and its source location."""

    builder: Builder
    node: fx.Node
    loc: Loc | None

    @property
    def target(self) -> str:
        return target_name(self.node.target)

    def emit(
        self,
        name: str,
        operands: Sequence[IRValue] = (),
        attrs: dict[str, Any] | None = None,
        result_type: TensorType | None = None,
    ) -> IRValue:
        """Append one IR op at the node's location; a broken type rule is a d1c bug report."""
        try:
            return self.builder.create(name, list(operands), attrs, result_type, loc=self.loc)
        except TypeRuleError as err:
            raise CompileError(
                f"lowering {self.target} built an invalid '{name}' op: {err}", self.loc
            ) from None

    # Small emitters shared by many lowerings.

    def full(self, value: float | bool, elem: ElemType, shape: tuple[int, ...] = ()) -> IRValue:
        """A constant-filled tensor (rank 0 by default: a broadcastable scalar)."""
        return self.emit("full", [], {"value": float(value)}, TensorType(tuple(shape), elem))

    def cast(self, v: IRValue, elem: ElemType) -> IRValue:
        """``v`` converted to ``elem`` (no op when it already has it)."""
        if v.type.elem == elem:
            return v
        return self.emit("convert", [v], {}, v.type.with_elem(elem))

    def operand(self, x: IRValue | float | bool, elem: ElemType) -> IRValue:
        """A tensor operand of element type ``elem`` from an IR value or a Python scalar."""
        if isinstance(x, IRValue):
            return self.cast(x, elem)
        return self.full(x, elem)

    def reshape(self, v: IRValue, shape: Sequence[int]) -> IRValue:
        return self.emit("reshape", [v], {}, v.type.with_shape(tuple(shape)))


def _probe(x: Any) -> Any:
    """Something ``torch.result_type`` accepts with the same promotion category as ``x``."""
    if isinstance(x, IRValue):
        shape = (1,) * x.type.rank
        return torch.empty(shape, dtype=dtype_of_elem(x.type.elem))
    return x


def promote(*xs: IRValue | float | bool) -> ElemType:
    """torch's type promotion over IR values and Python scalars (at least one tensor)."""
    acc = next(_probe(x) for x in xs if isinstance(x, IRValue))
    for x in xs:
        dtype = torch.result_type(acc, _probe(x))
        dims = acc.dim() or (isinstance(x, IRValue) and x.type.rank)
        acc = torch.empty((1,) if dims else (), dtype=dtype)
    return elem_of_dtype(acc.dtype)


def default_float(elem: ElemType) -> ElemType:
    """``elem`` if it is a float type, else torch's default float dtype (fp32)."""
    return elem if elem.is_float else FP32


def norm_dim(dim: int, rank: int) -> int:
    """A dimension index with Python's negative indexing resolved (rank 0 accepts -1 and 0)."""
    size = max(rank, 1)
    if not -size <= dim < size:
        raise Unsupported(f"dimension {dim} is out of range for rank {rank}")
    return dim % size


def norm_dims(dims: int | Sequence[int] | None, rank: int) -> tuple[int, ...]:
    """Sorted, unique, non-negative reduction dims; ``None`` or ``[]`` means every dim."""
    if isinstance(dims, int):
        dims = [dims]
    if not dims or rank == 0:
        return tuple(range(rank))
    return tuple(sorted({norm_dim(d, rank) for d in dims}))


def pair(v: int | Sequence[int], what: str) -> tuple[int, int]:
    """A 2-D window parameter: ``k`` or ``[k]`` means ``(k, k)``."""
    if isinstance(v, int):
        return (v, v)
    if len(v) == 1:
        return (v[0], v[0])
    if len(v) != 2:
        raise Unsupported(f"{what} {list(v)} is not a 2-D window parameter")
    return (v[0], v[1])


def numel(shape: Sequence[int]) -> int:
    return math.prod(shape)
