"""The image-source tree (:mod:`.image_tree`) in compiled code (numba).

:func:`_tree` builds every level in one call: for each parent node (image J, last wall P, window w) and
each wall Q, in the order (parent, wall), the same tests as :meth:`.image_tree.Pruner.children` (the
NumPy version): Borish's side test, the front table of P, the cheap vertex test against the side planes
of the pyramid from J through w, then Q's hull clipped (Sutherland-Hodgman) to the room side of P and to
each side plane. A child is kept when its clipped window has at least 3 vertices. The nodes of all
levels go to flat arrays that grow by doubling: no temporaries of size (parents, edges, walls, vertices)
and no per-level NumPy work between levels. :func:`in_beam` is the receiver's beam test of
:meth:`.image_tree.ImageTree.in_beam` in the same way, and :func:`receiver_candidates` the receiver's
last level (:func:`.image_tree.receiver_level`).

numba is optional (the ``fast`` extra): :data:`AVAILABLE` says whether it imported; without it
:mod:`.image_tree` uses the NumPy version (same tree).
"""
from __future__ import annotations

import numpy as np

from penumbra.renderer.compiled import AVAILABLE, numba  # noqa: F401  (tree_kernel.AVAILABLE is read by its users)


def _clip(src, n_src, dst, dist, m0, m1, m2, o, tol):
    """Clip the convex polygon ``src[:n_src]`` to ``m . x - o >= -tol`` into ``dst`` and return the
    count; -1 (``dst`` untouched) when no vertex is outside. ``dist`` (>= n_src) holds each vertex's
    signed distance, computed once."""
    any_out = False
    for i in range(n_src):
        d = src[i, 0] * m0 + src[i, 1] * m1 + src[i, 2] * m2 - o + tol
        dist[i] = d
        if d < 0.0:
            any_out = True
    if not any_out:
        return -1
    k = 0
    for i in range(n_src):
        j = i + 1 if i + 1 < n_src else 0
        di, dj = dist[i], dist[j]
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


def _level(img, par, wal, win, cnt, lo, hi, k, src, hull, hull_cnt, n_out, d_out, front, tol):
    """Appends the kept children of the nodes ``lo`` .. ``hi`` - 1 (``lo`` = -1: of the source ``src``)
    to the flat arrays of :func:`_tree` from row ``k`` on (their capacity and window width suffice);
    returns the new row count."""
    W = hull.shape[0]
    Wc = win.shape[1]
    buf_a = np.zeros((Wc, 3))
    buf_b = np.zeros((Wc, 3))
    dist = np.zeros(Wc)
    m = np.zeros((Wc, 3))                     # the side planes of the current parent
    o = np.zeros(Wc)
    use = np.zeros(Wc, np.bool_)
    for r in range(lo, hi if lo >= 0 else 0):
        if lo < 0:
            jx, jy, jz, p, c, rr = src[0], src[1], src[2], -1, 1, -1
        else:
            jx, jy, jz, p, c, rr = img[r, 0], img[r, 1], img[r, 2], wal[r], cnt[r], r - lo
        if p >= 0:
            cx, cy, cz = _window_centre(win, r, c, jx, jy, jz)
            for e in range(c):
                use[e] = False
                mx, my, mz, nm, sg = _beam_face(win, r, e, c, jx, jy, jz, cx, cy, cz)
                if nm > 0.0:
                    m[e, 0], m[e, 1], m[e, 2] = mx / nm * sg, my / nm * sg, mz / nm * sg
                    o[e] = m[e, 0] * jx + m[e, 1] * jy + m[e, 2] * jz
                    use[e] = True
        for q in range(W):
            sj = n_out[q, 0] * jx + n_out[q, 1] * jy + n_out[q, 2] * jz - d_out[q]
            if not sj < -tol:
                continue
            hc = hull_cnt[q]
            if p < 0:
                pc = hc
                for i in range(Wc):
                    for a in range(3):
                        win[k, i, a] = hull[q, i, a] if i < hc else 0.0
            else:
                if not front[p, q]:
                    continue
                ok = True
                for e in range(c):                 # cheap test: some vertex of Q inside every side plane
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
                pc = _clip(hull[q], hc, buf_a, dist, -n_out[p, 0], -n_out[p, 1], -n_out[p, 2], -d_out[p], tol)
                if pc < 0:                         # Q entirely on the room side of P
                    pc = hc
                    for i in range(hc):
                        buf_a[i, 0], buf_a[i, 1], buf_a[i, 2] = hull[q, i, 0], hull[q, i, 1], hull[q, i, 2]
                flip = False                       # the current polygon is in buf_b
                for e in range(c):
                    if pc < 3:
                        break
                    if use[e]:
                        if flip:
                            cut = _clip(buf_b, pc, buf_a, dist, m[e, 0], m[e, 1], m[e, 2], o[e], tol)
                        else:
                            cut = _clip(buf_a, pc, buf_b, dist, m[e, 0], m[e, 1], m[e, 2], o[e], tol)
                        if cut >= 0:               # the plane cut the polygon: the result is in the other buffer
                            pc = cut
                            flip = not flip
                if pc < 3:
                    continue
                for i in range(Wc):
                    for a in range(3):
                        win[k, i, a] = (buf_b[i, a] if flip else buf_a[i, a]) if i < pc else 0.0
            img[k, 0] = jx - 2.0 * sj * n_out[q, 0]
            img[k, 1] = jy - 2.0 * sj * n_out[q, 1]
            img[k, 2] = jz - 2.0 * sj * n_out[q, 2]
            par[k], wal[k], cnt[k] = rr, q, pc
            k += 1
    return k


