"""The valid paths of one receiver from a compiled image tree in one compiled pass (numba).

:func:`.image_tree.valid_paths` on a tree built by :func:`.tree_kernel.tree` and a room traced by
:mod:`.visibility_kernel`: the direct path, then for each level the nodes whose beam holds the receiver
(:func:`.tree_kernel.in_beam`'s test), then, with ``last``, the receiver's own last level
(:func:`.tree_kernel.receiver_children`), each candidate's chain of images read from the tree's flat
arrays and ray-traced at once (:func:`.visibility_kernel.valid`'s test), in that order, and the first
path of each distinct final image kept. The same candidates, verdicts and paths as the level-by-level
NumPy glue, without its per-level index arrays, chains and concatenations. :func:`sequence_images`
gives the final images and reflection counts of wall sequences in one pass.

numba is optional (the ``fast`` extra): :data:`AVAILABLE` says whether it imported.
"""
from __future__ import annotations

import numpy as np

from . import tree_kernel, visibility_kernel
from penumbra.renderer.compiled import AVAILABLE, numba


def _receiver_paths(img, par, wal, win, cnt, offs, extra, src, rcv, n_out, d_out, front, hull, edge_n, edge_o,
                    hull_cnt, tol, margin, v0, e1, e2, tris, start, pn, pd, peps, tmin, scale):
    """Sequences (n, K) padded with -1 of the valid paths with distinct final images, K = the tree's
    levels + ``extra`` (0, 1: :func:`.tree_kernel.receiver_candidates`, 2:
    :func:`.tree_kernel.two_level_candidates`): the first path of each image, images equal when their
    coordinates rounded to multiples of ``scale`` are (:func:`.image_tree.distinct_rows`)."""
    L = offs.shape[0] - 1
    K = max(L + extra, 1)
    rx, ry, rz = rcv[0], rcv[1], rcv[2]
    # candidates: (level, row in the flat arrays) of the tree's nodes, then the receiver's own levels
    inb = np.zeros(offs[L], np.bool_)   # per node of the flat arrays: its beam holds the receiver
    n_beam = 0
    for lev in range(1, L + 1):
        lo, hi = offs[lev - 1], offs[lev]
        b = tree_kernel.beam_test(img[lo:hi], wal[lo:hi], win[lo:hi], cnt[lo:hi], n_out, d_out, rx, ry, rz, margin)
        for i in range(hi - lo):
            if b[i]:
                inb[lo + i] = True
                n_beam += 1
    if L == 0:
        J, P = src.reshape(1, 3), np.full(1, -1, np.int64)
        W0, C0 = np.zeros((1, 1, 3)), np.ones(1, np.int64)
    else:
        lo, hi = offs[L - 1], offs[L]
        J, P, W0, C0 = img[lo:hi], wal[lo:hi], win[lo:hi], cnt[lo:hi]
    none = np.empty(0, np.int64)
    ap, aq, bp, bq1, bq2 = none, none, none, none, none
    if extra == 1:
        ap, aq = tree_kernel.receiver_candidates(J, P, W0, C0, n_out, d_out, front, edge_n, edge_o, hull_cnt,
                                                 rx, ry, rz, tol, margin)
    elif extra == 2:
        ap, aq, bp, bq1, bq2 = tree_kernel.two_level_candidates(J, P, W0, C0, n_out, d_out, front, hull, edge_n,
                                                                edge_o, hull_cnt, rx, ry, rz, tol, margin)
    cap = 1 + n_beam + ap.shape[0] + bp.shape[0]
    seq = np.full((cap, K), -1, np.int64)
    final = np.empty((cap, 3))
    walls = np.full(K, -1, np.int64)
    images = np.zeros((K, 3))
    n = 0
    if visibility_kernel.path_valid(walls, images, np.int64(0), src, rcv, v0, e1, e2, tris, start, pn, pd, peps, tmin):
        final[n, 0], final[n, 1], final[n, 2] = src[0], src[1], src[2]
        n += 1
    for lev in range(1, L + 1):
        lo = offs[lev - 1]
        for i in range(offs[lev] - lo):
            if not inb[lo + i]:
                continue
            _chain(img, par, wal, offs, lev, lo + i, walls, images)
            if visibility_kernel.path_valid(walls, images, lev, src, rcv, v0, e1, e2, tris, start, pn, pd, peps, tmin):
                for j in range(lev):
                    seq[n, j] = walls[j]
                final[n, 0], final[n, 1], final[n, 2] = images[lev - 1, 0], images[lev - 1, 1], images[lev - 1, 2]
                n += 1
    for i in range(ap.shape[0] + bp.shape[0]):
        two = i >= ap.shape[0]
        r = bp[i - ap.shape[0]] if two else ap[i]
        if L > 0:
            _chain(img, par, wal, offs, L, offs[L - 1] + r, walls, images)
        k = L
        for q in (bq1[i - ap.shape[0]], bq2[i - ap.shape[0]]) if two else (aq[i], -1):
            if q < 0:
                break
            if k > 0:
                jx, jy, jz = images[k - 1, 0], images[k - 1, 1], images[k - 1, 2]
            else:
                jx, jy, jz = src[0], src[1], src[2]
            d = n_out[q, 0] * jx + n_out[q, 1] * jy + n_out[q, 2] * jz - d_out[q]
            walls[k] = q
            images[k, 0], images[k, 1], images[k, 2] = jx - 2.0 * d * n_out[q, 0], jy - 2.0 * d * n_out[q, 1], \
                jz - 2.0 * d * n_out[q, 2]
            k += 1
        if visibility_kernel.path_valid(walls, images, k, src, rcv, v0, e1, e2, tris, start, pn, pd, peps, tmin):
            for j in range(k):
                seq[n, j] = walls[j]
            final[n, 0], final[n, 1], final[n, 2] = images[k - 1, 0], images[k - 1, 1], images[k - 1, 2]
            n += 1
    # the first path of each distinct final image: rows sorted by their rounded image (stable, so
    # each run of equal images starts with its first row)
    key = np.rint(final[:n] / scale)
    order = np.arange(n)
    for c in range(2, -1, -1):
        order = order[np.argsort(key[order, c], kind="mergesort")]
    keep = np.zeros(n, np.bool_)
    prev = -1
    for i in order:
        if seq[i, 0] < 0:                      # the direct path
            keep[i] = True
        elif prev < 0 or key[i, 0] != key[prev, 0] or key[i, 1] != key[prev, 1] or key[i, 2] != key[prev, 2]:
            keep[i] = True
            prev = i
    return seq[:n][keep]


