"""Compile time per example against ``torch.export`` alone.

Usage: ``python benchmarks/compile_time.py [--target dojo-tile] [--repeat 2] [--examples mlp,cnn]``

For each example model (``examples/*.py``), in one process:

- ``export``: ``torch.export.export(model, inputs, strict=False).run_decompositions()`` alone —
  the yardstick, and the first thing d1c does;
- ``import``: the d1c frontend's conversion of that exported program into graph IR;
- ``graph``, ``quantized``, ``tiled``, ``placed``: the pass pipelines of each stage
  (:data:`d1c.passes.pipelines.STAGES`); ``asm``: instruction selection and emission of the ``.d1x``;
- ``total`` (export included) and ``x export`` = total / export.

A warm-up export of a tiny model runs first, so torch's one-time initialisation is not charged
to the first example. Each figure is the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import time
import warnings

from bench_common import EXAMPLES, each, example_path, table

from d1c.passes import pipelines
from d1c.target import DEFAULT_TARGET

STAGES = ("export", "import", "graph", "quantized", "tiled", "placed", "asm")


def export_alone(model, inputs):
    """What d1c's frontend runs first (its warnings silenced as the frontend does)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(model.eval(), tuple(inputs), strict=False)
        return ep.run_decompositions()


def warm_up() -> None:
    import torch

    export_alone(torch.nn.Linear(4, 4), (torch.zeros(2, 4),))


def stage_times(name: str, target: str) -> dict[str, float]:
    """Seconds of each stage of one compile of ``examples/<name>.py``."""
    from d1c import driver
    from d1c.frontend import load_model
    from d1c.frontend.importer import import_program

    path = example_path(name)
    model, inputs = load_model(path)
    out: dict[str, float] = {}
    t = time.perf_counter()
    ep = export_alone(model, inputs)
    out["export"] = time.perf_counter() - t
    t = time.perf_counter()
    module = import_program(ep, name=name)
    out["import"] = time.perf_counter() - t
    opts = driver.Options(target, "bf16", tuple(x.detach().numpy() for x in inputs))
    for stage in pipelines.STAGES:
        t = time.perf_counter()
        module = driver.run_passes(module, driver.pipeline_for(stage, opts), driver.DebugOptions(), opts=opts)  # fmt: skip
        out[stage] = time.perf_counter() - t
    t = time.perf_counter()
    driver.build(module, opts)
    out["asm"] = time.perf_counter() - t
    return out


def best_stage_times(name: str, target: str, repeat: int) -> dict[str, float]:
    runs = [stage_times(name, target) for _ in range(max(repeat, 1))]
    return {k: min(r[k] for r in runs) for k in STAGES}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default=DEFAULT_TARGET)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--examples", default=",".join(EXAMPLES))
    args = ap.parse_args(argv)
    warm_up()
    rows = []
    for name in each(args.examples.split(","), "compile_time"):
        t = best_stage_times(name, args.target, args.repeat)
        total = sum(t.values())
        rows.append([name, *(t[s] for s in STAGES), total, total / t["export"]])
    print(f"compile time (seconds, best of {args.repeat}) for target {args.target}")
    print(table(["example", *STAGES, "total", "x export"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
