"""Test scenes shared by the test modules of the three engines (one place; test modules import
from here, never from each other).

- path tracer: the estimators under test with their reconstruction filters, primary-visibility
  scenes (a triangle silhouette, icospheres), secondary-visibility configurations (shadows, a glossy
  reflection, an indirect shadow: each returns scene, parameters, a scaling perturbation and the path
  depth), and the camera-pose perturbation;
- vector rasterizer: :func:`svg`, a small SVG document on a white background;
- acoustics: the shoebox room of the gradient checks (:func:`shoebox_room`);
- :func:`shared_data`: data files kept beside the checkout (``../shared/data``).
"""
import functools
import os
from unittest import mock

import numpy as np
import pytest

from penumbra import integrators  # noqa: F401  (registers edge_sampling, warped_area)
from penumbra import scenes
from penumbra.scenes import builders as b
from tests.harness import offset

# --- path tracer -----------------------------------------------------------------------------------
# The two boundary-term estimators that the path-tracer tests run, and the reconstruction filter each
# runs with: the warped_area tests of this suite were calibrated with a Gaussian filter, so scenes
# that the suite renders with a box filter use a Gaussian one for it (its box-filter primary term,
# the pixel-border flux, is tested on its own in test_warped_area.py).
ESTIMATORS = ("edge_sampling", "warped_area")
FILTER = {"edge_sampling": "box", "warped_area": "gaussian"}
# The same estimators where a check's warped_area row costs several times its edge_sampling row (a
# camera or light configuration whose warp field needs many film samples): that row runs on request
# (``-m slow``); warped_area keeps fast primary, secondary and warp-field cases in test_warped_area.py.
ESTIMATORS_WARPED_SLOW = ("edge_sampling", pytest.param("warped_area", marks=pytest.mark.slow))
# Each estimator's property for its primary boundary term's samples per pixel.
PRIMARY_COUNT = {"edge_sampling": "edge_spp", "warped_area": "film_spp"}


def triangle_scene(res=32):
    V = np.array([[-0.6, -0.5, 0], [0.7, -0.4, 0], [0.0, 0.6, 0.2]])
    tri = scenes.mesh_from_arrays(V, [[0, 1, 2]], name="tri", bsdf=b.diffuse([0.8, 0.3, 0.2]))
    scene = scenes.load_scene(b.scene(b.camera((0, 0, 3), (0, 0, 0), fov=45, resolution=res),
                                      shapes={"tri": tri}, emitters={"sky": b.constant_environment(1.0)}))
    return scene, scenes.ParameterMap(scene), V


def icosphere_scene(res=32, flat=True, sun=False):
    """A diffuse icosphere(1) of radius 0.6 in view under a uniform sky (and a sun). Flat-shaded under
    the sky alone, its creases carry no radiance jump (sampling them must not bias the estimate);
    under a sun they do. Smooth-shaded, it has a shading terminator (see terminator.py)."""
    V, F = b.icosphere(1, 0.6)
    ball = scenes.mesh_from_arrays(V, F, name="ball", bsdf=b.diffuse(0.7), face_normals=flat)
    emitters = {"sky": b.constant_environment(0.3)}
    if sun:
        emitters["sun"] = {"type": "directional", "direction": [0.4, -0.5, -1.0], "irradiance": b.rgb(3.0)}
    scene = scenes.load_scene(b.scene(b.camera((0, 0, 3), (0, 0, 0), fov=40, resolution=res),
                                      shapes={"ball": ball}, emitters=emitters))
    return scene, scenes.ParameterMap(scene), V


def flat_sphere_scene(res=32):
    return icosphere_scene(res)


def flat_sphere_sun_scene(res=32):
    return icosphere_scene(res, sun=True)


def smooth_sphere_scene(res=24):
    return icosphere_scene(res, flat=False)


def floor_rect(size=5.0, albedo=0.8):
    return b.rectangle((0, 0, 0), size, bsdf=b.diffuse(albedo))


