"""Coarse-to-fine remeshing of an optimized triangle mesh: midpoint subdivision when edges stretch.

Large Steps (Nicolet, Jacobson, Jakob 2021, Sec. 6) optimizes a coarse mesh first and remeshes it
to a finer one as the shape settles, so that the resolution grows only where the silhouettes have
already pulled the surface into place. Here the remeshing step is uniform midpoint subdivision
(each triangle becomes four: one new vertex at the midpoint of every edge, shared by its two
faces), applied when the mean edge length exceeds a target length (for a reconstruction, a few
film pixels' footprint at the object's distance: an edge longer than that cannot follow the
silhouettes the photos show). Positions stay on the current surface (midpoints of its edges),
so the rendered shape does not jump. Per-vertex attributes are interpolated the same way.

:func:`remesh_isotropic` instead remeshes a surface to even edges of a given length (Botsch and
Kobbelt 2004, "A remeshing approach to multiresolution modeling": split long edges, collapse short
ones, flip towards valence 6, tangential smoothing, projection back onto the input), through
gpytoolbox's ``remesh_botsch``; it turns a marching-cubes surface into a mesh that Large Steps can
optimize.
"""
from __future__ import annotations

import numpy as np


def unique_edges(faces) -> tuple[np.ndarray, np.ndarray]:
    """(E, 2) sorted vertex pairs of the mesh's undirected edges, and for each face's edge
    (v0v1, v1v2, v2v0) the index of its undirected edge, shape (F, 3)."""
    F = np.asarray(faces, np.int64)
    half = np.stack([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]], axis=1).reshape(-1, 2)
    edges, inverse = np.unique(np.sort(half, axis=1), axis=0, return_inverse=True)
    return edges, inverse.reshape(-1, 3)


def edge_lengths(vertices, faces) -> np.ndarray:
    """Lengths of the mesh's undirected edges."""
    V = np.asarray(vertices, np.float64).reshape(-1, 3)
    e, _ = unique_edges(faces)
    return np.linalg.norm(V[e[:, 0]] - V[e[:, 1]], axis=1)


def subdivide(vertices, faces, attributes=None):
    """Midpoint (1-to-4) subdivision. Returns (vertices (V + E, 3), faces (4F, 3)) and, when
    ``attributes`` (V, C) is given, the attributes interpolated at the new vertices as a third item.
    The original vertices keep their indices; new vertex V + i sits at the midpoint of edge i of
    :func:`unique_edges`."""
    V = np.asarray(vertices, np.float64).reshape(-1, 3)
    F = np.asarray(faces, np.int64)
    if F.ndim != 2 or F.shape[1] != 3 or (F.size and (F.min() < 0 or F.max() >= len(V))):
        raise ValueError(f"subdivide: faces must be (F, 3) indices into {len(V)} vertices, got shape {F.shape}")
    edges, fe = unique_edges(F)
    mid = len(V) + fe                                   # (F, 3): midpoints of v0v1, v1v2, v2v0
    a, b, c = F[:, 0], F[:, 1], F[:, 2]
    m01, m12, m20 = mid[:, 0], mid[:, 1], mid[:, 2]
    F2 = np.concatenate([np.stack([a, m01, m20], 1), np.stack([m01, b, m12], 1),
                         np.stack([m20, m12, c], 1), np.stack([m01, m12, m20], 1)])
    V2 = np.concatenate([V, 0.5 * (V[edges[:, 0]] + V[edges[:, 1]])])
    if attributes is None:
        return V2, F2
    A = np.asarray(attributes, np.float64).reshape(len(V), -1)
    return V2, F2, np.concatenate([A, 0.5 * (A[edges[:, 0]] + A[edges[:, 1]])])


def refine(vertices, faces, max_edge: float, max_faces: int, attributes=None):
    """Subdivide (:func:`subdivide`) while the mean edge length exceeds ``max_edge`` and the result
    stays within ``max_faces`` faces. Returns the same items as :func:`subdivide` (unchanged
    arrays when no subdivision applies) and the number of subdivisions as the last item."""
    if not max_edge > 0:
        raise ValueError(f"refine: max_edge must be > 0, got {max_edge}")
    V, F = np.asarray(vertices, np.float64).reshape(-1, 3), np.asarray(faces, np.int64)
    A = None if attributes is None else np.asarray(attributes, np.float64).reshape(len(V), -1)
    n = 0
    while edge_lengths(V, F).mean() > max_edge and 4 * len(F) <= max_faces:
        if A is None:
            V, F = subdivide(V, F)
        else:
            V, F, A = subdivide(V, F, A)
        n += 1
    return (V, F, n) if A is None else (V, F, A, n)


def remesh_isotropic(vertices, faces, edge: float, iterations: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Remesh the surface (vertices, faces) to mean edge length about ``edge`` (module docstring;
    needs gpytoolbox, ImportError without it). Returns (V, F) with int64 faces."""
    import gpytoolbox
    if not edge > 0:
        raise ValueError(f"remesh_isotropic: edge must be > 0, got {edge}")
    V = np.ascontiguousarray(np.asarray(vertices, np.float64).reshape(-1, 3))
    F = np.ascontiguousarray(np.asarray(faces, np.int32))
    if F.ndim != 2 or F.shape[1] != 3 or (F.size and (F.min() < 0 or F.max() >= len(V))):
        raise ValueError(f"remesh_isotropic: faces must be (F, 3) indices into {len(V)} vertices, got shape {F.shape}")
    U, G = gpytoolbox.remesh_botsch(V, F, int(iterations), float(edge), True)
    return np.asarray(U, np.float64), np.asarray(G, np.int64)
