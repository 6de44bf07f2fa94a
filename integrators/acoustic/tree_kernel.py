"""The children of one level of the image-source tree (:mod:`.image_tree`) in compiled code (numba).

For each parent node (image J, last wall P, window w) and each wall Q, in the order (parent, wall), the
same tests as :meth:`.image_tree.Pruner.children` (the NumPy version): Borish's side test, the front
table of P, the cheap vertex test against the side planes of the pyramid from J through w, then Q's hull
clipped (Sutherland-Hodgman) to the room side of P and to each side plane. A child is kept when its
clipped window has at least 3 vertices. One pass over the parents, no temporaries of size
(parents, edges, walls, vertices): the NumPy version's per-level array overhead (a few ms per level) and
its (n, E, W, M) distance tensors are gone. :func:`in_beam` is the receiver's beam test of
:meth:`.image_tree.ImageTree.in_beam` in the same way.

numba is optional (the ``fast`` extra): :data:`AVAILABLE` says whether it imported; without it
:mod:`.image_tree` uses the NumPy version (same tree).
"""
from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:       # optional dependency: the NumPy pruning is used instead
    numba = None

AVAILABLE = numba is not None


def _clip(src, n_src, dst, m0, m1, m2, o, tol):
    """Clip the convex polygon ``src[:n_src]`` to ``m . x - o >= -tol`` into ``dst``; returns the count
    (the input count unchanged, and ``dst`` a copy, when no vertex is outside)."""
    any_out = False
    for i in range(n_src):
        if src[i, 0] * m0 + src[i, 1] * m1 + src[i, 2] * m2 - o + tol < 0.0:
            any_out = True
            break
    if not any_out:
        for i in range(n_src):
            dst[i, 0], dst[i, 1], dst[i, 2] = src[i, 0], src[i, 1], src[i, 2]
        return n_src
    k = 0
    for i in range(n_src):
        j = i + 1 if i + 1 < n_src else 0
        di = src[i, 0] * m0 + src[i, 1] * m1 + src[i, 2] * m2 - o + tol
        dj = src[j, 0] * m0 + src[j, 1] * m1 + src[j, 2] * m2 - o + tol
        if di >= 0.0:
            dst[k, 0], dst[k, 1], dst[k, 2] = src[i, 0], src[i, 1], src[i, 2]
            k += 1
        if (di >= 0.0) != (dj >= 0.0):
            t = di / (di - dj)
            for a in range(3):
                dst[k, a] = src[i, a] + t * (src[j, a] - src[i, a])
            k += 1
    return k


def _window_centre(win, r, c, jx, jy, jz):
    """Centroid of node ``r``'s window (its ``c`` vertices) relative to its image (jx, jy, jz)."""
    cx = cy = cz = 0.0
    for e in range(c):
        cx += win[r, e, 0]
        cy += win[r, e, 1]
        cz += win[r, e, 2]
    return cx / c - jx, cy / c - jy, cz / c - jz


def _beam_face(win, r, e, c, jx, jy, jz, cx, cy, cz):
    """The beam face through the image and window edge ``e`` of node ``r``: its normal (unnormalised),
    the normal's length and the sign that turns it towards the window's centroid (cx, cy, cz)."""
    f = e + 1 if e + 1 < c else 0
    ax, ay, az = win[r, e, 0] - jx, win[r, e, 1] - jy, win[r, e, 2] - jz
    bx, by, bz = win[r, f, 0] - jx, win[r, f, 1] - jy, win[r, f, 2] - jz
    mx, my, mz = ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx
    s = mx * cx + my * cy + mz * cz
    return mx, my, mz, np.sqrt(mx * mx + my * my + mz * mz), (1.0 if s > 0.0 else (-1.0 if s < 0.0 else 0.0))


