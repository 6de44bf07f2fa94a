"""Reconstruction from photographs (``penumbra reconstruct --photos --cameras``) on a photo set the test
writes itself: an ellipsoid rendered by Mitsuba's ``path`` integrator from a ring of cameras, saved as
RGBA PNGs (alpha = coverage), calibrated once as a COLMAP text model and once as a transforms.json.
Also the remeshing step and the coloured mesh writer."""
import json
import os

import numpy as np
import pytest

from penumbra.cli import main

from tests.photo_set_lib import write_photo_set

AXES = np.array([0.9, 0.6, 0.5])     # the ellipsoid's semi-axes
COLOUR = (0.7, 0.4, 0.2)


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory):
    """Folder with the photos of a uniformly coloured ellipsoid under a uniform sky of radiance 1,
    ``model/`` (COLMAP text) and ``photos/transforms.json`` (:func:`tests.photo_set_lib.write_photo_set`)."""
    import mitsuba as mi

    from penumbra.renderer import ensure_variant
    from penumbra.scenes import builders, mesh_from_arrays
    ensure_variant()
    V, F = builders.icosphere(3)
    return write_photo_set(tmp_path_factory.mktemp("photoset"), {
        "sky": builders.constant_environment(1.0),
        "obj": mesh_from_arrays(np.asarray(V) * AXES, F, bsdf=mi.load_dict(builders.diffuse(COLOUR)))})


FAST = ["--res", "32", "--steps", "4", "--stages", "2", "--views-per-step", "1", "--spp", "2",
        "--subdivisions", "2", "--max-edge-px", "1", "--hull-resolution", "24", "--turntable", "2", "--quiet", "--lr", "0.02"]


def run_colmap(photo_set, out, *extra):
    return main(["reconstruct", "--photos", str(photo_set / "photos"), "--cameras", str(photo_set / "model"),
                 "--masks", "alpha", "--held-out", "every:3", "--out", out, *FAST, *extra])


def test_reconstruct_from_a_colmap_photo_set(photo_set, tmp_path):
    """The command on the COLMAP model from the star-shaped hull mesh (--init star: a coarse icosphere
    that the remeshing subdivides): all outputs; the start already matches the held-out silhouettes
    (IoU > 0.8; the true ellipsoid scores 0.92-0.96 at this film size) and the fit keeps them; the
    mesh is subdivided between the 2 stages and written with its colours. The marching-cubes start
    (the default, --init hull) has its own tests below and the temple's slow test."""
    out = str(tmp_path / "out")
    assert run_colmap(photo_set, out, "--init", "star") == 0
    for f in ["mesh.ply", "mesh.obj", "views.png", "views/00_img0.png", "turntable.gif", "turntable.png",
              "loss.png", "loss.json", "report.json", "stages/0/result.npz", "stages/1/result.npz"]:
        assert os.path.getsize(os.path.join(out, f)) > 100, f
    rep = json.load(open(os.path.join(out, "report.json")))
    print(rep["initial"], rep["final"], rep["stages"], rep["seconds"])
    assert rep["final"]["held_out"]["views"] == 2 and rep["final"]["train"]["views"] == 4
    assert rep["initial"]["held_out"]["iou"] > 0.8 and rep["final"]["held_out"]["iou"] > 0.8
    assert rep["stages"][1]["faces"] == 4 * rep["stages"][0]["faces"]
    from penumbra.scenes import load_mesh
    from penumbra.scenes.meshes import mesh_arrays
    V, F = mesh_arrays(load_mesh(os.path.join(out, "mesh.ply")))
    assert len(F) == rep["faces"] and len(V) == rep["vertices"]


@pytest.mark.slow
def test_reconstruct_improves_and_resumes(photo_set, tmp_path):
    """From the hull box's ellipsoid (--init ellipsoid; the hull start is already within noise of
    the fit), 40 steps: the loss falls and the held-out silhouette IoU rises; a second run with
    --resume reads the finished stages back instead of recomputing them."""
    out = str(tmp_path / "out")
    args = ["--steps", "40", "--views-per-step", "2", "--init", "ellipsoid"]
    assert run_colmap(photo_set, out, *args) == 0
    rep = json.load(open(os.path.join(out, "report.json")))
    loss = json.load(open(os.path.join(out, "loss.json")))["loss"]
    print(rep["initial"], rep["final"], rep["seconds"], loss[:5], loss[-5:])
    assert np.mean(loss[-5:]) < np.mean(loss[:5])
    assert rep["final"]["held_out"]["iou"] > rep["initial"]["held_out"]["iou"] + 0.02
    assert run_colmap(photo_set, out, *args, "--resume") == 0
    assert json.load(open(os.path.join(out, "loss.json")))["loss"] == loss


