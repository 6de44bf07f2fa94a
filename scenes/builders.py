"""Small scene builders returning Mitsuba scene dictionaries (load them with ``scenes.load_scene``).

They compose: ``scene(camera(...), integrator("prb"), shapes={"floor": rectangle(...), ...})``.
Tests, demos and benchmarks build their configurations from these pieces instead of repeating
dictionaries.
"""
from __future__ import annotations

import numpy as np


def _T():
    import mitsuba as mi
    from penumbra.renderer import ensure_variant
    ensure_variant()
    return mi.ScalarTransform4f


def rgb(value):
    v = np.broadcast_to(np.asarray(value, dtype=float), (3,))
    return {"type": "rgb", "value": [float(x) for x in v]}


def diffuse(reflectance=0.5, texture: str | None = None):
    """Lambertian BSDF with a constant RGB reflectance or a bitmap texture file."""
    if texture is not None:
        return {"type": "diffuse", "reflectance": {"type": "bitmap", "filename": texture}}
    return {"type": "diffuse", "reflectance": rgb(reflectance)}


def rough_conductor(alpha=0.1, material="Al"):
    return {"type": "roughconductor", "alpha": float(alpha), "material": material}


def camera(origin=(0, 0, 4), target=(0, 0, 0), up=(0, 1, 0), fov=40.0, resolution=64, spp=16,
           filter="box", film_type="hdrfilm"):
    """Perspective camera (``fov`` in degrees, along x) with an HDR film of ``resolution`` pixels
    (int for square, or (width, height))."""
    w, h = (resolution, resolution) if np.isscalar(resolution) else resolution
    return {"type": "perspective", "fov": float(fov), "fov_axis": "x",
            "to_world": _T().look_at(origin=list(origin), target=list(target), up=list(up)),
            "sampler": {"type": "independent", "sample_count": int(spp)},
            "film": {"type": film_type, "width": int(w), "height": int(h), "rfilter": {"type": filter},
                     "pixel_format": "rgb", "sample_border": True}}


def area_light(radiance=10.0):
    return {"type": "area", "radiance": rgb(radiance)}


def rectangle(center=(0, 0, 0), size=1.0, normal=(0, 0, 1), bsdf=None, emitter=None, up=(0, 1, 0)):
    """A square/rectangle of side(s) ``size`` centred at ``center`` facing ``normal``."""
    T = _T()
    sx, sy = (size, size) if np.isscalar(size) else size
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    u = np.asarray(up, float)
    if abs(np.dot(u, n)) > 0.99:
        u = np.array([1.0, 0, 0])
    to_world = T.look_at(origin=list(center), target=list(np.asarray(center) + n), up=list(u)) @ \
        T().scale([0.5 * sx, 0.5 * sy, 1.0])
    d = {"type": "rectangle", "to_world": to_world}
    if bsdf is not None:
        d["bsdf"] = bsdf
    if emitter is not None:
        d["emitter"] = emitter
    return d


def sphere(center=(0, 0, 0), radius=1.0, bsdf=None, emitter=None):
    d = {"type": "sphere", "center": list(center), "radius": float(radius)}
    if bsdf is not None:
        d["bsdf"] = bsdf
    if emitter is not None:
        d["emitter"] = emitter
    return d


def mesh_file(filename, bsdf=None, face_normals=False, to_world=None):
    ext = str(filename).rsplit(".", 1)[-1].lower()
    d = {"type": ext, "filename": str(filename), "face_normals": bool(face_normals)}
    if bsdf is not None:
        d["bsdf"] = bsdf
    if to_world is not None:
        d["to_world"] = to_world
    return d


def constant_environment(radiance=1.0):
    return {"type": "constant", "radiance": rgb(radiance)}


def integrator(name="path", **props):
    return {"type": name, **props}


def scene(sensor, integrator_dict=None, shapes: dict | None = None, emitters: dict | None = None):
    """Assemble a scene dict; ``shapes``/``emitters`` map ids (parameter-name prefixes) to dicts."""
    d = {"type": "scene", "sensor": sensor, "integrator": integrator_dict or integrator("path")}
    for key, value in {**(shapes or {}), **(emitters or {})}.items():
        if key in d:
            raise ValueError(f"scene(): id {key!r} is reserved")
        d[key] = value
    return d


def icosphere(subdivisions: int = 2, radius: float = 1.0, center=(0.0, 0.0, 0.0)):
    """Vertices (V, 3) and faces (F, 3) of a geodesic sphere: an icosahedron subdivided
    ``subdivisions`` times (20 * 4**subdivisions faces), vertices projected to the sphere."""
    t = (1.0 + 5 ** 0.5) / 2
    V = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t), (0, 1, -t),
         (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    F = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
         (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5),
         (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    V = [np.asarray(v, float) / np.linalg.norm(v) for v in V]
    for _ in range(subdivisions):
        cache, F2 = {}, []

        def mid(a, b):
            key = (min(a, b), max(a, b))
            if key not in cache:
                m = V[a] + V[b]
                V.append(m / np.linalg.norm(m))
                cache[key] = len(V) - 1
            return cache[key]
        for a, b, c in F:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            F2 += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        F = F2
    return np.asarray(V) * radius + np.asarray(center, float), np.asarray(F, dtype=np.uint32)
