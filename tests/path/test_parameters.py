"""Gradients of ``edge_sampling`` w.r.t. each parameter kind, against central finite differences of
Mitsuba's ``path`` at high spp (tests/harness). The tests of moving geometry and lights run for
``warped_area`` too (parametrized ``estimator``; the scenes seen with a box filter use a Gaussian
one for it, as calibrated, and scenes whose moving light is out of view run it without its
primary term). It needs far more film samples than edge sampling for the
same error (4096-16384 against 64-256); on the flat-shaded cube under a sun the 2 % image-sum
bound is out of its reach at test sample counts (see that test).

Tolerances (Mitsuba's own AD tests are no stricter): mean per-pixel relative error <= 5 % (floored
denominator), image-sum error <= 2 % where the image sum is well conditioned, sign agreement 100 %
on significant pixels; configurations with visibility discontinuities also bound the relative L2
error. In-plane translations have an image-sum derivative near 0 (ill-conditioned): there the sum
is checked on a depth (or scaling) motion instead. The adjoint test requires reverse ==
<weights, forward> to 1e-4.
"""
import numpy as np
import pytest

from penumbra import integrators  # noqa: F401  (registers edge_sampling, warped_area)
from penumbra import scenes
from penumbra.scenes import builders as b
from tests.harness import compare, fd_image, forward_grad, offset, reverse_grad
from tests.scenes_lib import ESTIMATORS, ESTIMATORS_WARPED_SLOW, FILTER, PRIMARY_COUNT, triangle_shadow

ES = {"type": "edge_sampling", "max_depth": 2, "edge_spp": 64}
PATH = {"type": "path", "max_depth": 2}
# warped_area's rows test its own secondary term, the direction-space warp (its default, "auto",
# takes edge sampling's term, which the edge_sampling rows test).
WARP = {"warped_area": {"secondary": "warp"}}


# warped_area's primary term at mean rel. <= 5 %, image sum <= 2 %: film samples per pixel (measured below).
WA_LIGHT_SPP = 4096
WA_TEXTURE_SPP = 16384  # slow test; at 4096 the in-plane image sum is 4.5 % off (noise)
WA_LIGHT_PASSES = {"edge_sampling": 1, "warped_area": 4}  # Gaussian-filtered FD images are noisier


def boundary(estimator, primary=None, **kw):
    """``ES`` with ``estimator`` as the integrator type, its primary boundary count (``edge_spp`` /
    ``film_spp``) set to ``primary`` when given, and ``kw`` on top."""
    cfg = {k: v for k, v in ES.items() if k != "edge_spp"}
    cfg[PRIMARY_COUNT[estimator]] = ES["edge_spp"] if primary is None else primary
    return {**cfg, "type": estimator, **WARP.get(estimator, {}), **kw}


def _tr(params, name, translate=(0, 0, 0), axis=None, degrees=0.0):
    """Perturbation ``<name>.to_world = translate(theta t) @ rotate(axis, theta deg)`` (AD or float)."""
    import mitsuba as mi

    def perturb(theta):
        th = mi.Float(theta) if isinstance(theta, (int, float)) else theta
        T = mi.Transform4f().translate(mi.Vector3f(*(th * float(c) for c in translate)))
        if axis is not None:
            T = T @ mi.Transform4f().rotate(mi.Vector3f(*map(float, axis)), th * float(degrees))
        params[name] = T
        params.update()
    return perturb


def _cube(size=0.5):
    """Flat-shaded cube (12 triangles, outward winding), rotated so that three faces face +z."""
    from scipy.spatial.transform import Rotation
    c = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float) * size / 2
    F = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return Rotation.from_euler("xy", [25, 35], degrees=True).apply(c), F


def cube_scene(res=32):
    V, F = _cube()
    cube = scenes.mesh_from_arrays(V, F, name="cube", bsdf=b.diffuse([0.7, 0.5, 0.3]), face_normals=True)
    sun = {"type": "directional", "direction": [0.3, -0.6, -1.0], "irradiance": b.rgb(2.0)}
    scene = scenes.load_scene(b.scene(b.camera((0.05, 0.03, 3), (0.05, 0.03, 0), fov=30, resolution=res,
                                               filter="tent"),
                                      shapes={"cube": cube},
                                      emitters={"sky": b.constant_environment(0.2), "sun": sun}))
    params = scenes.ParameterMap(scene)
    params.add_transforms(["cube"])
    return scene, params, V


