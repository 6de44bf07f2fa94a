"""Named, differentiable camera parameters: pose, field of view and principal point of perspective sensors.

Mitsuba exposes ``<sensor>.to_world`` (4x4 affine transform), ``<sensor>.x_fov`` (degrees, along the
film width) and ``<sensor>.principal_point_offset_x/_y`` (fractions of the film size) but flags them
non-differentiable, because its integrators detach camera rays. Penumbra's path tracer
(``edge_sampling``, :mod:`integrators.path.camera_motion`) differentiates them, so
:class:`~scenes.params.ParameterMap` lists them as differentiable parameters that move geometry (in
the image: they need boundary terms) under the same names, and validates values: finite, an
invertible ``to_world``, ``0 < x_fov < 180``. They are set like any other parameter, as plain values
(finite differences, primal renders) or as attached Dr.Jit values (gradients).
"""
from __future__ import annotations

import numpy as np

from penumbra.renderer.arrays import to_numpy

from .errors import ParameterError

CAMERA_KEYS = ("to_world", "x_fov", "principal_point_offset_x", "principal_point_offset_y")


def _check(name, leaf, value):
    a = to_numpy(value).astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ParameterError(f"parameter {name!r}: value contains NaN or Inf")
    if leaf == "x_fov":
        fov = float(a.ravel()[0])
        if not 0.0 < fov < 180.0:
            raise ParameterError(f"parameter {name!r}: field of view must lie in (0, 180) degrees, got {fov:g}")
    elif leaf == "to_world":
        m = a.reshape(4, 4)
        if abs(np.linalg.det(m[:3, :3])) < 1e-12 or not np.allclose(m[3], [0, 0, 0, 1]):
            raise ParameterError(f"parameter {name!r}: camera to_world must be an invertible affine transform "
                                 f"(got\n{m})")


def register_camera_parameters(params) -> list[str]:
    """Mark the perspective sensors' pose, fov and principal point of ``params`` differentiable
    (validated setters writing to Mitsuba). Returns the names."""
    names = []
    for name in list(params.mitsuba.keys()):
        _, _, node, _ = params.mitsuba.properties[name]
        leaf = name.rsplit(".", 1)[-1]
        if leaf not in CAMERA_KEYS or getattr(node, "class_name", lambda: "")() != "PerspectiveCamera":
            continue

        def get(name=name):
            return params.mitsuba[name]

        def set(value, name=name, leaf=leaf):
            _check(name, leaf, value)
            params.write_mitsuba(name, value)
        params.register(name, get, set, differentiable=True, moves_geometry=True,
                        owner="PerspectiveCamera", override=True)
        names.append(name)
    return names
