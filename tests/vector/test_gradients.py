"""Gradients of every parameter kind against central finite differences of an independent
high-sample-count forward evaluation (tests/harness): the boundary-sampled AD gradient (16 spp,
reverse mode, or forward mode where a test says so) of a smooth weighted pixel sum against FD of
a 1024-spp render, steps h = 0.25 px for geometry, 0.02 for colours and opacities unless a check
states another. Tolerance per directional derivative: |AD - FD| <= 0.08 * max|FD| + 0.5 (loss
units, sums over ~1000 px), and the FD derivative must not be degenerate (max|FD| > 1). Includes
the cases where diffvg is known to be wrong."""
import zlib

import numpy as np
import pytest

from penumbra import renderer

renderer.ensure_variant()
import drjit as dr  # noqa: E402
import mitsuba as mi  # noqa: E402

from penumbra.integrators.vector import rasterize  # noqa: E402
from penumbra.scenes.vector import to_svg_string  # noqa: E402
from tests.harness import Tolerance, central_differences, compare, directional_derivatives  # noqa: E402
from tests.scenes_lib import VECTOR_SIZE, svg  # noqa: E402

W = H = VECTOR_SIZE
_y, _x = np.mgrid[0:H, 0:W] + 0.5
# smooth, channel-dependent loss weights (random per-pixel weights would make FD needlessly noisy)
WEIGHTS = np.stack([0.5 + 0.5 * np.sin(_x / 4.0 + 0.3 * c) * np.cos(_y / 5.0 - 0.7 * c) for c in range(4)],
                   -1).astype(np.float32)
AD_SPP, FD_SPP, FD_SEED = 16, 1024, 11
# The FD reference is the rasterizer itself at high spp: its source is part of the cache key.
VECTOR_CODE = ("penumbra.integrators.vector", "penumbra.scenes.vector", "penumbra.renderer")


def ad_grad(scene, name, filter="box", mode="reverse", dirs=None):
    """Directional derivatives of the weighted pixel sum along ``dirs`` (rows), by AD at AD_SPP."""
    def loss(x):
        img = rasterize(scene, W, H, spp=AD_SPP, filter=filter, params={name: x}, edge_density=16, seed=5)
        return dr.sum(img.array * mi.Float(WEIGHTS.reshape(-1)))
    return directional_derivatives(loss, scene.params[name].reshape(-1), dirs, mode, array_type=mi.Float)


def fd_grad(scene, name, h, filter="box", spp=FD_SPP, dirs=None):
    """Central differences with step ``h`` of the weighted pixel sum of an ``spp``-sample render
    (cached on disk by the scene's SVG, parameter values, filter, spp and seed)."""
    v0 = scene.params[name].reshape(-1)

    def loss(v):
        return float(np.sum(np.array(rasterize(scene, W, H, spp=spp, filter=filter, params={name: v},
                                               seed=FD_SEED)) * WEIGHTS))
    config = {"engine": "vector", "svg": to_svg_string(scene), "params": {k: scene.params[k] for k in scene.params},
              "name": name, "filter": filter, "spp": spp, "seed": FD_SEED, "size": [W, H], "weights": WEIGHTS}
    return central_differences(loss, v0, h, dirs, config=config, depends=VECTOR_CODE)


def check(scene, name, h=0.25, filter="box", mode="reverse", rel=0.08, abs_=0.5, ndirs=2, min_fd=1.0):
    """Directional derivatives along the unit axes (small parameters) or random unit directions:
    every one within ``abs_ + rel * max|FD|`` of FD, and max|FD| > ``min_fd``."""
    n = scene.params[name].size
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # deterministic across processes
    if n <= 2:
        dirs = np.eye(n)
    else:
        dirs = rng.normal(size=(ndirs, n))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    ad = ad_grad(scene, name, filter, mode, dirs)
    fd = fd_grad(scene, name, h, filter, dirs=dirs)
    assert np.max(np.abs(fd)) > min_fd, f"{name}: degenerate test, FD gradient ~ 0 ({fd})"
    compare(ad, fd).check(Tolerance(rtol_max=rel, atol=abs_), name)
    return ad, fd


# --- geometry ------------------------------------------------------------------------------------
def test_circle_fill_center_radius():
    s = svg('<circle id="c" cx="15.3" cy="16.1" r="9.2" fill="#d02020"/>')
    check(s, "c.center")
    check(s, "c.radius")


def test_circle_stroke_radius_diffvg_5x_bug():
    # diffvg's stroked-circle radius gradient is ~5x off; here it matches FD
    s = svg('<circle id="c" cx="16" cy="16" r="9.3" fill="none" stroke="#2040c0" stroke-width="3"/>')
    check(s, "c.radius")
    check(s, "c.stroke_width")