def _light_ply(tmp_path, z=0.0, half=0.35):
    Q = np.array([[-half, -half, z], [half, -half * 0.8, z], [half * 0.9, half, z], [-half, half * 1.1, z]])
    return scenes.save_mesh((Q, np.array([[0, 1, 2], [0, 2, 3]])), tmp_path / "light.ply")  # faces +z


def textured_plane(name, res_tex=8, seed=0, z=0.0, size=1.6):
    import mitsuba as mi
    h = size / 2
    V = np.array([[-h, -h, z], [h, -h, z], [h, h, z], [-h, h, z]])
    tex = np.random.default_rng(seed).uniform(0.1, 0.9, (res_tex, res_tex, 3)).astype(np.float32)
    bsdf = {"type": "diffuse", "reflectance": {"type": "bitmap", "bitmap": mi.Bitmap(tex), "raw": True,
                                               "filter_type": "bilinear"}}
    return scenes.mesh_from_arrays(V, [[0, 1, 2], [0, 2, 3]], name=name, bsdf=bsdf,
                                   texcoords=[[0, 1], [1, 1], [1, 0], [0, 0]], face_normals=True)


# --- shape transforms ------------------------------------------------------------------------------

def test_transform_equals_vertex_perturbation():
    """The same motion through <id>.to_world and through vertex_positions gives the same gradient."""
    scene, params, V = cube_scene(24)
    d = np.array([0.3, -0.2, 0.8])
    g_tr = forward_grad(scene, params, _tr(params, "cube.to_world", d), ES, spp=8, seed=5)
    params["cube.to_world"] = np.eye(4)
    params.update()
    g_v = forward_grad(scene, params, offset(params, "cube.vertex_positions", np.tile(d, len(V))), ES, spp=8, seed=5)
    assert np.abs(g_tr).max() > 0
    np.testing.assert_allclose(g_tr, g_v, rtol=1e-4, atol=1e-4 * np.abs(g_v).max())


@pytest.fixture(scope="module")
def cube_translation():
    scene, params, _ = cube_scene()
    perturb = _tr(params, "cube.to_world", (0.4, 0.2, 1.0))  # includes depth: the image sum is conditioned
    # The FD quotient's image sum is noisy here: single 16384-spp passes spread by 2.2 % (17.5 to
    # 19.1), so the reference averages 16 of them (0.55 %).
    return scene, params, perturb, fd_image(scene, params, perturb, 0.02, reference=PATH, spp=16384, passes=16)


@pytest.mark.slow
def test_transform_translation_vs_fd(cube_translation):
    """edge_sampling's sum is dominated by the edge term's noise: 1.3 % spread at 1024 edge spp, 0.6 %
    at 4096. Measured: 0.2-0.5 % off. Slow (its 16-pass FD reference); the default run checks the
    transform path by :func:`test_transform_equals_vertex_perturbation` (equal to the vertex gradient,
    which test_edge_sampling checks against FD)."""
    scene, params, perturb, ref = cube_translation
    rep = compare(forward_grad(scene, params, perturb, {**ES, "edge_spp": 4096}, spp=16, seed=1), ref)
    assert rep.mean_rel <= 0.05 and rep.sum_rel <= 0.02 and rep.sign == 1.0 and rep.rel_l2 <= 0.1, rep


@pytest.mark.slow
def test_transform_translation_vs_fd_warped_area(cube_translation):
    """The same configuration for ``warped_area`` (the cube's tent filter suits it). Its error here is
    noise spread over every silhouette and crease pixel (per-pixel std 20-30 % of the value at 2048
    film samples, no outliers): image sum -13 %, -10 %, +16 %, +19 % over four seeds at 2048; +15 %
    and -7 % at 4096; +6 % at 16384 (rel. L2 16 % -> 7.5 %), mean rel. 1.3-3.7 %, sign 100 %.
    Wider kernels (primary_kappa 4, 1) and 48 auxiliary rays did not lower it; one proposal lobe
    instead of three makes the sum 18 % low on both seeds (the finite-ray bias the lobes remove).
    So the 2 % image-sum bound is out of reach at a test's sample counts: asserted are the
    per-pixel and sign tolerances and the sum at the measured 16384-sample noise (edge_sampling
    meets 2 % at 4096 edge samples in a third of the time)."""
    scene, params, perturb, ref = cube_translation
    rep = compare(forward_grad(scene, params, perturb, boundary("warped_area", primary=16384), spp=16, seed=1),
                  ref)
    print(rep)
    assert rep.mean_rel <= 0.05 and rep.sign == 1.0 and rep.rel_l2 <= 0.1 and rep.sum_rel <= 0.08, rep


