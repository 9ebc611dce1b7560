"""NoC and synchronisation instructions: send, recv, mcast, notify, await, barrier, sem.signal,
sem.wait.

Messages (spec: ``send`` copies the tile's bytes when it issues)
    A send reads its tile (format, bias and bytes) at issue and reserves the route's links
    (:mod:`d1c.runtime.noc`); the message waits in the receiver's mailbox for ``(source, tag)``
    in send order. ``recv`` takes the oldest such message; if none was sent yet the core blocks.
    The receiving core's clock moves to the arrival time if it is earlier (a ``recv`` stall).
    The message must have the receiving tile's byte count and the same format (and CFloat bias),
    else a format/bias-mismatch or size fault. Sending to a disabled site, a coordinate outside
    the mesh or a core that runs no program is a fault.

Tokens: ``notify`` sends a message without data (it arrives after the route's latency) and
``await`` takes one, like ``recv``: same mailbox, same FIFO per (source, destination, tag), and a
data message is a fault for ``await`` as a token is for ``recv``.

Semaphores: ``sem.signal`` reaches its target after the route latency (an event); ``sem.wait``
sees only signals that arrived by its time. Barriers: a barrier id completes when as many cores
as the count have arrived; each is released at (latest arrival + route latency from the latest
arriver), so the release models one notification from the last core.

send, mcast, sem.signal and sem.wait act on shared state at their issue time, so they YIELD when
the core's clock is ahead of the earliest pending time (``machine.horizon``): all of them then
happen in simulated-time order whatever order the host ran the cores in.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from d1c.isa.errors import SimulationError
from d1c.isa.semantics import barrier, sem_signal, sem_wait
from d1c.isa.tiles import CFLOAT, mcast_targets
from d1c.runtime.core import BLOCK, YIELD
from d1c.runtime.machine import Message
from d1c.runtime.memory import check_tile, read_bytes, write_bytes
from d1c.target.mesh import fmt_coord


def _dest(c, packed: int, what: str):
    m = c.m
    coord = m.mesh.checked(packed, what)
    dst = m.running(m.mesh.gid(coord))
    if dst is None:
        raise SimulationError(f"{what}: core {fmt_coord(coord)} runs no program")
    return dst


def _touch(c, d, what: str) -> None:
    """Check tile ``d`` against SRAM and raise the core's SRAM high-water mark to its end."""
    check_tile(d, c.mem.size, what)
    end = d.base + d.span
    if end > c.hwm:
        c.hwm = end


def _payload(c, d, what: str) -> Message:
    _touch(c, d, what)
    data = None
    if c.m.full:
        data = np.array(read_bytes(c.mem, d.base, d.rows, d.row_bytes, d.pitch))
    c.sram_rd += d.nbytes
    c.noc_tx += d.nbytes
    return Message(0, d.nbytes, d.fmt, d.bias, data)


def _deliver(c, dst, tag: int, msg: Message) -> None:
    m = c.m
    key = (dst.gid, c.gid, tag)
    q = m.mail.get(key)
    if q is None:
        q = m.mail[key] = deque()
    q.append(msg)
    if dst.wait == ("recv", c.gid, tag):
        m.wake(dst, msg.arrival)


def ex_send(c, pc, op):
    _, ta, a, tag = op
    m = c.m
    if c.now > m.horizon:
        return YIELD
    dst = _dest(c, c.x[a], "send")
    msg = _payload(c, c.t[ta], "send")
    msg.arrival = m.net.send(c.pos, dst.pos, msg.nbytes, c.now)
    if m.trace is not None:
        m.event("send", c, c.now, msg.arrival - c.now, to=dst.name, tag=tag, bytes=msg.nbytes)
    _deliver(c, dst, tag, msg)
    c.now += 1
    return pc + 1


def ex_mcast(c, pc, op):
    _, ta, a, b, tag = op
    m = c.m
    if c.now > m.horizon:
        return YIELD
    mesh = m.mesh
    packed = mcast_targets(c.x[a], c.x[b], mesh.grid_w, mesh.grid_h)
    coords = [mesh.unpack(p) for p in packed]
    coords = [k for k in coords if k != c.coord and (not mesh.exists(k) or mesh.enabled(k))]
    dsts = [_dest(c, _pack(k), "mcast") for k in coords]
    base = _payload(c, c.t[ta], "mcast")
    if dsts:
        arrivals = m.net.multicast(c.pos, [d.pos for d in dsts], base.nbytes, c.now)
        for dst, t in zip(dsts, arrivals, strict=True):
            _deliver(c, dst, tag, Message(t, base.nbytes, base.fmt, base.bias, base.data))
        if m.trace is not None:
            m.event("mcast", c, c.now, max(arrivals) - c.now, cores=len(dsts), tag=tag)
    c.now += 1
    return pc + 1


