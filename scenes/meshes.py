"""Triangle meshes in and out: PLY / OBJ / Mitsuba's serialized format through Mitsuba's loaders,
PLY and OBJ writers, and meshes built from NumPy arrays with validation.

Vertex arrays follow :mod:`renderer.arrays`: positions (V, 3) float, faces (F, 3) integer.
"""
from __future__ import annotations

import os

import numpy as np

from penumbra.renderer import ensure_variant

from .errors import SceneError

_LOADERS = {".ply": "ply", ".obj": "obj", ".serialized": "serialized"}


def load_mesh(path, **props):
    """Load a mesh file as an ``mi.Mesh`` (extra keyword arguments become plugin properties)."""
    import mitsuba as mi
    ensure_variant()
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in _LOADERS:
        raise SceneError(f"cannot load mesh {path!r}: unsupported extension {ext!r} (use {', '.join(_LOADERS)})")
    if not os.path.exists(path):
        raise FileNotFoundError(f"mesh file not found: {path}")
    try:
        mesh = mi.load_dict({"type": _LOADERS[ext], "filename": path, **props})
    except Exception as e:
        raise SceneError(f"cannot load mesh {path!r}: {e}") from e
    return check_face_indices(mesh, f"mesh {path!r}")


def check_face_indices(mesh, what: str):
    """Refuse a mesh whose faces index vertices it does not have (Mitsuba's PLY loader accepts them,
    and the next ray traced against the mesh reads out of bounds); return the mesh."""
    import drjit as dr
    faces = mesh.faces_buffer()
    if dr.width(faces):
        top = int(dr.max(faces, axis=None)[0])
        if top >= mesh.vertex_count():
            raise SceneError(f"{what}: a face refers to vertex {top}, but the mesh has {mesh.vertex_count()} "
                             "vertices")
    return mesh


def mesh_arrays(mesh) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V, 3) float32, faces (F, 3) uint32) of an ``mi.Mesh``."""
    import mitsuba as mi
    params = mi.traverse(mesh)
    V = np.array(params["vertex_positions"], dtype=np.float32).reshape(-1, 3)
    F = np.array(params["faces"], dtype=np.uint32).reshape(-1, 3)
    return V, F


def validate_mesh_arrays(vertices, faces, name="mesh", allow_degenerate=False):
    """Check shapes, finiteness, index range and (unless allowed) zero-area faces; return clean arrays."""
    V = np.asarray(vertices, dtype=np.float64)
    F = np.asarray(faces)
    if V.ndim != 2 or V.shape[1] != 3:
        raise SceneError(f"{name}: vertices must have shape (V, 3), got {V.shape}")
    if F.ndim != 2 or F.shape[1] != 3:
        raise SceneError(f"{name}: faces must have shape (F, 3), got {F.shape}")
    if not np.issubdtype(F.dtype, np.integer):
        raise SceneError(f"{name}: faces must be integer vertex indices, got dtype {F.dtype}")
    bad = np.flatnonzero(~np.all(np.isfinite(V), axis=1))
    if bad.size:
        raise SceneError(f"{name}: {bad.size} vertex position(s) are NaN/Inf (first: vertex {bad[0]})")
    if F.size and (F.min() < 0 or F.max() >= len(V)):
        raise SceneError(f"{name}: face indices must lie in [0, {len(V) - 1}], found range [{F.min()}, {F.max()}]")
    if not allow_degenerate and F.size:
        e1, e2 = V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]
        area = 0.5 * np.linalg.norm(np.cross(e1, e2), axis=1)
        scale = max(float(np.ptp(V, axis=0).max()), 1e-30) ** 2
        deg = np.flatnonzero(area <= 1e-12 * scale)
        if deg.size:
            raise SceneError(f"{name}: {deg.size} degenerate (zero-area) triangle(s), first: face {deg[0]} "
                             f"{F[deg[0]].tolist()}; remove them or pass allow_degenerate=True")
    return V.astype(np.float32), F.astype(np.uint32)


def mesh_from_arrays(vertices, faces, name="mesh", normals=None, texcoords=None, bsdf=None,
                     face_normals=False, allow_degenerate=False):
    """Build an ``mi.Mesh`` from NumPy arrays (validated by :func:`validate_mesh_arrays`)."""
    import mitsuba as mi
    ensure_variant()
    V, F = validate_mesh_arrays(vertices, faces, name, allow_degenerate)
    has_n = not face_normals
    props = mi.Properties()
    if face_normals:
        props["face_normals"] = True
    if bsdf is not None:
        props["bsdf"] = bsdf if not isinstance(bsdf, dict) else mi.load_dict(bsdf)
    mesh = mi.Mesh(name, len(V), len(F), props=props, has_vertex_normals=has_n,
                   has_vertex_texcoords=texcoords is not None)
    params = mi.traverse(mesh)
    params["vertex_positions"] = mi.Float(V.ravel())
    params["faces"] = mi.UInt(F.ravel())
    if has_n and normals is not None:
        params["vertex_normals"] = mi.Float(np.asarray(normals, np.float32).ravel())
    if texcoords is not None:
        params["vertex_texcoords"] = mi.Float(np.asarray(texcoords, np.float32).ravel())
    params.update()
    if normals is None and not face_normals:
        mesh.recompute_vertex_normals()
    return mesh


def save_mesh(mesh, path) -> str:
    """Write an ``mi.Mesh`` (or a ``(vertices, faces)`` pair) as PLY (binary, via Mitsuba) or OBJ."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if isinstance(mesh, tuple):
        mesh = mesh_from_arrays(*mesh, allow_degenerate=True)
    if ext == ".ply":
        mesh.write_ply(path)
    elif ext == ".obj":
        V, F = mesh_arrays(mesh)
        with open(path, "w") as f:
            f.write("# written by Penumbra\n")
            np.savetxt(f, V, fmt="v %.8g %.8g %.8g")
            np.savetxt(f, F + 1, fmt="f %d %d %d")
    else:
        raise SceneError(f"cannot save mesh to {path!r}: unsupported extension {ext!r} (use .ply or .obj)")
    return path
