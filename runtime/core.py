"""Per-core execution of the local instructions: scalar, control, csr, tile descriptors, matrix,
vector and move rows, each applying its table row's semantics function (:mod:`d1c.isa.spec`
documents the calling convention of every exec kind).

Every handler has the signature ``handler(core, pc, op) -> next pc`` where ``op`` is the decoded
tuple built by :mod:`d1c.runtime.decode` (``op[0]`` is the handler itself, the rest are operands
resolved once per code section), and advances ``core.now`` by the instruction's cost
(:mod:`d1c.runtime.timing`). A negative return value stops the core: :data:`BLOCK` (waiting; the
instruction re-executes when woken), :data:`YIELD` (must wait for simulated time to catch up;
re-executes when scheduled) or :data:`HALT`.

Tile operations are one numpy call chain per tile (decode, semantics function, encode). In
timing-only mode (``machine.full`` false) they check descriptors (shapes, formats, bounds) and
charge time exactly as in full mode but skip the data.
"""

from __future__ import annotations

import numpy as np

from d1c.isa.errors import SimulationError
from d1c.isa.formats import Flag
from d1c.isa.tiles import TDesc, same_encoding, tile_codes, tile_values
from d1c.runtime import timing
from d1c.runtime.memory import check_tile, check_word, geom, read_codes, write_codes

BLOCK, YIELD, HALT = -1, -2, -3
_ZERO32 = np.float32(0)


def matrix_kernel():
    """The single dispatch point of the matrix unit: ``mma(acc, a, b) -> acc`` on float32 arrays.

    The llvmlite kernel of :mod:`d1c.runtime.kernels` when it imports, else the table's semantics
    function; both give the same bits (DESIGN §4, tested in tests/runtime/test_kernels.py).
    """
    global _MMA
    if _MMA is None:
        try:
            from d1c.runtime.kernels import mma
        except ImportError:
            from d1c.isa.semantics import mma
        _MMA = mma
    return _MMA


_MMA = None


# ---------------------------------------------------------------- scalar and control
def ex_alu(c, pc, op):
    _, sem, rd, a, b = op
    if rd:
        c.x[rd] = sem(c.x[a], c.x[b])
    c.now += 1
    return pc + 1


def ex_alu_imm(c, pc, op):
    _, sem, rd, a, imm = op
    if rd:
        c.x[rd] = sem(c.x[a], imm)
    c.now += 1
    return pc + 1


def ex_const(c, pc, op):
    _, sem, rd, imm = op
    if rd:
        c.x[rd] = sem(imm)
    c.now += 1
    return pc + 1


def ex_load(c, pc, op):
    _, sem, rd, a, imm = op
    addr = sem(c.x[a], imm)
    if addr & 3 or addr + 4 > c.mem.size:
        check_word(addr, c.mem.size, "ld")
    if rd:
        c.x[rd] = int(c.mem32[addr >> 2])
    c.sram_rd += 4
    c.now += 1
    return pc + 1


def ex_store(c, pc, op):
    _, sem, b, a, imm = op
    addr = sem(c.x[a], imm)
    if addr & 3 or addr + 4 > c.mem.size:
        check_word(addr, c.mem.size, "st")
    c.mem32[addr >> 2] = c.x[b]
    c.sram_wr += 4
    c.now += 1
    return pc + 1


def _limit(c) -> None:
    if c.now > c.m.limit:
        raise SimulationError(f"cycle limit {c.m.limit} exceeded (runaway loop?)")


def ex_branch(c, pc, op):
    _, sem, a, b, target, pen_taken, pen_not = op
    if sem(c.x[a], c.x[b]):
        c.now += 1 + pen_taken
        _limit(c)
        return target
    c.now += 1 + pen_not
    return pc + 1


def ex_loop(c, pc, op):
    _, sem, r, target = op
    value, taken = sem(c.x[r])
    if r:
        c.x[r] = value
    c.now += 1
    if taken:
        _limit(c)
        return target
    return pc + 1


def ex_jump(c, pc, op):
    _, rd, link, target = op
    if rd:
        c.x[rd] = link
    c.now += 1
    _limit(c)
    return target


def ex_jalr(c, pc, op):
    _, sem, rd, a, imm, penalty, n = op
    link, dest = sem(4 * pc, c.x[a], imm)
    if rd:
        c.x[rd] = link
    if not 0 <= dest < 4 * n:
        raise SimulationError(f"jalr target {dest:#x} is outside the code section ({4 * n} bytes)")
    c.now += 1 + penalty
    _limit(c)
    return dest >> 2


def ex_nop(c, pc, op):
    c.now += 1
    return pc + 1


def ex_halt(c, pc, op):
    c.now += 1
    c.halted = True
    return HALT


def ex_fault(c, pc, op):
    raise SimulationError(op[1])


def ex_csr_read(c, pc, op):
    _, rd, name = op
    if name == "flags":
        value = int(c.flags.bits)
    elif name == "srseed":
        value = c.srseed
    else:
        value = c.sregs[name]
    if rd:
        c.x[rd] = value
    c.now += 1
    return pc + 1


