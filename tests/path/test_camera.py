"""Camera derivatives (pose, field of view, principal point) of both estimators, and the camera model.

Gradients of ``edge_sampling`` and ``warped_area`` are compared with central finite differences of
Mitsuba's ``path`` at high spp (tests/harness): mean per-pixel relative error <= 5 % (floored
denominator), image-sum error <= 2 % where the sum is well conditioned, sign agreement 100 % on
significant pixels; reverse mode must reproduce <weights, forward image> (adjoint test). Both share
the camera terms (:mod:`integrators.path.camera_motion`): rotation and fov are a film warp,
translation moves the scene, whose silhouettes each estimator's own primary term then follows
(``warped_area`` runs on the same scenes with a Gaussian filter, as calibrated). The
camera model itself is checked against ``Sensor.sample_direction`` (projection) and
``Sensor.sample_ray`` (film -> direction).
"""
import numpy as np
import pytest

from penumbra import integrators  # noqa: F401  (registers edge_sampling, warped_area)
from penumbra import scenes
from penumbra.scenes import builders as b
from tests.harness import compare, fd_image, forward_grad, reverse_grad
from tests.scenes_lib import ESTIMATORS, ESTIMATORS_WARPED_SLOW, FILTER, PRIMARY_COUNT, pose_perturbation

PATH = {"type": "path", "max_depth": 2}


FD_PASSES = {"edge_sampling": 1, "warped_area": 8}  # Gaussian-filtered FD images are noisier (test_fov)
PRIMARY_SPP = {"edge_sampling": 128, "warped_area": 4096}  # boundary samples per pixel under translation
CAMERA_SPP = {"edge_sampling": 256, "warped_area": 1024}  # warp-term samples (rotation, fov)


def es(camera_spp=16, primary_spp=32, estimator="edge_sampling", max_depth=2):
    return {"type": estimator, "max_depth": max_depth, PRIMARY_COUNT[estimator]: primary_spp, "camera_spp": camera_spp}


def es1(**kw):
    return es(max_depth=1, **kw)


def two_balls_scene(res=32, filter="box", fov=40.0, sky=0.25, lamp=True):
    """Two flat-shaded icospheres at different depths (parallax, occlusion silhouettes, crease edges)
    under a sky, lit by an area light from the camera side (no cast shadows: translation moves the
    shading points over the spheres, and shadow boundaries are secondary visibility)."""
    Va, Fa = b.icosphere(1, 0.5, (-0.3, 0.0, 0.0))
    Vb, Fb = b.icosphere(1, 0.35, (0.45, 0.15, -0.9))
    shapes = {"a": scenes.mesh_from_arrays(Va, Fa, name="a", bsdf=b.diffuse([0.8, 0.4, 0.2]), face_normals=True),
              "b": scenes.mesh_from_arrays(Vb, Fb, name="b", bsdf=b.diffuse([0.2, 0.5, 0.8]), face_normals=True)}
    emitters = {"sky": b.constant_environment(sky)}
    if lamp:  # an emissive quad (mesh) on the camera side, outside the view
        shapes["lamp"] = {**b.mesh_file(_quad_ply("lamp", (0.8, 1.6, 3.5), (-0.8, -1.6, -3.5), 0.3)),
                          "emitter": b.area_light(40.0)}
    cam = b.camera((0.1, 0.3, 3.0), (0, 0, -0.2), fov=fov, resolution=res, filter=filter)
    scene = scenes.load_scene(b.scene(cam, shapes=shapes, emitters=emitters))
    return scene, scenes.ParameterMap(scene)


