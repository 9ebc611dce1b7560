"""The simulated timeline as Chrome/Perfetto trace-event JSON.

Layout (opens in ui.perfetto.dev and chrome://tracing):

- every chip is a process (``pid`` = 1 + chip_y * chips_x + chip_x, named ``chip X.Y``); process
  0, ``program``, holds the kernels: a slice per marked region (``mark`` instructions, which the
  compiler puts at the start of every kernel), one lane per overlapping slice;
- every core that recorded events has a ``core C`` track with its tile ops (category
  ``compute``) and its stalls (``stall``, named ``stall:<cause>``), which never overlap because a
  core issues in order; its asynchronous work goes on extra tracks, ``core C dma N`` (DMAs) and
  ``core C noc N`` (send/mcast flights), one lane per overlapping transfer.

Times are microseconds (``ts``, ``dur``) at the target clock; every slice also carries its exact
``cycles`` in ``args``. Events come from :meth:`d1c.runtime.machine.Machine.event`, so stall slices
add up exactly to :attr:`CoreStats.stall <d1c.runtime.result.CoreStats>`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from d1c.isa.errors import D1cError
from d1c.target.mesh import Coord, fmt_coord

# A recorded event: (name, core, start cycle, duration in cycles, args).
Event = tuple[str, Coord, int, int, dict]
Barrier = tuple[int, int, int]  # (barrier id, last arrival, release of the last core)


def category(name: str) -> str:
    """``compute``, ``dma``, ``noc``, ``stall`` or ``mark`` for an event name."""
    if name == "mark":
        return "mark"
    if name.startswith("stall:"):
        return "stall"
    if name.startswith("dma."):
        return "dma"
    if name in ("send", "mcast", "notify"):
        return "noc"
    return "compute"


def _lanes(events: list[Event]) -> list[int]:
    """Greedy lanes so that no two events of one lane overlap (input sorted by start)."""
    ends: list[int] = []
    out = []
    for _, _, start, dur, _ in events:
        lane = next((i for i, e in enumerate(ends) if e <= start), len(ends))
        if lane == len(ends):
            ends.append(0)
        ends[lane] = start + dur
        out.append(lane)
    return out


def _tracks(events: list[Event]) -> dict[tuple[Coord, str, int], list[Event]]:
    """Events by (core, track kind, lane); compute and stalls share the core's own track."""
    by_kind: dict[tuple[Coord, str], list[Event]] = defaultdict(list)
    for ev in events:
        kind = category(ev[0])
        if kind == "mark":
            continue  # drawn as the kernel slices of process 0
        by_kind[(ev[1], "core" if kind in ("compute", "stall") else kind)].append(ev)
    out: dict[tuple[Coord, str, int], list[Event]] = defaultdict(list)
    for (core, kind), evs in sorted(by_kind.items()):
        evs.sort(key=lambda e: (e[2], e[3]))
        for ev, lane in zip(evs, _lanes(evs), strict=True):
            out[(core, kind, lane)].append(ev)
    return out


def _meta(name: str, pid: int, tid: int | None, value: object) -> dict:
    """A metadata event: ``process_name``/``thread_name`` (a name) or ``*_sort_index``."""
    key = "sort_index" if name.endswith("sort_index") else "name"
    ev = {"name": name, "ph": "M", "pid": pid, "args": {key: value}}
    if tid is not None:
        ev["tid"] = tid
    return ev


def _track_name(core: Coord, kind: str, lane: int) -> str:
    base = f"core {fmt_coord(core)}"
    return base if kind == "core" else f"{base} {kind} {lane}"


def chrome_trace(
    events: list[Event],
    barriers: list[Barrier],
    chips_x: int,
    clock_hz: float,
    kernel_names: list[str] | None = None,
) -> dict:
    """The trace-event JSON object of a run (``traceEvents`` plus ``displayTimeUnit``)."""
    us = 1e6 / clock_hz
    slices = _kernel_slices(events, us, kernel_names)
    lanes = sorted({e["tid"] for e in slices}) or [0]
    out = [_meta("process_name", 0, None, "program")]
    out += [
        _meta("thread_name", 0, lane, f"kernels {lane}" if lane else "kernels") for lane in lanes
    ]
    out += slices
    tids: dict[int, int] = defaultdict(int)
    for pid in sorted({1 + c[1] * chips_x + c[0] for c in (e[1] for e in events)}):
        out += [
            _meta("process_name", pid, None, f"chip {(pid - 1) % chips_x}.{(pid - 1) // chips_x}")
        ]
        out += [_meta("process_sort_index", pid, None, pid)]
    for (core, kind, lane), evs in sorted(_tracks(events).items()):
        pid = 1 + core[1] * chips_x + core[0]
        tid = tids[pid] = tids[pid] + 1
        out += [_meta("thread_name", pid, tid, _track_name(core, kind, lane))]
        out += [_meta("thread_sort_index", pid, tid, tid)]
        out += [_slice(ev, pid, tid, us) for ev in evs]
    return {"traceEvents": out, "displayTimeUnit": "ns"}


def _slice(ev: Event, pid: int, tid: int, us: float) -> dict:
    name, _, start, dur, args = ev
    return {
        "name": name,
        "cat": category(name),
        "ph": "X",
        "pid": pid,
        "tid": tid,
        "ts": start * us,
        "dur": dur * us,
        "args": {**args, "cycles": dur},
    }


def _kernel_slices(events: list[Event], us: float, names: list[str] | None) -> list[dict]:
    """One slice per marked region (the compiler marks the start of each kernel on every core):
    from the first core's mark of it to the last core's next mark (or its last event), one lane
    per overlapping slice on the ``program`` process."""
    marks: dict[Coord, list[tuple[int, int]]] = defaultdict(list)
    last: dict[Coord, int] = defaultdict(int)
    for name, core, start, dur, args in events:
        if name == "mark":
            marks[core].append((start, args["id"]))
        last[core] = max(last[core], start + dur)
    first: dict[int, int] = {}
    end: dict[int, int] = defaultdict(int)
    for core, ms in marks.items():
        ms.sort()
        for (t, k), nxt in zip(ms, [*ms[1:], (last[core], None)], strict=True):
            first[k] = min(first.get(k, t), t)
            end[k] = max(end[k], nxt[0])
    spans = [("", None, first[k], end[k] - first[k], {"kernel": k}) for k in sorted(first)]
    out = []
    for (_, _, start, dur, args), lane in zip(spans, _lanes(spans), strict=True):
        k = args["kernel"]
        name = names[k] if names is not None and k < len(names) else f"kernel {k}"
        out.append({"name": name, "cat": "kernel", "ph": "X", "pid": 0, "tid": lane,
                    "ts": start * us, "dur": dur * us, "args": {"kernel": k, "cycles": dur}})  # fmt: skip
    return out


def write_json(obj: dict, path: str | Path) -> None:
    """Write a trace (or any JSON object) to ``path``; a D1cError if it cannot be written."""
    try:
        Path(path).write_text(json.dumps(obj))
    except OSError as err:
        raise D1cError(f"cannot write '{path}': {err.strerror}") from None
