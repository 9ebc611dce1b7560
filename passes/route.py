"""``route``: the NoC routes of every DMA stream and the bytes each link carries.

A kernel's cores stream operand tiles into SRAM and result tiles out (docs/lowering.md §3), from
and to DIP HBM or the SRAM of the cores that keep a resident tensor (:mod:`d1c.codegen.memory`).
An HBM stream enters the mesh where its DIP attaches (:func:`d1c.target.mesh.dip_attach`), a
stream from another core's SRAM at that core; it runs along the route of
:func:`d1c.target.mesh.route_path` — dimension order XY, else YX, else the cheapest detour around
disabled cores, the simulator's rule. A copy inside one core's SRAM uses no link. A stream's bytes
are the sum of the DMA descriptors of the kernel plan with its tensors at their homes
(:mod:`d1c.codegen.homes`), so the estimate counts every byte the program moves.

The pass records on every kernel op ``route = (max_hops, busiest_link_bytes)`` (printed
``route = {hops = H, busiest = B}``): the longest route of any of its streams in hops, and the
bytes of its most loaded link. :func:`link_loads` gives the
bytes per link of a whole program, keyed ``(gx, gy, dir)`` by the sending end like the
simulator's ``SimResult.link_bytes``, which moves every DMA stream over these same routes
(:mod:`d1c.runtime.dma`) and so counts the same bytes, plus the messages between cores.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from d1c.codegen.homes import homed_program
from d1c.codegen.plan import KernelPlan
from d1c.ir import Module, Op
from d1c.isa.tiles import SRAM_FLAG, dip_shares, split_sram
from d1c.passes.pass_manager import Context, register_pass
from d1c.target import Target
from d1c.target import mesh as G
from d1c.target.mesh import Coord

StreamKey = tuple[int, int, bool]  # (core index, DIP or -1 - gid of a far core, towards far)


def kernel_streams(
    plan: KernelPlan, dips: int, gids: list[int] | None = None
) -> dict[StreamKey, int]:
    """Bytes of every (core, far end, direction) stream of a kernel, from its DMA descriptors: the
    far end is a DIP (a descriptor in the striped window feeds one stream per DIP serving its
    stripes) or another core's SRAM (``-1 - gid``; copies inside the core's own SRAM are left
    out)."""
    out: dict[StreamKey, int] = defaultdict(int)
    for core, items in plan.items.items():
        for item in items:
            descs = itertools.chain(*(s.dma_in for s in item.steps), item.dma_out)
            for d in descs:
                nbytes = d.rows * d.row_bytes
                if d.hbm & SRAM_FLAG:
                    gid = split_sram(d.hbm)[0]
                    if gids is None or gid != gids[core]:
                        out[(core, -1 - gid, bool(d.to_hbm))] += nbytes
                    continue
                span = (d.rows - 1) * d.hbm_stride + d.row_bytes
                for dip, part in dip_shares(d.hbm, nbytes, span, dips):
                    out[(core, dip, bool(d.to_hbm))] += part
    return dict(out)


@dataclass(frozen=True)
class KernelRoute:
    """The routes of one kernel: bytes per link id, its longest route and busiest link."""

    op: Op
    loads: dict[int, int]
    max_hops: int

    @property
    def busiest(self) -> int:
        return max(self.loads.values(), default=0)


class Router:
    """Routes of one program on one target (attach points and core positions computed once)."""

    def __init__(self, target: Target, coords: list[Coord]) -> None:
        self.g = G.Mesh.of(target)
        self.pos = [self.g.pos(c) for c in coords]
        self.gids = [self.g.gid(c) for c in coords]
        self.attach = [G.dip_attach(target, d) for d in range(int(target.dip["count"]))]

    def links(self, key: StreamKey) -> tuple[int, ...]:
        core, far, to_far = key
        a = self.attach[far] if far >= 0 else self.g.pos(self.g.coord_of_gid(-1 - far))
        c = self.pos[core]
        return G.route_links(self.g, c, a) if to_far else G.route_links(self.g, a, c)

    def route(self, plan: KernelPlan) -> KernelRoute:
        streams = kernel_streams(plan, len(self.attach), self.gids)
        paths = [self.links(k) for k in streams]
        return KernelRoute(plan.op, _sum_loads(paths, list(streams.values())), _longest(paths))


def _longest(paths: list[tuple[int, ...]]) -> int:
    return max((len(p) for p in paths), default=0)


def _sum_loads(paths: list[tuple[int, ...]], nbytes: list[int]) -> dict[int, int]:
    """Bytes per link id: every stream's bytes on every link of its path (numpy, exact)."""
    lengths = np.fromiter((len(p) for p in paths), dtype=np.int64, count=len(paths))
    if not lengths.sum():
        return {}
    ids = np.fromiter(itertools.chain.from_iterable(paths), dtype=np.int64)
    weights = np.repeat(np.asarray(nbytes, dtype=np.int64), lengths)
    order = np.argsort(ids, kind="stable")
    uniq, start = np.unique(ids[order], return_index=True)
    sums = np.add.reduceat(weights[order], start)
    return dict(zip(uniq.tolist(), sums.tolist(), strict=True))


def kernel_routes(module: Module, target: Target) -> list[KernelRoute]:
    """The routes of every kernel of the module's main function, in program order."""
    func = module.main
    homed = homed_program(func, target)
    router = Router(target, homed.coords)
    return [router.route(plan) for plan in homed.plans]


def link_loads(module: Module, target: Target) -> dict[G.Link, int]:
    """Bytes each NoC link carries over the whole program, keyed ``(gx, gy, dir)``, sorted."""
    g = G.Mesh.of(target)
    total: dict[int, int] = defaultdict(int)
    for kr in kernel_routes(module, target):
        for link, nbytes in kr.loads.items():
            total[link] += nbytes
    return {G.link_name(g, link): total[link] for link in sorted(total)}


@register_pass
@dataclass(frozen=True)
class Route:
    name: ClassVar[str] = "route"

    def apply(self, module: Module, ctx: Context) -> Module:
        target = ctx.target
        for func in module.functions:
            homed = homed_program(func, target)
            router = Router(target, homed.coords)
            for plan in homed.plans:
                kr = router.route(plan)
                plan.op.attrs["route"] = (kr.max_hops, kr.busiest)
        return module