def parallax_scene(res=32, filter="box"):
    """Two flat-shaded icospheres in front of an emissive backdrop with a smooth texture, under a sky,
    rendered with max_depth=1 (no emitter sampling: see camera_motion's note on finite emitters).
    Camera translation moves the texture (interior term) and the silhouettes (boundary term) by
    depth-dependent amounts."""
    import mitsuba as mi
    Va, Fa = b.icosphere(1, 0.5, (-0.3, 0.0, 0.0))
    Vb, Fb = b.icosphere(1, 0.35, (0.45, 0.15, -0.6))
    tex = np.random.default_rng(3).random((8, 8, 3)).astype(np.float32) * 2.0 + 0.5
    backdrop = {**b.mesh_file(_quad_ply("backdrop", (0.037, 0.021, -1.5), (0, 0, 1), 2.5)),
                "emitter": {"type": "area", "radiance": {"type": "bitmap", "bitmap": mi.Bitmap(tex), "raw": True}}}
    shapes = {"a": scenes.mesh_from_arrays(Va, Fa, name="a", bsdf=b.diffuse(0.0), face_normals=True),
              "b": scenes.mesh_from_arrays(Vb, Fb, name="b", bsdf=b.diffuse(0.0), face_normals=True),
              "backdrop": backdrop}
    cam = b.camera((0.1, 0.3, 3.0), (0, 0, -0.2), fov=40.0, resolution=res, filter=filter)
    scene = scenes.load_scene(b.scene(cam, shapes=shapes, emitters={"sky": b.constant_environment(0.3)}))
    return scene, scenes.ParameterMap(scene)


def _quad_ply(name, centre, normal, half):
    """A square mesh (with texture coordinates) facing ``normal``, written once per test process."""
    import os
    import tempfile
    path = os.path.join(tempfile.gettempdir(), f"penumbra_test_camera_{name}_{os.getpid()}.ply")
    if not os.path.exists(path):
        c, n = np.asarray(centre, float), np.asarray(normal, float) / np.linalg.norm(normal)
        u = np.cross(n, [1.0, 0, 0] if abs(n[0]) < 0.9 else [0, 1.0, 0])
        u /= np.linalg.norm(u)
        v = np.cross(n, u)
        corners = ((-1, -1), (1, -1), (1, 1), (-1, 1))
        V = np.array([c + half * (a * u + b_ * v) for a, b_ in corners])
        UV = (np.array(corners, float) + 1) / 2
        scenes.save_mesh(scenes.mesh_from_arrays(V, [[0, 1, 2], [0, 2, 3]], name=name, texcoords=UV,
                                                 face_normals=True), path)
    return path


def scalar_perturbation(params, name, step):
    import mitsuba as mi
    base = float(np.array(params[name]).ravel()[0])

    def perturb(theta):
        params[name] = base + theta * step if isinstance(theta, (int, float)) else mi.Float(base) + theta * step
        params.update()
    return perturb


def check(scene, params, perturb, h, integrator, ref=PATH, spp=16, sum_tol=0.02, spp_fd=4096, passes=1):
    """Forward-mode gradient vs central FD of ``ref``; returns the report. sum_tol None: in-plane
    motion, where the true image sum is a near-cancelling difference (yaw: sum 5 against an L1 norm
    of 950, and the FD reference's own passes spread from 2 to 7), so the sum error is bounded by 2 %
    of the reference's L1 norm instead of 2 % of the sum."""
    ref_img = fd_image(scene, params, perturb, h, reference=ref, spp=spp_fd, passes=passes)
    rep = compare(forward_grad(scene, params, perturb, integrator, spp=spp, seed=1), ref_img)
    print(rep)
    assert rep.mean_rel <= 0.05 and rep.sign == 1.0, rep
    if sum_tol is None:
        assert rep.sum_rel_l1 <= 0.02, rep
    else:
        assert rep.sum_rel <= sum_tol, rep
    return rep