@pytest.mark.slow
def test_transform_rotation_vs_fd():
    """Rotation about an axis through the origin: equal to the first-order vertex motion
    (pi/180 deg) axis x v through vertex_positions, and close to FD. The rotation's image sum is
    ~0 (0.16 against an L1 norm of 55), so its error is bounded relative to the L1 norm. The L2
    error is the interior term's noise (the shading of the turning faces under the sky): 21 % at
    8 spp, 7.7 % at 64, 4.1 % at 256, and not the FD reference's (16384 x 2 spp, h = 0.02: its
    halves agree to 0.9 % when averaged over 8 passes each), nor the edge term's (21 % at 256 and
    at 2048 edge spp)."""
    scene, params, V = cube_scene()
    axis = np.array([0.2, 1.0, 0.1]) / np.linalg.norm([0.2, 1.0, 0.1])
    perturb = _tr(params, "cube.to_world", axis=axis, degrees=30.0)
    es = {**ES, "edge_spp": 256}
    g = forward_grad(scene, params, perturb, es, spp=64, seed=1)
    params["cube.to_world"] = np.eye(4)
    params.update()
    velocity = np.radians(30.0) * np.cross(axis, V)
    g_v = forward_grad(scene, params, offset(params, "cube.vertex_positions", velocity.ravel()), es, spp=64, seed=1)
    np.testing.assert_allclose(g, g_v, rtol=1e-3, atol=1e-3 * np.abs(g_v).max())
    ref = fd_image(scene, params, perturb, 0.02, reference=PATH, spp=8192, passes=2)
    rep = compare(g, ref)
    assert rep.mean_rel <= 0.05 and rep.sign == 1.0 and rep.rel_l2 <= 0.12 and rep.sum_rel_l1 <= 0.02, rep


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_transform_adjoint(estimator):
    scene, params, _ = cube_scene(20)
    perturb = _tr(params, "cube.to_world", (0.4, 0.2, 1.0), axis=(0, 1, 0), degrees=20.0)
    cfg = boundary(estimator, primary=8)
    g = forward_grad(scene, params, perturb, cfg, spp=4, seed=3)
    w = np.random.default_rng(1).random(g.shape)
    assert reverse_grad(scene, params, perturb, cfg, w, spp=4, seed=3) == pytest.approx(float((w * g).sum()), rel=1e-4)


def test_transform_bad_values():
    scene, params, _ = cube_scene(8)
    with pytest.raises(scenes.ParameterError, match="NaN"):
        params["cube.to_world"] = np.full((4, 4), np.nan)
    with pytest.raises(scenes.ParameterError, match="singular"):
        params["cube.to_world"] = np.diag([1.0, 0.0, 1.0, 1.0])
    with pytest.raises(scenes.ParameterError, match="affine"):
        params["cube.to_world"] = np.ones((4, 4))
    with pytest.raises(scenes.ParameterError, match="not a mesh"):
        params.add_transforms(["nope"])


# --- emitters -------------------------------------------------------------------------------------

@pytest.mark.parametrize("estimator", ESTIMATORS_WARPED_SLOW)
def test_area_light_seen_directly_moving(tmp_path, estimator):
    """An emitting quad against a black background moving towards the camera and sideways: the whole
    derivative is the emitter's primary silhouette."""
    light = {**b.mesh_file(_light_ply(tmp_path), face_normals=True), "emitter": b.area_light([4.0, 3.0, 2.0])}
    scene = scenes.load_scene(b.scene(b.camera((0.02, 0.01, 3), (0.02, 0.01, 0), fov=35, resolution=32,
                                               filter=FILTER[estimator]), shapes={"light": light}))
    params = scenes.ParameterMap(scene)
    params.add_transforms(["light"])
    perturb = _tr(params, "light.to_world", (0.3, -0.2, 1.0))
    ref = fd_image(scene, params, perturb, 0.01, reference=PATH, spp=8192, passes=WA_LIGHT_PASSES[estimator])
    spp = {"edge_sampling": 64, "warped_area": WA_LIGHT_SPP}[estimator]
    rep = compare(forward_grad(scene, params, perturb, boundary(estimator, primary=spp), spp=4, seed=1), ref)
    print(estimator, rep)
    assert rep.mean_rel <= 0.05 and rep.sum_rel <= 0.02 and rep.sign == 1.0 and rep.rel_l2 <= 0.1, rep


