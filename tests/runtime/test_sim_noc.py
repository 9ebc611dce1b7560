"""NoC and sync in the simulator: a cross-chip ring, a ring all-reduce, multicast, semaphores and
barriers on the mini target, checked against numpy and against hand-computed times."""

from __future__ import annotations

import math

import numpy as np

from tests.runtime.sim_helpers import MINI, bits, run

HOP = MINI.noc["hop_latency_cycles"]
LINK = MINI.noc["link_bytes_per_cycle"]
D2D = math.ceil(MINI.edge["d2d_latency_ns"] * MINI.clock_hz / 1e9)


def test_ring_shift_across_two_chips() -> None:
    x = np.random.default_rng(1).standard_normal((8, 16)).astype(np.float32)
    res = run("ring", {"x": x})
    np.testing.assert_array_equal(bits(res.outputs["y"]), bits(np.roll(x, 1, axis=0)))
    # core 0.0.0.0 waits for 1.0.3.0: 7 hops west, one of them across the chip edge.
    # The send issues after 9 one-cycle instructions; recv and halt add one cycle each.
    arrival = 9 + 7 * HOP + D2D + math.ceil(64 / LINK)
    assert res.cores[(0, 0, 0, 0)].finish == arrival + 2
    assert res.cores[(0, 0, 0, 0)].stall["recv"] == arrival - 10
    assert res.undelivered == 0


def test_ring_allreduce_sum_matches_numpy_in_ring_order() -> None:
    x = np.random.default_rng(2).standard_normal((8, 4, 16)).astype(np.float32)
    res = run("allreduce", {"x": x})
    want = np.empty_like(x)
    for i in range(8):
        acc = x[i].copy()
        for s in range(1, 8):
            acc = (acc + x[(i - s) % 8]).astype(np.float32)
        want[i] = acc
    np.testing.assert_array_equal(bits(res.outputs["y"]), bits(want))
    np.testing.assert_allclose(
        res.outputs["y"], np.broadcast_to(x.sum(0), x.shape), rtol=1e-5, atol=1e-5
    )
    assert all(s.noc_sent == 7 * 256 and s.noc_received == 7 * 256 for s in res.cores.values())


MCAST = """
.target "mini"
.code src, 0.0.1.1
    tbase t0, x0, 0
    tshapei t0, 4, 64
    tfmt t0, fp32, 0
    li x1, 0
    lui x2, 0x01000
    ori x2, x2, 0x300
    mcast t0, x1, x2, 9
    halt
.code dst, 0-1.0.0-3.0
    tbase t0, x0, 0
    tshapei t0, 4, 64
    tfmt t0, fp32, 0
    li x1, 0x101
    recv t0, x1, 9
    halt
.symbol x, input, fp32, 0, [4, 64], "SRAM 0x0 of 0.0.1.1"
.place sram, 0.0.1.1, 0x0, [0:4, 0:64], [256, 4]
.symbol y, output, fp32, 0, [8, 4, 64], "SRAM 0x0 of the 8 cores of global row 0"
"""


def test_multicast_along_a_row_reaches_every_core_with_chained_timing() -> None:
    places = [
        f".place sram, {gx // 4}.0.{gx % 4}.0, 0x0, [{gx}:{gx + 1}, 0:4, 0:64], [0, 256, 4]"
        for gx in range(8)
    ]
    x = np.random.default_rng(3).standard_normal((4, 64)).astype(np.float32)
    res = run(MCAST + "\n".join(places) + "\n", {"x": x})
    np.testing.assert_array_equal(bits(res.outputs["y"]), bits(np.broadcast_to(x, (8, 4, 64))))
    dur = math.ceil(1024 / LINK)
    for gx in range(8):
        # issue at 6; first hop north to (1,0), then hop by hop outwards; the edge adds D2D
        arrival = 6 + (1 + abs(gx - 1)) * HOP + dur + (D2D if gx >= 4 else 0)
        assert res.cores[(gx // 4, 0, gx % 4, 0)].finish == arrival + 2, gx
    assert res.cores[(0, 0, 1, 1)].noc_sent == 1024


SEM = """
.target "mini"
.code a, 0.0.0.0
    li x1, 0x200
    nop
    nop
    nop
    nop
    nop
    sem.signal x1, 3
    halt
.code c, 0.0.1.1
    li x1, 0x200
    sem.signal x1, 3
    halt
.code b, 0.0.2.0
    sem.wait 3, 2
    halt
"""


def test_sem_wait_resumes_when_the_last_signal_arrives() -> None:
    res = run(SEM)
    # a signals at cycle 6 over 2 hops; c signals at cycle 1 over 2 hops (x then y)
    last = max(6 + 2 * HOP, 1 + 2 * HOP)
    b = res.cores[(0, 0, 2, 0)]
    assert b.stall["sem"] == last
    assert b.finish == last + 2


BARRIER = """
.target "mini"
.code c0, 0.0.0.0
    li x1, 3
    barrier x1, 5
    halt
.code c1, 0.0.1.0
    NOPS10
    li x1, 3
    barrier x1, 5
    halt
.code c2, 0.0.2.0
    NOPS20
    li x1, 3
    barrier x1, 5
    halt
"""


def test_barrier_releases_everyone_through_the_controller() -> None:
    text = BARRIER.replace("NOPS10", "nop\n" * 10).replace("NOPS20", "nop\n" * 20)
    res = run(text)
    # core 0.0.x.0 arrives after 10x nops and one li; the controller is the first core, 0.0.0.0
    # (x hops away); it hears of the last arrival x * HOP after it and notifies every core
    arrive = [10 * x + 1 for x in range(3)]
    heard = max(t + x * HOP for x, t in enumerate(arrive))
    for x in range(3):
        release = heard + x * HOP
        s = res.cores[(0, 0, x, 0)]
        assert s.finish == release + 2
        assert s.stall["barrier"] == release - arrive[x]
    assert res.barriers == ((5, arrive[2], heard + 2 * HOP),)
