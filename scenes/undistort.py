"""Removing lens distortion: from distorted photo pixels to the equivalent pinhole image and back.

The distortion model is the Brown-Conrady polynomial of :func:`~scenes.calibrated_view.distort`
(coefficients ``k1, k2, p1, p2``; COLMAP's SIMPLE_RADIAL / RADIAL / OPENCV and ``transforms.json``).
Resampling a photo to its pinhole image needs only the forward model: each pinhole pixel (u, v)
reads the photo at ``K distort(K^-1 (u, v, 1))``, interpolated with :func:`scipy.ndimage.map_coordinates`.
Moving distorted points to the pinhole image needs the inverse, solved per point by Newton's method
on ``distort(x) = x_d`` (2x2 Jacobian of the polynomial, started at ``x = x_d``).
"""
from __future__ import annotations

import numpy as np

from .calibrated_view import CalibratedView, distort

NEWTON_STEPS = 20


def undistort_normalized(xy_d: np.ndarray, coefficients, steps: int = NEWTON_STEPS) -> np.ndarray:
    """Undistorted normalized coordinates (N, 2) whose :func:`distort` is ``xy_d`` (N, 2).
    Converges quadratically inside the region where the model is invertible (the photo for any
    sensible calibration); points where it did not converge to 1e-10 are NaN."""
    k1, k2, p1, p2 = (float(c) for c in coefficients)
    target = np.asarray(xy_d, np.float64)
    xy = target.copy()
    for _ in range(steps):
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        radial = 1.0 + r2 * (k1 + k2 * r2)
        dradial = 2.0 * (k1 + 2.0 * k2 * r2)  # d radial / d(x, y) = dradial * (x, y)
        a = radial + x * x * dradial + 2.0 * p1 * y + 6.0 * p2 * x
        b = x * y * dradial + 2.0 * p1 * x + 2.0 * p2 * y
        c = x * y * dradial + 2.0 * p1 * x + 2.0 * p2 * y
        d = radial + y * y * dradial + 6.0 * p1 * y + 2.0 * p2 * x
        r = distort(xy, coefficients) - target
        det = a * d - b * c
        xy = xy - np.stack([(d * r[..., 0] - b * r[..., 1]) / det, (a * r[..., 1] - c * r[..., 0]) / det], axis=-1)
    bad = np.abs(distort(xy, coefficients) - target).max(axis=-1) > 1e-10
    xy[bad] = np.nan
    return xy


def _in_normalized_plane(view: CalibratedView, uv, fn) -> np.ndarray:
    """Pixels ``uv`` (..., 2) mapped by ``fn(xy, distortion)`` in the view's normalized image plane."""
    uv = np.asarray(uv, np.float64)
    if view.is_pinhole:
        return uv
    xy = np.stack([(uv[..., 0] - view.cx) / view.fx, (uv[..., 1] - view.cy) / view.fy], axis=-1)
    xy = fn(xy, view.distortion)
    return np.stack([view.fx * xy[..., 0] + view.cx, view.fy * xy[..., 1] + view.cy], axis=-1)


def photo_pixels(view: CalibratedView, uv: np.ndarray) -> np.ndarray:
    """Pixels of the (distorted) photo seen at pixels ``uv`` (..., 2) of the view's pinhole image
    (both in pixel-centre coordinates)."""
    return _in_normalized_plane(view, uv, distort)


def undistort_points(view: CalibratedView, uv: np.ndarray) -> np.ndarray:
    """Pixels of the view's pinhole image of photo pixels ``uv`` (N, 2) (inverse of :func:`photo_pixels`)."""
    return _in_normalized_plane(view, uv, undistort_normalized)


def sample_image(image: np.ndarray, uv: np.ndarray, order: int = 1) -> np.ndarray:
    """``image`` (H, W) or (H, W, C) interpolated at pixel-centre coordinates ``uv`` (..., 2);
    0 outside the image."""
    from scipy.ndimage import map_coordinates
    img = np.asarray(image, np.float32)
    coords = [uv[..., 1], uv[..., 0]]
    if img.ndim == 2:
        return map_coordinates(img, coords, order=order, mode="constant", cval=0.0)
    return np.stack([map_coordinates(img[..., c], coords, order=order, mode="constant", cval=0.0)
                     for c in range(img.shape[2])], axis=-1)


def undistort_image(image: np.ndarray, view: CalibratedView, order: int = 1):
    """(the photo ``image`` resampled to the view's pinhole image of the same size, the pinhole
    view). Pixels that see outside the photo are 0."""
    if view.is_pinhole:
        return np.asarray(image, np.float32), view
    v, u = np.mgrid[0:view.height, 0:view.width].astype(np.float64)
    src = photo_pixels(view, np.stack([u, v], axis=-1))
    return sample_image(image, src, order).astype(np.float32), view.pinhole()
