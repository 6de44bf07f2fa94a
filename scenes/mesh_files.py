"""Room surfaces read from mesh files (Wavefront OBJ, PLY), with their named parts, and the conversion of
a file's frame (up axis, length unit) into the rooms' frame (z up, metres).

* OBJ is parsed here (a small reader rather than a dependency: it keeps the file's ``o`` objects,
  ``g`` groups and ``usemtl`` materials, which name the walls; polygons with more than three corners
  are ear-clipped in their plane, so non-convex n-gon floors stay correct).
* PLY goes through Mitsuba's ``ply`` loader (ASCII and binary); the whole file is one part, named
  by the file stem, split into walls by plane later.
* Other formats are read by ``trimesh`` when it is installed (one part per geometry of the scene).

Up axis: :func:`up_rotation` maps the named axis (``"x"``, ``"y"``, ``"z"``, ``"-x"``, ...) onto +z by a
proper rotation; :func:`detect_up` chooses it from the geometry (rule in its docstring).
"""
from __future__ import annotations

import os

import numpy as np

from .errors import SceneError

UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "ft": 0.3048, "in": 0.0254}

# proper rotations taking the named axis onto +z (rows: new x, y, z)
_UP = {"z": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "-z": [[1, 0, 0], [0, -1, 0], [0, 0, -1]],
       "y": [[1, 0, 0], [0, 0, -1], [0, 1, 0]], "-y": [[1, 0, 0], [0, 0, 1], [0, -1, 0]],
       "x": [[0, 0, -1], [0, 1, 0], [1, 0, 0]], "-x": [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]}


class MeshFileError(SceneError):
    """A mesh file that cannot be read as a room surface (not found, not a mesh, unsupported format)."""


def unit_scale(units) -> float:
    """Metres per file unit: ``"m"``, ``"cm"``, ``"mm"``, ``"ft"``, ``"in"`` or a positive number."""
    if isinstance(units, str):
        if units not in UNITS:
            raise MeshFileError(f"unknown units {units!r}; use one of {', '.join(UNITS)} or a number "
                                "(metres per file unit)")
        return UNITS[units]
    try:
        s = float(units)
    except (TypeError, ValueError):
        raise MeshFileError(f"units must be one of {', '.join(UNITS)} or a number, got {units!r}") from None
    if not (np.isfinite(s) and s > 0):
        raise MeshFileError(f"units scale must be a positive number (metres per file unit), got {units!r}")
    return s


def up_rotation(up: str) -> np.ndarray:
    """(3, 3) rotation taking the axis ``up`` (``"x"``, ``"y"``, ``"z"``, ``"-x"``, ``"-y"``, ``"-z"``,
    ``"+y"``, ...) onto +z: new coordinates are ``R @ p``."""
    key = up.lower().lstrip("+") if isinstance(up, str) else up
    if key not in _UP:
        raise MeshFileError(f"unknown up axis {up!r}; use 'x', 'y', 'z', '-x', '-y', '-z' or 'auto' "
                            "(detected from the geometry)")
    return np.array(_UP[key], np.float64)


def _is_prism_along(V, F, axis, tol):
    """Whether the closed surface (V, F) is a prism along coordinate ``axis``: every face normal parallel
    or perpendicular to it, and every vertex on one of the two extreme planes."""
    e1, e2 = V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]
    n = np.cross(e1, e2)
    ln = np.linalg.norm(n, axis=1)
    n = n[ln > 0] / ln[ln > 0, None]
    c = np.abs(n[:, axis])
    if not np.all((c < tol) | (c > 1 - tol)):
        return False
    h = V[:, axis]
    ext = max(float(np.ptp(V, axis=0).max()), 1e-30)
    return bool(np.all((np.abs(h - h.min()) < tol * ext) | (np.abs(h - h.max()) < tol * ext)))


