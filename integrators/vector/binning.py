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


def bin_edges(edges: np.ndarray, edge_layer: np.ndarray, n_layers: int, width: float, height: float,
              T: int = 16, margin: float = 0.0, layer_ok: np.ndarray | None = None,
              layer_item: np.ndarray | None = None, item_cols: int | None = None) -> Bins:
    """``layer_item``/``item_cols``: batch layout, item ``b`` owns tile columns
    ``[b * item_cols, (b + 1) * item_cols)``; its layers are confined to them."""
    tiles_x = max(1, int(np.ceil(width / T)))
    tiles_y = max(1, int(np.ceil(height / T)))
    n_tiles = tiles_x * tiles_y
    empty = Bins(T, tiles_x, tiles_y, np.zeros(n_tiles + 1, np.int64), np.zeros(0, np.int64),
                 np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
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
    np.minimum.at(lx0, edge_layer, xmin)
    np.minimum.at(ly0, edge_layer, ymin)
    np.maximum.at(lx1, edge_layer, xmax)
    np.maximum.at(ly1, edge_layer, ymax)
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
    # (edge, row) pairs
    r0 = np.clip(np.floor(ymin / T), 0, tiles_y - 1).astype(np.int64)
    r1 = np.clip(np.floor(ymax / T), 0, tiles_y - 1).astype(np.int64)
    vis = (ymax >= 0) & (ymin < height) & (xmax >= 0)
    nrow = np.where(vis, r1 - r0 + 1, 0)
    er_edge = np.repeat(np.arange(len(edges)), nrow)
    er_row = np.repeat(r0, nrow) + (np.arange(nrow.sum()) - np.repeat(np.cumsum(nrow) - nrow, nrow))
    group = edge_layer[er_edge] * tiles_y + er_row
    gx = xmax[er_edge]
    # sort by group, then by xmax descending
    order = np.lexsort((-gx, group))
    group, gx, er_edge = group[order], gx[order], er_edge[order]
    gstart = np.searchsorted(group, np.arange(L * tiles_y + 1))
    # candidates: every tile in each layer's bbox
    ncx, ncy = tx1 - tx0 + 1, ty1 - ty0 + 1
    nc = ncx * ncy
    c_layer = np.repeat(lay, nc)
    loc = np.arange(nc.sum()) - np.repeat(np.cumsum(nc) - nc, nc)
    c_tx = np.repeat(tx0, nc) + loc % np.repeat(ncx, nc)
    c_ty = np.repeat(ty0, nc) + loc // np.repeat(ncx, nc)
    g = c_layer * tiles_y + c_ty
    g0, g1 = gstart[g], gstart[g + 1]
    # within group g the xmax are descending: count those >= tile left side
    thr = c_tx * T
    # key search: encode (group, -xmax) monotonically
    span = float(width + 4 * margin + 4 * T + 1)
    key = group.astype(np.float64) + np.clip((-gx + width + 2 * margin + 2 * T) / span, 0, 0.999999)
    q = g.astype(np.float64) + np.clip((-(thr.astype(np.float64)) + width + 2 * margin + 2 * T) / span, 0, 0.999999)
    pos = np.searchsorted(key, q, side="right")
    count = np.clip(pos - g0, 0, g1 - g0)
    ok = count > 0
    c_layer, c_tx, c_ty, c_e0, c_cnt = c_layer[ok], c_tx[ok], c_ty[ok], g0[ok], count[ok]
    tile = c_ty * tiles_x + c_tx
    order = np.lexsort((c_layer, tile))
    tile, c_layer, c_e0, c_cnt = tile[order], c_layer[order], c_e0[order], c_cnt[order]
    cand_start = np.searchsorted(tile, np.arange(n_tiles + 1))
    binned = edges[er_edge].astype(np.float32)
    return Bins(T, tiles_x, tiles_y, cand_start, c_layer, c_e0, c_cnt, binned, orig[er_edge])
