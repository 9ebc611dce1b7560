"""Simulated cycles of large workloads against their roofline lower bound (timing-only).

Usage: ``python benchmarks/utilization.py [--target dojo-tile] [--workloads gemm,transformer,resnet]
[--scale S]``

For each workload: compile for ``--target`` (BF16), simulate timing-only, and print

- ``compile s``: host seconds from graph IR to ``.d1x`` (goal: under 60 s on a 2-core machine);
- ``bound``: the roofline lower bound in cycles with inputs, weights and outputs starting and
  ending in DIP HBM: ``max(MACs / (256 x usable cores), compulsory bytes / aggregate DIP
  bandwidth)``. MACs are counted here from the workload's shapes (not by the simulator);
  compulsory bytes are the BF16 inputs, weights and outputs, each crossing once; the DIP
  bandwidth is ``count x min(HBM, link)`` of the target (docs/targets.md:
  5 DIPs x 800 GB/s on a training tile);
- ``cycles``: simulated; ``x bound`` = cycles / bound (1.0 = at the bound; goal: GEMM 1.3,
  transformer and ResNet 2.0).

Workloads (``--scale`` divides the sizes, for a quick look):

- ``gemm``: BF16 ``8192 x 8192 x 8192`` (``A @ B``, both operands inputs);
- ``linear``: the same GEMM as users write it, ``nn.Linear(8192, 8192, bias=False)`` on
  ``[8192, 8192]`` (the weight is a constant, read transposed);
- ``transformer``: ``nn.TransformerEncoderLayer(d_model=1024, nhead=16, dim_feedforward=4096,
  batch_first=True)`` on ``[8, 2048, 1024]``;
- ``resnet``: six ResNet-50 bottleneck blocks of stage 3 (1024 -> 256 -> 256 -> 1024 channels,
  3x3 middle convolution, batch norm folded, identity shortcuts) on ``[32, 1024, 14, 14]``.
  (ResNet-50's first stage-3 block also downsamples 512 -> 1024 channels from 28x28; the six
  blocks here all keep 14x14, as the workload is specified.)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench_common import each, table

from d1c.target import DEFAULT_TARGET


@dataclass
class Workload:
    name: str
    build: Callable[[int], tuple[object, int, int]]  # scale -> (graph module, MACs, bytes)


def gemm(scale: int) -> tuple[object, int, int]:
    from d1c.ir import parse_module

    n = 8192 // scale
    t = f"tensor<{n}x{n}xfp32>"
    text = (
        f"module @gemm {{\n  func @main(%a: {t}, %b: {t}) -> ({t}) {{\n"
        f"    %0 = matmul %a, %b : {t}\n    return %0\n  }}\n}}\n"
    )
    return parse_module(text), n**3, 3 * n * n * 2


def linear(scale: int) -> tuple[object, int, int]:
    import torch

    n = 8192 // scale
    torch.manual_seed(0)
    layer = torch.nn.Linear(n, n, bias=False)
    return _export(layer, (torch.randn(n, n),), "linear"), n**3, 3 * n * n * 2


def _export(model, inputs: tuple, name: str) -> object:
    from d1c.frontend import export_model

    return export_model(model, inputs, name=name)


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def transformer(scale: int) -> tuple[object, int, int]:
    import torch

    d, h, ff, b, s = 1024 // scale, 16, 4096 // scale, 8, 2048 // scale
    h = max(1, min(h, d // 8))
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(d, h, ff, dropout=0.0, batch_first=True)
    x = torch.randn(b, s, d)
    macs = b * s * (4 * d * d + 2 * d * ff) + 2 * b * s * s * d  # projections, FFN, QK^T and PV
    moved = 2 * (2 * x.numel() + _params(layer))
    return _export(layer, (x,), "encoder_layer"), macs, moved


def resnet(scale: int) -> tuple[object, int, int]:
    import torch
    from torch import nn

    c, mid, hw, b = 1024 // scale, 256 // scale, 14, 32 // scale

    class Bottleneck(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(c, mid, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(mid)
            self.conv2 = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(mid)
            self.conv3 = nn.Conv2d(mid, c, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(c)

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = torch.relu(self.bn2(self.conv2(y)))
            return torch.relu(self.bn3(self.conv3(y)) + x)

    torch.manual_seed(0)
    stack = nn.Sequential(*[Bottleneck() for _ in range(6)])
    x = torch.randn(b, c, hw, hw)
    per_block = b * hw * hw * (c * mid + 9 * mid * mid + mid * c)
    convs = sum(m.weight.numel() for m in stack.modules() if isinstance(m, nn.Conv2d))
    moved = 2 * (2 * x.numel() + convs)  # batch norms fold into the convolutions
    return _export(stack, (x,), "resnet_stage3"), 6 * per_block, moved


WORKLOADS = {w.name: w for w in (Workload("gemm", gemm), Workload("linear", linear),
                                 Workload("transformer", transformer),
                                 Workload("resnet", resnet))}  # fmt: skip


def measure(w: Workload, target: str, scale: int) -> list[object]:
    from d1c import driver
    from d1c.runtime.sim import simulate
    from d1c.target import load_target

    tgt = load_target(target)
    graph, macs, moved = w.build(scale)
    t0 = time.perf_counter()
    opts = driver.Options(target, "bf16", ())
    placed = driver.compile_stages(graph, "placed", opts)["placed"]
    prog = driver.build(placed, opts)
    seconds = time.perf_counter() - t0
    res = simulate(prog, tgt, None, timing_only=True)
    dip = tgt.dip
    dip_bw = int(dip["count"]) * min(dip["hbm_bytes_per_s"], dip["link_bytes_per_s"])
    bound = max(macs / tgt.peak_macs_per_cycle, moved / (dip_bw / tgt.clock_hz))
    side = "MACs" if macs / tgt.peak_macs_per_cycle >= moved / (dip_bw / tgt.clock_hz) else "DIP"
    util = macs / (tgt.peak_macs_per_cycle * res.cycles)
    return [w.name, macs, moved, seconds, f"{bound:,.0f} ({side})", res.cycles,
            res.cycles / bound, f"{100 * util:.3g}%"]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default=DEFAULT_TARGET)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--scale", type=int, default=1, help="divide the workload sizes by this")
    args = ap.parse_args(argv)
    rows = []
    for name in each(args.workloads.split(","), "utilization"):
        if name not in WORKLOADS:
            ap.error(f"unknown workload {name!r} (known: {', '.join(WORKLOADS)})")
        rows.append(measure(WORKLOADS[name], args.target, args.scale))
    head = ["workload", "MACs", "bytes", "compile s", "bound cycles", "cycles", "x bound", "util"]
    print(f"utilization on {args.target} (timing-only simulation, BF16, scale 1/{args.scale})")
    print(table(head, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
