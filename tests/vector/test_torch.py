"""torch interop: the rasterizer inside a torch autograd graph through renderer.torch_bridge."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from penumbra import renderer  # noqa: E402

renderer.ensure_variant()

from penumbra.integrators.vector import rasterize  # noqa: E402
from penumbra.renderer.torch_bridge import torch_function  # noqa: E402
from penumbra.scenes.vector import load_svg  # noqa: E402


def test_torch_gradients_match_drjit():
    import drjit as dr
    import mitsuba as mi
    sc = load_svg('<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24">'
                  '<circle id="c" cx="11.3" cy="12.2" r="6.1" fill="#c03020" stroke="#000" stroke-width="2"/></svg>')

    @torch_function
    def render(center, color):
        return rasterize(sc, spp=4, params={"c.center": center, "c.fill.color": color}, seed=2)

    center = torch.tensor([11.3, 12.2], dtype=torch.float32, requires_grad=True)
    color = torch.tensor([0.75, 0.19, 0.13, 1.0], dtype=torch.float32, requires_grad=True)
    img = render(center, color)
    assert tuple(img.shape) == (24, 24, 4)
    w = torch.linspace(0, 1, img.numel()).reshape(img.shape)
    (img * w).sum().backward()
    # the same gradients computed purely in Dr.Jit
    c = mi.Float([11.3, 12.2])
    k = mi.Float([0.75, 0.19, 0.13, 1.0])
    dr.enable_grad(c, k)
    out = rasterize(sc, spp=4, params={"c.center": c, "c.fill.color": k}, seed=2)
    dr.backward(dr.sum(out.array * mi.Float(w.numpy().reshape(-1))))
    np.testing.assert_allclose(center.grad.numpy(), np.array(dr.grad(c)), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(color.grad.numpy(), np.array(dr.grad(k)), rtol=1e-3, atol=1e-3)
    assert np.abs(center.grad.numpy()).max() > 0.1
