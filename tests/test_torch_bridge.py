import numpy as np
import pytest

torch = pytest.importorskip("torch")


def test_render_inside_torch_autograd_matches_drjit_gradient():
    import drjit as dr
    import mitsuba as mi

    from penumbra import scenes
    from penumbra.renderer.torch_bridge import render_function
    from penumbra.scenes import builders as b

    scene = scenes.load_scene(b.scene(b.camera(resolution=16), b.integrator("prb"),
                                      shapes={"wall": b.rectangle((0, 0, 0), 4, bsdf=b.diffuse(0.5))},
                                      emitters={"sky": b.constant_environment(1.0)}))
    params = scenes.ParameterMap(scene)
    f = render_function(scene, params, ["wall.bsdf.reflectance.value"], spp=8)
    x = torch.tensor([0.3, 0.5, 0.7], requires_grad=True)
    image = f(0, x)
    assert isinstance(image, torch.Tensor) and image.shape == (16, 16, 3)
    image.mean().backward()

    # Same quantity in Dr.Jit only.
    value = mi.Color3f(0.3, 0.5, 0.7)
    dr.enable_grad(value)
    params.update({"wall.bsdf.reflectance.value": value})
    img = mi.render(scene, params.mitsuba, spp=8, seed=0)
    dr.backward(dr.mean(img, axis=None))
    assert np.allclose(x.grad.numpy(), np.array(dr.grad(value)).ravel(), rtol=1e-3, atol=1e-7)
    assert np.all(x.grad.numpy() > 0)
