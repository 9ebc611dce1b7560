"""Regions of a parallel simulation on Ray actors (``pip install -e '.[ray]'``).

One actor per region runs a :class:`d1c.runtime.parallel.RegionWorker`; the coordinator of
:mod:`d1c.runtime.parallel` calls every actor's ``step`` once per time window and waits for all
of them (the window barrier), so the results are the same as with local worker processes.

``address`` is a Ray cluster address (``ray://host:10001`` or ``host:6379``, as ``ray.init``
takes it), or True to join the cluster named by ``RAY_ADDRESS`` or else start a local Ray with
as many CPUs as this host has (``D1C_RAY_CPUS`` overrides the count). The program goes to the
object store once and every actor reads it from there.
"""

from __future__ import annotations

import os

from d1c.isa.errors import D1cError
from d1c.runtime.parallel import RegionWorker


def connect(address: str | bool) -> None:
    """Join (or start) a Ray cluster unless this process is connected already."""
    import ray

    if ray.is_initialized():
        return
    if isinstance(address, str):
        ray.init(address=address, log_to_driver=False)
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False)
        return
    cpus = int(os.environ.get("D1C_RAY_CPUS", os.cpu_count() or 1))
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)


def cluster_cpus(address: str | bool) -> int:
    """The CPUs of the Ray cluster at ``address`` (joined or started first)."""
    ray = _import_ray()
    connect(address)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _import_ray():
    try:
        import ray
    except ImportError:
        raise D1cError("--ray needs Ray", hint="install it with: pip install -e '.[ray]'") from None
    return ray


class RayBackend:
    """The regions as Ray actors (same calls as :class:`d1c.runtime.parallel.ProcessBackend`)."""

    def __init__(self, args: list[tuple], address: str | bool) -> None:
        ray = self.ray = _import_ray()
        connect(address)
        actor = ray.remote(num_cpus=1)(RegionWorker)
        prog = ray.put(args[0][0])
        self.actors = [actor.remote(prog, *a[1:]) for a in args]
        self.first = self._all([a.next_time.remote() for a in self.actors])

    def _all(self, refs: list):
        try:
            return self.ray.get(refs)
        except self.ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, D1cError):
                raise cause from None
            raise D1cError(f"a Ray worker failed: {err}") from None
        except self.ray.exceptions.RayError as err:
            raise D1cError(f"a Ray worker failed: {err}") from None

    def step(self, end: float, incoming: list[list]) -> list:
        return self._all([a.step.remote(end, inc) for a, inc in zip(self.actors, incoming, strict=True)])  # fmt: skip

    def finish(self) -> list[dict]:
        return self._all([a.finish.remote() for a in self.actors])

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
