"""Exact image-source search for prism rooms (a floor polygon extruded along an axis: side walls parallel
to the axis and two flat caps across it), e.g. the L-shaped room, by 2D beam tracing. The axis may point
anywhere: :func:`extrusion_frame` finds it from the wall normals and the search runs in a frame where it
is z (below, "vertical"), so a rotated room gives the same paths.

In such a room, reflections on the vertical walls change only (x, y) and those on the floor/ceiling
only z, and the two kinds commute. A 3D specular path therefore projects onto a 2D specular path inside
the floor polygon (its vertical-wall reflections), and its height profile is the 1D two-wall lattice
(Allen & Berkley 1979): the image of a 2D wall sequence s and height index n_z is the 2D image of s
lifted by n_z floor/ceiling reflections, and the path exists iff its 2D projection does. Every 2D path
with k <= order reflections thus gives 2 (order - k) + 1 images.

The 2D paths are found by beam tracing (Heckbert & Hanrahan, SIGGRAPH 1984; Drumm & Lam's adaptive
beam tracing for rooms): a beam is an image point and a window (a segment of the last reflecting wall);
the walls it sees are found exactly by splitting the window at the directions of every wall endpoint
behind it and casting one ray per sub-window (in a sub-window the first wall hit cannot change, as the
walls of a simple polygon do not cross); each visible piece is reflected into a child beam. The
receiver receives a path when it lies in a beam and its last leg is unobstructed. Unlike candidate rays
(:mod:`.polyhedral`), no beam can be narrower than the sampling, so the search is complete (up to
paths that graze a wall endpoint exactly). All beams of one depth are processed together in NumPy.
"""
from __future__ import annotations

import numpy as np

from penumbra.renderer import memory


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


_STRUCTURES: dict = {}


def prism_structure(room, V, n_out, d_out, tol: float = 1e-6):
    """Cached :func:`_prism_structure` (per geometry)."""
    key = (np.ascontiguousarray(V).tobytes(), room.faces.tobytes(), room.face_wall.tobytes(), tol)
    if key not in _STRUCTURES:
        _STRUCTURES[key] = _prism_structure(room, V, n_out, d_out, tol)
        while len(_STRUCTURES) > 16:
            _STRUCTURES.pop(next(iter(_STRUCTURES)))
    return _STRUCTURES[key]


def _prism_structure(room, V, n_out, d_out, tol):
    """``(segments A (E, 2), B (E, 2), segment wall ids (E,), floor wall, ceiling wall)`` when the room with
    vertices ``V`` is a vertical prism (every wall vertical or horizontal, one horizontal wall at the lowest
    and one at the highest height, every vertex at one of the two), else None. The segments are the
    boundary edges of the floor; each belongs to the vertical wall whose plane contains it."""
    scale = max(float(np.ptp(V, axis=0).max()), 1e-9)
    nz = n_out[:, 2]
    horiz = np.abs(np.abs(nz) - 1.0) < tol
    if not np.all(horiz | (np.abs(nz) < tol)):
        return None
    z0, z1 = V[:, 2].min(), V[:, 2].max()
    if not np.all((np.abs(V[:, 2] - z0) < tol * scale) | (np.abs(V[:, 2] - z1) < tol * scale)):
        return None
    hw = np.flatnonzero(horiz)
    if len(hw) != 2:
        return None
    floor = int(hw[np.argmin(d_out[hw] * nz[hw])])       # outward normal -z at z0: n.p = -z0
    ceiling = int(hw[np.argmax(d_out[hw] * nz[hw])])
    if floor == ceiling or nz[floor] > 0 or nz[ceiling] < 0:
        return None
    F = room.faces[room.face_wall == floor]
    e = np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), axis=1)
    edges, counts = np.unique(e, axis=0, return_counts=True)
    edges = edges[counts == 1]
    vert = np.flatnonzero(~horiz)
    dist = np.abs(V[edges[:, 0]] @ n_out[vert].T - d_out[vert]) + np.abs(V[edges[:, 1]] @ n_out[vert].T - d_out[vert])
    wall = vert[np.argmin(dist, axis=1)]
    if len(edges) < 3 or np.any(dist.min(axis=1) > tol * scale):
        return None
    return V[edges[:, 0], :2], V[edges[:, 1], :2], wall, floor, ceiling


