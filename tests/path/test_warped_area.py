"""``warped_area`` against central finite differences of Mitsuba's ``path`` at high spp.

Primary visibility, on the configurations of
``test_edge_sampling.py`` with a Gaussian reconstruction filter: a triangle's silhouette against a
sky, scaled, and a flat-shaded sphere mesh moving towards the camera; with a box filter (the
pixel-border flux of ``warped_borders``), the triangle scaled and translated at default settings
against the exact pixel-coverage derivative. Tolerances: mean per-pixel relative error
<= 5 % (floored denominator, tests/harness), image-sum error <= 2 %, sign agreement 100 %;
reverse mode must equal <weights, forward image>. Also: the error falls as samples grow (two
configurations), the warp field is boundary-consistent, and bad options are rejected.

Secondary visibility (direction-space warp at path vertices), on the configurations of
``test_secondary.py`` (same scenes, FD references, perturbations and tolerances): a triangle's
shadow, a sphere mesh's shadow (flat and smooth shading), an indirectly lit occluder (depth 3), a
glossy plane reflecting a moving triangle (depth 3) and the 327,680-triangle icosphere(7) shadow.
The shadow and glossy scenes' occluders are out of view, so ``film_spp`` is 0 there; the indirect scene shows its occluder and runs with a Gaussian filter
and the primary term. The per-pixel error of the secondary term is noise-limited at default-run
sample counts, so the default run asserts the 2 % image-sum bound and sign on the triangle
shadow and the glossy reflection with a looser per-pixel bound; the slow tests assert the full
tolerances (mean rel. 5 %, image sum 2 %, sign 100 %) at high spp. Measured (mean rel. / rel. L2 /
image sum / sign, secondary spp):
triangle shadow 3.8 / 4.7 / 0.3 / 100 % (131072), sphere-mesh shadows 4.0 / 6.2 / 1.75 / 100 %
(65536), indirect occluder 4.8 / 5.4 / 0.6 / 100 % (131072 + 2048 primary; 7 min), glossy
reflection 11.6 / 10.0 / 0.06 / 100 % (32768, default run) and 4.4 / 4.2 / 1.2 / 100 % (262144,
slow), icosphere(7) shadow 4.4 / 6.2 / 0.07 / 100 % (65536; 2 min).
"""
import drjit as dr
import mitsuba as mi
import numpy as np
import pytest

from penumbra import integrators  # noqa: F401  (registers warped_area)
from penumbra import scenes
from penumbra.integrators.path.camera import PinholeCamera
from penumbra.integrators.path.warp_field import DirectionWarp, FilmWarp
from penumbra.scenes import builders as b
from tests.harness import attached_theta, compare, exact_derivative, fd_image, forward_grad, offset, reverse_grad
from tests.scenes_lib import (glossy_reflection, indirect_occluder, long_shadow_scene, scale_about_centre,
                              sphere_shadow, triangle_shadow, with_gaussian_filter)

PATH = {"type": "path", "max_depth": 2}


def wa(spp, **kw):
    return {"type": "warped_area", "max_depth": 2, "film_spp": spp, **kw}


def triangle_scene(res=24):
    V = np.array([[-0.6, -0.5, 0], [0.7, -0.4, 0], [0.0, 0.6, 0.2]])
    tri = scenes.mesh_from_arrays(V, [[0, 1, 2]], name="tri", bsdf=b.diffuse([0.8, 0.3, 0.2]))
    scene = scenes.load_scene(b.scene(b.camera((0, 0, 3), (0, 0, 0), fov=45, resolution=res, filter="gaussian"),
                                      shapes={"tri": tri}, emitters={"sky": b.constant_environment(1.0)}))
    return scene, scenes.ParameterMap(scene), V


def flat_sphere_scene(res=24):
    V, F = b.icosphere(1, 0.6)
    ball = scenes.mesh_from_arrays(V, F, name="ball", bsdf=b.diffuse(0.7), face_normals=True)
    scene = scenes.load_scene(b.scene(b.camera((0, 0, 3), (0, 0, 0), fov=40, resolution=res, filter="gaussian"),
                                      shapes={"ball": ball}, emitters={"sky": b.constant_environment(0.3)}))
    return scene, scenes.ParameterMap(scene), V


@pytest.fixture(scope="module")
def triangle():
    scene, params, V = triangle_scene()
    perturb = offset(params, "tri.vertex_positions", V.ravel())  # grow the triangle about the origin
    return scene, params, perturb, fd_image(scene, params, perturb, 0.01, reference=PATH, spp=8192, passes=2)


