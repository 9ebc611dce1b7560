"""Generate ``docs/targets.md`` from the shipped target files; a test fails when it is stale.

Regenerate with ``python -m d1c.target.docs > docs/targets.md``.
"""

from __future__ import annotations

from d1c.target import list_targets, load_target

HEADER = """\
# Targets

A target is a TOML file describing the machine (shipped in `d1c/targets/`; pass a path to use
your own). This page is generated from those files by `python -m d1c.target.docs`.

The figures come from Tesla's public Dojo disclosures, collected with their sources in the
project's fact sheet (`shared/reference/dojo-facts.md`): Hot Chips 34 (the microarchitecture talk
[HC34-U] and the system talk [HC34-S]), AI Day 2021/2022 press coverage, and Tesla's CFloat
whitepaper [WP]. Every figure the sources do not give is an assumption marked `[A]` in the target
file and kept as a named field, never a literal in code:

| assumption | value in `dojo-tile` | why |
|---|---|---|
| core grid per D1 | 18 x 20 sites, 6 disabled | 354 usable cores are public; the grid and harvest mask are not |
| SRAM per core | 1.25 MiB (1,310,720 B) | "1.25 MB" is public; MB vs MiB is not |
| matrix unit | 8 x 8 x 4 MACs per cycle | 362 TFLOPS / 354 cores / 2 GHz = 512 FLOP/cycle; the shape reading is inferred |
| NoC hop latency | 2 cycles (link + router) | not public |
| die-to-die latency | 100 ns | not public |
| DMA descriptor setup | 16 cycles | not public |
| instruction cache | 32 KiB, 5-cycle mispredict | not public |

## Shipped targets
"""


def _row(name: str) -> str:
    t = load_target(name)
    cx, cy = t.chips
    gx, gy = t.chip_grid
    tflops = t.peak_flops / 1e12
    return (
        f"| `{t.name}` | {cx}x{cy} | {gx}x{gy} (-{len(t.disabled)}) | {t.num_cores:,} | "
        f"{t.sram_bytes / 2**20:g} MiB | {t.num_cores * t.sram_bytes / 1e9:,.2f} GB | {tflops:,.1f} | "
        f"{int(t.dip['count'])} | {t.description} |"
    )


def render() -> str:
    head = "| target | chips | cores per chip (grid - disabled) | cores | SRAM/core | SRAM total | BF16 TFLOPS | DIPs | description |"
    rows = [head, "|---|---|---|---|---|---|---|---|---|", *(_row(n) for n in list_targets())]
    return HEADER + "\n" + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(render(), end="")
