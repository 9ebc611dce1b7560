"""Semantics functions of the D1 tile ISA: pure numpy functions the instruction table points to.

Every row of :data:`d1c.isa.spec.ROWS` names one function here (or None for the few rows whose only
effect is on machine state the simulator owns: halt, nop, csr access, waits). The calling
convention of each *exec kind* is documented in :mod:`d1c.isa.spec`; in short:

- Scalar functions take and return register values as unsigned 32-bit Python ints (what the
  simulator keeps per register); immediates are plain signed ints.
- Tile arithmetic functions take **float32 arrays** (the operand tiles already decoded from their
  storage format by :func:`tile_values`) and return float32; the caller rounds the result to the
  destination format with :func:`tile_codes`. Every float32 result is NaN-canonicalised (NaN ->
  0x7FC00000) so results do not depend on the host's NaN-propagation rules.
- Move functions take arrays of raw codes and rearrange them without rounding.

Numerics come from :mod:`d1c.isa.numerics` (encode/decode) and :mod:`d1c.isa.fpmath`
(transcendentals), both imported lazily so this table loads even while they are being written.
Tile-level helpers (TDesc, memory reads and writes, DMA descriptor parsing) live in
:mod:`d1c.isa.tiles`.
"""

from __future__ import annotations

import numpy as np

from d1c.isa.errors import SimulationError

M32 = 0xFFFFFFFF
_CANON_NAN = np.uint32(0x7FC00000)


# ---------------------------------------------------------------- scalar ALU (uint32 in and out)
def s32(v: int) -> int:
    """The signed value of the 32-bit pattern ``v``."""
    v &= M32
    return v - (1 << 32) if v & 0x80000000 else v


def add(a: int, b: int) -> int:
    """``a + b`` modulo 2^32 (also addi with a sign-extended immediate)."""
    return (a + b) & M32


def sub(a: int, b: int) -> int:
    """``a - b`` modulo 2^32."""
    return (a - b) & M32


def mul(a: int, b: int) -> int:
    """The low 32 bits of ``a * b``."""
    return ((a & M32) * (b & M32)) & M32


def divu(a: int, b: int) -> int:
    """Unsigned ``a // b``; division by zero gives 0xFFFFFFFF (as RISC-V, no trap)."""
    a, b = a & M32, b & M32
    return M32 if b == 0 else a // b


def remu(a: int, b: int) -> int:
    """Unsigned ``a % b``; remainder by zero gives ``a``."""
    a, b = a & M32, b & M32
    return a if b == 0 else a % b


def and_(a: int, b: int) -> int:
    """Bitwise and."""
    return a & b & M32


def or_(a: int, b: int) -> int:
    """Bitwise or."""
    return (a | b) & M32


def xor(a: int, b: int) -> int:
    """Bitwise exclusive or."""
    return (a ^ b) & M32


def sll(a: int, b: int) -> int:
    """Shift left by ``b & 31``."""
    return ((a & M32) << (b & 31)) & M32


def srl(a: int, b: int) -> int:
    """Logical shift right by ``b & 31``."""
    return (a & M32) >> (b & 31)


def sra(a: int, b: int) -> int:
    """Arithmetic shift right by ``b & 31``."""
    return (s32(a) >> (b & 31)) & M32


def slt(a: int, b: int) -> int:
    """1 if ``a < b`` as signed 32-bit integers, else 0."""
    return int(s32(a) < s32(b))


def sltu(a: int, b: int) -> int:
    """1 if ``a < b`` as unsigned 32-bit integers, else 0."""
    return int((a & M32) < (b & M32))


def li(imm: int) -> int:
    """A sign-extended immediate as a register value."""
    return imm & M32


def lui(imm: int) -> int:
    """``imm << 12``: the upper 20 bits of a 32-bit constant (complete it with ``ori``)."""
    return (imm << 12) & M32


def ea(base: int, imm: int) -> int:
    """The effective byte address ``base + imm`` (ld, st, tbase, tld)."""
    return (base + imm) & M32


# ---------------------------------------------------------------- control
def beq(a: int, b: int) -> bool:
    """Branch if equal."""
    return (a & M32) == (b & M32)


def bne(a: int, b: int) -> bool:
    """Branch if not equal."""
    return (a & M32) != (b & M32)


def blt(a: int, b: int) -> bool:
    """Branch if less than (signed)."""
    return s32(a) < s32(b)


def bge(a: int, b: int) -> bool:
    """Branch if greater or equal (signed)."""
    return s32(a) >= s32(b)


def bltu(a: int, b: int) -> bool:
    """Branch if less than (unsigned)."""
    return (a & M32) < (b & M32)


def bgeu(a: int, b: int) -> bool:
    """Branch if greater or equal (unsigned)."""
    return (a & M32) >= (b & M32)


def loop(count: int) -> tuple[int, bool]:
    """The hardware loop step: decrement the count; branch back while it is nonzero."""
    new = (count - 1) & M32
    return new, new != 0