def test_emitter_radiance_and_roughness(tmp_path):
    """Area-light radiance and roughconductor alpha (interior terms) on a floor lit by a quad light."""
    floor = b.rectangle((0, -0.5, 0), 3.0, normal=(0, 1, 0), bsdf=b.rough_conductor(0.3))
    Q = np.array([[-0.3, 0.8, -0.3], [0.3, 0.8, -0.3], [0.3, 0.8, 0.3], [-0.3, 0.8, 0.3]])
    path = scenes.save_mesh((Q, np.array([[0, 1, 2], [0, 2, 3]])), tmp_path / "top.ply")  # faces -y
    light = {**b.mesh_file(path, face_normals=True), "emitter": b.area_light(5.0)}
    scene = scenes.load_scene(b.scene(b.camera((0, 0.3, 3), (0, -0.5, 0), resolution=24),
                                      shapes={"floor": floor, "light": light}))
    params = scenes.ParameterMap(scene)
    for key, d in (("light.emitter.radiance.value", [1.0, 0.5, 0.2]), ("floor.bsdf.alpha.value", 1.0)):
        perturb = offset(params, key, d)
        ref = fd_image(scene, params, perturb, 0.01, reference=PATH, spp=8192, passes=2)
        rep = compare(forward_grad(scene, params, perturb, ES, spp=256, seed=1), ref)
        assert rep.mean_rel <= 0.05 and rep.sum_rel <= 0.02 and rep.sign == 1.0, (key, rep)


# --- illumination from moving lights (next-event estimation, integrators/path/emitter_motion.py) ---
# A diffuse floor seen from a camera just below a light (the light is out of view: no primary
# term), lit by a light that moves up and sideways. prb alone gives exactly 0 here; the NEE term
# differentiates the light sample in the light's own moving parameterisation, and the secondary
# term keeps only the BSDF-sampled share of the light's outline (with secondary_path_spp > 0 the
# mesh light's edges are sampled: without that correction the image sum came out doubled).

_LIGHT_ES = {"type": "edge_sampling", "max_depth": 2, "edge_spp": 16, "emitter_spp": 1024}


def _light_config(estimator, **kw):
    """``_LIGHT_ES`` for ``estimator``; the light is out of view (box filter), so ``warped_area``
    runs without its primary term."""
    if estimator == "warped_area":
        return {**{k: v for k, v in _LIGHT_ES.items() if k != "edge_spp"}, "type": estimator, "film_spp": 0,
                **WARP[estimator], **kw}
    return {**_LIGHT_ES, "type": estimator, **kw}


def _lit_floor(light_shape=None, emitters=None, floor=None):
    floor = floor or b.rectangle((0, 0, 0), 3.0, bsdf=b.diffuse(0.8))
    shapes = {"floor": floor, **({"light": light_shape} if light_shape else {})}
    return scenes.load_scene(b.scene(b.camera((0.05, -0.01, 0.8), (0.05, 0, 0), fov=70, resolution=16),
                                     shapes=shapes, emitters=emitters or {}))


def _down_quad(tmp_path, name="down.ply", z=1.0, half=0.3):
    Q = np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    return scenes.save_mesh((Q, np.array([[0, 2, 1], [0, 3, 2]])), tmp_path / name)  # faces -z


