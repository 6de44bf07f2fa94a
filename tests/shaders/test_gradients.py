"""Gradients of procedural shaders' discontinuities against finite differences.

References: central differences of the plain forward render (no boundary term involved) at many
samples per pixel with common random numbers on both sides. Canvas renders (the vector view of a
shader) for every discontinuity kind; the path tracer's ``edge_sampling`` for a shader-textured
plane seen directly. Plain AD of the same parameters is shown to be zero.
"""
import warnings

import numpy as np
import pytest

import drjit as dr
import mitsuba as mi

from penumbra.renderer import ensure_variant

ensure_variant()
from penumbra import shaders as sh
from penumbra.shaders.canvas import render_canvas
from penumbra.integrators.path.shader_edges import MAX_CHAIN, ShaderEdgeCoverageWarning, chain_length

A, B = [0.9, 0.6, 0.1], [0.1, 0.3, 0.8]
FLAGS = dr.ADFlag.Default | dr.ADFlag.AllowNoGrad


def smooth_field(uv, p):
    f = dr.sin(5 * uv[0]) * dr.cos(4 * uv[1]) + uv[0]
    return sh.mix(sh.step(f - p["t"]), p["a"], p["b"])


def stripes(uv, p):
    return sh.mix(sh.stripes(3.0 * uv[0] + 1.3 * uv[1] + p["phase"], p["duty"]), p["a"], p["b"])


def fine_stripes(uv, p):
    # stripe coordinate up to 10: cos(2π s) of the unreduced s loses the edges' position to rounding
    return sh.mix(sh.stripes(5.0 * (uv[0] + uv[1]) + p["phase"], p["duty"]), p["a"], p["b"])


def checker(uv, p):
    return sh.mix(sh.checker(p["scale"] * uv[0] + 0.13, p["scale"] * uv[1] + 0.31), p["a"], p["b"])


def circle(uv, p):
    return sh.mix(sh.circle(uv, p["c"], p["r"]), p["a"], p["b"])


def polygon(uv, p):
    return sh.mix(sh.polygon(uv, p["v"]), p["a"], p["b"])


def noise(uv, p):
    q = mi.Point2f(4.0 * uv[0] + p["offset"][0], 4.0 * uv[1] + p["offset"][1])
    return sh.mix(sh.step(sh.value_noise(q, seed=3) - p["t"]), p["a"], p["b"])


CASES = {  # name: (shader function, parameters, differentiated parameter, direction, FD step)
    "threshold": (smooth_field, {"t": 0.4}, "t", [1.0], 2e-3),
    "stripes": (stripes, {"phase": 0.1, "duty": 0.4}, "duty", [1.0], 2e-3),
    "stripes_phase": (fine_stripes, {"phase": 0.1, "duty": 0.4}, "phase", [1.0], 4e-3),
    "checker": (checker, {"scale": 2.2}, "scale", [1.0], 1e-3),
    "circle": (circle, {"c": [0.45, 0.55], "r": 0.3}, "c", [0.6, 0.8], 2e-3),
    "polygon": (polygon, {"v": [[0.2, 0.15], [0.85, 0.3], [0.6, 0.9], [0.25, 0.7]]}, "v",
                [0, 0, 0.7, -0.3, 0, 0, 0, 0], 2e-3),
    "noise": (noise, {"offset": [0.3, 0.1], "t": 0.5}, "t", [1.0], 2e-3),
}


def make(case):
    fn, params, name, direction, h = CASES[case]
    S = sh.Shader(fn, {**params, "a": A, "b": B})
    return S, name, np.asarray(direction, np.float64), h


def canvas_tangent(S, name, direction, size, spp, boundary=True):
    v = S.values[name]
    dr.enable_grad(v)
    img = render_canvas(S, size, size, spp=spp, boundary=boundary, seed=5)
    dr.set_grad(v, mi.Float(direction.astype(np.float32)))
    dr.forward_to(img, flags=FLAGS)
    g = np.array(dr.grad(img))
    dr.disable_grad(v)
    return g


