"""Tile binning: the acceleration structure that keeps the rasterizer away from
O(pixels x paths) work.

The canvas is cut into ``T x T`` pixel tiles. For every tile we list the *candidate layers*
(a layer is one shape's fill or stroke) whose bounding box touches the tile, in draw order, and
for each candidate the edges that can change a winding number inside the tile: those of the
layer that overlap the tile's row band and reach at least its left side (the winding number is
counted along a ray towards +x). Edges are grouped by (layer, tile row) and sorted by their
right end, so each candidate's list is a prefix of its group. This is the same per-tile culling
idea as GPU path renderers' tile binning; diffvg instead uses a BVH per shape.
Pure NumPy on detached edge positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Bins:
    T: int
    tiles_x: int
    tiles_y: int
    cand_start: np.ndarray   # (n_tiles + 1,) CSR into candidate arrays
    cand_layer: np.ndarray   # (C,)
    cand_edge0: np.ndarray   # (C,) start into the binned edge list
    cand_count: np.ndarray   # (C,)
    edges: np.ndarray        # (B, 4) binned edge coordinates (float32), candidate lists are slices
    edge_id: np.ndarray      # (B,) original edge index
    cand_w0: np.ndarray = None  # (C,) winding number carried in from a constant (edge-free) tile
    const: np.ndarray = None    # (C,) candidate whose tile no edge of the layer crosses
    cand_dir: np.ndarray = None  # (C,) ray direction 0:+x 1:-x 2:+y 3:-y (edges stored transformed)


def bin_edges(edges: np.ndarray, edge_layer: np.ndarray, n_layers: int, width: float, height: float,
              T: int = 16, margin: float = 0.0, layer_ok: np.ndarray | None = None,
              layer_item: np.ndarray | None = None, item_cols: int | None = None, directions: int = 1) -> Bins:
    """``layer_item``/``item_cols``: batch layout, item ``b`` owns tile columns
    ``[b * item_cols, (b + 1) * item_cols)``; its layers are confined to them. ``directions``: 1 (rays
    along +x), 2 (+-x) or 4 (+-x, +-y): each candidate counts windings along the shortest of these
    edge lists (fewer edge tests, more binning work; measured roughly break-even on 2 cores)."""
    if directions not in (1, 2, 4):
        raise ValueError(f"bin_edges(): directions must be 1, 2 or 4, got {directions}")
    tiles_x = max(1, int(np.ceil(width / T)))
    tiles_y = max(1, int(np.ceil(height / T)))
    n_tiles = tiles_x * tiles_y
    empty = Bins(T, tiles_x, tiles_y, np.zeros(n_tiles + 1, np.int64), np.zeros(0, np.int64),
                 np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, np.int64),
                 np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.int64))
    if len(edges) == 0:
        return empty
    if layer_ok is not None:
        keep = layer_ok[edge_layer]
        edges, edge_layer = edges[keep], edge_layer[keep]
        orig = np.nonzero(keep)[0]
    else:
        orig = np.arange(len(edges))
    if len(edges) == 0:
        return empty
    xmin = np.minimum(edges[:, 0], edges[:, 2]) - margin
    xmax = np.maximum(edges[:, 0], edges[:, 2]) + margin
    ymin = np.minimum(edges[:, 1], edges[:, 3]) - margin
    ymax = np.maximum(edges[:, 1], edges[:, 3]) + margin
    # layer bounding boxes, clipped to the canvas (in tiles)
    L = n_layers
    lx0 = np.full(L, np.inf)
    ly0 = np.full(L, np.inf)
    lx1 = np.full(L, -np.inf)
    ly1 = np.full(L, -np.inf)
    # per-layer boxes by segment reductions over edges sorted by layer (ufunc.at is ~10x slower)
    srt = np.argsort(edge_layer, kind="stable")
    sl = edge_layer[srt]
    first = np.concatenate([[0], np.nonzero(sl[1:] != sl[:-1])[0] + 1])
    uniq = sl[first]
    lx0[uniq] = np.minimum.reduceat(xmin[srt], first)
    ly0[uniq] = np.minimum.reduceat(ymin[srt], first)
    lx1[uniq] = np.maximum.reduceat(xmax[srt], first)
    ly1[uniq] = np.maximum.reduceat(ymax[srt], first)
    has = np.isfinite(lx0)
    tx0 = np.clip(np.floor(lx0[has] / T), 0, tiles_x - 1).astype(np.int64)
    tx1 = np.clip(np.floor(lx1[has] / T), 0, tiles_x - 1).astype(np.int64)
    ty0 = np.clip(np.floor(ly0[has] / T), 0, tiles_y - 1).astype(np.int64)
    ty1 = np.clip(np.floor(ly1[has] / T), 0, tiles_y - 1).astype(np.int64)
    if layer_item is not None:
        lo = layer_item[has] * item_cols
        tx0 = np.clip(tx0, lo, lo + item_cols - 1)
        tx1 = np.clip(tx1, lo, lo + item_cols - 1)
    inside = (lx1[has] >= 0) & (ly1[has] >= 0) & (lx0[has] < width) & (ly0[has] < height)
    lay = np.nonzero(has)[0][inside]
    tx0, tx1, ty0, ty1 = tx0[inside], tx1[inside], ty0[inside], ty1[inside]
    # candidates: every tile in each layer's bbox
    ncx, ncy = tx1 - tx0 + 1, ty1 - ty0 + 1
    nc = ncx * ncy
    c_layer = np.repeat(lay, nc)
    loc = np.arange(nc.sum()) - np.repeat(np.cumsum(nc) - nc, nc)
    c_tx = np.repeat(tx0, nc) + loc % np.repeat(ncx, nc)
    c_ty = np.repeat(ty0, nc) + loc // np.repeat(ncx, nc)
    # per direction (+x, -x, +y, -y): edges of the layer in the tile's row (column) band that reach
    # the tile's side facing the ray; each candidate then counts windings along the shortest list
    e = edges
    flips = [lambda: e, lambda: np.stack([-e[:, 0], e[:, 1], -e[:, 2], e[:, 3]], 1),
             lambda: np.stack([e[:, 1], e[:, 0], e[:, 3], e[:, 2]], 1),
             lambda: np.stack([-e[:, 1], e[:, 0], -e[:, 3], e[:, 2]], 1)]
    dirs = [  # (band lo, band hi, n bands, candidate band, value (desc), threshold, transformed edges)
        (ymin, ymax, tiles_y, c_ty, xmax, c_tx * T, flips[0]),
        (ymin, ymax, tiles_y, c_ty, -xmin, -(c_tx + 1) * T, flips[1]),
        (xmin, xmax, tiles_x, c_tx, ymax, c_ty * T, flips[2]),
        (xmin, xmax, tiles_x, c_tx, -ymin, -(c_ty + 1) * T, flips[3]),
    ]
    lists, starts, counts = [], [], []
    offset = 0
    span = float(max(width, height) + 4 * margin + 4 * T + 1)
    big = float(max(width, height) + 2 * margin + 2 * T)
    expanded = {}
    for k, (blo, bhi, nb, cb, val, thr, te) in enumerate(dirs[:directions]):
        axis = k // 2
        if axis not in expanded:  # (edge, band) pairs are shared by the two directions of an axis
            b0 = np.clip(np.floor(blo / T), 0, nb - 1).astype(np.int64)
            b1 = np.clip(np.floor(bhi / T), 0, nb - 1).astype(np.int64)
            nbn = np.where((bhi >= 0) & (blo < nb * T), b1 - b0 + 1, 0)
            pe = np.repeat(np.arange(len(edges)), nbn)
            pb = np.repeat(b0, nbn) + (np.arange(nbn.sum()) - np.repeat(np.cumsum(nbn) - nbn, nbn))
            expanded[axis] = (pe, (edge_layer[pe] * nb + pb).astype(np.int64))
        er_edge, group = expanded[axis]
        gv = val[er_edge]
        qk = np.clip((big - gv) * 1024.0, 0, 2 ** 30 - 1).astype(np.int64)
        order = np.argsort(group * 2 ** 30 + qk)
        group, gv, er_edge = group[order], gv[order], er_edge[order]
        gstart = np.searchsorted(group, np.arange(L * nb + 1))
        g = c_layer * nb + cb
        g0, g1 = gstart[g], gstart[g + 1]
        key = group.astype(np.float64) + np.clip((big - gv) / span, 0, 0.999999)
        qq = g.astype(np.float64) + np.clip((big - thr.astype(np.float64)) / span, 0, 0.999999)
        pos = np.searchsorted(key, qq, side="right")
        counts.append(np.clip(pos - g0, 0, g1 - g0))
        starts.append(g0 + offset)
        lists.append((er_edge, te()[er_edge]))
        offset += len(er_edge)
        if len(lists) == 1:
            er_edge_x, group_x = er_edge, group  # +x lists, used for the crossing test below
    counts = np.stack(counts, 1)
    starts = np.stack(starts, 1)
    ok = counts[:, 0] > 0  # the +x list is empty only if nothing can wind around the tile
    best = np.argmin(counts, axis=1)
    c_dir = best[ok]
    c_cnt = counts[ok, :][np.arange(ok.sum()), c_dir]
    c_e0 = starts[ok, :][np.arange(ok.sum()), c_dir]
    c_layer, c_tx, c_ty = c_layer[ok], c_tx[ok], c_ty[ok]
    er_edge, group = er_edge_x, group_x
    # tiles that some edge of the layer actually crosses (within the margin); elsewhere the winding
    # number is constant over the tile (the "backdrop" of tile-based path renderers)
    cx0 = np.clip(np.floor(xmin[er_edge] / T), 0, tiles_x - 1).astype(np.int64)
    cx1 = np.clip(np.floor(xmax[er_edge] / T), 0, tiles_x - 1).astype(np.int64)
    ncol = np.where(xmax[er_edge] >= 0, cx1 - cx0 + 1, 0)
    t_col = np.repeat(cx0, ncol) + (np.arange(ncol.sum()) - np.repeat(np.cumsum(ncol) - ncol, ncol))
    t_key = np.unique(np.repeat(group, ncol) * tiles_x + t_col)
    c_key = (c_layer * tiles_y + c_ty) * tiles_x + c_tx
    pos = np.searchsorted(t_key, c_key)
    crossed = (pos < len(t_key)) & (t_key[np.minimum(pos, len(t_key) - 1)] == c_key)
    tile = c_ty * tiles_x + c_tx
    order = np.argsort(tile.astype(np.int64) * (n_layers + 1) + c_layer, kind="stable")
    tile, c_layer, c_e0, c_cnt, crossed = tile[order], c_layer[order], c_e0[order], c_cnt[order], crossed[order]
    c_dir = c_dir[order]
    cand_start = np.searchsorted(tile, np.arange(n_tiles + 1))
    binned = np.concatenate([te for _, te in lists]).astype(np.float32)
    ids = np.concatenate([orig[ee] for ee, _ in lists])
    return Bins(T, tiles_x, tiles_y, cand_start, c_layer, c_e0, c_cnt, binned, ids,
                np.zeros(len(c_layer), np.int64), ~crossed, c_dir)


def resolve_constant_tiles(bins: Bins, winding_at, evenodd: np.ndarray, sdf: np.ndarray) -> Bins:
    """Replace candidates whose tile no edge crosses by their constant winding number (computed once
    at the tile centre by ``winding_at(x, y, e0, count)``): dropped when outside, kept with an empty
    edge list and that winding when inside. Cuts the work of thin strokes with large bounding boxes."""
    c = np.nonzero(bins.const)[0]
    if not len(c):
        return bins
    tile = np.searchsorted(bins.cand_start, c, side="right") - 1
    tx, ty = tile % bins.tiles_x, tile // bins.tiles_x
    u, v = transform_points((tx + 0.5) * bins.T, (ty + 0.5) * bins.T, bins.cand_dir[c])
    w = winding_at(u, v, bins.cand_edge0[c], bins.cand_count[c])
    lay = bins.cand_layer[c]
    inside = np.where(evenodd[lay], (w & 1) != 0, w != 0) & ~sdf[lay]
    keep = np.ones(len(bins.cand_layer), bool)
    keep[c[~inside]] = False
    w0 = bins.cand_w0.copy()
    w0[c] = w
    cnt = bins.cand_count.copy()
    cnt[c] = 0
    tile_of = np.searchsorted(bins.cand_start, np.arange(len(keep)), side="right") - 1
    new_start = np.searchsorted(tile_of[keep], np.arange(bins.tiles_x * bins.tiles_y + 1))
    return Bins(bins.T, bins.tiles_x, bins.tiles_y, new_start, bins.cand_layer[keep], bins.cand_edge0[keep],
                cnt[keep], bins.edges, bins.edge_id, w0[keep], np.zeros(keep.sum(), bool), bins.cand_dir[keep])


def transform_points(x, y, d):
    """Map points into the frame of ray direction ``d`` (0:+x 1:-x 2:+y 3:-y), where the ray is +x."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    u = np.where(d >= 2, y, x) * np.where(d % 2 == 1, -1.0, 1.0)
    v = np.where(d >= 2, x, y)
    return u, v
