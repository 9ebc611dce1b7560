"""The launch sequence of a program, as the host performs it (and as the simulator models it).

1. load every code section onto its cores and each core's parameter row at ``param_addr``;
2. write the SRAM images and the weight images into DIP HBM;
3. pack every input (host code ``d1c_pack_*``) and DMA its spans to their DIP HBM (or SRAM)
   addresses;
4. start every core of every code section at pc 0 and wait until all have halted;
5. DMA every output's spans back and unpack them (``d1c_unpack_*``).

:func:`launch_lines` describes these steps for one program; the text heads the host module's
LLVM IR (``d1c compile --emit host-ir``) so the listing says what the functions are for.
"""

from __future__ import annotations

from collections import defaultdict

from d1c.isa.d1x import D1xProgram, Placement
from d1c.isa.tiles import DIP_SHIFT, STRIPED
from d1c.runtime.host.codegen import pack_name, roundings, unpack_name
from d1c.runtime.host.layout import SymbolLayout


def _where(p: Placement, lo: int) -> str:
    if p.space == "sram":
        return f"SRAM of core {'.'.join(map(str, p.core or ()))} @{p.addr + lo:#x}"
    addr = p.addr + lo
    return f"HBM {_window(addr)} @{addr & ((1 << DIP_SHIFT) - 1):#x}"


def _window(addr: int) -> str:
    d = addr >> DIP_SHIFT
    return "striped over the DIPs" if d == STRIPED else f"DIP {d}"


def _transfers(lay: SymbolLayout, arrow: str) -> list[str]:
    out = []
    for p, win in zip(lay.sym.placements, lay.windows, strict=True):
        if win is not None:
            out.append(f";     {arrow} {_where(p, win[0])}: {win[1] - win[0]:,} bytes")
    return out[:8] + ([f";     ... {len(out) - 8} more spans"] if len(out) > 8 else [])


def _symbol_lines(lay: SymbolLayout) -> list[str]:
    s = lay.sym
    head = f"{s.name}: {s.fmt}{list(s.shape)}" + (
        f" bias {s.bias}" if s.fmt.startswith(("cfp8", "shp")) else ""
    )
    if s.role == "input":
        fns = ", ".join(
            pack_name(lay.index, k, r) for k in range(len(lay.nests)) for r in roundings(lay)
        )
        return [f";   pack {head} with {fns or '(no elements)'}", *_transfers(lay, "host ->")]
    fns = ", ".join(unpack_name(lay.index, k) for k in range(len(lay.nests)))
    return [f";   unpack {head} with {fns or '(no elements)'}", *_transfers(lay, "host <-")]


def _hbm_summary(prog: D1xProgram) -> list[str]:
    per_dip: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for img in prog.hbm:
        per_dip[img.addr >> DIP_SHIFT][0] += 1
        per_dip[img.addr >> DIP_SHIFT][1] += len(img.data)
    return [
        f";   {_window(d << DIP_SHIFT)}: {n} image(s), {b:,} bytes"
        for d, (n, b) in sorted(per_dip.items())
    ]


def launch_lines(prog: D1xProgram, layouts: list[SymbolLayout]) -> list[str]:
    """The launch sequence of ``prog`` as LLVM IR comment lines."""
    lines = [f"; launch sequence (target {prog.target})", "; 1. code sections:"]
    for sec in prog.code:
        cores = ", ".join(str(r) for r in sec.cores[:6]) + (" ..." if len(sec.cores) > 6 else "")
        lines.append(f";   {sec.name}: {len(sec.code) // 4:,} words on {cores}")
    lines.append(
        f";   parameter rows: {len(prog.params):,} cores x {prog.param_words} words at SRAM {prog.param_addr:#x}"
    )
    sram = sum(len(m.data) for m in prog.sram)
    lines.append(f"; 2. SRAM images: {len(prog.sram):,} ({sram:,} bytes); weight images in HBM:")
    lines += _hbm_summary(prog) or [";   (none)"]
    lines.append("; 3. inputs:")
    lines += [ln for lay in layouts if lay.sym.role == "input" for ln in _symbol_lines(lay)]
    lines.append("; 4. start every core of every code section at pc 0; wait for all to halt")
    lines.append("; 5. outputs:")
    lines += [ln for lay in layouts if lay.sym.role == "output" for ln in _symbol_lines(lay)]
    return lines
