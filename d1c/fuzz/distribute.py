"""Running the chunks of ``d1c fuzz`` (:mod:`d1c.fuzz.runner`) at the same time: in local worker
processes (``--workers N``) or as Ray tasks (``--ray [ADDRESS]``). Chunks are independent and
come back in chunk order, so the merged report is the same as a serial run's.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable

from d1c.errors import D1cError
from d1c.fuzz.runner import Chunk, run_chunk


def _run(job: tuple) -> Chunk:
    return run_chunk(*job)


def _context() -> mp.context.BaseContext:
    """Workers that never inherit a parent's thread pools: a chunk runs torch, and a child forked
    from a process whose OpenMP pool has run waits forever in its first parallel torch op. A fork
    server (started clean, with the fuzzer imported once) forks them where it can; else spawn."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["d1c.fuzz.runner"])
    return ctx


def run_chunks(jobs: list[tuple], workers: int, ray: str | bool | None,
               done: Callable[[list[Chunk]], None] | None) -> list[Chunk]:  # fmt: skip
    """The chunks of ``jobs`` ((config, index, deadline) each), in order; ``done`` is called
    with the chunks finished so far (in order) after each one."""
    if ray:
        return _on_ray(jobs, ray, done)
    chunks: list[Chunk] = []
    with _context().Pool(min(workers, len(jobs)) or 1) as pool:
        try:
            for chunk in pool.imap(_run, jobs):
                chunks.append(chunk)
                if done is not None:
                    done(chunks)
        except KeyboardInterrupt:
            pool.terminate()
            chunks.append(Chunk(stopped="interrupted"))
    return chunks


def _on_ray(jobs: list[tuple], address: str | bool, done) -> list[Chunk]:
    from d1c.runtime.ray_backend import _import_ray, connect

    ray = _import_ray()
    connect(address)
    task = ray.remote(num_cpus=1)(_run)
    refs = [task.remote(job) for job in jobs]
    chunks: list[Chunk] = []
    try:
        for ref in refs:
            chunks.append(ray.get(ref))
            if done is not None:
                done(chunks)
    except ray.exceptions.RayError as err:
        raise D1cError(f"a Ray fuzz task failed: {err}") from None
    return chunks