def scale_about_centre(params, key, centre):
    V = np.array(params[key]).reshape(-1, 3)
    return offset(params, key, (V - np.asarray(centre)).ravel())


def long_shadow_scene(occluder, res):
    """``occluder`` near the origin casts a long shadow towards -x from a low area light; the
    camera looks down at the shadow only (the occluder is out of frame)."""
    return scenes.load_scene(b.scene(
        b.camera((-1.3, 0, 2.5), (-1.3, 0, 0), fov=40, resolution=res),
        shapes={"occ": occluder, "floor": floor_rect(),
                "light": b.rectangle((1.5, 0, 1.2), 0.5, normal=(-1.5, 0, -0.6), emitter=b.area_light(30.0))}))


def triangle_shadow(res=16):
    V = np.array([[0.0, -0.35, 0.3], [0.0, 0.35, 0.35], [0.05, 0.0, 0.95]])
    scene = long_shadow_scene(scenes.mesh_from_arrays(V, [[0, 1, 2]], name="occ", bsdf=b.diffuse(0.5)), res)
    params = scenes.ParameterMap(scene)
    return scene, params, scale_about_centre(params, "occ.vertex_positions", V.mean(axis=0)), 2


def sphere_shadow(res=16, flat=True):
    V, F = b.icosphere(1, 0.35)
    V = V + np.array([0, 0, 0.6])
    scene = long_shadow_scene(scenes.mesh_from_arrays(V, F, name="occ", bsdf=b.diffuse(0.5),
                                                       face_normals=flat), res)
    params = scenes.ParameterMap(scene)
    return scene, params, scale_about_centre(params, "occ.vertex_positions", [0, 0, 0.6]), 2


def glossy_reflection(res=16):
    """A rough metal plane reflecting a diffuse triangle lit by a sky (depth 3); the camera sees
    the reflection, not the triangle."""
    V = np.array([[-0.5, 0.3, 0.5], [0.5, 0.3, 0.5], [0.0, 0.6, 1.1]])
    tri = scenes.mesh_from_arrays(V, [[0, 1, 2]], name="occ", bsdf=b.diffuse(0.9))
    scene = scenes.load_scene(b.scene(
        b.camera((0, -2.5, 1.0), (0, 0.0, 0.0), fov=20, resolution=res),
        shapes={"occ": tri, "mirror": b.rectangle((0, 0, 0), 3.0, bsdf=b.rough_conductor(0.15))},
        emitters={"sky": b.constant_environment(1.0)}))
    params = scenes.ParameterMap(scene)
    return scene, params, scale_about_centre(params, "occ.vertex_positions", V.mean(axis=0)), 3


def indirect_occluder(res=16):
    """The floor is lit only by a wall that an area light faces; a triangle between wall and floor
    casts an indirect shadow (depth 3)."""
    V = np.array([[0.6, -0.4, 0.3], [0.6, 0.4, 0.3], [0.6, 0.0, 0.9]])
    tri = scenes.mesh_from_arrays(V, [[0, 1, 2]], name="occ", bsdf=b.diffuse(0.5))
    scene = scenes.load_scene(b.scene(
        b.camera((-0.5, -2.0, 2.2), (0.3, 0, 0), fov=45, resolution=res),
        shapes={"occ": tri, "floor": floor_rect(4.0),
                "wall": b.rectangle((1.2, 0, 1.0), 2.0, normal=(-1, 0, 0), bsdf=b.diffuse(0.9)),
                "light": b.rectangle((0.2, 0, 1.0), 0.4, normal=(1, 0, 0.0), emitter=b.area_light(40.0))}))
    params = scenes.ParameterMap(scene)
    return scene, params, scale_about_centre(params, "occ.vertex_positions", V.mean(axis=0)), 3


