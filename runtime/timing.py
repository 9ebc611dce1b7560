"""The simulator's cost model: cycle costs of instructions and transfers, all from target fields.

Every figure comes from the target (``d1c/target/*.toml``, sources in
``docs/targets.md``); the few modelling choices that are not target figures are
named here and marked [A]. All arithmetic is on integers and exact fractions, so cycle counts are
the same on every host.

Core time (each core has its own clock, advanced by the cost of each instruction it issues;
instructions issue in order and do not overlap)
    - scalar ALU, constants, csr, nop, halt, tdesc, scalar ld/st, jumps, loop: 1 cycle.
    - conditional branches: 1 cycle, plus ``core.branch_penalty_cycles`` when the branch goes
      against static backward-taken/forward-not-taken prediction [A]; ``jalr`` (indirect) always
      pays the penalty [A].
    - tile ops are bounded by their unit and by SRAM bandwidth: ``max(unit cycles,
      ceil(bytes read / core.sram_load_bytes_per_cycle), ceil(bytes written /
      core.sram_store_bytes_per_cycle), 1)``, where
        matrix (mma)  unit = ceil(M/bm)*ceil(N/bn)*ceil(K/bk), (bm, bn, bk) = core.matrix_block
                      (8x8x4 = 256 MAC per cycle); reads A, B (and C in ``acc`` mode), writes C;
        vector        unit = passes * ceil(elements * 4 / core.simd_bytes): fp32 lanes of the
                      64-byte SIMD; ``passes`` is 1 except for vdiv and vfn (:data:`FUNC_PASSES`);
                      elements = the larger of the destination and the biggest source;
        move          unit = 0 (pure SRAM traffic).
    - send/mcast/recv/sem.signal/sem.wait/barrier/dma.*: 1 issue cycle; their waiting is stall
      time (below).

Network (see :mod:`d1c.runtime.noc`)
    A message of ``B`` bytes over a route of links ``l_0..l_{n-1}`` is cut-through: link ``i``
    carries it for ``ceil(B / noc.link_bytes_per_cycle)`` cycles and adds latency
    ``noc.hop_latency_cycles``. A link that crosses a chip edge also uses the edge's shared
    bandwidth (``edge.bytes_per_cycle``; ``system.off_tile_bytes_per_cycle`` between tiles), so it
    carries the message for ``max(ceil(B / link_bw), ceil(B / edge_bw))`` cycles, and adds the
    die-to-die latency ``ceil(edge.d2d_latency_ns * clock_hz / 1e9)`` to its hop latency.
    Uncontended, a message sent at ``t`` over n hops arrives at
    ``t + n*hop_latency + ceil(B / link_bw) + (number of chip-edge crossings) * d2d``.
    Links and edges are reserved busy-until (contention per link and direction).
    Sync notifications (sem.signal, barrier release) take the route's latency only.

DMA
    A transfer of ``B`` bytes issued at ``t`` on DIP ``d`` (the DIP owning its HBM address)
    completes at ``max(t + dma.setup_cycles, free_d) + ceil(B * clock_hz /
    min(dip.hbm_bytes_per_s, dip.link_bytes_per_s))`` and the DIP is busy until then (FIFO per
    DIP in issue order). A transfer in the striped window is split into one part per DIP serving
    its stripes (:func:`d1c.isa.tiles.dip_shares`), each timed so; it completes with its last
    part. The NoC path between the DIP and the core is not charged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from d1c.target import Target

FUNC_PASSES: dict[str, int] = {
    "relu": 1,
    "neg": 1,
    "abs": 1,
    "sqrt": 4,
    "reciprocal": 4,
    "rsqrt": 8,
    "exp": 12,
    "log": 16,
    "sigmoid": 16,
    "tanh": 16,
    "erf": 20,
    "silu": 18,
    "gelu_erf": 24,
    "gelu_tanh": 20,
}
"""SIMD passes per element of each ``vfn`` function [A]: about the number of float32 operations of
the fixed sequences in :mod:`d1c.isa.fpmath` divided by a 2-wide vector issue. A target may
override entries with ``core.func_passes``."""

DIV_PASSES = 4
"""SIMD passes of an IEEE division (vdiv, vdivs) [A]."""


@dataclass(frozen=True, slots=True)
class Rate:
    """A bandwidth in bytes per cycle as an exact fraction num/den (``cycles`` rounds up)."""

    num: int
    den: int

    def cycles(self, nbytes: int) -> int:
        """ceil(nbytes / rate)."""
        return -(-nbytes * self.den // self.num)

    @staticmethod
    def of(value: float | int | Fraction) -> Rate:
        f = Fraction(value)
        return Rate(f.numerator, f.denominator)


@dataclass(frozen=True, slots=True)
class Costs:
    """The target figures the simulator charges, converted to cycles and exact rates."""

    clock_hz: float
    load: Rate
    store: Rate
    simd_bytes: int
    block: tuple[int, int, int]
    branch_penalty: int
    hop: int
    link: Rate
    edge: Rate
    off_tile: Rate
    d2d: int
    tile_chips: tuple[int, int]
    dma_setup: int
    dip: Rate
    func_passes: dict[str, int]
    fp32_fma: int = 16


def costs_of(t: Target) -> Costs:
    """The cost figures of target ``t``."""
    clock = Fraction(t.clock_hz)
    d2d = math.ceil(Fraction(t.edge["d2d_latency_ns"]) * clock / 10**9)
    dip_bw = min(Fraction(t.dip["hbm_bytes_per_s"]), Fraction(t.dip["link_bytes_per_s"]))
    sysd = t.system or {}
    tiles = (int(sysd.get("tiles_x", 1)), int(sysd.get("tiles_y", 1)))
    tile_chips = (max(1, t.chips[0] // tiles[0]), max(1, t.chips[1] // tiles[1]))
    off_tile = sysd.get("off_tile_bytes_per_cycle", t.edge["bytes_per_cycle"])
    return Costs(
        clock_hz=float(t.clock_hz),
        load=Rate.of(t.core["sram_load_bytes_per_cycle"]),
        store=Rate.of(t.core["sram_store_bytes_per_cycle"]),
        simd_bytes=int(t.core["simd_bytes"]),
        block=tuple(int(v) for v in t.core["matrix_block"]),
        branch_penalty=int(t.core["branch_penalty_cycles"]),
        hop=int(t.noc["hop_latency_cycles"]),
        link=Rate.of(t.noc["link_bytes_per_cycle"]),
        edge=Rate.of(t.edge["bytes_per_cycle"]),
        off_tile=Rate.of(off_tile),
        d2d=d2d,
        tile_chips=tile_chips,
        dma_setup=int(t.dma["setup_cycles"]),
        dip=Rate.of(dip_bw / clock),
        func_passes={**FUNC_PASSES, **t.core.get("func_passes", {})},
        fp32_fma=int(t.core["fp32_fma_per_cycle"]),
    )


def sram_cycles(c: Costs, read: int, written: int) -> int:
    """Cycles the SRAM ports need for ``read`` and ``written`` bytes (at least 1)."""
    return max(1, c.load.cycles(read), c.store.cycles(written))


def matrix_steps(c: Costs, m: int, n: int, k: int) -> int:
    """ceil(M/bm) * ceil(N/bn) * ceil(K/bk): matrix-unit cycles of an [M,K] @ [K,N] product."""
    bm, bn, bk = c.block
    return -(-m // bm) * -(-n // bn) * -(-k // bk)


def matrix_cycles(c: Costs, m: int, n: int, k: int, read: int, written: int) -> int:
    """Cycles of one mma: the matrix unit or the SRAM traffic, whichever is slower."""
    return max(matrix_steps(c, m, n, k), sram_cycles(c, read, written))


def fp32_matrix_cycles(c: Costs, m: int, n: int, k: int, read: int, written: int) -> int:
    """Cycles of an mma on fp32 operands: M*N*K products at the core's FP32 FMA rate."""
    return max(-(-(m * n * k) // c.fp32_fma), sram_cycles(c, read, written))


def vector_cycles(c: Costs, elements: int, read: int, written: int, passes: int = 1) -> int:
    """Cycles of a vector op over ``elements`` fp32 lanes with its SRAM traffic."""
    unit = passes * -(-(elements * 4) // c.simd_bytes)
    return max(unit, sram_cycles(c, read, written))