def _pack(k) -> int:
    return (k[0] << 24) | (k[1] << 16) | (k[2] << 8) | k[3]


def ex_recv(c, pc, op):
    _, td, a, tag = op
    m = c.m
    src = m.mesh.checked(c.x[a], "recv")
    sgid = m.mesh.gid(src)
    q = m.mail.get((c.gid, sgid, tag))
    if not q:
        c.wait = ("recv", sgid, tag)
        return BLOCK
    msg = q.popleft()
    d = c.t[td]
    _check_message(d, msg, src)
    _touch(c, d, "recv")
    m.stall(c, "recv", msg.arrival)
    if msg.data is not None and msg.nbytes:
        write_bytes(c.mem, d.base, msg.data.reshape(d.rows, d.row_bytes), d.pitch)
    c.sram_wr += msg.nbytes
    c.noc_rx += msg.nbytes
    c.now += 1
    return pc + 1


TOKEN = "token"  # the format of a notify message (no data)


def ex_notify(c, pc, op):
    _, a, tag = op
    m = c.m
    if c.now > m.horizon:
        return YIELD
    dst = _dest(c, c.x[a], "notify")
    msg = Message(m.net.send(c.pos, dst.pos, 0, c.now), 0, TOKEN, 0, None)
    if m.trace is not None:
        m.event("notify", c, c.now, msg.arrival - c.now, to=dst.name, tag=tag)
    _deliver(c, dst, tag, msg)
    c.now += 1
    return pc + 1


def ex_await(c, pc, op):
    _, a, tag = op
    m = c.m
    src = m.mesh.checked(c.x[a], "await")
    sgid = m.mesh.gid(src)
    q = m.mail.get((c.gid, sgid, tag))
    if not q:
        c.wait = ("recv", sgid, tag)
        return BLOCK
    msg = q.popleft()
    if msg.fmt != TOKEN:
        raise SimulationError(
            f"await: the message from {fmt_coord(src)} on tag {tag} carries {msg.nbytes} bytes "
            "of data, not a token (recv takes it)"
        )
    m.stall(c, "recv", msg.arrival)
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


# ---------------------------------------------------------------- barrier and semaphores
def ex_barrier(c, pc, op):
    _, a, bid = op
    if c.passed:
        c.passed = False
        c.now += 1
        return pc + 1
    m, count = c.m, c.x[a]
    if barrier(1, count):
        m.passed_barrier(bid, c.now, c.now)
        c.now += 1
        return pc + 1
    want, arrived = m.barriers.setdefault(bid, (count, []))
    if want != count:
        raise SimulationError(
            f"barrier {bid}: this core expects {count} cores, others expect {want}"
        )
    arrived.append((c.now, c.gid, c))
    if not barrier(len(arrived), count):
        c.wait = ("barrier", bid, count)
        return BLOCK
    del m.barriers[bid]
    _release(c, bid, arrived)
    c.now += 1
    return pc + 1


def _release(c, bid: int, arrived: list) -> None:
    m = c.m
    t_last, _, last = max(arrived, key=lambda e: (e[0], e[1]))
    released = t_last
    for _, _, p in arrived:
        at = t_last + m.net.latency(last.pos, p.pos)
        released = max(released, at)
        if p is c:
            m.stall(c, "barrier", at)
        else:
            p.passed = True
            m.wake(p, at)
    m.passed_barrier(bid, t_last, released)


def ex_sem_signal(c, pc, op):
    _, a, sem = op
    m = c.m
    if c.now > m.horizon:
        return YIELD
    dst = _dest(c, c.x[a], "sem.signal")
    at = c.now + m.net.latency(c.pos, dst.pos)

    def arrive(time: int) -> None:
        dst.sems[sem] = sem_signal(dst.sems[sem])
        w = dst.wait
        if w is not None and w[0] == "sem" and w[1] == sem and sem_wait(dst.sems[sem], w[2])[1]:
            m.wake(dst, time)

    m.push_event(at, arrive)
    c.now += 1
    return pc + 1


def ex_sem_wait(c, pc, op):
    _, sem, count = op
    if c.now > c.m.horizon:
        return YIELD
    value, ready = sem_wait(c.sems[sem], count)
    if not ready:
        c.wait = ("sem", sem, count)
        return BLOCK
    c.sems[sem] = value
    c.now += 1
    return pc + 1
