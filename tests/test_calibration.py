"""Calibration readers (COLMAP text and binary, transforms.json, Middlebury) and their Mitsuba sensors.

Each format is written from known K, R, t (off-centre principal point, fx != fy), read back, and
the Mitsuba sensor built from it must project world points to the pixel K [R | t] gives, to 0.05 px
(``Sensor.sample_direction``; the photo-to-film map is the exact scale of ``scenes.view_sensor``).
"""
import json
import os
import struct

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from penumbra.scenes.calibrated_view import CalibratedView
from penumbra.scenes.calibration import check_photos, detect_format, read_calibration
from penumbra.scenes.colmap import intrinsics
from penumbra.scenes.errors import CalibrationError
from penumbra.scenes.view_sensor import film_map, sensor_dict
from tests.scenes_lib import shared_data

W, H = 320, 240
K = np.array([[500.0, 0.0, 171.3], [0.0, 460.0, 101.7], [0.0, 0.0, 1.0]])  # pixel centres at integers
MIDDLEBURY = shared_data("middlebury", "templeSparseRing")


def ring_poses(n=4, radius=3.0):
    """World-to-camera (R, t) of n cameras on a ring looking at the origin (OpenCV axes)."""
    poses = []
    for i in range(n):
        a = 2 * np.pi * i / n
        c = np.array([radius * np.cos(a), 0.4 * (i - 1.5), radius * np.sin(a)])
        z = -c / np.linalg.norm(c)
        x = np.cross([0.0, 1.0, 0.0], z)
        x /= np.linalg.norm(x)
        R = np.stack([x, np.cross(z, x), z])
        poses.append((R, -R @ c))
    return poses


def points(n=20, seed=0):
    return np.random.default_rng(seed).uniform(-0.6, 0.6, (n, 3))


def expected_pixels(R, t, X, K=K):
    p = (X @ R.T + t) @ K.T
    return p[:, :2] / p[:, 2:]


def write_colmap_text(folder, poses, names):
    os.makedirs(folder, exist_ok=True)
    fx, fy, cx, cy = (float(v) for v in (K[0, 0], K[1, 1], K[0, 2] + 0.5, K[1, 2] + 0.5))  # COLMAP: corner origin
    with open(os.path.join(folder, "cameras.txt"), "w") as f:
        f.write("# Camera list with one line of data per camera:\n")
        f.write(f"7 PINHOLE {W} {H} {fx!r} {fy!r} {cx!r} {cy!r}\n")
    with open(os.path.join(folder, "images.txt"), "w") as f:
        f.write("# Image list with two lines of data per image:\n")
        for i, ((R, t), name) in enumerate(zip(poses, names)):
            x, y, z, w = Rotation.from_matrix(R).as_quat().tolist()
            t = t.tolist()
            f.write(f"{i + 1} {w!r} {x!r} {y!r} {z!r} {t[0]!r} {t[1]!r} {t[2]!r} 7 {name}\n")
            f.write(("" if i % 2 else "12.5 30.0 -1 40.0 50.0 3") + "\n")


def write_colmap_binary(folder, poses, names, model_id=1, params=None):
    os.makedirs(folder, exist_ok=True)
    params = params or [K[0, 0], K[1, 1], K[0, 2] + 0.5, K[1, 2] + 0.5]
    with open(os.path.join(folder, "cameras.bin"), "wb") as f:
        f.write(struct.pack("<Q", 1) + struct.pack("<iiQQ", 3, model_id, W, H) + struct.pack(f"<{len(params)}d", *params))
    with open(os.path.join(folder, "images.bin"), "wb") as f:
        f.write(struct.pack("<Q", len(poses)))
        for i, ((R, t), name) in enumerate(zip(poses, names)):
            x, y, z, w = Rotation.from_matrix(R).as_quat()
            f.write(struct.pack("<i4d3di", i + 1, w, x, y, z, *t, 3) + name.encode() + b"\0")
            f.write(struct.pack("<Q", 2) + struct.pack("<ddqddq", 1.0, 2.0, -1, 3.0, 4.0, 17))


def write_transforms(path, poses, names):
    G = np.diag([1.0, -1.0, -1.0])
    frames = []
    for (R, t), name in zip(poses, names):
        c2w = np.eye(4)
        c2w[:3, :3], c2w[:3, 3] = R.T @ G, -R.T @ t
        frames.append({"file_path": "./" + os.path.splitext(name)[0], "transform_matrix": c2w.tolist()})
    frames[-1]["fl_x"] = float(2 * K[0, 0])  # per-frame override
    data = {"fl_x": float(K[0, 0]), "fl_y": float(K[1, 1]), "cx": float(K[0, 2] + 0.5), "cy": float(K[1, 2] + 0.5),
            "w": W, "h": H,
            "frames": frames}
    with open(path, "w") as f:
        json.dump(data, f)


