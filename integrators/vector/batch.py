"""A batch of scenes rendered side by side: each item's compiled scene, bound parameters and
geometry, and the concatenation of all items' edges (item ``b`` is shifted right by ``b`` canvas
widths plus one spare tile column, so that one set of tile lists serves the whole batch)."""
from __future__ import annotations

from dataclasses import dataclass

import drjit as dr
import numpy as np

from .compile import Compiled, Theta
from .tessellate import Geometry


@dataclass(frozen=True)
class BatchItem:
    """One scene of the batch after compile and tessellate."""
    comp: Compiled
    theta: Theta
    geom: Geometry


@dataclass(frozen=True)
class SceneEdges:
    """All items' edges (canvas pixels, items shifted), layers numbered batch-wide."""
    x0: object               # mi.Float (E,) attached endpoints; None when there are no edges
    y0: object
    x1: object
    y1: object
    np_edges: np.ndarray     # (E, 4) float32 detached
    edge_layer: np.ndarray   # (E,) int32 layer
    edge_samp: np.ndarray    # (E,) edge may lie on the outline (gets boundary samples)
    edge_end: np.ndarray     # (E, 2) prefiltered stroke pieces: END_* kind at each end
    edge_nb: np.ndarray      # (E, 2) prefiltered stroke pieces: neighbour edge at each end
    layer_item: np.ndarray   # (L,) batch item of each layer
    n_layers: int


def concat_edges(items) -> SceneEdges:
    """:class:`SceneEdges` of the batch ``items`` (:class:`BatchItem`)."""
    e_off, l_off = 0, 0
    np_edges, edge_layer, layer_item, edge_samp, edge_end, edge_nb = [], [], [], [], [], []
    for b, it in enumerate(items):
        g = it.geom
        np_edges.append(g.np_edges)
        edge_end.append(g.edge_end)
        edge_nb.append(g.edge_nb + e_off if e_off else g.edge_nb)
        e_off += len(g.np_edges)
        edge_layer.append(g.edge_layer + l_off if l_off else g.edge_layer)
        edge_samp.append(g.edge_samp)
        layer_item.append(np.full(len(it.comp.layers), b))
        l_off += len(it.comp.layers)
    nonempty = [it.geom for it in items if len(it.geom.np_edges)]
    ends = [None] * 4
    if nonempty:
        ends = [dr.concat([getattr(g, k) for g in nonempty]) if len(nonempty) > 1 else getattr(nonempty[0], k)
                for k in ("x0", "y0", "x1", "y1")]
    def cat(parts, dtype=None):   # one item: its arrays as they are (no copy)
        a = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return a if dtype is None else a.astype(dtype, copy=False)
    return SceneEdges(*ends, cat(np_edges), cat(edge_layer, np.int32), cat(edge_samp, bool), cat(edge_end),
                      cat(edge_nb), cat(layer_item, np.int64), l_off)
