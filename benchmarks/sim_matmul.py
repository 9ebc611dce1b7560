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


PARAM_ADDR = 0x100000  # per-core parameter rows (3 words) live at 1 MiB in every core's SRAM


def li32(reg: str, value: int) -> list[str]:
    """Assembly putting the 32-bit ``value`` into ``reg`` (li, or lui + addi)."""
    if -(1 << 19) <= value < (1 << 19):
        return [f"    li {reg}, {value}"]
    lines = [f"    lui {reg}, 0x{value >> 12:x}"]
    return lines + ([f"    addi {reg}, {reg}, {value & 0xFFF}"] if value & 0xFFF else [])


def _tile(t: str, addr: int, rows: int, cols: int, fmt: str) -> list[str]:
    return [
        *li32("x10", addr),
        f"    tbase {t}, x10, 0",
        f"    tshapei {t}, {rows}, {cols}",
        f"    tfmt {t}, {fmt}, 0",
    ]


def _core_body(size: int, rect: int, t: int, kc: int) -> list[str]:
    """One core's code: its [rect, rect] part of C in [t, t] blocks, K in chunks of kc.

    Per-core parameters (x2, x3, x4): HBM byte addresses of its first A row, first B column and
    first C element. A chunk [t, kc] and B chunk [kc, t] come in by DMA (tag 0), one mma per
    chunk (zero, then acc: the fp32 accumulator carries K order exactly), C goes out (tag 1).
    """
    lines = ["    csrr x1, param", "    ld x2, x1, 0", "    ld x3, x1, 4", "    ld x4, x1, 8"]
    lines += li32("x5", size * 2) + li32("x6", size * 4)
    lines += _tile("t0", 0, t, kc, "bf16") + _tile("t1", t * kc * 2, kc, t, "bf16")
    lines += _tile("t2", 2 * t * kc * 2, t, t, "fp32")
    for i0 in range(0, rect, t):
        for j0 in range(0, rect, t):
            for k0 in range(0, size, kc):
                lines += [*li32("x7", (i0 * size + k0) * 2), "    add x7, x7, x2"]
                lines += [*li32("x8", (k0 * size + j0) * 2), "    add x8, x8, x3"]
                lines += ["    dma.ld t0, x7, x0, x5, 0", "    dma.ld t1, x8, x0, x5, 0"]
                mode = "zero" if k0 == 0 else "acc"
                lines += ["    dma.wait 0", f"    mma t2, t0, t1, {mode}"]
            lines += [*li32("x9", (i0 * size + j0) * 4), "    add x9, x9, x4"]
            lines += ["    dma.st t2, x9, x0, x6, 1", "    dma.wait 1"]
    return [*lines, "    halt"]


def matmul_program(size: int, grid: int, t: int = 256, kc: int = 256) -> str:
    """Assembly of C[size,size] fp32 = A @ B (bf16) on grid x grid cores of chip 0.0.

    Core (x, y) owns the C rectangle rows y*R.., columns x*R.. with R = size / grid. HBM: A at 0,
    B after it, C after B, all dense row-major (symbols a, b, c).
    """
    rect = size // grid
    t = min(t, rect)
    b_at, c_at = size * size * 2, size * size * 4
    cores = "0.0.0.0" if grid == 1 else f"0.0.0-{grid - 1}.0-{grid - 1}"
    lines = [f"; {size}^3 bf16 matmul on {grid * grid} core(s)", '.target "dojo-tile"']
    lines += [f".params 0x{PARAM_ADDR:x}, 3", f".code matmul, {cores}"]
    lines += _core_body(size, rect, t, kc)
    for x in range(grid):
        for y in range(grid):
            r0, c0 = y * rect, x * rect
            words = (r0 * size * 2, b_at + c0 * 2, c_at + (r0 * size + c0) * 4)
            lines.append(f".param 0.0.{x}.{y}, " + ", ".join(map(str, words)))
    for name, role, fmt, at, esize in (
        ("a", "input", "bf16", 0, 2),
        ("b", "input", "bf16", b_at, 2),
        ("c", "output", "fp32", c_at, 4),
    ):
        lines.append(f'.symbol {name}, {role}, {fmt}, 0, [{size}, {size}], "row-major"')
        lines.append(f".place hbm, 0x{at:x}, [0:{size}, 0:{size}], [{size * esize}, {esize}]")
    return "\n".join(lines) + "\n"


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
