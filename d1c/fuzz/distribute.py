"""Running the chunks of ``d1c fuzz`` (:mod:`d1c.fuzz.runner`) at the same time: in local worker
processes (``--workers N``) or as Ray tasks (``--ray [ADDRESS]``). Chunks are independent and
come back in chunk order, so the merged report is the same as a serial run's.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable

from d1c.errors import D1cError
from d1c.fuzz.runner import Chunk, run_chunk


def _run(job: tuple) -> Chunk:
    return run_chunk(*job)


def run_chunks(jobs: list[tuple], workers: int, ray: str | bool | None,
               done: Callable[[list[Chunk]], None] | None) -> list[Chunk]:  # fmt: skip
    """The chunks of ``jobs`` ((config, index, deadline) each), in order; ``done`` is called
    with the chunks finished so far (in order) after each one."""
    if ray:
        return _on_ray(jobs, ray, done)
    method = "fork" if "fork" in mp.get_all_start_methods() and os.name == "posix" else "spawn"
    chunks: list[Chunk] = []
    with mp.get_context(method).Pool(min(workers, len(jobs)) or 1) as pool:
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
