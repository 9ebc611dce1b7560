"""Chrome/Perfetto traces: structure (traceEvents, ph, ts, dur, pid/tid, metadata names), tracks
that never overlap, and slices that add up to the simulator's counters; stall slices against
hand-computed timings (mini: 2 cycles per hop, 256 B/cycle links)."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from d1c.cli import main
from d1c.isa.asm import assemble
from d1c.runtime.sim import simulate

RING = Path(__file__).resolve().parents[1] / "runtime" / "programs" / "ring.s"
NAMES = {"process_name", "process_sort_index", "thread_name", "thread_sort_index"}


def barrier_program(nops: int, marks: bool = False) -> str:
    """Core 0.0.0.0 reaches barrier 0 at cycle 1, core 0.0.1.0 at cycle 1 + nops (with
    ``marks``, each core first marks region 0 at cycle 0 and region 1 after the barrier, all one
    cycle later)."""
    pad = "\n".join(["    nop"] * nops)
    m0, m1 = ("    mark 0\n", "    mark 1\n") if marks else ("", "")
    return f""".target "mini"
.code a, 0.0.0.0
{m0}    li x1, 2
    barrier x1, 0
{m1}    halt
.code b, 0.0.1.0
{m0}    li x1, 2
{pad}
    barrier x1, 0
{m1}    halt
"""


def message_program(recv_core: str, send_core: str, recv_nops: int, send_nops: int) -> str:
    """``send_core`` sends 64 bytes after 4 + send_nops cycles; ``recv_core`` receives them
    after 4 + recv_nops cycles."""
    packed = {"0.0.0.0": "0", "0.0.1.0": "0x100"}
    rpad = "\n".join(["    nop"] * recv_nops)
    spad = "\n".join(["    nop"] * send_nops)
    return f""".target "mini"
.code r, {recv_core}
    li x3, {packed[send_core]}
    tbase t1, x0, 256
    tshapei t1, 1, 16
    tfmt t1, fp32, 0
{rpad}
    recv t1, x3, 7
    halt
.code s, {send_core}
    li x2, {packed[recv_core]}
    tbase t0, x0, 0
    tshapei t0, 1, 16
    tfmt t0, fp32, 0
{spad}
    send t0, x2, 7
    halt
"""


def trace_of(tmp_path: Path, text: str, inputs: dict | None = None) -> tuple[dict, object]:
    path = tmp_path / "t.json"
    res = simulate(assemble(text), None, inputs, trace=path)
    return json.loads(path.read_text()), res


def check_structure(trace: dict) -> None:
    """Every field Perfetto's JSON importer needs, names for every process and thread, and
    tracks whose slices never overlap (so they nest properly)."""
    assert trace["displayTimeUnit"] == "ns"
    events = trace["traceEvents"]
    named_pids = {e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    named_tids = {(e["pid"], e["tid"]) for e in events if e["ph"] == "M" and e["name"] == "thread_name"}  # fmt: skip
    tracks = defaultdict(list)
    for e in events:
        assert e["ph"] in ("X", "M") and isinstance(e["pid"], int)
        if e["ph"] == "M":
            assert e["name"] in NAMES and ("name" in e["args"] or "sort_index" in e["args"])
            continue
        assert {"name", "cat", "ts", "dur", "tid", "args"} <= set(e)
        assert e["dur"] >= 0 and e["ts"] >= 0
        assert e["pid"] in named_pids and (e["pid"], e["tid"]) in named_tids
        tracks[(e["pid"], e["tid"])].append(e)
    for evs in tracks.values():
        evs.sort(key=lambda e: e["ts"])
        for a, b in itertools.pairwise(evs):
            assert a["ts"] + a["dur"] <= b["ts"] + 1e-9, (a, b)


def core_of_track(trace: dict) -> dict[tuple[int, int], str]:
    return {
        (e["pid"], e["tid"]): e["args"]["name"].split()[1]
        for e in trace["traceEvents"]
        if e["ph"] == "M" and e["name"] == "thread_name" and e["pid"] > 0
    }


def sums_by_core(trace: dict, clock_hz: float) -> dict[str, dict[str, float]]:
    """Per core: cycles per slice name (from args and, separately, from dur), bytes, MACs."""
    where = core_of_track(trace)
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for e in trace["traceEvents"]:
        if e["ph"] != "X" or e["pid"] == 0:
            continue
        s = out[where[(e["pid"], e["tid"])]]
        s[e["name"]] += e["args"]["cycles"]
        s["dur:" + e["name"]] += e["dur"] * clock_hz / 1e6
        s["bytes:" + e["cat"]] += e["args"].get("bytes", 0)
        if e["name"] == "mma":
            s["macs"] += e["args"]["m"] * e["args"]["n"] * e["args"]["k"]
    return out


def check_counters(trace: dict, res) -> None:
    """Slices add up to the simulator's counters on every core."""
    sums = sums_by_core(trace, res.clock_hz)
    for coord, st in res.cores.items():
        s = sums[".".join(map(str, coord))]
        for cause, cycles in st.stall.items():
            assert s[f"stall:{cause}"] == cycles
            assert s[f"dur:stall:{cause}"] == pytest.approx(cycles, abs=1e-6)
        assert s["macs"] == st.macs
        assert s["bytes:dma"] == st.dma_bytes
        assert s["bytes:noc"] == st.noc_sent


