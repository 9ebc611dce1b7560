"""Simulated faults are SimulationErrors with the core, pc and instruction, never Python crashes."""

from __future__ import annotations

import numpy as np
import pytest

from d1c.isa.d1x import CodeSection, CoreRange, D1xProgram
from d1c.isa.errors import SimulationError
from d1c.runtime.sim import simulate
from tests.runtime.sim_helpers import MINI, one_core, run

DEADLOCK = """
.target "mini"
.code a, 0.0.0.0
    tbase t0, x0, 0
    tshapei t0, 1, 4
    li x1, 0x100
    recv t0, x1, 1
    send t0, x1, 1
    halt
.code b, 0.0.1.0
    tbase t0, x0, 0
    tshapei t0, 1, 4
    li x1, 0
    recv t0, x1, 1
    send t0, x1, 1
    halt
"""


def _fault(text: str, inputs: dict | None = None, **kw) -> str:
    with pytest.raises(SimulationError) as info:
        run(text, inputs, **kw)
    return info.value.message


def test_deadlock_reports_the_wait_for_cycle() -> None:
    msg = _fault(DEADLOCK)
    assert msg.startswith("deadlock: every live core is blocked (2 cores)")
    assert "wait-for cycle: 0.0.0.0 -(recv tag 1)-> 0.0.1.0 -(recv tag 1)-> 0.0.0.0" in msg
    assert "core 0.0.0.0 pc 0xc at cycle 3: recv from 0.0.1.0 tag 1" in msg


def test_barrier_that_never_fills_is_a_deadlock() -> None:
    msg = _fault(one_core("li x1, 2\nbarrier x1, 4\nhalt"))
    assert "barrier 4: 1 of 2 cores arrived" in msg


def test_out_of_bounds_tile_names_core_pc_and_range() -> None:
    body = "lui x1, 0x3f\ntbase t0, x1, 0\ntshapei t0, 64, 64\nvadd t0, t0, t0, rne\nhalt"
    msg = _fault(one_core(body, core="1.1.2.3"))
    size = MINI.sram_bytes
    assert msg.startswith("core 1.1.2.3 pc 0xc in section 'main' at cycle 3: vadd t0, t0, t0, rne:")
    assert f"destination tile [0x3f000, 0x43000) is outside SRAM of {size:#x} bytes" in msg


def test_misaligned_scalar_load() -> None:
    msg = _fault(one_core("li x1, 6\nld x2, x1, 0\nhalt"))
    assert "pc 0x4" in msg and "ld address 0x6 is not 4-byte aligned" in msg


def test_misaligned_tile() -> None:
    msg = _fault(
        one_core("tbase t0, x0, 2\ntshapei t0, 1, 4\ntfmt t0, fp32, 0\nvadd t0, t0, t0, rne\nhalt")
    )
    assert "is misaligned for fp32" in msg


def test_invalid_instruction_word_faults_when_executed() -> None:
    code = (0x02).to_bytes(4, "little") + (0).to_bytes(4, "little")  # nop, then opcode 0
    prog = D1xProgram("mini", (CodeSection("main", (CoreRange.single((0, 0, 0, 0)),), code),))
    with pytest.raises(
        SimulationError, match=r"pc 0x4 .*invalid instruction: .*invalid opcode 0x00"
    ):
        simulate(prog)


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        ("tfmt t1, bf16, 0\ntcopy t0, t1\nhalt", "tcopy: format/bias mismatch: source bf16 bias 0"),
        ("tfmt t0, cfp8_143, 3\ntfmt t1, cfp8_143, 4\ntcopy t0, t1\nhalt", "format/bias mismatch"),
        ("tfmt t0, bf16, 0\nmma t0, t1, t2, zero\nhalt", "destination must be fp32"),
        (
            "tshapei t0, 2, 2\ntshapei t1, 3, 2\nvadd t0, t0, t1, rne\nhalt",
            "destination tile is 2x2",
        ),
        ("li x1, 0x302\nsend t0, x1, 0\nhalt", "send: core 0.0.3.2 is a disabled site"),
        ("li x1, 0x700\nsend t0, x1, 0\nhalt", "send: coordinate 0x00000700 is outside the mesh"),
        ("li x1, 0x100\nsend t0, x1, 0\nhalt", "send: core 0.0.1.0 runs no program"),
        (
            "tshapei t0, 1, 4\nlui x1, 0x40000\ndma.ld t0, x0, x1, x0, 0\nhalt",
            "outside the HBM of the 1 DIP(s)",
        ),
        ("nop", "runs past the end of code section 'main'"),
        ("j 5\nhalt", "runs past the end"),
    ],
)
def test_faults(body: str, expect: str) -> None:
    assert expect in _fault(one_core(body))


