"""LLVM IR (built with llvmlite.ir) of the bit-exact ``mma`` kernel; see :mod:`d1c.runtime.native_mma`.

Entry point ``void d1c_mma_f32(float *c, const float *a, const float *b, i64 M, i64 N, i64 K)``
updates the dense row-major ``c[M,N] += a[M,K] @ b[K,N]`` in place, sequentially in k for every
element, and canonicalises NaNs (0x7FC00000) at the end. Loop nest (NR = width * nv)::

    for j0 in 0..N step NR:            # column panel, ncols = min(NR, N - j0)
      for k0 in 0..K step KC:          # chunk of k, kc = min(KC, K - k0), in increasing order
        pack b[k0:k0+kc, j0:j0+ncols] into pack[kc][NR] (zero columns past ncols)
        for i0 in 0..M step MR:        # rows = min(MR, M - i0)
          block kernel: load c[i0:i0+rows, j0:j0+NR] into registers; for k in 0..kc:
            c_rv = fadd(c_rv, fmul(splat(a[i0+r, k0+k]), pack[k][v*W:(v+1)*W])); store back

A tail panel (ncols < NR) goes through a zero-padded [MR][NR] stack copy of its rows, so block
kernels never touch memory outside the arrays. No instruction carries fast-math flags. On x86 the
exported entry runs the (noinline) body under IEEE MXCSR settings and restores the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llvmlite import ir

F32 = ir.FloatType()
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PF32 = F32.as_pointer()
PI32 = I32.as_pointer()
CANON_NAN = 0x7FC00000


@dataclass(frozen=True, slots=True)
class BlockShape:
    """Register block: ``mr`` rows x ``nv`` vectors of ``width`` lanes, k chunks of ``kc``."""

    width: int
    mr: int
    nv: int
    kc: int

    @property
    def nr(self) -> int:
        """Columns per block (``width * nv``)."""
        return self.width * self.nv

    def __str__(self) -> str:
        return f"w{self.width}m{self.mr}v{self.nv}k{self.kc}"


def _i64(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


def for_range(
    b: ir.IRBuilder,
    start: ir.Value,
    stop: ir.Value,
    step: int,
    body: Callable[[ir.Value, list[ir.Value]], list[ir.Value]],
    carried: Sequence[ir.Value] = (),
) -> list[ir.Value]:
    """Emit ``for (i = start; i < stop; i += step) carried = body(i, carried)``; return carried."""
    pre = b.block
    head, loop, done = (b.append_basic_block(n) for n in ("head", "body", "done"))
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    phis = [b.phi(v.type) for v in carried]
    i.add_incoming(start, pre)
    for phi, v in zip(phis, carried, strict=True):
        phi.add_incoming(v, pre)
    b.cbranch(b.icmp_signed("<", i, stop), loop, done)
    b.position_at_end(loop)
    new = body(i, phis)
    i.add_incoming(b.add(i, _i64(step)), b.block)
    for phi, v in zip(phis, new, strict=True):
        phi.add_incoming(v, b.block)
    b.branch(head)
    b.position_at_end(done)
    return phis


def _smin(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _vec_ptr(b: ir.IRBuilder, base: ir.Value, index: ir.Value, vt: ir.VectorType) -> ir.Value:
    return b.bitcast(b.gep(base, [index]), vt.as_pointer())


def _splat(b: ir.IRBuilder, x: ir.Value, vt: ir.VectorType) -> ir.Value:
    one = b.insert_element(ir.Constant(vt, ir.Undefined), x, ir.Constant(I32, 0))
    zeros = ir.Constant(ir.VectorType(I32, vt.count), [0] * vt.count)
    return b.shuffle_vector(one, ir.Constant(vt, ir.Undefined), zeros)


def _new_fn(mod: ir.Module, name: str, args: list[ir.Type], internal: bool = True) -> ir.Function:
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), args), name)
    if internal:
        fn.linkage = "internal"
    fn.append_basic_block("entry")
    return fn


def _block_kernel(mod: ir.Module, s: BlockShape, rows: int) -> ir.Function:
    """``uk_rows(c, ldc, a, lda, pack, kc)``: c[rows][NR] += a[rows][kc] @ pack[kc][NR]."""
    fn = _new_fn(mod, f"uk{rows}", [PF32, I64, PF32, I64, PF32, I64])
    c, ldc, a, lda, pack, kc = fn.args
    b = ir.IRBuilder(fn.entry_basic_block)
    vt = ir.VectorType(F32, s.width)
    cptrs = [
        _vec_ptr(b, c, b.add(b.mul(_i64(r), ldc), _i64(v * s.width)), vt)
        for r in range(rows)
        for v in range(s.nv)
    ]
    init = [b.load(p, align=4) for p in cptrs]

    def step(k: ir.Value, accs: list[ir.Value]) -> list[ir.Value]:
        row = b.mul(k, _i64(s.nr))
        bv = [
            b.load(_vec_ptr(b, pack, b.add(row, _i64(v * s.width)), vt), align=4)
            for v in range(s.nv)
        ]
        out = []
        for r in range(rows):
            ar = b.load(b.gep(a, [b.add(b.mul(_i64(r), lda), k)]), align=4)
            sp = _splat(b, ar, vt)
            out += [b.fadd(accs[r * s.nv + v], b.fmul(sp, bv[v])) for v in range(s.nv)]
        return out

    final = for_range(b, _i64(0), kc, 1, step, init)
    for p, v in zip(cptrs, final, strict=True):
        b.store(v, p, align=4)
    b.ret_void()
    return fn


def _copy_rows(
    b: ir.IRBuilder,
    dst: ir.Value,
    ldd: ir.Value,
    src: ir.Value,
    lds: ir.Value,
    rows: ir.Value,
    ncols: ir.Value,
    pad_to: int | None,
) -> None:
    """dst[r][0:ncols] = src[r][0:ncols] for r < rows; zero dst[r][ncols:pad_to] if pad_to."""

    def row(r: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
        d0, s0 = b.mul(r, ldd), b.mul(r, lds)

        def copy(j: ir.Value, __: list[ir.Value]) -> list[ir.Value]:
            b.store(
                b.load(b.gep(src, [b.add(s0, j)]), align=4), b.gep(dst, [b.add(d0, j)]), align=4
            )
            return []

        def zero(j: ir.Value, __: list[ir.Value]) -> list[ir.Value]:
            b.store(ir.Constant(F32, 0.0), b.gep(dst, [b.add(d0, j)]), align=4)
            return []

        for_range(b, _i64(0), ncols, 1, copy)
        if pad_to is not None:
            for_range(b, ncols, _i64(pad_to), 1, zero)
        return []

    for_range(b, _i64(0), rows, 1, row)


def _pack_b(mod: ir.Module, s: BlockShape) -> ir.Function:
    """``pack(pack, b, ldb, kc, ncols)``: pack[k][0:NR] = b[k][0:ncols] then zeros (b pre-offset)."""
    fn = _new_fn(mod, "pack_b", [PF32, PF32, I64, I64, I64])
    pack, src, ldb, kc, ncols = fn.args
    b = ir.IRBuilder(fn.entry_basic_block)
    _copy_rows(b, pack, _i64(s.nr), src, ldb, kc, ncols, s.nr)
    b.ret_void()
    return fn


def _dispatch(
    b: ir.IRBuilder, kernels: list[ir.Function], rows: ir.Value, args: list[ir.Value]
) -> None:
    """``switch rows`` to the block kernel for that many rows (rows is 1..MR)."""
    done = b.append_basic_block("dispatched")
    sw = b.switch(rows, done)
    for n, kern in enumerate(kernels, start=1):
        case = b.append_basic_block(f"rows{n}")
        sw.add_case(_i64(n), case)
        b.position_at_end(case)
        b.call(kern, args)
        b.branch(done)
    b.position_at_end(done)


def _block(mod: ir.Module, s: BlockShape, kernels: list[ir.Function]) -> ir.Function:
    """``block(c, ldc, a, lda, pack, kc, rows, ncols, cbuf)``: one MR x NR block, tails padded."""
    fn = _new_fn(mod, "block", [PF32, I64, PF32, I64, PF32, I64, I64, I64, PF32])
    c, ldc, a, lda, pack, kc, rows, ncols, cbuf = fn.args
    b = ir.IRBuilder(fn.entry_basic_block)
    with b.if_else(b.icmp_signed("==", ncols, _i64(s.nr))) as (full, tail):
        with full:
            _dispatch(b, kernels, rows, [c, ldc, a, lda, pack, kc])
        with tail:
            _copy_rows(b, cbuf, _i64(s.nr), c, ldc, rows, ncols, s.nr)
            _dispatch(b, kernels, rows, [cbuf, _i64(s.nr), a, lda, pack, kc])
            _copy_rows(b, c, ldc, cbuf, _i64(s.nr), rows, ncols, None)
    b.ret_void()
    return fn


def _canon(mod: ir.Module) -> ir.Function:
    """``canon(c, n)``: every NaN among c[0:n] becomes 0x7FC00000 (as semantics.canon)."""
    fn = _new_fn(mod, "canon", [PF32, I64])
    c, n = fn.args
    b = ir.IRBuilder(fn.entry_basic_block)
    ci = b.bitcast(c, PI32)

    def step(i: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
        x = b.load(b.gep(c, [i]), align=4)
        bits = b.load(b.gep(ci, [i]), align=4)
        nan = b.fcmp_unordered("uno", x, x)
        b.store(b.select(nan, ir.Constant(I32, CANON_NAN), bits), b.gep(ci, [i]), align=4)
        return []

    for_range(b, _i64(0), n, 1, step)
    b.ret_void()
    return fn


def _driver(
    mod: ir.Module, s: BlockShape, block: ir.Function, pack_b: ir.Function, canon: ir.Function
) -> ir.Function:
    fn = _new_fn(mod, "mma_body", [PF32, PF32, PF32, I64, I64, I64])
    fn.attributes.add("noinline")  # a call boundary around the MXCSR switch of _entry
    c, a, bm, m, n, k = fn.args
    b = ir.IRBuilder(fn.entry_basic_block)
    pack = b.alloca(F32, _i64(s.kc * s.nr))
    pack.align = 64
    cbuf = b.alloca(F32, _i64(s.mr * s.nr))
    cbuf.align = 64

    def panel(j0: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
        ncols = _smin(b, _i64(s.nr), b.sub(n, j0))

        def chunk(k0: ir.Value, __: list[ir.Value]) -> list[ir.Value]:
            kc = _smin(b, _i64(s.kc), b.sub(k, k0))
            b.call(pack_b, [pack, b.gep(bm, [b.add(b.mul(k0, n), j0)]), n, kc, ncols])

            def rowblock(i0: ir.Value, ___: list[ir.Value]) -> list[ir.Value]:
                rows = _smin(b, _i64(s.mr), b.sub(m, i0))
                cp = b.gep(c, [b.add(b.mul(i0, n), j0)])
                ap = b.gep(a, [b.add(b.mul(i0, k), k0)])
                b.call(block, [cp, n, ap, k, pack, kc, rows, ncols, cbuf])
                return []

            for_range(b, _i64(0), m, s.mr, rowblock)
            return []

        for_range(b, _i64(0), k, s.kc, chunk)
        return []

    for_range(b, _i64(0), n, s.nr, panel)
    b.call(canon, [c, b.mul(m, n)])
    b.ret_void()
    return fn


MXCSR_CLEAR = 0x8040 | 0x6000  # flush-to-zero (15), denormals-are-zero (6), rounding (13-14)
MXCSR_SET = 0x1F80  # every FP exception masked (no traps), as numpy runs


def _entry(mod: ir.Module, body: ir.Function, x86: bool) -> None:
    """``d1c_mma_f32``: on x86, run ``body`` with IEEE MXCSR (no FTZ/DAZ, RNE), then restore."""
    fn = _new_fn(mod, "d1c_mma_f32", [PF32, PF32, PF32, I64, I64, I64], internal=False)
    b = ir.IRBuilder(fn.entry_basic_block)
    if not x86:
        b.call(body, fn.args)
        b.ret_void()
        return
    i8p = ir.IntType(8).as_pointer()
    st, ld = (
        ir.Function(mod, ir.FunctionType(ir.VoidType(), [i8p]), f"llvm.x86.sse.{n}mxcsr")
        for n in ("st", "ld")
    )
    saved, ieee = b.alloca(I32), b.alloca(I32)
    b.call(st, [b.bitcast(saved, i8p)])
    old = b.load(saved)
    new = b.or_(b.and_(old, ir.Constant(I32, ~MXCSR_CLEAR)), ir.Constant(I32, MXCSR_SET))
    b.store(new, ieee)
    b.call(ld, [b.bitcast(ieee, i8p)])
    b.call(body, fn.args)
    b.call(ld, [b.bitcast(saved, i8p)])
    b.ret_void()


def mma_module(s: BlockShape, x86: bool) -> str:
    """The LLVM IR text of the module defining ``d1c_mma_f32`` for block shape ``s``.

    ``x86``: guard the body with an MXCSR switch (the host's FP state is per thread; another
    library may have turned on flush-to-zero, which would change denormal results).
    """
    mod = ir.Module(name=f"d1c_mma_{s}")
    kernels = [_block_kernel(mod, s, rows) for rows in range(1, s.mr + 1)]
    block = _block(mod, s, kernels)
    _entry(mod, _driver(mod, s, block, _pack_b(mod, s), _canon(mod)), x86)
    return str(mod)