@pytest.fixture(scope="module")
def sphere16():
    scene, params, V = flat_sphere_scene(16)
    perturb = offset(params, "ball.vertex_positions", np.tile([0.0, 0.0, 1.0], len(V)))
    return scene, params, perturb, fd_image(scene, params, perturb, 0.01, reference=PATH, spp=8192, passes=4)


@pytest.fixture(scope="module")
def sphere():
    scene, params, V = flat_sphere_scene()
    perturb = offset(params, "ball.vertex_positions", np.tile([0.0, 0.0, 1.0], len(V)))
    # 8192 spp leaves ~5 % mean relative noise in this reference (two seeds compared): average 4 passes.
    return scene, params, perturb, fd_image(scene, params, perturb, 0.01, reference=PATH, spp=8192, passes=4)


def box_triangle_scene(res):
    """``triangle_scene`` with Mitsuba's default box filter."""
    V = np.array([[-0.6, -0.5, 0], [0.7, -0.4, 0], [0.0, 0.6, 0.2]])
    tri = scenes.mesh_from_arrays(V, [[0, 1, 2]], name="tri", bsdf=b.diffuse([0.8, 0.3, 0.2]))
    scene = scenes.load_scene(b.scene(b.camera((0, 0, 3), (0, 0, 0), fov=45, resolution=res),
                                      shapes={"tri": tri}, emitters={"sky": b.constant_environment(1.0)}))
    return scene, scenes.ParameterMap(scene), V


@pytest.mark.parametrize("motion", ["scale", pytest.param("translate", marks=pytest.mark.slow)])
def test_box_filter_silhouette_at_defaults(motion):
    """A box-filtered film with nothing set: the pixel-border flux (:mod:`.warped_borders`) completes
    the primary term. Reference: the exact pixel-coverage derivative (no Monte Carlo noise).
    Measured over seeds 1-6 (scaling, independent film samples): 16 spp mean rel. 3.1-4.2 %, rel. L2
    16-28 %, image sum 0.7-3.7 %, sign 98-100 %; 64 spp rel. L2 10-26 % (with antithetic pairs and
    the earlier one-sided box table: 22-36 % at 16 spp and 82 % on one seed at 64 spp); at film_spp
    8192 rel. L2 1.4 % (translation) and 2.8 % (scaling), consistent."""
    scene, params, V = box_triangle_scene(16)
    D = V if motion == "scale" else np.tile([1.0, 0.3, 0.2], (3, 1))
    ref = exact_derivative(scene.sensors()[0], V, D, [0.8, 0.3, 0.2], [1.0] * 3)
    perturb = offset(params, "tri.vertex_positions", D.ravel())
    rep = compare(forward_grad(scene, params, perturb, {"type": "warped_area", "max_depth": 2}, spp=16, seed=4),
                  ref)
    assert rep.mean_rel <= 0.06 and rep.rel_l2 <= 0.5 and rep.sign >= 0.98, rep
    if motion == "scale":  # the image sum of a translation is ~4 % of its L1: a noisy quantity
        assert rep.sum_rel <= 0.1, rep


@pytest.mark.slow  # 44 s with a cold kernel cache (reverse mode of the reparameterized paths)
def test_box_filter_backward_agrees_with_forward():
    """Adjoint test with a box filter in four passes of four rows: each pass's border image covers
    the row above it too (the edges it samples are shared with that row)."""
    scene, params, V = box_triangle_scene(8)
    perturb = offset(params, "tri.vertex_positions", np.tile([1.0, 0.3, 0.2], 3))
    cfg = wa(4, samples_per_pass=4 * 8 * 2)
    g = forward_grad(scene, params, perturb, cfg, spp=4, seed=3)
    w = np.random.default_rng(0).random(g.shape)
    assert reverse_grad(scene, params, perturb, cfg, w, spp=4, seed=3) == pytest.approx(float((w * g).sum()),
                                                                                      rel=1e-4)
    assert np.abs(g).sum() > 0


@pytest.mark.slow  # 15-40 s with a cold kernel cache (its FD reference); the default run checks the
# film warp's silhouette at defaults against the exact derivative (test_box_filter_silhouette_at_defaults)
def test_triangle_silhouette_scaling(triangle):
    scene, params, perturb, ref = triangle
    rep = compare(forward_grad(scene, params, perturb, wa(2048), spp=16, seed=1), ref)
    assert rep.mean_rel <= 0.05 and rep.sum_rel <= 0.02 and rep.sign == 1.0, rep
    # Mitsuba's prb has no boundary term: it misses the silhouette derivative entirely.
    prb = compare(forward_grad(scene, params, perturb, {"type": "prb", "max_depth": 2}, spp=16, seed=1), ref)
    assert prb.sum_rel > 0.9, prb


