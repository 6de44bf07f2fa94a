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


def save_mesh(mesh, path, colors=None) -> str:
    """Write an ``mi.Mesh`` (or a ``(vertices, faces)`` pair) as PLY (binary) or OBJ. ``colors``
    (V, 3) in [0, 1]: per-vertex colours, written as PLY ``red green blue`` (uchar) properties or
    as OBJ's ``v x y z r g b`` extension (read by MeshLab, Blender, trimesh)."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".ply", ".obj"):
        raise SceneError(f"cannot save mesh to {path!r}: unsupported extension {ext!r} (use .ply or .obj)")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if colors is not None:
        V, F = mesh if isinstance(mesh, tuple) else mesh_arrays(mesh)
        V, F = np.asarray(V, np.float32).reshape(-1, 3), np.asarray(F, np.int64).reshape(-1, 3)
        C = np.asarray(colors, np.float64)
        if C.shape != V.shape or not np.all(np.isfinite(C)):
            raise SceneError(f"save_mesh: colors must be finite and of shape {V.shape}, got {C.shape}")
        C = np.clip(C, 0.0, 1.0)
        if ext == ".ply":
            _write_colored_ply(path, V, F, C)
        else:
            _write_obj(path, np.concatenate([V, C], axis=1), F, "v %.8g %.8g %.8g %.5f %.5f %.5f")
        return path
    if isinstance(mesh, tuple):
        mesh = mesh_from_arrays(*mesh, allow_degenerate=True)
    if ext == ".ply":
        mesh.write_ply(path)
    else:
        V, F = mesh_arrays(mesh)
        _write_obj(path, V, F, "v %.8g %.8g %.8g")
    return path


def _write_obj(path, vertex_rows, faces, fmt):
    with open(path, "w") as f:
        f.write("# written by Penumbra\n")
        np.savetxt(f, vertex_rows, fmt=fmt)
        np.savetxt(f, np.asarray(faces, np.int64) + 1, fmt="f %d %d %d")


def _write_colored_ply(path, V, F, C):
    """Binary little-endian PLY with float positions, uchar colours and int32 triangle indices."""
    header = ("ply\nformat binary_little_endian 1.0\ncomment written by Penumbra\n"
              f"element vertex {len(V)}\nproperty float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\n"
              f"element face {len(F)}\nproperty list uchar int vertex_indices\nend_header\n")
    vert = np.zeros(len(V), dtype=[("p", "<f4", 3), ("c", "u1", 3)])
    vert["p"], vert["c"] = V, np.round(C * 255).astype(np.uint8)
    face = np.zeros(len(F), dtype=[("n", "u1"), ("i", "<i4", 3)])
    face["n"], face["i"] = 3, F
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(vert.tobytes())
        f.write(face.tobytes())