def write_middlebury(path, poses, names):
    with open(path, "w") as f:
        f.write(f"{len(poses)}\n")
        for (R, t), name in zip(poses, names):
            f.write(" ".join([name] + [repr(float(v)) for v in np.concatenate([K.ravel(), R.ravel(), t])]) + "\n")


def write_photos(folder, names, size=(W, H)):
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    for name in names:
        Image.new("RGB", size).save(os.path.join(folder, name))


def mitsuba_pixels(view, X, width, height=None):
    """Film pixels (corner coordinates) of world points X through Mitsuba's sensor of ``view``; NaN
    where ``sample_direction`` gives zero weight. Mitsuba 3.9 gives zero weight outside the film
    and also in a band |p_x| W columns / |p_y| H rows wide along one side of the film when the
    principal point is off-centre (its visibility rectangle ignores the offsets), hence the few
    points tolerated below."""
    import mitsuba as mi
    sensor = mi.load_dict(sensor_dict(view, width, height))
    it = mi.Interaction3f()
    it.p = mi.Point3f(*[mi.Float(X[:, i].astype(np.float32)) for i in range(3)])
    ds, w = sensor.sample_direction(it, mi.Point2f(0.5))
    uv = np.stack([np.array(ds.uv.x), np.array(ds.uv.y)], axis=1)
    return np.where((np.array(w.x) > 0)[:, None], uv, np.nan)


def check_views(views, poses, names, Ks=None):
    assert [v.name for v in views] == names
    X = points()
    for i, (v, (R, t)) in enumerate(zip(views, poses)):
        Kv = K if Ks is None else Ks[i]
        assert (v.width, v.height) == (W, H)
        np.testing.assert_allclose(v.K, Kv, atol=1e-9)
        np.testing.assert_allclose(v.R, R, atol=1e-9)
        np.testing.assert_allclose(v.t, t, atol=1e-9)
        fm = film_map(v, W)
        expected = fm.photo_to_film(expected_pixels(R, t, X, Kv))
        got = mitsuba_pixels(v, X, W)
        inside = np.all((expected > 0) & (expected < [fm.width, fm.height]), axis=1)
        assert np.all(np.isnan(got[~inside])) and np.isnan(got[inside]).sum() <= 2, (v.name, got, expected)
        err = np.nanmax(np.abs(got - expected)[inside])
        print(f"{v.name}: max reprojection error {err:.2e} px")
        assert err < 0.05, (v.name, err)


NAMES = ["a000.png", "a001.png", "a002.png", "a003.png"]


def test_colmap_text(tmp_path):
    poses = ring_poses()
    write_colmap_text(str(tmp_path / "sparse" / "0"), poses, NAMES)
    assert detect_format(str(tmp_path))[0] == "colmap"
    views = read_calibration(str(tmp_path))
    check_views(views, poses, NAMES)
    assert views[0].model == "PINHOLE"


def test_colmap_binary(tmp_path):
    poses = ring_poses()
    write_colmap_binary(str(tmp_path), poses, NAMES)
    views = read_calibration(str(tmp_path / "images.bin"))
    check_views(views, poses, NAMES)


def test_transforms_json(tmp_path):
    poses = ring_poses()
    write_transforms(str(tmp_path / "transforms.json"), poses, NAMES)
    write_photos(str(tmp_path), NAMES)  # file_path without extension resolves to the .png
    views = read_calibration(str(tmp_path / "transforms.json"))
    K2 = K.copy()
    K2[0, 0] *= 2
    check_views(views, poses, NAMES, Ks=[K, K, K, K2])


def test_transforms_json_camera_angle(tmp_path):
    R, t = ring_poses(1)[0]
    c2w = np.eye(4)
    c2w[:3, :3], c2w[:3, 3] = R.T @ np.diag([1.0, -1.0, -1.0]), -R.T @ t
    (tmp_path / "t.json").write_text(json.dumps({"camera_angle_x": 0.7, "w": 200, "h": 100,
                                                 "frames": [{"file_path": "x.png", "transform_matrix": c2w.tolist()}]}))
    (v,) = read_calibration(str(tmp_path / "t.json"))
    f = 100 / np.tan(0.35)
    np.testing.assert_allclose(v.K, [[f, 0, 99.5], [0, f, 49.5], [0, 0, 1]])