def _tree(src, order, hull, hull_cnt, n_out, d_out, front, tol, max_candidates):
    """Every level of the pruned image tree in one call (the children of each level as in
    :meth:`.image_tree.Pruner.children`, in the order (parent, wall), :func:`_level`): flat arrays over all
    nodes, level after level, of images (n, 3), parents (n,) (row in the previous level, -1 at level 1),
    walls (n,), windows (n, Wc, 3) (unused slots zero) and their counts (n,), the level offsets
    (order + 1,), and the first level whose candidate count (parents x walls) exceeds ``max_candidates``
    (0 if none: building stops there). Before each level the storage is enlarged to hold every candidate
    and the widest possible window (clipping a convex polygon by a plane adds at most one vertex)."""
    W, M = hull.shape[0], hull.shape[1]
    Wc = M
    img = np.empty((0, 3))
    par = np.empty(0, np.int64)
    wal = np.empty(0, np.int64)
    win = np.empty((0, Wc, 3))
    cnt = np.empty(0, np.int64)
    offs = np.zeros(order + 1, np.int64)
    k = np.int64(0)  # (typed zeros: literal ones compile a second version of _level)
    lo = hi = np.int64(0)
    for lev in range(order):
        n_par = 1 if lev == 0 else hi - lo
        if n_par * W > max_candidates:
            return img[:k], par[:k], wal[:k], win[:k], cnt[:k], offs, lev + 1
        E = 1
        for r in range(lo, hi):
            E = max(E, cnt[r])
        need = k + n_par * W
        if need > img.shape[0] or M + 1 + E > Wc:
            cap = max(need, 2 * img.shape[0])
            Wn = max(Wc, M + 1 + E)
            img2, par2, wal2 = np.empty((cap, 3)), np.empty(cap, np.int64), np.empty(cap, np.int64)
            win2, cnt2 = np.empty((cap, Wn, 3)), np.empty(cap, np.int64)
            for r in range(k):   # (element loops: a slice copy compiles numba's shape-error path)
                par2[r], wal2[r], cnt2[r] = par[r], wal[r], cnt[r]
                for c in range(3):
                    img2[r, c] = img[r, c]
                for j in range(Wn):
                    for c in range(3):
                        win2[r, j, c] = win[r, j, c] if j < Wc else 0.0
            img, par, wal, win, cnt, Wc = img2, par2, wal2, win2, cnt2, Wn
        k = _level(img, par, wal, win, cnt, -1 if lev == 0 else lo, hi, k, src, hull, hull_cnt, n_out, d_out,
                   front, tol)
        lo, hi = hi, k
        offs[lev + 1] = k
        if hi == lo:
            for j in range(lev + 2, order + 1):
                offs[j] = k
            break
    return img[:k], par[:k], wal[:k], win[:k], cnt[:k], offs, 0