def canvas_fd(S, name, direction, h, size, spp):
    v0 = np.array(S.values[name], np.float64)
    out = []
    for s in (1, -1):
        S.values[name] = mi.Float((v0 + s * h * direction).astype(np.float32))
        out.append(np.array(render_canvas(S, size, size, spp=spp, boundary=False, seed=11), np.float64))
    S.values[name] = mi.Float(v0.astype(np.float32))
    return (out[0] - out[1]) / (2 * h)


def rel_l2(g, ref):
    return float(np.linalg.norm(g - ref) / np.linalg.norm(ref))


@pytest.mark.parametrize("case", list(CASES))
def test_canvas_matches_fd(case):
    S, name, d, h = make(case)
    ref = canvas_fd(S, name, d, h, 12, 16384)
    g = canvas_tangent(S, name, d, 12, 16)
    assert np.abs(ref).sum() > 1.0  # the parameter moves an edge through the image
    assert rel_l2(g, ref) < 0.12, (case, rel_l2(g, ref))
    assert abs(g.sum() - ref.sum()) < 0.05 * np.abs(ref).sum()


@pytest.mark.parametrize("case", ["circle", "polygon"])
def test_reverse_mode_matches_forward(case):
    S, name, d, _ = make(case)
    v = S.values[name]
    dr.enable_grad(v)
    img = render_canvas(S, 12, 12, spp=16, seed=5)
    w = np.random.default_rng(0).standard_normal((12, 12, 3)).astype(np.float32)
    dr.backward(dr.sum(img * mi.TensorXf(w), axis=None))
    rev = np.array(dr.grad(v), np.float64)
    dr.disable_grad(v)
    fwd = canvas_tangent(S, name, d, 12, 16)
    assert float(rev @ d) == pytest.approx(float((fwd * w).sum()), rel=1e-3)


def test_polygon_level_gradient_on_the_edge():
    """At points on an edge (where the boundary estimator evaluates it, to rounding) the polygon's level
    function has the edge's normal velocity as derivative in both modes: no NaN, no random sign."""
    verts = CASES["polygon"][1]["v"]
    S = sh.Shader(lambda uv, p: sh.polygon(uv, p["v"]), {"v": verts})
    t = np.linspace(0.01, 0.99, 41)
    a, b = np.array(verts[1]), np.array(verts[2])
    q = a + t[:, None] * (b - a)
    uv = mi.Point2f(mi.Float(q[:, 0]), mi.Float(q[:, 1]))
    v = S.values["v"]
    dr.enable_grad(v)
    g = S.levels(uv)[0]
    dr.backward(dr.sum(g))
    rev = np.array(dr.grad(v), np.float64)
    dr.disable_grad(v)
    # moving vertex b by delta moves the edge's point at t by t * delta: the signed distance (positive
    # inside) of a fixed point grows by the outward normal component of that motion
    e = b - a
    n_out = np.array([e[1], -e[0]]) / np.linalg.norm(e)    # counter-clockwise polygon: inside on the left
    expected_a, expected_b = (1 - t).sum() * n_out, t.sum() * n_out
    assert np.all(np.isfinite(rev))
    np.testing.assert_allclose(rev[2:4], expected_a, rtol=1e-3)
    np.testing.assert_allclose(rev[4:6], expected_b, rtol=1e-3)


@pytest.mark.parametrize("case", ["threshold", "circle"])
def test_plain_autodiff_misses_the_edges(case):
    S, name, d, h = make(case)
    plain = canvas_tangent(S, name, d, 12, 16, boundary=False)
    ref = canvas_fd(S, name, d, h, 12, 16384)
    assert np.abs(plain).max() == 0.0
    assert np.abs(ref).sum() > 1.0


