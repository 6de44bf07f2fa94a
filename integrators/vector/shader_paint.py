"""Shader paints in the rasterizer's paint evaluation: the layers that a procedural shader
(:class:`penumbra.shaders.Shader`, wrapped as :class:`penumbra.scenes.vector.ShaderPaint`) paints,
where its parameters live in the batch's ``theta``, and its colour at covered points.

The shader reads ``p[name]`` from ``theta`` (so ``rasterize(params={"<id>.fill.<name>": x})``
differentiates through it like any other parameter) and sees ``uv`` = the canvas point mapped
into paint space by the inverse of (shape transform o paint transform), the same map as
gradients. Its value is attached to ``theta``: the interior part of the derivative flows through
AD of the shader at the pixel samples. Its own discontinuities are handled by
:mod:`.shader_edges`."""
from __future__ import annotations

from dataclasses import dataclass

import drjit as dr
import numpy as np

from penumbra.renderer.arrays import upload
from penumbra.scenes.vector.pattern import PatternShader
from penumbra.shaders.shader import parameter_value

from .pattern_paint import pattern_colour, tile_edges


@dataclass(frozen=True)
class ShaderLayers:
    """One shader's layers in a batch: ``active`` (``mi.Bool`` (L,)) marks them, ``slots`` maps
    each parameter name to the theta slot of its first component per layer (``mi.UInt32`` (L,),
    0 on other layers), ``layer_slots`` the same on the host for each of the shader's layers
    (``{layer: {name: slot}}``); ``tile``: the tile content of a pattern shader
    (:class:`.pattern_paint.TileEdges`), None for other shaders."""
    shader: object
    active: object
    slots: dict
    layer_slots: dict
    tile: object = None


def shader_layers(records, n_layers: int) -> tuple:
    """:class:`ShaderLayers` of every distinct shader among ``records`` ((batch-wide layer,
    :class:`.compile.Paint`, theta shift of its item) of the shader-painted layers)."""
    import mitsuba as mi
    by_shader = {}
    for layer, paint, shift in records:
        by_shader.setdefault(id(paint.shader), (paint.shader, {}))[1][layer] = {k: shift + s for k, s in paint.params}
    out = []
    for shader, per_layer in by_shader.values():
        active = np.zeros(n_layers, bool)
        active[list(per_layer)] = True
        slots = {}
        for name in shader.values:
            s = np.zeros(n_layers, np.int64)
            for layer, ps in per_layer.items():
                s[layer] = ps[name]
            slots[name] = upload(mi.UInt32, s)
        tile = tile_edges(shader, per_layer, n_layers) if isinstance(shader, PatternShader) else None
        out.append(ShaderLayers(shader, upload(mi.Bool, active), slots, per_layer, tile))
    return tuple(out)


class SlotView:
    """``p[name]`` inside a shader evaluated by the rasterizer: the parameter's components
    gathered from ``theta`` at ``slots[name]`` (per lane, or one slot for all lanes)."""

    def __init__(self, shader, theta, slots: dict):
        self.shader, self.theta, self.slots = shader, theta, slots

    def __getitem__(self, name):
        import mitsuba as mi
        if name not in self.slots:
            raise KeyError(f"shader {self.shader.name!r} has no parameter {name!r} (it has {sorted(self.slots)})")
        shape = self.shader.shapes[name]
        base = self.slots[name]
        base = mi.UInt32(base) if isinstance(base, (int, np.integer)) else base
        comps = [dr.gather(mi.Float, self.theta, base + k) for k in range(int(np.prod(shape)) if shape else 1)]
        return parameter_value(comps, shape)


def paint_uv(inv, x, y):
    """Paint-space point of canvas points ``(x, y)`` under the 6 affine coefficients ``inv``
    (SVG matrix order a b c d e f)."""
    import mitsuba as mi
    return mi.Point2f(inv[0] * x + inv[2] * y + inv[4], inv[1] * x + inv[3] * y + inv[5])


def shader_colours(layer, x, y, theta, lay, col):
    """``col`` (straight RGBA, 4 ``mi.Float`` per covered pair) with the pairs of shader-painted
    layers replaced by their shader's colour at ``(x, y)`` (opaque, or the alpha of a shader that
    returns RGBA such as :class:`penumbra.scenes.vector.pattern.PatternShader`; AD through
    ``theta`` and the paint-space map ``lay.inv``)."""
    import mitsuba as mi
    col = list(col)
    uv = paint_uv([dr.gather(mi.Float, m, layer) for m in lay.inv], x, y)
    for entry in lay.shaders:
        active = dr.gather(mi.Bool, entry.active, layer)
        view = SlotView(entry.shader, theta, {k: dr.gather(mi.UInt32, s, layer) for k, s in entry.slots.items()})
        value = pattern_colour(entry, layer, uv, theta, view) if entry.tile is not None else \
            entry.shader(uv, params=view)[0]
        alpha = value[3] if len(value) == 4 else 1.0   # pattern shaders return straight RGBA
        col = [dr.select(active, value[c], col[c]) for c in range(3)] + [dr.select(active, alpha, col[3])]
    return col
