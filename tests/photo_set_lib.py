"""Synthetic calibrated photo sets for the reconstruction-from-photos tests: a scene's object rendered by
Mitsuba's ``path`` integrator from a ring of cameras, saved as RGBA PNGs (alpha = coverage) and calibrated
as a COLMAP text model (``model/``) and a ``photos/transforms.json``."""
import json
import math

import numpy as np
from PIL import Image

PHOTO_W, PHOTO_H, FOCAL = 64, 48, 70.0
N_VIEWS = 6


def ring_pose(k, n=N_VIEWS, distance=4.0, elevation=0.35):
    """World-to-camera (R, t) in OpenCV's convention of camera k on a ring looking at the origin."""
    phi = 2 * math.pi * k / n
    c = distance * np.array([math.cos(elevation) * math.cos(phi), math.sin(elevation),
                             math.cos(elevation) * math.sin(phi)])
    forward = -c / np.linalg.norm(c)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    return R, -R @ c


def quaternion_wxyz(R):
    from scipy.spatial.transform import Rotation
    x, y, z, w = Rotation.from_matrix(R).as_quat()
    return w, x, y, z


def write_photo_set(root, scene: dict, spp: int = 32):
    """Render the Mitsuba scene dictionary ``scene`` (object and lights; the cameras are added) from
    ``N_VIEWS`` ring cameras into ``root/photos`` and write ``root/model`` (COLMAP text) and
    ``root/photos/transforms.json``. Returns ``root``."""
    import mitsuba as mi

    from penumbra.renderer import ensure_variant, linear_to_srgb
    from penumbra.scenes import load_scene
    from penumbra.scenes.calibrated_view import CalibratedView
    from penumbra.scenes.view_sensor import sensor_dict
    ensure_variant()
    photos, model = root / "photos", root / "model"
    photos.mkdir()
    model.mkdir()
    cx, cy = PHOTO_W / 2 + 1.5, PHOTO_H / 2 - 1.0          # COLMAP's corner-origin principal point
    K = np.array([[FOCAL, 0, cx - 0.5], [0, FOCAL, cy - 0.5], [0, 0, 1]])
    d = {"type": "scene", "integrator": {"type": "path", "max_depth": 3, "hide_emitters": True}, **scene}
    images, frames = [], []
    for k in range(N_VIEWS):
        R, t = ring_pose(k)
        view = CalibratedView(f"img{k}.png", K, R, t, PHOTO_W, PHOTO_H)
        d[f"cam{k}"] = sensor_dict(view, PHOTO_W, PHOTO_H, film={"pixel_format": "rgba"})
        qw, qx, qy, qz = quaternion_wxyz(R)
        images.append(f"{k + 1} {qw:.12f} {qx:.12f} {qy:.12f} {qz:.12f} {t[0]:.12f} {t[1]:.12f} {t[2]:.12f} 1 "
                      f"img{k}.png\n\n")
        c2w = np.eye(4)
        c2w[:3, :3], c2w[:3, 3] = R.T @ np.diag([1.0, -1.0, -1.0]), -R.T @ t
        frames.append({"file_path": f"img{k}.png", "transform_matrix": c2w.tolist()})
    rendered = load_scene(d)
    for k in range(N_VIEWS):
        img = np.array(mi.render(rendered, sensor=k, spp=spp, seed=k))
        rgba = np.concatenate([linear_to_srgb(np.clip(img[..., :3], 0, 1)), img[..., 3:4]], axis=-1)
        Image.fromarray(np.round(np.clip(rgba, 0, 1) * 255).astype(np.uint8), "RGBA").save(photos / f"img{k}.png")
    (model / "cameras.txt").write_text(f"1 PINHOLE {PHOTO_W} {PHOTO_H} {FOCAL} {FOCAL} {cx} {cy}\n")
    (model / "images.txt").write_text("".join(images))
    (photos / "transforms.json").write_text(json.dumps({"fl_x": FOCAL, "fl_y": FOCAL, "cx": cx, "cy": cy,
                                                        "w": PHOTO_W, "h": PHOTO_H, "frames": frames}))
    return root
