"""NoC and synchronisation instructions: send, recv, mcast, notify, await, barrier, sem.signal,
sem.wait.

Messages (spec: ``send`` copies the tile's bytes when it issues)
    A send reads its tile (format, bias and bytes) at issue and starts a flight to the receiver
    (:mod:`d1c.runtime.noc`); when its tail arrives the message enters the receiver's mailbox for
    ``(source, tag)``, in send order. ``recv`` takes the oldest such message; if none has
    arrived yet the core blocks. The receiving core's clock moves to the arrival time if it is
    earlier (a ``recv`` stall). The message must have the receiving tile's byte count and the
    same format (and CFloat bias), else a format/bias-mismatch or size fault. Sending to a
    disabled site, a coordinate outside the mesh or a core that runs no program is a fault.
    ``mcast`` flies to the destination nearest the sender, then hop by hop outwards along the
    segment in both directions, so each link of the segment carries it once.

Mailbox capacity
    A message that has arrived but not been taken occupies the receiver's SRAM: it must fit in
    the SRAM the core does not use (its SRAM images, its parameter row and ``[0, hwm)`` for the
    tiles it has used so far, :attr:`CoreState.hwm`). Otherwise
    the run fails with a :class:`SimulationError` naming the core, the sender and the cycle
    (:func:`mailbox_overflow`, checked when the run stops).

Tokens: ``notify`` sends a message without data (a flight of 0 bytes: it arrives after the
route's latency, later if a link on the way is busy) and ``await`` takes one, like ``recv``: same
mailbox, same FIFO per (source, destination, tag), and a data message is a fault for ``await``
as a token is for ``recv``.

Semaphores: ``sem.signal`` reaches its target after the route latency (an event); ``sem.wait``
sees only signals that arrived by its time.

Barriers (a barrier controller at the program's first core, :attr:`Machine.root`)
    A core arriving at a barrier notifies the controller (route latency) and blocks. When the
    controller has heard from as many cores as the count, it notifies every arrived core (route
    latency again), which then continues: a core arriving at ``t_q`` leaves at
    ``max_q(t_q + lat(q, root)) + lat(root, p)``. A barrier of one core passes at once.

send, mcast, notify, await, sem.signal, sem.wait and barrier act on chip state or start events
(await: remote SRAM writes land at it), so they YIELD while the core's key is above
``machine.horizon``: all of them then happen in canonical key order whatever order the host ran
the cores in (:mod:`d1c.runtime.machine`).
"""

from __future__ import annotations

import bisect
from collections import deque

import numpy as np

from d1c.isa.errors import SimulationError
from d1c.isa.semantics import barrier, sem_signal, sem_wait
from d1c.isa.tiles import CFLOAT, mcast_targets
from d1c.runtime.core import BLOCK, YIELD
from d1c.runtime.dma_sram import apply_incoming
from d1c.runtime.machine import Message, handler
from d1c.runtime.memory import check_tile, read_bytes, write_bytes
from d1c.runtime.noc import ARRIVALS, Flight
from d1c.target.mesh import fmt_coord


def _dest(c, packed: int, what: str) -> tuple[int, tuple[int, int]]:
    """(gid, mesh position) of the core a packed coordinate names; it must run a program."""
    m = c.m
    coord = m.mesh.checked(packed, what)
    gid = m.mesh.gid(coord)
    if gid not in m.running:
        raise SimulationError(f"{what}: core {fmt_coord(coord)} runs no program")
    return gid, m.mesh.pos(coord)


def _touch(c, d, what: str) -> None:
    """Check tile ``d`` against SRAM and raise the core's SRAM high-water mark to its end."""
    check_tile(d, c.mem.size, what)
    end = d.base + d.span
    if end > c.hwm:
        c.raise_hwm(end)


def _payload(c, d, what: str) -> np.ndarray | None:
    _touch(c, d, what)
    c.sram_rd += d.nbytes
    c.noc_tx += d.nbytes
    if not c.m.full:
        return None
    return np.array(read_bytes(c.mem, d.base, d.rows, d.row_bytes, d.pitch))


TOKEN = "token"  # the format of a notify message (no data)


def synced(c) -> bool:
    """True if ``c`` must wait for the rest of its region to catch up before it acts on chip
    state (its key is above the horizon); else the remote SRAM writes that reached it land now
    (:func:`d1c.runtime.dma_sram.apply_incoming`) and it may act."""
    if (2 * c.now + 1) * c.m.sites + c.gid > c.m.horizon:
        return True
    if c.incoming:
        apply_incoming(c)
    return False