def _children(J, P, win, cnt, hull, hull_cnt, n_out, d_out, front, tol):
    """(parent row, wall, windows (K, Mo, 3), counts) of the kept children of parents ``J`` (n, 3),
    ``P`` (n,), windows ``win`` (n, E, 3) with ``cnt`` vertices."""
    n, E = J.shape[0], win.shape[1]
    W, M = hull.shape[0], hull.shape[1]
    Mo = M + 1 + E                       # clipping a convex polygon by a plane adds at most one vertex
    cap = n * W
    par = np.empty(cap, np.int64)
    wal = np.empty(cap, np.int64)
    out = np.empty((cap, Mo, 3))          # rows written below, their unused slots zeroed (no (cap, Mo, 3)
    oc = np.empty(cap, np.int64)          # zero fill: most candidates are pruned)
    buf_a = np.zeros((Mo, 3))
    buf_b = np.zeros((Mo, 3))
    m = np.zeros((E, 3))
    o = np.zeros(E)
    use = np.zeros(E, np.bool_)
    k = 0
    for r in range(n):
        jx, jy, jz = J[r, 0], J[r, 1], J[r, 2]
        p = P[r]
        c = cnt[r]
        if p >= 0:
            cx, cy, cz = _window_centre(win, r, c, jx, jy, jz)
            for e in range(E):
                use[e] = False
                m[e, 0] = m[e, 1] = m[e, 2] = 0.0
                o[e] = 0.0
                if e >= c:
                    continue
                mx, my, mz, nm, sg = _beam_face(win, r, e, c, jx, jy, jz, cx, cy, cz)
                if nm > 0.0:
                    m[e, 0], m[e, 1], m[e, 2] = mx / nm * sg, my / nm * sg, mz / nm * sg
                    o[e] = m[e, 0] * jx + m[e, 1] * jy + m[e, 2] * jz
                    use[e] = True
        for q in range(W):
            if not (n_out[q, 0] * jx + n_out[q, 1] * jy + n_out[q, 2] * jz - d_out[q] < -tol):
                continue
            hc = hull_cnt[q]
            if p < 0:
                for i in range(Mo):
                    for a in range(3):
                        out[k, i, a] = hull[q, i, a] if i < hc else 0.0
                par[k], wal[k], oc[k] = r, q, hc
                k += 1
                continue
            if not front[p, q]:
                continue
            ok = True
            for e in range(E):                 # cheap test: some vertex of Q inside every side plane
                if not use[e]:
                    continue
                inside = False
                for i in range(hc):
                    if hull[q, i, 0] * m[e, 0] + hull[q, i, 1] * m[e, 1] + hull[q, i, 2] * m[e, 2] - o[e] > -tol:
                        inside = True
                        break
                if not inside:
                    ok = False
                    break
            if not ok:
                continue
            pc = _clip(hull[q], hc, buf_a, -n_out[p, 0], -n_out[p, 1], -n_out[p, 2], -d_out[p], tol)
            cur, nxt = buf_a, buf_b
            for e in range(E):
                if pc < 3:
                    break
                if use[e]:
                    pc = _clip(cur, pc, nxt, m[e, 0], m[e, 1], m[e, 2], o[e], tol)
                    cur, nxt = nxt, cur
            if pc < 3:
                continue
            for i in range(Mo):
                for a in range(3):
                    out[k, i, a] = cur[i, a] if i < pc else 0.0
            par[k], wal[k], oc[k] = r, q, pc
            k += 1
    return par[:k], wal[:k], out[:k], oc[:k]


def _in_beam(J, wall, win, cnt, n_out, d_out, px, py, pz, tol):
    """Per node: the point on the room side of its wall and inside every side plane of the pyramid from
    its image through its window (the planes as in :func:`_children`), within ``tol``."""
    n, E = J.shape[0], win.shape[1]
    ok = np.zeros(n, np.bool_)
    for r in range(n):
        q = wall[r]
        if not (n_out[q, 0] * px + n_out[q, 1] * py + n_out[q, 2] * pz - d_out[q] < tol):
            continue
        jx, jy, jz = J[r, 0], J[r, 1], J[r, 2]
        c = cnt[r]
        cx, cy, cz = _window_centre(win, r, c, jx, jy, jz)
        inside = True
        for e in range(min(c, E)):
            mx, my, mz, nm, sg = _beam_face(win, r, e, c, jx, jy, jz, cx, cy, cz)
            if nm > 0.0:
                if sg / nm * (mx * (px - jx) + my * (py - jy) + mz * (pz - jz)) <= -tol:
                    inside = False
                    break
        ok[r] = inside
    return ok


