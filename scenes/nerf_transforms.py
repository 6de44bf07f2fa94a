"""NeRF / instant-ngp / nerfstudio ``transforms.json`` -> calibrated views.

Intrinsics are read at the top level and may be overridden per frame: ``fl_x`` / ``fl_y`` (pixels)
or ``camera_angle_x`` / ``camera_angle_y`` (radians, full angle across the width / height), ``cx``
/ ``cy`` (default: the image centre), ``w`` / ``h`` (default: the image file's size), and the
distortion ``k1 k2 p1 p2`` (``k3``, ``k4`` must be 0; a ``camera_model`` other than a pinhole or
OPENCV one, e.g. fisheye, is
rejected). A missing
``fl_y`` equals ``fl_x``. The principal point follows instant-ngp's and nerfstudio's convention (pixel
origin at the top-left corner of the image, pixel centres at +0.5), so 0.5 is subtracted for
:mod:`~scenes.calibrated_view`.

Each frame's ``transform_matrix`` is camera-to-world in the OpenGL/Blender convention (x right, y up,
z backward); the OpenCV camera (y down, z forward) is that frame with y and z flipped, so
``R = (C diag(1, -1, -1))^T`` and ``t = -R c`` for rotation C and centre c. ``file_path`` is relative
to the JSON file's folder; a path without extension (the original NeRF synthetic sets) is matched
to an existing image file with that stem.
"""
from __future__ import annotations

import json
import math
import os

import numpy as np

from .calibrated_view import CalibratedView
from .errors import CalibrationError, PhotoError
from .image_files import find_image, image_size

GL_TO_CV = np.diag([1.0, -1.0, -1.0])


def resolve_image(folder: str, file_path: str) -> str:
    """``file_path`` (relative to ``folder``) normalized, with the extension of the existing file
    when it is given without one."""
    name = os.path.normpath(file_path.replace("\\", "/"))
    if os.path.splitext(name)[1] == "":
        found = find_image(folder, name)
        if found is not None:
            return os.path.relpath(found, folder)
    return name


def frame_intrinsics(entry: dict, base: dict, folder: str, name: str, where: str):
    """(width, height, K, distortion, model) of a frame: its own keys over the top-level ones."""
    def get(key):
        return entry[key] if key in entry else base.get(key)
    w, h = get("w"), get("h")
    if w is None or h is None:
        try:
            w, h = image_size(os.path.join(folder, name), where + ": no 'w'/'h' given and")
        except PhotoError as e:
            raise CalibrationError(str(e)) from None
    try:
        w, h = int(w), int(h)
        if get("fl_x") is not None:
            fx = float(get("fl_x"))
        elif get("camera_angle_x") is not None:
            fx = 0.5 * w / math.tan(0.5 * float(get("camera_angle_x")))
        else:
            raise CalibrationError(f"{where}: no focal length ('fl_x' or 'camera_angle_x')")
        if get("fl_y") is not None:
            fy = float(get("fl_y"))
        elif get("camera_angle_y") is not None:
            fy = 0.5 * h / math.tan(0.5 * float(get("camera_angle_y")))
        else:
            fy = fx
        cx = float(get("cx")) if get("cx") is not None else 0.5 * w
        cy = float(get("cy")) if get("cy") is not None else 0.5 * h
        k = tuple(float(get(key) or 0.0) for key in ("k1", "k2", "p1", "p2"))
        extra = {key: float(get(key)) for key in ("k3", "k4") if get(key)}
    except (TypeError, ValueError) as e:
        raise CalibrationError(f"{where}: malformed intrinsics ({e})") from None
    model = str(get("camera_model") or "OPENCV")
    if model.upper() not in ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL") or extra:
        raise CalibrationError(f"{where}: unsupported camera model {model!r} {extra or ''}; supported: pinhole with "
                               f"k1, k2, p1, p2")
    K = np.array([[fx, 0.0, cx - 0.5], [0.0, fy, cy - 0.5], [0.0, 0.0, 1.0]])
    model = ("OPENCV" if any(k) else ("PINHOLE" if fx != fy else "SIMPLE_PINHOLE"))
    return w, h, K, k, model


def read_transforms_json(path: str) -> list[CalibratedView]:
    """Calibrated views of the frames of a ``transforms.json``, in file order."""
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise CalibrationError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    frames = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(frames, list) or not frames:
        raise CalibrationError(f"{path}: expected an object with a non-empty 'frames' list")
    folder = os.path.dirname(os.path.abspath(path))
    views = []
    for i, frame in enumerate(frames):
        where = f"{path}: frames[{i}]"
        if not isinstance(frame, dict) or "file_path" not in frame or "transform_matrix" not in frame:
            raise CalibrationError(f"{where}: each frame needs 'file_path' and 'transform_matrix'")
        name = resolve_image(folder, str(frame["file_path"]))
        where = f"{where} ({name!r})"
        try:
            c2w = np.asarray(frame["transform_matrix"], dtype=np.float64)
        except (TypeError, ValueError):
            c2w = np.zeros(0)
        if c2w.shape != (4, 4) or not np.all(np.isfinite(c2w)):
            raise CalibrationError(f"{where}: 'transform_matrix' must be a finite 4x4 matrix")
        w, h, K, k, model = frame_intrinsics(frame, data, folder, name, where)
        R = (c2w[:3, :3] @ GL_TO_CV).T
        try:
            views.append(CalibratedView(name, K, R, -R @ c2w[:3, 3], w, h, model, k))
        except CalibrationError as e:
            raise CalibrationError(f"{where}: {e}") from None
    return views