def deliver(m, dst_gid: int, tag: int, msg: Message) -> None:
    """Put ``msg`` into core ``dst_gid``'s mailbox and wake the core if it waits for it."""
    dst = m.cores[dst_gid]
    key = (dst_gid, msg.src, tag)
    q = m.mail.get(key)
    if q is None:
        q = m.mail[key] = deque()
    q.append(msg)
    dst.inbox.append(msg)
    if len(dst.inbox) > max(INBOX_CHECK, 2 * dst.kept):
        settle(m, dst)
    if dst.wait == ("recv", msg.src, tag):
        m.wake(dst, msg.arrival)


INBOX_CHECK = 256
"""Delivered messages a core keeps before its mailbox check runs up to the current cycle."""


def settle(m, c) -> None:
    """Check ``c``'s mailbox for overflows before ``m.clock`` (every entry before it has been
    processed, so every recv that took a message before it has run) and forget the messages that
    arrived and were taken before it: they cannot matter any more."""
    got = mailbox_overflow(c, m.clock)
    if got is not None:
        m.fault(*overflow_fault(m, c, *got))
    c.checked = m.clock
    c.inbox = [msg for msg in c.inbox if msg.taken < 0 or msg.taken >= m.clock]
    c.kept = len(c.inbox)  # the next check waits until as many more arrived (amortised)


def overflow_fault(m, c, cycle: int, message: str) -> tuple[tuple, str]:
    """The (heap key, message) of a mailbox overflow of ``c`` at ``cycle``."""
    return (2 * cycle * m.sites, c.gid, -1, ()), message


def _arrive(m, fl: Flight) -> None:
    """A message (or one copy of a multicast) reached ``fl.way[fl.leg]``."""
    gids, tag, fmt, bias, data, src, issued = fl.payload
    deliver(m, gids[fl.leg], tag, Message(fl.arrival, fl.nbytes, fmt, bias, data, src))
    if m.trace is not None:
        to = fmt_coord(m.mesh.coord_of_gid(gids[fl.leg]))
        name = {"msg": "send", "mcast": "mcast", "token": "notify"}[fl.kind]
        args = {"to": to, "tag": tag} if fl.kind == "token" else {"to": to, "tag": tag, "bytes": fl.nbytes}  # fmt: skip
        m.trace.append((name, src, issued, fl.arrival - issued, args))
    if fl.kind == "mcast" and fl.origin[2] == 0:
        _branches(m, fl)


def _branches(m, fl: Flight) -> None:
    """From the multicast's nearest destination, one flight down each side of the segment."""
    (gid, seq, _), sides = fl.origin, fl.payload[0][2]
    for branch, (way, gids) in enumerate(sides, start=1):
        if len(way) > 1:
            payload = (gids, *fl.payload[1:])
            m.net.fly(m, Flight("mcast", way, fl.head, fl.tail, fl.nbytes, (gid, seq, branch), payload))  # fmt: skip


ARRIVALS["msg"] = ARRIVALS["mcast"] = ARRIVALS["token"] = _arrive


def ex_send(c, pc, op):
    _, ta, a, tag = op
    if synced(c):
        return YIELD
    dgid, dpos = _dest(c, c.x[a], "send")
    d = c.t[ta]
    data = _payload(c, d, "send")
    payload = ((c.gid, dgid), tag, d.fmt, d.bias, data, c.gid, c.now)
    c.m.net.fly(c.m, Flight("msg", (c.pos, dpos), c.now, -1, d.nbytes, (c.gid, c.next_seq(), 0), payload))  # fmt: skip
    c.now += 1
    return pc + 1


def ex_mcast(c, pc, op):
    _, ta, a, b, tag = op
    m = c.m
    if synced(c):
        return YIELD
    mesh = m.mesh
    packed = mcast_targets(c.x[a], c.x[b], mesh.grid_w, mesh.grid_h)
    coords = [mesh.unpack(p) for p in packed]
    coords = [k for k in coords if k != c.coord and (not mesh.exists(k) or mesh.enabled(k))]
    dsts = [_dest(c, _pack(k), "mcast") for k in coords]
    d = c.t[ta]
    data = _payload(c, d, "mcast")
    if dsts:
        near = min(range(len(dsts)), key=lambda i: (_dist(c.pos, dsts[i][1]), i))
        left, right = dsts[near::-1], dsts[near:]
        sides = tuple((tuple(p for _, p in s), tuple(g for g, _ in s)) for s in (left, right))
        payload = ((c.gid, dsts[near][0], sides), tag, d.fmt, d.bias, data, c.gid, c.now)
        fl = Flight("mcast", (c.pos, dsts[near][1]), c.now, -1, d.nbytes, (c.gid, c.next_seq(), 0), payload)  # fmt: skip
        m.net.fly(m, fl)
    c.now += 1
    return pc + 1


