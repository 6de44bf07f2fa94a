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
list when inside, dropped when outside. Pure NumPy on detached edge positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from penumbra.renderer.arrays import upload

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


def bin_edges(edges: np.ndarray, edge_layer: np.ndarray, n_layers: int, width: float, height: float,
              T: int = 8, margin: float = 0.0, evenodd: np.ndarray | None = None, sdf: np.ndarray | None = None,
              layer_item: np.ndarray | None = None, item_cols: int | None = None) -> Bins:
    """Bin ``edges`` (N, 4) of ``n_layers`` layers on a ``width x height`` canvas. The lists are valid
    for points within ``margin`` of their tile. ``evenodd`` (fill rule) and ``sdf`` (prefiltered
    strokes, which need edges) per layer decide which edge-free candidates are kept.
    ``layer_item``/``item_cols``: batch layout, item ``b`` owns tile columns
    ``[b * item_cols, (b + 1) * item_cols)``; its layers are confined to them."""
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
    e = np.asarray(edges, np.float64)
    lay = np.asarray(edge_layer, np.int64)
    m = float(margin)
    xmin, xmax = np.minimum(e[:, 0], e[:, 2]), np.maximum(e[:, 0], e[:, 2])
    ymin, ymax = np.minimum(e[:, 1], e[:, 3]), np.maximum(e[:, 1], e[:, 3])
    # layer bounding boxes in tiles (segment reductions over edges sorted by layer), clipped to the canvas
    lx0, ly0 = np.full(L, np.inf), np.full(L, np.inf)
    lx1, ly1 = np.full(L, -np.inf), np.full(L, -np.inf)
    srt = np.argsort(lay, kind="stable")
    sl = lay[srt]
    first = np.concatenate([[0], np.nonzero(sl[1:] != sl[:-1])[0] + 1])
    uniq = sl[first]
    lx0[uniq] = np.minimum.reduceat(xmin[srt], first) - m
    ly0[uniq] = np.minimum.reduceat(ymin[srt], first) - m
    lx1[uniq] = np.maximum.reduceat(xmax[srt], first) + m
    ly1[uniq] = np.maximum.reduceat(ymax[srt], first) + m
    has = np.isfinite(lx0) & (lx1 >= 0) & (ly1 >= 0) & (lx0 < width) & (ly0 < height)
    tx0, tx1, ty0, ty1 = (np.clip(np.floor(np.where(has, v, 0.0) / T), 0, n - 1).astype(np.int64)
                          for v, n in ((lx0, tiles_x), (lx1, tiles_x), (ly0, tiles_y), (ly1, tiles_y)))
    if layer_item is not None:
        lo = np.asarray(layer_item, np.int64) * item_cols
        tx0, tx1 = np.clip(tx0, lo, lo + item_cols - 1), np.clip(tx1, lo, lo + item_cols - 1)
    ncx = np.where(has, tx1 - tx0 + 1, 0)
    ncy = np.where(has, ty1 - ty0 + 1, 0)
    cbase = np.cumsum(ncx * ncy) - ncx * ncy
    C0 = int((ncx * ncy).sum())

    def cand(l, r, c):  # candidate index (layer-major, then row, then column)
        return cbase[l] + (r - ty0[l]) * ncx[l] + (c - tx0[l])

    # per edge: right of the column for tile columns c < K; tested in columns [K, floor((xmax + m) / T)]
    # tile coordinates and counts: int32 where they fit (the lists' temporaries scale with them)
    it = index_dtype(max(C0, len(e), tiles_x * tiles_y))
    tx0, tx1, ty0, ty1, cbase = (v.astype(it) for v in (tx0, tx1, ty0, ty1, cbase))
    ncx, ncy = ncx.astype(it), ncy.astype(it)
    K = np.clip(np.ceil((xmin - m) / T - 1.0), 0, tiles_x + 1).astype(it)
    c_lo = np.maximum(K, tx0[lay])
    c_hi = np.minimum(np.clip(np.floor((xmax + m) / T), -1, tiles_x).astype(it), tx1[lay])
    r_lo = np.maximum(np.clip(np.ceil((ymin - m) / T), 0, tiles_y + 1).astype(it) - 1, ty0[lay])
    r_hi = np.minimum(np.clip(np.floor((ymax + m) / T), -1, tiles_y).astype(it), ty1[lay])
    nc = np.where(has[lay], np.maximum(c_hi - c_lo + 1, 0), 0).astype(it)
    nr = np.where(has[lay], np.maximum(r_hi - r_lo + 1, 0), 0).astype(it)
    pe, k = _expand(np.zeros(len(e), it), nc * nr)
    col_e = c_lo[pe] + k % nc[pe]
    row_e = r_lo[pe] + k // nc[pe]
    cand_e = cand(lay[pe], row_e, col_e)

    # steps of the edges right of the column: +1 at a start, -1 at an end, for columns c < K
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
    ev_l, ev_y, ev_ca, ev_cb, ev_d = ev_l[ok], ev_y[ok], ev_ca[ok], ev_cb[ok], ev_d[ok]
    ncol = ev_cb - ev_ca
    # rows whose points may lie on either side of the step get a stub; rows below it the constant
    s_lo = np.maximum(np.ceil((ev_y - m) / T).astype(np.int64) - 1, ty0[ev_l])
    s_hi = np.minimum(np.ceil((ev_y + m) / T).astype(np.int64) - 1, ty1[ev_l])
    f_lo = np.maximum(s_hi + 1, ty0[ev_l])
    nrs = np.maximum(s_hi - s_lo + 1, 0)
    nrf = np.maximum(ty1[ev_l] - f_lo + 1, 0)
    ps, k = _expand(np.zeros(len(ev_l), np.int64), nrs * ncol)
    cand_s = cand(ev_l[ps], s_lo[ps] + k // ncol[ps], ev_ca[ps] + k % ncol[ps])
    pf, k = _expand(np.zeros(len(ev_l), np.int64), nrf * ncol)
    cand_f = cand(ev_l[pf], f_lo[pf] + k // ncol[pf], ev_ca[pf] + k % ncol[pf])
    w0 = np.bincount(cand_f, weights=ev_d[pf], minlength=C0).astype(np.int64)

    # the lists: column edges, then stubs, grouped by candidate
    sy = ev_y[ps]
    up = ev_d[ps] > 0
    stubs = np.stack([np.full(len(ps), STUB), np.where(up, sy, STUB), np.full(len(ps), STUB),
                      np.where(up, STUB, sy)], 1)
    owner = np.concatenate([cand_e, cand_s])
    src = np.concatenate([pe, len(e) + np.arange(len(ps))])[argsort_small(owner)]
    ids = np.where(src < len(e), src, 0)
    count = np.bincount(owner, minlength=C0)
    edge0 = np.cumsum(count) - count

    # candidates in (tile, layer) order; edge-free ones kept only when inside
    c_layer, loc = _expand(np.zeros(L, np.int64), ncx * ncy)
    c_tx = tx0[c_layer] + loc % np.maximum(ncx[c_layer], 1)
    c_ty = ty0[c_layer] + loc // np.maximum(ncx[c_layer], 1)
    inside = np.where(evenodd[c_layer], (w0 & 1) != 0, w0 != 0) & ~sdf[c_layer]
    keep = (count > 0) | inside
    tile = (c_ty * tiles_x + c_tx)[keep]
    sel = np.nonzero(keep)[0][argsort_small(tile.astype(np.int64) * (L + 1) + c_layer[keep])]
    cand_start = np.searchsorted((c_ty * tiles_x + c_tx)[sel], np.arange(n_tiles + 1))
    return Bins(T, tiles_x, tiles_y, cand_start, c_layer[sel], edge0[sel], count[sel], src,
                stubs.astype(np.float32), ids,
                w0[sel], edges)


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
