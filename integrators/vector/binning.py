"""Tile binning: the acceleration structure that keeps the rasterizer away from
O(pixels x paths) work.

The canvas is cut into ``T x T`` pixel tiles. Every tile lists its *candidate layers* (a layer is
one shape's fill or stroke) whose bounding box touches it, in draw order. A candidate's winding
number at a point ``p`` of the tile is counted along the ray towards +x and split in two parts
(the tile "backdrop" of GPU path renderers such as Vello / Pathfinder, made exact per sample):

* edges that overlap the tile's *column* (its box grown by the margin) are tested as usual;
* edges entirely right of the column are crossed by the ray iff ``y0 <= p.y < y1`` (sign of the
  edge), i.e. each contributes ``H(p.y - y0) - H(p.y - y1)`` with ``H`` the unit step. Summed over
  a chain of such edges the steps at shared vertices cancel, so what remains are steps where the
  outline enters or leaves the region right of the column. Steps above the tile's row band are a
  constant (``cand_w0``); steps inside it become vertical *stub* edges far to the right (crossed
  iff ``p.y >= y``), so the same winding loop evaluates both parts.

With ``K_e`` the number of tile columns for which edge ``e`` lies right of the column, the step
left at a vertex between edges ``a -> b`` is ``[c < K_b] - [c < K_a]``: non-zero only for columns
between the two, so stubs are few. Edge adjacency is recovered from exact shared coordinates of
consecutive edges (and the closing edge of each run); an unmatched endpoint only costs stubs.
Candidates without edges or stubs have a constant winding number ``cand_w0``: kept with an empty
list when inside, dropped when outside. Runs on detached edge positions: with numba (when it is
asked for, ``compiled=True``) the per-edge ranges, links and steps (:func:`_edge_tables`),
the layer boxes and the lists (:func:`_fill_lists`: two sweeps over the entries and a counting sort,
no temporaries per entry beyond the lists themselves) are compiled loops; otherwise vectorised NumPy
versions (:func:`_edge_tables_numpy`, :func:`_lists_numpy`) give the same lists.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from penumbra.renderer.arrays import upload
from penumbra.renderer.compiled import host_kernel, use_vector_kernels

STUB = 1e18   # x of the stub edges (right of every evaluated point) and their far y end


@dataclass
class Bins:
    T: int
    tiles_x: int
    tiles_y: int
    cand_start: np.ndarray   # (n_tiles + 1,) CSR into the candidate arrays
    cand_layer: np.ndarray   # (C,) layer, in draw order within a tile
    cand_edge0: np.ndarray   # (C,) start of the candidate's list in ``edges``
    cand_count: np.ndarray   # (C,) length of that list (column edges, then stubs)
    src: np.ndarray          # (E,) row of each listed entry in ``rows`` = [input edges; stubs]
    stubs: np.ndarray        # (S, 4) float32 stub edges
    edge_id: np.ndarray      # (E,) original edge index (0 for stubs, whose x0 is STUB)
    cand_w0: np.ndarray      # (C,) winding number of the steps above the tile's row band
    input_edges: np.ndarray = None   # (N, 4) the binned edges

    @property
    def edges(self) -> np.ndarray:
        """(E, 4) float32 x0 y0 x1 y1 of the listed edges and stubs (built on demand: the
        rasterizer gathers them on the device, see :func:`device_edges`)."""
        rows = np.concatenate([np.asarray(self.input_edges, np.float32).reshape(-1, 4), self.stubs])
        return rows[self.src]


def index_dtype(n: int):
    """The integer type of indices and counts up to ``n``: int32 when it fits (halves the binning's
    NumPy temporaries), else int64."""
    return np.int32 if n < 2 ** 31 else np.int64


def argsort_small(key):
    """Stable argsort of non-negative integer keys by LSD radix passes over 16-bit digits (NumPy
    sorts uint16 keys by radix sort: O(n) per pass, 3-4x faster than comparison sorts here)."""
    key = np.asarray(key)
    if key.dtype.kind not in "iu":
        key = key.astype(np.int64)
    order = np.arange(len(key), dtype=index_dtype(len(key)))
    top = int(key.max()) if len(key) else 0
    shift = 0
    while True:
        digit = ((key[order] >> shift) & 0xFFFF).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
        shift += 16
        if top >> shift == 0:
            return order


def _expand(lo, n):
    """Owner index and ``lo + k`` for k < n, for every owner (flattened ranges)."""
    total = int(n.sum())
    it = index_dtype(max(total, len(n), int(lo.max(initial=0)) + int(n.max(initial=0))))
    owner = np.repeat(np.arange(len(n), dtype=it), n)
    k = np.arange(total, dtype=it) - np.repeat((np.cumsum(n) - n).astype(it), n)
    return owner, lo.astype(it, copy=False)[owner] + k


def _links(e, layer):
    """(incoming, outgoing) edge pairs that share a vertex: consecutive edges in either orientation
    and the closing edge of each run; every endpoint is used at most once."""
    n = len(e)
    end_used = np.zeros(n, bool)
    start_used = np.zeros(n, bool)
    same = layer[:-1] == layer[1:]
    fwd = same & (e[:-1, 2] == e[1:, 0]) & (e[:-1, 3] == e[1:, 1])          # i -> i + 1
    i = np.nonzero(fwd)[0]
    end_used[i], start_used[i + 1] = True, True
    bwd = same & (e[1:, 2] == e[:-1, 0]) & (e[1:, 3] == e[:-1, 1])          # i + 1 -> i
    bwd &= ~end_used[1:] & ~start_used[:-1]
    j = np.nonzero(bwd)[0]
    end_used[j + 1], start_used[j] = True, True
    a_in, a_out = np.concatenate([i, j + 1]), np.concatenate([i + 1, j])
    # closing link of each run of linked edges
    linked = fwd | bwd
    s = np.nonzero(np.concatenate([[True], ~linked]))[0]
    t = np.concatenate([s[1:] - 1, [n - 1]])
    s, t = s[t > s], t[t > s]
    c1 = (e[t, 2] == e[s, 0]) & (e[t, 3] == e[s, 1]) & ~end_used[t] & ~start_used[s]
    c2 = ~c1 & (e[s, 2] == e[t, 0]) & (e[s, 3] == e[t, 1]) & ~end_used[s] & ~start_used[t]
    end_used[t[c1]], start_used[s[c1]] = True, True
    end_used[s[c2]], start_used[t[c2]] = True, True
    a_in = np.concatenate([a_in, t[c1], s[c2]])
    a_out = np.concatenate([a_out, s[c1], t[c2]])
    return a_in, a_out, ~start_used, ~end_used


def _layer_boxes(e, lay, n_layers, m):
    """Per layer the bounding box of its edges grown by ``m`` (x0, y0, x1, y1; +-inf without edges),
    by a loop over the edges (compiled)."""
    lx0, ly0 = np.full(n_layers, np.inf), np.full(n_layers, np.inf)
    lx1, ly1 = np.full(n_layers, -np.inf), np.full(n_layers, -np.inf)
    for i in range(len(lay)):
        l = lay[i]
        lx0[l] = min(lx0[l], e[i, 0], e[i, 2])
        ly0[l] = min(ly0[l], e[i, 1], e[i, 3])
        lx1[l] = max(lx1[l], e[i, 0], e[i, 2])
        ly1[l] = max(ly1[l], e[i, 1], e[i, 3])
    return lx0 - m, ly0 - m, lx1 + m, ly1 + m


def _layer_boxes_numpy(e, lay, n_layers, m):
    """:func:`_layer_boxes` by segment reductions over the edges sorted by layer."""
    lx0, ly0 = np.full(n_layers, np.inf), np.full(n_layers, np.inf)
    lx1, ly1 = np.full(n_layers, -np.inf), np.full(n_layers, -np.inf)
    srt = np.argsort(lay, kind="stable")
    sl = lay[srt]
    first = np.concatenate([[0], np.nonzero(sl[1:] != sl[:-1])[0] + 1])
    uniq = sl[first]
    lx0[uniq] = np.minimum.reduceat(np.minimum(e[:, 0], e[:, 2])[srt], first)
    ly0[uniq] = np.minimum.reduceat(np.minimum(e[:, 1], e[:, 3])[srt], first)
    lx1[uniq] = np.maximum.reduceat(np.maximum(e[:, 0], e[:, 2])[srt], first)
    ly1[uniq] = np.maximum.reduceat(np.maximum(e[:, 1], e[:, 3])[srt], first)
    return lx0 - m, ly0 - m, lx1 + m, ly1 + m


def _edge_tables(e, lay, tx0, tx1, ty0, ty1, has, T, m, tiles_x, tiles_y):
    """Per edge its listed tile ranges, and the steps of the edges right of the column (compiled;
    :func:`_edge_tables_numpy` in loops, same values in the same order). Returns
    ``K, c_lo, nc, r_lo, nr`` per edge (right of the column for tile columns ``c < K``, tested in
    columns ``c_lo + [0, nc)`` and rows ``r_lo + [0, nr)``) and ``ev_l, ev_y, ev_ca, ncol, ev_d``
    per step (layer, height, first column, columns, sign)."""
    n = len(lay)
    K = np.empty(n, np.int64)
    c_lo = np.empty(n, np.int64)
    nc = np.empty(n, np.int64)
    r_lo = np.empty(n, np.int64)
    nr = np.empty(n, np.int64)
    for i in range(n):
        l = lay[i]
        xmin, xmax = min(e[i, 0], e[i, 2]), max(e[i, 0], e[i, 2])
        ymin, ymax = min(e[i, 1], e[i, 3]), max(e[i, 1], e[i, 3])
        K[i] = int(min(max(np.ceil((xmin - m) / T - 1.0), 0.0), tiles_x + 1.0))
        c_lo[i] = max(K[i], tx0[l])
        c_hi = min(int(min(max(np.floor((xmax + m) / T), -1.0), float(tiles_x))), tx1[l])
        r_lo[i] = max(int(min(max(np.ceil((ymin - m) / T), 0.0), tiles_y + 1.0)) - 1, ty0[l])
        r_hi = min(int(min(max(np.floor((ymax + m) / T), -1.0), float(tiles_y))), ty1[l])
        nc[i] = max(c_hi - c_lo[i] + 1, 0) if has[l] else 0
        nr[i] = max(r_hi - r_lo[i] + 1, 0) if has[l] else 0
    # links (incoming, outgoing) as :func:`_links`: consecutive edges forward, then backward, then
    # the closing edge of each run of linked edges
    end_used = np.zeros(n, np.bool_)
    start_used = np.zeros(n, np.bool_)
    linked = np.zeros(n, np.bool_)
    a_in = np.empty(n, np.int64)
    a_out = np.empty(n, np.int64)
    n_links = 0
    for i in range(n - 1):
        if lay[i] == lay[i + 1] and e[i, 2] == e[i + 1, 0] and e[i, 3] == e[i + 1, 1]:
            linked[i] = True
            end_used[i], start_used[i + 1] = True, True
            a_in[n_links], a_out[n_links] = i, i + 1
            n_links += 1
    for i in range(n - 1):
        if lay[i] == lay[i + 1] and e[i + 1, 2] == e[i, 0] and e[i + 1, 3] == e[i, 1] and \
                not end_used[i + 1] and not start_used[i]:
            linked[i] = True
            end_used[i + 1], start_used[i] = True, True
            a_in[n_links], a_out[n_links] = i + 1, i
            n_links += 1
    closing = np.empty((n, 2), np.int64)
    n_close = 0
    for pass_ in range(2):
        s = 0
        while s < n:
            t = s
            while t < n - 1 and linked[t]:
                t += 1
            if t > s:
                if pass_ == 0 and e[t, 2] == e[s, 0] and e[t, 3] == e[s, 1] and not end_used[t] \
                        and not start_used[s]:
                    closing[n_close, 0], closing[n_close, 1] = t, s
                    n_close += 1
                elif pass_ == 1 and not (e[t, 2] == e[s, 0] and e[t, 3] == e[s, 1] and not end_used[t]
                                         and not start_used[s]) \
                        and e[s, 2] == e[t, 0] and e[s, 3] == e[t, 1] and not end_used[s] and not start_used[t]:
                    closing[n_close, 0], closing[n_close, 1] = s, t
                    n_close += 1
            s = t + 1
        # the first pass's links are marked after both passes tested the runs (as the vectorised tests)
        if pass_ == 1:
            for q in range(n_close):
                end_used[closing[q, 0]], start_used[closing[q, 1]] = True, True
    # steps: +1 at a free start, -1 at a free end, +-1 at a link between edges of different K
    n_free = 0
    for i in range(n):
        n_free += (not start_used[i]) + (not end_used[i])
    n_ev = n_links + n_close + n_free
    ev_l = np.empty(n_ev, np.int64)
    ev_y = np.empty(n_ev)
    ev_ca = np.empty(n_ev, np.int64)
    ncol = np.empty(n_ev, np.int64)
    ev_d = np.empty(n_ev, np.int64)
    k = 0
    for q in range(n_links + n_close + n + n):
        if q < n_links + n_close:
            ia, ib = (a_in[q], a_out[q]) if q < n_links else (closing[q - n_links, 0], closing[q - n_links, 1])
            l, y = lay[ia], e[ia, 3]
            ca, cb, d = min(K[ia], K[ib]), max(K[ia], K[ib]), 1 if K[ib] > K[ia] else -1
        elif q < n_links + n_close + n:
            i = q - n_links - n_close
            if start_used[i]:
                continue
            l, y, ca, cb, d = lay[i], e[i, 1], 0, K[i], 1
        else:
            i = q - n_links - n_close - n
            if end_used[i]:
                continue
            l, y, ca, cb, d = lay[i], e[i, 3], 0, K[i], -1
        ca, cb = max(ca, tx0[l]), min(cb, tx1[l] + 1)
        if has[l] and cb > ca:
            ev_l[k], ev_y[k], ev_ca[k], ncol[k], ev_d[k] = l, y, ca, cb - ca, d
            k += 1
    return K, c_lo, nc, r_lo, nr, ev_l[:k], ev_y[:k], ev_ca[:k], ncol[:k], ev_d[:k]


def _edge_tables_numpy(e, lay, tx0, tx1, ty0, ty1, has, T, m, tiles_x, tiles_y):
    """:func:`_edge_tables` in vectorised NumPy (the default; the numba kernel when opted in)."""
    xmin, xmax = np.minimum(e[:, 0], e[:, 2]), np.maximum(e[:, 0], e[:, 2])
    ymin, ymax = np.minimum(e[:, 1], e[:, 3]), np.maximum(e[:, 1], e[:, 3])
    it = tx0.dtype    # the tile coordinates' type (int32 where it fits: the temporaries scale with it)
    K = np.clip(np.ceil((xmin - m) / T - 1.0), 0, tiles_x + 1).astype(it)
    c_lo = np.maximum(K, tx0[lay])
    c_hi = np.minimum(np.clip(np.floor((xmax + m) / T), -1, tiles_x).astype(it), tx1[lay])
    r_lo = np.maximum(np.clip(np.ceil((ymin - m) / T), 0, tiles_y + 1).astype(it) - 1, ty0[lay])
    r_hi = np.minimum(np.clip(np.floor((ymax + m) / T), -1, tiles_y).astype(it), ty1[lay])
    nc = np.where(has[lay], np.maximum(c_hi - c_lo + 1, 0), 0).astype(it)
    nr = np.where(has[lay], np.maximum(r_hi - r_lo + 1, 0), 0).astype(it)
    a_in, a_out, free_start, free_end = _links(e, lay)
    fs, fe = np.nonzero(free_start)[0], np.nonzero(free_end)[0]
    ev_l = np.concatenate([lay[a_in], lay[fs], lay[fe]])
    ev_y = np.concatenate([e[a_in, 3], e[fs, 1], e[fe, 3]])
    ka, kb = K[a_in], K[a_out]
    ev_ca = np.concatenate([np.minimum(ka, kb), np.zeros(len(fs) + len(fe), np.int64)])
    ev_cb = np.concatenate([np.maximum(ka, kb), K[fs], K[fe]])
    ev_d = np.concatenate([np.where(kb > ka, 1, -1), np.ones(len(fs), np.int64), -np.ones(len(fe), np.int64)])
    ev_ca = np.maximum(ev_ca, tx0[ev_l])
    ev_cb = np.minimum(ev_cb, tx1[ev_l] + 1)
    ok = has[ev_l] & (ev_cb > ev_ca)
    return K, c_lo, nc, r_lo, nr, ev_l[ok], ev_y[ok], ev_ca[ok], (ev_cb - ev_ca)[ok], ev_d[ok]


def _fill_lists(c_lo, nc, r_lo, nr, lay, ev_l, ev_y, ev_ca, ncol, ev_d, s_lo, nrs, f_lo, nrf,
                cbase, tx0, ty0, ncx, ncy, evenodd, sdf, tiles_x, n_tiles, src_dtype):
    """The tile lists from the per-edge and per-step ranges (compiled; the loops of
    :func:`_lists_numpy`). Edge ``i`` is listed by the candidates of its layer in rows
    ``r_lo[i] + [0, nr[i])`` x columns ``c_lo[i] + [0, nc[i])``; step ``j`` (layer ``ev_l[j]``, height
    ``ev_y[j]``, sign ``ev_d[j]``, columns ``ev_ca[j] + [0, ncol[j])``) adds a stub to rows
    ``s_lo[j] + [0, nrs[j])`` and ``ev_d[j]`` to the constant winding of rows ``f_lo[j] + [0, nrf[j])``.
    Entries are grouped by candidate in the order edges, then stubs (each in index order, rows then
    columns); kept candidates (with entries, or inside) ordered by tile, then layer.
    Returns ``cand_start, cand (kept candidate indices), count, edge0, w0, src, stubs``."""
    C0 = cbase[-1] + ncx[-1] * ncy[-1] if len(cbase) else 0
    n_edges = len(lay)
    count = np.zeros(C0, np.int64)
    w0 = np.zeros(C0, np.int64)
    for i in range(n_edges):
        l = lay[i]
        for r in range(r_lo[i], r_lo[i] + nr[i]):
            row = cbase[l] + (r - ty0[l]) * ncx[l] - tx0[l]
            for c in range(c_lo[i], c_lo[i] + nc[i]):
                count[row + c] += 1
    n_stubs = 0
    for j in range(len(ev_l)):
        l = ev_l[j]
        for r in range(s_lo[j], s_lo[j] + nrs[j]):
            row = cbase[l] + (r - ty0[l]) * ncx[l] - tx0[l]
            for c in range(ev_ca[j], ev_ca[j] + ncol[j]):
                count[row + c] += 1
        n_stubs += nrs[j] * ncol[j]
        for r in range(f_lo[j], f_lo[j] + nrf[j]):
            row = cbase[l] + (r - ty0[l]) * ncx[l] - tx0[l]
            for c in range(ev_ca[j], ev_ca[j] + ncol[j]):
                w0[row + c] += ev_d[j]
    edge0 = np.zeros(C0, np.int64)
    total = 0
    for ci in range(C0):
        edge0[ci] = total
        total += count[ci]
    cur = edge0.copy()
    src = np.empty(total, src_dtype)
    stubs = np.empty((n_stubs, 4), np.float32)
    for i in range(n_edges):
        l = lay[i]
        for r in range(r_lo[i], r_lo[i] + nr[i]):
            row = cbase[l] + (r - ty0[l]) * ncx[l] - tx0[l]
            for c in range(c_lo[i], c_lo[i] + nc[i]):
                src[cur[row + c]] = i
                cur[row + c] += 1
    s = 0
    far = np.float32(STUB)
    for j in range(len(ev_l)):
        l = ev_l[j]
        y = np.float32(ev_y[j])
        for r in range(s_lo[j], s_lo[j] + nrs[j]):
            row = cbase[l] + (r - ty0[l]) * ncx[l] - tx0[l]
            for c in range(ev_ca[j], ev_ca[j] + ncol[j]):
                src[cur[row + c]] = n_edges + s
                cur[row + c] += 1
                stubs[s, 0], stubs[s, 2] = far, far
                stubs[s, 1] = y if ev_d[j] > 0 else far
                stubs[s, 3] = far if ev_d[j] > 0 else y
                s += 1
    # kept candidates by tile (counting sort; within a tile the candidate index order is layer order)
    per_tile = np.zeros(n_tiles + 1, np.int64)
    keep = np.zeros(C0, np.bool_)
    tile = np.zeros(C0, np.int64)
    for l in range(len(cbase)):
        for r in range(ncy[l]):
            for c in range(ncx[l]):
                ci = cbase[l] + r * ncx[l] + c
                w = w0[ci]
                inside = ((w & 1) != 0 if evenodd[l] else w != 0) and not sdf[l]
                if count[ci] > 0 or inside:
                    keep[ci] = True
                    tile[ci] = (ty0[l] + r) * tiles_x + tx0[l] + c
                    per_tile[tile[ci] + 1] += 1
    for t in range(n_tiles):
        per_tile[t + 1] += per_tile[t]
    cand = np.empty(per_tile[n_tiles], np.int64)
    at = per_tile[:n_tiles].copy()
    for ci in range(C0):
        if keep[ci]:
            cand[at[tile[ci]]] = ci
            at[tile[ci]] += 1
    return per_tile, cand, count, edge0, w0, src, stubs


def _lists_numpy(c_lo, nc, r_lo, nr, lay, ev_l, ev_y, ev_ca, ncol, ev_d, s_lo, nrs, f_lo, nrf,
                 cbase, tx0, ty0, ncx, ncy, evenodd, sdf, tiles_x, n_tiles, src_dtype):
    """:func:`_fill_lists` in vectorised NumPy (the default; the numba kernel when opted in): the entries expanded per
    (edge or step, tile), grouped by a stable radix sort of their candidate."""
    L = len(cbase)
    C0 = int(cbase[-1] + ncx[-1] * ncy[-1]) if L else 0
    n_edges = len(lay)

    def cand(l, r, c):  # candidate index (layer-major, then row, then column)
        return cbase[l] + (r - ty0[l]) * ncx[l] + (c - tx0[l])

    pe, k = _expand(np.zeros(n_edges, nc.dtype), nc * nr)
    cand_e = cand(lay[pe], r_lo[pe] + k // nc[pe], c_lo[pe] + k % nc[pe])
    ps, k = _expand(np.zeros(len(ev_l), np.int64), nrs * ncol)
    cand_s = cand(ev_l[ps], s_lo[ps] + k // ncol[ps], ev_ca[ps] + k % ncol[ps])
    pf, k = _expand(np.zeros(len(ev_l), np.int64), nrf * ncol)
    cand_f = cand(ev_l[pf], f_lo[pf] + k // ncol[pf], ev_ca[pf] + k % ncol[pf])
    w0 = np.bincount(cand_f, weights=ev_d[pf], minlength=C0).astype(np.int64)
    sy = ev_y[ps]
    up = ev_d[ps] > 0
    stubs = np.stack([np.full(len(ps), STUB), np.where(up, sy, STUB), np.full(len(ps), STUB),
                      np.where(up, STUB, sy)], 1).astype(np.float32)
    owner = np.concatenate([cand_e, cand_s])
    src = np.concatenate([pe, n_edges + np.arange(len(ps))])[argsort_small(owner)].astype(src_dtype)
    count = np.bincount(owner, minlength=C0).astype(np.int64)
    edge0 = np.cumsum(count) - count
    c_layer, loc = _expand(np.zeros(L, np.int64), ncx * ncy)
    c_tx = tx0[c_layer] + loc % np.maximum(ncx[c_layer], 1)
    c_ty = ty0[c_layer] + loc // np.maximum(ncx[c_layer], 1)
    inside = np.where(evenodd[c_layer], (w0 & 1) != 0, w0 != 0) & ~sdf[c_layer]
    keep = (count > 0) | inside
    tile = c_ty.astype(np.int64) * tiles_x + c_tx
    sel = np.nonzero(keep)[0][argsort_small(tile[keep] * (L + 1) + c_layer[keep])].astype(np.int64)
    cand_start = np.searchsorted(tile[sel], np.arange(n_tiles + 1)).astype(np.int64)
    return cand_start, sel, count, edge0, w0, src, stubs


_fill_lists_compiled = host_kernel(_fill_lists)


def bin_edges(edges: np.ndarray, edge_layer: np.ndarray, n_layers: int, width: float, height: float,
              T: int = 8, margin: float = 0.0, evenodd: np.ndarray | None = None, sdf: np.ndarray | None = None,
              layer_item: np.ndarray | None = None, item_cols: int | None = None, compiled: bool | None = None) -> Bins:
    """Bin ``edges`` (N, 4) of ``n_layers`` layers on a ``width x height`` canvas. The lists are valid
    for points within ``margin`` of their tile. ``evenodd`` (fill rule) and ``sdf`` (prefiltered
    strokes, which need edges) per layer decide which edge-free candidates are kept.
    ``layer_item``/``item_cols``: batch layout, item ``b`` owns tile columns
    ``[b * item_cols, (b + 1) * item_cols)``; its layers are confined to them. ``compiled``: build
    the lists with the numba pass (None: :data:`penumbra.renderer.compiled.vector_host_kernels`,
    off by default; False: vectorised NumPy, the same lists)."""
    compiled = use_vector_kernels(compiled, "bin_edges")
    tiles_x = max(1, int(np.ceil(width / T)))
    tiles_y = max(1, int(np.ceil(height / T)))
    n_tiles = tiles_x * tiles_y
    L = int(n_layers)
    evenodd = np.zeros(L, bool) if evenodd is None else np.asarray(evenodd, bool)
    sdf = np.zeros(L, bool) if sdf is None else np.asarray(sdf, bool)
    empty = Bins(T, tiles_x, tiles_y, np.zeros(n_tiles + 1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                 np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, np.int64),
                 np.zeros(0, np.int64), np.zeros((0, 4)))
    if len(edges) == 0:
        return empty
    # the kernels read the edges and layers as they are (float32 / int32 from tessellate); the NumPy
    # version computes in float64 / int64 (the kernels' arithmetic)
    e = np.ascontiguousarray(edges) if compiled else np.asarray(edges, np.float64)
    lay = np.ascontiguousarray(edge_layer) if compiled else np.asarray(edge_layer, np.int64)
    if e.dtype.kind != "f" or lay.dtype.kind not in "iu":
        raise TypeError("bin_edges(): edges must be floats and edge_layer integers")
    m = float(margin)
    # layer bounding boxes in tiles, clipped to the canvas
    lx0, ly0, lx1, ly1 = (_layer_boxes_compiled if compiled else _layer_boxes_numpy)(e, lay, L, m)
    has = np.isfinite(lx0) & (lx1 >= 0) & (ly1 >= 0) & (lx0 < width) & (ly0 < height)
    tx0, tx1, ty0, ty1 = (np.clip(np.floor(np.where(has, v, 0.0) / T), 0, n - 1).astype(np.int64)
                          for v, n in ((lx0, tiles_x), (lx1, tiles_x), (ly0, tiles_y), (ly1, tiles_y)))
    if layer_item is not None:
        lo = np.asarray(layer_item, np.int64) * item_cols
        tx0, tx1 = np.clip(tx0, lo, lo + item_cols - 1), np.clip(tx1, lo, lo + item_cols - 1)
    ncx = np.where(has, tx1 - tx0 + 1, 0)
    ncy = np.where(has, ty1 - ty0 + 1, 0)
    cbase = np.cumsum(ncx * ncy) - ncx * ncy

    # per edge: right of the column for tile columns c < K, tested in columns [K, floor((xmax + m) / T)];
    # the steps of the edges right of the column: +1 at a start, -1 at an end, for columns c < K
    if not compiled:   # the NumPy version's temporaries in int32 where the counts fit
        it = index_dtype(max(int((ncx * ncy).sum()), len(e), n_tiles))
        tx0, tx1, ty0, ty1, cbase, ncx, ncy = (v.astype(it) for v in (tx0, tx1, ty0, ty1, cbase, ncx, ncy))
    _, c_lo, nc, r_lo, nr, ev_l, ev_y, ev_ca, ncol, ev_d = (_edge_tables_compiled if compiled else _edge_tables_numpy)(
        e, lay, tx0, tx1, ty0, ty1, has, float(T), m, tiles_x, tiles_y)
    # rows whose points may lie on either side of the step get a stub; rows below it the constant
    s_lo = np.maximum(np.ceil((ev_y - m) / T).astype(np.int64) - 1, ty0[ev_l])
    s_hi = np.minimum(np.ceil((ev_y + m) / T).astype(np.int64) - 1, ty1[ev_l])
    f_lo = np.maximum(s_hi + 1, ty0[ev_l])
    nrs = np.maximum(s_hi - s_lo + 1, 0)
    nrf = np.maximum(ty1[ev_l] - f_lo + 1, 0)

    # the lists: column edges, then stubs, grouped by candidate; candidates in (tile, layer) order
    n_entries = int((nc.astype(np.int64) * nr).sum() + (nrs * ncol).sum())
    src_dtype = index_dtype(len(e) + n_entries)
    cand_start, sel, count, edge0, w0, src, stubs = (_fill_lists_compiled if compiled else _lists_numpy)(
        c_lo, nc, r_lo, nr, lay, ev_l, ev_y, ev_ca, ncol, ev_d, s_lo, nrs, f_lo, nrf, cbase, tx0, ty0, ncx, ncy,
        evenodd, sdf, tiles_x, n_tiles, src_dtype)
    ids = np.where(src < len(e), src, 0)
    c_layer = np.searchsorted(cbase, sel, side="right") - 1
    return Bins(T, tiles_x, tiles_y, cand_start, c_layer, edge0[sel], count[sel], src, stubs, ids, w0[sel], edges)


_layer_boxes_compiled = host_kernel(_layer_boxes)
_edge_tables_compiled = host_kernel(_edge_tables)


def device_edges(bins: Bins, x0, y0, x1, y1):
    """The listed edges as a flat ``mi.Float`` (x0 y0 x1 y1 per entry), gathered on the device from
    the edge endpoints ``x0 .. y1`` (``mi.Float``, the values that were binned) and the stubs."""
    import drjit as dr
    import mitsuba as mi
    n, ns = dr.width(x0) if len(bins.input_edges) else 0, len(bins.stubs)
    rows = dr.zeros(mi.Float, 4 * (n + ns))
    if n:
        k = 4 * dr.arange(mi.UInt32, n)
        for c, v in enumerate((x0, y0, x1, y1)):
            dr.scatter(rows, dr.detach(v), k + c)
    if ns:
        dr.scatter(rows, upload(mi.Float, bins.stubs), 4 * n + dr.arange(mi.UInt32, 4 * ns))
    if not len(bins.src):   # every edge outside the canvas (Dr.Jit cannot divide an empty array)
        return mi.Float()
    i = dr.arange(mi.UInt32, 4 * len(bins.src))
    r = i // 4
    flat = dr.gather(mi.Float, rows, 4 * dr.gather(mi.UInt32, upload(mi.UInt32, bins.src), r) + (i - 4 * r))
    dr.eval(flat)
    return flat


@dataclass(frozen=True)
class DeviceBins:
    """The tile lists on the device, with the per-layer flags that the coverage kernel reads."""
    cand_layer: object       # mi.UInt32 (C,)
    cand_w0: object          # mi.Int32 (C,)
    cand_edge0: object       # mi.UInt32 (C,)
    cand_count: object       # mi.UInt32 (C,)
    edges: object            # mi.Float (4 E,) x0 y0 x1 y1 of the listed edges and stubs (detached)
    edge_id: object          # mi.UInt32 (E,) original edge index of each listed entry
    layer_evenodd: object    # mi.Bool (L,) even-odd fill rule
    layer_sdf: object        # mi.Bool (L,) prefiltered stroke (coverage from the distance to its pieces)
    layer_reach: object      # mi.Float (L,) how far a prefiltered stroke reaches beyond its pieces


def upload_bins(bins: Bins, x0, y0, x1, y1, evenodd, sdf, reach) -> DeviceBins:
    """:class:`DeviceBins` of ``bins`` (edge endpoints ``x0 .. y1`` as binned, ``None`` when there
    are no edges; per-layer NumPy ``evenodd``, ``sdf``, ``reach``)."""
    import mitsuba as mi
    return DeviceBins(upload(mi.UInt32, bins.cand_layer), upload(mi.Int32, bins.cand_w0),
                      upload(mi.UInt32, bins.cand_edge0), upload(mi.UInt32, bins.cand_count),
                      device_edges(bins, x0, y0, x1, y1) if x0 is not None else mi.Float(),
                      upload(mi.UInt32, bins.edge_id), upload(mi.Bool, evenodd), upload(mi.Bool, sdf),
                      upload(mi.Float, reach))
