"""``allocate-sram``: lay out every core's SRAM and prove at compile time that it fits.

The layout and the proof are :mod:`d1c.codegen.sram` (``emit`` lays SRAM out with the same
functions, so the proof is about the program that runs). The pass records on every kernel op
``sram`` = the bytes of that kernel's buffers on each core, and raises a CompileError naming the
worst core, the buffers live at its peak and a hint when a core does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from d1c.codegen.program import plan_kernels, program_coords
from d1c.codegen.sram import core_srams, layout_of, prove_fit
from d1c.ir import Module
from d1c.passes.pass_manager import Context, register_pass


@register_pass
@dataclass(frozen=True)
class AllocateSram:
    name: ClassVar[str] = "allocate-sram"

    def apply(self, module: Module, ctx: Context) -> Module:
        target = ctx.target
        for func in module.functions:
            plans = plan_kernels(func, target)
            lay = layout_of(plans, target)
            prove_fit(plans, lay, core_srams(plans, program_coords(func, target)), func)
            for plan in plans:
                plan.op.attrs["sram"] = plan.buffer_bytes
        return module