def ex_csr_write(c, pc, op):
    _, name, a = op
    if name == "flags":
        c.flags.bits = Flag(c.x[a] & 0xF)
    else:
        c.srseed = c.x[a]
    c.now += 1
    return pc + 1


# ---------------------------------------------------------------- tile descriptors
def ex_tdesc(c, pc, op):
    _, sem, td, srcs = op
    x = c.x
    d = c.t[td] = sem(c.t[td], *[x[v] if reg else v for reg, v in srcs])
    c.tg[td] = geom(d)
    c.now += 1
    return pc + 1


def ex_tld(c, pc, op):
    _, sem, td, a, imm = op
    addr = (c.x[a] + imm) & 0xFFFFFFFF
    check_word(addr, c.mem.size, "tld", 16)
    d = c.t[td] = sem(c.t[td], c.mem32[addr >> 2 : (addr >> 2) + 4])
    c.tg[td] = geom(d)
    c.sram_rd += 16
    c.now += 1
    return pc + 1


# ---------------------------------------------------------------- tile data helpers
def values(c, d: TDesc) -> np.ndarray:
    """The float32 values of tile ``d`` in ``c``'s SRAM (raises Denormal on denormal inputs)."""
    return tile_values(read_codes(c.mem, d), d, denorm=c.m.denorm, flags=c.flags)


def store(c, d: TDesc, vals: np.ndarray, rounding: str = "rne") -> None:
    """Round float32 ``vals`` into tile ``d`` (stochastic rounding seeded by ``srseed``)."""
    codes = tile_codes(vals, d, rounding=rounding, seed=c.srseed, denorm=c.m.denorm, flags=c.flags)
    write_codes(c.mem, d, codes)


def check(c, i: int, what: str):
    """The geometry of tile register ``i`` after the bounds and alignment checks."""
    g = c.tg[i]
    if g.end > c.mem.size or not g.aligned:
        check_tile(c.t[i], c.mem.size, what)
    return g


def _broadcast(shapes: list[tuple[int, ...]]) -> tuple[int, ...] | None:
    """numpy's broadcast of 2-D/0-D shapes, or None if they do not broadcast."""
    out = [1, 1]
    for s in shapes:
        if not s:
            continue
        for i in (0, 1):
            if s[i] != 1:
                if out[i] not in (1, s[i]):
                    return None
                out[i] = s[i]
    return tuple(out)


def _shape_fault(name: str, want: tuple, got: object) -> SimulationError:
    return SimulationError(f"{name}: destination tile is {want[0]}x{want[1]}, operands give {got}")


def _cost(c, key: tuple, fn, *args) -> int:
    """``fn(costs, *args)``, memoised per machine under ``key`` (shapes repeat a lot)."""
    cache = c.m.cost_cache
    cycles = cache.get(key)
    if cycles is None:
        cycles = cache[key] = fn(c.m.costs, *args)
    return cycles


# ---------------------------------------------------------------- matrix
def ex_mma(c, pc, op):
    _, name, td, ta, tb, acc = op
    tg = c.tg
    gd, ga, gb = tg[td], tg[ta], tg[tb]
    m, k, n = ga.rows, ga.cols, gb.cols
    if gb.rows != k or gd.rows != m or gd.cols != n:
        raise SimulationError(f"{name}: shapes {gd.rows}x{gd.cols} = {m}x{k} @ {gb.rows}x{n}")
    if c.t[td].fmt != "fp32":
        raise SimulationError(
            f"{name}: format mismatch, the destination must be fp32 (is {c.t[td].fmt})"
        )
    check(c, td, "destination"), check(c, ta, "A"), check(c, tb, "B")
    rd = ga.nbytes + gb.nbytes + (gd.nbytes if acc else 0)
    start = c.now
    c.now += _cost(c, ("mma", m, n, k, rd), timing.matrix_cycles, m, n, k, rd, gd.nbytes)
    c.macs += m * n * k
    c.sram_rd += rd
    c.sram_wr += gd.nbytes
    if c.m.full and m and n:
        d = c.t[td]
        init = values(c, d) if acc else np.zeros((m, n), dtype=np.float32)
        store(c, d, matrix_kernel()(init, values(c, c.t[ta]), values(c, c.t[tb])))
    if c.m.trace is not None:
        c.m.event("mma", c, start, c.now - start, m=m, n=n, k=k)
    return pc + 1


