"""Utilization of each example against its MACs/bytes roofline on a target.

Usage: ``python benchmarks/roofline.py [--target dojo-tile] [--examples mlp,cnn]``

For each example compiled for ``--target`` and simulated (timing only, same cycles):

- ``MACs`` (the simulator's counter) and ``MAC/B``: MACs per byte the program moves between DIP
  HBM and SRAM (its DMAs);
- ``roof``: the roofline time in cycles, ``max(MACs / peak MAC rate, DMA bytes / DIP
  bandwidth)`` (peak = every core's matrix unit; DIP bandwidth = every DIP at min(HBM, link)
  rate), and which side bounds it; ``roof min``: the same with the compulsory bytes only (inputs,
  outputs and constants moved once: the bound of an ideal schedule);
- ``cycles``: simulated; ``of roof`` = roof / cycles and ``of roof min`` = roof min / cycles
  (1.0 = at the roofline); ``util`` = MACs / (peak MAC rate x cycles), the figure ``d1c report``
  prints; ``ridge`` = the MAC/B at which the target turns compute-bound.
"""

from __future__ import annotations

import argparse

from bench_common import EXAMPLES, build, each, table

from d1c.target import DEFAULT_TARGET


def measure(name: str, target: str) -> list[object]:
    from d1c.report.collect import roofline
    from d1c.runtime.sim import simulate
    from d1c.target import load_target

    tgt = load_target(target)
    b = build(name, target)
    res = simulate(b.program, tgt, None, timing_only=True)
    roof = roofline(b.program, res, tgt)
    cycles = max(res.cycles, 1)
    util = roof.macs / (roof.peak_macs_per_cycle * cycles)
    return [name, roof.macs, roof.bytes, roof.macs / max(roof.bytes, 1), roof.cycles(), roof.bound(),
            roof.cycles(roof.compulsory), res.cycles, roof.cycles() / cycles,
            roof.cycles(roof.compulsory) / cycles, f"{100 * util:.3g}%"]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    from d1c.target import load_target

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default=DEFAULT_TARGET)
    ap.add_argument("--examples", default=",".join(EXAMPLES))
    args = ap.parse_args(argv)
    t = load_target(args.target)
    per_dip = min(float(t.dip["hbm_bytes_per_s"]), float(t.dip["link_bytes_per_s"]))
    bw = int(t.dip["count"]) * per_dip / t.clock_hz
    print(f"target {t.name}: peak {t.peak_macs_per_cycle:,} MAC/cycle, DIP {bw:,.0f} B/cycle, "
          f"ridge {t.peak_macs_per_cycle / bw:,.0f} MAC/B")  # fmt: skip
    rows = [measure(name, args.target) for name in each(args.examples.split(","), "roofline")]
    head = ["example", "MACs", "DMA bytes", "MAC/B", "roof", "bound", "roof min", "cycles",
            "of roof", "of roof min", "util"]  # fmt: skip
    print(table(head, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