@pytest.mark.slow
def test_flat_shaded_sphere_moving_towards_camera(sphere):
    """Measured: mean rel. 3.2 %, rel. L2 4.5 %, image sum 0.55 %, sign 100 % (one lobe: 2.5 % sum)."""
    scene, params, perturb, ref = sphere
    rep = compare(forward_grad(scene, params, perturb, wa(8192), spp=16, seed=1), ref)
    assert rep.mean_rel <= 0.05 and rep.sum_rel <= 0.02 and rep.sign == 1.0, rep


@pytest.mark.slow
@pytest.mark.parametrize("config", ["triangle", "sphere16"])
def test_error_falls_with_spp(config, request):
    """Consistency: the relative L2 error (seed-averaged) shrinks as the film samples grow 16x."""
    scene, params, perturb, ref = request.getfixturevalue(config)

    def err(spp):
        return np.mean([compare(forward_grad(scene, params, perturb, wa(spp), spp=16, seed=s), ref).rel_l2
                        for s in (1, 2)])
    e = [err(spp) for spp in (128, 512, 2048)]
    assert e[0] > e[1] > e[2] and e[2] < 0.5 * e[0], e


@pytest.mark.slow
@pytest.mark.parametrize("passes", [1, 8])
def test_backward_agrees_with_forward(passes):
    """Adjoint test, with the boundary term evaluated in one AD pass and in 8 (2 rows each)."""
    scene, params, V = triangle_scene(16)
    perturb = offset(params, "tri.vertex_positions", np.tile([1.0, 0.3, 0.2], 3))
    cfg = wa(8, samples_per_pass=8 * 16 * 16 // passes)
    g = forward_grad(scene, params, perturb, cfg, spp=4, seed=3)
    w = np.random.default_rng(0).random(g.shape)
    back = reverse_grad(scene, params, perturb, cfg, w, spp=4, seed=3)
    assert back == pytest.approx(float((w * g).sum()), rel=1e-4)
    assert np.abs(g).sum() > 0


def test_warp_field_is_boundary_consistent():
    """E[V̂] on the triangle's silhouette tends to the silhouette's own film velocity as the auxiliary
    rays grow (the finite-sample ratio smooths V over ~1/sqrt(kappa) px); far away it is 0."""
    scene, params, V = triangle_scene()
    sensor = scene.sensors()[0]
    cam = PinholeCamera(sensor)
    # Points on the bottom edge (v0 -> v1) and one far out in the sky; true film velocity under scaling.
    t = np.linspace(0.2, 0.8, 5)
    P = V[0] + t[:, None] * (V[1] - V[0])
    x_edge = cam.film_np(cam.camera_space(P))
    x = np.concatenate([x_edge, [[1.0, 1.0]]])
    v_true = (cam.film_np(cam.camera_space(P * 1.001)) - x_edge) / 1e-3
    n = np.array([-(x_edge[1, 1] - x_edge[0, 1]), x_edge[1, 0] - x_edge[0, 0]])
    n /= np.linalg.norm(n)
    reps = 2048
    xs = mi.Point2f(*[mi.Float(np.repeat(x[:, k], reps)) for k in range(2)])
    errors = []
    for aux in (2, 8, 64):
        attached_theta(offset(params, "tri.vertex_positions", V.ravel()))
        sampler = mi.load_dict({"type": "independent"})
        sampler.seed(5, dr.width(xs))
        dV, _ = FilmWarp(scene, sensor, cam, aux_rays=aux, kappa=16.0, power=2.0).estimate(xs, sampler)
        g = dr.forward_to(dV)
        Vm = np.stack([np.array(g.x), np.array(g.y)], 1).reshape(len(x), reps, 2).mean(1)
        errors.append(np.abs(Vm[:-1] @ n / (v_true @ n) - 1).max())
        assert np.abs(Vm[-1]).max() == 0.0
    offset(params, "tri.vertex_positions", V.ravel())(0.0)
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.02, errors


def test_bad_options_and_filters():
    for kw, msg in [({"film_spp": -1}, "film_spp must be >= 0"), ({"aux_rays": 0}, "aux_rays must be >= 1"),
                    ({"secondary_aux_rays": 0}, "secondary_aux_rays must be"),
                    ({"power": 0.5}, "power"), ({"primary_kappa": 0.0}, "primary_kappa")]:
        with pytest.raises(Exception, match=msg):  # Mitsuba wraps plugin errors in RuntimeError
            mi.load_dict(wa(4, **kw))
    for bad in ("", "1,0", "1,x", "nan"):
        with pytest.raises(Exception, match="secondary_lobes must be a comma-separated list"):
            mi.load_dict(wa(4, secondary_lobes=bad))
    with pytest.raises(Exception, match="primary_lobes"):
        mi.load_dict(wa(4, primary_lobes="-1"))
    assert mi.load_dict(wa(4, secondary_lobes="1, 30,1000,1000")).secondary_lobes == (1.0, 30.0, 1000.0, 1000.0)
    with pytest.raises(Exception, match="secondary_kappa"):
        mi.load_dict(wa(4, secondary_path_spp=4, secondary_kappa=-1.0))
    assert mi.load_dict({**wa(4, secondary_path_spp=4), "max_depth": -1}).secondary_spp == 4  # unbounded: roulette


# ---------------------------------------------------------------------------------------------
# Secondary visibility (shadows, indirect)

def wa2(depth, secondary_spp, **kw):
    """The direction-space warp's secondary term alone (``secondary`` "warp", no film samples)."""
    return {"type": "warped_area", "max_depth": depth, "film_spp": 0, "secondary": "warp",
            "secondary_path_spp": secondary_spp, **kw}


def check_secondary(config, secondary_spp, ref_spp, ref_passes, tol, primary_spp=0, **kwargs):
    scene, params, perturb, depth = config(**kwargs)
    ref = fd_image(scene, params, perturb, 0.02, reference={"type": "path", "max_depth": depth},
                   spp=ref_spp, passes=ref_passes)
    cfg = wa2(depth, secondary_spp, film_spp=primary_spp)
    rep = compare(forward_grad(scene, params, perturb, cfg, spp=16, seed=1), ref)
    print(config.__name__, kwargs, rep)
    assert rep.mean_rel <= tol[0] and rep.sum_rel <= tol[1] and rep.sign == 1.0, rep
    # Without the secondary term the shadow derivative is missing.
    miss = compare(forward_grad(scene, params, perturb, {**cfg, "secondary_path_spp": 0}, spp=16, seed=1), ref)
    assert miss.rel_l2 > 0.5, miss
    return rep


@pytest.fixture(scope="module")
def shadow():
    scene, params, perturb, depth = triangle_shadow(16)
    ref = fd_image(scene, params, perturb, 0.02, reference={"type": "path", "max_depth": depth}, spp=8192, passes=4)
    return scene, params, perturb, depth, ref


@pytest.mark.slow  # 38 s cold; the direction-space warp is opt-in (secondary "warp"): its default-run checks
# are the warp field's (test_direction_warp_is_boundary_consistent)
def test_triangle_shadow_default(shadow):
    """Fast default-run check: the image sum within 2 % and every significant sign right; the per-pixel error is noise
    at this sample count (measured at 4096 spp: mean rel. 19-20 %, image sum 0.1-1.0 %, sign 100 %)."""
    scene, params, perturb, depth, ref = shadow
    rep = compare(forward_grad(scene, params, perturb, wa2(depth, 4096), spp=16, seed=1), ref)
    assert rep.mean_rel <= 0.25 and rep.sum_rel <= 0.02 and rep.sign == 1.0, rep
    miss = compare(forward_grad(scene, params, perturb, wa2(depth, 0), spp=16, seed=1), ref)
    assert miss.rel_l2 > 0.5, miss


WARP_AT_DEFAULT_COUNTS = pytest.mark.xfail(
    strict=True, raises=AssertionError, reason="the direction-space warp is variance-limited at its default counts: "
    "1.8 % of paths contribute, the largest 1 % carry 99 % of sum |c|, and 86-89 % of the per-path variance is the "
    "warp estimate's own at a fixed direction (not reduced by more auxiliary rays); rel. L2 2.5 / 3.7 / 8.9 on "
    "seeds 1-3 at 4 paths/px, 0.39-0.54 at 1024, ~0.26 at 4096 (DEVELOPERS.md, "
    "benchmarks/warped_secondary_variance.py); hence secondary='auto' takes edge sampling's term here")


@pytest.mark.parametrize("secondary", [None, pytest.param("warp", marks=[pytest.mark.slow, WARP_AT_DEFAULT_COUNTS])])
def test_triangle_shadow_default_settings(shadow, secondary):
    """Nothing set (``secondary`` left at "auto": edge sampling's secondary term in this scene; the
    occluder is out of view, so the box-filtered primary term only adds noise): one gradient at
    16 spp must reach edge_sampling's default-settings bound (rel. L2 <= 30 %, image sum <= 5 %,
    signs right; test_secondary.py). The direction-space warp at its default counts does not."""
    scene, params, perturb, depth, ref = shadow
    cfg = {"type": "warped_area", "max_depth": depth, **({"secondary": secondary} if secondary else {})}
    rep = compare(forward_grad(scene, params, perturb, cfg, spp=16, seed=1), ref)
    assert rep.rel_l2 <= 0.3 and rep.sum_rel <= 0.05 and rep.sign == 1.0, rep


@pytest.mark.slow
def test_triangle_shadow():
    """Mean rel. <= 5 %, image sum <= 2 %, sign 100 % (measured with 16 auxiliary rays: mean rel.
    3.8 %, rel. L2 4.7 %, image sum
    0.3 %, sign 100 %; with 8: 4.8 % / 5.8 % / 1.2 %)."""
    check_secondary(triangle_shadow, 131072, 8192, 8, (0.05, 0.02))


@pytest.mark.slow
@pytest.mark.parametrize("flat", [True, False], ids=["flat", "smooth"])
def test_sphere_mesh_shadow(flat):
    """Mean rel. <= 5 %, image sum <= 2 %, sign 100 %. Measured (flat and smooth cast the same
    shadow): mean rel. 4.0 %, rel. L2
    6.2 %, image sum 1.75 % low, sign 100 %; with 8 auxiliary rays and the light's diagonal counted
    as an edge (before): 5.0-5.1 % / 6.5 % / 2.4 % low."""
    check_secondary(sphere_shadow, 65536, 16384, 2, (0.05, 0.02), flat=flat)


@pytest.mark.slow
def test_indirectly_lit_occluder():
    """The occluder is also in view here (its primary term is 7.6 % of the image sum), so this runs
    on the same scene with a Gaussian filter and the primary term on. The per-pixel error is
    secondary-term noise on the dim floor (seed-to-seed noise at 4096 spp: 15 % mean rel.; the
    primary term at 2048 spp: 0.9 %), so the fix is samples: measured against a 64-pass reference,
    65536 spp gave 5.4 % and 4.5 % (seeds 1, 2; image sum 1.8 % / 0.8 % high), their average (131072
    spp) 3.6 % mean rel., 4.2 % rel. L2, 1.3 % sum, 100 % sign. The 8-pass reference itself is 1.4 %
    off that one, so 16 passes here (4 s). This test (131072 spp, seed 1): 4.8 % / 5.4 % / 0.6 % /
    100 %, 7 min on a loaded 2-core machine."""
    check_secondary(with_gaussian_filter(indirect_occluder), 131072, 8192, 16, (0.05, 0.02), primary_spp=2048,
                    res=12)


@pytest.mark.slow
def test_glossy_plane_reflecting_an_edge_default():
    """A rough metal plane reflecting a sky-lit triangle (depth 3; the camera sees only the
    reflection, so no primary term and a box filter). Fast default-run check: image sum within 2 %
    and sign 100 %, a looser per-pixel bound (measured at 32768 spp, seeds 1-3: mean rel. 11.6 / 8.6
    / 13.3 %, image sum 0.06 / 1.2 / 3.0 %, sign 100 %; without the environment control variate of
    the BSDF strategy, 8192 spp gave 82 % and 75-82 % sign)."""
    check_secondary(glossy_reflection, 32768, 16384, 16, (0.2, 0.02), res=12)


@pytest.mark.slow
def test_glossy_plane_reflecting_an_edge():
    """Mean rel. <= 5 %, image sum <= 2 %, sign 100 % on the glossy reflection. Measured: mean
    rel. 4.4 %, rel. L2 4.2 %, image
    sum 1.2 %, sign 100 % (2.5-6 min). Against a 16-pass reference the same run read 5.06 %: that
    reference's own noise is 2.4 % mean rel. (vs 64 passes, 17 s), hence 64 passes."""
    check_secondary(glossy_reflection, 262144, 16384, 64, (0.05, 0.02), res=12)


def large_sphere_shadow(res=12):
    """The 327,680-triangle smooth icosphere(7) shadow of ``test_secondary.test_large_mesh_shadow``."""
    V, F = b.icosphere(7, 0.35)
    scene = long_shadow_scene(scenes.mesh_from_arrays(V + np.array([0, 0, 0.6]), F, name="occ",
                                                         bsdf=b.diffuse(0.5)), res)
    params = scenes.ParameterMap(scene)
    return scene, params, scale_about_centre(params, "occ.vertex_positions", [0, 0, 0.6]), 2


@pytest.mark.slow
def test_large_mesh_shadow():
    """A 327,680-triangle mesh's shadow at mean rel. <= 5 %, image sum <= 2 %, sign 100 %. Warped-area sampling needs no
    per-edge structure: the boundary test only looks at the three edges of the triangle an auxiliary
    ray hits. Measured: mean rel. 4.4 %, rel. L2 6.2 %, image sum 0.07 %, sign 100 %, 2 min."""
    check_secondary(large_sphere_shadow, 65536, 8192, 16, (0.05, 0.02))


@pytest.mark.slow
def test_secondary_error_falls_with_spp(shadow):
    """Consistency on the shadow config: relative L2 error (mean of 2 seeds) falls as spp grows 16x."""
    scene, params, perturb, depth, ref = shadow

    def err(spp):
        return np.mean([compare(forward_grad(scene, params, perturb, wa2(depth, spp), spp=16, seed=s), ref).rel_l2
                        for s in (1, 2)])
    e = [err(spp) for spp in (128, 512, 2048)]
    assert e[0] > e[1] > e[2] and e[2] < 0.5 * e[0], e


@pytest.mark.slow
@pytest.mark.parametrize("passes", [1, 4])
def test_secondary_backward_agrees_with_forward(passes):
    """Adjoint test of the secondary term (depth 3: two vertices per path), in one AD pass and in 4."""
    scene, params, perturb, _ = triangle_shadow(12)
    cfg = wa2(3, 16, aux_rays=4, samples_per_pass=16 * 12 * 12 // passes)
    g = forward_grad(scene, params, perturb, cfg, spp=4, seed=3)
    w = np.random.default_rng(1).random(g.shape)
    back = reverse_grad(scene, params, perturb, cfg, w, spp=4, seed=3)
    assert back == pytest.approx(float((w * g).sum()), rel=1e-4)
    assert np.abs(g).sum() > 0


def _edge_view(kappa):
    """A floor point of the triangle-shadow scene and the direction of a point on the occluder's edge,
    with the sky behind it; the edge plane's normal m and the true velocity of that direction under
    the test's scaling perturbation."""
    scene, params, perturb, _ = triangle_shadow(16)
    V = np.array([[0.0, -0.35, 0.3], [0.0, 0.35, 0.35], [0.05, 0.0, 0.95]])
    x = np.array([-0.6, 0.05, 0.0])
    P = V[0] + 0.5 * (V[2] - V[0])

    def direction(Q):
        return (Q - x) / np.linalg.norm(Q - x)
    c, h = V.mean(0), 1e-4
    v = (direction(c + (P - c) * (1 + h)) - direction(c + (P - c) * (1 - h))) / (2 * h)
    m = np.cross(V[0] - x, V[2] - x)
    return scene, perturb, x, direction(P), m / np.linalg.norm(m), v


def _direction_warp(scene, perturb, x, w, aux, kappa, reps, what):
    """Mean of V̂ (3D) or of Δdiv's derivative over ``reps`` estimates at direction ``w`` from ``x``."""
    w = w / np.linalg.norm(w)
    attached_theta(perturb)
    sampler = mi.load_dict({"type": "independent"})
    sampler.seed(3, reps)
    o = mi.Point3f(*[mi.Float(np.full(reps, x[k] + 1e-4 * (k == 2))) for k in range(3)])
    frame = mi.Frame3f(mi.Vector3f(*[mi.Float(np.full(reps, w[k])) for k in range(3)]))
    with dr.resume_grad():
        dV, dDiv = DirectionWarp(scene, aux, kappa, 2.0).estimate(o, None, frame, sampler, mi.Bool(True))
        if what == "V":
            q = frame.s * dV.x + frame.t * dV.y
            dr.forward_to(q)
            out = np.stack([np.array(dr.grad(q)[k]) for k in range(3)], 1).mean(0)
        else:
            dr.forward_to(dDiv)
            out = float(np.array(dr.grad(dDiv)).mean())
    perturb(0.0)
    return out


@pytest.mark.slow  # 32-59 s cold; see test_triangle_shadow_default
def test_direction_warp_divergence_matches_finite_differences():
    """E[Δdiv'] = ∇·E[V̂] on the sphere (score term, mixture proposal-density term, leave-one-out
    baseline): central differences of E[V̂] (common random numbers) across and along the edge, at
    three points."""
    kappa, aux, reps = 2000.0, 8, 1 << 18
    scene, perturb, x, w0, m, _ = _edge_view(kappa)
    e = np.cross(w0, m)
    # The proposal's narrow lobes (up to 1000 κ) make E[V̂] vary on ~0.03 kernel widths next to the
    # edge: a step of 0.1 widths left 40 % FD truncation error there, 0.005 widths ~2 %.
    h = 0.005 / np.sqrt(kappa)
    fd, est = [], []
    for off in (-1.0, 0.0, 1.0):
        w = w0 + m * off / np.sqrt(kappa)
        V = {k: _direction_warp(scene, perturb, x, w + d, aux, kappa, reps, "V")
             for k, d in (("m+", h * m), ("m-", -h * m), ("e+", h * e), ("e-", -h * e))}
        fd.append(((V["m+"] - V["m-"]) @ m + (V["e+"] - V["e-"]) @ e) / (2 * h))
        est.append(_direction_warp(scene, perturb, x, w, aux, kappa, reps, "div"))
    fd, est = np.array(fd), np.array(est)
    assert np.abs(est - fd).max() <= 0.03 * np.abs(fd).max(), (fd, est)


def test_film_warp_divergence_matches_finite_differences():
    """The same identity for the film-space field (primary term), across the triangle's bottom edge."""
    scene, params, V = triangle_scene()
    sensor = scene.sensors()[0]
    cam = PinholeCamera(sensor)
    kappa, reps = 16.0, 1 << 18
    xe, xe1 = (cam.film_np(cam.camera_space((V[0] + t * (V[1] - V[0]))[None]))[0] for t in (0.5, 0.6))
    t = (xe1 - xe) / np.linalg.norm(xe1 - xe)
    n = np.array([-t[1], t[0]])
    perturb = offset(params, "tri.vertex_positions", V.ravel())

    def mean(x, what):
        attached_theta(perturb)
        sampler = mi.load_dict({"type": "independent"})
        sampler.seed(5, reps)
        xs = mi.Point2f(mi.Float(np.full(reps, x[0])), mi.Float(np.full(reps, x[1])))
        dV, dDiv = FilmWarp(scene, sensor, cam, 8, kappa, 2.0).estimate(xs, sampler)
        q = dV if what == "V" else dDiv
        dr.forward_to(q)
        g = dr.grad(q)
        perturb(0.0)
        return np.array([np.array(g.x).mean(), np.array(g.y).mean()]) if what == "V" else float(np.array(g).mean())
    h = 0.02 / np.sqrt(kappa)  # below the narrow lobes' widths (at 0.005 the CRN jump noise dominates)
    fd, est = [], []
    for off in (-1.0, 0.0, 1.0):
        x = xe + n * off / np.sqrt(kappa)
        fd.append(((mean(x + h * n, "V") - mean(x - h * n, "V")) @ n
                   + (mean(x + h * t, "V") - mean(x - h * t, "V")) @ t) / (2 * h))
        est.append(mean(x, "div"))
    fd, est = np.array(fd), np.array(est)
    assert np.abs(est - fd).max() <= 0.03 * np.abs(fd).max(), (fd, est)


def test_direction_warp_is_boundary_consistent():
    """E[V̂]·m on a moving silhouette tends to the silhouette's own normal velocity as auxiliary rays grow."""
    kappa = 1e4
    scene, perturb, x, w0, m, v = _edge_view(kappa)
    err = [abs(_direction_warp(scene, perturb, x, w0, aux, kappa, 1 << 15, "V") @ m / (v @ m) - 1)
           for aux in (2, 8, 32)]
    assert err[0] > err[1] > err[2] and err[2] < 0.03, err


def test_static_edge_masks_leave_out_coplanar_diagonals():
    """A static rectangle's diagonal (between two coplanar faces) gets no boundary test; its border
    edges and every edge of a moving mesh keep theirs."""
    from penumbra.integrators.path.warp_field import static_edge_masks
    scene, params, perturb, _ = sphere_shadow(8)
    theta = mi.Float(0.0)
    dr.enable_grad(theta)
    perturb(theta)
    masks = static_edge_masks(scene)
    assert sorted(shape.id() for shape in masks) == ["floor", "light"]  # the occluder moves
    for shape, bits in masks.items():
        F = np.array(shape.faces_buffer()).reshape(-1, 3)
        counted = {tuple(sorted((F[f, e], F[f, (e + 1) % 3]))) for f in range(len(F)) for e in range(3)
                   if int(np.array(bits)[f]) >> e & 1}
        shared = set.intersection(*[{tuple(sorted((f[e], f[(e + 1) % 3]))) for e in range(3)} for f in F])
        assert len(counted) == 4 and not counted & shared, (shape.id(), counted, shared)
    perturb(0.0)


def test_moving_receiver_shadow_default_settings():
    """Nothing set, a floor rising towards a static occluder under an area light (the shadow on the
    moving receiver shrinks; Mitsuba's integrators all miss it, 73 % rel. L2 in
    ``benchmarks/path_bench.py``): the primary term moves each film sample with the floor, so the
    secondary term must measure the shadow edge's motion relative to the floor's surface, not to a
    fixed camera ray (measured the other way: 65 % rel. L2, the shadow's motion cancelled). 64 spp,
    seeds 1 / 2: rel. L2 about 19 %; against FD of ``path`` at 4096 spp x 4."""
    from tests.scenes_lib import translate_shadow_receiver
    scene, params, perturb, depth = translate_shadow_receiver(16)
    ref = fd_image(scene, params, perturb, 0.005, reference={"type": "path", "max_depth": depth}, spp=4096, passes=4)
    rep = compare(forward_grad(scene, params, perturb, {"type": "warped_area", "max_depth": depth}, spp=64, seed=1), ref)
    assert rep.rel_l2 <= 0.3 and rep.sum_rel <= 0.05 and rep.sign == 1.0, rep


@pytest.mark.slow
def test_shadow_next_to_a_moving_silhouette_default_settings():
    """Nothing set (Gaussian filter), a box above a floor moving away from the camera, its shadow
    right next to its lower silhouette. The film warp field is a blend of velocities within about a
    pixel of a moving silhouette, so it moves film samples on the static floor there too; the
    secondary term must measure the shadow edge's motion relative to the point so moved
    (``camera_frame="warp"``). Measured relative to the floor's surface instead, the image sum was
    45 % too large (seeds 1-6 at 64 spp: 24.5 +- 0.6 vs FD 16.9); now 16.9 +- 0.4. Seeds 1-3 at 64 spp, mean
    image sum within 10 % of FD of ``path`` (1024 spp x 2, its image sum ~1 % noisy). Slow: 46-62 s with an
    empty kernel cache (its scene's own kernels), which took the default run to 592 s on this machine."""
    from tests.scenes_lib import box_above_floor
    scene, params, perturb, depth = box_above_floor(16, filt="gaussian")
    ref = fd_image(scene, params, perturb, 0.02, reference={"type": "path", "max_depth": depth}, spp=1024, passes=2)
    sums = [forward_grad(scene, params, perturb, {"type": "warped_area", "max_depth": depth}, spp=64, seed=s).sum()
            for s in (1, 2, 3)]
    assert abs(np.mean(sums) - ref.sum()) <= 0.1 * abs(ref.sum()), (sums, ref.sum())


@pytest.mark.parametrize("name", ["box", "tent", "gaussian"])
def test_film_sample_distribution_is_symmetric(name):
    """Film samples are drawn from the filter's 1D distribution, and an antithetic pair uses -δ with
    the density at -δ: the distribution must be symmetric about 0 (a box filter evaluates to 0 at +r
    but 1 at -r, which once made the density fall to 0 over the last bin at +r only) and, for the
    box, uniform over its whole support."""
    from penumbra.integrators.path.warped_area import _filter_distribution
    f = mi.load_dict({"type": name})
    d = _filter_distribution(f)
    r = float(f.radius())
    x = np.linspace(-r, r, 1001)[1:-1]
    pdf = np.array(d.eval_pdf_normalized(mi.Float(x)))
    np.testing.assert_allclose(pdf, pdf[::-1], rtol=1e-4, atol=1e-5)
    if name == "box":
        np.testing.assert_allclose(pdf, 1.0 / (2 * r), rtol=1e-5)
    u = np.array(d.sample(mi.Float(np.linspace(0, 1, 2001)[1:-1])))
    np.testing.assert_allclose(u, -u[::-1], atol=1e-3)