def jal(pc: int, off: int) -> tuple[int, int]:
    """(link, target): the return address ``pc + 4`` and ``pc + 4 * off``."""
    return (pc + 4) & M32, (pc + 4 * off) & M32


def jalr(pc: int, base: int, imm: int) -> tuple[int, int]:
    """(link, target): ``pc + 4`` and ``(base + imm)`` with the low two bits cleared."""
    return (pc + 4) & M32, (base + imm) & M32 & ~3


def j(pc: int, off: int) -> int:
    """The target ``pc + 4 * off`` of an unconditional jump."""
    return (pc + 4 * off) & M32


# ---------------------------------------------------------------- sync and NoC (pure parts)
def pack_coord(chip_x: int, chip_y: int, core_x: int, core_y: int) -> int:
    """The packed global core coordinate ``chip_x<<24 | chip_y<<16 | core_x<<8 | core_y``."""
    return ((chip_x & 255) << 24) | ((chip_y & 255) << 16) | ((core_x & 255) << 8) | (core_y & 255)


def unpack_coord(coord: int) -> tuple[int, int, int, int]:
    """(chip_x, chip_y, core_x, core_y) of a packed coordinate (send, recv, sem.signal)."""
    return (coord >> 24) & 255, (coord >> 16) & 255, (coord >> 8) & 255, coord & 255


def sem_signal(value: int) -> int:
    """The target semaphore's new value after one signal."""
    return (value + 1) & M32


def sem_wait(value: int, count: int) -> tuple[int, bool]:
    """(new value, ready): a wait passes once ``value >= count`` and then consumes ``count``."""
    if value >= count:
        return value - count, True
    return value, False


def barrier(arrived: int, count: int) -> bool:
    """True once ``arrived`` cores (this one included) reached a barrier that expects ``count``."""
    return arrived >= count


# ---------------------------------------------------------------- tile arithmetic (float32)
def canon(x: np.ndarray) -> np.ndarray:
    """``x`` as float32 with every NaN replaced by the canonical quiet NaN 0x7FC00000."""
    x = np.asarray(x, dtype=np.float32)
    bits = x.view(np.uint32)
    return np.where(np.isnan(x), _CANON_NAN, bits).view(np.float32)


def _f32(x: object) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def fadd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise ``a + b`` in float32 (numpy broadcasting of [R,C], [R,1], [1,C], scalars)."""
    with np.errstate(all="ignore"):
        return canon(_f32(a) + _f32(b))


def fsub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise ``a - b`` in float32."""
    with np.errstate(all="ignore"):
        return canon(_f32(a) - _f32(b))


def frsub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise ``b - a`` in float32 (scalar minus tile)."""
    return fsub(b, a)


def fmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise ``a * b`` in float32 (a single rounding, no fusion)."""
    with np.errstate(all="ignore"):
        return canon(_f32(a) * _f32(b))


def fdiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise IEEE ``a / b`` in float32 (correctly rounded, so host independent)."""
    with np.errstate(all="ignore"):
        return canon(_f32(a) / _f32(b))


def fmax(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise maximum: NaN if either is NaN, else ``b if b > a else a`` (so max(-0,+0) = -0)."""
    a, b = np.broadcast_arrays(_f32(a), _f32(b))
    out = np.where(b > a, b, a)
    return canon(np.where(np.isnan(a) | np.isnan(b), np.float32(np.nan), out))


