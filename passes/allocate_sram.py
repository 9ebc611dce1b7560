"""``allocate-sram``: decide where every intermediate tensor lives, lay out every core's SRAM
and prove at compile time that it fits.

The homes (SRAM of the cores that computed a tensor's tiles, or DIP HBM when there is no room)
are :mod:`d1c.codegen.memory`, the layout and the proof :mod:`d1c.codegen.sram`, both through
:func:`d1c.codegen.homes.homed_program`, which ``emit`` builds the program from: the proof is
about the program that runs. The pass records on every kernel op ``sram`` = the bytes of that
kernel's buffers on each core, and on every op whose result is an intermediate tensor its
``home`` (``"sram"`` or ``"hbm"``); it raises a CompileError naming the worst core, the buffers
live at its peak and a hint when a core does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from d1c.codegen.homes import homed_program
from d1c.codegen.memory import Memory, is_logical
from d1c.codegen.sram import prove_fit
from d1c.ir import Function, Module
from d1c.passes.pass_manager import Context, register_pass


@register_pass
@dataclass(frozen=True)
class AllocateSram:
    name: ClassVar[str] = "allocate-sram"

    def apply(self, module: Module, ctx: Context) -> Module:
        target = ctx.target
        for func in module.functions:
            homed = homed_program(func, target)
            prove_fit(homed.plans, homed.layout, homed.cores, func)
            for plan in homed.plans:
                plan.op.attrs["sram"] = plan.buffer_bytes
            mark_homes(func, homed.memory)
        return module


def mark_homes(func: Function, memory: Memory) -> None:
    """``home = "sram" | "hbm"`` on every op whose result is an intermediate tensor."""
    for op in func.ops:
        addr = op.attrs.get("hbm")
        if addr is not None and is_logical(addr):
            t = memory.tensor_of(addr)
            op.attrs["home"] = "sram" if t in memory.resident else "hbm"
