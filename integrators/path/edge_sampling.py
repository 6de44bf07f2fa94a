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
- Moving lights: next-event estimation differentiated in the light's moving parameterisation
  (:mod:`.emitter_motion`, in the base class).

Parameters (Mitsuba plugin properties):

| property | default | meaning |
|---|---|---|
| ``max_depth``, ``rr_depth``, ``hide_emitters`` | as ``prb`` | as Mitsuba's ``prb`` |
| ``primary_spp`` | 4 | edge samples per pixel for the primary boundary term (and terminator lines); 0 disables |
| ``secondary_spp`` | 0 | camera paths per pixel for the secondary term; needs a finite ``max_depth`` |
| ``camera_spp`` | 4 | samples per pixel for camera pose / fov derivatives (:mod:`.camera_motion`) |
| ``emitter_spp`` | 4 | camera paths per pixel for moving lights (:mod:`.emitter_motion`) |

The primal image is Mitsuba's ``path`` (:mod:`.base`).
"""
from __future__ import annotations

import drjit as dr
import mitsuba as mi

from .camera_motion import CameraMotionIntegrator
from .primary import primary_boundary_image
from .secondary import secondary_boundary_image
from .terminator import terminator_boundary_image


class EdgeSamplingIntegrator(CameraMotionIntegrator):
    def __init__(self, props):
        super().__init__(props)
        self.primary_spp = int(props.get("primary_spp", 4))
        self.secondary_spp = int(props.get("secondary_spp", 0))
        if self.primary_spp < 0:
            raise ValueError(f"edge_sampling: primary_spp must be >= 0, got {self.primary_spp}")
        if self.secondary_spp < 0:
            raise ValueError(f"edge_sampling: secondary_spp must be >= 0, got {self.secondary_spp}")
        if self.secondary_spp > 0 and self.max_depth >= 2 ** 31:
            # The secondary term visits every bounce as a separate wavefront pass.
            raise ValueError("edge_sampling: secondary_spp > 0 needs a finite max_depth (got -1 = unbounded)")

    def extra_terms(self, scene, sensor, seed: int):
        terms = super().extra_terms(scene, sensor, seed)
        terms.append(primary_boundary_image(self, scene, sensor, seed, self.primary_spp))
        terms.append(terminator_boundary_image(self, scene, sensor, seed, self.primary_spp))
        terms.append(secondary_boundary_image(self, scene, sensor, seed, self.secondary_spp))
        return terms

    def to_string(self):
        return (f"EdgeSamplingIntegrator[max_depth = {self.max_depth}, rr_depth = {self.rr_depth}, "
                f"primary_spp = {self.primary_spp}, secondary_spp = {self.secondary_spp}]")


mi.register_integrator("edge_sampling", lambda props: EdgeSamplingIntegrator(props))