def test_barrier_stall_is_the_gap_plus_one_hop(tmp_path: Path) -> None:
    trace, res = trace_of(tmp_path, barrier_program(10))
    check_structure(trace)
    check_counters(trace, res)
    # core a waits from cycle 1 for b's arrival at 11, plus the release's 1 hop of 2 cycles
    assert res.cores[(0, 0, 0, 0)].stall["barrier"] == 12
    assert res.barriers == ((0, 11, 13),)
    kernels = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["pid"] == 0]
    assert kernels == []  # no marks, no kernel slices


def test_marked_regions_are_the_kernel_slices(tmp_path: Path) -> None:
    """Both cores mark region 0 at cycle 0; a reaches the barrier at 2, b at 12, released at 14
    (1 hop of 2 cycles); the barrier instruction ends at 15, where both mark region 1: region 0
    spans 0..15, region 1 from 15 to the end of the program."""
    trace, res = trace_of(tmp_path, barrier_program(10, marks=True))
    check_structure(trace)
    assert res.barriers == ((0, 12, 14),)
    kernels = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["pid"] == 0]
    got = [(k["name"], k["args"]["kernel"], k["args"]["cycles"]) for k in kernels]
    assert got == [("kernel 0", 0, 15), ("kernel 1", 1, res.cycles - 15)]


@pytest.mark.parametrize(
    ("recv_core", "send_core", "recv_nops", "expected"),
    [
        ("0.0.0.0", "0.0.1.0", 0, 8),  # blocks at 4; message sent at 9, 2 + 1 cycles on the way
        ("0.0.1.0", "0.0.0.0", 0, 8),  # same with the sender scheduled first
        ("0.0.1.0", "0.0.0.0", 7, 1),  # recv at 11, message arrives at 12
        ("0.0.0.0", "0.0.1.0", 9, 0),  # recv at 13, message already there
    ],
)
def test_recv_stall_matches_the_message_timing(
    tmp_path: Path, recv_core: str, send_core: str, recv_nops: int, expected: int
) -> None:
    trace, res = trace_of(tmp_path, message_program(recv_core, send_core, recv_nops, 5))
    check_structure(trace)
    check_counters(trace, res)
    recv = tuple(int(v) for v in recv_core.split("."))
    assert res.cores[recv].stall["recv"] == expected


def test_ring_and_chips_as_processes(tmp_path: Path) -> None:
    x = np.arange(128, dtype=np.float32).reshape(8, 16)
    trace, res = trace_of(tmp_path, RING.read_text(), {"x": x})
    check_structure(trace)
    check_counters(trace, res)
    procs = {e["pid"]: e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"}  # fmt: skip
    assert procs == {0: "program", 1: "chip 0.0", 2: "chip 1.0"}
    for (pid, _), core in core_of_track(trace).items():
        assert procs[pid] == "chip " + ".".join(core.split(".")[:2])


def test_compiled_program_trace_from_d1c_run(tmp_path: Path, mlp_d1x: Path) -> None:
    out = tmp_path / "run.json"
    res = CliRunner().invoke(main, ["run", str(mlp_d1x), "--timing-only", "--trace", str(out)])
    assert res.exit_code == 0, res.output
    trace = json.loads(out.read_text())
    check_structure(trace)
    sim = simulate(mlp_d1x.read_bytes(), None, None, timing_only=True, trace=True)
    check_counters(trace, sim)
    kernels = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["pid"] == 0]
    assert len(kernels) == 3 and not sim.barriers  # the mlp: three linear layers, no barrier
    # the first kernel starts after the 3 prologue instructions; the last ends with its last
    # traced event, a few untraced cycles (tokens, halt) before the program's end
    first, last = kernels[0], kernels[-1]
    assert first["args"]["cycles"] > 0 and first["ts"] == 3 * 1e6 / sim.clock_hz
    end = round((last["ts"] + last["dur"]) * sim.clock_hz / 1e6)
    assert sim.cycles - 16 <= end <= sim.cycles
    cats = {e["cat"] for e in trace["traceEvents"] if e["ph"] == "X"}
    assert {"compute", "dma", "stall", "kernel"} <= cats