def detect_up(V, F, tol: float = 1e-6) -> str:
    """The up axis of a room mesh, by this rule:

    1. if the room is a prism (extruded floor plan) along exactly one coordinate axis, that axis;
    2. otherwise the coordinate axis with the largest total area of faces perpendicular to it (floors,
       ceilings, stage and balcony tops are horizontal); ties (within 1 %) go to z, then y, then x.

    Sign: the axis points from the larger of the two extreme horizontal areas (the floor, which a
    stage or tiers add to) towards the smaller one; equal areas (within 1 %) give the positive axis."""
    V, F = np.asarray(V, np.float64), np.asarray(F, np.int64)
    prisms = [a for a in range(3) if _is_prism_along(V, F, a, tol)]
    e1, e2 = V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]
    cr = np.cross(e1, e2)
    area = 0.5 * np.linalg.norm(cr, axis=1)
    n = cr / np.maximum(2 * area, 1e-300)[:, None]
    perp = np.abs(n) > 1 - 1e-3                          # (F, 3): face perpendicular to the axis
    if len(prisms) == 1:
        axis = prisms[0]
    else:
        tot = (perp * area[:, None]).sum(axis=0)
        best = tot.max()
        axis = next(a for a in (2, 1, 0) if tot[a] >= 0.99 * best)
    h = V[F, axis].mean(axis=1)
    ext = max(float(np.ptp(V, axis=0).max()), 1e-30)
    lo = area[perp[:, axis] & (np.abs(h - V[:, axis].min()) < 1e-3 * ext)].sum()
    hi = area[perp[:, axis] & (np.abs(h - V[:, axis].max()) < 1e-3 * ext)].sum()
    sign = "-" if hi > 1.01 * lo else ""
    return sign + "xyz"[axis]


# ----------------------------------------------------------------------------------------------
# Readers: each returns a list of parts (name, vertices (n, 3), faces (m, 3), material name or None)

