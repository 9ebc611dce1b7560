"""Parallel simulation speed: one process against ``--workers N`` and Ray, measured in one run.

Usage: ``python benchmarks/sim_parallel.py [PROGRAM.d1x | MODEL.py] [--target dojo-tile]
[--workers 2] [--ray] [--timing-only] [--repeat 1]``

Without a program it compiles ``nn.Linear(1024, 1024, bias=False)`` on ``[1024, 1024]`` for the
target (a systolic grid over thousands of cores). Each row is the best host time of
:func:`d1c.runtime.sim.simulate` over ``--repeat`` runs, and its speed-up over one process; every
run's cycles, per-core counters, link bytes and outputs must equal the one-process run's or the
benchmark aborts. ``--ray`` adds a row on a local Ray with as many CPUs as workers (``pip install
-e '.[ray]'``). Goals (issue 15): ``--workers 2`` at least 1.6x faster than one process on a
2-core machine for full-tile programs, Ray within 1.5x of ``--workers``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from bench_common import best_seconds, table


def _linear(target: str):
    import torch

    import d1c

    torch.manual_seed(0)
    x = torch.randn(1024, 1024)
    prog = d1c.compile(torch.nn.Linear(1024, 1024, bias=False), (x,), target=target).program
    return prog, {s.name: x.numpy() for s in prog.symbols if s.role == "input"}


def _program(spec: str | None, target: str):
    """(D1xProgram, inputs) of the benchmark."""
    if spec is None:
        return _linear(target)
    if spec.endswith(".d1x"):
        from pathlib import Path

        from d1c.isa.d1x import read_d1x
        from d1c.report.collect import symbol_inputs

        prog = read_d1x(Path(spec).read_bytes())
        return prog, symbol_inputs(prog)
    from d1c import driver
    from d1c.codegen.emit import input_arrays

    src = driver.load_source(spec)
    inputs = src.inputs if src.inputs is not None else driver.random_inputs(src.module)
    opts = driver.Options(target, "bf16", tuple(inputs))
    placed = driver.compile_stages(src.module, "placed", opts)["placed"]
    prog = driver.build(placed, opts)
    return prog, input_arrays(placed.main, inputs, prog)


def _same(a, b) -> bool:
    outs = all(np.array_equal(np.asarray(a.outputs[k]).view(np.uint8),
                              np.asarray(b.outputs[k]).view(np.uint8)) for k in a.outputs)  # fmt: skip
    return outs and (a.cycles, a.cores, a.link_bytes) == (b.cycles, b.cores, b.link_bytes)


def main(argv: list[str] | None = None) -> int:
    from d1c.runtime.sim import simulate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("program", nargs="?", help=".d1x or MODEL.py (default: Linear 1024)")
    ap.add_argument("--target", default="dojo-tile")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ray", action="store_true", help="also time a local Ray")
    ap.add_argument("--timing-only", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    prog, inputs = _program(args.program, args.target)
    feeds = None if args.timing_only else inputs

    def run(**kw):
        return simulate(prog, None, feeds, timing_only=args.timing_only, **kw)

    runs = [("1 process", {}), (f"--workers {args.workers}", {"workers": args.workers})]
    if args.ray:
        import ray

        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        runs.append((f"Ray, {args.workers} actors", {"ray": True, "workers": args.workers}))
    rows, base, first = [], None, None
    for name, kw in runs:
        sec, res = best_seconds(lambda kw=kw: run(**kw), args.repeat)
        if first is None:
            first, base = res, sec
        elif not _same(first, res):
            raise SystemExit(f"{name}: results differ from the one-process run")
        rows.append([name, sec, base / sec])
    mode = "timing-only" if args.timing_only else "full"
    print(f"{args.program or 'Linear 1024'} on {args.target} ({mode}): {first.cycles:,} cycles, "
          f"{len(first.cores):,} cores, {first.total('instructions'):,} instructions")  # fmt: skip
    print(table(["run", "seconds", "speed-up"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
