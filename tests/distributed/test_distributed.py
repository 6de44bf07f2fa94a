"""Data-parallel gradients and the batch runner on a local 2-CPU Ray cluster (one per module).

The objective is a cheap Dr.Jit sum over items with per-(step, item) random numbers, so that the
checks measure the distribution (sharding, summing, seeds, retries), not the renderer. The
reference is the same loss differentiated in this process over all items at once."""
import os
import signal
import sys

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'penumbra[distributed]')")

import drjit as dr
import mitsuba as mi

from penumbra import optim
from penumbra.distributed import DataParallel, WorkerError, local_gradients, run_batch
from penumbra.renderer.arrays import to_numpy

N_ITEMS = 6
FAIL_STEP = 999          # the loss raises at this step (error-propagation test)


class Quadratic:
    """Factory of ``loss_fn(values, items, step)``: per item, a least-squares fit of ``x`` (Float) and
    ``c`` (Color3f) to an item-dependent target plus noise seeded by ``(step, item)``. When the file
    ``arm`` exists, the worker that evaluates item 0 deletes it and kills its own process (SIGKILL)
    in the middle of the step."""

    def __init__(self, arm: str):
        self.arm = arm

    def __call__(self):
        def loss_fn(values, items, step):
            if step == FAIL_STEP:
                raise ValueError(f"deliberate failure at step {step}")
            x, c = values["x"], values["c"]
            total = mi.Float(0.0)
            for i in items:
                if i == 0 and os.path.exists(self.arm):
                    os.remove(self.arm)
                    os.kill(os.getpid(), signal.SIGKILL)
                rng = mi.PCG32(size=dr.width(x), initstate=step * N_ITEMS + i)
                target = dr.sin(mi.Float(i) + dr.arange(mi.Float, dr.width(x))) + 0.1 * rng.next_float32()
                total += dr.sum(dr.square(x * (1.0 + 0.1 * i) - target)) + dr.sum(dr.square(c - 0.1 * i), axis=None)
            return total
        return loss_fn


def _square(t):
    if t == "bad":
        raise RuntimeError("cannot square 'bad'")
    return t * t


@pytest.fixture(scope="module")
def cluster():
    # the test module is not importable from Ray's workers: ship its functions by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def engine(cluster, tmp_path_factory):
    arm = str(tmp_path_factory.mktemp("arm") / "kill-item-0")
    e = DataParallel(Quadratic(arm), N_ITEMS, workers=2, threads=1, retries=1)
    e.arm = arm
    yield e
    e.shutdown()


def values0():
    return {"x": mi.Float(np.linspace(-1, 1, 33).astype(np.float32)), "c": mi.Color3f(0.5, 0.2, 0.9)}


def reference(step, items=range(N_ITEMS)):
    v = values0()
    types = {"x": "Float", "c": "Color3f"}
    loss, grads = local_gradients(Quadratic("/nonexistent")(), {k: to_numpy(a) for k, a in v.items()}, types,
                                  list(items), step)
    return loss / len(items), {k: g / len(items) for k, g in grads.items()}


# The batch test comes first: the module's engine holds both CPUs of the cluster once created.
def test_batch_gathers_results_and_errors(cluster):
    report = run_batch(_square, [1, 2, "bad", 4], workers=1, progress=False)   # one worker process
    assert report.results == [1, 4, None, 16]
    assert set(report.errors) == {2}
    err = report.errors[2]
    assert isinstance(err, WorkerError) and "task 2 ('bad')" in str(err) and "cannot square 'bad'" in str(err)
    assert report.summary()["failed"] == 1
    with pytest.raises(WorkerError, match="task 2"):
        report.raise_errors()


def test_two_workers_sum_to_the_one_process_gradient(engine):
    for step in (0, 3):
        loss, grads = engine.gradients(values0(), step)
        ref_loss, ref = reference(step)
        assert loss == pytest.approx(ref_loss, rel=1e-5)
        for k in ref:
            np.testing.assert_allclose(grads[k], ref[k], rtol=1e-5, atol=1e-6)
    assert np.abs(ref["x"]).max() > 0.1 and np.abs(ref["c"]).max() > 0.1   # a real gradient


def test_killed_worker_mid_step_is_replaced_with_the_same_result(engine):
    before = engine.pids()
    open(engine.arm, "w").close()
    loss, grads = engine.gradients(values0(), 5)
    assert not os.path.exists(engine.arm)           # the worker did kill itself
    assert engine.replaced >= 1 and engine.pids()[0] != before[0]
    ref_loss, ref = reference(5)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    for k in ref:
        np.testing.assert_allclose(grads[k], ref[k], rtol=1e-5, atol=1e-6)


def test_worker_error_comes_back_with_its_task(engine):
    # both shards fail; whichever comes back first is reported, with its own items and worker
    with pytest.raises(WorkerError, match=r"(?s)step 999, items (\[0, 1, 2\] on worker 0|\[3, 4, 5\] on worker 1)"
                       r".*deliberate failure"):
        engine.gradients(values0(), FAIL_STEP)


@pytest.mark.slow
def test_killed_driver_resumes_from_its_checkpoint_with_the_same_result(engine, tmp_path):
    variables = {"x": optim.Variable(np.linspace(-1, 1, 33)), "c": optim.Variable(mi.Color3f(0.5, 0.2, 0.9),
                                                                                  optim.Unit)}
    ref = optim.optimize(engine, variables, 4, progress=False)
    out = str(tmp_path / "run")
    # a driver stopped after 2 steps (checkpoint every step) and a new one resuming to 4
    optim.optimize(engine, variables, 2, out_dir=out, checkpoint_every=1, progress=False)
    res = optim.optimize(engine, variables, 4, out_dir=out, checkpoint_every=1, resume=True, progress=False)
    assert len(res.history) == 4 and res.history[-1] < res.history[0]
    np.testing.assert_allclose(res.history, ref.history, rtol=1e-6)
    for k in ref.values:
        np.testing.assert_allclose(np.array(res.values[k]), np.array(ref.values[k]), rtol=1e-6, atol=1e-7)
