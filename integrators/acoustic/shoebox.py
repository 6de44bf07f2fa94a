"""Image sources of a shoebox room on the reflection lattice (Allen & Berkley, JASA 65(4), 1979).

For lattice index n along an axis of length L, the image coordinate is n L + s (n even) or
(n + 1) L - s (n odd); it has hit the wall at 0 ``ceil(|n| / 2)`` times (n < 0) or ``floor(n / 2)``
times (n >= 0), and the wall at L the remaining ``|n| - hits_0`` times. The image set is the L1 ball
|nx| + |ny| + |nz| <= order (every path with at most ``order`` reflections),
(2N + 1)(2N^2 + 2N + 3) / 3 images. Positions are Dr.Jit float64 expressions of the room dimensions and
the source position, hence differentiable in both.
"""
from __future__ import annotations

import functools

import numpy as np

from ._jit import upload


@functools.lru_cache(maxsize=8)
def lattice(order: int) -> np.ndarray:
    """(M, 3) integer lattice indices with |nx| + |ny| + |nz| <= order."""
    r = np.arange(-order, order + 1)
    nx, ny = np.meshgrid(r, r, indexing="ij")
    nx, ny = nx.ravel(), ny.ravel()
    keep = np.abs(nx) + np.abs(ny) <= order
    nx, ny = nx[keep], ny[keep]
    rest = order - np.abs(nx) - np.abs(ny)
    reps = 2 * rest + 1
    nz = np.concatenate([np.arange(-k, k + 1) for k in rest])
    out = np.stack([np.repeat(nx, reps), np.repeat(ny, reps), nz], axis=1)
    out.setflags(write=False)
    return out


def wall_hits(n: np.ndarray) -> np.ndarray:
    """(M, 6) hits per wall (west, east, south, north, floor, ceiling) for lattice indices (M, 3)."""
    a = np.abs(n)
    low = np.where(n < 0, (a + 1) // 2, a // 2)   # wall at coordinate 0
    high = a - low                               # wall at coordinate L
    return np.stack([low[:, 0], high[:, 0], low[:, 1], high[:, 1], low[:, 2], high[:, 2]], axis=1)


@functools.lru_cache(maxsize=8)
def lattice_hits(order: int) -> np.ndarray:
    """:func:`wall_hits` of :func:`lattice` (read-only, kept per order)."""
    hits = wall_hits(lattice(order))
    hits.setflags(write=False)
    return hits


@functools.lru_cache(maxsize=8)
def device_lattice(order: int):
    """Per-order constants on the device, uploaded once: (lattice coordinates (3 x mi.Float64), odd-index
    flags (3 x mi.Float64, 0/1), wall hits (M, 6) NumPy, hit counts per wall (6 x mi.Float64))."""
    import drjit as dr
    import mitsuba as mi
    n = lattice(order)
    hits = lattice_hits(order)
    coords = [upload(mi.Float64, n[:, a].astype(np.float64)) for a in range(3)]
    odd = [upload(mi.Float64, (n[:, a] % 2 != 0).astype(np.float64)) for a in range(3)]
    cols = [upload(mi.Float64, hits[:, w].astype(np.float64)) for w in range(6)]
    dr.eval(coords, odd, cols)
    return coords, odd, hits, cols


def image_positions(order: int, dims, source):
    """Dr.Jit (mi.Vector3d) positions of the lattice images up to ``order``; ``dims`` and ``source`` are
    mi.Vector3d (possibly AD-attached): n L + s (n even) or n L + L - s (n odd)."""
    import mitsuba as mi
    coords, odd, _, _ = device_lattice(order)
    return mi.Vector3d(*[coords[a] * dims[a] + source[a] + odd[a] * (dims[a] - 2.0 * source[a]) for a in range(3)])


@functools.lru_cache(maxsize=8)
def _host_lattice(order: int):
    """(lattice indices as float64, odd-index flags as float64), (M, 3) each, read-only."""
    n = lattice(order)
    out = (n.astype(np.float64), (n % 2 != 0).astype(np.float64))
    for a in out:
        a.setflags(write=False)
    return out


def image_positions_np(order: int, dims, source) -> np.ndarray:
    """:func:`image_positions` on the host: (M, 3) NumPy float64 from NumPy ``dims`` and ``source``."""
    n, odd = _host_lattice(order)
    L = np.asarray(dims, np.float64).reshape(3)
    s = np.asarray(source, np.float64).reshape(3)
    return n * L + s + odd * (L - 2.0 * s)