def read_mesh(path) -> list:
    """The parts of the mesh file ``path``: a list of ``(name, V (n, 3) float64, F (m, 3) int64, material)``
    in the file's own coordinates (see the module docstring for the formats)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"room mesh file not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".obj":
        parts = read_obj(path)
    elif ext == ".ply":
        parts = _read_ply(path)
    else:
        parts = _read_trimesh(path)
    parts = [p for p in parts if len(p[2])]
    if not parts:
        raise MeshFileError(f"{path} holds no triangles or polygons (f lines / faces); a room needs a "
                            "closed surface mesh")
    return parts


def read_obj(path) -> list:
    """Parts of a Wavefront OBJ file: one per (group or object, material) run of faces, named by the group
    (``g``), else the object (``o``), else the material (``usemtl``), else the file stem; a group with
    several materials gives parts ``<group>.<material>``."""
    from .room import triangulate_polygon
    verts, keys, faces = [], [], []
    obj = grp = mtl = None
    with open(path, "rb") as f:
        raw = f.read()
    if b"\0" in raw[:4096]:
        raise MeshFileError(f"{path} is not a text OBJ file (binary data); export the room as OBJ text or PLY")
    text = raw.decode("utf-8", errors="replace")
    lines = text.replace("\\\n", " ").splitlines()
    for ln, line in enumerate(lines, 1):
        tok = line.split("#", 1)[0].split()
        if not tok:
            continue
        kw = tok[0]
        try:
            if kw == "v":
                verts.append([float(t) for t in tok[1:4]])
                if len(verts[-1]) != 3:
                    raise ValueError("a vertex needs 3 coordinates")
            elif kw == "o":
                obj, grp = " ".join(tok[1:]) or None, None
            elif kw == "g":
                grp = " ".join(tok[1:]) or None
            elif kw == "usemtl":
                mtl = " ".join(tok[1:]) or None
            elif kw == "f":
                idx = [int(t.split("/")[0]) for t in tok[1:]]
                if len(idx) < 3:
                    raise ValueError("a face needs at least 3 corners")
                n = len(verts)
                idx = [i - 1 if i > 0 else n + i for i in idx]
                if min(idx) < 0 or max(idx) >= n:
                    raise ValueError(f"vertex index out of range (the file has {n} vertices so far)")
                if len(idx) == 3:
                    tris = [idx]
                else:
                    tris = [[idx[a] for a in t] for t in _polygon_triangles(np.array(verts)[idx],
                                                                          triangulate_polygon)]
                for t in tris:
                    faces.append(t)
                    keys.append((grp or obj, mtl))
        except ValueError as e:
            raise MeshFileError(f"{path}, line {ln}: cannot read {line.strip()!r}: {e}") from None
    if not verts:
        raise MeshFileError(f"{path} is not an OBJ mesh: no vertex (v) lines")
    V = np.array(verts, np.float64)
    F = np.array(faces, np.int64).reshape(-1, 3)
    stem = os.path.splitext(os.path.basename(path))[0]
    order = list(dict.fromkeys(keys))
    groups_with = {}
    for g, m in order:
        groups_with.setdefault(g, set()).add(m)
    parts = []
    keys_arr = np.array([order.index(k) for k in keys], np.int64)
    for i, (g, m) in enumerate(order):
        name = g if g is not None else (m if m is not None else stem)
        if g is not None and len(groups_with[g]) > 1:
            name = f"{g}.{m}"
        sel = F[keys_arr == i]
        used = np.unique(sel)
        remap = np.full(len(V), -1, np.int64)
        remap[used] = np.arange(len(used))
        parts.append((name, V[used], remap[sel], m))
    return parts


def _polygon_triangles(P, triangulate):
    """Triangles (index triples into ``P``) of a planar polygon with corners ``P`` (n, 3), ear-clipped in
    its plane (Newell normal); corners keep the polygon's winding."""
    n = np.zeros(3)
    for i in range(len(P)):
        a, b = P[i], P[(i + 1) % len(P)]
        n += np.array([(a[1] - b[1]) * (a[2] + b[2]), (a[2] - b[2]) * (a[0] + b[0]), (a[0] - b[0]) * (a[1] + b[1])])
    if np.linalg.norm(n) == 0:
        return [[0, i, i + 1] for i in range(1, len(P) - 1)]
    n /= np.linalg.norm(n)
    u = np.cross(n, [1.0, 0, 0] if abs(n[0]) < 0.9 else [0, 1.0, 0])
    u /= np.linalg.norm(u)
    v = np.cross(n, u)
    Q = np.stack([P @ u, P @ v], axis=1)          # counter-clockwise seen along -n
    try:
        return triangulate(Q)
    except SceneError:
        return [[0, i, i + 1] for i in range(1, len(P) - 1)]


def _read_ply(path) -> list:
    import mitsuba as mi
    from penumbra.renderer import ensure_variant
    ensure_variant()
    try:
        mesh = mi.load_dict({"type": "ply", "filename": os.path.abspath(path)})
    except Exception as e:  # Mitsuba raises RuntimeError / SystemError with its own text
        raise MeshFileError(f"{path} is not a readable PLY mesh: {str(e).splitlines()[-1] if str(e) else e}") \
            from None
    params = mi.traverse(mesh)
    V = np.array(params["vertex_positions"], np.float64).reshape(-1, 3)
    F = np.array(params["faces"], np.int64).reshape(-1, 3)
    return [(os.path.splitext(os.path.basename(path))[0], V, F, None)]


def _read_trimesh(path) -> list:
    ext = os.path.splitext(path)[1]
    try:
        import trimesh
    except ImportError:
        raise MeshFileError(f"cannot read {ext or 'extension-less'} room files ({path}) without trimesh; "
                            "export the room as OBJ or PLY, pass (vertices, faces) arrays or a Mitsuba scene "
                            "(.xml), or `pip install trimesh`") from None
    try:
        scene = trimesh.load(path, force="scene")
    except Exception as e:
        raise MeshFileError(f"{path} is not a mesh trimesh can read: {e}") from None
    parts = []
    for name, g in scene.geometry.items():
        if not hasattr(g, "faces"):
            continue
        parts.append((str(name), np.asarray(g.vertices, np.float64), np.asarray(g.faces, np.int64), None))
    return parts
