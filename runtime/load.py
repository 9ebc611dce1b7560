"""Loading a ``.d1x`` program into the machine state of one region.

Every region checks the whole program (so a bad core range or image fails the same way whatever
the partition) and records which cores run code (:attr:`Machine.running`), but it decodes code
and creates core state, SRAM images and parameter rows only for the cores of its own chips.
HBM images are stored in every region: a region only ever reads or writes the HBM bytes its own
DIPs serve (:mod:`d1c.runtime.dma`). The barrier controller sits at the running core with the
lowest global number (:mod:`d1c.runtime.comm`).
"""

from __future__ import annotations

import itertools

import numpy as np

from d1c.isa import d1x
from d1c.isa.d1x import D1xProgram
from d1c.isa.errors import SimulationError
from d1c.isa.semantics import pack_coord
from d1c.runtime.decode import decode_section
from d1c.runtime.machine import CoreState, Machine
from d1c.target.mesh import Coord, fmt_coord


def load(m: Machine, prog: D1xProgram) -> None:
    """Code sections, parameter rows, SRAM and HBM images of ``prog`` into ``m``."""
    _load_code(m, prog)
    _load_params(m, prog)
    for img in prog.sram:
        for r in img.cores:
            for k in _coords(m, r, "SRAM image"):
                if img.addr + len(img.data) > m.target.sram_bytes:
                    raise SimulationError(
                        f"SRAM image at {img.addr:#x} ({len(img.data)} bytes) does not fit SRAM"
                    )
                if _here(m, k):
                    c = m.core(k)
                    c.mem[img.addr : img.addr + len(img.data)] = np.frombuffer(img.data, np.uint8)
                    c.fix(img.addr, img.addr + len(img.data))
    for img in prog.hbm:
        m.hbm.check(img.addr, len(img.data), "HBM image")
        m.hbm.write(img.addr, np.frombuffer(img.data, np.uint8))


def _here(m: Machine, k: Coord) -> bool:
    return m.local(m.chip_of(m.mesh.pos(k)))


def _coords(m: Machine, r: d1x.CoreRange, what: str):
    if not (m.mesh.exists(r.hi) and all(a <= b for a, b in zip(r.lo, r.hi, strict=True))):
        raise SimulationError(f"{what}: core range {r} does not fit target {m.target.name!r}")
    spans = [range(a, b + 1) for a, b in zip(r.lo, r.hi, strict=True)]
    return (k for k in itertools.product(*spans) if m.mesh.enabled(k))


def _load_code(m: Machine, prog: D1xProgram) -> None:
    for sec in prog.code:
        decoded = None
        for r in sec.cores:
            for k in _coords(m, r, f"code section {sec.name!r}"):
                gid = m.mesh.gid(k)
                if gid in m.running:
                    continue  # the first section naming a core is its code
                m.running.add(gid)
                if not _here(m, k):
                    continue
                if decoded is None:
                    decoded = decode_section(sec.code, sec.name, m.costs)
                c = m.core(k)
                c.code, c.section = decoded[0], (sec, decoded[1])
                c.sregs = _sregs(m, c, prog.param_addr)
    if m.running:
        m.root = m.mesh.pos(m.mesh.coord_of_gid(min(m.running)))


def _load_params(m: Machine, prog: D1xProgram) -> None:
    n, addr = prog.param_words, prog.param_addr
    if not (prog.params or n):
        return
    if addr & 3 or addr + 4 * n > m.target.sram_bytes:
        raise SimulationError(f"parameter table at {addr:#x} ({n} words) does not fit SRAM")
    for row in prog.params:
        if not m.mesh.enabled(tuple(row.core)):
            raise SimulationError(
                f"parameter row for {fmt_coord(row.core)}, which is not a usable core"
            )
        if not _here(m, tuple(row.core)):
            continue
        words = np.zeros(n, dtype="<u4")
        words[: min(n, len(row.words))] = row.words[:n]
        c = m.core(tuple(row.core))
        c.mem32[addr >> 2 : (addr >> 2) + n] = words
        c.fix(addr, addr + 4 * n)


def _sregs(m: Machine, c: CoreState, param_addr: int) -> dict[str, int]:
    cx, cy, x, y = c.coord
    me = m.mesh
    return {
        "chip_x": cx, "chip_y": cy, "core_x": x, "core_y": y, "core_id": y * me.grid_w + x,
        "coord": pack_coord(cx, cy, x, y), "param": param_addr, "grid_w": me.grid_w,
        "grid_h": me.grid_h, "chips_w": me.chips_w, "chips_h": me.chips_h, "gid": c.gid,
    }  # fmt: skip