def plane_scene(S, size, rfilter="box", view="direct"):
    """The shader on a diffuse square under a constant sky, seen directly (``direct``), in a smooth
    mirror at 45 degrees (``mirror``: the square itself is out of view) or through a glass slab
    (``slab``: a dielectric box covering most of the view, two refractions)."""
    T = mi.ScalarTransform4f()
    film = {"type": "hdrfilm", "width": size, "height": size, "rfilter": {"type": rfilter}, "pixel_format": "rgb"}
    look = T.look_at(origin=[0.3, 0.2, 3.6], target=[0, 0, 0], up=[0, 1, 0])
    scene = {"type": "scene", "emitter": {"type": "constant", "radiance": 1.0},
             "sensor": {"type": "perspective", "fov": 40, "to_world": look, "film": film},
             "plane": {"type": "rectangle", "bsdf": {"type": "diffuse", "reflectance": sh.shader_texture(S)}}}
    if view == "mirror":
        scene["sensor"].update(fov=30, to_world=T.look_at(origin=[2.6, 0.1, 2.0], target=[0, 0.1, 2.0], up=[0, 1, 0]))
        scene["mirror"] = {"type": "rectangle", "bsdf": {"type": "conductor"},
                           "to_world": T.translate([0, 0, 2.0]) @ T.rotate([0, 1, 0], 135) @ T.scale(2.0)}
    elif view == "slab":
        scene["slab"] = {"type": "cube", "bsdf": {"type": "dielectric"},
                         "to_world": T.translate([0.05, 0, 1.0]) @ T.scale([0.75, 0.75, 0.15])}
    return mi.load_dict(scene, optimize=False)


def path_check(case, size, spp, ref_spp, integrator="edge_sampling", rfilter="box", view="direct", max_depth=2,
               weights=None, h=None):
    """(forward derivative image, FD image) of the plane's shader parameter along the case's direction,
    with ``integrator`` at its default boundary counts; with ``weights`` (H, W, 3) also (reverse-mode
    derivative of Σ weights·image along the direction, the same from FD). ``h``: FD step (default the
    case's)."""
    S, name, d, case_h = make(case)
    h = case_h if h is None else h
    scene = plane_scene(S, size, rfilter, view)
    mp = mi.traverse(scene)
    key = f"plane.bsdf.reflectance.{name}"
    assert key in mp.keys()
    props = {"type": integrator} if max_depth is None else {"type": integrator, "max_depth": max_depth}
    return derivatives_and_fd(scene, mp, key, d, props, spp, ref_spp, h, weights)


def derivatives_and_fd(scene, mp, key, d, props, spp, ref_spp, h, weights=None):
    """Forward derivative image of scene parameter ``key`` along ``d`` through the integrator ``props``
    and the central-difference image of ``path`` (same ``props`` otherwise, ``ref_spp``, step ``h``);
    with ``weights`` also (reverse-mode derivative of Σ weights·image along ``d``, the same from FD)."""
    v = mp[key]
    dr.enable_grad(v)
    mp.update()
    estimator = mi.load_dict(props)
    img = mi.render(scene, mp, integrator=estimator, spp=spp, seed=1)
    dr.set_grad(v, mi.Float(d.astype(np.float32)))
    dr.forward_to(img, flags=FLAGS)
    g = np.array(dr.grad(img), np.float64)
    rev = None
    if weights is not None:
        dr.set_grad(v, 0.0)
        img = mi.render(scene, mp, integrator=estimator, spp=spp, seed=1)
        dr.backward(dr.sum(img * mi.TensorXf(weights.astype(np.float32)), axis=None), flags=FLAGS)
        rev = float(np.array(dr.grad(v), np.float64) @ d)
    dr.disable_grad(v)
    v0 = np.array(mp[key], np.float64)
    path = mi.load_dict({**props, "type": "path"})
    out = []
    for s in (1, -1):
        mp[key] = mi.Float((v0 + s * h * d).astype(np.float32))
        mp.update()
        out.append(np.array(mi.render(scene, integrator=path, spp=ref_spp, seed=3), np.float64))
    ref = (out[0] - out[1]) / (2 * h)
    if weights is None:
        return g, ref
    return g, ref, rev, float((ref * weights).sum())


def test_path_tracer_circle_matches_fd():
    g, ref = path_check("circle", 12, 16, 8192)
    assert np.abs(ref).sum() > 1.0
    assert rel_l2(g, ref) < 0.15, rel_l2(g, ref)
    assert abs(g.sum() - ref.sum()) < 0.05 * np.abs(ref).sum()


@pytest.mark.parametrize("integrator", ["edge_sampling", pytest.param("warped_area", marks=pytest.mark.slow)])
def test_path_tracer_gaussian_filter_matches_fd(integrator):
    """Mitsuba's default pixel filter (Gaussian): the roots are splatted with the filter."""
    g, ref = path_check("threshold", 12, 16, 8192, integrator, "gaussian")
    assert np.abs(ref).sum() > 1.0
    assert rel_l2(g, ref) < 0.15, rel_l2(g, ref)
    assert abs(g.sum() - ref.sum()) < 0.05 * np.abs(ref).sum()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["threshold", "stripes", "checker", "polygon", "noise"])
