"""What a photo reconstruction recovers (:class:`Model`), the Mitsuba scene that renders it (every view's
sensor, the mesh, a hidden sky or environment map) and the silhouette + shading targets it is compared
with."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .texture import Atlas


@dataclass
class Model:
    """The recovered object and lighting: the mesh (``vertices`` (V, 3), ``faces`` (F, 3)), the
    per-vertex ``albedo`` (V, 3) (always kept: the PLY colours), the uniform ``sky`` radiance (3,),
    and optionally the albedo ``texture`` (R, R, 3) on the UV ``atlas`` (then the texture, not the
    per-vertex albedo, is rendered) and a low-resolution environment map ``envmap`` (H, W, 3) (then
    it replaces the uniform sky; :mod:`.lighting`)."""
    vertices: np.ndarray
    faces: np.ndarray
    albedo: np.ndarray
    sky: np.ndarray
    atlas: Atlas | None = None
    texture: np.ndarray | None = None
    envmap: np.ndarray | None = None
    light_frames: np.ndarray | None = None
    light_radiance: np.ndarray | None = None

    def with_(self, **changes) -> "Model":
        """A copy with the given fields replaced."""
        return replace(self, **changes)


def object_shape(model: Model):
    """The mesh ``obj`` of ``model`` as a Mitsuba shape: flat-shaded diffuse with the per-vertex albedo,
    or, with a texture, the atlas mesh (vertices split along the seams, with texture coordinates)
    with a bilinear ``bitmap`` reflectance."""
    import mitsuba as mi

    from penumbra.scenes import mesh_from_arrays
    V = np.asarray(model.vertices, np.float64).reshape(-1, 3)
    if model.texture is not None:
        bsdf = mi.load_dict({"type": "diffuse", "reflectance": {
            "type": "bitmap", "data": mi.TensorXf(np.asarray(model.texture, np.float32)), "raw": True,
            "filter_type": "bilinear", "wrap_mode": "clamp"}})
        return mesh_from_arrays(V[model.atlas.vertex], model.atlas.faces, name="obj", face_normals=True, bsdf=bsdf,
                                texcoords=model.atlas.uv, allow_degenerate=True)
    bsdf = mi.load_dict({"type": "diffuse", "reflectance": {"type": "mesh_attribute", "name": "vertex_color"}})
    mesh = mesh_from_arrays(V, model.faces, name="obj", face_normals=True, bsdf=bsdf, allow_degenerate=True)
    mesh.add_attribute("vertex_color", 3, mi.Float(np.asarray(model.albedo, np.float32).ravel()))
    return mesh


def sky_emitter(model: Model) -> dict:
    """The ``sky`` emitter of ``model``: its environment map, or a uniform sky."""
    import mitsuba as mi
    if model.envmap is not None:
        return {"type": "envmap", "bitmap": mi.Bitmap(np.ascontiguousarray(model.envmap, np.float32))}
    return {"type": "constant", "radiance": {"type": "rgb", "value": [float(x) for x in model.sky]}}


def build_scene(views, model: Model, spp: int, integrator: str = "edge_sampling"):
    """Mitsuba scene: every view's sensor (``view00000``, ... in view order), the mesh ``obj``
    (:func:`object_shape`), the hidden ``sky`` (:func:`sky_emitter`) and the model's area lights
    ``light0``, ... (:func:`.area_lights.light_shapes`), rendered by ``integrator``:
    ``edge_sampling`` (gradients with the visibility boundary terms) or Mitsuba's ``prb`` (interior
    terms only: for a fixed mesh)."""
    from penumbra.scenes import load_scene
    if integrator not in ("edge_sampling", "prb"):
        raise ValueError(f"build_scene: integrator must be 'edge_sampling' or 'prb', got {integrator!r}")
    extra = {"edge_spp": 4} if integrator == "edge_sampling" else {}
    d = {"type": "scene",
         "integrator": {"type": integrator, "max_depth": 2, "hide_emitters": True, **extra},
         "sky": sky_emitter(model), "obj": object_shape(model)}
    if model.light_frames is not None:
        from .area_lights import light_shapes
        d.update(light_shapes(model.light_frames, model.light_radiance))
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
