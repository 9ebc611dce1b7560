"""Bit-exact BF16 matmul throughput on this host (MAC/s), next to numpy float32 matmul.

Usage: ``python benchmarks/sim_matmul.py [--size 1024] [--repeat 3] [--no-sim] [--b-row-major]
[--workers 2]``

Headline (printed first): ``d1c.compile(nn.Linear(size, size, bias=False), (x,))`` for
``dojo-tile`` with ``x`` ``[size, size]``, then ``prog.run(x)`` — the compiled program (a
systolic grid of thousands of cores) simulated bit-accurately, host time of the whole call — next
to numpy's float32 ``x @ w.T``; the output must equal the numerics contract computed here (bf16
operands, fp32 products accumulated in order of K by :func:`d1c.isa.semantics.mma`, the result
rounded to bf16) or the run aborts. With ``--workers N`` the same run in N processes
(:mod:`d1c.runtime.parallel`) is timed too. The project goal for the headline is >= 0.3.

Rows printed after it (all for an M = N = K = size product of bf16-representable float32 inputs):

- ``numpy f32 matmul``: ``a @ b`` in float32, the yardstick (not bit-exact: BLAS blocks and fuses).
- ``jit mma kernel``: :func:`d1c.runtime.native_mma.mma` called directly (sequential-K fp32, no FMA).
- ``numpy semantics``: :func:`d1c.isa.semantics.mma` (the reference: K whole-matrix passes).
- ``simulated 1 core(s)`` / ``simulated 64 core(s)``: the same matmul as a .d1x program
  (:class:`Plan`, assembled with :mod:`d1c.isa.asm`) run by :func:`d1c.runtime.simulate` on
  ``dojo-tile``: host time of the whole call (loading and encoding the inputs, every instruction,
  DMA and the timing model). Its output must equal the semantics function's bits or the run
  aborts; the simulated cycles and the MAC counter are printed too. Without a simulator these
  rows are reported as unavailable.

Each figure is the best of ``--repeat`` runs (the host is shared; best-of is the least noisy).
The ratio column is MAC/s relative to numpy's float32 matmul; the project goal is >= 0.1 for the
simulated rows. BLAS threads: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS are set to
1 *before numpy is imported*, so numpy's matmul uses one core like the JIT kernel and the
simulator do (the comparison is single-threaded on both sides). Importing this file (the tests
do) leaves the environment alone.
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # as a script only: importing it (tests) leaves the environment alone
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"

# numpy (and BLAS) must load after the thread variables above are set.
import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from d1c.isa import numerics, semantics
from d1c.isa.asm import assemble
from d1c.runtime import native_mma


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


def kernel_rows(
    a: np.ndarray, b: np.ndarray, want: np.ndarray, repeat: int
) -> list[tuple[str, float]]:
    """(name, seconds) for numpy matmul, the JIT kernel and the semantics function."""
    zero = np.zeros((a.shape[0], b.shape[1]), np.float32)
    native_mma.mma(zero[:1, :1], a[:1, :1], b[:1, :1])  # compile outside the timing
    got = native_mma.mma(zero, a, b)
    if not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
        raise SystemExit("JIT kernel and semantics function disagree: benchmark aborted")
    return [
        ("numpy f32 matmul", best_seconds(lambda: a @ b, repeat)),
        (
            f"jit mma kernel ({native_mma.backend()})",
            best_seconds(lambda: native_mma.mma(zero, a, b), repeat),
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


@dataclass(frozen=True, slots=True)
class Plan:
    """The simulated matmul: C[size,size] fp32 = A @ B (bf16) on grid x grid cores of chip 0.0.

    Core (x, y) owns the C rectangle of ``rect = size / grid`` rows from y*rect and columns from
    x*rect, computed in [tile, tile] blocks with K in chunks of ``kc``. HBM: A row-major at 0,
    B after it, C (row-major) after B. B is row-major, or with ``b_panels`` stored as dense
    [size, tile] column panels (the layout a compiler picks so every B chunk is one contiguous
    DMA; the simulator moves a strided HBM box row by row).
    """

    size: int
    grid: int
    t: int = 256
    kc: int = 256
    b_panels: bool = True

    @property
    def rect(self) -> int:
        return self.size // self.grid

    @property
    def tile(self) -> int:
        return min(self.t, self.rect)

    def a_addr(self, i: int, k: int) -> int:
        return (i * self.size + k) * 2

    def b_addr(self, k: int, j: int) -> int:
        at, s, w = self.size * self.size * 2, self.size, self.tile
        if not self.b_panels:
            return at + (k * s + j) * 2
        return at + (j // w) * s * w * 2 + (k * w + j % w) * 2

    def c_addr(self, i: int, j: int) -> int:
        return self.size * self.size * 4 + (i * self.size + j) * 4

    @property
    def b_stride(self) -> int:
        return self.tile * 2 if self.b_panels else self.size * 2


def _chunk(p: Plan, i0: int, j0: int, k0: int) -> list[str]:
    """DMA A[i0:, k0:] [tile, kc] and B[k0:, j0:] [kc, tile] (tag 0), then one mma."""
    lines = [*li32("x7", p.a_addr(i0, k0)), "    add x7, x7, x2"]
    lines += [*li32("x8", p.b_addr(k0, j0) - p.b_addr(0, 0)), "    add x8, x8, x3"]
    lines += ["    dma.ld t0, x7, x0, x5, 0", "    dma.ld t1, x8, x0, x11, 0", "    dma.wait 0"]
    return [*lines, f"    mma t2, t0, t1, {'zero' if k0 == 0 else 'acc'}"]


def _core_body(p: Plan) -> list[str]:
    """One core's code. Per-core parameters (x2, x3, x4): HBM byte addresses of its first A row,
    first B column and first C element. mma zero, then acc: the fp32 accumulator carries the K
    order exactly. Each C block goes out by DMA (tag 1)."""
    t, kc = p.tile, p.kc
    lines = ["    csrr x1, param", "    ld x2, x1, 0", "    ld x3, x1, 4", "    ld x4, x1, 8"]
    lines += li32("x5", p.size * 2) + li32("x6", p.size * 4) + li32("x11", p.b_stride)
    lines += _tile("t0", 0, t, kc, "bf16") + _tile("t1", t * kc * 2, kc, t, "bf16")
    lines += _tile("t2", 2 * t * kc * 2, t, t, "fp32")
    for i0 in range(0, p.rect, t):
        for j0 in range(0, p.rect, t):
            for k0 in range(0, p.size, kc):
                lines += _chunk(p, i0, j0, k0)
            lines += [*li32("x9", p.c_addr(i0, j0) - p.c_addr(0, 0)), "    add x9, x9, x4"]
            lines += ["    dma.st t2, x9, x0, x6, 1", "    dma.wait 1"]
    return [*lines, "    halt"]


def _symbols(p: Plan) -> list[str]:
    n, w = p.size, p.tile
    lines = [f'.symbol a, input, bf16, 0, [{n}, {n}], "row-major"']
    lines += [f".place hbm, 0x{p.a_addr(0, 0):x}, [0:{n}, 0:{n}], [{n * 2}, 2]"]
    lines += [f'.symbol b, input, bf16, 0, [{n}, {n}], "row-major"']
    panels = range(0, n, w) if p.b_panels else [0]
    width = w if p.b_panels else n
    for j in panels:
        box = f"[0:{n}, {j}:{j + width}]"
        lines += [f".place hbm, 0x{p.b_addr(0, j):x}, {box}, [{p.b_stride}, 2]"]
    lines += [f'.symbol c, output, fp32, 0, [{n}, {n}], "row-major"']
    return [*lines, f".place hbm, 0x{p.c_addr(0, 0):x}, [0:{n}, 0:{n}], [{n * 4}, 4]"]


def matmul_program(p: Plan) -> str:
    """The assembly text of plan ``p`` (one SPMD code section, one parameter row per core)."""
    g = p.grid
    cores = "0.0.0.0" if g == 1 else f"0.0.0-{g - 1}.0-{g - 1}"
    lines = [f"; {p.size}^3 bf16 matmul on {g * g} core(s)", '.target "dojo-tile"']
    lines += [f".params 0x{PARAM_ADDR:x}, 3", f".code matmul, {cores}", *_core_body(p)]
    for x in range(g):
        for y in range(g):
            r0, c0 = y * p.rect, x * p.rect
            words = (p.a_addr(r0, 0), p.b_addr(0, c0), p.c_addr(r0, c0))
            lines.append(f".param 0.0.{x}.{y}, " + ", ".join(map(str, words)))
    return "\n".join(lines + _symbols(p)) + "\n"


def simulated_rows(
    a: np.ndarray, b: np.ndarray, want: np.ndarray, repeat: int, b_panels: bool
) -> list[tuple[str, float]]:
    """(name, seconds) of the simulated program on 1 and 64 cores, or [] if no simulator yet.

    Each run's output ``c`` must equal ``want`` (the semantics function's bits), and the rows
    also print the simulated time at the target clock and the MAC counter.
    """
    try:
        from d1c.runtime import simulate
    except (ImportError, AttributeError) as exc:
        print(f"simulated figures unavailable: no simulator in d1c.runtime ({exc})")
        return []
    rows = []
    for grid in (1, 8):
        program = assemble(matmul_program(Plan(a.shape[0], grid, b_panels=b_panels)))
        res = simulate(program, "dojo-tile", {"a": a, "b": b})
        got = res.outputs["c"]
        if not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
            raise SystemExit(f"simulated output on {grid * grid} core(s) is not bit-exact")
        sec = best_seconds(lambda p=program: simulate(p, "dojo-tile", {"a": a, "b": b}), repeat)
        print(
            f"simulated {grid * grid:2d} core(s): {res.cycles:,} cycles = "
            f"{res.seconds * 1e3:.3f} ms at the target clock, {res.total('macs'):,} MACs"
        )
        rows.append((f"simulated {grid * grid} core(s)", sec))
    return rows


def headline_rows(size: int, repeat: int, workers: int) -> list[tuple[str, float]]:
    """(name, seconds) of numpy float32 ``x @ w.T`` and of ``prog.run(x)`` for the compiled
    ``nn.Linear(size, size, bias=False)`` on dojo-tile (in ``workers`` processes too if > 1)."""
    import torch

    import d1c

    torch.manual_seed(0)
    model = torch.nn.Linear(size, size, bias=False)
    x = torch.randn(size, size)
    prog = d1c.compile(model, (x,), target="dojo-tile")
    xs, w = x.numpy(), model.weight.detach().numpy()
    acc = semantics.mma(np.zeros((size, size), np.float32), *(numerics.quantize(v, "bf16") for v in (xs, w.T)))  # fmt: skip
    want = numerics.quantize(acc, "bf16")
    rows = [("numpy f32 x @ w.T", best_seconds(lambda: xs @ w.T, repeat))]
    for n in sorted({1, workers}):
        got = prog.run(x, workers=n).numpy()
        if not np.array_equal(got.view(np.uint32), np.asarray(want, np.float32).view(np.uint32)):
            raise SystemExit(f"Linear {size}: prog.run with {n} worker(s) is not bit-exact")
        sec = best_seconds(lambda n=n: prog.run(x, workers=n), repeat)
        rows.append((f"prog.run, {n} worker(s)", sec))
    res = prog._last
    print(f"Linear {size}x{size} on dojo-tile: {res.cycles:,} cycles on {len(res.cores):,} cores, "
          f"{res.total('instructions'):,} instructions")  # fmt: skip
    return rows


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
    ap.add_argument(
        "--b-row-major", action="store_true", help="B row-major in HBM (default: column panels)"
    )
    ap.add_argument("--workers", type=int, default=1, help="also time the headline in N processes")
    ap.add_argument("--no-headline", action="store_true", help="skip the compiled Linear")
    args = ap.parse_args(argv)
    if not args.no_headline:
        print("headline: the compiled nn.Linear, simulated, against numpy")
        report(headline_rows(args.size, args.repeat, args.workers), args.size**3)
        print()
    a, b = operands(args.size)
    print(
        f"bf16 matmul {args.size}^3 = {args.size**3:,} MACs; BLAS threads 1; kernel backend "
        f"{native_mma.backend()} {native_mma.block_shape()}"
    )
    want = semantics.mma(np.zeros((args.size, args.size), np.float32), a, b)
    rows = kernel_rows(a, b, want, args.repeat)
    if not args.no_sim:
        rows += simulated_rows(a, b, want, args.repeat, not args.b_row_major)
    report(rows, args.size**3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
