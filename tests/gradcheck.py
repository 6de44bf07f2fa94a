"""Reusable gradient-check harness.

Compares a derivative image computed by an integrator (forward mode, and reverse mode through an
adjoint test) with central finite differences of an *independent* reference renderer (by default
Mitsuba's ``path`` integrator) at high spp.

A *perturbation* is a callable ``perturb(theta)`` that writes the scene state for the scalar offset
``theta`` (a Python float for finite differences, a grad-enabled ``mi.Float`` for AD) and calls
``params.update()``; :func:`offset` builds the common "base + theta * direction" one.

Reported metrics (:class:`GradReport`):

- ``mean_rel``: mean over pixels of ``|g - r| / max(|r|, floor)``, channel-averaged, where
  ``floor = floor_fraction * max|r|`` (a floored denominator, so pixels where the reference is ~0 do
  not dominate; ``floor_fraction`` 0.05 by default, in the spirit of Mitsuba's own AD tests). Being
  floored, it under-reports errors on sparse derivative images, hence also:
- ``rel_l2``: ``||g - r|| / ||r||`` over the whole image;
- ``sum_rel``: ``|sum g - sum r| / |sum r|``, the error of the image-sum derivative;
- ``sum_rel_l1``: ``|sum g - sum r| / sum |r|``, the same error relative to the reference's L1
  norm, for perturbations whose true image sum is a near-cancelling difference (in-plane motion);
- ``sign``: fraction of significant reference pixels (``|r| > sign_threshold * max|r|``) whose
  sign ``g`` reproduces.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class GradReport:
    mean_rel: float
    rel_l2: float
    sum_rel: float
    sign: float
    sum_grad: float
    sum_ref: float
    sum_rel_l1: float = float("nan")

    def __str__(self):
        return (f"mean rel. err {100 * self.mean_rel:.2f}%, rel. L2 err {100 * self.rel_l2:.2f}%, image-sum err {100 * self.sum_rel:.2f}% "
                f"(sum {self.sum_grad:.5g} vs ref {self.sum_ref:.5g}), sign agreement {100 * self.sign:.1f}%")


def offset(params, key: str, direction) -> Callable:
    """Perturbation ``params[key] = base + theta * direction`` (direction shaped like the value)."""
    import mitsuba as mi
    from penumbra.renderer.arrays import from_numpy, to_numpy
    current = params[key]
    # A deep copy: Mitsuba writes new values into the stored object's components in place, and a
    # shallow copy (Color3f(value)) would share them, so the "base" would drift with each update.
    base = from_numpy(current, to_numpy(current))
    d = from_numpy(base, np.broadcast_to(np.asarray(direction, dtype=np.float64), to_numpy(base).shape))

    def perturb(theta):
        th = mi.Float(theta) if isinstance(theta, (int, float)) else theta
        params[key] = base + th * d
        params.update()
    return perturb


def _render(scene, params, integrator, spp, seed):
    from penumbra.render import render
    return render(scene, params, spp=spp, seed=seed, integrator=integrator)


def _integrator(integrator):
    import mitsuba as mi
    return mi.load_dict({"type": integrator} if isinstance(integrator, str) else integrator) \
        if isinstance(integrator, (str, dict)) else integrator


def attached_theta(perturb):
    """A grad-enabled θ = 0 written into the scene through ``perturb``, with its unit tangent already
    pushed to the scene parameters (``dr.forward(θ, ClearEdges)``, as in Mitsuba's own AD tests):
    forward-mode derivatives of anything computed from the scene afterwards are d/dθ."""
    import drjit as dr
    import mitsuba as mi
    theta = mi.Float(0.0)
    dr.enable_grad(theta)
    perturb(theta)
    dr.forward(theta, dr.ADFlag.ClearEdges)
    return theta


def forward_grad(scene, params, perturb, integrator, spp: int, seed: int = 0) -> np.ndarray:
    """Forward-mode derivative image d image / d theta at theta = 0.

    As in Mitsuba's own AD tests: theta's tangent is first pushed to the scene parameters
    (``dr.forward(theta, ClearEdges)``), then the integrator's ``render_forward`` propagates it.
    """
    theta = attached_theta(perturb)
    image = _integrator(integrator).render_forward(scene, params=theta, spp=spp, seed=seed)
    grad = np.array(image)
    perturb(0.0)
    return grad


def reverse_grad(scene, params, perturb, integrator, weights: np.ndarray, spp: int, seed: int = 0) -> float:
    """Reverse-mode derivative of ``sum(weights * image)`` with respect to theta at 0.

    Calls the integrator's ``render_backward`` with the same seed as :func:`forward_grad`, so that
    the adjoint test ``reverse == <weights, forward image>`` compares the same Monte Carlo samples.
    """
    import drjit as dr
    import mitsuba as mi
    theta = mi.Float(0.0)
    dr.enable_grad(theta)
    perturb(theta)
    _integrator(integrator).render_backward(scene, params=theta, grad_in=mi.TensorXf(weights.astype(np.float32)),
                                            spp=spp, seed=seed)
    g = float(np.array(dr.grad(theta)).ravel()[0])
    perturb(0.0)
    return g


def fd_image(scene, params, perturb, h: float, reference="path", spp: int = 1024, seed: int = 7,
             passes: int = 1) -> np.ndarray:
    """Central finite differences ``(I(+h) - I(-h)) / 2h`` of the reference renderer.

    Both sides use the same seeds (correlated samples), and ``passes`` renders with different seeds
    are averaged, so that the difference has low variance.
    """
    acc = 0.0
    for p in range(passes):
        perturb(+h)
        plus = np.array(_render(scene, params, reference, spp, seed + 17 * p))
        perturb(-h)
        minus = np.array(_render(scene, params, reference, spp, seed + 17 * p))
        acc = acc + (plus - minus) / (2 * h)
    perturb(0.0)
    return acc / passes


def compare(grad: np.ndarray, ref: np.ndarray, floor_fraction: float = 0.05,
            sign_threshold: float = 0.2) -> GradReport:
    g = np.asarray(grad, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    if g.shape != r.shape:
        raise ValueError(f"gradient image shape {g.shape} != reference shape {r.shape}")
    scale = float(np.max(np.abs(r)))
    if scale == 0:
        raise ValueError("reference derivative is identically zero: the perturbation does not affect the image")
    rel = np.abs(g - r) / np.maximum(np.abs(r), floor_fraction * scale)
    mean_rel = float(np.mean(rel))
    sg, sr = float(g.sum()), float(r.sum())
    sum_rel = abs(sg - sr) / max(abs(sr), 1e-12)
    sig = np.abs(r) > sign_threshold * scale
    sign = float(np.mean(np.sign(g[sig]) == np.sign(r[sig]))) if sig.any() else 1.0
    rel_l2 = float(np.linalg.norm(g - r) / np.linalg.norm(r))
    return GradReport(mean_rel, rel_l2, sum_rel, sign, sg, sr, abs(sg - sr) / float(np.abs(r).sum()))
