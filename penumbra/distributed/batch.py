"""Independent tasks as Ray tasks: an attack per object, a RIR per room, the runs of a sweep.

:func:`run_batch` submits ``fn(task)`` for every task, each in a worker process set up like the
data-parallel workers (the driver's Mitsuba variant, a share of the CPU threads or one GPU, a kernel
cache on the node's local disk), shows progress over finished tasks, and gathers everything into one
:class:`BatchReport`: results in task order, and for every task that raised, its error with the
worker's traceback (a failed task never hangs the batch nor loses the others' results). A task whose
worker process died is retried by Ray (``retries`` times) before it is reported as failed.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from penumbra.renderer import checks

from .cluster import WorkerError, connect, worker_env, worker_setup


def _run_task(fn, task, variant, threads):
    worker_setup(variant, threads)
    return fn(task)


@dataclass
class BatchReport:
    """Outcome of :func:`run_batch`: ``results[i]`` is ``fn(tasks[i])`` or None when it failed;
    ``errors`` maps the index of every failed task to its :class:`WorkerError`."""
    tasks: list
    results: list
    errors: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_errors(self):
        """Raise the first task's error, if any task failed."""
        if self.errors:
            raise self.errors[min(self.errors)]

    def summary(self) -> dict:
        """A JSON-serialisable report (results must be JSON-serialisable themselves)."""
        return {"tasks": len(self.tasks), "failed": len(self.errors), "seconds": self.seconds,
                "results": [{"task": t, "result": r, "error": str(self.errors[i]) if i in self.errors else None}
                            for i, (t, r) in enumerate(zip(self.tasks, self.results))]}

    def write(self, path: str) -> str:
        with open(path, "w") as f:
            json.dump(self.summary(), f, indent=2, default=str)
        return path


def run_batch(fn: Callable, tasks: Sequence, workers: int | None = None, address: str | None = None, threads: int = 1,
              gpus: float | None = None, cache_root: str | None = None, retries: int = 1, progress: bool = True,
              description: str = "tasks") -> BatchReport:
    """Run ``fn(task)`` (picklable) for each of ``tasks`` on the Ray cluster at ``address`` (None: a local
    one), at most ``workers`` at a time (None: as many as the cluster's resources allow), and return a
    :class:`BatchReport`. ``threads``: Dr.Jit CPU threads (and Ray CPUs) per task;
    ``gpus``: GPUs per task (default: 1 when the driver's variant is CUDA)."""
    from tqdm.auto import tqdm

    from penumbra import renderer
    tasks = list(tasks)
    threads = checks.integer("run_batch(threads=...)", threads, lo=1)
    retries = checks.integer("run_batch(retries=...)", retries, lo=0)
    if workers is not None:
        workers = checks.integer("run_batch(workers=...)", workers, lo=1)
    variant = renderer.ensure_variant()
    gpus = (1.0 if renderer.is_cuda() else 0.0) if gpus is None else float(gpus)
    ray = connect(address)
    remote = ray.remote(_run_task).options(num_cpus=threads if gpus == 0 else 1, num_gpus=gpus,
                                           max_retries=retries,
                                           runtime_env={"env_vars": worker_env("batch", cache_root)})
    t0 = time.perf_counter()
    index, pending, queue = {}, [], list(range(len(tasks)))[::-1]

    def submit():
        while queue and (workers is None or len(pending) < workers):
            i = queue.pop()
            ref = remote.remote(fn, tasks[i], variant, threads)
            index[ref] = i
            pending.append(ref)

    results, errors = [None] * len(tasks), {}
    with tqdm(total=len(tasks), desc=description, disable=not progress, dynamic_ncols=True) as bar:
        submit()
        while pending:
            done, _ = ray.wait(pending, num_returns=1)
            pending.remove(done[0])
            i = index[done[0]]
            try:
                results[i] = ray.get(done[0])
            except (ray.exceptions.RayTaskError, ray.exceptions.WorkerCrashedError) as e:
                errors[i] = WorkerError(f"task {i} ({tasks[i]!r})", e)
            bar.update(1)
            submit()
    return BatchReport(tasks, results, errors, time.perf_counter() - t0)
