"""A shader rendered on a 2D canvas: the pixel-footprint integral of the shader over uv = film
position / (W, H), box-filtered, with the boundary term of its discontinuities.

This is the vector-graphics view of a shader (a paint covering the canvas): the interior part of the
derivative flows through Dr.Jit's AD of the shader at stratified pixel samples, the boundary part
comes from :func:`.boundary.boundary_image`. ``boundary=False`` gives plain AD (what an
autodiff framework returns for the same program: zero for thresholds, stripe phases, masks).
"""
from __future__ import annotations

import drjit as dr

from penumbra.renderer import checks, ensure_variant, memory

from .boundary import FilmLookup, boundary_image


class CanvasLookup(FilmLookup):
    """Canvas coordinates: uv = pos / (W, H); the image value is the shader itself."""

    def __init__(self, shader, width, height):
        self.shader, self.width, self.height = shader, width, height

    def uv(self, pos, chain=None):
        import mitsuba as mi
        return mi.Point2f(pos.x / self.width, pos.y / self.height), mi.Bool(True)

    def radiance(self, pos, sampler):
        return self.shader(self.uv(pos)[0], detached=True)[0]


def render_canvas(shader, width: int, height: int, spp: int = 16, seed: int = 0, boundary: bool = True,
                  boundary_spp: int | None = None):
    """``mi.TensorXf`` (H, W, 3): the box-filtered image of ``shader`` on a ``width`` x ``height``
    canvas (``spp`` stratified samples per pixel when it is a square, else independent), attached to
    the shader's parameters; with ``boundary`` the derivative includes the discontinuities' term
    (``boundary_spp`` line pairs per pixel, default ``spp``)."""
    ensure_variant()
    import mitsuba as mi
    W = checks.integer("render_canvas(width=...)", width, lo=1)
    H = checks.integer("render_canvas(height=...)", height, lo=1)
    spp = checks.integer("render_canvas(spp=...)", spp, lo=1)
    n = W * H * spp
    # ~128 B per pixel sample (position, uv, value and their AD nodes); the boundary term's line pairs
    # (10 points each, bisected in place) ~512 B per pair.
    memory.guard(f"render_canvas() of {W}x{H} pixels at spp {spp}",
                 float(n) * 128 + float(W * H) * (boundary_spp or spp) * 512 * bool(boundary),
                 "the canvas size, spp or boundary_spp")
    with dr.suspend_grad():
        sampler = mi.load_dict({"type": "independent"})
        sampler.seed(int(seed), n)
        idx = dr.arange(mi.UInt32, n)
        pix, k = idx // spp, idx % spp
        side = int(round(spp ** 0.5))
        jitter = sampler.next_2d()
        if side * side == spp:
            jitter = (mi.Point2f(mi.Float(k % side), mi.Float(k // side)) + jitter) / side
        pos = mi.Point2f(mi.Float(pix % W), mi.Float(pix // W)) + jitter
    lookup = CanvasLookup(shader, W, H)
    value = shader(lookup.uv(pos)[0])[0]
    img = dr.zeros(mi.Float, H * W * 3)
    for c in range(3):
        dr.scatter_reduce(dr.ReduceOp.Add, img, value[c] / spp, pix * 3 + c)
    img = mi.TensorXf(img, (H, W, 3))
    if boundary:
        img = img + boundary_image(shader, lookup, boundary_spp or spp, seed)
    return img