def _receiver_children(J, P, win, cnt, n_out, d_out, front, edge_n, edge_o, hull_cnt, rx, ry, rz, tol, margin):
    """(parent row, wall) of the children of parents ``J`` (n, 3), ``P`` (n,), windows ``win`` (n, E, 3)
    with ``cnt`` vertices whose beam holds the receiver (rx, ry, rz): Borish's side test and the front
    table as in :func:`_children`, the receiver on the room side of the child's wall Q (within
    ``margin``), and the point X where the segment from the child's image to the receiver crosses Q's
    plane inside Q's hull (edge half-planes ``edge_n``, ``edge_o``), on the room side of P and inside the
    parent's pyramid, each within ``margin``: X is the last reflection point of the path, so this is the
    child's beam test without its clipped window."""
    n, E = J.shape[0], win.shape[1]
    W = n_out.shape[0]
    par = np.empty(n * W, np.int64)
    wal = np.empty(n * W, np.int64)
    m = np.zeros((E, 3))
    o = np.zeros(E)
    use = np.zeros(E, np.bool_)
    rside = np.empty(W)                       # the receiver's signed distance to each wall plane
    for q in range(W):
        rside[q] = n_out[q, 0] * rx + n_out[q, 1] * ry + n_out[q, 2] * rz - d_out[q]
    k = 0
    for r in range(n):
        jx, jy, jz = J[r, 0], J[r, 1], J[r, 2]
        p = P[r]
        c = cnt[r]
        planes = False                         # the parent's side planes, computed when first needed
        for q in range(W):
            sr = rside[q]
            if not sr < margin:
                continue
            if p >= 0 and not front[p, q]:
                continue
            sj = n_out[q, 0] * jx + n_out[q, 1] * jy + n_out[q, 2] * jz - d_out[q]
            if not sj < -tol:
                continue
            # the child's image J' (signed distance -sj) and the crossing X of the segment J' -> receiver
            ix, iy, iz = jx - 2.0 * sj * n_out[q, 0], jy - 2.0 * sj * n_out[q, 1], jz - 2.0 * sj * n_out[q, 2]
            if sr < 0.0:
                t = -sj / (-sj - sr)
                xx, xy, xz = ix + t * (rx - ix), iy + t * (ry - iy), iz + t * (rz - iz)
            else:                              # the receiver on the plane (within the margin)
                xx, xy, xz = rx - sr * n_out[q, 0], ry - sr * n_out[q, 1], rz - sr * n_out[q, 2]
            ok = True
            for i in range(hull_cnt[q]):
                if edge_n[q, i, 0] * xx + edge_n[q, i, 1] * xy + edge_n[q, i, 2] * xz - edge_o[q, i] < -margin:
                    ok = False
                    break
            if not ok:
                continue
            if p >= 0:
                if n_out[p, 0] * xx + n_out[p, 1] * xy + n_out[p, 2] * xz - d_out[p] > margin:
                    continue
                if not planes:
                    cx, cy, cz = _window_centre(win, r, c, jx, jy, jz)
                    for e in range(E):
                        use[e] = False
                        if e >= c:
                            continue
                        mx, my, mz, nm, sg = _beam_face(win, r, e, c, jx, jy, jz, cx, cy, cz)
                        if nm > 0.0:
                            m[e, 0], m[e, 1], m[e, 2] = mx / nm * sg, my / nm * sg, mz / nm * sg
                            o[e] = m[e, 0] * jx + m[e, 1] * jy + m[e, 2] * jz
                            use[e] = True
                    planes = True
                for e in range(E):
                    if use[e] and m[e, 0] * xx + m[e, 1] * xy + m[e, 2] * xz - o[e] < -margin:
                        ok = False
                        break
                if not ok:
                    continue
            par[k], wal[k] = r, q
            k += 1
    return par[:k], wal[:k]


if AVAILABLE:
    _receiver_children = numba.njit(cache=True, nogil=True)(_receiver_children)
    _clip = numba.njit(cache=True, nogil=True)(_clip)
    _window_centre = numba.njit(cache=True, nogil=True)(_window_centre)
    _beam_face = numba.njit(cache=True, nogil=True)(_beam_face)
    _children = numba.njit(cache=True, nogil=True)(_children)
    _in_beam = numba.njit(cache=True, nogil=True)(_in_beam)


def in_beam(J, wall, win, cnt, n_out, d_out, point, tol):
    """Compiled :meth:`.image_tree.ImageTree.in_beam` for nodes with images ``J`` (n, 3), walls ``wall``
    (n,) and windows ``win`` (n, E, 3) with ``cnt`` vertices."""
    if not AVAILABLE:
        raise RuntimeError("the compiled beam test needs numba (pip install 'penumbra[fast]')")
    p = np.asarray(point, np.float64).reshape(3)
    return _in_beam(np.ascontiguousarray(J, np.float64), np.ascontiguousarray(wall, np.int64),
                    np.ascontiguousarray(win, np.float64), np.ascontiguousarray(cnt, np.int64),
                    np.ascontiguousarray(n_out, np.float64), np.ascontiguousarray(d_out, np.float64),
                    float(p[0]), float(p[1]), float(p[2]), float(tol))


def children(pruner, J, P, win, cnt):
    """Compiled :meth:`.image_tree.Pruner.children` of ``pruner``'s room (same arguments and results;
    windows are cut to the widest kept one)."""
    if not AVAILABLE:
        raise RuntimeError("the compiled image tree needs numba (pip install 'penumbra[fast]')")
    i, q, w, c = _children(np.ascontiguousarray(J, np.float64), np.ascontiguousarray(P, np.int64),
                           np.ascontiguousarray(win, np.float64), np.ascontiguousarray(cnt, np.int64),
                           pruner.hull, pruner.hull_cnt.astype(np.int64), pruner.n_out, pruner.d_out,
                           pruner.front, pruner.tol)
    Mo = max(int(c.max()) if len(c) else 1, 1)
    return i, q, w[:, :Mo], c


def receiver_children(pruner, J, P, win, cnt, receiver, margin):
    """Compiled: (parent row, wall) of the children of the given nodes whose beam holds ``receiver``
    (see :func:`_receiver_children`; ``pruner`` is the room's :class:`.image_tree.Pruner`)."""
    if not AVAILABLE:
        raise RuntimeError("the compiled image tree needs numba (pip install 'penumbra[fast]')")
    r = np.asarray(receiver, np.float64).reshape(3)
    return _receiver_children(np.ascontiguousarray(J, np.float64), np.ascontiguousarray(P, np.int64),
                              np.ascontiguousarray(win, np.float64), np.ascontiguousarray(cnt, np.int64),
                              pruner.n_out, pruner.d_out, pruner.front, pruner.edge_n, pruner.edge_o,
                              pruner.hull_cnt.astype(np.int64), float(r[0]), float(r[1]), float(r[2]),
                              pruner.tol, float(margin))