def _frame(axis, n_out, tol):
    """(3, 3) rotation whose rows (e1, e2, e3) are a right-handed frame with e3 = ``axis`` and e1 the first
    wall normal perpendicular to it (the identity when ``axis`` is +-z)."""
    if abs(abs(axis[2]) - 1.0) < 1e-12:
        return np.eye(3) if axis[2] > 0 else np.diag([1.0, -1.0, -1.0])
    perp = n_out[np.abs(n_out @ axis) < tol]
    e1 = perp[0] - (perp[0] @ axis) * axis
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(axis, e1), axis])


def extrusion_frame(n_out, tol: float = 1e-6):
    """Rotation (3, 3) taking the extrusion axis of a prism room onto +z, or None: the axis is a wall
    normal such that exactly two walls (the caps) are parallel to it and every other wall normal is
    perpendicular to it (the side walls). Candidates are tried in wall order; z is tried first. Kept per
    set of normals (every call of a room asks twice: box? prism?)."""
    n_out = np.ascontiguousarray(n_out, np.float64)
    key = (n_out.tobytes(), n_out.shape, tol)
    if key not in _FRAMES:
        _FRAMES[key] = _extrusion_frame(n_out, tol)
        while len(_FRAMES) > 16:
            _FRAMES.pop(next(iter(_FRAMES)))
    R = _FRAMES[key]
    return None if R is None else R.copy()


_FRAMES: dict = {}


def _extrusion_frame(n_out, tol):
    cands = [np.array([0.0, 0.0, 1.0])] + [n for n in n_out]
    for a in cands:
        c = np.abs(n_out @ a)
        par = c > 1 - tol
        if par.sum() == 2 and np.all(par | (c < tol)):
            return _frame(a / np.linalg.norm(a), n_out, tol)
    return None


def box_frame(n_out, d_out, tol: float = 1e-6):
    """Cached :func:`_box_frame` (per set of wall planes)."""
    n_out, d_out = np.ascontiguousarray(n_out, np.float64), np.ascontiguousarray(d_out, np.float64)
    key = (n_out.tobytes(), d_out.tobytes(), tol)
    if key not in _BOXES:
        _BOXES[key] = _box_frame(n_out, d_out, tol)
        while len(_BOXES) > 16:
            _BOXES.pop(next(iter(_BOXES)))
    box = _BOXES[key]
    return None if box is None else tuple(x.copy() for x in box)


_BOXES: dict = {}


def _box_frame(n_out, d_out, tol):
    """A room of 6 walls whose planes form a rectangular box, in the shoebox lattice's frame: (rotation R
    (3, 3), origin o (3,), dimensions L (3,), walls (6,)) with local coordinates ``R p - o`` in
    [0, L], and ``walls`` the room's wall ids in the lattice's order (x = 0, x = Lx, y = 0, y = Ly, z = 0,
    z = Lz); None when the room is not such a box (the caller also checks that it is a prism)."""
    n_out, d_out = np.asarray(n_out, np.float64), np.asarray(d_out, np.float64)
    if len(n_out) != 6:
        return None
    axes, walls = [], []
    free = list(range(6))
    while free:
        i = free.pop(0)
        j = [k for k in free if n_out[k] @ n_out[i] < -1 + tol]
        if len(j) != 1:
            return None
        free.remove(j[0])
        axes.append(n_out[i])
        walls.append((j[0], i))                   # (low wall: outward normal -axis, high wall: +axis)
    A = np.stack(axes)
    if np.abs(A @ A.T - np.eye(3)).max() > tol:
        return None
    if np.linalg.det(A) < 0:
        A[2] = -A[2]
        walls[2] = walls[2][::-1]
    lo = np.array([-d_out[w[0]] for w in walls])  # n_low = -axis: -axis . p = d_low on the low wall
    hi = np.array([d_out[w[1]] for w in walls])
    if np.any(hi - lo <= 0):
        return None
    return A, lo, hi - lo, np.array([w for pair in walls for w in pair], np.int64)


