"""Scale-out on Ray (optional extra ``penumbra[distributed]``).

Dr.Jit and Mitsuba run one device per process; the supported way to use several GPUs or many CPU
cores is one process per device with the work distributed between them. This package does that on
Ray, an existing distributed engine:

* :mod:`.cluster`: connecting to (or starting) a Ray cluster, the per-worker process set-up (variant,
  thread count or GPU, own kernel-cache directory) and :class:`WorkerError`;
* :mod:`.gradients`: data-parallel gradients: :class:`DataParallel` splits the items (views, scenes,
  RIR configurations) of one objective across N actors, sums their losses and gradients, and plugs
  into :func:`penumbra.optim.optimize` as an ordinary objective (checkpoints and resume included);
* :mod:`.batch`: :func:`run_batch` runs independent tasks as Ray tasks and gathers one report;
* :mod:`.options`: the jobs' ``--workers`` / ``--ray-address``.

Ray is imported only when one of these is used; :func:`require_ray` says what to install otherwise.
"""
from .cluster import WorkerError, connect, require_ray, worker_setup
from .gradients import DataParallel, local_gradients
from .batch import BatchReport, run_batch

__all__ = ["WorkerError", "connect", "require_ray", "worker_setup", "DataParallel", "local_gradients",
           "BatchReport", "run_batch"]