def test_transforms_json_gives_the_same_cameras_and_hull(photo_set):
    """The same cameras written as a transforms.json: the same films, targets and visual hull."""
    from penumbra.photo_reconstruction import visual_hull
    from penumbra.scenes.photo_set import load_photo_set
    a = load_photo_set(str(photo_set / "photos"), str(photo_set / "photos" / "transforms.json"), 32,
                       held_out="every:3")
    b = load_photo_set(str(photo_set / "photos"), str(photo_set / "model"), 32, held_out="every:3")
    assert [pv.view.name for pv in a] == [pv.view.name for pv in b]
    for pa, pb in zip(a, b):
        assert np.allclose(pa.view.K, pb.view.K) and np.allclose(pa.view.R, pb.view.R, atol=1e-9)
        assert np.allclose(pa.image, pb.image, atol=1e-6) and np.allclose(pa.mask, pb.mask, atol=1e-6)
    ha = visual_hull([pv for pv in a if not pv.held_out], 24)
    hb = visual_hull([pv for pv in b if not pv.held_out], 24)
    assert np.array_equal(ha[0], hb[0]) and np.allclose(ha[1], hb[1])
    # the hull contains the ellipsoid's centre and spans about its axes (a bit more: 4 views)
    idx = np.argwhere(ha[0])
    lo, hi = ha[1] + idx.min(axis=0) * ha[2], ha[1] + (idx.max(axis=0) + 1) * ha[2]
    assert np.all(lo < -0.9 * AXES) and np.all(hi > 0.9 * AXES) and np.all(hi - lo < 2.4 * AXES)


@pytest.mark.slow
def test_uniform_albedo_and_sky(photo_set):
    """(Slow: its kernels differ from the default test's; 5 s warm, ~100 s with a cold kernel cache at
    load 13.) --albedo uniform --lighting sky through the Python API (transforms.json, nothing written): one
    RGB albedo for all vertices, close to the rendered colour (it starts at the photos' median inside
    the masks, under a sky of radiance 1), and the sky radiance is a fitted, positive parameter."""
    import penumbra as pn
    r = pn.reconstruct_photos(str(photo_set / "photos"), str(photo_set / "photos" / "transforms.json"), None,
                              width=32, held_out="every:3", steps=2, stages=1, views_per_step=1, spp=2,
                              subdivisions=2, hull_resolution=16, turntable=0, progress=False, albedo="uniform",
                              lighting="sky")
    assert np.ptp(r.albedo, axis=0).max() == 0 and np.allclose(r.albedo[0], COLOUR, atol=0.05)
    assert r.sky.shape == (3,) and np.all(r.sky > 0) and not np.allclose(r.sky, 1.0)
    with pytest.raises(ValueError, match="albedo must be one of"):
        pn.reconstruct_photos(str(photo_set / "photos"), str(photo_set / "model"), None, albedo="image")


def test_photo_errors_are_clear(photo_set, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["reconstruct", "--photos", str(photo_set / "photos"), "--out", out]) == 1
    assert "--photos and --cameras go together" in capsys.readouterr().err
    assert main(["reconstruct", "--photos", str(tmp_path), "--cameras", str(photo_set / "model"), "--out", out]) == 1
    assert "does not match the photos" in capsys.readouterr().err
    assert main(["reconstruct", "--photos", str(photo_set / "photos"), "--cameras", str(photo_set / "model"),
                 "--masks", "threshold:2", "--out", out]) == 1
    assert "mask option 'threshold:2'" in capsys.readouterr().err


def test_subdivide_and_refine():
    """Midpoint subdivision: 4x the faces, V + E vertices, the surface unchanged (vertices on the old
    edges), attributes interpolated; refine stops at the edge target or the face budget."""
    from penumbra.optim.remesh import edge_lengths, refine, subdivide, unique_edges
    from penumbra.scenes.builders import icosphere
    V, F = icosphere(1)
    V, F = np.asarray(V), np.asarray(F)
    E = len(unique_edges(F)[0])
    V2, F2, A2 = subdivide(V, F, V[:, :1])
    assert F2.shape == (4 * len(F), 3) and len(V2) == len(V) + E == len(A2)
    assert np.allclose(A2[:, 0], V2[:, 0]) and np.allclose(V2[: len(V)], V)
    assert edge_lengths(V2, F2).mean() == pytest.approx(0.5 * edge_lengths(V, F).mean(), rel=0.05)
    V3, F3, n = refine(V, F, max_edge=0.2 * edge_lengths(V, F).mean(), max_faces=10 ** 6)
    assert n == 3 and len(F3) == 64 * len(F)
    assert refine(V, F, max_edge=1e-6, max_faces=len(F) * 4)[2] == 1
    with pytest.raises(ValueError, match="max_edge must be > 0"):
        refine(V, F, 0.0, 100)


def test_save_mesh_with_colours(tmp_path):
    from penumbra.scenes import load_mesh, save_mesh
    from penumbra.scenes.builders import icosphere
    from penumbra.scenes.meshes import mesh_arrays
    V, F = icosphere(1)
    C = np.random.default_rng(0).random((len(V), 3))
    save_mesh((V, F), tmp_path / "m.ply", colors=C)
    save_mesh((V, F), tmp_path / "m.obj", colors=C)
    V2, F2 = mesh_arrays(load_mesh(tmp_path / "m.ply"))
    assert np.allclose(V2, V, atol=1e-6) and np.array_equal(F2, F)
    rows = [line.split() for line in open(tmp_path / "m.obj") if line.startswith("v ")]
    assert np.allclose(np.array(rows, dtype=object)[:, 4:].astype(float), C, atol=1e-5)
    with pytest.raises(ValueError, match="colors must be finite and of shape"):
        save_mesh((V, F), tmp_path / "x.ply", colors=C[:3])


