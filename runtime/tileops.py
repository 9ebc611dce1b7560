"""Tile instructions: matrix (mma), vector elementwise and reductions, and moves, each applying
its table row's semantics function with one numpy call chain per tile (decode the operands with
:func:`d1c.isa.tiles.tile_values`, apply ``Row.sem``, round into the destination with
:func:`d1c.isa.tiles.tile_codes`; moves work on raw codes). Handlers follow the convention of
:mod:`d1c.runtime.core`.

Checks before any data moves (so timing-only mode faults the same way): destination shape from
the operand shapes (numpy broadcasting for vector ops), matrix destination fp32, equal format and
CFloat bias for moves, bounds and element alignment of every tile. Gather index range is checked
in full mode only (it depends on data).

The matrix unit is called through :func:`matrix_kernel`, the one dispatch point for the
bit-exact ``mma`` kernel.
"""

from __future__ import annotations

import numpy as np

from d1c.isa.errors import SimulationError
from d1c.isa.tiles import TDesc, same_encoding, tile_codes, tile_values
from d1c.runtime import timing
from d1c.runtime.memory import check_tile, read_codes, write_codes


def matrix_kernel():
    """The single dispatch point of the matrix unit: ``mma(acc, a, b) -> acc`` on float32 arrays.

    The llvmlite kernel of :mod:`d1c.runtime.native_mma` when it imports, else the table's semantics
    function; both give the same bits (docs/design.md §4, tested in tests/runtime/test_native_mma.py).
    """
    global _MMA
    if _MMA is None:
        try:
            from d1c.runtime.native_mma import mma
        except ImportError:
            from d1c.isa.semantics import mma
        _MMA = mma
    return _MMA


_MMA = None


# ---------------------------------------------------------------- tile data helpers
def values(c, d: TDesc) -> np.ndarray:
    """The float32 values of tile ``d`` in ``c``'s SRAM (raises Denormal on denormal inputs)."""
    return tile_values(read_codes(c.mem, d), d, denorm=c.m.denorm, flags=c.flags)


def store(c, d: TDesc, vals: np.ndarray, rounding: str = "rne") -> None:
    """Round float32 ``vals`` into tile ``d`` (stochastic rounding seeded by ``srseed``)."""
    codes = tile_codes(vals, d, rounding=rounding, seed=c.srseed, denorm=c.m.denorm, flags=c.flags)
    write_codes(c.mem, d, codes)


def check(c, i: int, what: str):
    """The geometry of tile register ``i`` after the bounds and alignment checks; raises the
    core's SRAM high-water mark (``hwm``, the end of the highest tile it has used)."""
    g = c.tg[i]
    if g.end > c.hwm:
        if g.end > c.mem.size or not g.aligned:
            check_tile(c.t[i], c.mem.size, what)
        c.hwm = g.end
    elif not g.aligned:
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
    fp32 = "fp32" in (c.t[ta].fmt, c.t[tb].fmt)  # the fp32 storage mode: at the FP32 FMA rate
    cost = timing.fp32_matrix_cycles if fp32 else timing.matrix_cycles
    c.now += _cost(c, ("mma", fp32, m, n, k, rd), cost, m, n, k, rd, gd.nbytes)
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
def _move_problem(name: str, d: TDesc, a: TDesc, axis: str | None) -> str | None:
    """Why the shapes of a move do not fit, or None."""
    if name == "tbcast":
        src = (1, d.cols) if axis == "rows" else (d.rows, 1)
        if a.shape != src:
            return (
                f"tbcast along {axis}: source tile is {a.rows}x{a.cols}, expected {src[0]}x{src[1]}"
            )
        return None
    want = a.shape if name == "tcopy" else (a.cols, a.rows)
    if d.shape != want:
        return (
            f"{name}: destination tile is {d.rows}x{d.cols}, the source gives {want[0]}x{want[1]}"
        )
    return None


def ex_move(c, pc, op):
    _, name, sem, td, ta, axis = op
    d, a = c.t[td], c.t[ta]
    if not same_encoding(a, d):
        raise SimulationError(
            f"{name}: format/bias mismatch: source {a.fmt} bias {a.bias}, destination {d.fmt} bias {d.bias}"
        )
    problem = _move_problem(name, d, a, axis)
    if problem:
        raise SimulationError(problem)
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
