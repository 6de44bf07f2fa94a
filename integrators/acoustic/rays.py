"""Ray-tracing helpers shared by the polyhedral path search and the late-reverberation tracer: the
room surface as a Mitsuba scene and uniformly spread ray directions."""
from __future__ import annotations

import math

import numpy as np


def fibonacci_sphere(n: int) -> np.ndarray:
    """(n, 3) unit directions on the Fibonacci sphere (golden-angle spiral; near-uniform spacing)."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    r = np.sqrt(np.maximum(0.0, 1.0 - z * z))
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def room_scene(V, F):
    """A Mitsuba scene holding the room mesh (vertices ``V`` (n, 3), faces ``F`` (m, 3)) as one shape
    (primitive index = face index), for ray intersection."""
    import mitsuba as mi
    from penumbra.scenes.meshes import mesh_from_arrays
    mesh = mesh_from_arrays(V, F, name="room", allow_degenerate=True)
    return mi.load_dict({"type": "scene", "room": mesh})
