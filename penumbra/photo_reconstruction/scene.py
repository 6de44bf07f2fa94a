"""The Mitsuba scene that a photo reconstruction renders (every view's sensor, the mesh, a hidden sky) and
the silhouette + shading targets it is compared with."""
from __future__ import annotations

import numpy as np


def build_scene(views, V, F, albedo, sky_radiance, spp: int):
    """Mitsuba scene: every view's sensor, the mesh ``obj`` (flat-shaded diffuse, per-vertex albedo),
    and a hidden uniform sky."""
    import mitsuba as mi

    from penumbra.scenes import load_scene, mesh_from_arrays
    bsdf = mi.load_dict({"type": "diffuse", "reflectance": {"type": "mesh_attribute", "name": "vertex_color"}})
    mesh = mesh_from_arrays(V, F, name="obj", face_normals=True, bsdf=bsdf, allow_degenerate=True)
    mesh.add_attribute("vertex_color", 3, mi.Float(np.asarray(albedo, np.float32).ravel()))
    d = {"type": "scene",
         "integrator": {"type": "edge_sampling", "max_depth": 2, "edge_spp": 4, "hide_emitters": True},
         "sky": {"type": "constant", "radiance": {"type": "rgb", "value": [float(x) for x in sky_radiance]}},
         "obj": mesh}
    names = [f"view{i:05d}" for i in range(len(views))]   # zero-padded: Mitsuba orders sensors by name
    for name, pv in zip(names, views):
        sensor = dict(pv.sensor)
        sensor["sampler"] = {"type": "independent", "sample_count": int(spp)}
        d[name] = sensor
    scene = load_scene(d)
    if [s.id() for s in scene.sensors()] != names:
        raise RuntimeError("reconstruct_photos: the scene's sensors are not in the order of the views")
    return scene


def targets(views, floor: float) -> list[np.ndarray]:
    """Silhouette + shading targets (module docstring, step 3), one (H, W, 3) image per view."""
    out = []
    for pv in views:
        inside = pv.mask > 0.5
        lo = floor * np.median(pv.image[inside], axis=0) if inside.any() else 0.0
        out.append((pv.mask[..., None] * np.maximum(pv.image, lo)).astype(np.float32))
    return out
