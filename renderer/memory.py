"""Memory guard: entry points estimate their peak memory from their arguments and refuse, before
allocating, when the estimate exceeds a limit.

The limit is ``PENUMBRA_MEMORY_LIMIT`` (bytes, or with a K/M/G/T suffix; ``0`` disables the guard)
or :func:`set_memory_limit`, by default 75 % of the memory this process may use: the machine's
physical memory, or the cgroup limit where one is set (containers, CI runners).
"""
from __future__ import annotations

import ctypes
import functools
import os
import re

DEFAULT_FRACTION = 0.75
_override: int | None = None
#: freed heap space (bytes) above which :func:`trim_heap` returns it to the system
TRIM_MIN_FREE = 64 << 20
#: resident set size (bytes) below which :func:`release_freed` does nothing: releasing costs a
#: kernel sync and the page faults of re-touching returned memory, worth it only for large calls
RELEASE_MIN_RESIDENT = 384 << 20


class MemoryLimitError(MemoryError):
    """A call would need more memory than the configured limit; the message says how much and which
    argument to change."""


def _parse_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kKmMgGtT]?)i?[bB]?\s*", text)
    if not m:
        raise ValueError(f"PENUMBRA_MEMORY_LIMIT must be a byte count such as '8G' or '500M', got {text!r}")
    scale = {"": 1, "k": 2 ** 10, "m": 2 ** 20, "g": 2 ** 30, "t": 2 ** 40}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


@functools.lru_cache(maxsize=1)
def machine_memory() -> int:
    """Bytes this process may use: physical memory, capped by a cgroup (v2 or v1) limit (read once per
    process: the guard runs on every level of an image tree, and the files cost ~0.5 ms a read)."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def memory_limit() -> int | None:
    """The limit in bytes, or None when the guard is disabled."""
    if _override is not None:
        return _override or None
    env = os.environ.get("PENUMBRA_MEMORY_LIMIT")
    if env is not None:
        return _parse_bytes(env) or None
    return int(DEFAULT_FRACTION * machine_memory())


def set_memory_limit(nbytes: int | str | None) -> None:
    """Set the limit for this process (bytes or a string such as '8G'; 0 disables the guard;
    None returns to ``PENUMBRA_MEMORY_LIMIT`` or the default)."""
    global _override
    _override = None if nbytes is None else (_parse_bytes(nbytes) if isinstance(nbytes, str) else int(nbytes))


def _fmt(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def guard(what: str, estimate: float, knob: str) -> None:
    """Raise :class:`MemoryLimitError` when ``estimate`` bytes exceed the limit.

    ``what`` names the call and its arguments, ``knob`` says which argument lowers the estimate.
    """
    limit = memory_limit()
    if limit is not None and estimate > limit:
        raise MemoryLimitError(f"{what} would need about {_fmt(estimate)}, above the memory limit of "
                               f"{_fmt(limit)}; reduce {knob}, or raise the limit with "
                               "PENUMBRA_MEMORY_LIMIT (e.g. '32G'; '0' disables the guard)")


# Peak bytes per film pixel, measured with llvm_ad_rgb on the bundled Cornell box (independent of
# spp: Mitsuba's kernels are fused): about 30 B for a primal render, 50-75 B for prb forward +
# backward; Penumbra's boundary estimators add per-pixel splat buffers, so differentiable renders
# are budgeted at 256 B.
BYTES_PER_PIXEL = 64
BYTES_PER_PIXEL_AD = 256


def guard_film(what: str, film, differentiable: bool) -> None:
    """:func:`guard` for a render of ``film`` (an ``mi.Film``): the estimate is the film's pixel
    count times :data:`BYTES_PER_PIXEL` (primal) or :data:`BYTES_PER_PIXEL_AD` (derivatives)."""
    w, h = (int(v) for v in film.crop_size())
    per_pixel = BYTES_PER_PIXEL_AD if differentiable else BYTES_PER_PIXEL
    guard(f"{what} of a {w}x{h} film", float(w) * h * per_pixel, "the film resolution")



class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _libc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        return libc
    except (OSError, AttributeError):   # not glibc, or glibc < 2.33
        return None


_LIBC = _libc()


def trim_heap(min_free: int | None = None) -> int:
    """Return the heap's freed space to the system (glibc ``malloc_trim``) when it exceeds
    ``min_free`` bytes (default :data:`TRIM_MIN_FREE`); returns the freed bytes seen (0 elsewhere
    than glibc). Large NumPy temporaries below glibc's adaptive mmap threshold (up to 32 MiB) are
    served from the heap, whose freed space otherwise stays in the process's resident set. Trimming
    only above a threshold keeps the page faults of re-using trimmed memory off small calls."""
    if _LIBC is None:
        return 0
    free = int(_LIBC.mallinfo2().fordblks)
    if free > (TRIM_MIN_FREE if min_free is None else min_free):
        _LIBC.malloc_trim(0)
    return free


def resident_bytes() -> int | None:
    """The process's current resident set size (Linux ``/proc/self/statm``), or None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def peak_resident_bytes() -> int:
    """The process's peak resident set size. On Linux ``VmHWM`` of ``/proc/self/status``: unlike
    ``getrusage().ru_maxrss``, which Linux carries over through ``execve`` (a child started by a
    1 GB process reports at least 1 GB), it belongs to this process's own address space."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    import sys
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def release_freed(expected: float = 0) -> None:
    """Return freed memory to the system between stages: waits for the queued Dr.Jit kernels (whose
    buffers are released when they finish), empties Dr.Jit's allocator cache (blocks kept for reuse
    by size, which pile up across passes of different sizes) and trims the heap (:func:`trim_heap`).
    Nothing is done while the resident set plus ``expected`` (bytes the caller is about to
    allocate, e.g. at the start of a large call) stays below :data:`RELEASE_MIN_RESIDENT` (small
    calls keep their speed; large ones stay bounded)."""
    rss = resident_bytes()
    if rss is not None and rss + expected < RELEASE_MIN_RESIDENT:
        return
    import drjit as dr
    dr.sync_thread()
    dr.flush_malloc_cache()
    trim_heap()
