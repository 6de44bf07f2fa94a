"""Pinhole camera model of Mitsuba's ``perspective`` sensor: projection, intrinsics, film filter.

Mirrors Mitsuba 3.9's ``perspective`` sensor: the camera looks along +z of its ``to_world`` frame, film
x grows against camera x and film y against camera y, ``x_fov`` spans the film width, pixels are
square, and the principal point offsets ``(p_x, p_y)`` (fractions of the film size) shift the image
by ``(-p_x W, -p_y H)`` pixels. In pixel units with (0, 0) at the film's top-left corner, a
camera-space point (X, Y, Z) lands at ``K (X, Y, Z)^T`` (homogeneous) with

    K = [[-f, 0, W/2 - p_x W], [0, -f, H/2 - p_y H], [0, 0, 1]],    f = W / (2 tan(x_fov / 2)).

All of this is checked against ``Sensor.sample_direction`` in ``tests/path/test_camera.py``.

:class:`PinholeCamera` holds a *detached* NumPy copy (edge selection and clipping; its Dr.Jit
:meth:`PinholeCamera.film` is differentiable with respect to the projected points only, i.e. edge
motion on the film); :func:`camera_matrices` returns the camera's linear part and intrinsics as Dr.Jit
matrices that stay *attached* to the sensor's parameters (camera derivatives,
:mod:`integrators.path.camera_motion`).
"""
from __future__ import annotations

import numpy as np


def _check_supported(sensor):
    name = sensor.class_name()
    if name != "PerspectiveCamera":
        raise NotImplementedError(f"edge sampling supports perspective sensors, got {name}")
    film = sensor.film()
    if any(int(v) != 0 for v in film.crop_offset()) or list(film.crop_size()) != list(film.size()):
        raise NotImplementedError("edge sampling does not support film crop windows yet")


def _scalar(value) -> float:
    return float(np.array(value).ravel()[0])


class PinholeCamera:
    def __init__(self, sensor):
        import mitsuba as mi
        _check_supported(sensor)
        film = sensor.film()
        params = mi.traverse(sensor)
        self.W, self.H = (int(v) for v in film.crop_size())
        self.x_fov = _scalar(params["x_fov"])
        self.principal_point = (_scalar(params["principal_point_offset_x"]),
                                _scalar(params["principal_point_offset_y"]))
        self.near = float(sensor.near_clip())
        m = np.array(sensor.world_transform().matrix, dtype=np.float64)
        self.to_world = m.reshape(4, 4) if m.size == 16 else m[..., 0]
        self.to_camera = np.linalg.inv(self.to_world)
        self.origin = self.to_world[:3, 3].copy()
        self.tx = np.tan(np.radians(self.x_fov) / 2)
        self.ty = self.tx * self.H / self.W
        # Film position of the optical axis, in pixels.
        self.cx = 0.5 * self.W - self.principal_point[0] * self.W
        self.cy = 0.5 * self.H - self.principal_point[1] * self.H

    def camera_space(self, P: np.ndarray) -> np.ndarray:
        return P @ self.to_camera[:3, :3].T + self.to_camera[:3, 3]

    def film_np(self, Pc: np.ndarray) -> np.ndarray:
        """Pixel coordinates of camera-space points (z > 0)."""
        z = Pc[:, 2]
        return np.stack([self.cx - 0.5 * self.W * Pc[:, 0] / (z * self.tx),
                         self.cy - 0.5 * self.H * Pc[:, 1] / (z * self.ty)], axis=1)

    def film(self, p):
        """Differentiable pixel coordinates (mi.Point2f) of world points ``p`` (mi.Point3f)."""
        import mitsuba as mi
        M = self.to_camera.tolist()  # Python floats: NumPy scalars would hijack Dr.Jit arithmetic
        c = [M[i][0] * p.x + M[i][1] * p.y + M[i][2] * p.z + M[i][3] for i in range(3)]
        return mi.Point2f(float(self.cx) - 0.5 * self.W * c[0] / (c[2] * float(self.tx)),
                          float(self.cy) - 0.5 * self.H * c[1] / (c[2] * float(self.ty)))


def camera_matrices(sensor):
    """``(A, t, K)``: the sensor's ``to_world`` linear part (Matrix3f), camera centre (Vector3f) and
    intrinsics (Matrix3f, see the module docstring), as width-1 Dr.Jit values that stay attached to
    the sensor's ``to_world``, ``x_fov`` and principal point offsets when those carry gradients."""
    import drjit as dr
    import mitsuba as mi
    _check_supported(sensor)
    params = mi.traverse(sensor)
    W, H = (int(v) for v in sensor.film().crop_size())
    M = sensor.world_transform().matrix
    A = mi.Matrix3f([[M[i][j] for j in range(3)] for i in range(3)])
    t = mi.Vector3f(M[0][3], M[1][3], M[2][3])
    f = (0.5 * W) / dr.tan(dr.deg2rad(mi.Float(params["x_fov"])) * 0.5)
    cx = 0.5 * W - mi.Float(params["principal_point_offset_x"]) * W
    cy = 0.5 * H - mi.Float(params["principal_point_offset_y"]) * H
    zero, one = mi.Float(0.0), mi.Float(1.0)
    K = mi.Matrix3f([[-f, zero, cx], [zero, -f, cy], [zero, zero, one]])
    return A, t, K


def camera_radiance(integrator, scene, sensor, pos, sampler):
    """Radiance (detached, times the sensor weight) arriving through film points ``pos`` (pixels,
    mi.Point2f; points outside the film extrapolate the projection) by the integrator's primal
    estimator. Used by the boundary and camera terms to evaluate the image at chosen film points."""
    import drjit as dr
    import mitsuba as mi
    film = sensor.film()
    inv = mi.ScalarVector2f(1.0 / film.crop_size()[0], 1.0 / film.crop_size()[1])
    with dr.suspend_grad():
        ray, w = sensor.sample_ray(sensor.shutter_open(), 0.5, pos * inv, mi.Point2f(0.5))
        L, _, _, _ = integrator.sample(mode=dr.ADMode.Primal, scene=scene, sampler=sampler, ray=ray,
                                       depth=mi.UInt32(0), δL=None, δaovs=None, state_in=None,
                                       active=mi.Bool(True))
        return dr.detach(L * w)