# Configurations in the style of Mitsuba's own AD tests (test_ad_integrators.py), built here as
# meshes (the boundary-term estimators differentiate mesh geometry; every integrator gets the same
# scene): (scene, params, perturbation, max_depth). ``folder``: where the emitter meshes and the
# environment map are written.
def _quad(half_x, half_y, z=0.0):
    """Vertices and faces of an axis-aligned quad in the plane z, facing +z."""
    V = np.array([[-half_x, -half_y, z], [half_x, -half_y, z], [half_x, half_y, z], [-half_x, half_y, z]])
    return V, np.array([[0, 1, 2], [0, 2, 3]])


def _overhead_light(size=0.6, height=2.0, radiance=15.0):
    return b.rectangle((0, 0, height), size, normal=(0, 0, -1), emitter=b.area_light(radiance))


def _oblique_camera(res):
    return b.camera((0, -2.4, 2.4), (0, 0, 0.2), fov=45, resolution=res)


def translate_occluder_area_light(res=16, folder=None):
    """A quad occluder over a floor, lit by an overhead area light, translating sideways: its
    silhouette and its shadow move."""
    V, F = _quad(0.25, 0.25, 0.8)
    scene = scenes.load_scene(b.scene(_oblique_camera(res), shapes={
        "occ": scenes.mesh_from_arrays(V, F, name="occ", bsdf=b.diffuse(0.5)),
        "floor": floor_rect(6.0), "light": _overhead_light()}))
    params = scenes.ParameterMap(scene)
    return scene, params, offset(params, "occ.vertex_positions", np.tile([1.0, 0, 0], len(V))), 2


def translate_shadow_receiver(res=16, folder=None):
    """A static occluder over a floor that rises towards it (the shadow shrinks and softens); the
    floor's own outline is out of view."""
    V, F = _quad(4.0, 4.0, 0.0)
    scene = scenes.load_scene(b.scene(_oblique_camera(res), shapes={
        "floor": scenes.mesh_from_arrays(V, F, name="floor", bsdf=b.diffuse(0.8)),
        "occ": b.rectangle((0, 0, 0.8), 0.5, bsdf=b.diffuse(0.5)), "light": _overhead_light()}))
    params = scenes.ParameterMap(scene)
    return scene, params, offset(params, "floor.vertex_positions", np.tile([0, 0, 1.0], len(V))), 2


def box_above_floor(res=16, folder=None, filt="box"):
    """A box 0.05 above a floor, lit from the side by an area light, moving away from the camera: its
    shadow lies right next to its lower silhouette, within the reach of a film warp field."""
    c, s_ = np.cos(np.radians(20)), np.sin(np.radians(20))
    corners = np.array([[x, y, z] for z in (0.05, 1.05) for y in (-0.3, 0.3) for x in (-0.3, 0.3)])
    V = corners @ np.array([[c, s_, 0], [-s_, c, 0], [0, 0, 1]])
    F = np.array([[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
                  [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5]])
    light = b.rectangle((-1.2, -1.0, 2.4), 0.6, normal=(1.2, 1.0, -2.4), emitter=b.area_light(20.0))
    Vf, Ff = _quad(2.0, 2.0, 0.0)
    scene = scenes.load_scene(b.scene(b.camera((0, -3.0, 1.0), (0, 0, 0.3), fov=40, resolution=res, filter=filt), shapes={
        "floor": scenes.mesh_from_arrays(Vf, Ff, name="floor", bsdf=b.diffuse(0.8)),
        "box": scenes.mesh_from_arrays(V, F, name="box", bsdf=b.diffuse(0.5), face_normals=True), "light": light}))
    params = scenes.ParameterMap(scene)
    return scene, params, offset(params, "box.vertex_positions", np.tile([0, 1.0, 0], len(V))), 2


def self_shadowing_right_angle(res=16, folder=None):
    """One mesh bent at a right angle (a wall standing on the edge of a base) lit from the wall's
    side: the wall shadows the base. The mesh moves towards the light."""
    V = np.array([[-0.5, -0.5, 0.3], [0.5, -0.5, 0.3], [0.5, 0.5, 0.3], [-0.5, 0.5, 0.3],
                  [-0.5, -0.5, 1.0], [-0.5, 0.5, 1.0]])
    F = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 5], [0, 5, 4]])
    light = b.rectangle((-1.4, 0, 1.7), 0.5, normal=(1.4, 0, -1.3), emitter=b.area_light(25.0))
    scene = scenes.load_scene(b.scene(b.camera((1.6, -1.6, 2.2), (0, 0, 0.4), fov=45, resolution=res), shapes={
        "angle": scenes.mesh_from_arrays(V, F, name="angle", bsdf=b.diffuse(0.7), face_normals=True),
        "floor": floor_rect(6.0), "light": light}))
    params = scenes.ParameterMap(scene)
    return scene, params, offset(params, "angle.vertex_positions", np.tile([-1.0, 0, 0], len(V))), 2


