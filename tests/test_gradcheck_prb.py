"""First use of the gradient-check harness: Mitsuba's ``prb`` on continuous parameters (albedo,
emitter radiance), where it is known to be correct, against central finite differences of
Mitsuba's ``path`` integrator (an independent estimator) at high spp.

Tolerances: mean per-pixel relative error <= 5 % (floored denominator, see tests/harness/report.py),
relative L2 error <= 5 %, image-sum error <= 2 %, sign agreement 100 % on significant pixels; adjoint test: reverse-mode
<w, dI/dθ> within 2 % of the forward-mode image weighted by w."""
import numpy as np
import pytest

from penumbra import scenes
from penumbra.assets import asset
from tests.harness import compare, fd_image, forward_grad, offset, reverse_grad

PRB = {"type": "prb", "max_depth": 4}
PATH = {"type": "path", "max_depth": 4}


@pytest.fixture(scope="module")
def cbox():
    scene = scenes.load_scene(asset("scenes", "cbox", "scene.xml"), res=24, spp=4)
    return scene, scenes.ParameterMap(scene)


@pytest.mark.parametrize("key, direction, h", [
    ("red.reflectance.value", [1, 0, 0], 0.05),
    ("ball-mat.reflectance.value", [0.5, 1, 0.2], 0.05),
    ("light.emitter.radiance.value", [1, 1, 1], 0.5),
])
def test_prb_matches_finite_differences_of_path(cbox, key, direction, h):
    scene, params = cbox
    perturb = offset(params, key, direction)
    grad = forward_grad(scene, params, perturb, PRB, spp=1024, seed=1)
    ref = fd_image(scene, params, perturb, h, reference=PATH, spp=2048)
    report = compare(grad, ref)
    assert report.mean_rel <= 0.05, report
    assert report.rel_l2 <= 0.05, report
    assert report.sum_rel <= 0.02, report
    assert report.sign == 1.0, report

    w = np.random.default_rng(0).random(grad.shape)
    back = reverse_grad(scene, params, perturb, PRB, w, spp=1024, seed=1)
    assert back == pytest.approx(float((w * grad).sum()), rel=0.02)


def test_compare_detects_a_wrong_gradient(cbox):
    scene, params = cbox
    perturb = offset(params, "red.reflectance.value", [1, 0, 0])
    ref = fd_image(scene, params, perturb, 0.05, reference=PATH, spp=512)
    bad = compare(-0.5 * ref, ref)
    assert bad.rel_l2 == pytest.approx(1.5) and bad.sum_rel == pytest.approx(1.5) and bad.sign == 0.0
    assert bad.mean_rel > 0.15  # 3x the tolerance used above, despite the floored denominator
    with pytest.raises(ValueError, match="zero"):
        compare(ref, np.zeros_like(ref))
