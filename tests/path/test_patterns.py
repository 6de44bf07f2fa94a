"""Capability table, first rows: both estimators with their *default* settings in each way Mitsuba
users differentiate a render (in the style of Mitsuba's ``test_ad_integrators.py``).

Patterns:

- ``pushed``: θ's tangent pushed into the parameters (``dr.forward(θ, ClearEdges)``), then
  ``integrator.render_forward`` (Mitsuba's own tests);
- ``render``: parameters computed from an upstream θ, ``img = mi.render(scene, params)``, then
  ``dr.forward(θ)`` and ``dr.grad(img)``;
- ``backward``: ``mi.render`` then ``dr.backward`` of a weighted image sum;
- ``render_backward``: ``integrator.render_backward`` called directly.

The patterns must give the *same* Monte Carlo estimate for the same gradient seed (``mi.render``'s
``seed_grad``), term by term: each boundary term of either estimator has to see the parameters'
tangents whichever way they arrive. Correctness against finite differences of ``path`` with
default settings is the ``slow`` row (the FD reference of a 16x16 shadow costs ~10 s).
"""
import numpy as np
import pytest

import drjit as dr
import mitsuba as mi

from penumbra import integrators  # noqa: F401  (registers the plugins)


def _scene(estimator, res=12, depth=None, filt=None, views=(0,), **options):
    """An occluder (cube mesh) translating over a lit floor: primary silhouette and its shadow.
    ``views``: the scene's sensors, in order, from :data:`VIEWS`."""
    T = mi.ScalarTransform4f
    filt = filt or ("gaussian" if estimator == "warped_area" else "box")
    integrator = {"type": estimator, **options}
    if depth is not None:
        integrator["max_depth"] = depth
    sensors = {f"sensor{i}": {"type": "perspective", "fov": 40,
                              "to_world": T().look_at(origin=VIEWS[v], target=[0, 0, 0.2], up=[0, 0, 1]),
                              "film": {"type": "hdrfilm", "width": res, "height": res, "rfilter": {"type": filt},
                                       "pixel_format": "rgb"}}
               for i, v in enumerate(views)}
    return mi.load_dict({
        "type": "scene", "integrator": integrator, **sensors,
        "floor": {"type": "rectangle", "to_world": T().scale(3),
                  "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": 0.8}}},
        "light": {"type": "rectangle", "to_world": T().translate([0.2, 0.3, 2.0]).scale(0.4).rotate([1, 0, 0], 180),
                  "emitter": {"type": "area", "radiance": {"type": "rgb", "value": 20.0}}},
        "occ": {"type": "cube", "to_world": T().translate([0.05, 0.02, 0.6]).rotate([0, 0, 1], 20).scale(0.2),
                "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": 0.4}}},
    })


KEY = "occ.vertex_positions"
VIEWS = ([0.3, -2.5, 2.5], [-2.2, -1.2, 2.4])


