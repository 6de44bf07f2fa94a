"""Boundary term of procedural shaders' own discontinuities on directly visible surfaces.

A surface whose BSDF reads a ``shader`` texture (:mod:`penumbra.shaders.texture`) shows the
shader's edges (thresholds, stripes, masks) on the film; their motion with the shader's parameters
(or with the surface) is a boundary term that ``prb``'s interior replay cannot see. It is estimated
by :func:`penumbra.shaders.boundary.boundary_image` (line samples across each pixel, roots of the
level functions by bisection, jump by two camera paths with the same random numbers, weight by the
normal velocity): the film lookup traces a camera ray and keeps the points where the first hit is
the shader's own surface (a shader edge hidden behind an occluder contributes nothing; where the
surface's silhouette cuts a sub-interval of a line, a shader edge inside that sub-interval is not
searched). Shader edges seen only through reflections or refractions are not included.
Any pixel filter: the roots are splatted with the film's filter, normalised by its integral like the
other boundary terms (:func:`.film.filter_integral`). Used by ``edge_sampling`` and ``warped_area``.
"""
from __future__ import annotations

import drjit as dr
import mitsuba as mi

from penumbra.shaders.boundary import FilmLookup, boundary_image

from .camera import camera_radiance
from .film import filter_integral, stream_seed


def shader_surfaces(scene) -> list:
    """``[(shape, texture)]``: the shapes whose BSDF reads a shader texture with a differentiable
    (gradient-enabled) parameter."""
    out = []
    for shape in scene.shapes():
        bsdf = shape.bsdf()
        if bsdf is None:
            continue
        mp = mi.traverse(bsdf)
        seen = set()
        for key in mp.keys():
            node = mp.properties[key][2]
            if getattr(node, "is_penumbra_shader", False) and id(node) not in seen:
                seen.add(id(node))
                if any(dr.grad_enabled(v) for v in node.shader.values.values()):
                    out.append((shape, node))
    return out


class CameraLookup(FilmLookup):
    """Film points -> uv on ``shape`` through the scene's camera rays (first hit only)."""

    def __init__(self, integrator, scene, sensor, shape):
        film = sensor.film()
        self.width, self.height = (int(v) for v in film.crop_size())
        self.integrator, self.scene, self.sensor = integrator, scene, sensor
        self.shape = mi.ShapePtr(shape)
        self.inv = mi.ScalarVector2f(1.0 / self.width, 1.0 / self.height)
        self.rfilter = film.rfilter()
        self.filter_norm = filter_integral(self.rfilter)

    def _hit(self, pos):
        ray, _ = self.sensor.sample_ray(self.sensor.shutter_open(), 0.5, pos * self.inv, mi.Point2f(0.5))
        return self.scene.ray_intersect(ray)

    def uv(self, pos):
        with dr.suspend_grad():
            si = self._hit(pos)
            return si.uv, si.is_valid() & (si.shape == self.shape)

    def uv_attached(self, pos):
        with dr.resume_grad():
            return self._hit(pos).uv

    def radiance(self, pos, sampler):
        return camera_radiance(self.integrator, self.scene, self.sensor, pos, sampler)


def shader_boundary_image(integrator, scene, sensor, seed: int, spp: int):
    """Film-space image (``mi.TensorXf`` (H, W, 3), value 0) whose derivative is the boundary term of
    every differentiable shader texture seen directly (None when there is none)."""
    surfaces = shader_surfaces(scene)
    if not surfaces or spp <= 0:
        return None
    total = None
    for k, (shape, texture) in enumerate(surfaces):
        term = boundary_image(texture.shader, CameraLookup(integrator, scene, sensor, shape), spp,
                              seed=stream_seed(seed, "shader_edges", k))
        total = term if total is None else total + term
    return total
