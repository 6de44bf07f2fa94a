"""Boundary term of shader paints' own discontinuities inside the shapes they fill or stroke.

A shader paint jumps where one of its level functions g(uv(x); θ) crosses zero
(:mod:`penumbra.shaders.primitives`); the rasterized pixel I_j = ∫_{P_j} f(x) dx (box filter, f
the composited colour) then has the boundary derivative ∫_{Γ ∩ P_j} Δf (∂g/∂θ) / |∇ₓg| dℓ
(Li et al. 2018; Teg, Bangaru et al. 2021), estimated by the line samples of
:func:`penumbra.shaders.boundary.boundary_image`. The vector rasterizer supplies the film:

- uv: the canvas point in the layer's paint space (:func:`.shader_paint.paint_uv`), everywhere on
  the canvas (g is continuous there, whether or not the layer covers the point);
- the jump Δf: the rasterizer's composited colour (:meth:`.composite.Shading.composited`) at the
  two ends of the final bracket. Where the layer does not cover the root, or an opaque layer above
  hides it, both sides have the same colour and the root adds nothing; partial coverage, layer and
  group opacity and the layers below enter through the composite itself.

The shapes' own edges keep their term (:mod:`.boundary`); a shader edge that meets a shape edge
meets it in isolated points, which carry no length. One ``boundary_image`` per shader-painted
layer, over the whole batch strip (items side by side, ``Canvas.item_width`` apart). Pattern paints
are not handled here: their tile edges are sampled as edges (:mod:`.pattern_edges`)."""
from __future__ import annotations

import drjit as dr
import numpy as np

from penumbra.renderer.arrays import upload
from penumbra.shaders.boundary import FilmLookup, boundary_image

from .composite import Shading
from .pixels import Canvas
from .shader_paint import SlotView, paint_uv


def composited_rgb(shading: Shading, canvas: Canvas, px, py):
    """Composited premultiplied RGB (``mi.Color3f``, detached) at canvas points ``(px, py)`` in any
    order (:meth:`.composite.Shading.colour_at`)."""
    import mitsuba as mi
    dr.eval(px, py)
    out = shading.colour_at(px.numpy(), py.numpy(), canvas.tile)
    return mi.Color3f(*(upload(mi.Float, np.ascontiguousarray(out[:, k])) for k in range(3)))


class LayerShader:
    """The level functions of the shader of one layer, its parameters read from ``theta`` at the
    layer's slots (the interface :func:`~penumbra.shaders.boundary.boundary_image` calls)."""

    def __init__(self, shader, theta, slots: dict):
        self.shader, self.theta, self.slots = shader, theta, slots

    def levels(self, uv, detached: bool = False):
        theta = dr.detach(self.theta) if detached else self.theta
        return self.shader.levels(uv, params=SlotView(self.shader, theta, self.slots))


class LayerFilm(FilmLookup):
    """The rasterizer seen by the line samples of one shader-painted ``layer``: film = the batch
    strip in canvas pixels, uv = paint space of the layer, radiance = the composited colour."""

    def __init__(self, shading: Shading, canvas: Canvas, layer: int):
        import mitsuba as mi
        self.shading, self.canvas = shading, canvas
        self.width, self.height = canvas.batch * canvas.item_width, canvas.height
        self.inv = [dr.gather(mi.Float, m, mi.UInt32(layer)) for m in shading.layers.inv]

    def uv(self, pos, chain=None):
        import mitsuba as mi
        return paint_uv([dr.detach(m) for m in self.inv], pos.x, pos.y), mi.Bool(True)

    def uv_attached(self, pos, chain=None):
        return paint_uv(self.inv, pos.x, pos.y)

    def radiance(self, pos, sampler):
        return composited_rgb(self.shading, self.canvas, pos.x, pos.y)


def shader_edge_term(img, shading: Shading, canvas: Canvas, seed: int, info: dict):
    """``img`` (premultiplied pixels, 4 ``mi.Float`` of ``B * H * W``) plus the boundary term of
    the discontinuities of every shader paint but patterns (zero in value; ``canvas.spp`` line
    pairs per pixel). Records ``n_shader_layers`` in ``info``."""
    import mitsuba as mi
    if canvas.filter != "box" and any(entry.tile is None for entry in shading.layers.shaders):
        raise ValueError(f"rasterize(filter={canvas.filter!r}): gradients of shader paints need filter='box' "
                         "(their discontinuities' boundary term is box-filtered)")
    B, H, W, Wp = canvas.batch, canvas.height, canvas.width, canvas.item_width
    # output pixel (b, y, x) -> pixel of the batch strip (H, B * Wp)
    bb, yy, xx = np.meshgrid(np.arange(B), np.arange(H), np.arange(W), indexing="ij")
    src = upload(mi.UInt32, (yy * (B * Wp) + bb * Wp + xx).reshape(-1) * 3)
    n_layers = 0
    for entry in shading.layers.shaders:
        if entry.tile is not None:
            continue   # patterns: their tile edges are sampled as edges (.pattern_paint)
        for layer, slots in entry.layer_slots.items():
            film = LayerFilm(shading, canvas, layer)
            term = boundary_image(LayerShader(entry.shader, shading.theta, slots), film, canvas.spp, seed)
            img = [img[c] + dr.gather(mi.Float, term.array, src + c) for c in range(3)] + [img[3]]
            n_layers += 1
    info["n_shader_layers"] = n_layers
    return img
