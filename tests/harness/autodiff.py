"""Forward- and reverse-mode derivatives for the gradient checks.

- :func:`directional_derivatives`: directional derivatives of a Dr.Jit scalar loss of one flat or
  nested Dr.Jit array (vector rasterizer, acoustic integrator), by one reverse pass or one forward
  pass per direction;
- :func:`offset`, :func:`attached_theta`, :func:`forward_grad`, :func:`reverse_grad`: a scalar
  perturbation ``theta`` of a Mitsuba scene, and the derivative image (``render_forward``) or the
  derivative of a weighted image sum (``render_backward``) of an integrator with respect to it.

A *perturbation* is a callable ``perturb(theta)`` that writes the scene state for the scalar offset
``theta`` (a Python float for finite differences, a grad-enabled ``mi.Float`` for AD) and calls
``params.update()``; :func:`offset` builds the common "base + theta * direction" one.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def _flat(x) -> np.ndarray:
    import drjit as dr
    return np.array(dr.ravel(x), dtype=np.float64).reshape(-1)


def _from_flat(tp, values: np.ndarray):
    import drjit as dr
    if dr.depth_v(tp) > 1:
        return dr.unravel(tp, dr.leaf_t(tp)(values))
    return tp(values)


def directional_derivatives(loss: Callable, x0, directions, mode: str, array_type=None) -> np.ndarray:
    """``[d loss(x0 + t d) / dt at t = 0 for d in directions]``.

    ``loss(x)`` returns a Dr.Jit scalar (width 1) computed from the Dr.Jit array ``x``; ``x0`` is a
    Dr.Jit array (or values with ``array_type``); ``directions`` are rows shaped like ``x0`` flattened
    (``dr.ravel`` order for nested arrays such as ``Vector3d``). ``mode`` "reverse": one backward pass,
    the gradient projected on the directions; "forward": one forward pass per direction.
    """
    import drjit as dr
    tp = array_type or type(x0)
    values = _flat(x0) if array_type is None else np.asarray(x0, dtype=np.float64).reshape(-1)
    dirs = np.atleast_2d(np.asarray(directions, dtype=np.float64))
    if dirs.shape[1] != values.size:
        raise ValueError(f"directions have {dirs.shape[1]} entries, the parameter has {values.size}")
    if mode == "reverse":
        x = _from_flat(tp, values)
        dr.enable_grad(x)
        dr.backward(loss(x))
        return dirs @ _flat(dr.grad(x))
    if mode != "forward":
        raise ValueError(f"mode must be 'forward' or 'reverse', got {mode!r}")
    out = []
    for d in dirs:
        x = _from_flat(tp, values)
        dr.enable_grad(x)
        dr.set_grad(x, _from_flat(tp, d))
        out.append(float(np.array(dr.forward_to(loss(x))).ravel()[0]))
    return np.array(out)


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


def _integrator(integrator):
    import mitsuba as mi
    return mi.load_dict({"type": integrator} if isinstance(integrator, str) else integrator) \
        if isinstance(integrator, (str, dict)) else integrator


def attached_theta(perturb):
    """A grad-enabled theta = 0 written into the scene through ``perturb``, with its unit tangent already
    pushed to the scene parameters (``dr.forward(theta, ClearEdges)``, as in Mitsuba's own AD tests):
    forward-mode derivatives of anything computed from the scene afterwards are d/dtheta."""
    import drjit as dr
    import mitsuba as mi
    theta = dr.opaque(mi.Float, 0.0)  # a literal would be widened in place (DEVELOPERS.md)
    dr.enable_grad(theta)
    perturb(theta)
    dr.forward(theta, dr.ADFlag.ClearEdges)
    return theta


def forward_grad(scene, params, perturb, integrator, spp: int, seed: int = 0) -> np.ndarray:
    """Forward-mode derivative image d image / d theta at theta = 0 (the integrator's ``render_forward``)."""
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
    theta = dr.opaque(mi.Float, 0.0)  # a literal would be widened in place (DEVELOPERS.md)
    dr.enable_grad(theta)
    perturb(theta)
    _integrator(integrator).render_backward(scene, params=theta, grad_in=mi.TensorXf(weights.astype(np.float32)),
                                            spp=spp, seed=seed)
    g = float(np.array(dr.grad(theta)).ravel()[0])
    perturb(0.0)
    return g