def _check_light(scene, params, perturb, secondary_spp=0, spp=64, estimator="edge_sampling"):
    ref = fd_image(scene, params, perturb, 0.02, reference={"type": "path", "max_depth": 2}, spp=16384, passes=2)
    cfg = _light_config(estimator, secondary_path_spp=secondary_spp)
    rep = compare(forward_grad(scene, params, perturb, cfg, spp=spp, seed=1), ref)
    print(estimator, rep)
    assert rep.mean_rel <= 0.05 and rep.sum_rel <= 0.02 and rep.sign == 1.0 and rep.rel_l2 <= 0.05, rep
    return rep


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_moving_mesh_light_illumination(tmp_path, estimator):
    """Measured: 2.8 % / 1.6 % / 0.6 % / 100 % (without the NEE term: sum 0.4 % of the reference)."""
    scene = _lit_floor({**b.mesh_file(_down_quad(tmp_path), face_normals=True), "emitter": b.area_light(5.0)})
    params = scenes.ParameterMap(scene)
    params.add_transforms(["light"])
    _check_light(scene, params, _tr(params, "light.to_world", (0.15, 0.1, 0.3)),
                 secondary_spp={"edge_sampling": 4, "warped_area": 64}[estimator], estimator=estimator)


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_moving_rectangle_light_illumination(estimator):
    """An analytic ``rectangle`` light moved through Mitsuba's own ``to_world`` (2.1 % / 1.6 % / 0.8 %)."""
    import mitsuba as mi
    scene = _lit_floor(b.rectangle((0, 0, 1.0), 0.6, normal=(0, 0, -1), emitter=b.area_light(5.0)))
    params = scenes.ParameterMap(scene)
    T0 = mi.Transform4f(params["light.to_world"])

    def perturb(theta):
        th = mi.Float(theta) if isinstance(theta, (int, float)) else theta
        params["light.to_world"] = mi.Transform4f().translate(mi.Vector3f(0.15 * th, 0.1 * th, 0.3 * th)) @ T0
        params.update()
    _check_light(scene, params, perturb, secondary_spp={"edge_sampling": 0, "warped_area": 64}[estimator],
                 estimator=estimator)


def test_point_light_position():
    """Mitsuba 3.9 flags a point light's ``position`` non-differentiable (prb gives 0); Penumbra lists it
    as differentiable and the NEE term differentiates it (measured 0.9 % / 0.7 % / 0.05 %)."""
    pt = {"type": "point", "position": [0.3, 0.2, 0.8], "intensity": b.rgb(2.0)}
    scene = _lit_floor(emitters={"pt": pt})
    params = scenes.ParameterMap(scene)
    assert params.info("pt.position").differentiable and "pt.position" in params.differentiable()
    with pytest.raises(scenes.ParameterError, match="pt.position"):
        params["pt.position"] = [0.0, float("nan"), 1.0]
    _check_light(scene, params, offset(params, "pt.position", [0.15, 0.1, 0.3]))


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_moving_shadow_under_a_point_light_warns(estimator):
    """A point light's shadow boundary lies on the receiver, not in the directions seen from it: no
    secondary term differentiates its motion, so a moving occluder under a point light warns (a lone
    floor under a moving point light casts no shadow and stays silent)."""
    import warnings
    pt = {"type": "point", "position": [0.3, 0.2, 0.8], "intensity": b.rgb(2.0)}
    occ = scenes.mesh_from_arrays(np.array([[-0.2, -0.2, 0.4], [0.2, -0.2, 0.4], [0.0, 0.2, 0.4]]), [[0, 1, 2]],
                                  name="occ", bsdf=b.diffuse(0.5))
    scene = _lit_floor(occ, emitters={"pt": pt})
    params = scenes.ParameterMap(scene)
    cfg = {"type": estimator, "max_depth": 2, "edge_spp": 1, "secondary_path_spp": 1, "film_spp": 0}
    cfg = {k: v for k, v in cfg.items() if k != ("film_spp" if estimator == "edge_sampling" else "edge_spp")}
    with pytest.warns(UserWarning, match="delta lights .*'pt'.* not differentiated"):
        forward_grad(scene, params, offset(params, "light.vertex_positions", np.tile([1.0, 0, 0], 3)), cfg, spp=1)
    lone = _lit_floor(emitters={"pt": pt})
    lone_params = scenes.ParameterMap(lone)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        forward_grad(lone, lone_params, offset(lone_params, "pt.position", [0.1, 0, 0]), cfg, spp=1)