def _sequence_images(seq, n_w, d_w, src, W):
    """(final images (n, 3), reflections per wall (n, W), orders (n,)) of padded (-1) wall sequences
    ``seq`` (n, K): the source reflected in turn on each wall's plane (``n_w`` (W, 3), ``d_w`` (W,)), with
    the operations of :func:`.polyhedral.image_positions_np` in the same order (the same values)."""
    n, K = seq.shape
    pos = np.empty((n, 3))
    hits = np.zeros((n, W), np.int64)
    orders = np.zeros(n, np.int64)
    for r in range(n):
        c0, c1, c2 = src[0], src[1], src[2]
        k = 0
        for j in range(K):
            w = seq[r, j]
            if w < 0:
                break
            side = n_w[w, 0] * c0 + n_w[w, 1] * c1 + n_w[w, 2] * c2 - d_w[w]
            c0, c1, c2 = c0 - 2.0 * side * n_w[w, 0], c1 - 2.0 * side * n_w[w, 1], c2 - 2.0 * side * n_w[w, 2]
            hits[r, w] += 1
            k += 1
        pos[r, 0], pos[r, 1], pos[r, 2] = c0, c1, c2
        orders[r] = k
    return pos, hits, orders


def _chain(img, par, wal, offs, lev, row, walls, images):
    """Walls and images (first reflection first) along the tree from the node ``row`` of level ``lev``
    (flat arrays of :func:`.tree_kernel.tree`) back to the source, into ``walls`` and ``images``."""
    for j in range(lev - 1, -1, -1):
        walls[j] = wal[row]
        images[j, 0], images[j, 1], images[j, 2] = img[row, 0], img[row, 1], img[row, 2]
        if j > 0:
            row = offs[j - 1] + par[row]


if AVAILABLE:
    _chain = numba.njit(cache=True, nogil=True)(_chain)
    _receiver_paths = numba.njit(cache=True, nogil=True)(_receiver_paths)
    _sequence_images = numba.njit(cache=True, nogil=True)(_sequence_images)


def sequence_images(seq, n_w, d_w, source, W: int):
    """Compiled (final images (n, 3), reflections per wall (n, W), orders (n,)) of the padded (-1) wall
    sequences ``seq`` (see :func:`_sequence_images`)."""
    if not AVAILABLE:
        raise RuntimeError("the compiled image positions need numba (pip install 'penumbra[fast]')")
    return _sequence_images(np.ascontiguousarray(seq, np.int64), np.ascontiguousarray(n_w, np.float64),
                            np.ascontiguousarray(d_w, np.float64), np.asarray(source, np.float64).reshape(3), int(W))


def receiver_paths(tree, mesh, receiver, margin: float, extra: int):
    """Sequences (n, K) padded with -1 of the valid paths of ``tree`` (built by :func:`.tree_kernel.tree`:
    ``tree.flat`` and ``tree.pruner`` set) to ``receiver`` in the room ``mesh``
    (:class:`.visibility_kernel.TriangleMesh`), one per distinct image (as
    :func:`.image_tree.distinct_images`); ``extra`` (0, 1 or 2): levels added below the tree for this
    receiver only. Beam tests within ``margin``."""
    if not AVAILABLE:
        raise RuntimeError("the compiled path search needs numba (pip install 'penumbra[fast]')")
    img, par, wal, win, cnt, offs = tree.flat
    pruner = tree.pruner
    return _receiver_paths(img, par, wal, win, cnt, offs, int(extra), np.ascontiguousarray(tree.source, np.float64),
                           np.asarray(receiver, np.float64).reshape(3), pruner.n_out, pruner.d_out,
                           pruner.front, pruner.hull, pruner.edge_n, pruner.edge_o, pruner.hull_cnt.astype(np.int64),
                           pruner.tol, float(margin), mesh.v0, mesh.e1, mesh.e2, mesh.tris, mesh.start,
                           mesh.plane_n, mesh.plane_d, mesh.plane_eps,
                           visibility_kernel.T_MIN * mesh.extent, 1e-9 * tree.extent)