def test_middlebury(tmp_path):
    poses = ring_poses()
    write_middlebury(str(tmp_path / "set_par.txt"), poses, NAMES)
    write_photos(str(tmp_path), NAMES)
    views = read_calibration(str(tmp_path / "set_par.txt"))
    check_views(views, poses, NAMES)


def test_film_smaller_than_photo_and_square_film_pixels():
    """A 64-pixel film: the map scales x by W/w and y by W/w fx/fy, and Mitsuba agrees (0.01 film px)."""
    R, t = ring_poses(1)[0]
    v = CalibratedView("x", K, R, t, W, H)
    fm = film_map(v, 64)
    assert fm.height == round(H * 64 / W * K[0, 0] / K[1, 1])
    X = points()
    err = np.abs(mitsuba_pixels(v, X, 64) - fm.photo_to_film(expected_pixels(R, t, X))).max()
    assert err < 0.01, err


def test_ray_through_projected_pixel_hits_the_point():
    """Mitsuba's ray through the film position of X passes within 1e-4 of X (sample_ray)."""
    import mitsuba as mi
    R, t = ring_poses(1)[0]
    v = CalibratedView("x", K, R, t, W, H)
    X = points(8)
    uv = film_map(v, W).photo_to_film(expected_pixels(R, t, X))
    fm = film_map(v, W)
    sensor = mi.load_dict(sensor_dict(v, W))
    pos = mi.Point2f(mi.Float((uv[:, 0] / fm.width).astype(np.float32)), mi.Float((uv[:, 1] / fm.height).astype(np.float32)))
    ray, _ = sensor.sample_ray(0.0, 0.5, pos, mi.Point2f(0.5))
    o = np.stack([np.array(c) for c in (ray.o.x, ray.o.y, ray.o.z)], 1)
    d = np.stack([np.array(c) for c in (ray.d.x, ray.d.y, ray.d.z)], 1)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    off = (X - o) - np.sum((X - o) * d, axis=1, keepdims=True) * d
    assert np.linalg.norm(off, axis=1).max() < 1e-4


