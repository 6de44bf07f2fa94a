"""The attack's per-step randomness is a function of (seed, step, view): the loss and gradient of a
step's views evaluated in pieces (as Ray workers do) sum to the loss and gradient of all of them at
once, in this process (no Ray needed)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="adversarial attacks need PyTorch: pip install 'penumbra[torch]'")

from .test_attack import cube_scene   # noqa: E402


def test_views_evaluated_in_pieces_sum_to_the_whole_step():
    import mitsuba as mi
    from penumbra.adversarial import EOT, AttackScene, EOTLoss, view_rng
    from penumbra.distributed import local_gradients
    from penumbra.renderer.arrays import to_numpy

    from .classifiers import warm_cool
    eot = EOT(light_jitter=0.3, noise=0.05)
    kinds, key = ("texture", "light"), "obj.bsdf.reflectance.data"
    scene = AttackScene(cube_scene((0.8, 0.15, 0.1), res=16), "obj", kinds, light_jitter=eot.light_jitter)
    loss_fn = EOTLoss(scene, warm_cool(), 1, True, "ce", 5.0, eot, 4.2, 3, 2, 7)
    values = {key: to_numpy(scene.params[key]), "sky.radiance.value": to_numpy(scene.base["sky.radiance.value"]),
              "lamp.translation": to_numpy(mi.Vector3f(0.1, 0.0, -0.1))}
    types = {key: "TensorXf", "sky.radiance.value": "Color3f", "lamp.translation": "Vector3f"}
    whole, gw = local_gradients(loss_fn, values, types, [0, 1, 2], 5)
    pieces = [local_gradients(loss_fn, values, types, items, 5) for items in ([0], [1, 2])]
    assert whole == pytest.approx(sum(p[0] for p in pieces), rel=1e-5)
    for k in types:
        np.testing.assert_allclose(gw[k], sum(p[1][k] for p in pieces), rtol=1e-4, atol=1e-6 * np.abs(gw[k]).max())
    assert np.abs(gw[key]).max() > 1e-3 and np.abs(gw["sky.radiance.value"]).max() > 1e-3    # real gradients
    again, _ = local_gradients(loss_fn, values, types, [1], 5)
    assert again != pytest.approx(local_gradients(loss_fn, values, types, [1], 6)[0], rel=1e-4)   # new step, new draw
    # views of one step draw different cameras, light factors and noise
    a, b = view_rng(7, 5, 0).uniform(size=4), view_rng(7, 5, 1).uniform(size=4)
    assert not np.allclose(a, b) and np.array_equal(a, view_rng(7, 5, 0).uniform(size=4))
