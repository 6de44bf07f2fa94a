"""Shape reconstruction from real calibrated photographs: the Middlebury "templeSparseRing" set
(Seitz, Curless, Diebel, Scharstein, Szeliski, "A Comparison and Evaluation of Multi-View Stereo
Reconstruction Algorithms", CVPR 2006; 16 photos 640x480 on a ring, projection K [R t]).

Cameras: Mitsuba's ``perspective`` sensor has its principal point at the film centre and square
pixels, and ``edge_sampling`` rejects principal-point offsets, so each photo is resampled (PIL box
filter over a sub-pixel source window) to a window centred on (cx, cy) whose height is scaled by
fy / fx; the field of view follows from fx and the window width. Checked by projecting the object's
bounding-box corners with K [R t] and with Mitsuba's sensor. Silhouettes: the temple sits on a dark
background, so a grey-level threshold inside the projected bounding box.

The reconstruction starts from an ellipsoid in the bounding box and optimizes vertex positions
(Large Steps) and a grey reflectance through ``edge_sampling`` against silhouette + shading targets
(photo grey levels inside the mask, 0 outside; the renderer lights the object with a hidden uniform
sky, so the background is black as in the photos). Training uses the even views; the silhouette IoU
is measured on the odd (held-out) views. Skipped when ../shared/data is absent.
"""
import os

import numpy as np
import pytest

from penumbra.scenes.middlebury import read_middlebury
from tests.scenes_lib import shared_data

DATA = shared_data("middlebury", "templeSparseRing")
pytestmark = pytest.mark.skipif(DATA is None, reason="Middlebury templeSparseRing data not found in ../shared/data")

BBOX = np.array([[-0.073568, 0.021728, -0.012445], [0.028855, 0.181892, 0.062736]])  # from its README.txt
PHOTO_W, PHOTO_H = 640, 480
THRESHOLD = 0.2  # sRGB level of the brightest channel separating the temple from the dark background


def read_calibration(path):
    """[(image name, K (3, 3), R (3, 3), t (3,))] from ``templeSR_par.txt`` (scenes.middlebury)."""
    return [(v.name, v.K, v.R, v.t) for v in read_middlebury(path, image_size=(PHOTO_W, PHOTO_H))]


