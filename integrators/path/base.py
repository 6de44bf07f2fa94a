"""Shared base of Penumbra's path-tracing integrators: path-replay interior + extra derivative terms.

The derivative of a rendered image splits into an *interior* term, computed by Mitsuba 3.9's path
replay backpropagation (``prb``: Vicini, Speierer, Jakob 2021, with next-event estimation, MIS and
attached intersections for moving geometry), and terms ``prb`` lacks: visibility boundaries (edge
sampling, warped-area sampling) and camera motion. Subclasses return those extra terms from
:meth:`BoundaryTermIntegrator.extra_terms` as *zero-valued* Dr.Jit images attached to the scene
parameters; forward mode propagates tangents into them, reverse mode back-propagates the image
adjoint through them, so one expression serves both modes.
"""
from __future__ import annotations

import drjit as dr
import mitsuba as mi
import numpy as np

PRBIntegrator = mi.ad.integrators.prb.PRBIntegrator

_FLAGS = dr.ADFlag.Default | dr.ADFlag.AllowNoGrad


class BoundaryTermIntegrator(PRBIntegrator):
    def extra_terms(self, scene, sensor, seed: int) -> list:
        """Zero-valued (H, W, 3) ``mi.TensorXf`` images whose derivatives are added to ``prb``'s."""
        return []

    @staticmethod
    def _sensor(scene, sensor):
        return scene.sensors()[sensor] if isinstance(sensor, int) else sensor

    def render_forward(self, scene, params, sensor=0, seed=0, spp=0):
        grad = super().render_forward(scene, params, sensor, seed, spp)
        sensor = self._sensor(scene, sensor)
        with dr.resume_grad():
            total = self._sum_terms(scene, sensor, seed)
            if total is not None:
                # One traversal for all terms: ADFlag.Default clears the input tangents, so a
                # second forward_to would see none.
                dr.forward_to(total, flags=_FLAGS)
                total = dr.grad(total)
        return grad if total is None else grad + _match_channels(total, grad)

    def render_backward(self, scene, params, grad_in, sensor=0, seed=0, spp=0):
        super().render_backward(scene, params, grad_in, sensor, seed, spp)
        sensor = self._sensor(scene, sensor)
        g = grad_in if grad_in.shape[2] == 3 else grad_in[:, :, :3]
        with dr.resume_grad():
            total = self._sum_terms(scene, sensor, seed)
            if total is not None:
                dr.backward_from(dr.sum(total * dr.detach(g), axis=None), flags=_FLAGS)

    def _sum_terms(self, scene, sensor, seed):
        total = None
        for term in self.extra_terms(scene, sensor, int(seed)):
            total = term if total is None else total + term
        return total


def _match_channels(img, like):
    """Pad an RGB derivative image with zero channels (alpha, AOVs) to ``like``'s shape."""
    if img.shape == like.shape:
        return img
    a = np.zeros(like.shape, dtype=np.float32)
    a[..., :img.shape[2]] = np.array(img)
    return mi.TensorXf(a)
