"""Bit-exact BF16 matmul throughput on this host (MAC/s), next to numpy float32 matmul.

Usage: ``python benchmarks/sim_matmul.py [--size 1024] [--repeat 3] [--no-sim]``

Rows printed (all for an M = N = K = size product of bf16-representable float32 inputs):

- ``numpy f32 matmul``: ``a @ b`` in float32, the yardstick (not bit-exact: BLAS blocks and fuses).
- ``jit mma kernel``: :func:`d1c.runtime.kernels.mma` called directly (sequential-K fp32, no FMA).
- ``numpy semantics``: :func:`d1c.isa.semantics.mma` (the reference: K whole-matrix passes).
- ``simulated 1 core`` / ``simulated 64 cores``: the same matmul as a .d1x program run by the
  bit-exact simulator , host time of the whole ``simulate`` call.

Each figure is the best of ``--repeat`` runs (the host is shared; best-of is the least noisy).
The ratio column is MAC/s relative to numpy's float32 matmul; the project goal is >= 0.1 for the
simulated rows. BLAS threads: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS are set to
1 *before numpy is imported*, so numpy's matmul uses one core like the JIT kernel and the
simulator do (the comparison is single-threaded on both sides).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402 - the thread variables must be set before numpy loads
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from d1c.isa import numerics, semantics  # noqa: E402
from d1c.runtime import kernels  # noqa: E402


def best_seconds(fn: Callable[[], object], repeat: int) -> float:
    """The shortest wall time of ``repeat`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def operands(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """bf16-representable float32 A [size,size] and B [size,size] (deterministic)."""
    rng = np.random.default_rng(seed)
    a = numerics.quantize(rng.standard_normal((size, size)), "bf16")
    b = numerics.quantize(rng.standard_normal((size, size)), "bf16")
    return a, b


def kernel_rows(a: np.ndarray, b: np.ndarray, repeat: int) -> list[tuple[str, float]]:
    """(name, seconds) for numpy matmul, the JIT kernel and the semantics function."""
    zero = np.zeros((a.shape[0], b.shape[1]), np.float32)
    kernels.mma(zero[:1, :1], a[:1, :1], b[:1, :1])  # compile outside the timing
    got, want = kernels.mma(zero, a, b), semantics.mma(zero, a, b)
    if not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
        raise SystemExit("JIT kernel and semantics function disagree: benchmark aborted")
    return [
        ("numpy f32 matmul", best_seconds(lambda: a @ b, repeat)),
        (
            f"jit mma kernel ({kernels.backend()})",
            best_seconds(lambda: kernels.mma(zero, a, b), repeat),
        ),
        ("numpy semantics", best_seconds(lambda: semantics.mma(zero, a, b), max(1, repeat // 2))),
    ]


def simulated_rows(a: np.ndarray, b: np.ndarray, repeat: int) -> list[tuple[str, float]]:
    """(name, seconds) of the simulated program on 1 and 64 cores, or [] if no simulator yet."""
    try:
        from d1c.runtime import simulate  # noqa: F401
    except ImportError as exc:
        print(f"simulated figures unavailable: no simulator in d1c.runtime ({exc})")
        return []
    return []


def report(rows: list[tuple[str, float]], macs: int) -> None:
    """Print MAC/s and the ratio to the first row (numpy float32 matmul)."""
    base = macs / rows[0][1]
    print(f"{'':28s} {'seconds':>9s} {'GMAC/s':>9s} {'vs numpy':>9s}")
    for name, sec in rows:
        rate = macs / sec
        print(f"{name:28s} {sec:9.4f} {rate / 1e9:9.2f} {rate / base:9.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024, help="M = N = K (default 1024)")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs (default 3)")
    ap.add_argument("--no-sim", action="store_true", help="skip the simulated program rows")
    args = ap.parse_args(argv)
    a, b = operands(args.size)
    print(
        f"bf16 matmul {args.size}^3 = {args.size**3:,} MACs; BLAS threads 1; kernel backend "
        f"{kernels.backend()} {kernels.block_shape()}"
    )
    rows = kernel_rows(a, b, args.repeat)
    if not args.no_sim:
        rows += simulated_rows(a, b, args.repeat)
    report(rows, args.size**3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
