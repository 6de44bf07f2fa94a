"""Named, differentiable emitter parameters that Mitsuba flags non-differentiable.

Mitsuba 3.9 lists a point light's ``<id>.position`` as non-differentiable: its integrators sample
emitters without derivative tracking. Penumbra's path tracers differentiate next-event estimation
with respect to the light's motion (:mod:`integrators.path.emitter_motion`), so
:class:`~scenes.params.ParameterMap` lists the position as a differentiable parameter (it does not
move visible geometry: a point light has no outline) and validates values (three finite numbers).
"""
from __future__ import annotations

import numpy as np

from penumbra.renderer.arrays import to_numpy

from .errors import ParameterError


def register_emitter_parameters(params) -> list[str]:
    """Mark point lights' ``position`` of ``params`` differentiable (validated setter). Returns the names."""
    names = []
    for name in list(params.mitsuba.keys()):
        _, _, node, _ = params.mitsuba.properties[name]
        if not name.endswith(".position") or getattr(node, "class_name", lambda: "")() != "PointLight":
            continue

        def get(name=name):
            return params.mitsuba[name]

        def set(value, name=name):
            a = to_numpy(value).astype(np.float64).ravel()
            if a.size != 3 or not np.all(np.isfinite(a)):
                raise ParameterError(f"parameter {name!r}: a point light's position must be 3 finite numbers, "
                                     f"got {a.tolist()}")
            params.write_mitsuba(name, value)
        params.register(name, get, set, differentiable=True, moves_geometry=False, owner="PointLight",
                        override=True)
        names.append(name)
    return names
