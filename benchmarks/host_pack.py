"""Host packing throughput: JIT host code vs the numpy reference, FP32 -> BF16 and CFloat8, tiled.

Usage: ``python benchmarks/host_pack.py [--rows 10000] [--cols 10000] [--tile 128] [--repeat 3]
[--threads N] [--formats bf16,cfp8_143] [--rounding rne|sr]``

The tensor is ``rows x cols`` float32 (default 100M elements, 400 MB) of seeded normal values
scaled over a wide exponent range. Its layout is *tiled*: ``tile x tile`` boxes (smaller at the
right and bottom edges), each stored row-major at its own HBM address, tile after tile in
row-major tile order, one :class:`~d1c.isa.d1x.Placement` per tile (6,241 with the defaults),
the shape of layout a tile-per-core placement produces. Both packers write the same destination
buffer (one span per tile, a view into it):

- ``jit``: :meth:`d1c.runtime.host.HostCode.pack` — LLVM IR generated for this symbol table,
  compiled by MCJIT for the host CPU (compile time is printed separately; the object code is
  cached on disk, so a second run skips it), on ``--threads`` threads (default: all CPUs);
- ``numpy``: :func:`d1c.runtime.host.pack_reference` — ``numerics.encode`` of the whole tensor,
  then one strided numpy assignment per tile.

Rounding is RNE unless ``--rounding sr`` (stochastic, seed 1). The JIT bytes must equal the reference bytes or the run aborts. GB/s counts the
FP32 bytes read (4 per element) per second; each figure is the best of ``--repeat`` runs; the
ratio is JIT speed over numpy speed. The project goal is JIT >= 5x numpy and >= 1 GB/s.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from d1c.isa.d1x import D1xProgram, Placement, Symbol
from d1c.isa.tiles import ELEM_BYTES
from d1c.runtime.host import HostCode, pack_reference

BIAS = {"bf16": 0, "cfp8_143": 7, "cfp8_152": 15, "fp16": 15, "shp": 15}


def tiled_symbol(rows: int, cols: int, tile: int, fmt: str) -> tuple[Symbol, list[tuple[int, int]]]:
    """The symbol of a tile-major layout and each tile's (offset, bytes) in the buffer."""
    es = ELEM_BYTES[fmt]
    places, spans, off = [], [], 0
    for r0 in range(0, rows, tile):
        for c0 in range(0, cols, tile):
            h, w = min(tile, rows - r0), min(tile, cols - c0)
            places.append(Placement("hbm", None, off, ((r0, r0 + h), (c0, c0 + w)), (w * es, es)))
            spans.append((off, h * w * es))
            off += h * w * es
    layout = f"{tile}x{tile} tiles, tile-major"
    sym = Symbol("x", "input", (rows, cols), fmt, BIAS[fmt], layout, tuple(places))
    return sym, spans


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench(x: np.ndarray, fmt: str, tile: int, repeat: int, rounding: str = "rne") -> float:
    """Time both packers, check their bytes are equal, print a row; returns the speed ratio."""
    sym, where = tiled_symbol(*x.shape, tile, fmt)
    buf_jit = np.zeros(x.size * ELEM_BYTES[fmt], dtype=np.uint8)
    buf_ref = np.zeros_like(buf_jit)
    spans_jit = [buf_jit[o : o + n] for o, n in where]
    spans_ref = [buf_ref[o : o + n] for o, n in where]
    t = time.perf_counter()
    host = HostCode.of(D1xProgram("dojo-tile", symbols=(sym,)))
    compile_s = time.perf_counter() - t
    kw = {"rounding": rounding, "seed": 1}
    t_jit = best(lambda: host.pack(sym, x, spans_jit, **kw), repeat)
    t_ref = best(lambda: pack_reference(sym, x, spans_ref, **kw), repeat)
    if not np.array_equal(buf_jit, buf_ref):
        raise SystemExit(f"{fmt}: JIT bytes differ from the numpy reference")
    gb = x.nbytes / 1e9
    print(
        f"{fmt:<9} {len(where):>6} tiles  jit {gb / t_jit:7.2f} GB/s ({t_jit:6.3f} s)  "
        f"numpy {gb / t_ref:6.2f} GB/s ({t_ref:6.3f} s)  ratio {t_ref / t_jit:6.1f}x  "
        f"(JIT compile {compile_s:.2f} s)  bytes identical"
    )
    return t_ref / t_jit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--cols", type=int, default=10000)
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, help="JIT threads (default: all CPUs)")
    ap.add_argument("--formats", default="bf16,cfp8_143")
    ap.add_argument("--rounding", choices=("rne", "sr"), default="rne")
    args = ap.parse_args()
    if args.threads:
        os.environ["D1C_HOST_THREADS"] = str(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, args.cols), dtype=np.float32)
    x *= np.exp2(rng.integers(-8, 8, size=x.shape[1], dtype=np.int8)).astype(np.float32)
    threads = os.environ.get("D1C_HOST_THREADS", str(os.cpu_count()))
    print(
        f"{x.size:,} fp32 elements ({x.nbytes / 1e9:.2f} GB), {threads} JIT thread(s), "
        f"rounding {args.rounding}"
    )
    from bench_common import each  # (the tests load this file without benchmarks/ on sys.path)

    for fmt in each(args.formats.split(","), "host_pack"):
        bench(x, fmt, args.tile, args.repeat, args.rounding)


if __name__ == "__main__":
    main()
