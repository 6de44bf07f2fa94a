"""COLMAP sparse models, text and binary: ``cameras.txt|bin`` + ``images.txt|bin`` -> calibrated views.

Layout (COLMAP's output format, ``doc/format.rst``, and its binary writer): in ``cameras.txt`` one
line per camera ``CAMERA_ID MODEL WIDTH HEIGHT PARAMS...``; in ``images.txt`` two lines per image,
``IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`` then the (possibly empty) line of 2D points; lines
starting with ``#`` are comments. The binary files are little-endian: ``cameras.bin`` is a uint64
count, then per camera int32 id, int32 model id, uint64 width, uint64 height and the model's
float64 parameters; ``images.bin`` is a uint64 count, then per image int32 id, 4 float64 quaternion
(w, x, y, z), 3 float64 translation, int32 camera id, the NUL-terminated name, a uint64 point count
and per point 2 float64 + int64.

The quaternion and translation map world to camera (x right, y down, z forward). COLMAP's pixel
origin is the top-left corner of the image (centre of the first pixel at (0.5, 0.5)), so the
principal point is shifted by -0.5 to :mod:`~scenes.calibrated_view`'s convention.

Supported models and their parameters: SIMPLE_PINHOLE (f, cx, cy), PINHOLE (fx, fy, cx, cy),
SIMPLE_RADIAL (f, cx, cy, k), RADIAL (f, cx, cy, k1, k2), OPENCV (fx, fy, cx, cy, k1, k2, p1, p2).
"""
from __future__ import annotations

import os
import struct

import numpy as np

from .calibrated_view import CalibratedView
from .errors import CalibrationError

#: COLMAP model id -> (name, number of parameters), for the models Penumbra reads.
MODEL_IDS = {0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4), 3: ("RADIAL", 5),
             4: ("OPENCV", 8)}
#: COLMAP's other model names (recognized only to say that they are not supported).
OTHER_MODELS = {5: "OPENCV_FISHEYE", 6: "FULL_OPENCV", 7: "FOV", 8: "SIMPLE_RADIAL_FISHEYE", 9: "RADIAL_FISHEYE",
                10: "THIN_PRISM_FISHEYE"}
PARAM_COUNT = dict(MODEL_IDS.values())


def intrinsics(model: str, params, where: str):
    """(K in pixel-centre coordinates, distortion (k1, k2, p1, p2)) of COLMAP camera parameters."""
    if model not in PARAM_COUNT:
        raise CalibrationError(f"{where}: unsupported camera model {model!r}; supported: "
                               f"{', '.join(PARAM_COUNT)} (undistort the images with COLMAP's image_undistorter)")
    p = [float(v) for v in params]
    if len(p) != PARAM_COUNT[model]:
        raise CalibrationError(f"{where}: camera model {model} takes {PARAM_COUNT[model]} parameters, got {len(p)}")
    if model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
        fx = fy = p[0]
        cx, cy, rest = p[1], p[2], p[3:]
    else:
        fx, fy, cx, cy, rest = p[0], p[1], p[2], p[3], p[4:]
    k = {"SIMPLE_PINHOLE": (0, 0, 0, 0), "PINHOLE": (0, 0, 0, 0), "SIMPLE_RADIAL": (rest[0] if rest else 0, 0, 0, 0),
         "RADIAL": tuple(rest) + (0, 0), "OPENCV": tuple(rest)}[model]
    K = np.array([[fx, 0.0, cx - 0.5], [0.0, fy, cy - 0.5], [0.0, 0.0, 1.0]])
    return K, tuple(float(c) for c in k)


def quaternion_to_matrix(q) -> np.ndarray:
    """Rotation matrix of the unit quaternion ``(w, x, y, z)`` (normalized first); a quaternion of zero
    or non-finite norm is a :class:`CalibrationError`."""
    q = np.asarray(q, np.float64)
    norm = np.linalg.norm(q)
    if not np.isfinite(norm) or norm < 1e-12:
        raise CalibrationError(f"the rotation quaternion (QW, QX, QY, QZ) = {q.tolist()} has no direction "
                               "(zero, NaN or Inf)")
    w, x, y, z = q / norm
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def data_lines(path: str):
    """(line number, text) of a COLMAP text file without comment lines; empty lines are kept
    (the 2D-point line of an image may be empty)."""
    with open(path) as f:
        return [(i + 1, line.rstrip("\n")) for i, line in enumerate(f) if not line.lstrip().startswith("#")]


