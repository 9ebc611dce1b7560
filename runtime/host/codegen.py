"""The host module of a program: LLVM IR (built with llvmlite.ir) that packs and unpacks symbols.

For every input symbol ``s`` and every loop nest ``n`` of its layout (:mod:`.layout`)::

    void d1c_pack_s<s>_n<n>_<rne|sr>(i8* noalias src, i8** spans, i64 j0, i64 j1,
                                     i64 o0, i64 o1, i64 key)

converts the user's dense C-order fp32 tensor ``src`` (int32 for ``i32`` symbols) to the
symbol's storage codes and scatters them into the spans of placements ``j0..j1-1`` of the nest
(``spans[j]`` points at the first byte of that placement's span), outermost loop index in
``[o0, o1)`` only, so callers can split the work between threads. ``key`` is the stream key of
stochastic rounding (:func:`d1c.isa.numerics.random_bits`: element ``i`` of the tensor gets
``h(i)``). For every output symbol::

    void d1c_unpack_s<s>_n<n>(i8* noalias dst, i8** spans, i64 j0, i64 j1, i64 o0, i64 o1)

gathers codes from the spans into a dense fp32 tensor (int32 for ``i32``), later placements
overwriting earlier ones. fp32 and i32 symbols copy bits. The first source element of each
placement is a constant table ``@d1c_off_s<s>_n<n>``; extents and strides are constants of the
loop nest, so LLVM sees fixed trip counts and unit strides it can vectorise. No function reads
floating-point state or uses floating-point arithmetic at all.
"""

from __future__ import annotations

from llvmlite import ir

from d1c.isa.formats import get_format
from d1c.isa.tiles import CFLOAT
from d1c.runtime.host.convert_ir import I32, I64, c64, decoder, encoder, sr_hash
from d1c.runtime.host.layout import Nest, SymbolLayout
from d1c.runtime.native_mma_ir import for_range

I8 = ir.IntType(8)
PI8 = I8.as_pointer()
PPI8 = PI8.as_pointer()
ROUNDINGS = ("rne", "sr")


def pack_name(sym: int, nest: int, rounding: str) -> str:
    return f"d1c_pack_s{sym}_n{nest}_{rounding}"


def unpack_name(sym: int, nest: int) -> str:
    return f"d1c_unpack_s{sym}_n{nest}"


def code_bias(lay: SymbolLayout) -> int:
    """The exponent bias the conversion uses (the format's fixed bias unless CFloat)."""
    f = get_format(lay.sym.fmt) if lay.sym.fmt != "i32" else None
    if f is None:
        return 0
    return lay.sym.bias if lay.sym.fmt in CFLOAT else f.default_bias


def roundings(lay: SymbolLayout) -> tuple[str, ...]:
    """Rounding variants of a pack function: fp32 and i32 copy bits, so RNE only."""
    return ("rne",) if lay.sym.fmt in ("fp32", "i32") else ROUNDINGS


def _offsets(mod: ir.Module, lay: SymbolLayout, k: int) -> ir.GlobalVariable:
    table = lay.offsets[k]
    ty = ir.ArrayType(I64, len(table))
    g = ir.GlobalVariable(mod, ty, f"d1c_off_s{lay.index}_n{k}")
    g.global_constant = True
    g.linkage = "internal"
    g.initializer = ir.Constant(ty, [c64(v) for v in table])
    return g


def _dims(nest: Nest) -> list[tuple[int, int, int]]:
    dims = list(zip(nest.extents, nest.src_strides, nest.dst_strides, strict=True))
    return dims or [(1, 0, 0)]


def _nest_loops(b: ir.IRBuilder, nest: Nest, o0, o1, first, body) -> None:
    """``body(src_index, dst_offset)`` for every element of the box, outer index in [o0, o1)."""
    dims = _dims(nest)
    outer = dims[0][0]
    hi = b.select(b.icmp_signed("<", o1, c64(outer)), o1, c64(outer))

    def level(d: int, src, dst):
        def step(i, _carried):
            _e, s, t = dims[d]
            si = b.add(src, b.mul(i, c64(s)))
            di = b.add(dst, b.mul(i, c64(t)))
            if d + 1 == len(dims):
                body(si, di)
            else:
                for_range(b, c64(0), c64(dims[d + 1][0]), 1, level(d + 1, si, di))
            return []

        return step

    for_range(b, o0, hi, 1, level(0, first, c64(nest.base)))


