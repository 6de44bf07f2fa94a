"""Pattern paint servers (SVG 2 section 14.3, ``<pattern>``) as shader paints: the colour at a
point is the tile content's composited colour at the point reduced modulo the tile.

The tile content is held as filled polygons in tile coordinates (curves flattened when loaded;
:mod:`.svg_pattern`), each with its straight-alpha RGBA colour, composited source-over in document
order. Every polygon's inside is a :func:`penumbra.shaders.primitives.polygon_distance` level
function, so the rasterizer's shader-edge term (:mod:`integrators.vector.shader_edges`) carries
the derivative of the content edges: the paint is differentiable in the pattern transform (the
paint's ``transform``: patternTransform and the tile origin), in the polygon vertices and in the
colours (parameters ``<shape id>.fill.s<k>_ring<j>`` and ``.s<k>_color``). The tile size is
fixed. The content is clipped to the tile (the points are reduced into it), as SVG's pattern
clip says.
"""
from __future__ import annotations

import drjit as dr
import numpy as np

from penumbra.shaders.primitives import LevelRecorder, polygon_distance, step
from penumbra.shaders.shader import ParameterView, Shader

from ..errors import SceneError


class PatternShader(Shader):
    """A :class:`penumbra.shaders.Shader` whose function returns straight-alpha RGBA (a list of
    four Dr.Jit arrays) instead of an opaque colour: the paint of a pattern tile."""

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
        import mitsuba as mi
        # the point in the tile: uv reduced modulo the tile (derivative 1 with respect to uv)
        tx = uv[0] - dr.detach(dr.floor(uv[0] / w)) * w
        ty = uv[1] - dr.detach(dr.floor(uv[1] / h)) * h
        # rounding can leave the reduced point just outside [0, w) x [0, h)
        tx = dr.select(tx >= w, tx - w, dr.select(tx < 0, tx + w, tx))
        ty = dr.select(ty >= h, ty - h, dr.select(ty < 0, ty + h, ty))
        t = mi.Point2f(tx, ty)
        r = g = b = a = dr.zeros(mi.Float, dr.width(tx))
        for rings, color in layout:
            mask = None
            for ring in rings:
                m = step(polygon_distance(t, p[ring]))
                mask = m if mask is None else mask + m - 2.0 * mask * m   # even-odd
            c = p[color]
            alpha = c[3] * mask
            r, g, b = (c[0] * alpha + r * (1 - alpha), c[1] * alpha + g * (1 - alpha), c[2] * alpha + b * (1 - alpha))
            a = alpha + a * (1 - alpha)
        inv = dr.select(a > 0, 1.0 / dr.maximum(a, 1e-12), 0.0)
        return [r * inv, g * inv, b * inv, a]
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
