"""``reconstruct --photos`` with ``--albedo texture`` (UV atlas, bitmap texture, OBJ + MTL + PNG) and
``--lighting envmap`` (a low-resolution environment map with a smoothness prior), on photo sets the
tests render themselves (:mod:`tests.photo_set_lib`)."""
import json
import os

import numpy as np
import pytest

from tests.photo_set_lib import write_photo_set

RADIUS = 0.8
# the two colours (linear albedo), each channel above the targets' shadow floor (half the median)
WARM, COOL = np.array([0.8, 0.35, 0.3]), np.array([0.3, 0.4, 0.8])

TINY = dict(width=32, held_out="every:3", stages=1, views_per_step=2, spp=2, hull_resolution=24,
            max_edge_px=1.5, turntable=0, progress=False, init="hull")


def two_colour(P):
    """The true albedo at points P: WARM where x > 0, COOL elsewhere (both halves face the ring of cameras)."""
    return np.where(np.asarray(P)[:, 0:1] > 0, WARM, COOL)


@pytest.fixture(scope="module")
def two_colour_set(tmp_path_factory):
    """A sphere of radius RADIUS whose half x > 0 has albedo WARM and the other half COOL (vertex colours
    of a level-5 icosphere, a sharp border), under a uniform sky of radiance 1."""
    import mitsuba as mi

    from penumbra.renderer import ensure_variant
    from penumbra.scenes import builders, mesh_from_arrays
    ensure_variant()
    V, F = builders.icosphere(5)
    V = RADIUS * np.asarray(V)
    bsdf = mi.load_dict({"type": "diffuse", "reflectance": {"type": "mesh_attribute", "name": "vertex_color"}})
    mesh = mesh_from_arrays(V, F, name="obj", bsdf=bsdf)
    mesh.add_attribute("vertex_color", 3, mi.Float(two_colour(V).astype(np.float32).ravel()))
    return write_photo_set(tmp_path_factory.mktemp("twocolour"), {"sky": builders.constant_environment(1.0),
                                                                   "obj": mesh})


@pytest.fixture(scope="module")
def directional_set(tmp_path_factory):
    """A grey sphere lit by a directional light from above-side plus a dim uniform sky."""
    import mitsuba as mi

    from penumbra.renderer import ensure_variant
    from penumbra.scenes import builders, mesh_from_arrays
    ensure_variant()
    V, F = builders.icosphere(4)
    mesh = mesh_from_arrays(RADIUS * np.asarray(V), F, name="obj", bsdf=mi.load_dict(builders.diffuse((0.6, 0.6, 0.6))))
    return write_photo_set(tmp_path_factory.mktemp("directional"), {
        "sky": builders.constant_environment(0.15),
        "sun": {"type": "directional", "direction": [-0.5, -0.8, -0.3], "irradiance": {"type": "rgb", "value": 2.5}},
        "obj": mesh})


def test_uv_atlas_subdivision_and_texture_lookups():
    """The atlas keeps the mesh's faces; subdividing it with the mesh keeps each face's texture map (the
    new corners' uv are the midpoints, and they copy the subdivided mesh's vertices); colours rasterized
    from a linear function of position come back at the vertices (bilinear lookups of a piecewise-linear
    texture), and the OBJ + MTL + PNG round trip through Mitsuba's OBJ loader and bitmap keeps
    positions, texture coordinates and texels (8-bit sRGB)."""
    pytest.importorskip("xatlas", reason="the UV atlas needs xatlas (pip install 'penumbra[photos]')")
    from penumbra.optim.remesh import subdivide
    from penumbra.photo_reconstruction import texture as T
    from penumbra.scenes import builders
    V, F = builders.icosphere(2)
    V, F = np.asarray(V, np.float64), np.asarray(F, np.int64)
    at = T.uv_atlas(V, F, 128)
    assert np.array_equal(at.vertex[at.faces], F) and at.uv.min() >= 0 and at.uv.max() <= 1
    V2, F2 = subdivide(V, F)
    at2 = T.subdivide_atlas(at, len(V), F, 1)
    assert np.array_equal(at2.vertex[at2.faces], F2)
    assert np.allclose(at2.uv[at2.faces[len(F):2 * len(F), 0]],
                       0.5 * (at.uv[at.faces[:, 0]] + at.uv[at.faces[:, 1]]))
    colours = 0.5 + 0.4 * V                      # linear in position: exact on every chart
    tex = T.texture_from_vertex_colours(at, colours, 128)
    assert np.abs(T.vertex_colours(at, tex, len(V)) - colours).max() < 0.03


