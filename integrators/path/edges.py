"""Mesh edge topology and the selection of edges that can carry a visibility or shading discontinuity.

For edge sampling (Li, Aittala, Durand, Lehtinen 2018, "Differentiable Monte Carlo Ray Tracing
through Edge Sampling", Sec. 4-5) only some mesh edges matter as seen from a viewpoint o:

- *silhouette* edges: boundary edges (one adjacent face), non-manifold edges (more than two), and
  edges whose two faces face o from opposite sides;
- *crease* edges of flat-shaded meshes (no vertex normals): the shading normal jumps across every
  edge between non-coplanar faces, so radiance is discontinuous there even where visibility is not.

Topology is computed once per face buffer (NumPy, O(F log F)) and cached.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EdgeTopology:
    edges: np.ndarray        # (E, 2) vertex indices, sorted per row
    faces: np.ndarray        # (E, 2) adjacent face indices, -1 where absent
    nonmanifold: np.ndarray  # (E,) bool: more than two adjacent faces


_CACHE: dict = {}


def welded_faces(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    """``F`` with every vertex index replaced by the first vertex at exactly the same position.

    Meshes split their vertices along UV seams and hard-normal edges (Mitsuba's ``cube``, most OBJ
    exports): the faces on either side then share no edge, each side's edge looks like an open
    boundary, and a silhouette along the seam would be sampled twice. Edge topology is built on
    welded indices, so such an edge is one edge with two faces; positions (and their derivatives)
    are the same either way."""
    _, first, inverse = np.unique(V, axis=0, return_index=True, return_inverse=True)
    return first[inverse.ravel()][F]


def edge_topology(F: np.ndarray, V: np.ndarray | None = None) -> EdgeTopology:
    """Unique undirected edges of the triangle list ``F`` (F, 3) with their adjacent faces; with the
    vertex positions ``V``, of the position-welded faces (:func:`welded_faces`)."""
    if V is not None:
        F = welded_faces(V, F)
    F = np.ascontiguousarray(F, dtype=np.int64)
    key = (F.shape, hash(F.tobytes()))
    if key in _CACHE:
        return _CACHE[key]
    nf = len(F)
    e = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    e.sort(axis=1)
    fid = np.tile(np.arange(nf), 3)
    uniq, inv, counts = np.unique(e, axis=0, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    order = np.argsort(inv, kind="stable")
    first = np.zeros(len(uniq) + 1, dtype=np.int64)
    np.cumsum(counts, out=first[1:])
    faces = np.full((len(uniq), 2), -1, dtype=np.int64)
    faces[:, 0] = fid[order[first[:-1]]]
    two = counts >= 2
    faces[two, 1] = fid[order[first[:-1][two] + 1]]
    topo = EdgeTopology(uniq, faces, counts > 2)
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[key] = topo
    return topo


def face_normals(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Unnormalised face normals (zero for degenerate faces)."""
    return np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])


def is_planar(V: np.ndarray, F: np.ndarray, rtol: float = 1e-6) -> bool:
    """Whether all vertices lie in the first face's plane (to ``rtol`` of the mesh's extent)."""
    if len(F) == 0:
        return True
    n = face_normals(V, F[:1])[0]
    n = n / max(float(np.linalg.norm(n)), 1e-30)
    return bool(np.all(np.abs((V - V[F[0, 0]]) @ n) <= rtol * max(float(np.ptp(V, axis=0).max()), 1e-30)))


def is_closed_convex(V: np.ndarray, F: np.ndarray, rtol: float = 1e-6) -> bool:
    """Whether the mesh is closed (every edge has exactly two faces), connected and convex at every edge
    with outward normals (the face across each edge lies on or below this face's plane): a
    closed connected surface that is locally convex everywhere bounds a convex solid, so its
    outside sees none of its own edges above a shading point's horizon."""
    F = welded_faces(V, np.asarray(F, dtype=np.int64))
    topo = edge_topology(F)
    if len(F) == 0 or np.any(topo.faces[:, 1] < 0) or np.any(topo.nonmanifold):
        return False
    f0, f1 = topo.faces[:, 0], topo.faces[:, 1]
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    if connected_components(coo_matrix((np.ones(len(f0)), (f0, f1)), shape=(len(F), len(F))))[0] != 1:
        return False  # two convex pieces can see each other
    N = face_normals(V, F)
    unit = N / np.maximum(np.linalg.norm(N, axis=1, keepdims=True), 1e-30)
    opposite = F[f1].sum(axis=1) - topo.edges.sum(axis=1)  # f1's vertex off the edge
    height = np.einsum("ij,ij->i", unit[f0], V[opposite] - V[topo.edges[:, 0]])
    return bool(np.all(height <= rtol * max(float(np.ptp(V, axis=0).max()), 1e-30)))


def shading_creases(shape, V: np.ndarray, F: np.ndarray, crease_cos: float = 1 - 1e-6) -> np.ndarray:
    """(E,) bool over ``edge_topology(F, V).edges``: edges where the shading normal jumps, i.e.
    discontinuities of the image from every viewpoint whose faces are not coplanar. All
    non-coplanar edges of a mesh without vertex normals (flat shading); with vertex normals, the
    hard edges: the two faces hold split vertices there (:func:`welded_faces`) whose normals
    differ (Mitsuba's ``cube``, OBJ exports with hard edges)."""
    topo = edge_topology(F, V)
    E, Fa = topo.edges, topo.faces
    N = face_normals(V, F)
    unit = lambda n: n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
    inner = Fa[:, 1] >= 0
    f0, f1 = Fa[:, 0], np.maximum(Fa[:, 1], 0)
    bent = inner & (np.einsum("ij,ij->i", unit(N[f0]), unit(N[f1])) < crease_cos)
    if not shape.has_vertex_normals():
        return bent
    Nv = unit(np.array(shape.vertex_normals_buffer(), dtype=np.float64).reshape(-1, 3))
    W = welded_faces(V, F)
    hard = np.zeros(len(E), dtype=bool)
    for end in (0, 1):
        # The original vertex of each adjacent face at this (welded) endpoint.
        o0 = F[f0, np.argmax(W[f0] == E[:, end:end + 1], axis=1)]
        o1 = F[f1, np.argmax(W[f1] == E[:, end:end + 1], axis=1)]
        hard |= np.einsum("ij,ij->i", Nv[o0], Nv[o1]) < crease_cos
    return bent & hard


