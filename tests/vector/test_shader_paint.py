"""Shader paints of the vector rasterizer: a procedural shader filling a shape, its parameters as
named vector-scene parameters, and gradients against finite differences.

Reference: central differences of the plain forward rasterization (no boundary term is involved
without gradients) at 1024 spp, common random numbers on both sides; AD at 16 spp, forward and
reverse. Tolerance as in tests/vector/test_gradients.py: |AD - FD| <= 0.08 max|FD| + 0.5 (loss
units, sums over ~500 px), with a non-degenerate FD derivative. Plain AD (the shader edges' term
removed) is shown to miss the threshold's gradient."""
import numpy as np
import pytest

from penumbra import renderer

renderer.ensure_variant()
import drjit as dr  # noqa: E402
import mitsuba as mi  # noqa: E402

from penumbra import shaders as sh  # noqa: E402
from penumbra.integrators.vector import raster, rasterize  # noqa: E402
from penumbra.scenes.errors import ParameterError, SceneError  # noqa: E402
from penumbra.scenes.vector import ShaderPaint, VectorScene, circle, rect, to_svg_string  # noqa: E402

N = 24
A, B = [0.9, 0.6, 0.1], [0.1, 0.3, 0.8]
_y, _x = np.mgrid[0:N, 0:N] + 0.5
WEIGHTS = np.stack([0.5 + 0.5 * np.sin(_x / 4.0 + 0.3 * c) * np.cos(_y / 5.0 - 0.7 * c) for c in range(4)],
                   -1).astype(np.float32)
AD_SPP, FD_SPP = 16, 1024


def threshold(uv, p):
    """Two colours split where a smooth field of user-space coordinates crosses ``t``."""
    f = dr.sin(0.3 * uv[0]) * dr.cos(0.25 * uv[1]) + uv[0] / 20.0
    return sh.mix(sh.step(f - p["t"]), p["a"], p["b"])


def stripes(uv, p):
    return sh.mix(sh.stripes(0.15 * uv[0] + 0.1 * uv[1] + p["phase"], p["duty"]), p["a"], p["b"])


def threshold_rect():
    """The threshold shader in a rectangle over an opaque background (straight-alpha pixels of a
    shape over transparency jump from 0 to its colour where coverage starts: FD would see that)."""
    sc = VectorScene(N, N)
    sc.add(rect("bg", (0, 0), (N, N), fill=[1.0, 1.0, 1.0]))
    sc.add(rect("r", (4, 3), (16, 17), fill=ShaderPaint(sh.Shader(threshold, {"t": 0.4, "a": A, "b": B}))))
    return sc


def stripes_circle():
    """Stripes in a circle at opacity 0.8 over a green background (the jump is the composite)."""
    sc = VectorScene(N, N)
    sc.add(rect("bg", (0, 0), (N, N), fill=[0.2, 0.8, 0.3]))
    sc.add(circle("c", (12, 12), 9, opacity=0.8,
                  fill=ShaderPaint(sh.Shader(stripes, {"phase": 0.1, "duty": 0.4, "a": A, "b": B}))))
    return sc


def weighted(img, weights):
    return dr.sum(img.array * mi.Float(weights.reshape(-1)))


def ad(scene, names, mode="reverse", weights=WEIGHTS, direction=None):
    """Reverse: the gradient of the weighted pixel sum for each of ``names`` (flat arrays); forward:
    its derivative along ``direction`` of the single name."""
    xs = {n: mi.Float(scene.params[n].reshape(-1).astype(np.float32)) for n in names}
    for x in xs.values():
        dr.enable_grad(x)
    loss = weighted(rasterize(scene, N, N, spp=AD_SPP, params=xs, seed=5), weights)
    if mode == "reverse":
        dr.backward(loss)
        return {n: np.array(dr.grad(x)) for n, x in xs.items()}
    (x,) = xs.values()
    dr.set_grad(x, mi.Float(np.asarray(direction, np.float32)))
    dr.forward_to(loss)
    return float(dr.grad(loss)[0])


