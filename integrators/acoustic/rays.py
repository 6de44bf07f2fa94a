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


_SCENES: dict = {}
SCENE_CACHE = 4        # scenes kept for reuse (the pairs of a batch share their room's)


def room_scene(V, F):
    """A Mitsuba scene holding the room mesh (vertices ``V`` (n, 3), faces ``F`` (m, 3)) as one shape
    (primitive index = face index), for ray intersection; the scene of a recent call with the same arrays
    is reused."""
    import mitsuba as mi
    from penumbra.scenes.meshes import mesh_from_arrays
    key = (mi.variant(), np.ascontiguousarray(V, np.float64).tobytes(), np.ascontiguousarray(F, np.int64).tobytes())
    scene = _SCENES.pop(key, None)
    if scene is None:
        mesh = mesh_from_arrays(V, F, name="room", allow_degenerate=True)
        scene = mi.load_dict({"type": "scene", "room": mesh})
    _SCENES[key] = scene
    while len(_SCENES) > SCENE_CACHE:
        _SCENES.pop(next(iter(_SCENES)))
    return scene