def test_path_points_under_group_transform_diffvg_bug():
    s = svg('<g id="g" transform="translate(16 16) rotate(30) scale(1.4 0.8)">'
            '<path id="p" d="M-8 -6 C 0 -14 6 10 9 -2 L 4 8 Z" fill="#30a030"/></g>')
    check(s, "p.points")
    check(s, "g.transform", h=0.01)


def test_open_stroke_endpoints_sign_diffvg_bug():
    # butt and square caps at the ends of an open polyline (diffvg has the wrong sign here)
    for cap in ("butt", "square", "round"):
        s = svg(f'<polyline id="l" points="5,7 18,20 27,9" fill="none" stroke="#000" stroke-width="4" '
                f'stroke-linecap="{cap}" stroke-linejoin="miter"/>')
        check(s, "l.points")


def test_joins():
    for join in ("miter", "round", "bevel"):
        s = svg(f'<path id="p" d="M4 26 L16 6 L28 26" fill="none" stroke="#a03000" stroke-width="5" '
                f'stroke-linejoin="{join}" stroke-miterlimit="10"/>')
        check(s, "p.points")


def test_pixel_aligned_edges_not_doubled():
    # edges exactly on pixel borders: diffvg doubles these gradients
    s = svg('<rect id="r" x="8" y="8" width="12" height="10" fill="#404040"/>')
    ad, fd = check(s, "r.position", h=0.25)
    check(s, "r.size", h=0.25)


def test_rounded_rect_and_ellipse():
    s = svg('<rect id="r" x="6.3" y="7.1" width="19" height="15" rx="4" fill="#804000"/>'
            '<ellipse id="e" cx="17" cy="15" rx="7" ry="4" fill="#0080ff" opacity="0.7"/>')
    check(s, "r.corner_radius")
    check(s, "e.radius")
    check(s, "e.opacity", h=0.02)


def test_evenodd_and_quadratic():
    s = svg('<path id="p" d="M4 4 L28 4 L28 28 L4 28 Z M8 8 Q 24 6 24 24 L 8 24 Z" fill="#202080" fill-rule="evenodd"/>')
    check(s, "p.points")


# --- paints -----------------------------------------------------------------------------------
def test_colors_and_opacity():
    s = svg('<circle id="c" cx="14" cy="15" r="9" fill="#c04040" fill-opacity="0.8" stroke="#2060a0" '
            'stroke-width="3" stroke-opacity="0.6"/>')
    check(s, "c.fill.color", h=0.02)
    check(s, "c.stroke.color", h=0.02)


def test_linear_gradient_stops_and_geometry():
    s = svg('<defs><linearGradient id="lg" x1="4" y1="0" x2="28" y2="6" gradientUnits="userSpaceOnUse">'
            '<stop offset="0.1" stop-color="#ff0000"/><stop offset="0.6" stop-color="#00ff00" stop-opacity="0.5"/>'
            '<stop offset="0.9" stop-color="#0000ff"/></linearGradient></defs>'
            '<rect id="r" x="3" y="5" width="26" height="22" fill="url(#lg)"/>')
    check(s, "r.fill.stops.color", h=0.02)
    check(s, "r.fill.stops.offset", h=0.02)
    check(s, "r.fill.start", h=0.25)
    check(s, "r.fill.end", h=0.25)


def test_radial_gradient_reflect():
    s = svg('<defs><radialGradient id="rg" cx="0.5" cy="0.5" r="0.3" fx="0.4" fy="0.45" spreadMethod="reflect">'
            '<stop offset="0" stop-color="#ffffff"/><stop offset="1" stop-color="#003070"/></radialGradient></defs>'
            '<circle id="c" cx="16" cy="16" r="13" fill="url(#rg)"/>')
    check(s, "c.fill.radius", h=0.01)
    check(s, "c.fill.center", h=0.01)
    check(s, "c.radius")


def test_forward_mode_matches():
    s = svg('<circle id="c" cx="15.3" cy="16.1" r="9.2" fill="#d02020" stroke="#000" stroke-width="2"/>')
    check(s, "c.center", mode="forward")
    check(s, "c.fill.color", h=0.02, mode="forward")


def test_prefilter_circle_gradients_nonzero():
    # diffvg returns zero gradients for circles in prefiltered mode
    s = svg('<circle id="c" cx="15.3" cy="16.1" r="9.2" fill="#d02020"/>')
    ad, fd = check(s, "c.radius", filter="prefilter", h=0.05)
    assert abs(ad[0]) > 1
    check(s, "c.center", filter="prefilter", h=0.05)


