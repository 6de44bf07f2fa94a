"""Reading a camera calibration of any supported format, and checking it against the photographs.

:func:`read_calibration` picks the reader from the path:

* a folder holding ``cameras.txt`` + ``images.txt`` or ``cameras.bin`` + ``images.bin`` (also in
  its ``sparse/0`` or ``sparse`` subfolder), or one of those files: a COLMAP sparse model
  (:mod:`~scenes.colmap`);
* a ``.json`` file: NeRF / instant-ngp / nerfstudio ``transforms.json`` (:mod:`~scenes.nerf_transforms`);
* a ``*_par.txt`` file: a Middlebury multi-view calibration (:mod:`~scenes.middlebury`).

All return :class:`~scenes.calibrated_view.CalibratedView` records (K, R, t in OpenCV's
convention). :func:`check_photos` checks that a photo folder holds every calibrated image at the
calibrated size.
"""
from __future__ import annotations

import os

from .calibrated_view import CalibratedView
from .colmap import find_model, read_colmap
from .errors import CalibrationError
from .image_files import find_image, image_size
from .middlebury import read_middlebury
from .nerf_transforms import read_transforms_json

FORMATS = ("colmap", "transforms.json", "middlebury")


def detect_format(path: str) -> tuple[str, str]:
    """(format, path to hand to its reader) of a calibration path; see the module docstring."""
    if os.path.isdir(path):
        for sub in ("", os.path.join("sparse", "0"), "sparse"):
            if find_model(os.path.join(path, sub)):
                return "colmap", os.path.join(path, sub)
        json_file = os.path.join(path, "transforms.json")
        if os.path.isfile(json_file):
            return "transforms.json", json_file
        raise CalibrationError(f"{path}: folder holds no COLMAP model (cameras.txt/.bin + images.txt/.bin) and no "
                               f"transforms.json")
    if not os.path.isfile(path):
        raise CalibrationError(f"{path}: calibration file not found")
    base = os.path.basename(path)
    if base in ("cameras.txt", "images.txt", "cameras.bin", "images.bin"):
        return "colmap", os.path.dirname(os.path.abspath(path))
    if base.lower().endswith(".json"):
        return "transforms.json", path
    if base.endswith("_par.txt"):
        return "middlebury", path
    raise CalibrationError(f"{path}: unknown calibration format; expected a COLMAP model folder (cameras + images "
                           f".txt/.bin), a transforms.json or a Middlebury *_par.txt")


def read_calibration(path: str, photos: str | None = None) -> list[CalibratedView]:
    """Calibrated views of the calibration at ``path`` (format detected by :func:`detect_format`).
    ``photos``: the photo folder, where Middlebury image sizes are read (default: beside the file)."""
    fmt, target = detect_format(path)
    if fmt == "colmap":
        return read_colmap(target)
    if fmt == "transforms.json":
        return read_transforms_json(target)
    return read_middlebury(target, photos=photos)


def check_photos(views: list[CalibratedView], photos: str, calibration: str = "the calibration") -> list[str]:
    """Paths of the views' photographs in folder ``photos``, in the order of ``views``. Raises
    :class:`CalibrationError` naming the calibration when images are missing (with the counts and
    the first missing names) or when an image's size differs from its calibrated size."""
    if not os.path.isdir(photos):
        raise CalibrationError(f"{photos}: photo folder not found")
    paths, missing = [], []
    for v in views:
        p = find_image(photos, v.name)
        if p is None:
            missing.append(v.name)
        paths.append(p)
    if missing:
        present = sum(1 for p in paths if p)
        raise CalibrationError(f"{calibration} does not match the photos in {photos}: {len(missing)} of {len(views)} "
                               f"calibrated images are missing ({present} found), e.g. {missing[:5]}")
    for v, p in zip(views, paths):
        size = image_size(p)
        if size != (v.width, v.height):
            raise CalibrationError(f"{calibration} does not match the photos: {p} is {size[0]}x{size[1]}, "
                                   f"calibrated as {v.width}x{v.height}")
    return paths
