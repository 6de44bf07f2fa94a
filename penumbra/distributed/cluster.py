"""Ray cluster connection and the set-up of one worker process.

Each worker is its own process with its own Dr.Jit state (Dr.Jit cannot drive several devices from
one process, and forked workers inherit a broken JIT state), pinned either to one GPU (Ray sets
``CUDA_VISIBLE_DEVICES`` for an actor that asks for ``num_gpus=1``) or to a share of the CPU threads
(``dr.set_thread_count``), and with its own kernel-cache directory (``DRJIT_CACHE_DIR``): a cache
shared between processes, e.g. on NFS, can be corrupted by concurrent writers.
"""
from __future__ import annotations

import os
import re
import tempfile

INSTALL_HINT = ("Ray is not installed; install the distributed extra: pip install 'penumbra[distributed]' "
                "(or pip install ray==2.60.0)")


class WorkerError(RuntimeError):
    """A worker raised while running a task; the message names the task and carries the worker's error."""

    def __init__(self, task: str, cause: BaseException | str):
        self.task, self.cause = task, cause
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(cause))    # Ray colours its remote tracebacks
        super().__init__(f"{task} failed: {text}")


def require_ray():
    """Import and return the ``ray`` module, or raise ``ImportError`` saying what to install."""
    try:
        import ray
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None):
    """Connect to the Ray cluster at ``address`` (``"auto"``, ``"ray://host:10001"``, ...) or, with
    ``address=None``, start a local one with ``num_cpus`` CPUs (all by default). Reuses an existing
    connection. Returns the ``ray`` module."""
    ray = require_ray()
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": True}
        if address is None:
            kwargs["num_cpus"] = num_cpus
        ray.init(address=address, **kwargs)
    return ray


def cache_dir(root: str | None, index) -> str:
    """The kernel-cache directory of worker ``index`` under ``root`` (default: a folder in the system's
    temporary directory, i.e. local disk)."""
    root = root or os.path.join(tempfile.gettempdir(), f"penumbra-drjit-cache-{os.getuid()}")
    return os.path.join(root, f"worker{index}")


def worker_env(index, cache_root: str | None = None) -> dict:
    """Environment variables of worker ``index`` (a number or a name), applied by Ray before the process starts."""
    path = cache_dir(cache_root, index)
    os.makedirs(path, exist_ok=True)
    return {"DRJIT_CACHE_DIR": path}


def worker_setup(variant: str | None, threads: int | None) -> str:
    """Configure the Dr.Jit state of the current (worker) process: select the Mitsuba ``variant`` (the
    driver's) and, for the LLVM backend, use ``threads`` worker threads. Returns the variant."""
    import drjit as dr

    import penumbra  # noqa: F401  (registers the integrator plugins)
    from penumbra import renderer
    name = renderer.set_variant(variant)
    if threads and not renderer.is_cuda():
        dr.set_thread_count(int(threads))
    return name