def test_recv_of_a_message_with_another_format() -> None:
    text = """
.target "mini"
.code a, 0.0.0.0
    tshapei t0, 1, 8
    tfmt t0, bf16, 0
    li x1, 0x100
    send t0, x1, 1
    halt
.code b, 0.0.1.0
    tshapei t0, 1, 4
    li x1, 0
    recv t0, x1, 1
    halt
"""
    assert "recv: format/bias mismatch: message from 0.0.0.0 holds bf16" in _fault(text)


def test_runaway_loop_stops_at_the_cycle_limit() -> None:
    assert "cycle limit 1000 exceeded" in _fault(one_core("top:\nj top"), max_cycles=1000)


def test_gather_index_out_of_range() -> None:
    body = """
    tshapei t0, 4, 4
    tbase t1, x0, 64
    tshapei t1, 1, 2
    tfmt t1, i32, 0
    tbase t2, x0, 128
    tshapei t2, 2, 4
    tgather t2, t0, t1, rows
    halt
"""
    syms = '.symbol i, input, i32, 0, [2], "SRAM 64"\n.place sram, 0.0.0.0, 64, [0:2], [4]'
    msg = _fault(one_core(body, syms), {"i": np.array([1, 4], np.int32)})
    assert "tgather: index 4 at position 1 is outside 0..3" in msg


def test_bad_inputs_are_reported() -> None:
    text = one_core(
        "halt", '.symbol a, input, fp32, 0, [2, 2], ""\n.place sram, 0.0.0.0, 0, [0:2, 0:2], [8, 4]'
    )
    with pytest.raises(SimulationError, match="missing input"):
        run(text)
    with pytest.raises(SimulationError, match=r"has shape \(3,\), the program expects \(2, 2\)"):
        run(text, {"a": np.zeros(3)})
    with pytest.raises(SimulationError, match="unknown input"):
        run(text, {"a": np.zeros((2, 2)), "b": np.zeros(1)})


def _flood(waits: int) -> str:
    """0.0.0.0 sends five 64 KiB messages to 0.0.1.0, which does ``waits`` nops first."""
    return (
        '.target "mini"\n.code s, 0.0.0.0\n    tshapei t0, 64, 256\n    li x1, 0x100\n'
        + "    send t0, x1, 0\n" * 5
        + "    halt\n.code r, 0.0.1.0\n"
        + "    nop\n" * waits
        + "    tshapei t0, 64, 256\n    li x1, 0\n"
        + "    recv t0, x1, 0\n" * 5
        + "    halt\n"
    )


def test_messages_waiting_for_recv_must_fit_in_sram() -> None:
    size, hop = MINI.sram_bytes, MINI.noc["hop_latency_cycles"]
    nbytes = 64 * 256 * 4
    assert 4 * nbytes == size  # four waiting messages fill mini's SRAM exactly
    busy = nbytes // MINI.noc["link_bytes_per_cycle"]
    # the sends issue from cycle 2 and follow each other on the one link: message k arrives at
    # 2 + k * busy + hop; the fifth finds four waiting on a core that has used no SRAM yet
    fifth = 2 + 5 * busy + hop
    msg = _fault(_flood(1500))
    assert msg.startswith(
        f"core 0.0.1.0: at cycle {fifth} the message from 0.0.0.0 ({nbytes} bytes)"
    )
    assert f"while {4 * nbytes} bytes of earlier messages wait" in msg and f"the {size} free" in msg
    # a receiver that starts taking them before the fifth arrives has room for it
    assert run(_flood(fifth - 4 - busy)).cores[(0, 0, 1, 0)].noc_received == 5 * nbytes
