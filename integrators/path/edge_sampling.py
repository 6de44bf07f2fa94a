"""``edge_sampling``: a path tracer with visibility-aware gradients by edge sampling.

Li, Aittala, Durand, Lehtinen 2018, "Differentiable Monte Carlo Ray Tracing through Edge Sampling".

The derivative of an image splits into an *interior* term (derivatives of the integrand for fixed
film/path-space samples) and *boundary* terms (integrals over the curves where the integrand is
discontinuous, weighted by the difference of radiance across them and by their normal velocity).

- Interior: path replay backpropagation (Vicini, Speierer, Jakob 2021) with next-event estimation
  and MIS, constant memory in path length, including the terms for parameters that move geometry
  (attached intersections and the solid-angle/area Jacobian of emitter samples). This is Mitsuba
  3.9's ``prb`` estimator, which this integrator extends.
- Primary boundary: silhouette and crease edges projected on the film, chosen by length and a
  pilot estimate of their radiance jump, stratified (:mod:`integrators.path.primary`); and the
  shading-normal terminator inside smooth-shaded meshes (:mod:`.terminator`).
- Secondary boundary: at every vertex of camera paths, an edge of a moving mesh from a hierarchy
  (:mod:`.secondary`, :mod:`.edge_tree`).
- Procedural shaders' own discontinuities on surfaces seen directly or through smooth mirrors and
  glass, by line samples across each pixel (:mod:`.shader_edges`, ``edge_spp`` line pairs per pixel),
  and through glossy or diffuse scattering, by line samples in the surface's uv square
  (:mod:`.shader_scatter`, ``edge_spp`` line pairs per uv cell).
- Moving lights: next-event estimation differentiated in the light's moving parameterisation
  (:mod:`.emitter_motion`, in the base class).

Parameters (Mitsuba plugin properties; a count not set is derived from the gradient pass's samples
per pixel n and ``boundary_budget`` B):

| property | default | meaning |
|---|---|---|
| ``max_depth``, ``rr_depth``, ``hide_emitters`` | as ``prb`` | as Mitsuba's ``prb`` |
| ``edge_spp`` | max(4, ⌈B n⌉) | edge samples per pixel, primary term and terminator lines; 0: off |
| ``secondary_path_spp`` | max(2, ⌈4 B n⌉) | camera paths per pixel, secondary term (notes 1, 2); 0: off |
| ``boundary_budget`` | 1 | B above |
| ``camera_spp`` | 4 | samples per pixel for camera pose / fov derivatives (:mod:`.camera_motion`) |
| ``emitter_spp`` | 4 | camera paths per pixel for moving lights (:mod:`.emitter_motion`) |

Note 1: the camera paths' vertices of depth 0 .. max_depth - 2 are used; with an unbounded depth
(``max_depth = -1``) the paths end by Russian roulette.
Note 2: the share 4 is :data:`.secondary.SECONDARY_SHARE` (measured there). With n paths instead
(16x16 px, relative L2 error of the gradient image against central finite differences of ``path``,
3-4 seeds): a triangle's shadow on a floor under an area light 17-24 % (36 % with n/4 paths, 120 %
before the emitter-directed edge points of :mod:`.edge_light`), Mitsuba's ``cube`` translating over
a lit floor at ``max_depth`` 6 22-30 %; with 4n paths the triangle shadow is at 9-13 %.

The secondary term runs wherever a moving mesh can shadow or be seen at a path vertex; it is skipped
only where it vanishes (``max_depth`` < 2, nothing moves, or :func:`.edges.no_secondary_edges`).
``primary_spp`` and ``secondary_spp`` are deprecated names of ``edge_spp`` and ``secondary_path_spp``.
The primal image is Mitsuba's ``path`` (:mod:`.base`).
"""
from __future__ import annotations

import mitsuba as mi

from .base import budget_option, count_option, derived_count
from .camera_motion import CameraMotionIntegrator
from .primary import primary_boundary_image
from .secondary import SECONDARY_SHARE, secondary_boundary_image
from .shader_edges import shader_boundary_image
from .terminator import terminator_boundary_image


class EdgeSamplingIntegrator(CameraMotionIntegrator):
    def __init__(self, props):
        super().__init__(props)
        self.edge_spp = count_option(props, "edge_sampling", "edge_spp", "primary_spp")
        self.secondary_path_spp = count_option(props, "edge_sampling", "secondary_path_spp", "secondary_spp")
        self.boundary_budget = budget_option(props, "edge_sampling")
        self.resolve_counts(None, None, 4)

    def resolve_counts(self, scene, sensor, spp):
        """This render's counts: ``primary_spp`` edge samples and ``secondary_spp`` camera paths per pixel."""
        self.primary_spp = derived_count(self.edge_spp, self.boundary_budget, spp, 1.0, 4)
        self.secondary_spp = derived_count(self.secondary_path_spp, self.boundary_budget, spp, SECONDARY_SHARE, 2)

    def extra_terms(self, scene, sensor, seed: int):
        terms = super().extra_terms(scene, sensor, seed)
        terms.append(primary_boundary_image(self, scene, sensor, seed, self.primary_spp))
        terms.append(terminator_boundary_image(self, scene, sensor, seed, self.primary_spp))
        terms.append(secondary_boundary_image(self, scene, sensor, seed, self.secondary_spp))
        shader = shader_boundary_image(self, scene, sensor, seed, self.primary_spp)
        if shader is not None:
            terms.append(shader)
        return terms

    def to_string(self):
        return (f"EdgeSamplingIntegrator[max_depth = {self.max_depth}, rr_depth = {self.rr_depth}, "
                f"edge_spp = {self.edge_spp}, secondary_path_spp = {self.secondary_path_spp}, "
                f"boundary_budget = {self.boundary_budget}]")


mi.register_integrator("edge_sampling", lambda props: EdgeSamplingIntegrator(props))