def test_prefilter_stroke_joins_and_caps():
    """Prefiltered strokes with a miter join, a bevel join, butt and square caps: points and
    stroke width (the half width is differentiable in prefilter mode)."""
    s = svg('<polyline id="m" points="4.3,26.2 11.1,8.4 17.6,25.3" fill="none" stroke="#c02020" stroke-width="3.5"/>'
            '<polyline id="b" points="19.2,6.3 28.4,13.1 20.7,27.2" fill="none" stroke="#2040c0" stroke-width="3" '
            'stroke-linejoin="bevel" stroke-linecap="square"/>')
    check(s, "m.points", filter="prefilter", h=0.1, ndirs=3)
    check(s, "m.stroke_width", filter="prefilter", h=0.1)
    check(s, "b.points", filter="prefilter", h=0.1, ndirs=3)
    check(s, "b.stroke_width", filter="prefilter", h=0.1)


@pytest.mark.parametrize("filt", ["tent", "gaussian"])
def test_filters(filt):
    s = svg('<circle id="c" cx="15.3" cy="16.1" r="9.2" fill="#d02020"/>')
    check(s, "c.center", filter=filt)



def test_paint_only_gradients_skip_the_boundary_term():
    """Colours, stops and opacities move no edge: with gradients on them alone the image has no
    boundary term (no boundary samples are drawn) and their gradients are the ones of a call that
    also differentiates geometry (whose boundary term they are not part of); their agreement with
    FD is checked by the paint tests above."""
    s = svg('<defs><linearGradient id="lg" x1="4" y1="0" x2="28" y2="6" gradientUnits="userSpaceOnUse">'
            '<stop offset="0.1" stop-color="#ff0000"/><stop offset="0.9" stop-color="#0000ff"/></linearGradient>'
            '</defs><circle id="c" cx="15.3" cy="16.1" r="9.2" fill="url(#lg)" stroke="#204080" stroke-width="2" '
            'opacity="0.8"/>')
    paint = ["c.fill.stops.color", "c.stroke.color", "c.opacity"]
    w = mi.Float(WEIGHTS.reshape(-1))

    def grads(names):
        xs = {k: mi.Float(s.params[k].reshape(-1)) for k in names}
        dr.enable_grad(list(xs.values()))
        img, info = rasterize(s, W, H, spp=4, params=xs, seed=3, return_info=True)
        dr.backward(dr.sum(img.array * w))
        return {k: np.array(dr.grad(x)) for k, x in xs.items()}, info

    g_paint, info_paint = grads(paint)
    g_all, info_all = grads(paint + ["c.center"])
    assert "n_boundary_samples" not in info_paint
    assert info_all["n_boundary_samples"] > 0 and np.any(g_all["c.center"] != 0)
    for k in paint:
        assert np.any(g_paint[k] != 0), k
        np.testing.assert_allclose(g_paint[k], g_all[k], rtol=1e-5, atol=1e-6, err_msg=k)

@pytest.mark.slow
def test_group_opacity_gradient_transform_and_focal():
    s = svg('<defs><linearGradient id="lg" x1="0" y1="0" x2="1" y2="0" gradientTransform="rotate(20 0.5 0.5)">'
            '<stop offset="0" stop-color="#ff8000"/><stop offset="1" stop-color="#0040ff"/></linearGradient>'
            '<radialGradient id="rg" cx="0.5" cy="0.5" r="0.5" fx="0.3" fy="0.4">'
            '<stop offset="0" stop-color="#ffffff"/><stop offset="1" stop-color="#202060"/></radialGradient></defs>'
            '<g id="g" opacity="0.7"><rect id="r" x="3" y="3" width="18" height="24" fill="url(#lg)"/></g>'
            '<ellipse id="e" cx="22" cy="18" rx="8" ry="11" fill="url(#rg)"/>')
    check(s, "g.opacity", h=0.02)
    # a linear ramp shifted under smooth loss weights changes the loss little: smaller absolute scale
    check(s, "r.fill.transform", h=0.5, ndirs=3, abs_=0.05, min_fd=0.1)
    check(s, "e.fill.focal", h=0.01)


