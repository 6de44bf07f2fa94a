"""The adjoint test: reverse mode is the transpose of forward mode, ``<J v, w> == <v, J^T w>``.

With ``v`` a scalar perturbation, ``J v`` is the forward-mode derivative image and ``J^T w`` the
reverse-mode derivative of ``<w, image>``; both must come from the same Monte Carlo samples (same
seed), so the two sides agree to float round-off, whatever the estimator's variance.
"""
from __future__ import annotations

import numpy as np


def assert_adjoint(forward: np.ndarray, weights: np.ndarray, reverse: float, rel: float) -> None:
    """Assert ``reverse == sum(weights * forward)`` to relative tolerance ``rel``."""
    dot = float(np.sum(np.asarray(weights, dtype=np.float64) * np.asarray(forward, dtype=np.float64)))
    err = abs(reverse - dot) / max(abs(dot), 1e-30)
    assert abs(reverse - dot) <= max(rel * abs(dot), 1e-12), \
        f"adjoint test: reverse {reverse:.8g} vs <w, forward> {dot:.8g} (rel. err {err:.3g} > {rel})"


def path_adjoint_test(scene, params, perturb, integrator, spp: int, seed: int, rel: float,
                      weights_seed: int = 0) -> None:
    """The adjoint test for a Mitsuba integrator and a scene perturbation, with uniform random weights."""
    from .autodiff import forward_grad, reverse_grad
    g = forward_grad(scene, params, perturb, integrator, spp=spp, seed=seed)
    w = np.random.default_rng(weights_seed).random(g.shape)
    back = reverse_grad(scene, params, perturb, integrator, w, spp=spp, seed=seed)
    assert_adjoint(g, w, back, rel)
