"""Large Steps parametrisation (optim/large_steps.py) against dense closed forms on a small mesh."""
import drjit as dr
import mitsuba as mi
import numpy as np
import pytest

from penumbra import optim
from penumbra.optim.large_steps import LargeSteps, UniformAdam, laplacian
from penumbra.scenes.builders import icosphere


@pytest.fixture
def mesh():
    V, F = icosphere(1)
    rng = np.random.default_rng(3)
    return V * (1 + 0.1 * rng.standard_normal((len(V), 1))), F


def test_laplacian_closed_forms(mesh):
    V, F = mesh
    L = laplacian(V, F).toarray()
    assert np.allclose(L, L.T) and np.allclose(L.sum(axis=1), 0)
    assert np.all(np.diag(L) == 5) or set(np.diag(L)) <= {5.0, 6.0}   # icosphere valences
    # cotangent Laplacian: x^T L x is the Dirichlet energy, exact for a linear field on a flat mesh
    P = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [2, 0.5, 0]], float)
    T = np.array([[0, 1, 2], [1, 3, 2], [1, 4, 3]])
    Lc = laplacian(P, T, "cotangent").toarray()
    f = 0.7 * P[:, 0] - 0.3 * P[:, 1]
    area = sum(0.5 * np.linalg.norm(np.cross(P[b] - P[a], P[c] - P[a])) for a, b, c in T)
    assert f @ Lc @ f == pytest.approx(area * (0.7 ** 2 + 0.3 ** 2), rel=1e-9)
    with pytest.raises(ValueError, match="Laplacian kind"):
        laplacian(V, F, "graph")


def test_round_trip(mesh):
    V, F = mesh
    ls = LargeSteps(V, F, lambda_=10.0)
    x = mi.Float(V.astype(np.float32).ravel())
    u = ls.inverse(x)
    M = np.eye(len(V)) + 10.0 * laplacian(V, F).toarray()
    assert np.allclose(np.array(u).reshape(-1, 3), M @ V, rtol=1e-5, atol=1e-4)
    assert np.allclose(np.array(ls.forward(u)), np.array(x), atol=2e-5)
    with pytest.raises(ValueError, match="expected 126 values"):
        ls.forward(mi.Float(np.zeros(12, np.float32)))


def test_gradient_step_is_inverse_square_smoothing(mesh):
    """A gradient step of size eta on u moves x by -eta (I + lambda L)^-2 df/dx (Nicolet et al. Eq. 8)."""
    V, F = mesh
    lam, eta = 5.0, 0.1
    ls = LargeSteps(V, F, lambda_=lam)
    M = np.eye(len(V)) + lam * laplacian(V, F).toarray()
    w = np.random.default_rng(0).standard_normal((len(V), 3))
    u = ls.inverse(mi.Float(V.astype(np.float32).ravel()))
    dr.enable_grad(u)
    x = ls.forward(u)
    dr.backward(dr.sum(x * mi.Float(w.astype(np.float32).ravel())))  # f(x) = <w, x>, df/dx = w
    g = np.array(dr.grad(u)).reshape(-1, 3)
    assert np.allclose(g, np.linalg.solve(M, w), atol=1e-5)
    x_new = np.array(ls.forward(dr.detach(u) - eta * dr.grad(u))).reshape(-1, 3)
    expected = V - eta * np.linalg.solve(M, np.linalg.solve(M, w))
    assert np.allclose(x_new, expected, atol=3e-5)
    # the step is smoother than the raw gradient: its Laplacian energy per unit norm is lower
    d = expected - V
    Lc = laplacian(V, F).toarray()
    assert np.trace(d.T @ Lc @ d) / np.sum(d * d) < 0.1 * np.trace(w.T @ Lc @ w) / np.sum(w * w)
    # forward mode gives the same Jacobian M^-1
    u2 = dr.detach(u)
    dr.enable_grad(u2)
    dr.set_grad(u2, mi.Float(w.astype(np.float32).ravel()))
    x2 = ls.forward(u2)
    dr.forward_to(x2)
    assert np.allclose(np.array(dr.grad(x2)).reshape(-1, 3), np.linalg.solve(M, w), atol=1e-5)


def test_uniform_adam_in_optimize(mesh):
    """optimize() with the Large Steps transform and UniformAdam fits a target shape; the uniform
    rule uses one scalar denominator (the step is proportional to the first moment)."""
    V, F = mesh
    target = mi.Float((V * 1.3).astype(np.float32).ravel())
    var = optim.Variable(V, LargeSteps(V, F, lambda_=5.0), lr=0.05)
    res = optim.optimize(lambda v: optim.losses.mse(v["x"], target), {"x": var}, 150,
                         optimizer=UniformAdam(uniform={"x"}), progress=False,
                         schedule=optim.schedules.cosine(150, final=0.01))
    # the target's low frequencies (scale) converge fast; its amplified vertex noise (high
    # frequencies, damped by (I + lambda L)^-2) slowly: 1 % of the initial loss is reached
    assert res.history[-1] < 1e-2 * res.history[0]
    opt = UniformAdam(uniform={"a"}, lr=0.1)
    g = mi.Float([1.0, -2.0, 0.5])
    out = opt.step({"a": mi.Float([0.0, 0.0, 0.0]), "b": mi.Float([0.0, 0.0, 0.0])}, {"a": g, "b": g})
    assert np.allclose(np.array(out["a"]), -0.1 * np.array([1.0, -2.0, 0.5]) / 2.0, rtol=1e-4)
    assert np.allclose(np.array(out["b"]), [-0.1, 0.1, -0.1], rtol=1e-4)