def _emitter_mesh(folder, name, V, F, radiance):
    path = scenes.save_mesh((V, F), os.path.join(folder, f"{name}.ply"))
    return {**b.mesh_file(path), "emitter": b.area_light(radiance)}


def rectangle_emitter_on_black(res=16, folder="."):
    """A square area light facing the camera on a black background, translating sideways."""
    V, F = _quad(0.4, 0.4, 0.0)
    scene = scenes.load_scene(b.scene(b.camera((0, 0, 3), (0, 0, 0), fov=40, resolution=res), shapes={
        "light": _emitter_mesh(folder, "rectangle_emitter", V, F, 5.0)}))
    params = scenes.ParameterMap(scene)
    return scene, params, offset(params, "light.vertex_positions", np.tile([1.0, 0.3, 0], len(V))), 2


def sphere_emitter_scaled(res=16, folder="."):
    """A spherical area light (an icosphere(2) mesh) on black, scaled about its centre."""
    V, F = b.icosphere(2, 0.5)
    scene = scenes.load_scene(b.scene(b.camera((0, 0, 3), (0, 0, 0), fov=40, resolution=res), shapes={
        "light": _emitter_mesh(folder, "sphere_emitter", V, F, 5.0)}))
    params = scenes.ParameterMap(scene)
    return scene, params, offset(params, "light.vertex_positions", V.ravel()), 2


def plane_under_envmap(res=16, folder="."):
    """A tilted diffuse quad in view, lit by an environment map brighter towards +z and +x (a
    32x16 lat-long EXR), translating sideways."""
    import mitsuba as mi
    u, v = np.meshgrid(np.linspace(0, 1, 32), np.linspace(0, 1, 16))
    sky = np.stack([0.2 + 1.5 * (1 - v) + 0.5 * u, 0.2 + 1.2 * (1 - v), 0.3 + 0.8 * (1 - v) + 0.3 * u], -1)
    path = os.path.join(folder, "gradient_sky.exr")
    mi.Bitmap(sky.astype(np.float32)).write(path)
    V, F = _quad(0.5, 0.35, 0.0)
    V = V @ np.array([[1, 0, 0], [0, np.cos(0.5), np.sin(0.5)], [0, -np.sin(0.5), np.cos(0.5)]]).T
    scene = scenes.load_scene(b.scene(b.camera((0, -0.6, 3), (0, 0, 0), fov=40, resolution=res),
                                      shapes={"plane": scenes.mesh_from_arrays(V, F, name="plane",
                                                                               bsdf=b.diffuse(0.6))},
                                      emitters={"sky": {"type": "envmap", "filename": path}}))
    params = scenes.ParameterMap(scene)
    return scene, params, offset(params, "plane.vertex_positions", np.tile([1.0, 0.2, 0], len(V))), 2


MITSUBA_STYLE = {
    "occluder translating under an area light": translate_occluder_area_light,
    "shadow receiver translating": translate_shadow_receiver,
    "self-shadowing right angle": self_shadowing_right_angle,
    "rectangle emitter on black": rectangle_emitter_on_black,
    "sphere emitter scaled": sphere_emitter_scaled,
    "plane under an environment map": plane_under_envmap,
}