def fmin(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise minimum: NaN if either is NaN, else ``b if b < a else a``."""
    a, b = np.broadcast_arrays(_f32(a), _f32(b))
    out = np.where(b < a, b, a)
    return canon(np.where(np.isnan(a) | np.isnan(b), np.float32(np.nan), out))


_CONDS = {
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
}


def fcmp(a: np.ndarray, b: np.ndarray, cond: str) -> np.ndarray:
    """1.0 where ``a cond b`` holds, else 0.0 (IEEE: every comparison with NaN is false but ne)."""
    return _CONDS[cond](_f32(a), _f32(b)).astype(np.float32)


def select(m: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` where the mask ``m`` is nonzero (NaN counts as nonzero), else ``b``."""
    return canon(np.where(_f32(m) != 0, _f32(a), _f32(b)))


_RMODES = {"rne": np.rint, "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc}


def round_int(a: np.ndarray, rmode: str) -> np.ndarray:
    """``a`` rounded to an integral float32 (to nearest even, down, up, toward zero): exact,
    so host independent; NaN and infinities pass (NaN canonicalised)."""
    return canon(_RMODES[rmode](_f32(a)))


def convert(a: np.ndarray) -> np.ndarray:
    """The identity on values: vcvt's work is the rounding into the destination format."""
    return canon(a)


def fill(s: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """A [rows, cols] tile every element of which is the float32 scalar ``s``."""
    return canon(np.full((rows, cols), _f32(s), dtype=np.float32))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x) | (x > 0), x, np.float32(0))


def _neg(x: np.ndarray) -> np.ndarray:
    return (x.view(np.uint32) ^ np.uint32(0x80000000)).view(np.float32)


def _abs(x: np.ndarray) -> np.ndarray:
    return (x.view(np.uint32) & np.uint32(0x7FFFFFFF)).view(np.float32)


def _sqrt(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.sqrt(x)


_LOCAL_FUNCS = {"relu": _relu, "neg": _neg, "abs": _abs, "sqrt": _sqrt}


def unary(a: np.ndarray, func: str) -> np.ndarray:
    """``func(a)`` elementwise in float32.

    exp, tanh, erf, rsqrt, reciprocal, sigmoid, log, gelu_erf, gelu_tanh and silu are the fixed
    float32 operation sequences of :mod:`d1c.isa.fpmath` (same bits on every host); relu
    (``x > 0 ? x : +0``), neg and abs (sign-bit operations) and sqrt (IEEE, correctly rounded)
    are exact or correctly rounded here.
    """
    x = np.ascontiguousarray(_f32(a))
    local = _LOCAL_FUNCS.get(func)
    if local is not None:
        return canon(local(x))
    from d1c.isa import fpmath

    return canon(getattr(fpmath, func)(x))


_RED_INIT = {"sum": -0.0, "max": -np.inf, "min": np.inf}
_RED_STEP = {"sum": fadd, "max": fmax, "min": fmin}


def reduce(a: np.ndarray, op: str, axis: str, init: np.ndarray | None = None) -> np.ndarray:
    """Reduce tile ``a`` along ``axis`` ("rows": over the rows, result [1,C]; "cols": result [R,1]).

    The order is defined: sequential from index 0 upwards, every step rounded to float32,
    ``acc = step(acc, a[i])``, starting from ``init`` (the decoded destination in ``acc`` mode)
    or from the identity (-0.0 for sum, so a sum of -0.0 stays -0.0; -inf for max; +inf for min).
    max and min propagate NaN.
    """
    x = _f32(a)
    lanes = x if axis == "rows" else x.T
    acc = np.full(lanes.shape[1], _RED_INIT[op], dtype=np.float32)
    if init is not None:
        acc = _f32(init).reshape(-1).copy()
    step = _RED_STEP[op]
    for i in range(lanes.shape[0]):
        acc = step(acc, lanes[i])
    return acc.reshape(1, -1) if axis == "rows" else acc.reshape(-1, 1)


def mma(acc: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix multiply-accumulate ``C[M,N] += A[M,K] @ B[K,N]``, K strictly sequential.

    For k = 0..K-1: ``acc = fp32(acc + fp32(a[:,k] * b[k,:]))`` over the whole [M,N] block at
    once (docs/design.md §4). The product of two bf16/fp16/CFloat8/SHP values fits float32 exactly,
    except outside float32's range where it overflows to Inf or rounds as an IEEE subnormal.
    Two roundings per step, never a fused multiply-add. ``zero`` mode passes ``acc = +0.0``.
    """
    out = _f32(acc).copy()
    a32, b32 = _f32(a), _f32(b)
    if (
        a32.ndim != 2
        or b32.ndim != 2
        or a32.shape[1] != b32.shape[0]
        or out.shape != (a32.shape[0], b32.shape[1])
    ):
        raise SimulationError(
            f"mma: shapes A {a32.shape} @ B {b32.shape} do not give C {out.shape}"
        )
    with np.errstate(all="ignore"):
        for k in range(a32.shape[1]):
            out += np.multiply.outer(a32[:, k], b32[k, :])
    return canon(out)


# ---------------------------------------------------------------- moves (raw codes)
def copy(a: np.ndarray) -> np.ndarray:
    """The codes of ``a`` unchanged (source and destination share format and bias)."""
    return np.array(a, copy=True)


def transpose(a: np.ndarray) -> np.ndarray:
    """The [C,R] transpose of the [R,C] codes ``a``."""
    return np.ascontiguousarray(np.asarray(a).T)


def broadcast(a: np.ndarray, axis: str, rows: int, cols: int) -> np.ndarray:
    """Repeat a [1,C] tile down ``rows`` rows ("rows") or an [R,1] tile across ``cols`` ("cols")."""
    src = np.asarray(a)
    want = (1, cols) if axis == "rows" else (rows, 1)
    if src.shape != want:
        raise SimulationError(f"tbcast along {axis}: source is {src.shape}, expected {want}")
    return np.ascontiguousarray(np.broadcast_to(src, (rows, cols)))


def gather(a: np.ndarray, idx: np.ndarray, axis: str) -> np.ndarray:
    """Rows ``a[idx[i], :]`` ("rows") or columns ``a[:, idx[j]]`` ("cols"); idx is flat int32.

    An index outside ``0..extent-1`` is a fault (SimulationError).
    """
    flat = np.asarray(idx).reshape(-1).astype(np.int64)
    src = np.asarray(a)
    extent = src.shape[0 if axis == "rows" else 1]
    if flat.size and (flat.min() < 0 or flat.max() >= extent):
        raise SimulationError(
            f"tgather: index {int(flat.max() if flat.max() >= extent else flat.min())} outside 0..{extent - 1}"
        )
    return np.ascontiguousarray(src[flat, :] if axis == "rows" else src[:, flat])