def fd(scene, name, direction, h, weights=WEIGHTS):
    v0 = scene.params[name].reshape(-1)
    vals = [float(weighted(rasterize(scene, N, N, spp=FD_SPP, params={name: v0 + s * h * np.asarray(direction)},
                                     seed=11), weights)[0]) for s in (1, -1)]
    return (vals[0] - vals[1]) / (2 * h)


def close(a, f, name):
    assert abs(f) > 1.0, f"{name}: degenerate test, FD derivative ~ 0 ({f})"
    assert abs(a - f) <= 0.08 * abs(f) + 0.5, f"{name}: AD {a} vs FD {f}"


def test_parameters_are_named_vector_parameters():
    sc = threshold_rect()
    p = sc.params
    assert {"r.fill.t", "r.fill.a", "r.fill.b", "r.fill.transform"} <= set(p.keys())
    assert p.shape_of("r.fill.a") == (3,) and float(p["r.fill.t"]) == pytest.approx(0.4)
    info = p.info("r.fill.t")
    assert info.owner == "ShaderPaint" and not info.moves_geometry
    p.update({"r.fill.t": 0.5})
    assert sc.shapes()[1].fill.values["t"] == pytest.approx(0.5)
    with pytest.raises(ParameterError, match="r.fill.t"):
        p.update({"r.fill.t": np.nan})
    with pytest.raises(SceneError, match="ShaderPaint"):
        to_svg_string(sc)
    with pytest.raises(SceneError, match="Shader"):
        ShaderPaint(lambda uv, p: uv[0])
    x = mi.Float(0.4)
    dr.enable_grad(x)
    with pytest.raises(ValueError, match="filter='box'"):
        rasterize(sc, N, N, spp=1, filter="tent", params={"r.fill.t": x})


def test_forward_image_is_the_shader_inside_the_shape():
    img = np.array(rasterize(threshold_rect(), N, N, spp=4))
    assert np.all(img[0, 0] == 1)                                   # outside: the white background
    inside = img[4:19, 5:19, :3].reshape(-1, 3)
    assert np.all(img[4:19, 5:19, 3] == pytest.approx(1.0))
    # pixel centres far from the threshold's edge are exactly one of the two colours
    is_a = np.all(np.abs(inside - A) < 1e-5, 1)
    is_b = np.all(np.abs(inside - B) < 1e-5, 1)
    assert is_a.sum() > 20 and is_b.sum() > 20


def test_threshold_in_rect_reverse_and_forward(monkeypatch):
    """The threshold (shader edge), a colour (interior AD) and the rectangle's position (shape edge
    with shaded colours on its inner side), reverse mode; the threshold again in forward mode."""
    sc = threshold_rect()
    g = ad(sc, ["r.fill.t", "r.fill.a", "r.position"])
    close(float(g["r.fill.t"][0]), fd(sc, "r.fill.t", [1.0], 1e-2), "r.fill.t")
    close(float(g["r.fill.a"][0]), fd(sc, "r.fill.a", [1, 0, 0], 2e-2), "r.fill.a[0]")
    close(float(g["r.position"][0]), fd(sc, "r.position", [1, 0], 0.25), "r.position[0]")
    f_t = fd(sc, "r.fill.t", [1.0], 1e-2)
    close(ad(sc, ["r.fill.t"], "forward", direction=[1.0]), f_t, "r.fill.t (forward)")
    # plain AD of the same program: no term for the shader's edge, the threshold's gradient is 0
    monkeypatch.setattr(raster, "shader_edge_term", lambda img, *a: img)
    assert abs(float(ad(sc, ["r.fill.t"])["r.fill.t"][0])) < 1e-6 < abs(f_t)


