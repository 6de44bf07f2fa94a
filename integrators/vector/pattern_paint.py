"""Pattern paints (:class:`penumbra.scenes.vector.pattern.PatternShader`) in the rasterizer: the
tile content as edge arrays and its colour at points.

*Colour.* The tile content's polygons are flat edge lists (x0 y0 x1 y1 per edge, gathered from
``theta``): a point reduced modulo the tile is inside tile shape k where the crossings of the
shape's edges (all its rings) are odd (:func:`.kernels.winding`, a loop over the edges as data),
and the covered shapes are composited source-over in document order (:func:`tile_colour`). The
kernel grows by one small loop per tile shape, not with the shapes' vertex counts. The colours
are attached to ``theta`` (interior derivative by AD); inside a shape the colour does not depend
on the vertices or on the pattern transform.

The boundary term of the tile edges is :mod:`.pattern_edges`."""
from __future__ import annotations

from dataclasses import dataclass

import drjit as dr
import numpy as np

from penumbra.renderer.arrays import upload


@dataclass(frozen=True)
class TileEdges:
    """The tile content of one pattern shader over its layers: ``index`` (``mi.UInt32``, 4 per
    edge) the theta slots of every edge's x0 y0 x1 y1, the layers' edge lists one after the other;
    ``host`` the same (E, 4) on the host; ``base`` (``mi.UInt32`` (L,)) the first edge of each
    layer's list (0 on other layers) and ``layer_base`` the same per layer on the host;
    ``shapes`` ((first, count), ...) each tile shape's edges within a layer's list and ``colors``
    the name of each shape's colour parameter."""
    index: object
    host: np.ndarray
    base: object
    layer_base: dict
    shapes: tuple
    colors: tuple
    tile: tuple


def tile_edges(shader, per_layer: dict, n_layers: int) -> TileEdges:
    """:class:`TileEdges` of pattern ``shader`` on the layers ``per_layer`` ({layer: {parameter
    name: theta slot}})."""
    import mitsuba as mi
    shapes, colors, local = [], [], []   # local: (ring name, vertex k, vertex k + 1)
    for rings, color in shader.layout:
        first = len(local)
        for ring in rings:
            n = int(shader.shapes[ring][0])
            local += [(ring, k, (k + 1) % n) for k in range(n)]
        shapes.append((first, len(local) - first))
        colors.append(color)
    rows, layer_base = [], {}
    base = np.zeros(n_layers, np.int64)
    for layer, slots in per_layer.items():
        layer_base[layer] = base[layer] = len(rows)
        rows += [(slots[r] + 2 * a, slots[r] + 2 * a + 1, slots[r] + 2 * b, slots[r] + 2 * b + 1) for r, a, b in local]
    host = np.asarray(rows, np.int64).reshape(-1, 4)
    return TileEdges(upload(mi.UInt32, host.reshape(-1)), host, upload(mi.UInt32, base), layer_base, tuple(shapes),
                     tuple(colors), tuple(shader.tile))


def reduce_to_tile(u, v, tile):
    """Point ``(u, v)`` of paint space reduced modulo the tile into [0, w) x [0, h) (detached)."""
    w, h = tile
    u, v = dr.detach(u), dr.detach(v)
    tx = u - dr.floor(u / w) * w
    ty = v - dr.floor(v / h) * h
    # rounding can leave the reduced point just outside [0, w) x [0, h)
    tx = dr.select(tx >= w, tx - w, dr.select(tx < 0, tx + w, tx))
    ty = dr.select(ty >= h, ty - h, dr.select(ty < 0, ty + h, ty))
    return tx, ty


def tile_colour(tx, ty, edges, base, shapes, colors):
    """Straight-alpha RGBA (4 ``mi.Float``) of the tile content at tile points ``(tx, ty)``:
    shape k (edges ``base + first .. + count`` of the flat list ``edges``, even-odd over all its
    rings) covers a point where its crossing count is odd; covered shapes (colour ``colors[k]``,
    straight RGBA) are composited source-over in order."""
    import mitsuba as mi

    from .kernels import winding   # kernels evaluates paints through this module
    r = g = b = a = dr.zeros(mi.Float, dr.width(tx))
    for (first, count), c in zip(shapes, colors):
        w = winding(tx, ty, base + first, count, edges, 0)
        alpha = dr.select((w & 1) != 0, c[3], 0.0)
        r, g, b = (c[0] * alpha + r * (1 - alpha), c[1] * alpha + g * (1 - alpha), c[2] * alpha + b * (1 - alpha))
        a = alpha + a * (1 - alpha)
    inv = dr.select(a > 0, 1.0 / dr.maximum(a, 1e-12), 0.0)
    return [r * inv, g * inv, b * inv, a]


def pattern_colour(entry, layer, uv, theta, view):
    """Straight RGBA of the pattern of shader layers ``entry`` (:class:`.shader_paint.ShaderLayers`
    with ``tile``) at paint-space points ``uv`` of pairs on ``layer``; colours read through
    ``view`` (:class:`.shader_paint.SlotView`, attached to ``theta``)."""
    import mitsuba as mi
    te = entry.tile
    edges = dr.gather(mi.Float, dr.detach(theta), te.index)
    tx, ty = reduce_to_tile(uv[0], uv[1], te.tile)
    return tile_colour(tx, ty, edges, dr.gather(mi.UInt32, te.base, layer), te.shapes,
                       [view[c] for c in te.colors])
