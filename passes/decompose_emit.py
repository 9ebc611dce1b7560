"""The op emitter of ``decompose``: small helpers that append primitive ops and skip no-ops.

Every helper returns its operand unchanged when the op would do nothing (a reshape to the same
shape, an identity permute, a full-range slice, zero padding, a convert to the same type), so the
decomposition rules can be written for the general case and still emit short IR. A ``permute``
that moves only size-1 dims is a ``reshape``, and a reshape reads through earlier reshapes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from d1c.ir import FP32, Builder, ElemType, Module, Sym, TensorType, Value


class Emitter:
    """Appends ops to the function being rebuilt (through ``builder``) at the location ``loc``."""

    def __init__(self, module: Module, builder: Builder) -> None:
        self.module = module
        self.b = builder
        self.counter = 0

    def op(
        self,
        name: str,
        operands: Sequence[Value],
        attrs: dict[str, Any] | None = None,
        rtype: TensorType | None = None,
    ) -> Value:
        return self.b.create(name, list(operands), attrs or {}, rtype)

    # -- types ---------------------------------------------------------------------------------
    def f32(self, v: Value) -> Value:
        """``v`` widened to fp32 (exact) if it is a narrower float, else ``v``."""
        return self.cast(v, FP32) if v.type.elem.is_float else v

    def cast(self, v: Value, elem: ElemType) -> Value:
        if v.type.elem == elem:
            return v
        return self.op("convert", [v], {"rounding": "rne"}, v.type.with_elem(elem))

    # -- sources -------------------------------------------------------------------------------
    def full(self, value: float, elem: ElemType = FP32, shape: tuple[int, ...] = ()) -> Value:
        return self.op("full", [], {"value": float(value)}, TensorType(tuple(shape), elem))

    def const(self, hint: str, array: np.ndarray, ty: TensorType) -> Value:
        """A new module constant named ``hint.N`` (first free N) holding ``array``."""
        while f"{hint}.{self.counter}" in self.module.consts:
            self.counter += 1
        name = f"{hint}.{self.counter}"
        self.module.consts[name] = np.ascontiguousarray(array, dtype=ty.elem.host_dtype)
        return self.op("const", [], {"name": Sym(name)}, ty)

    # -- data movement -------------------------------------------------------------------------
    def reshape(self, v: Value, shape: Sequence[int]) -> Value:
        shape = tuple(shape)
        while v.owner is not None and v.owner.name == "reshape":
            v = v.owner.operands[0]
        if v.type.shape == shape:
            return v
        return self.op("reshape", [v], {}, v.type.with_shape(shape))

    def permute(self, v: Value, dims: Sequence[int]) -> Value:
        dims = tuple(dims)
        shape = tuple(v.type.shape[d] for d in dims)
        moved = [d for d in dims if v.type.shape[d] != 1]
        if moved == sorted(moved):
            return self.reshape(v, shape)
        return self.op("permute", [v], {"dims": dims})

    def broadcast(self, v: Value, shape: Sequence[int]) -> Value:
        shape = tuple(shape)
        if v.type.shape == shape:
            return v
        return self.op("broadcast_to", [v], {}, v.type.with_shape(shape))

    def slice(self, v: Value, dim: int, start: int, count: int, step: int = 1) -> Value:
        """``count`` elements ``start, start+step, ...`` along ``dim``."""
        if count <= 1:
            step = 1
        end = start + (count - 1) * step + 1 if count else start
        if start == 0 and step == 1 and end == v.type.shape[dim]:
            return v
        attrs = {"dim": dim, "start": start, "end": end, "step": step}
        return self.op("slice", [v], attrs)

    def pad(self, v: Value, pads: Sequence[int], value: float) -> Value:
        if not any(pads):
            return v
        return self.op("pad", [v], {"pads": tuple(pads), "value": float(value)})

    def concat(self, vs: Sequence[Value], dim: int) -> Value:
        return vs[0] if len(vs) == 1 else self.op("concat", vs, {"dim": dim})

    # -- arithmetic ----------------------------------------------------------------------------
    def reduce_last(self, v: Value, kind: str) -> Value:
        """The primitive reduction: last dim, keepdim (a float sum is widened to fp32 first)."""
        if kind == "reduce_sum":
            v = self.f32(v)
        return self.op(kind, [v], {"dims": (v.type.rank - 1,), "keepdim": True})

    def reduce(self, v: Value, kind: str, dims: Sequence[int], keepdim: bool) -> Value:
        """Reduce over ``dims``: permute them to the end (in order), flatten them into one last
        dim (row-major, the interpreter's order), reduce it, reshape to the result shape."""
        shape = v.type.shape
        kept = [i for i in range(len(shape)) if i not in dims]
        x = self.permute(v, kept + list(dims))
        lead = tuple(shape[i] for i in kept)
        x = self.reshape(x, (*lead, math.prod(shape[i] for i in dims)))
        y = self.reduce_last(x, kind)
        out = tuple(1 if i in dims else s for i, s in enumerate(shape)) if keepdim else lead
        return self.reshape(y, out)

    def matmul(self, a: Value, b: Value) -> Value:
        """The primitive matmul (rank 2, or rank 3 with equal batch); a float result is the fp32
        accumulator."""
        out = a.type.shape[:-1] + b.type.shape[-1:]
        elem = FP32 if a.type.elem.is_float else a.type.elem
        return self.op("matmul", [a, b], {}, TensorType(out, elem))