# --- camera model --------------------------------------------------------------------------------
@pytest.mark.parametrize("pp", [(0.0, 0.0), (0.12, -0.07)])
def test_projection_matches_mitsuba(pp):
    import drjit as dr
    import mitsuba as mi
    from penumbra.integrators.path.camera import PinholeCamera, camera_matrices
    scene, params = two_balls_scene(res=(24, 16), fov=55.0)
    params["sensor.principal_point_offset_x"], params["sensor.principal_point_offset_y"] = pp
    params.update()
    sensor = scene.sensors()[0]
    cam = PinholeCamera(sensor)
    P = np.random.default_rng(0).uniform(-0.8, 0.8, (50, 3)) * [1, 1, 0.5]
    it = dr.zeros(mi.Interaction3f, len(P))
    it.p = mi.Point3f(*[mi.Float(P[:, i].astype(np.float32)) for i in range(3)])
    ds, _ = sensor.sample_direction(it, mi.Point2f(0.5))
    ref = np.array(ds.uv).T if np.array(ds.uv).shape[0] == 2 else np.array(ds.uv)
    assert np.allclose(cam.film_np(cam.camera_space(P)), ref, atol=2e-3)
    x = cam.film(mi.Point3f(*[mi.Float(P[:, i].astype(np.float32)) for i in range(3)]))
    assert np.allclose(np.array(x).reshape(2, -1).T if np.array(x).shape[0] == 2 else np.array(x), ref, atol=2e-3)
    # Film point -> world direction through K and A agrees with the sensor's rays.
    A, t, K = camera_matrices(sensor)
    Kn = np.array(K).reshape(3, 3) if np.array(K).size == 9 else np.array(K)[..., 0]
    An = np.array(A).reshape(3, 3) if np.array(A).size == 9 else np.array(A)[..., 0]
    uv = np.random.default_rng(1).uniform(0, 1, (20, 2))
    ray, _ = sensor.sample_ray(0.0, 0.5, mi.Point2f(*[mi.Float(uv[:, i].astype(np.float32)) for i in range(2)]),
                               mi.Point2f(0.5))
    d_ref = np.array(ray.d).T if np.array(ray.d).shape[0] == 3 else np.array(ray.d)
    pix = uv * [24, 16]
    d = (An @ np.linalg.solve(Kn, np.column_stack([pix, np.ones(len(pix))]).T)).T
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    assert np.allclose(d, d_ref, atol=1e-4)


# --- gradients against finite differences --------------------------------------------------------
PATH1 = {"type": "path", "max_depth": 1}


@pytest.mark.parametrize("estimator", ESTIMATORS_WARPED_SLOW)
def test_translation_depth(estimator):
    # edge_sampling: image sum 0.3-0.4 % off a 4 x 4096-spp reference (whose single passes spread by
    # +-0.5 %), its own sum spread 0.06 % over four seeds. warped_area (4096 film samples per pixel,
    # Gaussian filter): 2.8 % / 4.6-4.9 % L2 / 0.3-0.6 % over two seeds; at 128 samples 12 % mean rel.
    scene, params = parallax_scene(filter=FILTER[estimator])
    spp = PRIMARY_SPP[estimator]
    check(scene, params, pose_perturbation(params, translate=(0, 0, -1.0)), 0.02,
          es1(primary_spp=spp, estimator=estimator), ref=PATH1, spp=32, passes=2)


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_translation_sideways(estimator):
    scene, params = parallax_scene(filter=FILTER[estimator])
    spp = PRIMARY_SPP[estimator]
    check(scene, params, pose_perturbation(params, translate=(1.0, 0.4, 0)), 0.01,
          es1(primary_spp=spp, estimator=estimator), ref=PATH1, spp=32, sum_tol=None, passes=2)


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_translation_with_area_light_and_nee(estimator):
    """Camera translation with a finite (mesh) area light and next-event estimation: the scene moves
    rigidly, prb differentiates the shading points, the NEE term (emitter_motion) the light samples
    (before that term existed this configuration gave the wrong image-sum sign and was refused).
    No sky: with it the image sum is a difference of two parts (sky -29.8, lamp +23.0) and
    ill-conditioned. Measured (edge_sampling) 3.7 % / 11.7 % L2 / 0.6 % / 100 %."""
    scene, params = two_balls_scene(res=24, sky=0.0, filter=FILTER[estimator])
    spp = PRIMARY_SPP[estimator]
    check(scene, params, pose_perturbation(params, translate=(0, 0, -1.0)), 0.02,
          {**es(primary_spp=spp, estimator=estimator), "emitter_spp": 256}, spp=128, spp_fd=16384)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_translation_refuses_spot_lights_with_nee(estimator):
    spot = {"type": "spot", "to_world": __import__("mitsuba").ScalarTransform4f().look_at(
        origin=[0, 2, 3], target=[0, 0, 0], up=[0, 1, 0]), "intensity": b.rgb(5.0)}
    scene = scenes.load_scene(b.scene(b.camera(resolution=8, filter=FILTER[estimator]),
                                      shapes={"floor": b.rectangle()}, emitters={"spot": spot}))
    params = scenes.ParameterMap(scene)
    with pytest.raises(NotImplementedError, match="finite emitter 'spot'"):
        forward_grad(scene, params, pose_perturbation(params, translate=(0, 0, 1.0)), es(estimator=estimator),
                     spp=1)


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_rotation_yaw(estimator):
    # In-plane image motion: the true image sum is ill-conditioned (not checked). With the Gaussian
    # filter the warp term is noisier: 256 samples gave 4.5-5.1 % mean rel., 1024 give 2.6-2.8 %.
    scene, params = two_balls_scene(filter=FILTER[estimator])
    camera_spp = CAMERA_SPP[estimator]
    check(scene, params, pose_perturbation(params, axis=(0, 1, 0)), 0.004,
          es(camera_spp=camera_spp, estimator=estimator), sum_tol=None, passes=FD_PASSES[estimator])


