"""Random *communicating* D1 programs for the ``mini`` mesh: cores on several chips that exchange
messages, multicast, stream data through DIP HBM (also the striped window) and meet at barriers,
with random sizes and random delays, so links, chip edges and DIPs are contended in random ways.
Every program finishes (it cannot deadlock): use them to check that two ways of simulating agree
(for instance 1 and N workers, :mod:`d1c.runtime.parallel`).

    @given(comm_programs())
    def test_something(case):
        text, inputs = case
        res = simulate(assemble(text), target, inputs)

Structure: each chosen core has its own code section and a [1, 257] fp32 tile ``t0`` (input
``x``, row i = core i, in its SRAM). In each round the cores send the first ``cols`` values of
``t0`` along a random permutation (then receive from their sender and add), or one core
multicasts along a mesh row or column segment; then every core may store its prefix to HBM
and load it back (at a random offset, in a DIP's window or the striped one, so a transfer may
straddle stripes) and add it; a round may end with a barrier of all cores. Random ``nop`` runs
between steps vary the timing. The result ``y`` is every core's ``t0``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from d1c.isa.tiles import DIP_SHIFT, STRIPE_BYTES, STRIPED

WIDTH = 257  # columns of every core's data tile
GRID, CHIPS = (4, 4), (2, 2)  # mini: 2 x 2 chips of 4 x 4 cores, site (3, 2) disabled
SITES = [
    (cx, cy, x, y)
    for cy in range(CHIPS[1])
    for cx in range(CHIPS[0])
    for y in range(GRID[1])
    for x in range(GRID[0])
    if (x, y) != (3, 2)
]


def packed(c: tuple[int, int, int, int]) -> int:
    """The packed ``coord`` register value of a core."""
    return (c[0] << 24) | (c[1] << 16) | (c[2] << 8) | c[3]


def li(reg: str, value: int) -> list[str]:
    """Put the 32-bit ``value`` into ``reg``."""
    value &= 0xFFFFFFFF
    out = [f"lui {reg}, 0x{value >> 12:x}"]
    return out + ([f"ori {reg}, {reg}, {value & 0xFFF}"] if value & 0xFFF else [])


def _prefix(cols: int) -> list[str]:
    """t3 = the first ``cols`` values of t0; t4 and t5 = [1, cols] receive and load buffers."""
    return [f"tshapei t{t}, 1, {cols}" for t in (3, 4, 5)]


def _exchange(dst: tuple, src: tuple, tag: int) -> list[str]:
    return [*li("x1", packed(dst)), f"send t3, x1, {tag}",
            *li("x2", packed(src)), f"recv t4, x2, {tag}", "vadd t3, t3, t4, rne"]  # fmt: skip


def _dma(addr: int, tag: int) -> list[str]:
    """Store t3 at HBM ``addr``, load it back into t5, add it (tags ``tag``, ``tag + 1``)."""
    lo, hi = addr & 0xFFFFFFFF, addr >> 32
    return [*li("x5", lo), *li("x6", hi), "li x7, 0", f"dma.st t3, x5, x6, x7, {tag}",
            f"dma.wait {tag}", f"dma.ld t5, x5, x6, x7, {tag + 1}", f"dma.wait {tag + 1}",
            "vadd t3, t3, t5, rne"]  # fmt: skip


def _line(draw: st.DrawFn, cores: list[tuple]) -> tuple[int, list[int]] | None:
    """A sender and the cores of a mesh row or column segment it multicasts to (every site of
    the segment runs code or is disabled), or None."""
    pos = {(c[0] * GRID[0] + c[2], c[1] * GRID[1] + c[3]): i for i, c in enumerate(cores)}
    sender = draw(st.integers(0, len(cores) - 1))
    axis = draw(st.integers(0, 1))
    at = list(pos)[sender]
    line = sorted(p for p in pos if p != at and p[1 - axis] == at[1 - axis])
    if not line:
        return None
    a = draw(st.integers(0, len(line) - 1))
    b = a
    while b + 1 < len(line) and _covered(line[b], line[b + 1], axis, set(pos)):
        b += 1
    return sender, [pos[p] for p in line[a : b + 1]]


def _covered(p: tuple, q: tuple, axis: int, held: set) -> bool:
    """True if every site strictly between p and q (on one line) runs code or is disabled."""
    for v in range(p[axis] + 1, q[axis]):
        site = (v, p[1]) if axis == 0 else (p[0], v)
        if site not in held and (site[0] % GRID[0], site[1] % GRID[1]) != (3, 2):
            return False
    return True


def _round(draw: st.DrawFn, cores: list[tuple], bodies: list[list[str]], r: int, dips: int):
    n = len(cores)
    cols = draw(st.sampled_from([1, 8, 64, 200, WIDTH]))
    for b in bodies:
        b += _prefix(cols) + ["nop"] * draw(st.integers(0, 40))
    mc = _line(draw, cores) if draw(st.integers(0, 3)) == 0 else None
    if mc is not None:
        sender, line = mc
        first, last = cores[line[0]], cores[line[-1]]
        bodies[sender] += [*li("x1", packed(first)), *li("x2", packed(last)), f"mcast t3, x1, x2, {r}"]  # fmt: skip
        for i in line:
            bodies[i] += [*li("x2", packed(cores[sender])), f"recv t4, x2, {r}", "vadd t3, t3, t4, rne"]  # fmt: skip
    else:
        perm = draw(st.permutations(range(n)))
        src = {d: s for s, d in enumerate(perm)}
        for i in range(n):
            bodies[i] += _exchange(cores[perm[i]], cores[src[i]], r)
    for i in range(n):
        if draw(st.booleans()):
            window = STRIPED if dips > 1 and draw(st.booleans()) else draw(st.integers(0, dips - 1))
            off = (i * 8 + draw(st.integers(0, 3))) * STRIPE_BYTES - draw(st.sampled_from([0, 12, 400]))  # fmt: skip
            bodies[i] += _dma((window << DIP_SHIFT) + max(0, off), 2 + 2 * (r % 6))
    if draw(st.booleans()):
        for b in bodies:
            b += [f"li x3, {n}", f"barrier x3, {r}"]


@st.composite
def comm_programs(draw: st.DrawFn, dips: int = 1, max_cores: int = 6, max_rounds: int = 4):
    """(assembly text, inputs) of a random communicating program for mini's mesh (module
    docstring); ``dips`` is the DIP count of the target it will run on."""
    cores = draw(st.lists(st.sampled_from(SITES), min_size=2, max_size=max_cores, unique=True))
    bodies = [["tshapei t0, 1, 257", "tbase t4, x0, 0x2000", "tbase t5, x0, 0x3000"] for _ in cores]
    for r in range(draw(st.integers(1, max_rounds))):
        _round(draw, cores, bodies, r, dips)
    lines = ['.target "mini"']
    for i, (c, body) in enumerate(zip(cores, bodies, strict=True)):
        lines += [f".code c{i}, {'.'.join(map(str, c))}", *(f"    {s}" for s in body), "    halt"]
    n = len(cores)
    for name, role in (("x", "input"), ("y", "output")):
        lines.append(f'.symbol {name}, {role}, fp32, 0, [{n}, {WIDTH}], "row i: core i"')
        for i, c in enumerate(cores):
            where = ".".join(map(str, c))
            lines.append(f".place sram, {where}, 0x0, [{i}:{i + 1}, 0:{WIDTH}], [0, 4]")
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).standard_normal((n, WIDTH)).astype(np.float32)
    return "\n".join(lines) + "\n", {"x": x}
