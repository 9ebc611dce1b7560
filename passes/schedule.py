"""``schedule``: double-buffer the kernels whose doubled buffers fit, so DMA overlaps compute.

A kernel with ``buffers = 2`` has two sets of SRAM buffers (:func:`d1c.codegen.plan.
buffer_sets`): while a core computes step j of its work from one set, the DMA of step j+1 fills
the other, and the store of tile i drains from one result set while tile i+1 is computed into
the other (the code: :mod:`d1c.codegen.isel_pipelined`). Bits never change: every tile is computed
by the same instructions from the same data; only when DMA happens moves.

Which kernels: the kinds whose plans and code support two sets (``ew``, ``matmul``, ``reduce``,
``concat``; not ``fill``, whose pad loads land in the result tile, nor ``gather``, which keeps a
weight chunk across tiles), that have something to overlap (some core runs two or more steps),
and whose doubled buffers fit *every* core they run on: doubling a kernel moves a core's static
image (work records and DMA lists, whose size does not depend on the buffer count) up by the
extra buffer bytes, so the kernel is doubled iff on each of its cores
``align(doubled buffers) + static image <= parameter row`` (the layout of
:mod:`d1c.passes.allocate_sram`, which then proves the final layout). A systolic kernel (``grid``)
also keeps room for the A and B tiles that may arrive before their ``recv`` (the simulator counts
received-but-not-taken messages against SRAM, :mod:`d1c.runtime.comm`; credits bound them to
:data:`d1c.codegen.isel.CREDITS` steps). Runs after ``place`` and
before ``allocate-sram``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from d1c.codegen.plan import KernelPlan, kind_of, returned_values
from d1c.codegen.program import plan_kernels, program_coords
from d1c.codegen.sram import align, core_srams, early_message_bytes, layout_of
from d1c.ir import Function, Module, Op
from d1c.passes.pass_manager import Context, register_pass
from d1c.target import Target

DOUBLED = ("ew", "matmul", "reduce", "concat")


def _overlaps(plan: KernelPlan) -> bool:
    """Whether some core runs two or more steps of the kernel (else there is nothing to overlap)."""
    return any(sum(len(it.steps) for it in items) > 1 for items in plan.items.values())


def schedule_function(func: Function, target: Target) -> list[Op]:
    """Set ``buffers = 2`` on the kernels of ``func`` that gain and fit; returns them."""
    returned = returned_values(func)
    for op in func.ops[:-1]:
        op.attrs.pop("buffers", None)
        if kind_of(op, returned) in DOUBLED:
            op.attrs["buffers"] = 2
    plans = plan_kernels(func, target)
    lay = layout_of(plans, target)
    static = [c.image.top - c.image.base for c in core_srams(plans, program_coords(func, target))]
    doubled = []
    for plan in plans:
        if plan.buffers != 2:
            continue
        worst = max((static[i] for i, items in plan.items.items() if items), default=0)
        need = align(plan.buffer_bytes) + early_message_bytes(plan.op) + worst
        if _overlaps(plan) and need <= lay.param_addr:
            doubled.append(plan.op)
        else:
            del plan.op.attrs["buffers"]
    return doubled


@register_pass
@dataclass(frozen=True)
class Schedule:
    name: ClassVar[str] = "schedule"

    def apply(self, module: Module, ctx: Context) -> Module:
        target = ctx.target
        for func in module.functions:
            schedule_function(func, target)
        return module
