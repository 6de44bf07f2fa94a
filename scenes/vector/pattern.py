"""Pattern paint servers (SVG 2 section 14.3, ``<pattern>``) as shader paints: the colour at a
point is the tile content's composited colour at the point reduced modulo the tile.

The tile content is held as filled polygons in tile coordinates (curves flattened when loaded;
:mod:`.svg_pattern`), each with its straight-alpha RGBA colour, composited source-over in document
order. The rasterizer evaluates it from the polygons' edges as data
(:mod:`penumbra.integrators.vector.pattern_paint`) and samples the tile edges, repeated over the
tiles, as edges of the painted region for the boundary term
(:mod:`penumbra.integrators.vector.pattern_edges`): the paint is differentiable in the pattern
transform (the paint's ``transform``: patternTransform and the tile origin), in the polygon
vertices and in the colours (parameters ``<shape id>.fill.s<k>_ring<j>`` and ``.s<k>_color``). The tile size is
fixed. The content is clipped to the tile (the points are reduced into it), as SVG's pattern
clip says.
"""
from __future__ import annotations

import drjit as dr
import numpy as np

from penumbra.shaders.primitives import LevelRecorder
from penumbra.shaders.shader import ParameterView, Shader

from ..errors import SceneError


class PatternShader(Shader):
    """A :class:`penumbra.shaders.Shader` whose function returns straight-alpha RGBA (a list of
    four Dr.Jit arrays) instead of an opaque colour: the paint of a pattern tile. It records no
    level functions: its discontinuities are the tile polygons' edges, which the rasterizer samples
    as edges (:mod:`penumbra.integrators.vector.pattern_edges`)."""

    def __call__(self, uv, detached: bool = False, params=None):
        with LevelRecorder() as rec:
            out = self.fn(uv, ParameterView(self, detached) if params is None else params)
        return list(out), rec.levels


def pattern_shader(tile, shapes, name="pattern") -> PatternShader:
    """The shader of a tile of size ``tile`` (w, h) holding ``shapes``: a list of ``(rings, rgba)``
    with ``rings`` a list of closed polygons ((n, 2) arrays in tile coordinates, combined by the
    even-odd rule) and ``rgba`` the straight-alpha colour (4,)."""
    w, h = (float(v) for v in tile)
    if not (w > 0 and h > 0):
        raise SceneError(f"pattern {name!r}: tile size must be positive, got {w} x {h}")
    params, layout = {}, []
    for k, (rings, rgba) in enumerate(shapes):
        names = []
        for j, ring in enumerate(rings):
            ring = np.asarray(ring, np.float64).reshape(-1, 2)
            if len(ring) < 3:
                continue
            params[f"s{k}_ring{j}"] = ring
            names.append(f"s{k}_ring{j}")
        if names:
            params[f"s{k}_color"] = np.asarray(rgba, np.float64).reshape(4)
            layout.append((names, f"s{k}_color"))

    def fn(uv, p):
        # the rasterizer's evaluation (integrators.vector.pattern_paint) on the stored values
        import mitsuba as mi

        from penumbra.integrators.vector.pattern_paint import reduce_to_tile, tile_colour
        comps, shapes = [], []
        for rings, _ in layout:
            first = len(comps) // 4
            for ring in rings:
                v = p[ring]
                for k in range(len(v)):
                    a, b = v[k], v[(k + 1) % len(v)]
                    comps += [a[0], a[1], b[0], b[1]]
            shapes.append((first, len(comps) // 4 - first))
        if any(dr.width(c) != 1 for c in comps):
            raise ValueError(f"pattern {name!r}: tile vertices must be one value per parameter here "
                             "(per-point values are evaluated by the rasterizer)")
        tx, ty = reduce_to_tile(uv[0], uv[1], (w, h))
        return tile_colour(tx, ty, dr.concat([mi.Float(c) for c in comps]), mi.UInt32(0), shapes,
                           [p[color] for _, color in layout])
    shader = PatternShader(fn, params, name=name)
    shader.tile, shader.layout = (w, h), tuple(layout)
    return shader


def pattern_svg(shader, values, transform, pid) -> str:
    """A ``<pattern id=pid>`` element (userSpaceOnUse units, ``transform`` as patternTransform)
    drawing ``shader``'s tile with the parameter values ``values`` (name -> NumPy array)."""
    def f(x):
        return f"{float(x):.6g}"
    paths = []
    for rings, color in shader.layout:
        c = np.clip(np.asarray(values[color], np.float64), 0, 1)
        d = " ".join("M" + " L".join(f"{f(x)} {f(y)}" for x, y in np.asarray(values[r]).reshape(-1, 2)) + " Z"
                     for r in rings)
        paths.append(f'<path d="{d}" fill="#%02x%02x%02x" fill-opacity="{f(c[3])}" fill-rule="evenodd"/>'
                     % tuple(int(round(v * 255)) for v in c[:3]))
    w, h = shader.tile
    return (f'<pattern id="{pid}" patternUnits="userSpaceOnUse" width="{f(w)}" height="{f(h)}" '
            f'patternTransform="matrix({" ".join(f(v) for v in transform)})">{"".join(paths)}</pattern>')