def test_stripes_in_circle_reverse_and_forward():
    """Stripe width (trailing edges) in forward and reverse mode; the stripes' phase (both edges,
    opposite jumps) with an L2 loss to a target at another phase, reverse."""
    sc = stripes_circle()
    f_duty = fd(sc, "c.fill.duty", [1.0], 1e-2)
    close(float(ad(sc, ["c.fill.duty"])["c.fill.duty"][0]), f_duty, "c.fill.duty")
    close(ad(sc, ["c.fill.duty"], "forward", direction=[1.0]), f_duty, "c.fill.duty (forward)")
    target = np.array(rasterize(sc, N, N, spp=16, params={"c.fill.phase": 0.25}))
    # d/dθ Σ (I - T)² at θ0 = Σ 2 (I0 - T) dI/dθ: a weighted sum with weights 2 (I0 - T)
    w = (2 * (np.array(rasterize(sc, N, N, spp=FD_SPP, seed=11)) - target)).astype(np.float32)
    close(float(ad(sc, ["c.fill.phase"], weights=w)["c.fill.phase"][0]), fd(sc, "c.fill.phase", [1.0], 1e-2, w),
          "c.fill.phase")


KINDS = {  # name: (shader of user-space coordinates, parameters, differentiated parameter, direction, FD step)
    "threshold": (threshold, {"t": 0.4}, "t", [1.0], 1e-2),
    "stripes": (stripes, {"phase": 0.1, "duty": 0.4}, "duty", [1.0], 1e-2),
    "checker": (lambda uv, p: sh.mix(sh.checker(p["scale"] * uv[0] + 0.13, p["scale"] * uv[1] + 0.31), p["a"], p["b"]),
                {"scale": 0.12}, "scale", [1.0], 2e-4),
    "circle": (lambda uv, p: sh.mix(sh.circle(uv, p["c"], p["r"]), p["a"], p["b"]),
               {"c": [11.0, 10.0], "r": 5.0}, "r", [1.0], 5e-2),
    "polygon": (lambda uv, p: sh.mix(sh.polygon(uv, p["v"]), p["a"], p["b"]),
                {"v": [[6.0, 5.0], [17.0, 7.0], [14.0, 16.0], [7.0, 14.0]]}, "v", [0, 0, 1.0, -0.3, 0.5, 1.0, 0, 0],
                5e-2),
    "noise": (lambda uv, p: sh.mix(sh.step(sh.value_noise(mi.Point2f(uv[0] / 6 + p["offset"][0], uv[1] / 6 + p["offset"][1]),
                                                         seed=3) - p["t"]), p["a"], p["b"]),
              {"offset": [0.3, 0.1], "t": 0.5}, "t", [1.0], 1e-2),
}


def kind_rect(kind):
    fn, params, *_ = KINDS[kind]
    sc = VectorScene(N, N)
    sc.add(rect("bg", (0, 0), (N, N), fill=[1.0, 1.0, 1.0]))
    sc.add(rect("r", (3, 2), (19, 20), fill=ShaderPaint(sh.Shader(fn, {**params, "a": A, "b": B}))))
    return sc


def default_ad(scene, name):
    """Reverse-mode gradient of the weighted pixel sum at the rasterizer's default spp and seed."""
    x = mi.Float(scene.params[name].reshape(-1).astype(np.float32))
    dr.enable_grad(x)
    dr.backward(weighted(rasterize(scene, N, N, params={name: x}), WEIGHTS))
    return np.array(dr.grad(x), np.float64)


@pytest.mark.parametrize("kind", [k if k in ("polygon", "noise") else pytest.param(k, marks=pytest.mark.slow)
                                  for k in KINDS])
def test_every_discontinuity_kind_at_default_counts(kind):
    """``rasterize`` with nothing set but the parameters (spp 4: 4 line pairs per pixel for the shader
    edges) vs FD of the plain rasterization; the same gradient without the shader edges' term is 0."""
    _, _, name, direction, h = KINDS[kind]
    sc = kind_rect(kind)
    d = np.asarray(direction, np.float64)
    close(float(default_ad(sc, f"r.fill.{name}") @ d), fd(sc, f"r.fill.{name}", d, h), f"{kind}: r.fill.{name}")


def test_plain_autodiff_of_a_moving_vertex_is_zero(monkeypatch):
    """The polygon mask's vertices: without the shader edges' term their gradient is exactly 0."""
    monkeypatch.setattr(raster, "shader_edge_term", lambda img, *a: img)
    assert np.abs(default_ad(kind_rect("polygon"), "r.fill.v")).max() == 0.0
