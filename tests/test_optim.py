import json
import os

import drjit as dr
import mitsuba as mi
import numpy as np
import pytest

from penumbra import optim


@pytest.mark.parametrize("transform, value", [(optim.Identity(), -3.0), (optim.Positive(), 0.02),
                                              (optim.Box(-2, 5), 4.5), (optim.Unit, 0.3)])
def test_transforms_roundtrip(transform, value):
    x = mi.Float(value)
    assert np.allclose(np.array(transform.forward(transform.inverse(x))), value, rtol=1e-5)


def test_box_bounds_hold_for_any_latent():
    y = np.array(optim.Box(-1, 2).forward(mi.Float(np.linspace(-50, 50, 101))))
    assert np.all(y >= -1) and np.all(y <= 2)
    with pytest.raises(ValueError):
        optim.Box(1, 1)


def quadratic(target):
    return lambda v: dr.sum(dr.square(v["a"] - target), axis=None) + dr.sum(dr.square(v["b"] - 0.25), axis=None)


def test_adam_recovers_bounded_and_positive_values(tmp_out):
    target = mi.Float([0.3, 0.7, 2.0])
    r = optim.optimize(quadratic(target), {"a": optim.Variable([1, 1, 1], optim.Positive(), lr=0.05),
                                           "b": optim.Variable(0.9, optim.Unit, lr=0.1)},
                       300, out_dir=tmp_out, progress=False)
    assert np.allclose(np.array(r.values["a"]), [0.3, 0.7, 2.0], atol=1e-3)
    assert np.allclose(np.array(r.values["b"]), 0.25, atol=1e-3)
    assert r.history[-1] < 1e-6 < r.history[0]
    assert os.path.getsize(os.path.join(tmp_out, "loss.png")) > 1000
    assert len(json.load(open(os.path.join(tmp_out, "loss.json")))["loss"]) == 300


def test_per_parameter_learning_rate_and_schedule():
    target = mi.Float(1.0)
    f = lambda v: dr.sum(dr.square(v["a"] - target) + dr.square(v["b"] - target), axis=None)  # noqa: E731
    r = optim.optimize(f, {"a": optim.Variable(0.0, lr=0.1), "b": optim.Variable(0.0, lr=0.001)}, 5,
                       progress=False)
    a, b = float(np.array(r.values["a"])[0]), float(np.array(r.values["b"])[0])
    assert a == pytest.approx(0.5, rel=0.02) and b == pytest.approx(0.005, rel=0.02)  # Adam: ~lr per step
    s = optim.schedules.cosine(100, final=0.1, warmup=10)
    assert s(0) == pytest.approx(0.1) and s(10) == pytest.approx(1.0) and s(100) == pytest.approx(0.1)
    assert optim.schedules.exponential(0.5)(3) == 0.125 and optim.schedules.step_decay(10)(25) == 0.25


def test_nan_guard_names_the_parameter():
    def f(v):
        return dr.sum(dr.sqrt(v["bad"] - 1.0), axis=None) + dr.sum(v["good"], axis=None)  # sqrt(<0) = NaN
    with pytest.raises(optim.NonFiniteError, match="loss"):
        optim.optimize(f, {"bad": optim.Variable(0.5), "good": optim.Variable(1.0)}, 3, progress=False)

    def g(v):  # finite loss, NaN gradient: d/dx sqrt(x) at 0
        return dr.sum(dr.sqrt(v["bad"]), axis=None) + dr.sum(v["good"], axis=None)
    with pytest.raises(optim.NonFiniteError, match="'bad'"):
        optim.optimize(g, {"bad": optim.Variable(0.0), "good": optim.Variable(1.0)}, 3, progress=False)
    with pytest.raises(TypeError, match="Dr.Jit"):
        optim.optimize(lambda v: 1.0, {"x": optim.Variable(1.0)}, 3, progress=False)
    with pytest.raises(optim.NonFiniteError, match="'x'"):
        optim.optimize(g, {"x": optim.Variable(np.nan)}, 3, progress=False)


def test_checkpoint_resume_matches_uninterrupted_run(tmp_path):
    target = mi.Float([0.3, 0.7, 2.0])
    variables = {"a": optim.Variable([1, 1, 1], optim.Positive(), lr=0.05), "b": optim.Variable(0.9, optim.Unit)}
    full = optim.optimize(quadratic(target), variables, 40, progress=False)
    d = str(tmp_path / "run")
    optim.optimize(quadratic(target), variables, 20, out_dir=d, checkpoint_every=10, progress=False)
    resumed = optim.optimize(quadratic(target), variables, 40, out_dir=d, checkpoint_every=10, resume=True,
                             progress=False)
    assert len(resumed.history) == 40
    for k in ("a", "b"):
        assert np.allclose(np.array(full.values[k]), np.array(resumed.values[k]), rtol=1e-5)


def test_item_objective_resumes_on_the_same_items_and_seeds(tmp_path):
    """``optimize`` tells an ItemObjective the step (also after a resume), so a step's items and seeds
    (here: per-(step, item) noise) do not depend on where the run was restarted."""
    def loss_fn(values, items, step):
        total = mi.Float(0.0)
        for i in items:
            noise = float(np.random.default_rng([step, i]).normal())
            total += dr.square(values["x"] - (i + 0.1 * noise))
        return total

    def objective():
        return optim.ItemObjective(loss_fn, 5, schedule=lambda step: [step % 5, (step + 2) % 5])

    variables = {"x": optim.Variable(0.0, lr=0.1)}
    full = optim.optimize(objective(), variables, 6, progress=False)
    d = str(tmp_path / "run")
    optim.optimize(objective(), variables, 3, out_dir=d, checkpoint_every=1, progress=False)
    resumed = optim.optimize(objective(), variables, 6, out_dir=d, checkpoint_every=1, resume=True, progress=False)
    np.testing.assert_allclose(resumed.history, full.history, rtol=1e-6)
    np.testing.assert_allclose(np.array(resumed.values["x"]), np.array(full.values["x"]), rtol=1e-6)