def source_window(K, width: int, height: int):
    """(x0, y0, x1, y1) in PIL pixel-edge coordinates of the photo window mapped onto a
    width x height film centred on the principal point with square pixels, and the film's focal
    length in pixels. K follows the usual convention (pixel centres at integer coordinates)."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2] + 0.5, K[1, 2] + 0.5
    a = min(cx, PHOTO_W - cx)          # half-width in photo pixels
    f = fx * width / (2 * a)           # focal length on the film
    b = height * fy / (2 * f)          # half-height in photo pixels giving square film pixels
    if b > min(cy, PHOTO_H - cy):
        raise ValueError(f"film aspect {width}x{height} needs {2 * b:.0f} photo rows around cy={cy:.1f}")
    return (cx - a, cy - b, cx + a, cy + b), f


def sensor_dict(K, R, t, width: int, height: int, spp: int = 4):
    """Mitsuba perspective sensor reproducing K [R t] on the resampled film."""
    import mitsuba as mi
    _, f = source_window(K, width, height)
    # OpenCV camera: x right, y down, z forward; Mitsuba's: x left, y up, z forward
    S = np.diag([-1.0, -1.0, 1.0])
    world_to_cam = np.eye(4)
    world_to_cam[:3, :3], world_to_cam[:3, 3] = S @ R, S @ t
    return {"type": "perspective", "fov_axis": "x", "fov": float(np.degrees(2 * np.arctan(width / (2 * f)))),
            "near_clip": 0.05, "far_clip": 10.0,
            "to_world": mi.ScalarTransform4f(np.linalg.inv(world_to_cam).tolist()),
            "sampler": {"type": "independent", "sample_count": spp},
            "film": {"type": "hdrfilm", "width": width, "height": height, "pixel_format": "rgb",
                     "rfilter": {"type": "box"}, "sample_border": True}}


def project_krt(K, R, t, X, width, height):
    """Film coordinates (pixel edges at integers) of world points X through K [R t] + resampling."""
    (x0, y0, x1, y1), _ = source_window(K, width, height)
    p = (K @ (X @ R.T + t).T).T
    uv = p[:, :2] / p[:, 2:] + 0.5  # to pixel-edge coordinates
    return np.stack([(uv[:, 0] - x0) * width / (x1 - x0), (uv[:, 1] - y0) * height / (y1 - y0)], axis=1)


def bbox_corners():
    return np.array([[BBOX[i, 0], BBOX[j, 1], BBOX[k, 2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)])


def load_view(name, K, width, height):
    """(linear RGB photo resampled to the film, coverage mask in [0, 1] of the temple)."""
    from PIL import Image

    from penumbra import renderer
    box, _ = source_window(K, width, height)
    img = Image.open(os.path.join(DATA, name)).convert("RGB")
    full = renderer.srgb_to_linear(np.asarray(img, np.float32) / 255.0)
    mask = (np.asarray(img, np.float32).max(axis=2) / 255.0 > THRESHOLD).astype(np.float32)
    resample = Image.Resampling.BOX
    photo = np.stack([np.asarray(Image.fromarray(full[..., c]).resize((width, height), resample, box=box))
                      for c in range(3)], axis=-1)
    cover = np.asarray(Image.fromarray(mask).resize((width, height), resample, box=box))
    return photo, cover


def setup(views, width, height, spp=4):
    """Sensors, photos and masks of the chosen views; masks are cleaned with the projected bbox."""
    import drjit as dr
    import mitsuba as mi
    from matplotlib.path import Path
    from scipy.spatial import ConvexHull
    cal = read_calibration(os.path.join(DATA, "templeSR_par.txt"))
    sensors, photos, masks = [], [], []
    yx = np.mgrid[0:height, 0:width].reshape(2, -1).T + 0.5
    for v in views:
        name, K, R, t = cal[v]
        sensor = mi.load_dict(sensor_dict(K, R, t, width, height, spp))
        photo, cover = load_view(name, K, width, height)
        corners = project_krt(K, R, t, bbox_corners(), width, height)
        hull = Path(corners[ConvexHull(corners).vertices])
        inside = hull.contains_points(yx[:, ::-1], radius=1.0).reshape(height, width)
        mask = (cover > 0.5) & inside
        sensors.append(sensor)
        photos.append(photo)
        masks.append(mask)
    dr.eval()
    return cal, sensors, photos, masks


def test_cameras_reproduce_the_calibration():
    """Mitsuba's sensor projects the bounding-box corners where K [R t] does (to 0.01 film pixels)."""
    import mitsuba as mi
    cal = read_calibration(os.path.join(DATA, "templeSR_par.txt"))
    assert len(cal) == 16
    X = bbox_corners()
    for name, K, R, t in cal:
        sensor = mi.load_dict(sensor_dict(K, R, t, 64, 48))
        it = mi.Interaction3f()
        it.p = mi.Point3f(*[mi.Float(X[:, i].astype(np.float32)) for i in range(3)])
        ds, w = sensor.sample_direction(it, mi.Point2f(0.5))
        uv = np.stack([np.array(ds.uv.x), np.array(ds.uv.y)], axis=1)
        expected = project_krt(K, R, t, X, 64, 48)
        assert np.all(np.array(w.x) > 0), name
        assert np.abs(uv - expected).max() < 1e-2, (name, uv, expected)


def reconstruct_temple(width, height, steps, views_per_step=4, spp=4, subdivisions=3, lr=0.01, out_dir=None):
    """Fit an ellipsoid to the even views; returns IoU (initial, final) on the odd and even views."""
    import mitsuba as mi

    from penumbra import integrators  # noqa: F401  (registers edge_sampling)
    from penumbra.jobs.reconstruct import fit, iou, silhouettes
    from penumbra.scenes import ParameterMap, builders, load_scene, mesh_from_arrays
    train, held_out = list(range(0, 16, 2)), list(range(1, 16, 2))
    _, sensors, photos, masks = setup(range(16), width, height, spp)
    center, half = BBOX.mean(axis=0), 0.5 * np.ptp(BBOX, axis=0)
    V0, F0 = builders.icosphere(subdivisions)
    V0 = center + 0.9 * half * V0
    d = {"type": "scene",
         "integrator": {"type": "edge_sampling", "max_depth": 2, "edge_spp": 4, "hide_emitters": True},
         "sky": builders.constant_environment(1.0),
         "temple": mesh_from_arrays(V0, F0, face_normals=True, bsdf=mi.load_dict(builders.diffuse(0.3)))}
    for i in train:
        d[f"view{i}"] = sensors[i]
    scene = load_scene(d)
    params = ParameterMap(scene)
    # silhouette + shading: the photo inside the mask, floored at half its median there, so that
    # shadowed parts of the temple (which the uniform sky cannot reproduce) still read as object
    targets = []
    for i in train:
        floor = 0.5 * np.median(photos[i][masks[i]], axis=0)
        targets.append(np.where(masks[i][..., None], np.maximum(photos[i], floor), 0.0))

    def scores(V):
        s = silhouettes(V, F0, sensors)
        return {"held_out": float(np.mean([iou(s[i], masks[i]) for i in held_out])),
                "train": float(np.mean([iou(s[i], masks[i]) for i in train]))}

    before = scores(V0)
    result = fit(scene, params, "temple", targets, F0, steps, views_per_step, spp, lambda_=20.0, lr=lr,
                 lr_reflectance=0.05, out_dir=out_dir, progress=False, description="temple")
    V1 = np.array(params["temple.vertex_positions"]).reshape(-1, 3)
    after = scores(V1)
    return before, after, result