def _theta(scene, value=None):
    """(params, θ): the occluder's vertices = x0 + θ d (d: +x), θ grad-enabled at 0 unless ``value``."""
    params = mi.traverse(scene)
    x0 = mi.Float(np.array(params[KEY]))
    d = mi.Float(np.tile(np.float32([1, 0, 0]), dr.width(x0) // 3))
    th = dr.opaque(mi.Float, 0.0 if value is None else value)
    if value is None:
        dr.enable_grad(th)
    params[KEY] = x0 + th * d
    params.update()
    return params, th


def _pushed(scene, spp, seed):
    params, th = _theta(scene)
    dr.forward(th, dr.ADFlag.ClearEdges)
    return np.array(scene.integrator().render_forward(scene, params, spp=spp, seed=seed))


def _render(scene, spp, seed):
    params, th = _theta(scene)
    img = mi.render(scene, params, spp=spp, seed=0, seed_grad=seed)
    dr.forward(th)
    return np.array(dr.grad(img))


# Per estimator: a configuration where the secondary term is measurably non-zero for this seed.
# warped_area's direction-space kernel (~3 mrad) makes its secondary estimate rare and large: at
# 12x12 px x 2-4 paths it was exactly 0 for this seed, at 16x16 x 4 paths (depth 3) 250x the rest.
SECONDARY = {"edge_sampling": dict(res=12, depth=2, edge_spp=4, secondary_path_spp=2),
             "warped_area": dict(res=16, depth=3, film_spp=2, secondary="warp", secondary_path_spp=4)}


# Measured on the loaded 2-core machine: edge_sampling's forward row ~2-10 s; warped_area's forward
# row 77 s and its reverse row 430 s (reverse mode records the reparameterised paths), edge
# sampling's reverse row 89 s: those are ``slow``.
SLOW = pytest.mark.slow


@pytest.mark.parametrize("estimator", ["edge_sampling", pytest.param("warped_area", marks=SLOW)])
def test_render_forward_sees_every_term(estimator):
    """``mi.render`` + ``dr.forward(θ)`` equals ``render_forward`` after pushing the tangent, and the
    secondary term (which runs after the primary passes) is part of it."""
    opts = SECONDARY[estimator]
    pushed = _pushed(_scene(estimator, **opts), 4, 5)
    render = _render(_scene(estimator, **opts), 4, 5)
    assert np.abs(pushed).sum() > 0
    np.testing.assert_allclose(render, pushed, rtol=1e-4, atol=1e-5 * np.abs(pushed).max())
    without = _render(_scene(estimator, **{**opts, "secondary_path_spp": 0}), 4, 5)
    assert np.abs(render - without).sum() > 0.05 * np.abs(render).sum()


@pytest.mark.parametrize("estimator", [pytest.param("edge_sampling", marks=SLOW),
                                       pytest.param("warped_area", marks=SLOW)])
def test_reverse_patterns_agree_with_forward(estimator):
    opts = SECONDARY[estimator]
    fwd = _pushed(_scene(estimator, **opts), 4, 3)
    w = np.random.default_rng(0).standard_normal(fwd.shape).astype(np.float32)
    expected = float((w * fwd).sum())

    scene = _scene(estimator, **opts)
    params, th = _theta(scene)
    img = mi.render(scene, params, spp=4, seed=0, seed_grad=3)
    dr.backward(dr.sum(img * mi.TensorXf(w), axis=None))
    via_render = float(dr.grad(th)[0])

    scene = _scene(estimator, **opts)
    params, th = _theta(scene)
    scene.integrator().render_backward(scene, th, mi.TensorXf(w), spp=4, seed=3)
    direct = float(dr.grad(th)[0])
    assert abs(expected) > 0
    assert via_render == pytest.approx(expected, rel=1e-3)
    assert direct == pytest.approx(expected, rel=1e-3)


@SLOW  # 15 s warm, 60 s with cold kernels under load; the default run checks the box filter against exact coverage
def test_warped_area_box_filter_patterns_agree():
    """With a box filter warped_area's primary term includes the pixel-border flux, a pass of its own
    (:mod:`penumbra.integrators.path.warped_borders`): ``render_forward`` after pushing, ``mi.render`` +
    ``dr.forward`` and ``mi.render`` + ``dr.backward`` give the same estimate."""
    opts = dict(res=8, depth=2, filt="box", film_spp=2, secondary_path_spp=0)
    pushed = _pushed(_scene("warped_area", **opts), 2, 5)
    render = _render(_scene("warped_area", **opts), 2, 5)
    assert np.abs(pushed).sum() > 0
    np.testing.assert_allclose(render, pushed, rtol=1e-4, atol=1e-5 * np.abs(pushed).max())
    w = np.random.default_rng(0).standard_normal(pushed.shape).astype(np.float32)
    scene = _scene("warped_area", **opts)
    params, th = _theta(scene)
    img = mi.render(scene, params, spp=2, seed=0, seed_grad=5)
    dr.backward(dr.sum(img * mi.TensorXf(w), axis=None))
    assert float(dr.grad(th)[0]) == pytest.approx(float((w * pushed).sum()), rel=1e-3)


def test_several_parameters_at_once():
    """One θ moving the occluder and scaling the light's radiance: the derivative image is the sum of
    the two parameters' derivative images rendered separately (same gradient seed): every term sees
    every parameter's tangent, and none is dropped when another parameter moves too."""
    opts = SECONDARY["edge_sampling"]

    def grad(move, brighten):
        scene = _scene("edge_sampling", **opts)
        params = mi.traverse(scene)
        # opaque: a literal θ would be widened in place by the first (vertex) use and then make the
        # radiance a 72-wide array (DEVELOPERS.md)
        th = dr.opaque(mi.Float, 0.0)
        dr.enable_grad(th)
        if move:
            x0 = mi.Float(np.array(params[KEY]))
            params[KEY] = x0 + th * mi.Float(np.tile(np.float32([1, 0, 0]), dr.width(x0) // 3))
        if brighten:
            params["light.emitter.radiance.value"] = mi.Color3f(20.0) * (1.0 + th)
        params.update()
        img = mi.render(scene, params, spp=4, seed=0, seed_grad=5)
        dr.forward(th)
        return np.array(dr.grad(img))

    both, move, light = grad(True, True), grad(True, False), grad(False, True)
    assert np.abs(move).sum() > 0 and np.abs(light).sum() > 0
    np.testing.assert_allclose(both, move + light, rtol=1e-3, atol=1e-4 * np.abs(both).max())


def test_second_sensor():
    """``sensor=1`` differentiates the second sensor's view: the same derivative image as the scene
    whose first sensor is that view (no term reads ``scene.sensors()[0]``)."""
    opts = SECONDARY["edge_sampling"]
    two = _scene("edge_sampling", views=(0, 1), **opts)
    assert np.allclose(np.array(two.sensors()[1].world_transform().matrix)[:3, 3, 0], VIEWS[1], atol=1e-5)
    params, th = _theta(two)
    dr.forward(th, dr.ADFlag.ClearEdges)
    second = np.array(two.integrator().render_forward(two, params, sensor=1, spp=4, seed=5))
    alone = _pushed(_scene("edge_sampling", views=(1,), **opts), 4, 5)
    assert np.abs(alone).sum() > 0
    np.testing.assert_allclose(second, alone, rtol=1e-4, atol=1e-5 * np.abs(alone).max())


def test_torch_bridge_matches_drjit_reverse_mode():
    """The torch bridge (``render_function``: θ in torch, the vertices computed from it in torch,
    ``loss.backward()``) gives Dr.Jit's reverse-mode derivative of the same render and seed."""
    torch = pytest.importorskip("torch", reason="the torch bridge needs PyTorch: pip install 'penumbra[torch]'")
    from penumbra import scenes
    from penumbra.renderer.torch_bridge import render_function
    opts = SECONDARY["edge_sampling"]
    scene = _scene("edge_sampling", **opts)
    x0 = np.array(mi.traverse(scene)[KEY], np.float32)
    d = np.tile(np.float32([1, 0, 0]), x0.size // 3)
    w = np.random.default_rng(0).standard_normal((opts["res"], opts["res"], 3)).astype(np.float32)

    f = render_function(scene, scenes.ParameterMap(scene), [KEY], spp=4)
    th_t = torch.zeros((), requires_grad=True)
    image = f(3, torch.from_numpy(x0) + th_t * torch.from_numpy(d))
    (image[..., :3] * torch.from_numpy(w)).sum().backward()

    scene = _scene("edge_sampling", **opts)
    params, th = _theta(scene)
    img = mi.render(scene, params, spp=4, seed=3)
    dr.backward(dr.sum(img * mi.TensorXf(w), axis=None))
    expected = float(dr.grad(th)[0])
    assert abs(expected) > 0
    assert float(th_t.grad) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("estimator", ["edge_sampling", "warped_area"])
def test_max_depth_zero_has_zero_gradient(estimator):
    assert np.all(_render(_scene(estimator, res=8, depth=0), 4, 1) == 0)
    assert np.all(_pushed(_scene(estimator, res=8, depth=0), 4, 1) == 0)


@pytest.mark.parametrize("estimator,new", [("edge_sampling", "edge_spp"), ("warped_area", "film_spp")])
def test_sample_count_names(estimator, new):
    with pytest.warns(DeprecationWarning, match=new):
        integ = mi.load_dict({"type": estimator, "primary_spp": 8})
    assert integ.primary_spp == 8
    with pytest.warns(DeprecationWarning, match="secondary_path_spp"):
        assert mi.load_dict({"type": estimator, "secondary_spp": 3}).secondary_spp == 3
    # (mi.load_dict wraps the plugin's ValueError in a RuntimeError)
    with pytest.raises((ValueError, RuntimeError), match="not both"):
        mi.load_dict({"type": estimator, "primary_spp": 8, new: 8})
    with pytest.raises((ValueError, RuntimeError), match="boundary_budget"):
        mi.load_dict({"type": estimator, "boundary_budget": 0})
    # Derived counts follow the gradient pass's spp and the budget.
    # Edge-sampled secondary term (edge_sampling; warped_area's default where no light moves): four
    # secondary paths per interior sample; warped_area's direction-space warp: a quarter.
    integ = mi.load_dict({"type": estimator, "boundary_budget": 2})
    integ.resolve_counts(None, None, 16)
    assert (integ.primary_spp, integ.secondary_spp) == (32, 128)
    if estimator == "warped_area":
        integ = mi.load_dict({"type": estimator, "boundary_budget": 2, "secondary": "warp"})
        integ.resolve_counts(None, None, 16)
        assert (integ.primary_spp, integ.secondary_spp) == (32, 8)
        with pytest.raises((ValueError, RuntimeError), match="secondary must be"):
            mi.load_dict({"type": estimator, "secondary": "edges"})


@SLOW
def test_defaults_against_finite_differences():
    """``{'type': 'edge_sampling'}`` with nothing else set (max_depth 6, counts derived from the 16
    spp of one ``mi.render`` gradient), the cube translating over the lit floor, against central
    differences of ``path`` (4 x 4096 spp; its two halves differ by 4 % rel. L2). Measured, seeds
    1-3: rel. L2 22 %, 29 %, 30 % (64 secondary paths: 12-18 %); before the cube's hard edges were
    shading creases 44 % even at high counts. The image sum of a sideways motion is ill-conditioned
    (-26, -22, -2 against -14.5) and not checked. Cold, this compiles the depth-6 kernels (~150 s)."""
    from penumbra import scenes
    from tests.harness import compare, fd_image, offset
    scene = _scene("edge_sampling", res=16)
    params = scenes.ParameterMap(scene)
    n = dr.width(mi.traverse(scene)[KEY]) // 3
    perturb = offset(params, KEY, np.tile([1.0, 0, 0], n))
    ref = fd_image(scene, params, perturb, 0.01, reference={"type": "path", "max_depth": 6}, spp=4096, passes=4)
    rep = compare(_render(scene, 16, 1), ref)
    assert rep.rel_l2 <= 0.3, rep


def test_shapes_that_are_not_meshes():
    """Both estimators sample mesh edges only: a moving Mitsuba ``sphere`` (or a moving camera in a
    scene with one) is refused by name instead of a gradient that misses its silhouette (end to end
    through ``mi.render`` + ``dr.forward``, and by the check both estimators run first in forward
    and reverse mode); a moving mesh next to a static sphere gets a warning that the sphere's
    shadow and reflection boundaries as seen from moving points are not differentiated."""
    from penumbra.integrators.path.base import check_supported_motion
    T = mi.ScalarTransform4f

    def setup(key):
        scene = mi.load_dict({
            "type": "scene", "integrator": {"type": "edge_sampling", "max_depth": 3},
            "sensor": {"type": "perspective", "fov": 40,
                       "to_world": T().look_at(origin=[0, 1.2, 3], target=[0, 0.3, 0], up=[0, 1, 0]),
                       "film": {"type": "hdrfilm", "width": 4, "height": 4}},
            "floor": {"type": "rectangle", "to_world": T().rotate([1, 0, 0], -90).scale(2.0)},
            "ball": {"type": "sphere", "center": [0, 0.4, 0], "radius": 0.3},
            "cube": {"type": "cube", "to_world": T().translate([0.8, 0.3, 0.1]).scale(0.2)},
            "light": {"type": "rectangle", "to_world": T().translate([0, 2.5, 0]).rotate([1, 0, 0], 90).scale(0.3),
                      "emitter": {"type": "area", "radiance": {"type": "rgb", "value": 20.0}}}})
        params = mi.traverse(scene)
        th = mi.Float(0.0)
        dr.enable_grad(th)
        if key.endswith("to_world"):
            params[key] = mi.Transform4f().translate(mi.Point3f(th, 0, 0)) @ params[key]
        else:
            params[key] = params[key] + th
        params.update()
        return scene, params, th

    scene, params, th = setup("ball.to_world")
    with pytest.raises(ValueError, match="EdgeSamplingIntegrator: shape 'ball' \\(Sphere\\) moves"):
        img = mi.render(scene, params, spp=1)   # (kept: a freed output leaves dr.forward nothing to do)
        dr.forward(th)
        dr.grad(img)
    for key, message in [("ball.to_world", "'ball' \\(Sphere\\) moves"),
                         ("sensor.x_fov", "the camera moves.*'ball' \\(Sphere\\)")]:
        with pytest.raises(ValueError, match=message):
            check_supported_motion(setup(key)[0], "warped_area", 3)
    with pytest.warns(UserWarning, match="'cube' moves while shapes that are not triangle meshes \\('ball'"):
        check_supported_motion(setup("cube.vertex_positions")[0], "warped_area", 3)


@pytest.mark.parametrize("estimator,key", [("warped_area", "light.to_world"),
                                           pytest.param("warped_area", "occ.to_world", marks=SLOW),
                                           pytest.param("edge_sampling", "light.to_world", marks=SLOW),
                                           pytest.param("edge_sampling", "occ.to_world", marks=SLOW)])
def test_transform_parameters_forward_equals_reverse(estimator, key):
    """A ``rectangle`` moved through its ``to_world`` (Mitsuba derives its vertex positions from it):
    ``mi.render`` + ``dr.forward(θ)`` gives the same ``<w, gradient>`` as ``dr.backward`` for an
    occluder and for an area light. Every boundary-term traversal after the first must still see
    the tangent of the derived vertex buffer (``warped_area``'s film passes had cut it: -0.39 forward
    against -1.41 reverse for the occluder, exactly 0 for the light)."""
    T = mi.ScalarTransform4f
    scene = mi.load_dict({
        "type": "scene",
        "sensor": {"type": "perspective", "fov": 45,
                   "to_world": T().look_at(origin=[0, 2.5, 2.5], target=[0, 0, 0], up=[0, 1, 0]),
                   "film": {"type": "hdrfilm", "width": 12, "height": 12}},
        "floor": {"type": "rectangle", "to_world": T().rotate([1, 0, 0], -90).scale(1.5)},
        "light": {"type": "rectangle", "to_world": T().translate([0, 2.0, 0]).rotate([1, 0, 0], 90).scale(0.25),
                  "emitter": {"type": "area", "radiance": {"type": "rgb", "value": 30.0}}},
        "occ": {"type": "rectangle", "to_world": T().translate([0.1, 0.6, 0.05]).rotate([1, 0, 0], 90).scale(0.3)}})
    params = mi.traverse(scene)
    T0 = mi.Transform4f(params[key])
    w = mi.TensorXf(np.random.default_rng(0).uniform(0, 1, (12, 12, 3)).astype(np.float32))
    # (the secondary term off: the film passes and the whole-image terms after them are what is
    # checked, and its kernels would double the test's compile time with an empty kernel cache)
    integrator = mi.load_dict({"type": estimator, "max_depth": 2, "secondary_path_spp": 0})

    def setup():
        th = mi.Float(0.0)
        dr.enable_grad(th)
        params[key] = mi.Transform4f().translate(mi.Vector3f(th, 0, 0)) @ T0
        params.update()
        return th, mi.render(scene, params, integrator=integrator, spp=16, seed=1)

    th, img = setup()
    dr.forward(th)
    forward = float(np.sum(np.array(dr.grad(img)) * np.array(w)))
    th, img = setup()
    dr.backward(dr.sum(img * w, axis=None))
    reverse = float(np.array(dr.grad(th))[0])
    assert abs(reverse) > 0.05, f"{key}: degenerate test, gradient ~ 0 ({reverse})"
    assert forward == pytest.approx(reverse, rel=1e-3), (forward, reverse)


@pytest.mark.parametrize("estimator", ["edge_sampling", pytest.param("warped_area", marks=SLOW)])
def test_emitter_pose_without_a_term_is_refused(estimator):
    """A spot light's pose (``to_world``) has no emitter-motion term: refused by name (Mitsuba's
    ``prb`` fails on it with an exception about an unattached contribution)."""
    T = mi.ScalarTransform4f
    scene = mi.load_dict({
        "type": "scene", "integrator": {"type": estimator, "max_depth": 2},
        "sensor": {"type": "perspective", "fov": 45,
                   "to_world": T().look_at(origin=[0, 2.5, 2.5], target=[0, 0, 0], up=[0, 1, 0]),
                   "film": {"type": "hdrfilm", "width": 8, "height": 8}},
        "floor": {"type": "rectangle", "to_world": T().rotate([1, 0, 0], -90).scale(1.5)},
        "light": {"type": "spot", "to_world": T().look_at(origin=[0, 2, 0], target=[0, 0, 0], up=[0, 0, 1]),
                  "intensity": {"type": "rgb", "value": 8.0}}})
    params = mi.traverse(scene)
    th = mi.Float(0.0)
    dr.enable_grad(th)
    params["light.to_world"] = mi.Transform4f().translate(mi.Vector3f(th, 0, 0)) @ params["light.to_world"]
    params.update()
    with pytest.raises(ValueError, match="pose of emitter 'light' \\(SpotLight"):
        img = mi.render(scene, params, spp=1)   # (kept: a freed output leaves dr.forward nothing to do)
        dr.forward(th)
        dr.grad(img)


def test_texture_edges_without_a_term_warn():
    """Mitsuba's checkerboard jumps along curves no term samples: ``warped_area`` warns when geometry
    moves anywhere (its warp field carries film samples across the floor's edges next to a moving
    silhouette: a checkerboard floor under a moving occluder came out at 2x the FD image sum),
    ``edge_sampling`` only when the textured shape itself moves (checked by the function both
    estimators' shader term runs first)."""
    import warnings

    from penumbra.integrators.path.shader_edges import ShaderEdgeCoverageWarning, warn_texture_edges
    T = mi.ScalarTransform4f
    checker = {"type": "diffuse", "reflectance": {"type": "checkerboard"}}
    plain = {"type": "diffuse"}

    def moving_cube(floor_bsdf, cube_bsdf):
        scene = mi.load_dict({
            "type": "scene",
            "floor": {"type": "rectangle", "to_world": T().rotate([1, 0, 0], -90).scale(1.5), "bsdf": floor_bsdf},
            "cube": {"type": "cube", "to_world": T().translate([0, 0.4, 0]).scale(0.2), "bsdf": cube_bsdf}})
        params = mi.traverse(scene)
        th = mi.Float(0.0)
        dr.enable_grad(th)
        params["cube.vertex_positions"] = params["cube.vertex_positions"] + th
        params.update()
        return scene

    owner = mi.load_dict({"type": "warped_area"})
    with pytest.warns(ShaderEdgeCoverageWarning, match="\\['floor'\\].*use edge_sampling"):
        warn_texture_edges(owner, moving_cube(checker, plain), "warp")
    with pytest.warns(ShaderEdgeCoverageWarning, match="\\['cube'\\]"):
        warn_texture_edges(owner, moving_cube(plain, checker), "ray")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShaderEdgeCoverageWarning)
        warn_texture_edges(owner, moving_cube(checker, plain), "ray")   # static checkerboard: nothing moves on it