def beam_test(J, wall, win, cnt, n_out, d_out, px, py, pz, tol):
    """Per node: the point on the room side of its wall and inside every side plane of the pyramid from
    its image through its window (the planes as in :func:`_tree`), within ``tol``."""
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


def receiver_candidates(J, P, win, cnt, n_out, d_out, front, edge_n, edge_o, hull_cnt, rx, ry, rz, tol, margin):
    """(parent row, wall) of the children of parents ``J`` (n, 3), ``P`` (n,), windows ``win`` (n, E, 3)
    with ``cnt`` vertices whose beam holds the receiver (rx, ry, rz): Borish's side test and the front
    table as in :func:`_tree`, the receiver on the room side of the child's wall Q (within
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


def _in_hull(q, x, y, z, edge_n, edge_o, hull_cnt, margin):
    """Whether the point (x, y, z) of wall ``q``'s plane lies in its hull (edge half-planes), within
    ``margin``."""
    for i in range(hull_cnt[q]):
        if edge_n[q, i, 0] * x + edge_n[q, i, 1] * y + edge_n[q, i, 2] * z - edge_o[q, i] < -margin:
            return False
    return True


def two_level_candidates(J, P, win, cnt, n_out, d_out, front, hull, edge_n, edge_o, hull_cnt, rx, ry, rz, tol,
                         margin):
    """The receiver's last two levels below parents ``J`` (n, 3), ``P`` (n,), windows ``win`` (n, E, 3) with
    ``cnt`` vertices, without the middle level's clipped windows: ((parent row, wall) of the children
    whose beam holds the receiver (rx, ry, rz): :func:`receiver_candidates`' test), ((parent row, wall
    Q1, wall Q2) of the grandchildren whose beam holds it). A child (parent A, wall Q1) is kept by
    Borish's test, the front table and the cheap vertex test of :func:`_level` (its window is not
    clipped); a grandchild's last reflection point X (on Q2, from its image towards the receiver) must
    lie in Q2's hull, on the room side of Q1 and in the child's beam: the point Y where the segment from
    the child's image to X crosses Q1's plane lies in Q1's hull, on the room side of A's wall and inside
    A's pyramid (Y is in the child's window), each within ``margin``. In the order (parent, Q1, Q2)."""
    n, E = J.shape[0], win.shape[1]
    W = n_out.shape[0]
    cap1, cap2 = 64, 256
    ap, aq = np.empty(cap1, np.int64), np.empty(cap1, np.int64)
    bp, bq1, bq2 = np.empty(cap2, np.int64), np.empty(cap2, np.int64), np.empty(cap2, np.int64)
    m = np.zeros((E, 3))
    o = np.zeros(E)
    use = np.zeros(E, np.bool_)
    rside = np.empty(W)
    for q in range(W):
        rside[q] = n_out[q, 0] * rx + n_out[q, 1] * ry + n_out[q, 2] * rz - d_out[q]
    na = nb = np.int64(0)  # (a typed zero: a literal 0 compiles a second version of _grown)
    for r in range(n):
        jx, jy, jz = J[r, 0], J[r, 1], J[r, 2]
        p = P[r]
        c = cnt[r]
        if p >= 0:
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
        for q1 in range(W):
            if p >= 0 and not front[p, q1]:
                continue
            s1 = n_out[q1, 0] * jx + n_out[q1, 1] * jy + n_out[q1, 2] * jz - d_out[q1]
            if not s1 < -tol:
                continue
            if p >= 0:
                ok = True
                for e in range(E):             # cheap test: some vertex of Q1 inside every side plane
                    if not use[e]:
                        continue
                    inside = False
                    for i in range(hull_cnt[q1]):
                        if hull[q1, i, 0] * m[e, 0] + hull[q1, i, 1] * m[e, 1] + hull[q1, i, 2] * m[e, 2] - o[e] > -tol:
                            inside = True
                            break
                    if not inside:
                        ok = False
                        break
                if not ok:
                    continue
            ix, iy, iz = jx - 2.0 * s1 * n_out[q1, 0], jy - 2.0 * s1 * n_out[q1, 1], jz - 2.0 * s1 * n_out[q1, 2]
            # the child's own path: the receiver in its beam (receiver_candidates' test)
            sr = rside[q1]
            if sr < margin:
                if sr < 0.0:
                    t = -s1 / (-s1 - sr)
                    xx, xy, xz = ix + t * (rx - ix), iy + t * (ry - iy), iz + t * (rz - iz)
                else:
                    xx, xy, xz = rx - sr * n_out[q1, 0], ry - sr * n_out[q1, 1], rz - sr * n_out[q1, 2]
                if _in_hull(q1, xx, xy, xz, edge_n, edge_o, hull_cnt, margin) and _in_parent_beam(
                        p, xx, xy, xz, n_out, d_out, m, o, use, E, margin):
                    if na == cap1:
                        cap1 *= 2
                        ap, aq = _grown(ap, cap1, na), _grown(aq, cap1, na)
                    ap[na], aq[na] = r, q1
                    na += 1
            for q2 in range(W):
                sr2 = rside[q2]
                if not sr2 < margin or not front[q1, q2]:
                    continue
                s2 = n_out[q2, 0] * ix + n_out[q2, 1] * iy + n_out[q2, 2] * iz - d_out[q2]
                if not s2 < -tol:
                    continue
                kx, ky, kz = ix - 2.0 * s2 * n_out[q2, 0], iy - 2.0 * s2 * n_out[q2, 1], iz - 2.0 * s2 * n_out[q2, 2]
                if sr2 < 0.0:
                    t = -s2 / (-s2 - sr2)
                    xx, xy, xz = kx + t * (rx - kx), ky + t * (ry - ky), kz + t * (rz - kz)
                else:
                    xx, xy, xz = rx - sr2 * n_out[q2, 0], ry - sr2 * n_out[q2, 1], rz - sr2 * n_out[q2, 2]
                if not _in_hull(q2, xx, xy, xz, edge_n, edge_o, hull_cnt, margin):
                    continue
                sx = n_out[q1, 0] * xx + n_out[q1, 1] * xy + n_out[q1, 2] * xz - d_out[q1]
                if sx > margin:
                    continue
                if sx < 0.0:                   # Y: the crossing of the segment child image -> X with Q1
                    t = -s1 / (-s1 - sx)
                    yx, yy, yz = ix + t * (xx - ix), iy + t * (xy - iy), iz + t * (xz - iz)
                else:
                    yx, yy, yz = xx - sx * n_out[q1, 0], xy - sx * n_out[q1, 1], xz - sx * n_out[q1, 2]
                if not _in_hull(q1, yx, yy, yz, edge_n, edge_o, hull_cnt, margin):
                    continue
                if not _in_parent_beam(p, yx, yy, yz, n_out, d_out, m, o, use, E, margin):
                    continue
                if nb == cap2:
                    cap2 *= 2
                    bp, bq1, bq2 = _grown(bp, cap2, nb), _grown(bq1, cap2, nb), _grown(bq2, cap2, nb)
                bp[nb], bq1[nb], bq2[nb] = r, q1, q2
                nb += 1
    return ap[:na], aq[:na], bp[:nb], bq1[:nb], bq2[:nb]


def _in_parent_beam(p, x, y, z, n_out, d_out, m, o, use, E, margin):
    """Whether the point lies on the room side of wall ``p`` and inside the side planes ``m``, ``o``
    (those with ``use``) of its node's pyramid, within ``margin`` (always, for the source: ``p`` < 0)."""
    if p < 0:
        return True
    if n_out[p, 0] * x + n_out[p, 1] * y + n_out[p, 2] * z - d_out[p] > margin:
        return False
    for e in range(E):
        if use[e] and m[e, 0] * x + m[e, 1] * y + m[e, 2] * z - o[e] < -margin:
            return False
    return True