def _function(mod: ir.Module, name: str, extra: int) -> ir.Function:
    args = [PI8, PPI8, I64, I64, I64, I64] + [I64] * extra
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), args), name)
    fn.args[0].add_attribute("noalias")
    fn.append_basic_block("entry")
    return fn


def _placements(b: ir.IRBuilder, fn: ir.Function, table: ir.GlobalVariable, nest: Nest, body):
    """Loop over placements j0..j1-1: ``body(span_pointer, src_index, dst_offset)``."""
    _data, spans, j0, j1, o0, o1 = fn.args[:6]

    def per_placement(j, _carried):
        span = b.load(b.gep(spans, [j]))
        first = b.load(b.gep(table, [c64(0), j]))
        _nest_loops(b, nest, o0, o1, first, lambda s, d: body(span, s, d))
        return []

    for_range(b, j0, j1, 1, per_placement)
    b.ret_void()


def _elem_type(fmt: str) -> ir.IntType:
    return I32 if fmt in ("fp32", "i32") else ir.IntType(get_format(fmt).bits)


def pack_function(mod: ir.Module, lay: SymbolLayout, k: int, rounding: str) -> None:
    """Define the pack function of nest ``k`` of an input symbol."""
    fmt, table = lay.sym.fmt, mod.globals.get(f"d1c_off_s{lay.index}_n{k}")
    table = table or _offsets(mod, lay, k)
    fn = _function(mod, pack_name(lay.index, k, rounding), 1)
    b = ir.IRBuilder(fn.entry_basic_block)
    src = b.bitcast(fn.args[0], I32.as_pointer())
    key = fn.args[6]
    copy = fmt in ("fp32", "i32")
    enc = None if copy else encoder(mod, fmt, code_bias(lay), rounding)
    hasher = sr_hash(mod) if rounding == "sr" and not copy else None
    out_ty = _elem_type(fmt)

    def body(span, s, d):
        u = b.load(b.gep(src, [s]), align=4)
        if enc is not None:
            h = b.call(hasher, [key, s]) if hasher is not None else c64(0)
            u = b.call(enc, [u, h])
        b.store(u, b.bitcast(b.gep(span, [d]), out_ty.as_pointer()), align=1)

    _placements(b, fn, table, lay.nests[k], body)


def unpack_function(mod: ir.Module, lay: SymbolLayout, k: int) -> None:
    """Define the unpack function of nest ``k`` of an output symbol."""
    fmt, table = lay.sym.fmt, mod.globals.get(f"d1c_off_s{lay.index}_n{k}")
    table = table or _offsets(mod, lay, k)
    fn = _function(mod, unpack_name(lay.index, k), 0)
    b = ir.IRBuilder(fn.entry_basic_block)
    dst = b.bitcast(fn.args[0], I32.as_pointer())
    dec = None if fmt in ("fp32", "i32") else decoder(mod, fmt, code_bias(lay))
    in_ty = _elem_type(fmt)

    def body(span, s, d):
        c = b.load(b.bitcast(b.gep(span, [d]), in_ty.as_pointer()), align=1)
        b.store(b.call(dec, [c]) if dec is not None else c, b.gep(dst, [s]), align=4)

    _placements(b, fn, table, lay.nests[k], body)


def host_module(layouts: list[SymbolLayout], name: str = "d1c_host") -> ir.Module:
    """The llvmlite module with every pack and unpack function of a program's symbols."""
    mod = ir.Module(name=name)
    for lay in layouts:
        for k in range(len(lay.nests)):
            if lay.sym.role == "input":
                for rounding in roundings(lay):
                    pack_function(mod, lay, k, rounding)
            else:
                unpack_function(mod, lay, k)
    return mod
