"""What ``d1c report`` needs from the compiler, carried in the ``.d1x`` as the ``kernels`` blob.

A program's kernels run in op order; the report names each by its op and the source line of
the model that op came from, and shows its ``sram`` and ``route`` attributes and the bytes the
compile-time routes of all DMA streams put on each NoC link. All of that lives in the placed IR,
which a ``.d1x`` does not hold, so :func:`driver.build <d1c.driver.build>` stores it as one JSON
blob (:func:`kernel_blob`; the driver passes in the DMA link loads of
:func:`d1c.passes.route.link_loads`) and :mod:`d1c.report` reads it back
(:func:`read_kernel_table`): a saved program reports exactly like the model it was compiled
from, even where the model's source files are gone. The blob::

    {"kernels": [{"op": "matmul", "loc": "examples/mlp.py:23", "source": "x = ...",
                  "sram": 8192, "route": [3, 4096]}, ...],
     "dma_links": [[gx, gy, "E", bytes], ...]}
"""

from __future__ import annotations

import json
import linecache
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from d1c.ir import Module, Op
from d1c.isa.d1x import D1xProgram

BLOB = "kernels"
Link = tuple[int, int, str]


@dataclass(frozen=True, slots=True)
class KernelInfo:
    """One kernel as the report names it: its op, source position and text, and attributes."""

    op: str
    loc: str = ""
    source: str = ""
    sram: int | None = None
    route: tuple[int, int] | None = None


def kernel_ops(placed: Module) -> list[Op]:
    """The kernel ops of placed IR in program order (the ops ``emit`` makes a kernel of)."""
    from d1c.codegen import data_kernels  # noqa: F401  (registers concat, fill and gather)
    from d1c.codegen.plan import PLANNERS, kind_of, returned_values

    func = placed.main
    returned = returned_values(func)
    return [op for op in func.ops[:-1] if kind_of(op, returned) in PLANNERS]


def source_line(file: str, line: int) -> str:
    """The stripped text of ``file:line``; relative paths are also tried under ``sys.path``
    (frontend locations inside installed packages read ``torch/nn/...``). Empty if unreadable."""
    for base in ("", *sys.path):
        path = Path(base) / file
        if path.is_file():
            return linecache.getline(str(path), line).strip()
    return ""


def kernel_info(op: Op) -> KernelInfo:
    loc = op.loc
    where = f"{loc.file}:{loc.line}" if loc is not None else ""
    text = source_line(loc.file, loc.line) if loc is not None else ""
    route = op.attrs.get("route")
    return KernelInfo(op.name, where, text, op.attrs.get("sram"), tuple(route) if route else None)


def kernel_blob(placed: Module, dma_links: dict[Link, int]) -> bytes:
    """The ``kernels`` blob of a program built from ``placed`` (deterministic JSON)."""
    kernels = [_kernel_json(kernel_info(op)) for op in kernel_ops(placed)]
    links = [[gx, gy, d, n] for (gx, gy, d), n in sorted(dma_links.items())]
    return json.dumps({"kernels": kernels, "dma_links": links}, sort_keys=True).encode()


def with_kernel_table(
    program: D1xProgram, placed: Module, dma_links: dict[Link, int]
) -> D1xProgram:
    """``program`` with the ``kernels`` blob of the placed IR it was built from."""
    blobs = (*program.blobs, (BLOB, kernel_blob(placed, dma_links)))
    return replace(program, blobs=blobs)


def _kernel_json(k: KernelInfo) -> dict:
    route = list(k.route) if k.route is not None else None
    return {"op": k.op, "loc": k.loc, "source": k.source, "sram": k.sram, "route": route}


def read_kernel_table(prog: D1xProgram) -> tuple[list[KernelInfo] | None, dict[Link, int]]:
    """The kernels and DMA link loads a program carries; (None, {}) for a program without the
    blob (hand-written assembly) or with a damaged one."""
    raw = dict(prog.blobs).get(BLOB)
    try:
        data = json.loads(raw) if raw is not None else None
        kernels = [_kernel(k) for k in data["kernels"]] if data else None
        links = {(gx, gy, d): n for gx, gy, d, n in data["dma_links"]} if data else {}
    except (ValueError, KeyError, TypeError):
        return None, {}
    return kernels, links


def _kernel(k: dict) -> KernelInfo:
    route = k.get("route")
    return KernelInfo(
        str(k["op"]),
        str(k["loc"]),
        str(k["source"]),
        k.get("sram"),
        tuple(route) if route else None,
    )
