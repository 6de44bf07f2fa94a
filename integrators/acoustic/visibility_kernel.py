"""Ray-traced validity of image-source paths in compiled code (numba), for rooms of a few hundred triangles.

The same test as :func:`.polyhedral.visible` (which traces the paths on the room's Mitsuba scene in
float32): from the receiver towards the last image the nearest wall hit must be on the last wall of the
sequence, from that reflection point towards the previous image on the previous wall, and so on; the last
segment, to the source, must be unobstructed. Here each segment is intersected with every triangle of
the room (Moller & Trumbore, "Fast, minimum storage ray-triangle intersection", J. Graphics Tools 2(1),
1997) in float64, in one pass over the paths; a segment that meets the wanted wall at the same distance as
the nearest hit (within ``T_MIN``: through the edge where two walls meet, or starting on that edge) counts
as hitting it: no kernel tracing, launch or device round trip, which is
what the Mitsuba version costs on the few hundred candidate paths of a small room (~5-15 ms per call).
Paths in general position get the same verdict as from Mitsuba (checked on 14,346 paths of 36
source/receiver pairs at order 6 in the sloped L-room: 2 differ, both within 1e-3 m of an edge, where
float32 rounding decides and the float64 verdict holds under 1e-4 m moves of the receiver). Paths that
run exactly through an edge shared by two walls (symmetric positions) are accepted here when the edge
belongs to the wanted wall; Mitsuba's float32 choice there is arbitrary.
Brute force over the triangles costs O(paths x reflections x triangles), so :data:`MAX_TRIANGLES` bounds
the rooms it is used for (:func:`.polyhedral.find_paths` keeps the Mitsuba version above it).

numba is optional (the ``fast`` extra): :data:`AVAILABLE` says whether it imported.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from penumbra.renderer.compiled import AVAILABLE, numba

# Rooms with at most this many triangles use the compiled test (measured: 20 triangles, 300 paths of
# order <= 6 in ~0.1 ms; the Mitsuba version wins only on meshes of thousands of triangles).
MAX_TRIANGLES = 512
# Nearest hit distance accepted, relative to the room's extent: the segment from a reflection point
# starts on that wall's plane (its own hit at t ~ 1e-16 is skipped).
T_MIN = 1e-9
# Barycentric margin: a ray through the shared edge of two triangles of one wall hits one of them.
EDGE_EPS = 1e-12
# Margin of the plane pre-test (relative to the room's extent; far above the rounding of a hit distance).
PLANE_EPS = 1e-9


@dataclasses.dataclass(frozen=True)
class TriangleMesh:
    """A room surface prepared for :func:`valid`: triangle corners ``v0`` (T, 3), edges ``e1`` = v1 - v0,
    ``e2`` = v2 - v0, the wall of each triangle ``wall`` (T,), the room's largest extent, the triangles
    grouped by wall: ``tris[start[w]:start[w + 1]]`` are those of wall w, and each wall's plane (unit
    normal ``plane_n`` (W, 3), offset ``plane_d`` (W,)) with a margin ``plane_eps`` (W,) above its
    vertices' distances to it and the test's rounding: a segment whose ends lie on one side of a wall's
    plane, farther than the margin, cannot cross that wall."""
    v0: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    wall: np.ndarray
    extent: float
    tris: np.ndarray
    start: np.ndarray
    plane_n: np.ndarray
    plane_d: np.ndarray
    plane_eps: np.ndarray


def triangle_mesh(V, F, face_wall) -> TriangleMesh:
    """The :class:`TriangleMesh` of vertices ``V`` (n, 3), faces ``F`` (T, 3) and their walls ``face_wall``."""
    V = np.asarray(V, np.float64)
    F = np.asarray(F, np.int64)
    a = V[F[:, 0]]
    wall = np.ascontiguousarray(face_wall, np.int64)
    tris = np.argsort(wall, kind="stable")
    W = int(wall.max(initial=-1)) + 1
    start = np.searchsorted(wall[tris], np.arange(W + 1))
    extent = float(np.ptp(V, axis=0).max())
    e1, e2 = V[F[:, 1]] - a, V[F[:, 2]] - a
    cross = np.cross(e1, e2)
    n = np.zeros((W, 3))
    d, eps = np.zeros(W), np.full(W, np.inf)        # a wall without a proper triangle: always tested
    for w in range(W):
        rows = tris[start[w]:start[w + 1]]
        if len(rows) == 0:
            continue
        big = rows[np.argmax(np.linalg.norm(cross[rows], axis=1))]
        nrm = np.linalg.norm(cross[big])
        if nrm == 0.0:
            continue
        n[w] = cross[big] / nrm
        d[w] = n[w] @ a[big]
        P = V[np.unique(F[rows])]
        eps[w] = np.abs(P @ n[w] - d[w]).max() + PLANE_EPS * extent
    return TriangleMesh(np.ascontiguousarray(a), np.ascontiguousarray(e1), np.ascontiguousarray(e2), wall, extent,
                        np.ascontiguousarray(tris, np.int64), np.ascontiguousarray(start, np.int64), n, d, eps)


def _ray_t(i, ox, oy, oz, dx, dy, dz, v0, e1, e2):
    """Distance t along the ray o + t d to its crossing with triangle ``i`` (Moller-Trumbore, the
    barycentric bounds widened by ``EDGE_EPS``), NaN if it misses."""
    px = dy * e2[i, 2] - dz * e2[i, 1]
    py = dz * e2[i, 0] - dx * e2[i, 2]
    pz = dx * e2[i, 1] - dy * e2[i, 0]
    det = e1[i, 0] * px + e1[i, 1] * py + e1[i, 2] * pz
    if det == 0.0:
        return np.nan
    inv = 1.0 / det
    sx, sy, sz = ox - v0[i, 0], oy - v0[i, 1], oz - v0[i, 2]
    u = (sx * px + sy * py + sz * pz) * inv
    if u < -EDGE_EPS or u > 1.0 + EDGE_EPS:
        return np.nan
    qx = sy * e1[i, 2] - sz * e1[i, 1]
    qy = sz * e1[i, 0] - sx * e1[i, 2]
    qz = sx * e1[i, 1] - sy * e1[i, 0]
    v = (dx * qx + dy * qy + dz * qz) * inv
    if v < -EDGE_EPS or u + v > 1.0 + EDGE_EPS:
        return np.nan
    return (e2[i, 0] * qx + e2[i, 1] * qy + e2[i, 2] * qz) * inv


def nearest_hit(ox, oy, oz, dx, dy, dz, v0, e1, e2, wall, want, tmin, tmax):
    """(t, triangle) of the nearest intersection of the ray o + t d with tmin < t < tmax (-1 if none), and
    the distance of the nearest one on wall ``want`` (inf if none), from -tmin on: a reflection point on
    the edge where the last wall meets ``want`` lies on both (a box's corner paths)."""
    best, idx, t_want = tmax, -1, np.inf
    for i in range(v0.shape[0]):
        t = _ray_t(i, ox, oy, oz, dx, dy, dz, v0, e1, e2)
        if -tmin < t < tmax and wall[i] == want and t < t_want:
            t_want = t
        if tmin < t < best:
            best, idx = t, i
    return best, idx, t_want


def _apart(w, ox, oy, oz, ex, ey, ez, pn, pd, peps):
    """Whether the points o and e lie on the same side of wall ``w``'s plane, both beyond its margin."""
    so = pn[w, 0] * ox + pn[w, 1] * oy + pn[w, 2] * oz - pd[w]
    se = pn[w, 0] * ex + pn[w, 1] * ey + pn[w, 2] * ez - pd[w]
    return (so > peps[w] and se > peps[w]) or (so < -peps[w] and se < -peps[w])


def _wanted_first(ox, oy, oz, dx, dy, dz, v0, e1, e2, tris, start, pn, pd, peps, want, tmin):
    """The distance of the nearest crossing of the ray o + t d with wall ``want`` (from -tmin on), or inf
    when it misses that wall or another wall is hit more than ``tmin`` before: :func:`nearest_hit`'s verdict
    (no other hit t > tmin with t + tmin < that distance), the wanted wall's triangles first, then the
    other walls whose plane the segment up to that crossing may cross, until the first such hit."""
    tw = np.inf
    for a in range(start[want], start[want + 1]):
        t = _ray_t(tris[a], ox, oy, oz, dx, dy, dz, v0, e1, e2)
        if -tmin < t < tw:
            tw = t
    if tw == np.inf:
        return tw
    ex, ey, ez = ox + tw * dx, oy + tw * dy, oz + tw * dz
    for w in range(start.shape[0] - 1):
        if w == want or _apart(w, ox, oy, oz, ex, ey, ez, pn, pd, peps):
            continue
        for a in range(start[w], start[w + 1]):
            t = _ray_t(tris[a], ox, oy, oz, dx, dy, dz, v0, e1, e2)
            if tmin < t and tw > t + tmin:
                return np.inf
    return tw


def _blocked(ox, oy, oz, dx, dy, dz, v0, e1, e2, tris, start, pn, pd, peps, tmin, tmax):
    """Whether the ray o + t d crosses a triangle at tmin < t < tmax (walls whose plane the segment
    cannot cross skipped)."""
    ex, ey, ez = ox + tmax * dx, oy + tmax * dy, oz + tmax * dz
    for w in range(start.shape[0] - 1):
        if _apart(w, ox, oy, oz, ex, ey, ez, pn, pd, peps):
            continue
        for a in range(start[w], start[w + 1]):
            t = _ray_t(tris[a], ox, oy, oz, dx, dy, dz, v0, e1, e2)
            if tmin < t < tmax:
                return True
    return False


def path_valid(walls, images, k, src, rcv, v0, e1, e2, tris, start, pn, pd, peps, tmin):
    """Whether the path with the ``k`` reflections on ``walls`` (K,) whose images after reflection j + 1
    are ``images[j]`` (K, 3) links ``src`` and ``rcv`` (the test of the module docstring; triangles of
    each wall ``tris[start[w]:start[w + 1]]``, wall planes and margins ``pn``, ``pd``, ``peps``: see
    :class:`TriangleMesh`)."""
    ox, oy, oz = rcv[0], rcv[1], rcv[2]
    for j in range(k - 1, -1, -1):
        dx, dy, dz = images[j, 0] - ox, images[j, 1] - oy, images[j, 2] - oz
        nd = np.sqrt(dx * dx + dy * dy + dz * dz)
        if nd == 0.0:
            return False
        dx, dy, dz = dx / nd, dy / nd, dz / nd
        tw = _wanted_first(ox, oy, oz, dx, dy, dz, v0, e1, e2, tris, start, pn, pd, peps, walls[j], tmin)
        if tw == np.inf:                       # the wanted wall is not hit first (nor as first, at an edge)
            return False
        ox, oy, oz = ox + tw * dx, oy + tw * dy, oz + tw * dz
    # the last segment, to the source, unobstructed
    dx, dy, dz = src[0] - ox, src[1] - oy, src[2] - oz
    nd = np.sqrt(dx * dx + dy * dy + dz * dz)
    if nd > 0.0:
        return not _blocked(ox, oy, oz, dx / nd, dy / nd, dz / nd, v0, e1, e2, tris, start, pn, pd, peps, tmin,
                            nd - tmin)
    return True


def _valid(seq, inter, src, rcv, v0, e1, e2, tris, start, pn, pd, peps, tmin):
    n, K = seq.shape
    ok = np.zeros(n, np.bool_)
    images = np.empty((K, 3))
    for r in range(n):
        k = 0
        while k < K and seq[r, k] >= 0:
            k += 1
        for j in range(k):
            images[j, 0], images[j, 1], images[j, 2] = inter[j, r, 0], inter[j, r, 1], inter[j, r, 2]
        ok[r] = path_valid(seq[r], images, k, src, rcv, v0, e1, e2, tris, start, pn, pd, peps, tmin)
    return ok


if AVAILABLE:
    _ray_t = numba.njit(cache=True, nogil=True)(_ray_t)
    nearest_hit = numba.njit(cache=True, nogil=True)(nearest_hit)
    _wanted_first = numba.njit(cache=True, nogil=True)(_wanted_first)
    _blocked = numba.njit(cache=True, nogil=True)(_blocked)
    _apart = numba.njit(cache=True, nogil=True)(_apart)
    path_valid = numba.njit(cache=True, nogil=True)(path_valid)
    _valid = numba.njit(cache=True, nogil=True)(_valid)


def valid(mesh: TriangleMesh, seq, inter, source, receiver) -> np.ndarray:
    """Boolean (n,) validity of padded (-1) wall sequences ``seq`` (n, K) whose images after reflection
    j + 1 are ``inter[j]`` (K arrays (n, 3); rows past a sequence's length are ignored), between
    ``source`` and ``receiver`` (see the module docstring)."""
    if not AVAILABLE:
        raise RuntimeError("the compiled visibility test needs numba (pip install 'penumbra[fast]')")
    seq = np.ascontiguousarray(seq, np.int64)
    stack = np.ascontiguousarray(np.stack([np.asarray(x, np.float64) for x in inter]) if len(inter) else
                                 np.zeros((0, len(seq), 3)))
    return _valid(seq, stack, np.asarray(source, np.float64).reshape(3), np.asarray(receiver, np.float64).reshape(3),
                  mesh.v0, mesh.e1, mesh.e2, mesh.tris, mesh.start, mesh.plane_n, mesh.plane_d, mesh.plane_eps,
                  T_MIN * mesh.extent)
