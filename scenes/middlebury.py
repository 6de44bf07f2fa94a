"""Middlebury multi-view stereo calibrations (``*_par.txt``) -> calibrated views.

Format (Seitz, Curless, Diebel, Scharstein, Szeliski, "A Comparison and Evaluation of Multi-View
Stereo Reconstruction Algorithms", CVPR 2006; the data sets' README): the number of images on the
first line, then one line per image ``name k11 k12 k13 k21 ... k33 r11 r12 ... r33 t1 t2 t3``, where
a world point X projects to ``K (R X + t)`` with pixel centres at integer coordinates. The file has
no image size: it is read from each image, found beside the calibration file (or in
``photos``), unless ``image_size`` is given.
"""
from __future__ import annotations

import os

import numpy as np

from .calibrated_view import CalibratedView
from .errors import CalibrationError, PhotoError
from .image_files import image_size as read_size


def read_middlebury(path: str, image_size=None, photos: str | None = None) -> list[CalibratedView]:
    """Calibrated views of a Middlebury ``*_par.txt`` in file order; ``image_size`` (width, height)
    for all views, else each image's own size."""
    with open(path) as f:
        lines = [(i + 1, line) for i, line in enumerate(f) if line.strip()]
    if not lines:
        raise CalibrationError(f"{path}: empty file")
    try:
        n = int(lines[0][1])
    except ValueError:
        raise CalibrationError(f"{path}:{lines[0][0]}: expected the number of images, "
                               f"got {lines[0][1].strip()!r}") from None
    if len(lines) - 1 != n:
        raise CalibrationError(f"{path}: the first line announces {n} images, the file has {len(lines) - 1} lines")
    folder = photos or os.path.dirname(os.path.abspath(path))
    views = []
    for number, line in lines[1:]:
        tok, where = line.split(), f"{path}:{number}"
        if len(tok) != 22:
            raise CalibrationError(f"{where}: expected 22 fields 'name k11..k33 r11..r33 t1 t2 t3', got {len(tok)}")
        try:
            a = np.array(tok[1:], dtype=np.float64)
        except ValueError as e:
            raise CalibrationError(f"{where}: {e}") from None
        try:
            w, h = image_size if image_size is not None else read_size(os.path.join(folder, tok[0]), where)
        except PhotoError as e:
            raise CalibrationError(f"{e} (the file has no image size: pass image_size)") from None
        try:
            views.append(CalibratedView(tok[0], a[:9].reshape(3, 3), a[9:18].reshape(3, 3), a[18:], w, h))
        except CalibrationError as e:
            raise CalibrationError(f"{where}: {e}") from None
    return views