@pytest.mark.skipif(MIDDLEBURY is None, reason="Middlebury templeSparseRing data not found in ../shared/data")
def test_middlebury_temple_sensors():
    """The real temple calibration: all 16 sensors reproduce K [R t] to 0.05 px on a full-size film."""
    views = read_calibration(os.path.join(MIDDLEBURY, "templeSR_par.txt"))
    assert len(views) == 16 and (views[0].width, views[0].height) == (640, 480)
    assert check_photos(views, MIDDLEBURY)[0].endswith("templeSR0001.png")
    bbox = np.array([[-0.073568, 0.021728, -0.012445], [0.028855, 0.181892, 0.062736]])
    X = np.array([[bbox[i, 0], bbox[j, 1], bbox[k, 2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    for v in views:
        expected = film_map(v, 640).photo_to_film(v.project(X))
        err = np.abs(mitsuba_pixels(v, X, 640) - expected).max()
        print(f"{v.name}: max reprojection error {err:.2e} px")
        assert err < 0.05, (v.name, err)


@pytest.mark.parametrize("model,params,k", [
    ("SIMPLE_PINHOLE", [400, 100, 50], (0, 0, 0, 0)),
    ("PINHOLE", [400, 420, 100, 50], (0, 0, 0, 0)),
    ("SIMPLE_RADIAL", [400, 100, 50, 0.1], (0.1, 0, 0, 0)),
    ("RADIAL", [400, 100, 50, 0.1, -0.02], (0.1, -0.02, 0, 0)),
    ("OPENCV", [400, 420, 100, 50, 0.1, -0.02, 0.001, 0.002], (0.1, -0.02, 0.001, 0.002))])
def test_colmap_models(model, params, k):
    Kc, kc = intrinsics(model, params, "here")
    fy = params[1] if model in ("PINHOLE", "OPENCV") else params[0]
    np.testing.assert_allclose(Kc, [[params[0], 0, 99.5], [0, fy, 49.5], [0, 0, 1]])
    assert kc == k


def test_colmap_text_models_and_errors(tmp_path):
    poses = ring_poses(1)
    write_colmap_text(str(tmp_path), poses, ["a.png"])
    cams = tmp_path / "cameras.txt"
    cams.write_text(f"7 OPENCV {W} {H} 500 460 160 120 0.1 0.01 0.001 0.002\n")
    (v,) = read_calibration(str(tmp_path))
    assert v.model == "OPENCV" and v.distortion == (0.1, 0.01, 0.001, 0.002)
    cams.write_text(f"# comment\n7 FOV {W} {H} 500 460 160 120 0.9\n")
    with pytest.raises(CalibrationError, match=r"cameras.txt:2: unsupported camera model 'FOV'"):
        read_calibration(str(tmp_path))
    cams.write_text(f"7 PINHOLE {W} {H} 500 460 160\n")
    with pytest.raises(CalibrationError, match=r"cameras.txt:1: camera model PINHOLE takes 4 parameters, got 3"):
        read_calibration(str(tmp_path))
    cams.write_text(f"8 PINHOLE {W} {H} 500 460 160 120\n")
    with pytest.raises(CalibrationError, match=r"images.txt:2: camera id 7 is not in"):
        read_calibration(str(tmp_path))
    cams.write_text(f"7 PINHOLE {W} {H} 500 460 160 120\n")
    (tmp_path / "images.txt").write_text("# c\n1 1 0 0 0 0 0 x 7 a.png\n\n")
    with pytest.raises(CalibrationError, match=r"images.txt:2: could not convert"):
        read_calibration(str(tmp_path))


def test_colmap_binary_errors(tmp_path):
    poses = ring_poses(2)
    write_colmap_binary(str(tmp_path), poses, ["a.png", "b.png"], model_id=5, params=[1.0] * 8)
    with pytest.raises(CalibrationError, match=r"cameras.bin: camera entry 0 \(id 3\): unsupported camera model OPENCV_FISHEYE"):
        read_calibration(str(tmp_path))
    write_colmap_binary(str(tmp_path), poses, ["a.png", "b.png"])
    data = (tmp_path / "images.bin").read_bytes()
    (tmp_path / "images.bin").write_bytes(data[:-30])
    with pytest.raises(CalibrationError, match=r"images.bin: file ends inside the 2D points of image entry 1 \('b.png'\)"):
        read_calibration(str(tmp_path))


def test_format_errors(tmp_path):
    with pytest.raises(CalibrationError, match="unknown calibration format"):
        (tmp_path / "cams.yaml").write_text("x")
        read_calibration(str(tmp_path / "cams.yaml"))
    with pytest.raises(CalibrationError, match="no COLMAP model"):
        read_calibration(str(tmp_path))
    (tmp_path / "t.json").write_text('{"frames": [{"file_path": "a.png", "transform_matrix": [[1, 0], [0, 1]]}]}')
    with pytest.raises(CalibrationError, match=r"frames\[0\] \('a.png'\): 'transform_matrix' must be a finite 4x4"):
        read_calibration(str(tmp_path / "t.json"))
    (tmp_path / "t.json").write_text('{"w": 4, "h": 4, "frames": [{"file_path": "a.png", "transform_matrix": '
                                     '[[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}]}')
    with pytest.raises(CalibrationError, match=r"frames\[0\] \('a.png'\): no focal length"):
        read_calibration(str(tmp_path / "t.json"))
    (tmp_path / "t.json").write_text('{"fl_x": 9, "w": 4, "h": 4, "camera_model": "OPENCV_FISHEYE", "frames": [{'
                                     '"file_path": "a.png", "transform_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], '
                                     '[0, 0, 1, 0], [0, 0, 0, 1]]}]}')
    with pytest.raises(CalibrationError, match=r"frames\[0\] \('a.png'\): unsupported camera model 'OPENCV_FISHEYE'"):
        read_calibration(str(tmp_path / "t.json"))
    (tmp_path / "t_par.txt").write_text("3\na.png " + " ".join(["1"] * 21) + "\n")
    with pytest.raises(CalibrationError, match="announces 3 images, the file has 1 lines"):
        read_calibration(str(tmp_path / "t_par.txt"))
    (tmp_path / "t_par.txt").write_text("1\na.png " + " ".join(["1"] * 20) + "\n")
    with pytest.raises(CalibrationError, match=r"t_par.txt:2: expected 22 fields"):
        read_calibration(str(tmp_path / "t_par.txt"))


def test_calibration_must_match_the_photos(tmp_path):
    poses = ring_poses()
    write_colmap_text(str(tmp_path / "model"), poses, NAMES)
    views = read_calibration(str(tmp_path / "model"))
    photos = tmp_path / "photos"
    write_photos(str(photos), NAMES[:3])
    with pytest.raises(CalibrationError, match=r"1 of 4 calibrated images are missing \(3 found\), e.g. \['a003.png'\]"):
        check_photos(views, str(photos))
    write_photos(str(photos), NAMES[3:], size=(W, H + 1))
    with pytest.raises(CalibrationError, match=rf"a003.png is {W}x{H + 1}, calibrated as {W}x{H}"):
        check_photos(views, str(photos))
    write_photos(str(photos), NAMES[3:])
    assert len(check_photos(views, str(photos))) == 4
