"""The timing model against hand-computed cycle counts (figures read from the mini target), the
timing-only mode against full mode, and run-to-run determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.runtime.sim_helpers import MINI, ROOT, bits, one_core, run, wide_range

HOP = MINI.noc["hop_latency_cycles"]
LINK = MINI.noc["link_bytes_per_cycle"]
EDGE = MINI.edge["bytes_per_cycle"]
D2D = math.ceil(MINI.edge["d2d_latency_ns"] * MINI.clock_hz / 1e9)
MACS = MINI.core["matrix_macs_per_cycle"]
LOAD, STORE = MINI.core["sram_load_bytes_per_cycle"], MINI.core["sram_store_bytes_per_cycle"]

PAIR = """
.target "mini"
.code s, SRC
    tshapei t0, 1, COLS
    lui x1, DST_HI
    ori x1, x1, DST_LO
    send t0, x1, 0
    halt
.code r, DST
    tshapei t0, 1, COLS
    lui x1, SRC_HI
    ori x1, x1, SRC_LO
    recv t0, x1, 0
    halt
"""


def _pair(src: tuple, dst: tuple, nbytes: int) -> int:
    """Finish cycle of the receiver of one message of ``nbytes`` (fp32 row) from src to dst."""
    packed = {
        k: (c[0] << 24) | (c[1] << 16) | (c[2] << 8) | c[3] for k, c in (("SRC", src), ("DST", dst))
    }
    text = PAIR.replace("COLS", str(nbytes // 4))
    for k, v in packed.items():
        text = text.replace(f"{k}_HI", hex(v >> 12)).replace(f"{k}_LO", hex(v & 0xFFF))
        text = text.replace(k, ".".join(map(str, src if k == "SRC" else dst)))
    return run(text).cores[dst].finish


@pytest.mark.parametrize("nbytes", [64, 1000, 4096])
@pytest.mark.parametrize(
    ("dst", "hops"), [((0, 0, 1, 0), 1), ((0, 0, 3, 0), 3), ((0, 0, 0, 3), 3), ((0, 0, 2, 3), 5)]
)
def test_transfer_over_n_hops(dst: tuple, hops: int, nbytes: int) -> None:
    # the send issues at cycle 3; recv and halt take one cycle each after the arrival
    arrival = 3 + hops * HOP + math.ceil(nbytes / LINK)
    assert _pair((0, 0, 0, 0), dst, nbytes) == arrival + 2


@pytest.mark.parametrize("nbytes", [64, 4096])
def test_chip_edge_crossing_adds_the_die_to_die_latency(nbytes: int) -> None:
    on_chip = _pair((0, 0, 2, 0), (0, 0, 3, 0), nbytes)
    across = _pair((0, 0, 3, 0), (1, 0, 0, 0), nbytes)
    assert across - on_chip == D2D
    assert math.ceil(nbytes / EDGE) <= math.ceil(nbytes / LINK)  # the edge is not the bottleneck


def test_route_detours_around_a_disabled_core() -> None:
    # 0.0.3.1 -> 0.0.3.3 would pass the disabled site 0.0.3.2; the detour takes 4 hops, not 2
    assert (3, 2) in MINI.disabled
    assert _pair((0, 0, 3, 1), (0, 0, 3, 3), 256) == 3 + 4 * HOP + 1 + 2


CONTENTION = """
.target "mini"
.code a, 0.0.0.0
    tshapei t0, 1, 1024
    li x1, 0x200
    nop
    send t0, x1, 0
    halt
.code b, 0.0.1.0
    tshapei t0, 1, 1024
    li x1, 0x200
    nop
    nop
    send t0, x1, 1
    halt
.code c, 0.0.2.0
    tshapei t0, 1, 1024
    li x1, 0
    li x2, 0x100
    recv t0, x1, 0
    recv t0, x2, 1
    halt