def read_cameras_text(path: str) -> dict:
    cameras = {}
    for n, line in data_lines(path):
        tok = line.split()
        if not tok:
            continue
        where = f"{path}:{n}"
        if len(tok) < 4:
            raise CalibrationError(f"{where}: expected 'CAMERA_ID MODEL WIDTH HEIGHT PARAMS...', got {line!r}")
        try:
            cam_id, width, height, params = int(tok[0]), int(tok[2]), int(tok[3]), [float(v) for v in tok[4:]]
        except ValueError as e:
            raise CalibrationError(f"{where}: {e} in {line!r}") from None
        cameras[cam_id] = (width, height, tok[1]) + intrinsics(tok[1], params, where)
    return cameras


def read_images_text(path: str) -> list:
    lines = data_lines(path)
    images, i = [], 0
    while i < len(lines):
        n, line = lines[i]
        tok = line.split(maxsplit=9)
        if not tok:
            i += 1
            continue
        where = f"{path}:{n}"
        if len(tok) != 10:
            raise CalibrationError(f"{where}: expected 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME', got {line!r}")
        try:
            q, t, cam_id = [float(v) for v in tok[1:5]], [float(v) for v in tok[5:8]], int(tok[8])
        except ValueError as e:
            raise CalibrationError(f"{where}: {e} in {line!r}") from None
        images.append((where, tok[9].strip(), q, t, cam_id))
        i += 2  # skip the 2D-point line
    return images


class BinaryReader:
    def __init__(self, path: str):
        self.path = path
        with open(path, "rb") as f:
            self.data = f.read()
        self.pos = 0

    def read(self, fmt: str, what: str):
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise CalibrationError(f"{self.path}: file ends at byte {len(self.data)} inside {what}")
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values

    def read_string(self, what: str) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise CalibrationError(f"{self.path}: unterminated name in {what}")
        s = self.data[self.pos:end].decode("utf-8", errors="replace")
        self.pos = end + 1
        return s


def read_cameras_binary(path: str) -> dict:
    r = BinaryReader(path)
    cameras = {}
    (count,) = r.read("Q", "the camera count")
    for k in range(count):
        what = f"camera entry {k}"
        cam_id, model_id, width, height = r.read("iiQQ", what)
        where = f"{path}: {what} (id {cam_id})"
        if model_id not in MODEL_IDS:
            name = OTHER_MODELS.get(model_id, f"model id {model_id}")
            raise CalibrationError(f"{where}: unsupported camera model {name}; supported: {', '.join(PARAM_COUNT)}")
        model, n = MODEL_IDS[model_id]
        cameras[cam_id] = (width, height, model) + intrinsics(model, r.read("d" * n, what), where)
    if r.pos != len(r.data):
        raise CalibrationError(f"{path}: {len(r.data) - r.pos} bytes left after {count} cameras")
    return cameras


def read_images_binary(path: str) -> list:
    r = BinaryReader(path)
    images = []
    (count,) = r.read("Q", "the image count")
    for k in range(count):
        what = f"image entry {k}"
        values = r.read("i7di", what)
        name = r.read_string(what)
        (points,) = r.read("Q", what)
        if r.pos + 24 * points > len(r.data):
            raise CalibrationError(f"{path}: file ends inside the 2D points of {what} ({name!r})")
        r.pos += 24 * points
        images.append((f"{path}: {what} (id {values[0]}, {name!r})", name, values[1:5], values[5:8], values[8]))
    if r.pos != len(r.data):
        raise CalibrationError(f"{path}: {len(r.data) - r.pos} bytes left after {count} images")
    return images


def find_model(folder: str):
    """(cameras file, images file) of the sparse model in ``folder`` (text preferred over binary
    when both exist), or None."""
    for ext in (".txt", ".bin"):
        cams, imgs = os.path.join(folder, "cameras" + ext), os.path.join(folder, "images" + ext)
        if os.path.isfile(cams) and os.path.isfile(imgs):
            return cams, imgs
    return None


def read_colmap(folder: str) -> list[CalibratedView]:
    """Calibrated views of the COLMAP sparse model in ``folder``, sorted by image name."""
    found = find_model(folder)
    if found is None:
        raise CalibrationError(f"{folder}: no COLMAP model (cameras.txt + images.txt or cameras.bin + images.bin)")
    cams_path, imgs_path = found
    binary = cams_path.endswith(".bin")
    cameras = (read_cameras_binary if binary else read_cameras_text)(cams_path)
    images = (read_images_binary if binary else read_images_text)(imgs_path)
    views = []
    for where, name, q, t, cam_id in images:
        if cam_id not in cameras:
            raise CalibrationError(f"{where}: camera id {cam_id} is not in {cams_path} (ids {sorted(cameras)})")
        width, height, model, K, k = cameras[cam_id]
        try:
            views.append(CalibratedView(name, K, quaternion_to_matrix(q), np.array(t), width, height, model, k))
        except CalibrationError as e:
            raise CalibrationError(f"{where}: {e}") from None
    if not views:
        raise CalibrationError(f"{imgs_path}: no images")
    return sorted(views, key=lambda v: v.name)

