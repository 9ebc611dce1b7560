"""Simulator throughput per example against numpy executing the same model.

Usage: ``python benchmarks/sim_throughput.py [--target mini] [--repeat 3] [--examples mlp,cnn]``

For each example model, compiled once for ``--target``, the host seconds of one inference by:

- ``torch``: torch eager (float32, its own threads) — for context;
- ``numpy``: the d1c IR interpreter (:func:`d1c.interp.interpret`, numpy float32) on the graph
  IR: numpy doing the model's arithmetic op by op — the yardstick;
- ``numpy bit-exact``: the interpreter on the placed IR (bf16 storage, tile order, the numerics
  of docs/design.md §4 — the same bits the simulator must produce);
- ``sim``: :func:`d1c.runtime.sim.simulate` of the ``.d1x`` (every instruction, DMA, the timing
  model; outputs checked bit-equal to ``numpy bit-exact`` or the run aborts);
- ``sim timing``: the same with ``timing_only`` (no data computed, same cycles).

Ratios are against ``numpy``; ``MAC/s`` is simulated MACs per host second of ``sim``. Best of
``--repeat`` runs each.
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_common import EXAMPLES, best_seconds, build, each, table


def _inputs(b) -> list[np.ndarray]:
    return [t.detach().numpy() for t in b.inputs]


def measure(name: str, target: str, repeat: int) -> dict[str, float]:
    """Seconds of each way of running one inference of ``examples/<name>.py``, and the MACs."""
    import torch

    from d1c.interp import interpret
    from d1c.runtime.sim import simulate

    b = build(name, target)
    xs = _inputs(b)
    with torch.no_grad():
        t_torch, _ = best_seconds(lambda: b.model(*b.inputs), repeat)
    t_np, _ = best_seconds(lambda: interpret(b.graph, xs), repeat)
    t_exact, want = best_seconds(lambda: interpret(b.placed, xs), repeat)
    t_sim, res = best_seconds(lambda: simulate(b.program, target, b.arrays), repeat)
    _check(name, want, res)
    t_timing, _ = best_seconds(lambda: simulate(b.program, target, None, timing_only=True), repeat)
    return {"torch": t_torch, "numpy": t_np, "numpy bit-exact": t_exact, "sim": t_sim,
            "sim timing": t_timing, "macs": res.total("macs")}  # fmt: skip


def _check(name: str, want: list[np.ndarray], res) -> None:
    for i, w in enumerate(want):
        got = res.outputs[f"out{i}"]
        ref = np.asarray(w, dtype=np.float32)
        if not np.array_equal(got.view(np.uint32), ref.view(np.uint32)):
            raise SystemExit(f"{name}: simulated out{i} is not bit-equal to the placed IR")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="mini")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--examples", default=",".join(EXAMPLES))
    args = ap.parse_args(argv)
    rows = []
    for name in each(args.examples.split(","), "sim_throughput"):
        m = measure(name, args.target, args.repeat)
        base = m["numpy"]
        rows.append([name, m["torch"], base, m["numpy bit-exact"], m["sim"], m["sim timing"],
                     m["numpy bit-exact"] / base, m["sim"] / base, m["sim timing"] / base,
                     m["macs"] / m["sim"] / 1e6])  # fmt: skip
    print(f"one inference, host seconds (best of {args.repeat}), target {args.target}")
    head = ["example", "torch", "numpy", "numpy bit-exact", "sim", "sim timing",
            "bit-exact/numpy", "sim/numpy", "timing/numpy", "sim MMAC/s"]  # fmt: skip
    print(table(head, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
