"""Pinhole projection of world points to film (pixel) coordinates, in NumPy and in Dr.Jit.

Mirrors Mitsuba's ``perspective`` sensor: camera looks along +z of its ``to_world`` frame, film x
grows against camera x and film y against camera y, ``x_fov`` spans the film width, pixel units
with (0, 0) at the top-left corner of the crop window. The Dr.Jit version is differentiable with
respect to the projected points (edge motion on the film); it is checked against
``Sensor.sample_direction`` in the tests.
"""
from __future__ import annotations

import numpy as np


class PinholeCamera:
    def __init__(self, sensor):
        import mitsuba as mi
        name = sensor.class_name()
        if name != "PerspectiveCamera":
            raise NotImplementedError(f"edge sampling supports perspective sensors, got {name}")
        film = sensor.film()
        if any(int(v) != 0 for v in film.crop_offset()) or list(film.crop_size()) != list(film.size()):
            raise NotImplementedError("edge sampling does not support film crop windows yet")
        params = mi.traverse(sensor)
        for k in ("principal_point_offset_x", "principal_point_offset_y"):
            if k in params and abs(float(np.array(params[k]).ravel()[0])) > 0:
                raise NotImplementedError("edge sampling does not support a principal point offset yet")
        self.W, self.H = (int(v) for v in film.crop_size())
        self.x_fov = float(np.array(params["x_fov"]).ravel()[0])
        self.near = float(sensor.near_clip())
        m = np.array(sensor.world_transform().matrix, dtype=np.float64)
        self.to_world = m.reshape(4, 4) if m.size == 16 else m[..., 0]
        self.to_camera = np.linalg.inv(self.to_world)
        self.origin = self.to_world[:3, 3].copy()
        self.tx = np.tan(np.radians(self.x_fov) / 2)
        self.ty = self.tx * self.H / self.W

    def camera_space(self, P: np.ndarray) -> np.ndarray:
        return P @ self.to_camera[:3, :3].T + self.to_camera[:3, 3]

    def film_np(self, Pc: np.ndarray) -> np.ndarray:
        """Pixel coordinates of camera-space points (z > 0)."""
        z = Pc[:, 2]
        return np.stack([self.W * 0.5 * (1 - Pc[:, 0] / (z * self.tx)),
                         self.H * 0.5 * (1 - Pc[:, 1] / (z * self.ty))], axis=1)

    def film(self, p):
        """Differentiable pixel coordinates (mi.Point2f) of world points ``p`` (mi.Point3f)."""
        import mitsuba as mi
        M = self.to_camera.tolist()  # Python floats: NumPy scalars would hijack Dr.Jit arithmetic
        c = [M[i][0] * p.x + M[i][1] * p.y + M[i][2] * p.z + M[i][3] for i in range(3)]
        return mi.Point2f(0.5 * self.W * (1 - c[0] / (c[2] * float(self.tx))),
                          0.5 * self.H * (1 - c[1] / (c[2] * float(self.ty))))