def test_attached_parameters_seen_through_mitsuba_traverse():
    """The tangent bookkeeping reads every Dr.Jit parameter of ``mi.traverse`` (Mitsuba 3.9 stores
    pointers in ``properties``; a 3-vector's ``.matrix`` is a swizzle, not a transform): a point light's
    position keeps its own tangent, and a moving floor beside it still counts as attached for prb."""
    import drjit as dr
    import mitsuba as mi
    from penumbra.integrators.path.base import parameter_tangents, scene_attached
    scene = _lit_floor(emitters={"pt": {"type": "point", "position": [0.3, 0.2, 0.8], "intensity": b.rgb(2.0)}})
    mp = mi.traverse(scene)
    pos = mi.Point3f(mp["pt.position"])
    dr.enable_grad(pos)
    dr.set_grad(pos, mi.Vector3f(0.15, 0.1, 0.3))
    mp["pt.position"] = pos
    mp.update()
    tangents = parameter_tangents(scene)
    assert len(tangents) == 1 and np.allclose(np.array(tangents[0][1]).ravel(), [0.15, 0.1, 0.3])
    assert not scene_attached(scene)
    T = mi.Transform4f(mp["floor.to_world"])
    dr.enable_grad(T.matrix)
    mp["floor.to_world"] = T
    mp.update()
    assert scene_attached(scene) and len(parameter_tangents(scene)) == 2


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_receiver_moving_under_static_mesh_light(tmp_path, estimator):
    """The floor (a mesh) rises towards a static mesh light: prb's NEE differentiates the moving
    shading point; the secondary term samples the light's edges where the floor moves and must
    count only their BSDF-sampled share (measured 1.7 % / 2.1 % / 0.8 %)."""
    Fq = np.array([[-1.5, -1.5, 0], [1.5, -1.5, 0], [1.5, 1.5, 0], [-1.5, 1.5, 0]])
    floor = {**b.mesh_file(scenes.save_mesh((Fq, np.array([[0, 1, 2], [0, 2, 3]])), tmp_path / "floor.ply"),
                           face_normals=True), "bsdf": b.diffuse(0.8)}
    scene = _lit_floor({**b.mesh_file(_down_quad(tmp_path), face_normals=True), "emitter": b.area_light(5.0)},
                       floor=floor)
    params = scenes.ParameterMap(scene)
    params.add_transforms(["floor"])
    _check_light(scene, params, _tr(params, "floor.to_world", (0.0, 0.0, 0.3)),
                 secondary_spp={"edge_sampling": 4, "warped_area": 64}[estimator], spp=256, estimator=estimator)


def _light_past_static_triangle(with_reference=True):
    """The triangle-shadow scene with its area light moving up and sideways past the static triangle
    (and the FD reference of its derivative)."""
    import mitsuba as mi
    scene, params, _, depth = triangle_shadow(16)
    T0 = mi.Transform4f(params["light.to_world"])

    def perturb(theta):
        th = mi.Float(theta) if isinstance(theta, (int, float)) else theta
        params["light.to_world"] = mi.Transform4f().translate(mi.Vector3f(0.0, 0.3 * th, 0.2 * th)) @ T0
        params.update()
    ref = fd_image(scene, params, perturb, 0.02, reference={"type": "path", "max_depth": depth}, spp=8192,
                   passes=4) if with_reference else None
    return scene, params, perturb, depth, ref


@pytest.mark.parametrize("estimator", [pytest.param("edge_sampling"),
                                       pytest.param("warped_area", marks=pytest.mark.slow)])
def test_moving_light_shadow_of_static_occluder_default_settings(estimator):
    """A light moving past a *static* occluder moves its shadow. The NEE light-motion term
    differentiates emitter sampling in the light's own coordinates with visibility frozen there; the
    occluder's silhouette moving *relative to the light* is the secondary term's, which samples
    static edges in front of moving lights (integrators/path/secondary.py). Nothing set, 16 spp.
    Measured (16x16, FD 8192 spp x 4), seeds 1 / 2 / 3: rel. L2 13.2 / 13.3 / 13.9 %, image sum
    1.0 / 3.5 / 7.4 %, signs 100 % (both estimators: warped_area takes edge sampling's term); without
    the secondary term 92 % L2, sum 24-29 % low, signs 59-61 %."""
    scene, params, perturb, depth, ref = _light_past_static_triangle()
    cfg = {"type": estimator, "max_depth": depth}
    rep = compare(forward_grad(scene, params, perturb, cfg, spp=16, seed=1), ref)
    print(rep)
    assert rep.rel_l2 <= 0.25 and rep.sum_rel <= 0.1 and rep.sign == 1.0, rep
    if estimator == "edge_sampling":
        miss = compare(forward_grad(scene, params, perturb, {**cfg, "secondary_path_spp": 0}, spp=16, seed=1), ref)
        assert miss.sum_rel > 0.2 and miss.sign < 0.8, miss


@pytest.mark.slow  # ~10 s cold (reverse-mode kernels); the forward check above is in the default run
def test_moving_light_shadow_of_static_occluder_adjoint():
    """Reverse mode of the static-edge share under a moving light agrees with forward mode
    (<weights, forward> == reverse), edge_sampling with its defaults."""
    from tests.harness import path_adjoint_test
    scene, params, perturb, depth, _ = _light_past_static_triangle(with_reference=False)
    path_adjoint_test(scene, params, perturb, {"type": "edge_sampling", "max_depth": depth}, spp=4, seed=3, rel=1e-4)