def _pack(k) -> int:
    return (k[0] << 24) | (k[1] << 16) | (k[2] << 8) | k[3]


def _dist(a, b) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def _mailbox(c, a: int, tag: int, what: str):
    """(sender coordinate, the queue of its messages on ``tag`` to ``c``), or None after making
    ``c`` wait for the first one (``recv`` and ``await`` take from the same FIFO)."""
    src = c.m.mesh.checked(c.x[a], what)
    sgid = c.m.mesh.gid(src)
    q = c.m.mail.get((c.gid, sgid, tag))
    if not q:
        c.wait = ("recv", sgid, tag)
        return None
    return src, q


def ex_recv(c, pc, op):
    _, td, a, tag = op
    m = c.m
    box = _mailbox(c, a, tag, "recv")
    if box is None:
        return BLOCK
    src, q = box
    msg = q[0]
    d = c.t[td]
    _check_message(d, msg, src)
    _touch(c, d, "recv")
    q.popleft()
    m.stall(c, "recv", msg.arrival)
    msg.taken = c.now
    if msg.data is not None and msg.nbytes:
        write_bytes(c.mem, d.base, msg.data.reshape(d.rows, d.row_bytes), d.pitch)
    c.sram_wr += msg.nbytes
    c.noc_rx += msg.nbytes
    c.now += 1
    return pc + 1


def ex_notify(c, pc, op):
    _, a, tag = op
    if synced(c):
        return YIELD
    dgid, dpos = _dest(c, c.x[a], "notify")
    payload = ((c.gid, dgid), tag, TOKEN, 0, None, c.gid, c.now)
    c.m.net.fly(c.m, Flight("token", (c.pos, dpos), c.now, -1, 0, (c.gid, c.next_seq(), 0), payload))  # fmt: skip
    c.now += 1
    return pc + 1


def ex_await(c, pc, op):
    _, a, tag = op
    m = c.m
    if synced(c):  # a synchronising instruction: remote SRAM writes land here
        return YIELD
    box = _mailbox(c, a, tag, "await")
    if box is None:
        return BLOCK
    src, q = box
    msg = q[0]
    if msg.fmt != TOKEN:
        raise SimulationError(
            f"await: the message from {fmt_coord(src)} on tag {tag} carries {msg.nbytes} bytes "
            "of data, not a token (recv takes it)"
        )
    q.popleft()
    m.stall(c, "recv", msg.arrival)
    msg.taken = c.now
    c.now += 1
    return pc + 1


def _check_message(d, msg: Message, src) -> None:
    if msg.fmt == TOKEN:
        raise SimulationError(
            f"recv: the message from {fmt_coord(src)} is a token (await takes it)"
        )
    if msg.fmt != d.fmt or (d.fmt in CFLOAT and msg.bias != d.bias):
        raise SimulationError(
            f"recv: format/bias mismatch: message from {fmt_coord(src)} holds {msg.fmt} bias {msg.bias}, tile is {d.fmt} bias {d.bias}"
        )
    if msg.nbytes != d.nbytes:
        raise SimulationError(
            f"recv: message from {fmt_coord(src)} has {msg.nbytes} bytes, tile {d.rows}x{d.cols} {d.fmt} has {d.nbytes}"
        )


