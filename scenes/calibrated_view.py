"""One calibrated photograph: the record every calibration reader returns.

Conventions (those of OpenCV and COLMAP's camera frame): the camera looks along +z, x points right
and y down in the image; a world point X lands in camera coordinates at ``R X + t`` (world to
camera) and at pixel ``K (R X + t)`` (homogeneous). Pixel coordinates have the *centre* of the
top-left pixel at (0, 0), so the image spans [-0.5, width - 0.5] x [-0.5, height - 0.5]; readers of
formats whose origin is the top-left *corner* (COLMAP, instant-ngp ``transforms.json``) subtract 0.5
from the principal point.

Lens distortion is stored in OpenCV's order ``(k1, k2, p1, p2)`` and acts on normalized camera
coordinates (x, y) = (X / Z, Y / Z), r^2 = x^2 + y^2 (Brown-Conrady model, as COLMAP's
SIMPLE_RADIAL, RADIAL and OPENCV models and OpenCV's ``projectPoints``)::

    x_d = x (1 + k1 r^2 + k2 r^4) + 2 p1 x y + p2 (r^2 + 2 x^2)
    y_d = y (1 + k1 r^2 + k2 r^4) + p1 (r^2 + 2 y^2) + 2 p2 x y

and the pixel is ``(fx x_d + cx, fy y_d + cy)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import CalibrationError

#: Camera models the readers accept, as COLMAP names them.
CAMERA_MODELS = ("SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV")


def distort(xy: np.ndarray, coefficients) -> np.ndarray:
    """Distorted normalized coordinates (N, 2) of undistorted ones ``xy`` (N, 2), coefficients
    ``(k1, k2, p1, p2)`` (see the module docstring)."""
    k1, k2, p1, p2 = (float(c) for c in coefficients)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + k2 * r2)
    return np.stack([x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x),
                     y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y], axis=-1)


@dataclass(frozen=True)
class CalibratedView:
    """A photograph's camera: ``name`` (image path relative to the photo folder), intrinsics ``K``
    (3, 3), world-to-camera rotation ``R`` (3, 3) and translation ``t`` (3,), image ``width`` x
    ``height`` in pixels, the ``model`` it was read as and its ``distortion`` ``(k1, k2, p1, p2)``."""
    name: str
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int
    model: str = "PINHOLE"
    distortion: tuple = field(default=(0.0, 0.0, 0.0, 0.0))

    def __post_init__(self):
        K, R, t = (np.asarray(a, dtype=np.float64) for a in (self.K, self.R, self.t))
        where = f"camera of {self.name!r}"
        if K.shape != (3, 3) or R.shape != (3, 3) or t.shape != (3,):
            raise CalibrationError(f"{where}: K and R must be 3x3 and t of length 3, got {K.shape}, {R.shape}, "
                                   f"{t.shape}")
        if not (np.all(np.isfinite(K)) and np.all(np.isfinite(R)) and np.all(np.isfinite(t))):
            raise CalibrationError(f"{where}: K, R or t contains NaN or Inf")
        if K[0, 0] <= 0 or K[1, 1] <= 0 or abs(K[0, 1]) > 1e-9 * K[0, 0] or np.any(K[2] != [0, 0, 1]) or K[1, 0] != 0:
            raise CalibrationError(f"{where}: K must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0 "
                                   f"(no skew), got\n{K}")
        if np.abs(R @ R.T - np.eye(3)).max() > 1e-4 or np.linalg.det(R) < 0:
            raise CalibrationError(f"{where}: R is not a rotation (R R^T = I, det R = +1 to 1e-4), got\n{R}")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise CalibrationError(f"{where}: image size must be positive, got {self.width} x {self.height}")
        if self.model not in CAMERA_MODELS:
            raise CalibrationError(f"{where}: unknown camera model {self.model!r}; "
                                   f"supported: {', '.join(CAMERA_MODELS)}")
        d = tuple(float(c) for c in self.distortion)
        if len(d) != 4 or not np.all(np.isfinite(d)):
            raise CalibrationError(f"{where}: distortion must be 4 finite numbers (k1, k2, p1, p2), got {d}")
        # Orthonormalize R to double precision (files store 6-17 digits).
        u, _, vt = np.linalg.svd(R)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "R", u @ vt)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "distortion", d)

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates, -R^T t."""
        return -self.R.T @ self.t

    @property
    def is_pinhole(self) -> bool:
        return not any(self.distortion)

    def camera_space(self, X: np.ndarray) -> np.ndarray:
        """Camera coordinates (N, 3) of world points ``X`` (N, 3)."""
        return np.asarray(X, np.float64) @ self.R.T + self.t

    def project(self, X: np.ndarray, distorted: bool = True) -> np.ndarray:
        """Pixel coordinates (N, 2) of world points ``X`` (N, 3) in front of the camera, through
        the distortion (``distorted=True``) or the pinhole part of the model only."""
        Pc = self.camera_space(X)
        xy = Pc[:, :2] / Pc[:, 2:]
        if distorted and not self.is_pinhole:
            xy = distort(xy, self.distortion)
        return np.stack([self.fx * xy[:, 0] + self.cx, self.fy * xy[:, 1] + self.cy], axis=1)

    def pinhole(self) -> "CalibratedView":
        """The same camera without lens distortion (the camera of an undistorted photo)."""
        model = "PINHOLE" if self.fx != self.fy else "SIMPLE_PINHOLE"
        return CalibratedView(self.name, self.K, self.R, self.t, self.width, self.height, model)
