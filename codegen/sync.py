"""Point-to-point synchronisation between kernels (execution model v2, docs/lowering.md §3).

No barrier separates kernels: every core runs its kernels in program order and waits only for
the cores whose results it reads. A dependency is a *token*, a message without data on tag
:data:`TOKEN_TAG`: core ``w`` sends one (``notify``) to core ``r`` when it finishes a kernel
``j`` whose result ``r`` reads later, and ``r`` takes it (``await``) before the kernel ``k``
that reads it starts.
Messages between two cores on one tag arrive in send order (FIFO per source, destination and
tag), and both cores meet their kernels in program order, so the n-th token ``r`` takes from
``w`` is the n-th ``w`` sent: no counter can alias two kernels.

Per channel ``w -> r`` the tokens are the distinct producer kernels ``j`` that ``r`` depends on,
in order; at kernel ``k``, ``r`` takes every token up to the latest ``j`` it needs there and has
not taken yet (a token for an earlier ``j`` that ``k`` does not need is taken too: FIFO). Every
wait at kernel ``k`` is for a token sent at the end of a kernel before ``k``, so by induction on
``k`` the program cannot deadlock.

Dependencies are exact: the bytes a core reads (its ``dma_in`` descriptors) are intersected with
the bytes every earlier kernel's cores wrote (their ``dma_out`` descriptors), in the 64-bit
address space of DIP HBM. A core that reads what it wrote itself needs no token (program order
and the kernel's final ``dma.wait`` of its stores cover it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from d1c.codegen.plan import KernelPlan
from d1c.isa.tiles import DmaDesc

TOKEN_TAG = 6  # message tag of dependency tokens (4 and 5 carry systolic operand tiles)


@dataclass
class Sync:
    """Tokens of every (core index, kernel index): whom to wait for before the kernel (one
    entry per token, in receive order) and whom to tell after it."""

    waits: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    tells: dict[tuple[int, int], list[int]] = field(default_factory=dict)

    def wait_list(self, core: int, kernel: int) -> list[int]:
        return self.waits.get((core, kernel), [])

    def tell_list(self, core: int, kernel: int) -> list[int]:
        return self.tells.get((core, kernel), [])

    def kinds(self, kernel: int) -> tuple[bool, bool]:
        """Whether any core takes tokens before ``kernel``, and whether any tells after it: a
        kernel without either has no token lists in its records and no token code."""
        return kernel in self._waiting, kernel in self._telling

    def __post_init__(self) -> None:
        self._waiting = {k for _, k in self.waits}
        self._telling = {k for _, k in self.tells}


def ranges(descs: Iterable[DmaDesc]) -> tuple[np.ndarray, np.ndarray]:
    """Byte ranges [start, end) of the HBM side of ``descs``, one per row (a descriptor whose
    rows are back to back is one range)."""
    starts, ends = [], []
    for d in descs:
        if d.rows == 0 or d.row_bytes == 0:
            continue
        if d.rows == 1 or d.hbm_stride == d.row_bytes:
            starts.append(np.array([d.hbm], dtype=np.int64))
            ends.append(np.array([d.hbm + d.rows * d.row_bytes], dtype=np.int64))
            continue
        s = d.hbm + d.hbm_stride * np.arange(d.rows, dtype=np.int64)
        starts.append(s)
        ends.append(s + d.row_bytes)
    if not starts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(starts), np.concatenate(ends)


def _core_io(plan: KernelPlan, core: int) -> tuple[list[DmaDesc], list[DmaDesc]]:
    """(descriptors a core reads HBM with, descriptors it writes HBM with) in one kernel."""
    items = plan.items.get(core, [])
    reads = [d for item in items for step in item.steps for d in step.dma_in if not d.to_hbm]
    writes = [d for item in items for d in item.dma_out if d.to_hbm]
    return reads, writes


@dataclass
class _Writes:
    """Every byte range written so far: sorted starts and ends, and who wrote each."""

    start: np.ndarray
    end: np.ndarray
    kernel: np.ndarray
    core: np.ndarray

    @staticmethod
    def of(plans: list[KernelPlan]) -> _Writes:
        parts = []
        for k, plan in enumerate(plans):
            for core in plan.items:
                s, e = ranges(_core_io(plan, core)[1])
                if len(s):
                    parts.append((s, e, np.full(len(s), k), np.full(len(s), core)))
        if not parts:
            z = np.zeros(0, dtype=np.int64)
            return _Writes(z, z, z, z)
        s, e, k, c = (np.concatenate(p) for p in zip(*parts, strict=True))
        order = np.argsort(s, kind="stable")
        return _Writes(s[order], e[order], k[order], c[order])

    def writers(self, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(kernel, core) of every written range that overlaps one of ``[start, end)``. Written
        ranges never overlap each other (each byte has one writer), so their ends are sorted
        like their starts."""
        lo = np.searchsorted(self.end, start, side="right")
        hi = np.searchsorted(self.start, end, side="left")
        n = np.maximum(hi - lo, 0)
        if not n.sum():
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        first = np.repeat(lo, n)
        idx = first + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        return self.kernel[idx], self.core[idx]


def plan_sync(plans: list[KernelPlan]) -> Sync:
    """The tokens of a program whose kernels are ``plans`` (module docstring); each plan's
    ``tokens`` says whether its kernel needs token code."""
    sync = _dependencies(plans)
    for k, plan in enumerate(plans):
        plan.tokens = sync.kinds(k)
    return sync


def _dependencies(plans: list[KernelPlan]) -> Sync:
    writes = _Writes.of(plans)
    need: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)  # (w, r) -> {k: max j}
    for k, plan in enumerate(plans):
        for core in plan.items:
            s, e = ranges(_core_io(plan, core)[0])
            if not len(s):
                continue
            kernels, cores = writes.writers(s, e)
            mask = (kernels < k) & (cores != core)
            pairs = np.unique(np.stack([cores[mask], kernels[mask]]), axis=1)
            for w, j in pairs.T.tolist():
                deps = need[(w, core)]
                deps[k] = max(deps.get(k, -1), j)
    return _schedule(need)


def _schedule(need: dict[tuple[int, int], dict[int, int]]) -> Sync:
    """Tokens per channel: ``w`` tells ``r`` after each kernel ``r`` depends on; ``r`` takes
    tokens in order until it holds the one of the latest kernel each of its kernels needs."""
    waits: dict[tuple[int, int], list[int]] = {}
    tells: dict[tuple[int, int], list[int]] = {}
    for (w, r), deps in sorted(need.items()):
        sent = sorted(set(deps.values()))
        for j in sent:
            tells.setdefault((w, j), []).append(r)
        taken = 0
        for k in sorted(deps):
            upto = sent.index(deps[k]) + 1
            if upto > taken:
                waits.setdefault((r, k), []).extend([w] * (upto - taken))
                taken = upto
    return Sync(waits, tells)