@pytest.mark.parametrize("estimator", ESTIMATORS_WARPED_SLOW)
def test_fov(estimator):
    # warped_area (Gaussian filter, 1024 samples): 2.0 % / 0.8-1.0 % against 8 reference passes;
    # a single 4096-spp pass is itself ~2 % off in the image sum with this filter.
    scene, params = two_balls_scene(filter=FILTER[estimator])
    camera_spp = CAMERA_SPP[estimator]
    check(scene, params, scalar_perturbation(params, "sensor.x_fov", 1.0), 0.2,
          es(camera_spp=camera_spp, estimator=estimator), passes=FD_PASSES[estimator])


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("what", ["pose", "fov"])
def test_backward_agrees_with_forward(what, estimator):
    if what == "pose":  # translation (through the scene) and rotation (film warp) at once
        scene, params = parallax_scene(res=16, filter=FILTER[estimator])
        perturb = pose_perturbation(params, translate=(0.3, -0.2, 0.5), axis=(1, 2, 0.5))
        integ = es1(camera_spp=4, primary_spp=8, estimator=estimator)
    else:
        scene, params = two_balls_scene(res=16, filter=FILTER[estimator])
        perturb = scalar_perturbation(params, "sensor.x_fov", 1.0)
        integ = es(camera_spp=4, primary_spp=8, estimator=estimator)
    g = forward_grad(scene, params, perturb, integ, spp=4, seed=3)
    w = np.random.default_rng(0).random(g.shape)
    back = reverse_grad(scene, params, perturb, integ, w, spp=4, seed=3)
    assert np.abs(g).max() > 0
    assert back == pytest.approx(float((w * g).sum()), rel=1e-4)


# --- parameter layer -----------------------------------------------------------------------------
def test_camera_parameters_are_named_and_validated():
    scene, params = two_balls_scene(res=8)
    for name in ("sensor.to_world", "sensor.x_fov", "sensor.principal_point_offset_x"):
        assert name in params.differentiable() and name in params.geometric()
    assert params.keys().count("sensor.x_fov") == 1
    with pytest.raises(scenes.ParameterError, match=r"\(0, 180\)"):
        params["sensor.x_fov"] = 180.0
    with pytest.raises(scenes.ParameterError, match=r"\(0, 180\)"):
        params["sensor.x_fov"] = -3.0
    with pytest.raises(scenes.ParameterError, match="NaN"):
        params["sensor.x_fov"] = float("nan")
    with pytest.raises(scenes.ParameterError, match="invertible"):
        params["sensor.to_world"] = np.diag([1.0, 1.0, 0.0, 1.0])
    with pytest.raises(scenes.ParameterError, match="NaN"):
        params["sensor.to_world"] = np.full((4, 4), np.nan)
    params["sensor.x_fov"] = 50.0
    params.update()
    assert float(np.array(params["sensor.x_fov"]).ravel()[0]) == pytest.approx(50.0)