@pytest.mark.slow
def test_moving_light_shadow_of_static_occluder_direction_warp():
    """The same with ``warped_area``'s direction-space warp, which warps relative to the sampled light
    point. Measured (16x16, FD 8192 spp x 4): image sum +9 % (seed 1, 16384 spp), +11 % (seed 1,
    65536), -5.8 % (seed 2, 32768): noise, the secondary share being ~a quarter of the sum."""
    scene, params, perturb, depth, ref = _light_past_static_triangle()
    cfg = {"type": "warped_area", "max_depth": depth, "film_spp": 0, "emitter_spp": 8192,
           "secondary": "warp", "secondary_path_spp": 32768}
    rep = compare(forward_grad(scene, params, perturb, cfg, spp=16, seed=2), ref)
    print(rep)
    assert rep.sign == 1.0 and rep.sum_rel <= 0.1 and rep.mean_rel <= 0.2, rep


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_moving_light_adjoint(tmp_path, estimator):
    """Reverse mode of the NEE term (and of warped_area's light-relative secondary warp) agrees with
    forward mode (<weights, forward> == reverse)."""
    scene = _lit_floor({**b.mesh_file(_down_quad(tmp_path), face_normals=True), "emitter": b.area_light(5.0)})
    params = scenes.ParameterMap(scene)
    params.add_transforms(["light"])
    perturb = _tr(params, "light.to_world", (0.15, 0.1, 0.3))
    cfg = _light_config(estimator, emitter_spp=16, secondary_path_spp=2)
    fwd = forward_grad(scene, params, perturb, cfg, spp=8, seed=3)
    w = np.random.default_rng(0).uniform(-1, 1, fwd.shape)
    rev = reverse_grad(scene, params, perturb, cfg, w, spp=8, seed=3)
    assert abs(rev - np.sum(w * fwd)) <= 1e-4 * max(1.0, np.abs(w * fwd).sum()), (rev, np.sum(w * fwd))


# --- textures -------------------------------------------------------------------------------------

def test_texture_data():
    scene = scenes.load_scene(b.scene(b.camera((0, 0, 3), (0, 0, 0), fov=35, resolution=24),
                                      shapes={"plane": textured_plane("plane")},
                                      emitters={"sky": b.constant_environment(1.0)}))
    params = scenes.ParameterMap(scene)
    d = np.random.default_rng(2).normal(size=params.info("plane.bsdf.reflectance.data").shape)
    perturb = offset(params, "plane.bsdf.reflectance.data", d)
    ref = fd_image(scene, params, perturb, 0.01, reference=PATH, spp=4096)
    rep = compare(forward_grad(scene, params, perturb, ES, spp=1024, seed=1), ref)  # 64 spp: noise ~6 %
    assert rep.mean_rel <= 0.05 and rep.sum_rel <= 0.02 and rep.sign == 1.0, rep


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_plane_moving_in_front_of_textured_background(tmp_path, estimator):
    """A diffuse quad moving over a textured *emitting* plane (an emitter, so that the quad casts no
    shadow: moving shadows are secondary visibility, tested elsewhere)."""
    import mitsuba as mi
    front = scenes.mesh_from_arrays(np.array([[-0.3, -0.25, 0.5], [0.35, -0.3, 0.5], [0.3, 0.3, 0.5], [-0.25, 0.35, 0.5]]),
                                    [[0, 1, 2], [0, 2, 3]], name="front", bsdf=b.diffuse([0.9, 0.9, 0.1]),
                                    face_normals=True)
    tex = np.random.default_rng(3).uniform(0.1, 0.9, (8, 8, 3)).astype(np.float32)
    path = scenes.save_mesh(textured_plane("back"), tmp_path / "back.ply")
    back = {**b.mesh_file(path, face_normals=True),
            "emitter": {"type": "area", "radiance": {"type": "bitmap", "bitmap": mi.Bitmap(tex), "raw": True}}}
    scene = scenes.load_scene(b.scene(b.camera((0.01, 0.02, 3), (0.01, 0.02, 0), fov=35, resolution=32, filter="tent"),
                                      shapes={"back": back, "front": front},
                                      emitters={"sky": b.constant_environment(0.5)}))
    params = scenes.ParameterMap(scene)
    params.add_transforms(["front"])
    for d in ((1.0, 0.4, 0.0), (0.0, 0.0, 1.0)):
        perturb = _tr(params, "front.to_world", d)
        # The FD quotient's sum is the noisy part: single 8192-spp passes spread by 2.3 % in-plane
        # (the 4.5 % once measured against 2 passes was the reference's), so 32 are averaged.
        # Measured: in-plane 0.4-0.7 %, depth 0.03 % (edge_sampling's own spread: 0.3 %, 0.1 %).
        # warped_area (16384 film samples, ~2 min per direction): in-plane 0.8 % / 6.2 % L2 / 0.5 %,
        # depth 0.5 % / 3.2 % / 0.03 %; at 4096 the in-plane sum was 4.5 % off (noise).
        ref = fd_image(scene, params, perturb, 0.01, reference=PATH, spp=8192, passes=32)
        spp = {"edge_sampling": 256, "warped_area": WA_TEXTURE_SPP}[estimator]
        rep = compare(forward_grad(scene, params, perturb, boundary(estimator, primary=spp), spp=8, seed=1), ref)
        print(estimator, d, rep)
        assert rep.mean_rel <= 0.05 and rep.sum_rel <= 0.02 and rep.sign == 1.0 and rep.rel_l2 <= 0.1, (d, rep)