def _first_hit(O, D, A, S, exclude):
    """(segment index, ray parameter) of the first segment hit by rays O + t D, t > 0 (inf if none),
    ignoring segment ``exclude`` per ray (-1: none)."""
    den = _cross(D[:, None, :], S[None, :, :])
    AO = A[None, :, :] - O[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = _cross(AO, S[None, :, :]) / den
        u = _cross(AO, D[:, None, :]) / den
    ok = (np.abs(den) > 1e-300) & (t > 1e-9) & (u >= -1e-12) & (u <= 1 + 1e-12)
    ok &= np.arange(len(A))[None, :] != exclude[:, None]
    t = np.where(ok, t, np.inf)
    e = np.argmin(t, axis=1)
    return e, t[np.arange(len(O)), e]


def _line_point(O, D, A, S):
    """Intersection of rays O + t D with the lines of segments A + u S (row-wise)."""
    t = _cross(A - O, S) / _cross(D, S)
    return O + t[:, None] * D


def _reflect(P, A, S):
    n = np.stack([S[:, 1], -S[:, 0]], axis=1) / np.linalg.norm(S, axis=1, keepdims=True)
    return P - 2.0 * np.einsum("ij,ij->i", P - A, n)[:, None] * n


def _pieces(I, P, Q, last, A, B):
    """Visible pieces of the walls seen by beams (image I, window P-Q on segment ``last``): flat arrays
    (beam index, hit segment, piece start, piece end)."""
    S = B - A
    nb = len(I)
    W = Q - P
    X = np.concatenate([A, B])                                   # wall endpoints
    D = X[None, :, :] - I[:, None, :]
    den = _cross(W[:, None, :], D)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = _cross((I - P)[:, None, :], D) / den                 # where the ray I -> X crosses the window
        t = _cross((I - P)[:, None, :], W[:, None, :]) / den     # window crossing (X at t = 1)
    keep = np.isfinite(u) & (u > 1e-12) & (u < 1 - 1e-12) & (t > 0) & (t < 1)
    u = np.sort(np.where(keep, u, np.nan), axis=1)
    u = np.concatenate([np.zeros((nb, 1)), u, np.ones((nb, 1))], axis=1)
    u = np.sort(u, axis=1)                                      # NaN last
    ua, ub = u[:, :-1], u[:, 1:]
    good = np.isfinite(ub) & (ub - ua > 1e-12)
    bi, ci = np.nonzero(good)
    ua, ub = ua[bi, ci], ub[bi, ci]
    um = 0.5 * (ua + ub)
    O = P[bi] + um[:, None] * W[bi]
    seg, tt = _first_hit(O, O - I[bi], A, S, last[bi])
    hit = np.isfinite(tt)
    bi, seg, ua, ub = bi[hit], seg[hit], ua[hit], ub[hit]
    # merge consecutive sub-windows of one beam that see the same wall
    new = np.r_[True, (bi[1:] != bi[:-1]) | (seg[1:] != seg[:-1])]
    start = np.flatnonzero(new)
    end = np.r_[start[1:], len(bi)] - 1
    bi, seg, ua, ub = bi[start], seg[start], ua[start], ub[end]
    Pa = P[bi] + ua[:, None] * W[bi]
    Pb = P[bi] + ub[:, None] * W[bi]
    return bi, seg, _line_point(I[bi], Pa - I[bi], A[seg], S[seg]), _line_point(I[bi], Pb - I[bi], A[seg], S[seg])


def _root_pieces(s, A, B):
    """Visible pieces of the walls seen from the source point ``s`` (all directions)."""
    S = B - A
    X = np.concatenate([A, B]) - s
    ang = np.unique(np.arctan2(X[:, 1], X[:, 0]))
    lo, hi = ang, np.r_[ang[1:], ang[0] + 2 * np.pi]
    mid = 0.5 * (lo + hi)
    O = np.broadcast_to(s, (len(mid), 2))
    seg, tt = _first_hit(O, np.stack([np.cos(mid), np.sin(mid)], 1), A, S, np.full(len(mid), -1))
    if not np.all(np.isfinite(tt)):
        raise ValueError("the source is not enclosed by the room's walls")
    new = np.r_[True, seg[1:] != seg[:-1]]                      # merge neighbours that see the same wall
    start = np.flatnonzero(new)
    end = np.r_[start[1:], len(seg)] - 1
    seg, lo, hi, O = seg[start], lo[start], hi[end], O[start]
    Da = np.stack([np.cos(lo), np.sin(lo)], 1)
    Db = np.stack([np.cos(hi), np.sin(hi)], 1)
    return seg, _line_point(O, Da, A[seg], S[seg]), _line_point(O, Db, A[seg], S[seg])


def _receives(I, P, Q, last, r, A, B):
    """Boolean per beam: the receiver ``r`` lies in the beam and its last leg is unobstructed."""
    S = B - A
    W = Q - P
    D = r[None, :] - I
    den = _cross(W, D)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = _cross(I - P, D) / den
        t = _cross(I - P, W) / den
    ok = np.isfinite(u) & (u >= -1e-9) & (u <= 1 + 1e-9) & (t > 0) & (t < 1)
    O = I + np.where(ok, t, 0.0)[:, None] * D
    _, th = _first_hit(O, r[None, :] - O, A, S, last)
    return ok & ~(th < 1 - 1e-9)


def paths_2d(s, r, A, B, seg_wall, order: int):
    """2D specular paths from ``s`` to ``r`` inside the polygon with wall segments A -> B, up to ``order``
    reflections: (list of wall-id sequences, (n, 2) images). The direct path is included when visible."""
    s, r = np.asarray(s, np.float64), np.asarray(r, np.float64)
    S = B - A
    seqs, images = [], []
    _, th = _first_hit(s[None], (r - s)[None], A, S, np.array([-1]))
    if not th[0] < 1 - 1e-9:
        seqs.append(())
        images.append(s)
    if order == 0:
        return seqs, np.array(images).reshape(-1, 2)
    seg, P, Q = _root_pieces(s, A, B)
    I = _reflect(np.broadcast_to(s, (len(seg), 2)), A[seg], S[seg])
    hist = seg[:, None]
    for depth in range(1, order + 1):
        ok = _receives(I, P, Q, seg, r, A, B)
        for i in np.flatnonzero(ok):
            seqs.append(tuple(seg_wall[hist[i]].tolist()))
            images.append(I[i])
        if depth == order or len(I) == 0:
            break
        bi, seg, P, Q = _pieces(I, P, Q, seg, A, B)
        I = _reflect(I[bi], A[seg], S[seg])
        hist = np.concatenate([hist[bi], seg[:, None]], axis=1)
    return seqs, np.array(images).reshape(-1, 2)


def find_sequences(room, V, n_out, d_out, source, receiver, order: int, structure=None):
    """Padded (M, max(order, 1)) wall sequences of every image source up to ``order`` in a prism room
    (see the module docstring), or None if the room is not a prism. Sequences whose images coincide
    (paths through a wall endpoint found from both sides) are kept once."""
    if structure is None:
        R = extrusion_frame(n_out)
        if R is None:
            return None
        V, n_out = V @ R.T, n_out @ R.T
        source, receiver = R @ np.asarray(source, np.float64), R @ np.asarray(receiver, np.float64)
    st = structure if structure is not None else prism_structure(room, V, n_out, d_out)
    if st is None:
        return None
    A, B, seg_wall, floor, ceiling = st
    seqs, img = paths_2d(source[:2], receiver[:2], A, B, seg_wall, order)
    if len(seqs) == 0:
        return np.zeros((0, max(order, 1)), np.int64)
    key = np.round(img / (1e-9 * max(float(np.ptp(V, axis=0).max()), 1e-9))).astype(np.int64)
    _, first = np.unique(key, axis=0, return_index=True)
    seqs = [seqs[i] for i in np.sort(first)]
    K = max(order, 1)
    L2 = np.array([len(q) for q in seqs])
    S2 = np.full((len(seqs), K), -1, np.int64)
    for i, q in enumerate(seqs):
        S2[i, :len(q)] = q
    # height indices n in [-(order - k), order - k] for a 2D path of k reflections
    free = order - L2
    M = int(np.sum(2 * free + 1))
    # rows (K int64) plus the index, height and mask temporaries of the same length (~6 K int64)
    memory.guard(f"the prism image sources at order {order} ({M} images)", float(M) * K * 8 * 7, "the order")
    rep = np.repeat(np.arange(len(seqs)), 2 * free + 1)
    nz = np.arange(len(rep)) - np.repeat(np.cumsum(2 * free + 1) - (2 * free + 1), 2 * free + 1) - free[rep]
    rows = S2[rep]
    # n > 0: |n| alternating floor/ceiling reflections ending on the ceiling; n < 0: ending on the floor
    j = np.arange(K)[None, :]
    m = np.abs(nz)[:, None]
    end = np.where(nz > 0, ceiling, floor)[:, None]
    other = np.where(nz > 0, floor, ceiling)[:, None]
    zs = np.where((m - 1 - j) % 2 == 0, end, other)
    cols = L2[rep][:, None] + j
    put = j < m
    rows[np.nonzero(put)[0], cols[put]] = zs[put]
    return rows
