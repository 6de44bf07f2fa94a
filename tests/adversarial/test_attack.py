"""Adversarial attacks against a small CNN trained here on the project's own renders (red vs blue
textured cube), so the default run needs no classifier wheel."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="adversarial attacks need PyTorch: pip install 'penumbra[torch]'")

RES = 32




def cube_scene(color, res=RES, textured=True, integrator="prb"):
    import mitsuba as mi
    from penumbra.scenes import builders as b, load_scene
    tex = np.empty((8, 8, 3), np.float32)
    tex[:] = color
    tex += np.random.default_rng(0).uniform(-0.05, 0.05, tex.shape).astype(np.float32)
    refl = ({"type": "bitmap", "data": mi.TensorXf(np.clip(tex, 0, 1)), "raw": True, "filter_type": "bilinear"}
            if textured else b.rgb(color))
    cube = {"type": "cube", "bsdf": {"type": "diffuse", "reflectance": refl},
            "to_world": mi.ScalarTransform4f().scale(0.8)}
    return load_scene(b.scene(b.camera(origin=(0, 1.2, 4.0), resolution=res, fov=40),
                              b.integrator(integrator, max_depth=3),
                              shapes={"obj": cube,
                                      "floor": b.rectangle((0, -0.8, 0), 8, normal=(0, 1, 0), bsdf=b.diffuse(0.4)),
                                      "lamp": b.rectangle((1, 3, 1), 1.5, normal=(0, -1, 0),
                                                          emitter=b.area_light(6.0))},
                              emitters={"sky": b.constant_environment(0.4)}))


def renders(scene, n, seed, spp=8):
    """``n`` renders from random ring views (the EOT distribution the attack uses), (n, 3, H, W)."""
    import mitsuba as mi
    from penumbra.adversarial import EOT, sample_views
    from penumbra.scenes import ParameterMap
    params = ParameterMap(scene)
    views = sample_views(EOT(), (0, 0, 0), 4.2, n, np.random.default_rng(seed))
    out = []
    for i, m in enumerate(views):
        params["sensor.to_world"] = mi.Transform4f(mi.Matrix4f(m.tolist()))
        params.update()
        out.append(np.clip(np.array(mi.render(scene, spp=spp, seed=seed + i))[..., :3], 0, 1))
    return torch.tensor(np.stack(out), dtype=torch.float32).permute(0, 3, 1, 2)


def small_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 2))


@pytest.fixture(scope="module")
def red_blue_classifier():
    """A CNN trained on 16 renders of a red and 16 of a blue cube: class 0 red, 1 blue."""
    from penumbra.adversarial import Classifier
    from tests.adversarial.classifiers import train
    x = torch.cat([renders(cube_scene((0.8, 0.15, 0.1)), 16, 1), renders(cube_scene((0.1, 0.2, 0.8)), 16, 2)])
    y = torch.tensor([0] * 16 + [1] * 16)
    net = train(small_cnn(), x, y, lr=0.02, steps=150)
    with torch.no_grad():
        assert (net(x).argmax(1) == y).float().mean() == 1.0
    return Classifier(net, labels=["red", "blue"], name="red/blue CNN")


def test_texture_attack_flips_held_out_views(red_blue_classifier):
    from penumbra.adversarial import attack
    scene = cube_scene((0.8, 0.15, 0.1))
    result = attack(scene, red_blue_classifier, "obj", kinds=("texture",), target="blue", budgets={"texture": 0.5},
                    steps=12, views_per_step=2, spp=4, integrator="prb", eval_views=6, eval_spp=8, progress=False)
    assert result.true_class == 0 and result.target == 1
    assert result.success_rate_before == 0.0           # the clean red cube is "red" on every held-out view
    assert result.success_rate >= 5 / 6, result.table()
    tex = result.values["obj.bsdf.reflectance.data"]
    init = cube_scene((0.8, 0.15, 0.1))
    from penumbra.scenes import ParameterMap
    x0 = ParameterMap(init).snapshot(["obj.bsdf.reflectance.data"])["obj.bsdf.reflectance.data"]
    assert np.max(np.abs(tex - x0)) <= 0.5 + 1e-5     # L-inf budget held (PGD projection)
    assert tex.min() >= 0 and tex.max() <= 1
    assert result.history[-1] < result.history[0]


# --- bad input ---------------------------------------------------------------------------------------

class WrongShape(torch.nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))[:, :1]      # (N, 1): one logit per image


def test_classifier_with_wrong_output_shape_is_refused():
    from penumbra.adversarial import Classifier, ClassifierError
    with pytest.raises(ClassifierError, match=r"must return logits of shape \(N, classes\).*returned \(2, 1\)"):
        Classifier(WrongShape()).num_classes
    flat = Classifier(lambda x: x.mean(dim=(1, 2, 3)))
    with pytest.raises(ClassifierError, match=r"returned \(2,\)"):
        flat.num_classes


def test_unknown_target_class_is_refused(red_blue_classifier):
    from penumbra.adversarial import ClassifierError, attack
    with pytest.raises(ClassifierError, match="unknown class 'green'"):
        attack(cube_scene((0.8, 0.1, 0.1)), red_blue_classifier, "obj", target="green", steps=1, progress=False)
    with pytest.raises(ClassifierError, match=r"unknown class 7: .* has classes 0\.\.1"):
        attack(cube_scene((0.8, 0.1, 0.1)), red_blue_classifier, "obj", target=7, steps=1, progress=False)


@pytest.mark.parametrize("budget", [0.0, float("nan"), -0.1])
def test_zero_or_nan_budget_is_refused(red_blue_classifier, budget):
    from penumbra.adversarial import AttackError, attack
    with pytest.raises(AttackError, match="budget 'texture'"):
        attack(cube_scene((0.8, 0.1, 0.1)), red_blue_classifier, "obj", budgets={"texture": budget}, steps=1,
               progress=False)


def test_texture_attack_on_textureless_shape_is_refused(red_blue_classifier):
    from penumbra.adversarial import AttackError, attack
    with pytest.raises(AttackError, match="shape 'obj' has no bitmap texture"):
        attack(cube_scene((0.8, 0.1, 0.1), textured=False), red_blue_classifier, "obj", kinds="texture", steps=1,
               progress=False)
    with pytest.raises(AttackError, match="no shape with id 'teapot'"):
        attack(cube_scene((0.8, 0.1, 0.1)), red_blue_classifier, "teapot", steps=1, progress=False)
    with pytest.raises(AttackError, match="unknown attack kind 'colour'"):
        attack(cube_scene((0.8, 0.1, 0.1)), red_blue_classifier, "obj", kinds=("colour",), steps=1, progress=False)


def test_light_and_pose_attack_stay_within_budget(red_blue_classifier):
    """Lights (radiance of sky and lamp, lamp translation) and camera pose together, through edge_sampling."""
    from penumbra.adversarial import attack
    budgets = {"light": 0.3, "light_position": 0.1, "pose": 0.05, "pose_angle": 3.0}
    r = attack(cube_scene((0.8, 0.15, 0.1)), red_blue_classifier, "obj", kinds=("light", "pose"), target=1,
               budgets=budgets, steps=3, views_per_step=1, spp=2, eval_views=2,
               integrator={"type": "edge_sampling", "max_depth": 3, "secondary_path_spp": 0},
               eval_spp=4, progress=False)
    v = r.values
    assert set(v) == {"sky.radiance.value", "lamp.emitter.radiance.value", "lamp.translation", "pose.translation",
                      "pose.rotation"}
    assert np.all(np.abs(v["pose.translation"]) <= 0.05 + 1e-6) and np.all(np.abs(v["pose.rotation"]) <= 3 + 1e-5)
    assert np.all(np.abs(v["lamp.translation"]) <= 0.1 + 1e-6)
    assert np.all(np.abs(v["sky.radiance.value"] / 0.4 - 1) <= 0.3 + 1e-5)
    assert np.any(np.abs(v["pose.translation"]) > 0) and np.any(np.abs(v["lamp.translation"]) > 0)
    assert len(r.history) == 3 and np.all(np.isfinite(r.history))