# --- the directional-light "bias" (DEVELOPERS.md, Edge sampling) -------------------------------------

@pytest.mark.slow
def test_directional_icosphere_sideways():
    """Flat-shaded icosphere(1) on the camera axis, lit only by a directional emitter, moving sideways.
    Two symmetric-scene effects once showed up as a ~20-30 % L2 'bias': occluded back edges projecting
    exactly onto visible ones (counted the visible jump) and a visible crease exactly on a pixel border
    (box filter: the pixel value has a kink there; central FD sees the mean of the one-sided slopes)."""
    V, F = b.icosphere(1, 0.6)
    ball = scenes.mesh_from_arrays(V, F, name="ball", bsdf=b.diffuse(0.7), face_normals=True)
    sun = {"type": "directional", "direction": [0.4, -0.5, -1.0], "irradiance": b.rgb(3.0)}
    scene = scenes.load_scene(b.scene(b.camera((0, 0, 3), (0, 0, 0), fov=40, resolution=32),
                                      shapes={"ball": ball}, emitters={"sun": sun}))
    params = scenes.ParameterMap(scene)
    perturb = offset(params, "ball.vertex_positions", np.tile([0.6, 0.3, 0.0], len(V)))
    ref = fd_image(scene, params, perturb, 0.005, reference=PATH, spp=16384, passes=2)
    rep = compare(forward_grad(scene, params, perturb, {**ES, "edge_spp": 256}, spp=4, seed=1), ref)
    # FD noise alone is ~2 % rel. L2 here, the edge estimate's ~4 %; the image sum is in-plane
    # (near-cancelling), so its error is bounded relative to the L1 norm.
    assert rep.mean_rel <= 0.05 and rep.sign == 1.0 and rep.rel_l2 <= 0.08 and rep.sum_rel_l1 <= 0.02, rep


# --- degenerate input -----------------------------------------------------------------------------

def test_non_manifold_and_degenerate_edges():
    """Three triangles on one edge (non-manifold), a zero-area triangle and a duplicated face: finite."""
    V = np.array([[-0.5, -0.5, 0], [0.5, -0.5, 0], [0, 0.5, 0.3], [0, 0.4, -0.4], [0.1, 0.5, 0.1], [0.2, 0.2, 0]])
    F = [[0, 1, 2], [0, 1, 3], [1, 0, 4], [0, 1, 5], [2, 3, 3], [0, 1, 2]]
    mesh = scenes.mesh_from_arrays(V, F, name="m", allow_degenerate=True, face_normals=True)
    scene = scenes.load_scene(b.scene(b.camera(resolution=16), shapes={"m": mesh},
                                      emitters={"sky": b.constant_environment(1.0)}))
    params = scenes.ParameterMap(scene)
    params.add_transforms(["m"])
    g = forward_grad(scene, params, _tr(params, "m.to_world", (0.3, 0.1, 0.5), axis=(0, 1, 0), degrees=10), ES, spp=4)
    assert np.all(np.isfinite(g)) and np.abs(g).max() > 0
