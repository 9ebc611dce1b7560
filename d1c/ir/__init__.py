"""The d1c IR: types, the op table, core structures, printer, parser, verifier, equality."""

from d1c.ir.core import Builder, Function, Module, Op, Value
from d1c.ir.equality import functions_equal, modules_equal
from d1c.ir.ops import OPS, REQUIRED, OpDef, infer_result_type, register_op
from d1c.ir.parser import parse_module
from d1c.ir.printer import print_module
from d1c.ir.shapes import Sym, TypeRuleError, broadcast_shapes
from d1c.ir.types import (
    BF16,
    FP16,
    FP32,
    I1,
    I32,
    I64,
    ElemType,
    TensorType,
    elem_of_numpy,
    parse_elem,
    parse_type,
)
from d1c.ir.verify import verify_module

__all__ = [
    "BF16",
    "FP16",
    "FP32",
    "I1",
    "I32",
    "I64",
    "OPS",
    "REQUIRED",
    "Builder",
    "ElemType",
    "Function",
    "Module",
    "Op",
    "OpDef",
    "Sym",
    "TensorType",
    "TypeRuleError",
    "Value",
    "broadcast_shapes",
    "elem_of_numpy",
    "functions_equal",
    "infer_result_type",
    "modules_equal",
    "parse_elem",
    "parse_module",
    "parse_type",
    "print_module",
    "register_op",
    "verify_module",
]