def test_textured_obj_round_trip(tmp_path):
    pytest.importorskip("xatlas", reason="the UV atlas needs xatlas (pip install 'penumbra[photos]')")
    import mitsuba as mi
    from scipy.spatial import cKDTree

    from penumbra.photo_reconstruction import texture as T
    from penumbra.renderer import ensure_variant, srgb_to_linear
    from penumbra.scenes import builders
    ensure_variant()
    V, F = builders.icosphere(2)
    V = np.asarray(V, np.float64)
    at = T.uv_atlas(V, F, 64)
    tex = T.texture_from_vertex_colours(at, two_colour(V), 64)
    obj, mtl, png = T.write_textured_obj(str(tmp_path / "mesh.obj"), V, at, tex)
    assert "map_Kd mesh.png" in open(mtl).read()
    params = mi.traverse(mi.load_dict({"type": "obj", "filename": obj}))
    P = np.array(params["vertex_positions"]).reshape(-1, 3)
    uv = np.array(params["vertex_texcoords"]).reshape(-1, 2)
    dist, _ = cKDTree(np.concatenate([V[at.vertex], at.uv], 1)).query(np.concatenate([P, uv], 1))
    assert len(P) == len(at.uv) and dist.max() < 1e-5
    back = srgb_to_linear(np.array(mi.Bitmap(png)) / 255.0)
    _, covered = T.rasterize(at, np.zeros((len(at.uv), 1)), 64)
    assert np.abs(back - tex)[covered].max() < 0.02


def test_texture_albedo_recovers_two_colours(two_colour_set, tmp_path):
    """--albedo texture through the Python API (10 steps from the texture projected from the photos,
    with --lighting envmap, whose fit under this uniform sky must not spoil the albedo): the recovered
    texture, looked up at the mesh's vertices, is much closer to the true two-colour albedo than the
    best constant (the mean colour); mesh.obj/.mtl/.png, mesh.ply and envmap.exr/.png are written."""
    pytest.importorskip("xatlas", reason="the UV atlas needs xatlas (pip install 'penumbra[photos]')")
    pytest.importorskip("skimage", reason="the hull start needs scikit-image (pip install 'penumbra[photos]')")
    import penumbra as pn
    out = str(tmp_path / "out")
    r = pn.reconstruct_photos(str(two_colour_set / "photos"), str(two_colour_set / "model"), out, steps=10,
                              albedo="texture", texture_res=64, lighting="envmap", checkpoint_every=0, **TINY)
    truth = two_colour(r.vertices)
    err_texture = np.abs(r.albedo - truth).mean()
    err_constant = np.abs(truth.mean(axis=0) - truth).mean()
    print(r.report["final"], r.report["seconds"], err_texture, err_constant)
    assert r.texture.shape == (64, 64, 3) and r.atlas is not None
    assert err_texture < 0.6 * err_constant
    assert r.envmap.shape == (8, 16, 3) and np.all(r.envmap > 0)
    for f in ("mesh.obj", "mesh.png", "mesh.ply", "report.json", "envmap.exr", "envmap.png"):
        assert os.path.getsize(os.path.join(out, f)) > 100, f
    assert "map_Kd mesh.png" in open(os.path.join(out, "mesh.mtl")).read()
    assert json.load(open(os.path.join(out, "report.json")))["albedo"] == "texture"


