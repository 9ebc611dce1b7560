"""IR types: element types (formats) and ranked tensor types.

Printed forms: ``fp32``, ``bf16``, ``fp16``, ``cfp8_143<7>``, ``cfp8_152<15>``, ``shp<15>``, ``i64``,
``i32``, ``i1``; tensors ``tensor<2x3xbf16>`` and, for rank 0, ``tensor<fp32>``. The lexer reads a
whole tensor type as one token (see ``grammar.lark``), so :func:`parse_type` is the one place that
splits it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

FLOAT_FORMATS = ("fp32", "bf16", "fp16")
BIASED_FORMATS = ("cfp8_143", "cfp8_152", "shp")
INT_TYPES = ("i64", "i32", "i1")

# Host numpy dtype used to hold a value of each element type in the interpreter. Storage formats
# below fp32 are held as float32 values that are exactly representable in the format.
_HOST_DTYPES = {"i64": np.int64, "i32": np.int32, "i1": np.bool_}
_BYTES = {
    "fp32": 4,
    "bf16": 2,
    "fp16": 2,
    "shp": 2,
    "cfp8_143": 1,
    "cfp8_152": 1,
    "i64": 8,
    "i32": 4,
    "i1": 1,
}


@dataclass(frozen=True)
class ElemType:
    """An element type. ``bias`` is set exactly for the CFloat formats (0..63)."""

    name: str
    bias: int | None = None

    def __post_init__(self) -> None:
        known = self.name in FLOAT_FORMATS + BIASED_FORMATS + INT_TYPES
        if not known:
            raise ValueError(f"unknown element type '{self.name}'")
        if (self.name in BIASED_FORMATS) != (self.bias is not None):
            raise ValueError(
                f"element type '{self.name}' {'needs' if self.bias is None else 'takes no'} bias"
            )
        if self.bias is not None and not 0 <= self.bias <= 63:
            raise ValueError(f"bias {self.bias} of '{self.name}' is outside 0..63")

    @property
    def is_float(self) -> bool:
        return self.name not in INT_TYPES

    @property
    def is_int(self) -> bool:
        return self.name in INT_TYPES

    @property
    def nbytes(self) -> int:
        return _BYTES[self.name]

    @property
    def host_dtype(self) -> type:
        return _HOST_DTYPES.get(self.name, np.float32)

    def __str__(self) -> str:
        return self.name if self.bias is None else f"{self.name}<{self.bias}>"


FP32 = ElemType("fp32")
BF16 = ElemType("bf16")
FP16 = ElemType("fp16")
I64 = ElemType("i64")
I32 = ElemType("i32")
I1 = ElemType("i1")


def holds(outer: ElemType, inner: ElemType) -> bool:
    """Every value of float format ``inner`` is exactly representable in ``outer`` (fp32 holds
    all; bf16 holds both CFloat8 formats at any bias: 8 significant bits >= 4, and its range
    2^-133..2^128 covers 2^-66..2^32)."""
    if outer in (inner, FP32):
        return True
    return outer.name == "bf16" and inner.name in ("cfp8_143", "cfp8_152")


@dataclass(frozen=True)
class TensorType:
    """A ranked tensor of static shape."""

    shape: tuple[int, ...]
    elem: ElemType

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * self.elem.nbytes

    def with_shape(self, shape: tuple[int, ...]) -> TensorType:
        return TensorType(tuple(shape), self.elem)

    def with_elem(self, elem: ElemType) -> TensorType:
        return TensorType(self.shape, elem)

    def __str__(self) -> str:
        dims = "".join(f"{d}x" for d in self.shape)
        return f"tensor<{dims}{self.elem}>"


_ELEM_RE = re.compile(r"^(fp32|bf16|fp16|i64|i32|i1|(cfp8_143|cfp8_152|shp)<(\d+)>)$")


def parse_elem(text: str) -> ElemType:
    """Parse ``bf16`` or ``cfp8_143<7>``; raises ValueError with a reason."""
    m = _ELEM_RE.match(text)
    if not m:
        raise ValueError(f"unknown element type '{text}'")
    if m.group(2):
        return ElemType(m.group(2), int(m.group(3)))
    return ElemType(text)


def parse_type(text: str) -> TensorType:
    """Parse ``tensor<2x3xbf16>``; raises ValueError with a reason."""
    if not (text.startswith("tensor<") and text.endswith(">")):
        raise ValueError(f"expected a tensor type like tensor<2x3xbf16>, got '{text}'")
    parts = text[len("tensor<") : -1].split("x")
    # The element type may itself contain no 'x', so the last part is the element type.
    *dims, elem = parts
    if any(not d.isdigit() for d in dims):
        raise ValueError(f"bad dimension in '{text}': dimensions are non-negative integers")
    return TensorType(tuple(int(d) for d in dims), parse_elem(elem))


def elem_of_numpy(dtype: np.dtype) -> ElemType:
    """The IR element type that holds a numpy array of ``dtype`` (constants, inputs)."""
    table = {np.float32: FP32, np.int64: I64, np.int32: I32, np.bool_: I1}
    for np_type, elem in table.items():
        if np.dtype(dtype) == np.dtype(np_type):
            return elem
    raise ValueError(f"no IR element type for numpy dtype {dtype}")