def test_path_tracer_matches_fd_slow(case):
    g, ref = path_check(case, 16, 32, 16384)
    assert rel_l2(g, ref) < 0.15, (case, rel_l2(g, ref))
    assert abs(g.sum() - ref.sum()) < 0.05 * np.abs(ref).sum()


def check_view(case, view, integrator, size, spp, ref_spp, max_depth, tol=0.15, h=1e-2, rfilter="box"):
    """Forward derivative image and reverse-mode weighted gradient vs FD of the plain render. The FD
    step is 5x the canvas tests': the edge seen in the mirror is small on the film, and the FD noise
    (samples in the strip the edge sweeps) falls as 1 / sqrt(h) while the bias of the smooth I(θ) is O(h²)."""
    w = np.random.default_rng(2).uniform(0.5, 1.5, (size, size, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g, ref, rev, ref_w = path_check(case, size, spp, ref_spp, integrator, rfilter, view=view, max_depth=max_depth,
                                        weights=w, h=h)
    # a glossy or diffuse vertex seen through the specular chain needs max_depth 4
    warned = [c for c in caught if issubclass(c.category, ShaderEdgeCoverageWarning)]
    assert bool(warned) == (max_depth > 3), (max_depth, [str(c.message) for c in warned])
    assert np.abs(ref).sum() > 1.0  # the parameter moves an edge seen through the specular chain
    assert rel_l2(g, ref) < tol, (view, integrator, rel_l2(g, ref))
    assert abs(g.sum() - ref.sum()) < 0.05 * np.abs(ref).sum()
    assert abs(rev - ref_w) < 0.05 * np.abs(ref * w).sum(), (rev, ref_w)


def test_path_tracer_shader_edges_in_a_mirror():
    """The shader plane seen only in a smooth conductor (one specular bounce), edge_sampling."""
    check_view("threshold", "mirror", "edge_sampling", 8, 64, 32768, 3)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["threshold", "circle"])
@pytest.mark.parametrize("view,max_depth", [("mirror", 3), ("slab", 6)])
@pytest.mark.parametrize("integrator", ["edge_sampling", "warped_area"])
def test_path_tracer_shader_edges_through_specular_chains_slow(case, view, max_depth, integrator):
    """Mirror (one bounce) and glass slab (two refractions, reflections followed with probability 1/8);
    warped_area with a Gaussian pixel filter, as calibrated."""
    check_view(case, view, integrator, 12, 64, 32768, max_depth,
               rfilter="gaussian" if integrator == "warped_area" else "box")


def test_specular_chain_is_followed_only_as_deep_as_max_depth():
    S, _, _, _ = make("threshold")
    slab, mirror = plane_scene(S, 4, view="slab"), plane_scene(S, 4, view="mirror")
    for depth, expected in ((2, 0), (3, 1), (6, 4), (-1, MAX_CHAIN)):
        assert chain_length(mi.load_dict({"type": "edge_sampling", "max_depth": depth}), slab) == expected
    assert chain_length(mi.load_dict({"type": "edge_sampling"}), plane_scene(S, 4)) == 0   # nothing specular
    assert chain_length(mi.load_dict({"type": "edge_sampling", "max_depth": 3}), mirror) == 1


DEFAULT_FAST = {("checker", "edge_sampling"), ("polygon", "warped_area")}


@pytest.mark.parametrize("case,integrator", [
    pytest.param(c, i, marks=() if (c, i) in DEFAULT_FAST else pytest.mark.slow)
    for c in ("threshold", "stripes", "checker", "circle", "polygon", "noise")
    for i in ("edge_sampling", "warped_area")])
def test_path_tracer_default_counts_match_fd(case, integrator):
    """``{'type': integrator}`` and nothing else (max_depth -1, boundary counts derived from the budget:
    16 line pairs per pixel at 16 spp) on a film with Mitsuba's default Gaussian filter."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShaderEdgeCoverageWarning)  # a lone plane: every path is covered
        g, ref = path_check(case, 12, 16, 8192, integrator, "gaussian", max_depth=None)
    assert np.abs(ref).sum() > 1.0
    assert rel_l2(g, ref) < 0.15, (case, integrator, rel_l2(g, ref))
    assert abs(g.sum() - ref.sum()) < 0.05 * np.abs(ref).sum()


def test_path_tracer_plain_autodiff_is_zero():
    """``prb`` differentiates the same shader texture without the edges' term: the polygon's vertices
    get exactly 0."""
    S, name, d, _ = make("polygon")
    scene = plane_scene(S, 8)
    mp = mi.traverse(scene)
    key = f"plane.bsdf.reflectance.{name}"
    dr.enable_grad(mp[key])
    mp.update()
    img = mi.render(scene, mp, integrator=mi.load_dict({"type": "prb", "max_depth": 2}), spp=4, seed=1)
    dr.backward(dr.sum(img, axis=None), flags=FLAGS)
    assert np.abs(np.array(dr.grad(mp[key]))).max() == 0.0
    dr.disable_grad(mp[key])


@pytest.mark.parametrize("integrator,motion", [
    ("edge_sampling", "geometry"), ("warped_area", "both"), ("edge_sampling", "camera"),
    pytest.param("warped_area", "geometry", marks=pytest.mark.slow),
    pytest.param("edge_sampling", "both", marks=pytest.mark.slow),
    pytest.param("warped_area", "camera", marks=pytest.mark.slow)])
def test_textured_quad_moving_in_view(integrator, motion):
    """A shader (circle) on a quad mesh that translates in view, its outline out of the frame: the
    image changes only at the shader's edges, which move with the surface (``geometry``) and, with
    ``both``, also within it (the circle's centre moves too); ``camera``: the camera translates instead
    (the scene moves the other way, :mod:`.camera_motion`; the shader term's camera rays are detached,
    or the edges' motion counted twice). ``edge_sampling`` takes their film
    motion with the geometry (its shader term runs whenever geometry moves: without it the gradient
    of ``geometry`` was exactly 0); ``warped_area``'s film warp carries them with the surface, so its
    shader term takes only the motion within it (measured against the camera ray instead, ``both``
    counted the surface's motion twice: 81 % rel. L2). Measured at 64 spp, rel. L2 (geometry / both):
    edge_sampling 4.8 / 4.4 %, warped_area 8.1 / 7.9 %; camera: 7.4 % / 9.9 %; signs 100 %."""
    from penumbra import scenes
    from tests.harness import compare, fd_image, forward_grad, offset
    S, _, _, _ = make("circle")
    V = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float)
    mesh = scenes.mesh_from_arrays(V, np.array([[0, 1, 2], [0, 2, 3]]), name="plane",
                                   texcoords=np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float),
                                   bsdf=mi.load_dict({"type": "diffuse", "reflectance": sh.shader_texture(S)}))
    look = mi.ScalarTransform4f.look_at(origin=[0.1, 0.1, 3.0], target=[0, 0, 0], up=[0, 1, 0])
    scene = scenes.load_scene({"type": "scene", "emitter": {"type": "constant", "radiance": 1.0},
                               "sensor": {"type": "perspective", "fov": 30, "to_world": look,
                                          "film": {"type": "hdrfilm", "width": 16, "height": 16,
                                                   "rfilter": {"type": "box"}, "pixel_format": "rgb"}},
                               "plane": mesh})
    params = scenes.ParameterMap(scene)
    from tests.scenes_lib import pose_perturbation
    moves = [pose_perturbation(params, translate=(1.0, 0.4, 0)) if motion == "camera"
             else offset(params, "plane.vertex_positions", np.tile([1.0, 0.3, 0], 4))]
    if motion == "both":
        moves.append(offset(params, "plane.bsdf.reflectance.c", np.array([-0.6, 0.5])))

    def perturb(theta):
        for move in moves:
            move(theta)
    ref = fd_image(scene, params, perturb, 0.005 if motion == "camera" else 0.002, reference={"type": "path", "max_depth": 2}, spp=4096, passes=4)
    rep = compare(forward_grad(scene, params, perturb, {"type": integrator, "max_depth": 2}, spp=64, seed=1), ref)
    assert rep.rel_l2 <= 0.15 and rep.sign == 1.0, rep
