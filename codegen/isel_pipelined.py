"""Code of double-buffered kernels (``buffers = 2``, chosen by ``schedule``): DMA overlaps compute.

A core's work is a sequence of steps (K chunks, column chunks, or one step per tile) over its
work items. The plan (:func:`d1c.codegen.plan.buffer_sets`) puts step j's operands in buffer
set ``j % 2`` and item i's result (and fused epilogue results) in set ``i % 2``. The code keeps
the record layout of single-buffered kernels and only reorders the DMA:

- before the loop, the first step's loads are issued under tag 0;
- each step waits for its own loads (tag ``p = j % 2``), then issues the *next* step's loads (the
  following step record, or the first step of the next record; none after the core's last step)
  under tag ``1 - p`` and computes, so step j+1 streams in while step j computes. Issuing the next
  loads only after the current ones arrived keeps a core from queueing its later steps at a
  shared DIP (served in issue order) ahead of other cores' first steps, which made DIP-bound
  kernels slower (transformer on dojo-tile: a 48-core matmul 6,714 -> 8,337 cycles that way,
  6,660 this way);
- the result of item i is stored under tag ``2 + i % 2`` and not waited for: item i+2 waits for
  it just before its first compute writes into the same result set, so the store of tile i
  overlaps the compute of tile i+1; the kernel waits for both store tags before it tells its readers.

Tags are immediates, so the loop body exists twice (items of even and odd index), and in each
the steps are unrolled by parity: the first step, pairs of middle steps in a hardware loop, an
odd middle step, and the last step. Every buffer is written only after the DMA that last read it
completed and read only after the DMA that filled it completed (the DMA contract of
:mod:`d1c.runtime.dma`), which tests check by deferring every DMA's data to its ``dma.wait``.

Registers as in :mod:`d1c.codegen.isel`, plus x9 = the record of the step whose loads are issued.
"""

from __future__ import annotations

from d1c.codegen.isel import (
    SIMM,
    epilogue_code,
    kernel_end,
    kernel_head,
    load_const,
    record_bytes,
    step_bytes,
    step_tiles,
)
from d1c.codegen.plan import KernelPlan


def code_pipelined(k: int, plan: KernelPlan, first: list[str], rest: list[str]) -> list[str]:
    """Kernel ``k``: ``first`` computes an item's first step into t0, ``rest`` the others."""
    steps = _steps_per_item(plan)
    prime = ["ld x3, x1, 32", "ld x4, x1, 36", "dma.list x3, x4, 0"]
    head = kernel_head(k, plan)
    body = [
        *_item(k, plan, 0, 0, first, rest),
        "addi x2, x2, -1",
        f"beq x2, x0, k{k}_drain",
        *_item(k, plan, 1, steps % 2, first, rest),
        f"loop x2, k{k}_loop",
        f"k{k}_drain:",
        "dma.wait 2",
        "dma.wait 3",
        *kernel_end(k, plan),
    ]
    head[0] += " (double-buffered)"
    return [*head[:-1], *prime, head[-1], *body]


def _steps_per_item(plan: KernelPlan) -> int:
    counts = {len(it.steps) for items in plan.items.values() for it in items}
    if len(counts) != 1 or 0 in counts:
        raise ValueError(f"a double-buffered kernel needs one step count per tile, not {counts}")
    return counts.pop()


def _item(k: int, plan: KernelPlan, q: int, p0: int, first: list[str], rest: list[str]):
    """One work item whose result goes to set ``q`` and whose first step loads into set ``p0``."""
    n, sb = _steps_per_item(plan), step_bytes(plan)
    lines = ["tld t0, x1, 16", "addi x6, x1, 32", *_step(k, plan, q, p0, first, True, n == 1)]
    pairs, odd = divmod(max(n - 2, 0), 2)
    if pairs:
        lines += [f"li x7, {pairs}", f"k{k}_{q}_pair:"]
        lines += [*_add("x6", "x6", sb), *_step(k, plan, q, 1 - p0, rest)]
        lines += [*_add("x6", "x6", sb), *_step(k, plan, q, p0, rest), f"loop x7, k{k}_{q}_pair"]
    if odd:
        lines += [*_add("x6", "x6", sb), *_step(k, plan, q, 1 - p0, rest)]
    if n > 1:
        lines += [*_add("x6", "x6", sb), *_step(k, plan, q, p0 ^ ((n - 1) & 1), rest, last=True)]
    lines += epilogue_code(plan)
    lines += ["ld x3, x1, 0", "ld x4, x1, 4", f"dma.list x3, x4, {2 + q}"]
    return [*lines, *_add("x1", "x1", record_bytes(plan))]


def _step(k, plan, q: int, p: int, compute: list[str], first: bool = False, last: bool = False):
    """Wait for this step's loads (set ``p``), issue the next step's, load this step's tiles; an
    item's first step then waits for the store that last read result set ``q``; compute."""
    lines = [f"dma.wait {p}", *_prefetch(k, plan, q, p, last), *step_tiles(plan, "x6")]
    if first:
        lines.append(f"dma.wait {2 + q}")
    return [*lines, *compute]


def _prefetch(k: int, plan: KernelPlan, q: int, p: int, last: bool) -> list[str]:
    """Issue the loads of the step after this one into set ``1 - p`` (x9 = its record)."""
    issue = ["ld x3, x9, 0", "ld x4, x9, 4", f"dma.list x3, x4, {1 - p}"]
    if not last:
        return [*_add("x9", "x6", step_bytes(plan)), *issue]
    skip = f"k{k}_{q}_last"
    return [
        "addi x9, x2, -1",
        f"beq x9, x0, {skip}",  # the core's last item: no step follows
        *_add("x9", "x1", record_bytes(plan) + 32),
        *issue,
        f"{skip}:",
    ]


def _add(dst: str, src: str, n: int) -> list[str]:
    """``dst = src + n`` (through x8 when n does not fit an immediate)."""
    if SIMM[0] <= n <= SIMM[1]:
        return [f"addi {dst}, {src}, {n}"]
    return [*load_const("x8", n & 0xFFFFFFFF), f"add {dst}, {src}, x8"]
