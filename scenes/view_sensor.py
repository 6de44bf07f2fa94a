"""A calibrated view as a Mitsuba ``perspective`` sensor, with its principal point and non-square pixels.

Mitsuba 3.9's ``perspective`` sensor has square pixels and refuses scale factors in ``to_world``
("Scale factors in the camera-to-world transformation are not allowed!"), so a view whose focal
lengths differ (fx != fy) cannot keep the photo's pixel grid. The film is therefore a scaled copy
of the photo, exactly: in corner coordinates (origin at the top-left corner, pixel centres at
+0.5) film and photo are related by

    u_film = s_x (u_photo + 0.5),    v_film = s_y (v_photo + 0.5),    s_x = W / w,    s_y = s_x fx / fy,

for a film W pixels wide and a photo of w x h pixels (``u_photo`` in the pixel-centre coordinates of
:mod:`~scenes.calibrated_view`). The film focal length is f = s_x fx = s_y fy in both directions,
its principal point ``(c_x, c_y) = (s_x (cx + 0.5), s_y (cy + 0.5))`` and its default height
``H = round(s_y h)``. Photos and masks are resampled onto the film with the same map
(:func:`~scenes.photos.film_image`), so rendered and photographed pixels correspond exactly.

In Mitsuba's camera frame x points left and y up (both flipped from OpenCV's), ``x_fov`` spans the
film width, and the principal point offsets ``(p_x, p_y)`` (fractions of the film size) place the
optical axis at film pixel ``(W/2 - p_x W, H/2 - p_y H)``; hence

    fov = 2 atan(W / (2 f)),    p_x = 1/2 - c_x / W,    p_y = 1/2 - c_y / H,
    to_world = [R^T S | -R^T t],    S = diag(-1, -1, 1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .calibrated_view import CalibratedView
from .errors import CalibrationError


@dataclass(frozen=True)
class FilmMap:
    """Film size and the scale between photo and film corner coordinates (see the module docstring)."""
    width: int
    height: int
    scale_x: float
    scale_y: float

    def photo_to_film(self, uv: np.ndarray) -> np.ndarray:
        """Film corner coordinates of photo pixel-centre coordinates ``uv`` (N, 2)."""
        return (np.asarray(uv, np.float64) + 0.5) * [self.scale_x, self.scale_y]

    def film_to_photo(self, uv: np.ndarray) -> np.ndarray:
        """Photo pixel-centre coordinates of film corner coordinates ``uv`` (..., 2)."""
        return np.asarray(uv, np.float64) / [self.scale_x, self.scale_y] - 0.5


def film_map(view: CalibratedView, width: int, height: int | None = None) -> FilmMap:
    """The film of ``width`` pixels (and ``height``, default ``round(s_y h)``) of ``view``."""
    if int(width) <= 0 or (height is not None and int(height) <= 0):
        raise CalibrationError(f"film size must be positive, got {width} x {height}")
    sx = int(width) / view.width
    sy = sx * view.fx / view.fy
    H = int(height) if height is not None else max(1, int(round(sy * view.height)))
    return FilmMap(int(width), H, sx, sy)


def sensor_dict(view: CalibratedView, width: int, height: int | None = None, spp: int = 4,
                near_clip: float = 0.01, far_clip: float = 1e4, film: dict | None = None) -> dict:
    """Mitsuba ``perspective`` sensor dictionary reproducing the pinhole part of ``view`` on the film
    of :func:`film_map` (undistort the photo for the rest). ``film``: extra ``hdrfilm`` entries
    (default: RGB, box filter)."""
    import mitsuba as mi

    from penumbra.renderer import ensure_variant
    ensure_variant()
    fm = film_map(view, width, height)
    f = view.fx * fm.scale_x
    cx, cy = fm.scale_x * (view.cx + 0.5), fm.scale_y * (view.cy + 0.5)
    S = np.diag([-1.0, -1.0, 1.0])
    to_world = np.eye(4)
    to_world[:3, :3] = view.R.T @ S
    to_world[:3, 3] = view.center
    film_dict = {"type": "hdrfilm", "width": fm.width, "height": fm.height, "pixel_format": "rgb",
                 "rfilter": {"type": "box"}, "sample_border": True}
    film_dict.update(film or {})
    return {"type": "perspective", "fov_axis": "x", "fov": math.degrees(2.0 * math.atan(fm.width / (2.0 * f))),
            "principal_point_offset_x": 0.5 - cx / fm.width, "principal_point_offset_y": 0.5 - cy / fm.height,
            "near_clip": float(near_clip), "far_clip": float(far_clip),
            "to_world": mi.ScalarTransform4f(to_world.tolist()),
            "sampler": {"type": "independent", "sample_count": int(spp)}, "film": film_dict}