def torus_occupancy(n=24, major=7.0, minor=3.5):
    """Voxel grid (n^3, unit voxels from the origin) of a solid torus about the z axis (genus 1)."""
    x = np.arange(n) + 0.5
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    c = n / 2
    return np.hypot(np.hypot(X - c, Y - c) - major, Z - c) < minor


def test_hull_surface_has_the_hulls_genus_and_even_edges():
    """Marching cubes + isotropic remeshing of a solid torus: a closed mesh of genus 1 (Euler
    characteristic V - E + F = 0, every edge shared by two faces), outward-facing (positive signed
    volume, within 15 % of the torus' 2 pi^2 R r^2), mean edge within 15 % of the target."""
    pytest.importorskip("skimage", reason="init='hull' needs scikit-image (the photos extra)")
    pytest.importorskip("gpytoolbox", reason="isotropic remeshing needs gpytoolbox (the photos extra)")
    from penumbra.optim.remesh import edge_lengths, unique_edges
    from penumbra.photo_reconstruction import hull_surface
    V, F = hull_surface(torus_occupancy(), np.zeros(3), 1.0, edge=1.5)
    edges, fe = unique_edges(F)
    assert len(V) - len(edges) + len(F) == 0
    assert np.all(np.bincount(fe.ravel(), minlength=len(edges)) == 2)
    volume = np.einsum("ij,ij->i", V[F[:, 0]], np.cross(V[F[:, 1]], V[F[:, 2]])).sum() / 6
    assert volume == pytest.approx(2 * np.pi ** 2 * 7.0 * 3.5 ** 2, rel=0.15)
    assert edge_lengths(V, F).mean() == pytest.approx(1.5, rel=0.15)


def test_remesh_isotropic_reaches_the_edge_length():
    pytest.importorskip("gpytoolbox", reason="isotropic remeshing needs gpytoolbox (the photos extra)")
    from penumbra.optim.remesh import edge_lengths, remesh_isotropic
    from penumbra.scenes.builders import icosphere
    V, F = icosphere(2)
    target = 0.5 * edge_lengths(V, F).mean()
    V2, F2 = remesh_isotropic(V, F, target)
    assert edge_lengths(V2, F2).mean() == pytest.approx(target, rel=0.15)
    assert np.allclose(np.linalg.norm(V2, axis=1), 1.0, atol=0.02)      # projected onto the input surface
    with pytest.raises(ValueError, match="edge must be > 0"):
        remesh_isotropic(V, F, 0.0)


def test_hull_start_falls_back_to_the_star_mesh_without_scikit_image(monkeypatch):
    """init='hull' without scikit-image warns and gives the icosphere shrunk onto the hull."""
    import sys

    from penumbra.photo_reconstruction import initial_mesh
    occ = torus_occupancy()
    star = initial_mesh(occ, np.zeros(3), 1.0, 2, "star")
    monkeypatch.setitem(sys.modules, "skimage", None)
    with pytest.warns(UserWarning, match="needs scikit-image"):
        V, F = initial_mesh(occ, np.zeros(3), 1.0, 2, "hull")
    assert np.allclose(V, star[0]) and np.array_equal(F, star[1])


def test_visual_hull_keeps_or_fills_mask_holes(photo_set):
    """A hole punched into every training mask carves a tunnel through the hull with
    holes='keep' (fewer voxels) and changes nothing with holes='fill' (the same voxel count)."""
    import dataclasses

    from penumbra.photo_reconstruction import visual_hull
    from penumbra.scenes.photo_set import load_photo_set
    views = [pv for pv in load_photo_set(str(photo_set / "photos"), str(photo_set / "model"), 32, held_out="every:3")
             if not pv.held_out]
    punched = []
    for pv in views:
        m = pv.mask.copy()
        yy, xx = np.nonzero(m > 0.5)
        y, x = int(round(yy.mean())), int(round(xx.mean()))
        m[y - 1: y + 2, x - 1: x + 2] = 0.0
        punched.append(dataclasses.replace(pv, mask=m))
    whole = visual_hull(views, 24)
    keep = visual_hull(punched, 24, holes="keep")
    fill = visual_hull(punched, 24, holes="fill")
    print(whole[0].sum(), fill[0].sum(), keep[0].sum())
    # (the hole shifts the masks' centroids, which place the grid: fill matches whole up to that shift)
    assert abs(int(fill[0].sum()) - int(whole[0].sum())) < 0.02 * whole[0].sum()
    assert keep[0].sum() < 0.95 * whole[0].sum()
    with pytest.raises(ValueError, match="holes must be one of"):
        visual_hull(views, 24, holes="open")