"""


def test_link_contention_delays_the_later_message() -> None:
    res = run(CONTENTION)
    dur = math.ceil(4096 / LINK)
    # a's message (issued at 3) holds link 1.0 -> 2.0 until its tail has passed, at 3 + HOP + dur;
    # b's (issued at 4) starts on that link only then and arrives HOP later.
    b_arrival = (3 + HOP + dur) + dur + HOP
    assert res.cores[(0, 0, 2, 0)].finish == b_arrival + 2
    assert res.link_bytes[(1, 0, "E")] == 2 * 4096 and res.link_bytes[(0, 0, "E")] == 4096


MATMUL = """
    tbase t0, x0, 0x4000
    tshapei t0, {m}, {n}
    tfmt t0, fp32, 0
    tshapei t1, {m}, {k}
    tfmt t1, {fmt}, 0
    tbase t2, x0, 0x2000
    tshapei t2, {k}, {n}
    tfmt t2, {fmt}, 0
    mma t0, t1, t2, {mode}
    halt
"""


def _mma_cycles(m: int, n: int, k: int, mode: str = "zero", fmt: str = "bf16") -> int:
    text = MATMUL.format(m=m, n=n, k=k, mode=mode, fmt=fmt)
    return run(one_core(text)).cycles - 8 - 1  # 8 tdesc + halt


def test_full_rate_matmul_costs_mnk_over_256() -> None:
    assert _mma_cycles(64, 64, 64) == math.ceil(64 * 64 * 64 / MACS)
    assert _mma_cycles(64, 32, 128, "acc") == math.ceil(64 * 32 * 128 / MACS)


def test_fp32_matmul_runs_at_the_fp32_fma_rate() -> None:
    """fp32 operands (the fp32 storage mode): M*N*K products at 16 FP32 FMA per cycle."""
    fma = MINI.core["fp32_fma_per_cycle"]
    assert _mma_cycles(64, 64, 64, fmt="fp32") == math.ceil(64 * 64 * 64 / fma)
    assert _mma_cycles(60, 60, 30, fmt="fp32") == math.ceil(60 * 60 * 30 / fma)


def test_matmul_overheads_partial_blocks_and_sram_bandwidth() -> None:
    # partial 8x8x4 blocks cost whole steps: ceil(60/8) * ceil(60/8) * ceil(30/4)
    assert _mma_cycles(60, 60, 30) == 8 * 8 * 8
    # a K=4 outer product is bound by writing the fp32 accumulator at the store bandwidth
    assert _mma_cycles(64, 64, 4, "acc") == math.ceil(64 * 64 * 4 / STORE)


def test_vector_and_move_costs() -> None:
    body = "tshapei t0, 64, 64\ntshapei t1, 64, 64\nvadd t0, t0, t1, rne\ntcopy t1, t0\nhalt"
    res = run(one_core(body))
    vadd = (64 * 64 * 4) // MINI.core["simd_bytes"]
    tcopy = max(math.ceil(16384 / LOAD), math.ceil(16384 / STORE))
    assert res.cycles == 2 + vadd + tcopy + 1


def _programs() -> list[tuple[str, dict]]:
    rng = np.random.default_rng(5)
    return [
        ("ring", {"x": rng.standard_normal((8, 16))}),
        ("allreduce", {"x": rng.standard_normal((8, 4, 16))}),
        (CONTENTION, {}),
        (
            (ROOT / "examples" / "matmul64.s").read_text(),
            {"a": wide_range(rng, (64, 64)), "b": wide_range(rng, (64, 64))},
        ),
    ]


@pytest.mark.parametrize("index", range(4))
def test_timing_only_gives_the_same_cycles_and_counters(index: int) -> None:
    text, inputs = _programs()[index]
    full, fast = run(text, inputs), run(text, None, timing_only=True)
    assert fast.cycles == full.cycles and fast.outputs == {}
    strip = [{**vars(s), "flags": 0} for s in full.cores.values()]
    assert strip == [{**vars(s), "flags": 0} for s in fast.cores.values()]
    assert fast.link_bytes == full.link_bytes


def test_two_runs_are_identical() -> None:
    x = np.random.default_rng(6).standard_normal((8, 4, 16)) * 1e-39  # denormals
    one, two = run("allreduce", {"x": x}), run("allreduce", {"x": x})
    assert one.cycles == two.cycles and one.cores == two.cores and one.link_bytes == two.link_bytes
    np.testing.assert_array_equal(bits(one.outputs["y"]), bits(two.outputs["y"]))
    assert any(f for f in one.flags.values())  # Denormal: flags are part of the check
