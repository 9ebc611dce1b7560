"""Bit-exact native kernels for the simulator: the matrix unit's ``mma`` compiled with llvmlite.

:func:`mma` gives the same bits as :func:`d1c.isa.semantics.mma` (docs/design.md §4: for k = 0..K-1,
``acc = fp32(acc + fp32(a[:,k] * b[k,:]))``, NaN canonicalised to 0x7FC00000 at the end) for every
input, and is many times faster because numpy's version makes K passes over the [M,N] block.

How the loop nest keeps the bits
    Every output element still sees its K products added one at a time in increasing k, each
    product rounded to float32 (``fmul``) and then added (``fadd``), with no fast-math flags, so
    LLVM may neither reassociate nor contract into FMA. What changes is only *which elements are
    worked on together*: a register block of MR rows x NR columns (NR = NV vectors of the host's
    width) keeps its accumulators in registers through a chunk of KC values of k, with B's
    [KC, NR] panel copied to a zero-padded stack buffer first. Between chunks the accumulators are
    stored to and reloaded from ``acc`` as float32, which is exact. A tail panel of columns goes
    through a zero-padded stack copy; tail rows use a block kernel specialised for fewer rows.

Floating-point environment
    On x86 the entry point saves MXCSR, runs with flush-to-zero and denormals-are-zero off,
    round-to-nearest-even and every exception masked, and restores the caller's MXCSR, so FP32
    denormals are never flushed even if another library turned FTZ on in this thread (the numpy
    semantics function has no such guard: it would flush then).

Fallback
    If llvmlite cannot initialise or compile (or ``D1C_NO_JIT=1`` is set), :func:`mma` calls the
    numpy semantics function instead: the same bits, only slower. :func:`backend` says which one
    runs and :func:`fallback_reason` why; the first fallback also emits a RuntimeWarning.
"""

from __future__ import annotations

import ctypes
import os
import threading
import warnings

import numpy as np

from d1c.isa import semantics
from d1c.isa.errors import CompileError, SimulationError
from d1c.runtime import jit
from d1c.runtime.native_mma_ir import BlockShape, mma_module

_LOCK = threading.Lock()
_STATE: dict[str, object] = {}
_I64 = ctypes.c_int64
_PTR = ctypes.c_void_p


def block_shape() -> BlockShape:
    """The register block for this host: 16-lane vectors with AVX-512, 8 with AVX, else 4."""
    feats = jit.host_features()
    if "avx512f" in feats:
        return BlockShape(width=16, mr=6, nv=2, kc=256)
    if "avx" in feats:
        return BlockShape(width=8, mr=4, nv=3, kc=256)
    return BlockShape(width=4, mr=4, nv=2, kc=256)


def _compile_mma() -> object:
    shape = block_shape()
    x86 = jit.host_triple().startswith(("x86_64", "i386", "i686"))
    module = jit.load(f"mma-{shape}", lambda: mma_module(shape, x86))
    return module.function("d1c_mma_f32", None, _PTR, _PTR, _PTR, _I64, _I64, _I64)


def _native() -> object | None:
    """The compiled mma function, or None when the numpy fallback is in use (decided once)."""
    if "fn" in _STATE:
        return _STATE["fn"]
    with _LOCK:
        if "fn" not in _STATE:
            _STATE["fn"] = _try_compile()
    return _STATE["fn"]


def _try_compile() -> object | None:
    if os.environ.get("D1C_NO_JIT", "") not in ("", "0"):
        return _fall_back("D1C_NO_JIT is set")
    try:
        return _compile_mma()
    except (CompileError, ImportError, OSError, RuntimeError) as exc:
        return _fall_back(str(exc))


def _fall_back(reason: str) -> None:
    _STATE["reason"] = reason
    warnings.warn(
        f"d1c: native mma kernel unavailable ({reason}); using the numpy semantics function "
        "(same bits, slower)",
        RuntimeWarning,
        stacklevel=4,
    )


def backend() -> str:
    """``"llvm"`` when the JIT kernel runs, ``"numpy"`` when the semantics function is used."""
    return "numpy" if _native() is None else "llvm"


def fallback_reason() -> str | None:
    """Why the numpy fallback is in use, or None when the JIT kernel runs."""
    _native()
    return _STATE.get("reason")


def _check_shapes(acc: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    if a.ndim != 2 or b.ndim != 2 or acc.ndim != 2:
        raise SimulationError(f"mma needs 2-D operands, got {acc.shape}, {a.shape}, {b.shape}")
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2 or acc.shape != (m, n):
        raise SimulationError(f"mma shapes do not match: acc {acc.shape} += {a.shape} @ {b.shape}")
    return m, n, k


def mma(acc: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``acc + a @ b`` as a new float32 [M,N] array, bit-identical to ``semantics.mma``.

    ``acc`` [M,N], ``a`` [M,K], ``b`` [K,N] are converted to C-contiguous float32 (copied only
    when needed; ``acc`` is always copied, the inputs are never modified).
    """
    out = np.array(acc, dtype=np.float32, order="C", copy=True)
    a32 = np.ascontiguousarray(a, dtype=np.float32)
    b32 = np.ascontiguousarray(b, dtype=np.float32)
    m, n, k = _check_shapes(out, a32, b32)
    fn = _native()
    if fn is None:
        return semantics.mma(out, a32, b32)
    fn(out.ctypes.data, a32.ctypes.data, b32.ctypes.data, m, n, k)
    return out