def candidate_edges(V: np.ndarray, F: np.ndarray, o, creases: np.ndarray, crease_cos: float = 1 - 1e-6):
    """Indices into ``edge_topology(F).edges`` of the edges that can be discontinuities seen from ``o``.

    ``o`` is a point (3,) for a pinhole camera or a shading point, or an array (N, 3) of points, in
    which case an edge is kept if it is a candidate for any of them (used for area-light sampling
    the caller passes the light's corners). ``creases`` (:func:`shading_creases`) are kept from
    everywhere. Zero-length edges are dropped.
    """
    topo = edge_topology(F, V)
    E, Fa = topo.edges, topo.faces
    N = face_normals(V, F)
    length = np.linalg.norm(V[E[:, 1]] - V[E[:, 0]], axis=1)
    boundary = Fa[:, 1] < 0
    keep = boundary | topo.nonmanifold
    inner = ~boundary
    f0, f1 = Fa[inner, 0], Fa[inner, 1]
    pts = np.atleast_2d(np.asarray(o, dtype=np.float64))
    sil = np.zeros(inner.sum(), dtype=bool)
    for p in pts:
        s0 = np.einsum("ij,ij->i", N[f0], p - V[F[f0, 0]])
        s1 = np.einsum("ij,ij->i", N[f1], p - V[F[f1, 0]])
        sil |= (s0 * s1) <= 0
    keep[inner] |= sil
    keep |= creases
    keep &= length > 1e-12 * max(float(np.ptp(V, axis=0).max()), 1e-30)
    return np.flatnonzero(keep)


def scene_meshes(scene):
    """(non-empty meshes of ``scene``, those whose vertex buffer carries a derivative)."""
    import drjit as dr
    meshes = [s for s in scene.shapes() if s.is_mesh() and s.face_count() > 0]
    return meshes, [m for m in meshes if dr.grad_enabled(m.vertex_positions_buffer())]


def no_secondary_edges(scene, meshes) -> bool:
    """True when no shading point can see an edge above its horizon: the scene's only shape is
    a planar mesh, or a closed convex one reflecting on its front side only (a single object in
    front of an environment light: its primary silhouette is all there is). Skipping the term
    then saves the secondary terms of both estimators (``edge_sampling``'s camera paths and tree
    descents, ~10 % of a gradient on a flat icosphere; ``warped_area``'s direction-space warps,
    which on path_bench's lone objects had taken most of its budget): both vanish there."""
    import mitsuba as mi
    shapes = scene.shapes()
    if len(shapes) != 1 or len(meshes) != 1:
        return False
    arrays = mesh_arrays(meshes[0])
    if arrays is None:
        return True
    V, F = arrays
    front_only = not mi.has_flag(meshes[0].bsdf().flags(), mi.BSDFFlags.BackSide)
    return is_planar(V, F) or (front_only and is_closed_convex(V, F))


def mesh_arrays(shape):
    """(V (N, 3) float64, F (M, 3) int64) of a Mitsuba mesh, detached; None for an empty mesh.
    Raises ValueError naming the mesh when a vertex position is NaN/Inf."""
    import drjit as dr
    V = np.array(dr.detach(shape.vertex_positions_buffer()), dtype=np.float64).reshape(-1, 3)
    F = np.array(shape.faces_buffer(), dtype=np.int64).reshape(-1, 3)
    if len(F) == 0:
        return None
    if not np.all(np.isfinite(V)):
        raise ValueError(f"edge sampling: mesh {shape.id()!r} has NaN/Inf vertex positions")
    return V, F


def gather_per_mesh(meshes, mesh, buffer, indices, active=True, tp=None):
    """Per lane, ``buffer(meshes[mesh])`` gathered at each of ``indices`` (a list of mi.UInt32;
    entries of type ``tp``, default mi.Point3f): one masked gather per mesh, so that the values stay
    attached to whatever parameters the buffers carry. Lanes of no mesh get zeros."""
    import drjit as dr
    import mitsuba as mi
    tp = tp or mi.Point3f
    out = [dr.zeros(tp, dr.width(mesh)) for _ in indices]
    for m, shape in enumerate(meshes):
        on = (mesh == m) & active
        buf = buffer(shape)
        out = [dr.select(on, dr.gather(tp, buf, i, on), o) for i, o in zip(indices, out)]
    return out


def attached_edge_point(meshes, mesh, i0, i1, t):
    """World point ``lerp(v[i0], v[i1], t)`` on the chosen edges, gathered from the meshes' vertex
    buffers so that it is attached to whatever parameters move them (Dr.Jit; ``mesh`` indexes
    ``meshes``, ``t`` is held fixed)."""
    import drjit as dr
    v0, v1 = gather_per_mesh(meshes, mesh, lambda shape: shape.vertex_positions_buffer(), [i0, i1])
    return dr.lerp(v0, v1, t)
