"""Data-parallel gradients of one objective over N Ray actors.

An objective that is a weighted sum over items (the views of a reconstruction, the scenes or RIR
configurations of a study; :mod:`penumbra.optim.items`) is described by a *factory*: a picklable
callable that, run once inside each worker process, returns ``loss_fn(values, items, step)``, the
Dr.Jit scalar sum of the losses of ``items`` at optimizer step ``step`` for the parameter ``values``
(``{name: Dr.Jit array}``); in one process, the same ``loss_fn`` runs as
:class:`penumbra.optim.ItemObjective`. Any
randomness must be seeded from ``(step, item)`` alone (e.g. ``seed = step * n_items + item``), never
from the worker, so that the split of the items, and a retry on a replacement worker, leave the result
unchanged.

:class:`DataParallel` starts the actors, and for each step broadcasts the values (NumPy), gives each
actor a contiguous shard of the step's items, and sums the returned losses and gradients (with respect
to the values, in value space). Called with ``values`` it returns a Dr.Jit scalar attached to the AD
graph whose value is the summed loss and whose gradient with respect to each value is the summed
gradient, so it is an ordinary objective of :func:`penumbra.optim.optimize` (the optimizer's
transforms, checkpoints and resume run on the driver unchanged).

Faults: an actor that dies (killed process, lost node) is replaced by a new one built from the same
factory and its shard is run again (same seeds, same result), up to ``retries`` times per step; an
error raised inside ``loss_fn`` comes back as :class:`WorkerError` naming the step, the items and the
worker, with the worker's traceback.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Sequence

import numpy as np

from penumbra.optim.items import mean_weight
from penumbra.renderer import checks

from .cluster import WorkerError, connect, worker_env, worker_setup


def _value_types(values: dict) -> dict:
    """``{name: Mitsuba type name}`` of Dr.Jit values (resolved again inside the worker's variant)."""
    from penumbra.renderer.arrays import is_drjit
    out = {}
    for k, v in values.items():
        if not is_drjit(v):
            raise TypeError(f"DataParallel: value {k!r} is a {type(v).__name__}, not a Dr.Jit array")
        out[k] = type(v).__name__
    return out


def local_gradients(loss_fn: Callable, values: dict, types: dict, items: Sequence[int], step: int):
    """Evaluate ``loss_fn(values, items, step)`` in this process and differentiate it.

    ``values`` maps names to NumPy arrays and ``types`` to Mitsuba type names (``"Float"``,
    ``"Color3f"``, ``"TensorXf"``...). Returns ``(loss, {name: gradient as NumPy})``."""
    import drjit as dr
    import mitsuba as mi

    from penumbra.renderer.arrays import from_numpy, is_drjit, to_numpy
    x = {}
    for k, a in values.items():
        x[k] = from_numpy(getattr(mi, types[k])(), a)
        dr.enable_grad(x[k])
    loss = loss_fn(x, list(items), step)
    if not is_drjit(loss):
        raise TypeError(f"the loss function returned {type(loss).__name__}, not a Dr.Jit scalar")
    value = float(np.asarray(to_numpy(loss)).ravel()[0])
    dr.backward(loss)
    return value, {k: to_numpy(dr.grad(v)) for k, v in x.items()}


class GradientWorker:
    """The actor: one process with its own Dr.Jit state holding one ``loss_fn`` built by the factory."""

    def __init__(self, factory: Callable, variant: str | None, threads: int | None):
        worker_setup(variant, threads)
        self.loss_fn = factory()

    def pid(self) -> int:
        return os.getpid()

    def evaluate(self, values: dict, types: dict, items: list, step: int):
        """``(loss, gradients, seconds)``: :func:`local_gradients` and the time it took here."""
        t0 = time.perf_counter()
        loss, grads = local_gradients(self.loss_fn, values, types, items, step)
        return loss, grads, time.perf_counter() - t0


def linearized(values: dict, loss: float, grads: dict):
    """A Dr.Jit scalar equal to ``loss`` whose gradient with respect to ``values[k]`` is ``grads[k]``:
    the first-order expansion ``loss + Σ_k <values[k] - detach(values[k]), grads[k]>`` at the values.
    Its value is ``loss`` exactly, even where a gradient is not finite (the optimizer then reports the
    gradient, not the loss, as NaN)."""
    import drjit as dr
    import mitsuba as mi

    from penumbra.renderer.arrays import from_numpy
    linear = mi.Float(0.0)
    for k, v in values.items():
        g = from_numpy(v, grads[k])
        if dr.is_tensor_v(v):
            v, g = v.array, g.array
        linear = linear + mi.Float(dr.sum((v - dr.detach(v)) * g, axis=None))
    return dr.replace_grad(mi.Float(loss), linear)


class DataParallel:
    """Sum a loss and its gradient over items split across ``workers`` Ray actors.

    ``factory``: picklable, builds ``loss_fn(values, items, step)`` in each worker (module docstring).
    ``n_items``: how many items the objective has. ``schedule(step)``: the items of a step (default:
    all). ``weight(items)``: the factor of the summed loss (default ``1 / len(items)``, the mean).
    ``address``: an existing Ray cluster (``"auto"``, ``"ray://head:10001"``); None starts a local one.
    ``threads``: Dr.Jit CPU threads per worker (default: the CPUs of the machine divided among the
    workers); ``gpus``: GPUs per worker (default: 1 when the driver's variant is CUDA, else 0).
    ``cache_root``: the folder of the workers' own kernel caches. ``retries``: replacements per step
    for dead workers. ``timeout``: seconds a step may take before :class:`WorkerError` (None: no limit).

    Use as ``optimize(engine, variables, steps, ...)``; the loop tells the engine the step
    (``set_step``) so seeds stay a function of the step also after a resume.
    """

    def __init__(self, factory: Callable, n_items: int, workers: int = 2,
                 schedule: Callable[[int], Sequence[int]] | None = None,
                 weight: Callable[[Sequence[int]], float] | None = None, address: str | None = None,
                 threads: int | None = None, gpus: float | None = None, cache_root: str | None = None,
                 retries: int = 2, timeout: float | None = None):
        from penumbra import renderer
        self.n_items = checks.integer("DataParallel(n_items=...)", n_items, lo=1)
        self.workers = checks.integer("DataParallel(workers=...)", workers, lo=1)
        self.retries = checks.integer("DataParallel(retries=...)", retries, lo=0)
        if timeout is not None:
            checks.positive("DataParallel(timeout=...)", timeout)
        self.timeout = timeout
        self.factory, self.cache_root = factory, cache_root
        self.schedule = schedule or (lambda step: range(self.n_items))
        self.weight = weight or mean_weight
        self.variant = renderer.ensure_variant()
        self.gpus = (1.0 if renderer.is_cuda() else 0.0) if gpus is None else float(gpus)
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.workers)
        self.ray = connect(address)
        self.step = 0
        self.replaced = 0          # how many dead workers were replaced (for reports and tests)
        self.timing = {}           # the last step's wall time and its slowest worker's compute time
        self.actors = [self._start(j) for j in range(self.workers)]

    # -- actors --------------------------------------------------------------------------------------

    def _start(self, index: int):
        remote = self.ray.remote(GradientWorker).options(
            num_cpus=self.threads if self.gpus == 0 else 1, num_gpus=self.gpus, max_restarts=0,
            runtime_env={"env_vars": worker_env(index, self.cache_root)})
        return remote.remote(self.factory, self.variant, self.threads)

    def replace(self, index: int):
        """Kill worker ``index`` (if still alive) and start a new one in its place."""
        try:
            self.ray.kill(self.actors[index], no_restart=True)
        except Exception:     # already dead
            pass
        self.actors[index] = self._start(index)
        self.replaced += 1

    def pids(self) -> list[int]:
        """Process ids of the workers (for fault tests)."""
        return self.ray.get([a.pid.remote() for a in self.actors])

    def shutdown(self):
        for a in self.actors:
            self.ray.kill(a, no_restart=True)
        self.actors = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()

    # -- one step ------------------------------------------------------------------------------------

    def shards(self, items: Sequence[int]) -> list[list[int]]:
        """Contiguous shards of ``items``, one per worker (empty ones dropped)."""
        return [list(map(int, s)) for s in np.array_split(np.asarray(list(items), dtype=np.int64), self.workers)
                if len(s)]

    def gradients(self, values: dict, step: int):
        """Summed ``(loss, {name: gradient})`` (NumPy) over the items of ``step``, weighted by ``weight``.
        Sets ``timing``: the step's wall time and the slowest worker's compute time (the rest is the
        distribution's overhead: broadcast, scheduling, transfers, summing)."""
        from penumbra.renderer.arrays import to_numpy
        ray = self.ray
        t0 = time.perf_counter()
        items = [int(i) for i in self.schedule(step)]
        if not items:
            raise ValueError(f"DataParallel: schedule({step}) gave no items")
        for i in items:
            if not 0 <= i < self.n_items:
                raise ValueError(f"DataParallel: schedule({step}) gave item {i}, outside [0, {self.n_items})")
        types = _value_types(values)
        arrays = ray.put({k: to_numpy(v) for k, v in values.items()})
        shards = self.shards(items)
        pending = {j: self.actors[j].evaluate.remote(arrays, types, shard, step) for j, shard in enumerate(shards)}
        results, attempts = {}, dict.fromkeys(pending, 0)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            done, _ = ray.wait(list(pending.values()), num_returns=1, timeout=left)
            if not done:
                j = next(iter(pending))
                raise WorkerError(f"step {step}, items {shards[j]} on worker {j}",
                                  f"no result within timeout={self.timeout} s")
            j = next(k for k, ref in pending.items() if ref == done[0])
            try:
                results[j] = ray.get(done[0])
                del pending[j]
            except ray.exceptions.RayActorError as e:   # the process died: replace it and retry
                attempts[j] += 1
                if attempts[j] > self.retries:
                    raise WorkerError(f"step {step}, items {shards[j]} on worker {j}",
                                      f"the worker died {attempts[j]} times (last: {e})") from None
                self.replace(j)
                pending[j] = self.actors[j].evaluate.remote(arrays, types, shards[j], step)
            except ray.exceptions.RayTaskError as e:
                raise WorkerError(f"step {step}, items {shards[j]} on worker {j}", e) from None
        w = float(self.weight(items))
        loss = w * sum(results[j][0] for j in sorted(results))
        grads = {k: w * sum(results[j][1][k] for j in sorted(results)) for k in values}
        self.timing = {"seconds": time.perf_counter() - t0, "compute": max(r[2] for r in results.values())}
        return loss, grads

    def set_step(self, step: int):
        """Set the step whose items (and seeds) the next call evaluates (called by ``optimize``)."""
        self.step = int(step)

    def __call__(self, values: dict):
        """The objective: the weighted summed loss of the current step, attached to ``values``' AD graph.
        Advances the step by one."""
        loss, grads = self.gradients(values, self.step)
        self.step += 1
        return linearized(values, loss, grads)
