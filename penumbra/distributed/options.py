"""The jobs' scale-out options: ``--workers N`` and ``--ray-address ADDRESS``.

``--workers 0`` (the default) runs the job in this process without Ray; ``--workers N`` (N >= 1) runs
its work on N Ray worker processes, on a local Ray instance or, with ``--ray-address``, on an existing
cluster (``auto`` for the cluster this machine belongs to, ``ray://head:10001`` for a remote head).
"""
from __future__ import annotations

from penumbra.renderer import checks

from .cluster import INSTALL_HINT


def add_arguments(parser, what: str):
    """Add ``--workers`` / ``--ray-address`` to a job's parser; ``what`` says what the workers share."""
    parser.add_argument("--workers", type=checks.cli_int(lo=0), default=0,
                        help=f"Ray worker processes that share {what} (0: run in this process, no Ray; "
                        "needs the distributed extra: pip install 'penumbra[distributed]')")
    parser.add_argument("--ray-address", default=None,
                        help="address of an existing Ray cluster for --workers ('auto', 'ray://head:10001'); "
                        "default: start a local one")


def requested(args) -> int:
    """The number of Ray workers the job's ``args`` ask for (0: none), after checking that Ray is
    installed and that ``--ray-address`` comes with ``--workers``; raises ``ValueError`` otherwise."""
    workers = getattr(args, "workers", 0) or 0
    if getattr(args, "ray_address", None) and not workers:
        raise ValueError("--ray-address needs --workers N (N >= 1)")
    if workers:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ValueError(f"--workers {workers}: {INSTALL_HINT}") from None
    return workers