def mailbox_overflow(c, before: float) -> tuple[int, str] | None:
    """(cycle, message) of the first time before ``before`` at which the messages that have
    arrived at ``c`` but were not yet taken do not fit in its free SRAM, or None.

    Free SRAM at cycle t = the SRAM size minus the bytes in use: ``[0, hwm)`` for the tiles used
    before t and the core's SRAM images and parameter row (:attr:`CoreState.fixed`). A message
    occupies SRAM from its arrival to the cycle a recv took it. Arrivals before ``c.checked``
    were checked already (:func:`settle`).
    """
    size = c.mem.size
    if not c.inbox or sum(msg.nbytes for msg in c.inbox) <= size - _used(c, c.hwm):
        return None  # even all of them at once would fit
    changes = sorted([(msg.arrival, msg.nbytes, msg) for msg in c.inbox if msg.arrival < before]
                     + [(msg.taken, -msg.nbytes, msg) for msg in c.inbox if msg.taken >= 0],
                     key=lambda e: (e[0], e[1] < 0))  # fmt: skip
    times = [t for t, _ in c.hwm_log]
    held = 0
    for t, delta, msg in changes:
        held += delta
        if delta <= 0 or t < c.checked:
            continue
        i = bisect.bisect_left(times, t)
        free = size - _used(c, c.hwm_log[i - 1][1] if i else 0)
        if held > free:
            sender = fmt_coord(c.m.mesh.coord_of_gid(msg.src))
            return t, (
                f"core {c.name}: at cycle {t} the message from {sender} ({msg.nbytes} bytes) "
                f"arrives while {held - msg.nbytes} bytes of earlier messages wait to be "
                f"received; together they overflow the {max(0, free)} free bytes of its SRAM"
            )
    return None


def _used(c, hwm: int) -> int:
    """Bytes of SRAM in use with high-water mark ``hwm``: ``[0, hwm)`` and the fixed spans."""
    return hwm + sum(max(0, end - max(start, hwm)) for start, end in c.fixed)


# ---------------------------------------------------------------- barrier and semaphores
def ex_barrier(c, pc, op):
    _, a, bid = op
    if c.passed:
        c.passed = False
        c.now += 1
        return pc + 1
    m, count = c.m, c.x[a]
    if synced(c):
        return YIELD
    if barrier(1, count):
        m.passed_barrier(c.now, bid, c.now, c.now)
        c.now += 1
        return pc + 1
    at, seq = c.now + m.net.latency(c.pos, m.root), c.next_seq()
    m.post(at, (c.gid, seq, (0,)), m.chip_of(m.root), "barrier", bid, count, c.gid, seq, c.pos, c.now)  # fmt: skip
    c.wait = ("barrier", bid, count)
    return BLOCK


@handler("barrier")
def _arrival(m, time: int, bid: int, count: int, gid: int, seq: int, pos, issued: int) -> None:
    """The controller hears of an arrival; the last one releases every arrived core."""
    want, arrived = m.barriers.setdefault(bid, (count, []))
    if want != count:
        name = fmt_coord(m.mesh.coord_of_gid(gid))
        raise SimulationError(
            f"barrier {bid}: core {name} expects {count} cores, others expect {want}"
        )
    arrived.append((gid, pos, issued))
    if not barrier(len(arrived), count):
        return
    del m.barriers[bid]
    chips: dict[int, list] = {}
    for g, p, _ in arrived:
        chips.setdefault(m.chip_of(p), []).append((g, time + m.net.latency(m.root, p)))
    for chip, cores in sorted(chips.items()):
        first = min(at for _, at in cores)
        m.post(first, (gid, seq, (chip + 1,)), chip, "release", tuple(cores))
    released = max(at for cores in chips.values() for _, at in cores)
    m.passed_barrier(time, bid, max(t for _, _, t in arrived), released)


@handler("release")
def _release(m, time: int, cores: tuple) -> None:
    for gid, at in cores:
        c = m.cores[gid]
        c.passed = True
        m.wake(c, at)


def ex_sem_signal(c, pc, op):
    _, a, sem = op
    m = c.m
    if synced(c):
        return YIELD
    dgid, dpos = _dest(c, c.x[a], "sem.signal")
    at = c.now + m.net.latency(c.pos, dpos)
    m.post(at, (c.gid, c.next_seq(), (0,)), m.chip_of(dpos), "sem", dgid, sem)
    c.now += 1
    return pc + 1


@handler("sem")
def _signal(m, time: int, gid: int, sem: int) -> None:
    dst = m.cores[gid]
    dst.sems[sem] = sem_signal(dst.sems[sem])
    w = dst.wait
    if w is not None and w[0] == "sem" and w[1] == sem and sem_wait(dst.sems[sem], w[2])[1]:
        m.wake(dst, time)


def ex_sem_wait(c, pc, op):
    _, sem, count = op
    if synced(c):
        return YIELD
    value, ready = sem_wait(c.sems[sem], count)
    if not ready:
        c.wait = ("sem", sem, count)
        return BLOCK
    c.sems[sem] = value
    c.now += 1
    return pc + 1