# ---------------------------------------------------------------- vector
def ex_ew(c, pc, op):
    _, name, sem, td, srcs, kw, rnd, passes = op
    tg = c.tg
    gd = tg[td]
    want = (gd.rows, gd.cols)
    tiles = [v for is_tile, v in srcs if is_tile]
    if name != "vfill":
        shape = _broadcast([(tg[v].rows, tg[v].cols) if is_tile else () for is_tile, v in srcs])
        if shape != want:
            raise _shape_fault(name, want, shape or [(tg[v].rows, tg[v].cols) for v in tiles])
    check(c, td, "destination")
    rd, elems = 0, gd.rows * gd.cols
    for v in tiles:
        g = check(c, v, "source")
        rd += g.nbytes
        elems = max(elems, g.rows * g.cols)
    _vector_time(c, name, elems, rd, gd.nbytes, passes)
    if c.m.full and elems:
        t, x = c.t, c.x
        args = [values(c, t[v]) if is_tile else _f32(x[v]) for is_tile, v in srcs]
        if name == "vfill":
            args += [gd.rows, gd.cols]
        store(c, t[td], sem(*args, **kw), rnd)
    return pc + 1


def _f32(bits: int) -> np.ndarray:
    return np.array(bits, dtype=np.uint32).view(np.float32)


def _vector_time(c, name: str, elems: int, rd: int, wr: int, passes: int) -> None:
    start = c.now
    c.now += _cost(c, ("vec", elems, rd, wr, passes), timing.vector_cycles, elems, rd, wr, passes)
    c.vops += elems
    c.sram_rd += rd
    c.sram_wr += wr
    if c.m.trace is not None:
        c.m.event(name, c, start, c.now - start, elements=elems)


def ex_reduce(c, pc, op):
    _, name, sem, td, ta, redop, axis, acc, rnd = op
    gd, ga = c.tg[td], c.tg[ta]
    want = (1, ga.cols) if axis == "rows" else (ga.rows, 1)
    if (gd.rows, gd.cols) != want:
        raise _shape_fault(name, (gd.rows, gd.cols), want)
    check(c, td, "destination"), check(c, ta, "source")
    rd = ga.nbytes + (gd.nbytes if acc else 0)
    _vector_time(c, name, ga.rows * ga.cols, rd, gd.nbytes, 1)
    if c.m.full and gd.rows * gd.cols:
        d = c.t[td]
        init = values(c, d) if acc else None
        store(c, d, sem(values(c, c.t[ta]), redop, axis, init), rnd)
    return pc + 1


# ---------------------------------------------------------------- moves (raw codes)
def _move_shape(name: str, d: TDesc, a: TDesc, extra) -> tuple[int, int] | None:
    if name == "tcopy":
        return a.shape
    if name == "ttrans":
        return (a.cols, a.rows)
    if name == "tbcast":
        ok = (
            a.rows == 1 and a.cols == d.cols
            if extra == "rows"
            else a.cols == 1 and a.rows == d.rows
        )
        return d.shape if ok else a.shape
    return None


def ex_move(c, pc, op):
    _, name, sem, td, ta, axis = op
    d, a = c.t[td], c.t[ta]
    if not same_encoding(a, d):
        raise SimulationError(
            f"{name}: format/bias mismatch: source {a.fmt} bias {a.bias}, destination {d.fmt} bias {d.bias}"
        )
    want = _move_shape(name, d, a, axis)
    if want != d.shape:
        raise _shape_fault(name, d.shape, want)
    ga, gd = check(c, ta, "source"), check(c, td, "destination")
    _move_time(c, name, ga.nbytes, gd.nbytes)
    if c.m.full and gd.nbytes:
        codes = read_codes(c.mem, a)
        out = sem(codes) if axis is None else sem(codes, axis, d.rows, d.cols)
        write_codes(c.mem, d, out)
    return pc + 1


def _move_time(c, name: str, rd: int, wr: int) -> None:
    start = c.now
    c.now += _cost(c, ("move", rd, wr), timing.sram_cycles, rd, wr)
    c.sram_rd += rd
    c.sram_wr += wr
    if c.m.trace is not None:
        c.m.event(name, c, start, c.now - start, bytes=wr)


def ex_gather(c, pc, op):
    _, name, sem, td, ta, ti, axis = op
    d, a, i = c.t[td], c.t[ta], c.t[ti]
    if not same_encoding(a, d) or i.fmt != "i32":
        raise SimulationError(
            f"{name}: format/bias mismatch: source {a.fmt}/{a.bias}, destination {d.fmt}/{d.bias}, indices {i.fmt} (must be i32)"
        )
    n = i.rows * i.cols
    want = (n, a.cols) if axis == "rows" else (a.rows, n)
    if d.shape != want:
        raise _shape_fault(name, d.shape, want)
    gd, ga, gi = check(c, td, "destination"), check(c, ta, "source"), check(c, ti, "index")
    _move_time(c, name, ga.nbytes + gi.nbytes, gd.nbytes)
    if c.m.full and gd.nbytes:
        idx = read_codes(c.mem, i).reshape(-1)
        extent = a.rows if axis == "rows" else a.cols
        bad = (idx < 0) | (idx >= extent)
        if bad.any():
            j = int(np.argmax(bad))
            raise SimulationError(
                f"{name}: index {int(idx[j])} at position {j} is outside 0..{extent - 1}"
            )
        write_codes(c.mem, d, sem(read_codes(c.mem, a), idx, axis))
    return pc + 1