def _grown(a, cap, used):
    """A new array of ``cap`` entries holding ``a``'s first ``used``."""
    b = np.empty(cap, a.dtype)
    for i in range(used):
        b[i] = a[i]
    return b


if AVAILABLE:
    receiver_candidates = numba.njit(cache=True, nogil=True)(receiver_candidates)
    _in_hull = numba.njit(cache=True, nogil=True)(_in_hull)
    _in_parent_beam = numba.njit(cache=True, nogil=True)(_in_parent_beam)
    _grown = numba.njit(cache=True, nogil=True)(_grown)
    two_level_candidates = numba.njit(cache=True, nogil=True)(two_level_candidates)
    _clip = numba.njit(cache=True, nogil=True)(_clip)
    _window_centre = numba.njit(cache=True, nogil=True)(_window_centre)
    _beam_face = numba.njit(cache=True, nogil=True)(_beam_face)
    beam_test = numba.njit(cache=True, nogil=True)(beam_test)
    _level = numba.njit(cache=True, nogil=True)(_level)
    _tree = numba.njit(cache=True, nogil=True)(_tree)


def in_beam(J, wall, win, cnt, n_out, d_out, point, tol):
    """Compiled :meth:`.image_tree.ImageTree.in_beam` for nodes with images ``J`` (n, 3), walls ``wall``
    (n,) and windows ``win`` (n, E, 3) with ``cnt`` vertices."""
    if not AVAILABLE:
        raise RuntimeError("the compiled beam test needs numba (pip install 'penumbra[fast]')")
    p = np.asarray(point, np.float64).reshape(3)
    return beam_test(np.ascontiguousarray(J, np.float64), np.ascontiguousarray(wall, np.int64),
                    np.ascontiguousarray(win, np.float64), np.ascontiguousarray(cnt, np.int64),
                    np.ascontiguousarray(n_out, np.float64), np.ascontiguousarray(d_out, np.float64),
                    float(p[0]), float(p[1]), float(p[2]), float(tol))