def test_envmap_helpers():
    """Mitsuba's envmap layout (one wrapped column each side) built by envmap_data equals the one
    Mitsuba makes from the same bitmap; the smoothness prior is 0 for a uniform map, positive
    otherwise, and its gradient matches central finite differences."""
    import drjit as dr
    import mitsuba as mi

    from penumbra.photo_reconstruction import lighting as L
    from penumbra.renderer import ensure_variant
    ensure_variant()
    E = np.random.default_rng(1).uniform(0.2, 2.0, (4, 8, 3)).astype(np.float32)
    ref = np.array(mi.traverse(mi.load_dict({"type": "envmap", "bitmap": mi.Bitmap(E)}))["data"])
    assert np.allclose(np.array(L.envmap_data(mi.TensorXf(E))), ref)
    assert float(L.smoothness(mi.TensorXf(L.initial_envmap(8, [0.3, 0.5, 0.7]).astype(np.float32)))[0]) == 0
    x = mi.TensorXf(E)
    dr.enable_grad(x)
    s = L.smoothness(x)
    dr.backward(s)
    g = np.array(dr.grad(x)).ravel()
    Ef = E.astype(np.float64).ravel()

    def prior(e):
        e = np.log(e.reshape(4, 8, 3))
        return np.mean(np.concatenate([((e - np.roll(e, -1, axis=1)) ** 2).ravel(), ((e[:-1] - e[1:]) ** 2).ravel()]))
    for i in (0, 17, 50, 95):
        h = 1e-4 * Ef[i]
        a, b = Ef.copy(), Ef.copy()
        a[i] += h
        b[i] -= h
        assert g[i] == pytest.approx((prior(a) - prior(b)) / (2 * h), rel=2e-2, abs=1e-6)
    with pytest.raises(ValueError, match="envmap width"):
        L.initial_envmap(5, 1.0)


@pytest.mark.slow
def test_envmap_fits_directional_light_better_than_a_uniform_sky(directional_set, tmp_path):
    """On a sphere lit by a directional light, with one albedo value (so that shading cannot be baked
    into the albedo): with the same 20 steps, the final shading loss and the training PSNR are better
    with --lighting envmap than with --lighting sky (measured: loss 0.025 vs 0.032, PSNR 26.4 vs 22.9 dB)."""
    import penumbra as pn
    runs = {}
    for lighting in ("sky", "envmap"):
        out = str(tmp_path / lighting)
        runs[lighting] = pn.reconstruct_photos(str(directional_set / "photos"), str(directional_set / "model"), out,
                                               steps=20, lighting=lighting, albedo="uniform", lr_albedo=0.1,
                                               checkpoint_every=0,
                                               **TINY)
    loss = {k: np.mean(json.load(open(os.path.join(r.out_dir, "loss.json")))["loss"][-5:]) for k, r in runs.items()}
    psnr = {k: r.report["final"]["train"]["psnr"] for k, r in runs.items()}
    print(loss, psnr)
    assert loss["envmap"] < 0.9 * loss["sky"] and psnr["envmap"] > psnr["sky"] + 1.0


def test_texture_without_xatlas_is_a_clear_error(monkeypatch):
    import sys

    from penumbra.photo_reconstruction.texture import uv_atlas
    monkeypatch.setitem(sys.modules, "xatlas", None)
    with pytest.raises(ImportError, match=r"albedo='texture' needs .*xatlas.*penumbra\[photos\]"):
        uv_atlas(np.eye(3), np.array([[0, 1, 2]]), 64)


def test_stage_checkpoint_keeps_texture_and_envmap(tmp_path):
    """A finished stage's result.npz (what --resume reads back) holds the atlas, texture and envmap."""
    from penumbra.photo_reconstruction.lighting import initial_envmap
    from penumbra.photo_reconstruction.pipeline import load_stage, save_stage
    from penumbra.photo_reconstruction.scene import Model
    from penumbra.photo_reconstruction.texture import Atlas
    rng = np.random.default_rng(0)
    m = Model(rng.random((3, 3)), np.array([[0, 1, 2]]), rng.random((3, 3)), np.ones(3),
              Atlas(np.array([0, 1, 2, 2]), np.array([[0, 1, 3]]), rng.random((4, 2))), rng.random((8, 8, 3)),
              initial_envmap(4, [0.5, 1.0, 2.0]))
    save_stage(str(tmp_path / "result.npz"), m, [0.3, 0.2])
    back, history = load_stage(str(tmp_path / "result.npz"), Model(np.zeros((1, 3)), np.zeros((0, 3)), None, None))
    assert history == [0.3, 0.2]
    for name in ("vertices", "faces", "albedo", "sky", "texture", "envmap"):
        assert np.array_equal(getattr(back, name), getattr(m, name)), name
    for name in ("vertex", "faces", "uv"):
        assert np.array_equal(getattr(back.atlas, name), getattr(m.atlas, name)), name