def with_gaussian_filter(config):
    """``config`` built with a Gaussian reconstruction filter (scenes where the occluder is also in
    view, for warped-area sampling's primary term, whose tests here use a smooth filter)."""
    def build(**kwargs):
        with mock.patch.object(b, "camera", functools.partial(b.camera, filter="gaussian")):
            return config(**kwargs)
    build.__name__ = config.__name__ + "_gaussian"
    return build


def rotation(axis, angle):
    """Rotation matrix (Rodrigues) as a list of Dr.Jit-friendly expressions in ``angle``."""
    import drjit as dr
    k = np.asarray(axis, float) / np.linalg.norm(axis)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    K2 = K @ K
    s, c = (dr.sin(angle), dr.cos(angle)) if not isinstance(angle, float) else (np.sin(angle), np.cos(angle))
    return [[float(i == j) + s * float(K[i, j]) + (1 - c) * float(K2[i, j]) for j in range(3)] for i in range(3)]


def pose_perturbation(params, name="sensor.to_world", translate=(0, 0, 0), axis=None):
    """``to_world(θ) = [R(θ) R0 | t0 + θ translate]``: rotation about the camera centre (world axis)
    and/or translation of the centre; θ a float (finite differences) or an attached mi.Float."""
    import mitsuba as mi
    M0 = np.array(params[name].matrix, dtype=np.float64).reshape(4, 4)

    def perturb(theta):
        th = theta if not isinstance(theta, (int, float)) else float(theta)
        R = rotation(axis, th) if axis is not None else [[float(i == j) for j in range(3)] for i in range(3)]
        rows = []
        for i in range(3):
            row = [sum(R[i][k] * float(M0[k, j]) for k in range(3)) for j in range(3)]
            rows.append(row + [float(M0[i, 3]) + th * float(translate[i])])
        rows.append([0.0, 0.0, 0.0, 1.0])
        if isinstance(th, float):
            params[name] = np.array(rows, dtype=np.float64)
        else:
            params[name] = mi.AffineTransform4f(mi.Matrix4f([[mi.Float(v) for v in r] for r in rows]))
        params.update()
    return perturb


# --- vector rasterizer -----------------------------------------------------------------------------
VECTOR_SIZE = 32


def svg(body, extra="", size=VECTOR_SIZE):
    """A ``size`` x ``size`` SVG scene: a white background rectangle, then ``body``."""
    from penumbra.scenes.vector import load_svg
    return load_svg(f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" {extra}>'
                    f'<rect width="{size}" height="{size}" fill="#ffffff"/>{body}</svg>')


# --- acoustics -------------------------------------------------------------------------------------
# A 5.3 x 4.1 x 3.2 m shoebox, source and receiver off the symmetry planes, flat absorption per wall
# (SHOEBOX_WALLS order) and a banded variant (7 octave bands, 0.6x to 1.8x the flat value).
ROOM_DIMS = np.array([5.3, 4.1, 3.2])
ROOM_SRC = np.array([1.1, 1.3, 1.2])
ROOM_RCV = np.array([3.9, 2.9, 1.7])
ROOM_FLAT = np.array([0.1, 0.3, 0.2, 0.25, 0.4, 0.15])
ROOM_BANDED = np.clip(ROOM_FLAT[:, None] * np.linspace(0.6, 1.8, 7)[None, :], 0, 0.9)


def shoebox_room(absorption, fs=16000):
    """The shoebox room with ``absorption`` per wall (a number, or 7 band values each)."""
    import penumbra.scenes.room as R
    mats = {n: list(a) if np.ndim(a) else float(a) for n, a in zip(R.SHOEBOX_WALLS, absorption)}
    return R.shoebox(ROOM_DIMS, ROOM_SRC, ROOM_RCV, materials=mats, fs=fs)


def shared_data(*parts):
    """Path under ../shared/data (present in CI beside the checkout), or None."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(here, "..", "shared", "data", *parts)
    return path if os.path.exists(path) else None