def tree(pruner, source, order, max_candidates):
    """Compiled levels of :func:`.image_tree.build` (``pruner``: the room's :class:`.image_tree.Pruner`):
    :func:`_tree`'s flat arrays, level offsets and first level over ``max_candidates`` candidates."""
    if not AVAILABLE:
        raise RuntimeError("the compiled image tree needs numba (pip install 'penumbra[fast]')")
    return _tree(np.asarray(source, np.float64).reshape(3), int(order), pruner.hull, pruner.hull_cnt.astype(np.int64),
                 pruner.n_out, pruner.d_out, pruner.front, pruner.tol, int(max_candidates))


def receiver_children(pruner, J, P, win, cnt, receiver, margin):
    """Compiled: (parent row, wall) of the children of the given nodes whose beam holds ``receiver``
    (see :func:`receiver_candidates`; ``pruner`` is the room's :class:`.image_tree.Pruner`)."""
    if not AVAILABLE:
        raise RuntimeError("the compiled image tree needs numba (pip install 'penumbra[fast]')")
    r = np.asarray(receiver, np.float64).reshape(3)
    return receiver_candidates(np.ascontiguousarray(J, np.float64), np.ascontiguousarray(P, np.int64),
                              np.ascontiguousarray(win, np.float64), np.ascontiguousarray(cnt, np.int64),
                              pruner.n_out, pruner.d_out, pruner.front, pruner.edge_n, pruner.edge_o,
                              pruner.hull_cnt.astype(np.int64), float(r[0]), float(r[1]), float(r[2]),
                              pruner.tol, float(margin))