@pytest.mark.slow
def test_isolated_group_opacity_gradients():
    """Group opacity composited in isolation (overlapping children): gradients of the group opacity
    (interior term), of a child's points and colour inside the group (boundary and interior terms
    through the group composite) and of an element opacity on a filled and stroked shape."""
    s = svg('<g id="g" opacity="0.6"><rect id="a" x="4.3" y="5.2" width="15" height="17" fill="#e03020"/>'
            '<polygon id="p" points="10.2,9.1 27.6,12.3 20.4,27.7" fill="#2050d0"/></g>'
            '<circle id="c" cx="23.4" cy="9.3" r="5.2" fill="#f0f0f0" stroke="#102010" stroke-width="3" '
            'opacity="0.5"/>')
    check(s, "g.opacity", h=0.02)
    check(s, "p.points", ndirs=3)
    check(s, "p.fill.color", h=0.02)
    check(s, "a.size")
    check(s, "c.opacity", h=0.02)
    check(s, "c.radius")
    check(s, "g.opacity", h=0.02, mode="forward")


@pytest.mark.slow
def test_elliptical_arc_radii_and_rotation():
    """SVG arcs: radii and x-axis rotation are differentiable through the endpoint-to-centre
    conversion (fill boundaries, a stroked arc, and radii written too small for the chord)."""
    s = svg('<path id="a" d="M5.3 20.2 A 18 12 25 0 1 26.4 14.1 L 18.2 27.3 Z" fill="#c03030"/>'
            '<path id="b" d="M6.1 7.2 A 16 5 -10 0 0 25.3 8.4" fill="#60d0f0" stroke="#2050a0" stroke-width="2.5"/>')
    check(s, "a.arc_radii", h=0.25, ndirs=2)
    check(s, "a.arc_rotation", h=1.0)
    check(s, "b.arc_radii", h=0.25, ndirs=2)
    check(s, "b.arc_rotation", h=1.0)
    check(s, "a.points", ndirs=2)
    check(s, "a.arc_rotation", h=1.0, mode="forward")
    # radii written too small for the chord (SVG scales them up: only their ratio matters)
    s2 = svg('<path id="c" d="M6.2 9.1 A 6 2 40 0 1 25.7 21.3 Z" fill="#30a050"/>')
    check(s2, "c.arc_radii", h=0.1, ndirs=2)
    check(s2, "c.arc_rotation", h=1.0)


def test_batched_gradients_match_single_renders():
    s = svg('<circle id="c" cx="15.3" cy="16.1" r="7" fill="#d02020" stroke="#000" stroke-width="2"/>')
    r1, r2 = mi.Float([6.0]), mi.Float([9.0])
    dr.enable_grad(r1, r2)
    img = rasterize(s, W, H, spp=16, params=[{"c.radius": r1}, {"c.radius": r2}], edge_density=16, seed=5)
    wts = mi.Float(np.concatenate([WEIGHTS.reshape(-1)] * 2))
    dr.backward(dr.sum(img.array * wts))
    for r, x in ((6.0, r1), (9.0, r2)):
        s.params["c.radius"] = r
        ref = fd_grad(s, "c.radius", 0.25, dirs=np.eye(1))
        compare([float(dr.grad(x)[0])], ref).check(Tolerance(rtol_max=0.08, atol=0.5), f"radius {r}")


@pytest.mark.parametrize("name, h, mode", [("c.center", 0.25, "reverse"), ("c.radius", 0.25, "forward"),
                                           ("c.stroke_width", 0.25, "reverse"), ("c.fill.color", 0.02, "reverse")])
def test_default_settings(name, h, mode):
    """``rasterize`` with nothing set but the parameters (4 spp, as many boundary samples as pixel
    samples, box filter), geometry and paint, reverse and forward mode: the mean over 8 seeds
    against the FD reference of the tests above, with the same tolerance."""
    s = svg('<circle id="c" cx="15.3" cy="16.1" r="9.2" fill="#d02020" fill-opacity="0.8" stroke="#2060a0" '
            'stroke-width="3"/>')
    n = s.params[name].size
    dirs = np.eye(n) if n <= 2 else np.random.default_rng(7).normal(size=(2, n))
    dirs = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    w = mi.Float(WEIGHTS.reshape(-1))
    runs = []
    for seed in range(8):
        def loss(x, seed=seed):
            return dr.sum(rasterize(s, W, H, params={name: x}, seed=seed).array * w)
        runs.append(directional_derivatives(loss, s.params[name].reshape(-1), dirs, mode, array_type=mi.Float))
    ad = np.mean(runs, 0)
    fd = fd_grad(s, name, h, dirs=dirs)
    assert np.max(np.abs(fd)) > 1.0, f"{name}: degenerate test, FD gradient ~ 0 ({fd})"
    compare(ad, fd).check(Tolerance(rtol_max=0.08, atol=0.5), name)