@pytest.mark.slow
def test_temple_silhouettes_improve():
    """40 steps (4 views each) at 48x36 from 8 views: held-out silhouette IoU improves by >= 0.05."""
    before, after, result = reconstruct_temple(48, 36, steps=40, lr=0.015)
    print(f"held-out IoU {before['held_out']:.3f} -> {after['held_out']:.3f}, "
          f"train {before['train']:.3f} -> {after['train']:.3f}, {result.seconds:.1f} s")
    # measured: held-out 0.548 -> 0.653, train 0.518 -> 0.630 (~20 s, quiet machine). With 20 steps
    # the outcome depended on the random streams: 0.57-0.64 held out across equally unbiased
    # variants of the primary edge sampler, so 20 steps left no margin.
    assert np.mean(result.history[-5:]) < 0.9 * np.mean(result.history[:5])
    assert after["held_out"] > before["held_out"] + 0.05
    assert after["train"] > before["train"] + 0.05


@pytest.mark.slow
def test_temple_silhouettes_improve_long(tmp_path):
    """120 steps at 64x48: held-out silhouette IoU improves by >= 0.12 (measured 0.545 -> 0.761, 280 s)."""
    before, after, result = reconstruct_temple(64, 48, steps=120, lr=0.01, out_dir=str(tmp_path))
    print(f"held-out IoU {before['held_out']:.3f} -> {after['held_out']:.3f}, "
          f"train {before['train']:.3f} -> {after['train']:.3f}, {result.seconds:.1f} s")
    assert after["held_out"] > before["held_out"] + 0.12


@pytest.mark.slow
def test_temple_through_the_photo_command(tmp_path):
    """The product path on the real set: ``penumbra reconstruct --photos --cameras templeSR_par.txt``
    with the threshold mask, the odd views held out (every:2), film 64 px wide (principal point kept,
    no resampling workaround), the marching-cubes start from the visual hull carved with the masks'
    holes kept (the see-through gaps between the columns; needs the photos extra), 2 stages.
    Measured: held-out IoU 0.879 -> 0.894, PSNR 21.9 -> 26.6 dB (411 s at load ~8; 0.891 in 285 s
    in a second run). The star-shaped
    genus-0 start (--init star) reached 0.81: the hole-filled masks score only 0.89 against the masks."""
    pytest.importorskip("skimage", reason="the marching-cubes start needs scikit-image (penumbra[photos])")
    import json

    from penumbra.cli import main
    out = str(tmp_path / "temple")
    rc = main(["reconstruct", "--photos", DATA, "--cameras", os.path.join(DATA, "templeSR_par.txt"),
               "--masks", "threshold:0.2", "--held-out", "every:2", "--res", "64", "--steps", "120",
               "--stages", "2", "--turntable", "8", "--quiet", "--out", out])
    assert rc == 0
    rep = json.load(open(os.path.join(out, "report.json")))
    print(rep["initial"], rep["final"], rep["stages"], rep["seconds"])
    assert rep["final"]["held_out"]["views"] == 8
    assert rep["final"]["held_out"]["iou"] >= 0.85
    assert rep["final"]["held_out"]["iou"] > rep["initial"]["held_out"]["iou"]
    assert rep["final"]["held_out"]["psnr"] > rep["initial"]["held_out"]["psnr"] + 2.0
