"""A bounding-volume hierarchy over mesh edges for importance-sampling *secondary* boundary edges.

At a shading point x, the edges that can carry a discontinuity of the incident radiance are
silhouettes as seen from x (and creases of flat-shaded meshes). Which ones those are depends on x,
so a single length-weighted choice wastes almost every sample on large meshes. As in redner (Li,
Aittala, Durand, Lehtinen 2018, Sec. 5.2), edges are organised in a hierarchy and each sample
descends it stochastically, choosing a child with probability proportional to an importance bound
of its subtree seen from x; the probability of the chosen edge is the product of the choices.
The traversal is cheap (one gather per level, ~log2 E levels) and any edge that can contribute
keeps a non-zero probability, so the estimator stays unbiased.

Importance of a node with bounding box B (centre c, half-diagonal r) and total edge length ℓ:

    I(x) = ℓ / max(|c - x|², r²)

i.e. roughly the solid angle its edges subtend, and 0 when B lies entirely below the tangent plane
of a non-transmissive shading point (those edges meet a zero BSDF), or when no edge in the subtree
can be a silhouette from x. The latter uses, per node, the bounding box of the edges' adjacent face
planes: an edge is a silhouette from x when its two faces lie on opposite sides of x
(``(n₀·(x - v))·(n₁·(x - v)) <= 0``), which a box of the node's vertices alone cannot rule out;
this implementation keeps that test per sampled edge (a rejected edge contributes zero) and bounds
only positions in the nodes.

The tree is a complete binary tree in heap order over edges sorted along a Morton curve of their
midpoints: node k has children 2k and 2k+1, leaves are nodes [2^L, 2^(L+1)), padded with empty
leaves (ℓ = 0, never chosen). Building it is O(E log E) in NumPy; traversal is a Python loop over
the L levels (no symbolic loop needed, the depth is fixed).
"""
from __future__ import annotations

from dataclasses import dataclass

import drjit as dr
import mitsuba as mi
import numpy as np

from .edges import edge_topology, face_normals


def _morton3(q: np.ndarray) -> np.ndarray:
    """Interleave the bits of three 10-bit integer coordinates (N, 3) into 30-bit Morton codes."""
    def spread(v):
        v = v.astype(np.uint32) & 0x3FF
        v = (v | (v << 16)) & 0x030000FF
        v = (v | (v << 8)) & 0x0300F00F
        v = (v | (v << 4)) & 0x030C30C3
        v = (v | (v << 2)) & 0x09249249
        return v
    return spread(q[:, 0]) | (spread(q[:, 1]) << 1) | (spread(q[:, 2]) << 2)


@dataclass
class EdgeSet:
    """Candidate edges of all meshes (world space), in tree-leaf order."""
    mesh: np.ndarray     # (E,) index into ``meshes``
    i0: np.ndarray       # (E,) vertex indices into the mesh's vertex buffer
    i1: np.ndarray
    v0: np.ndarray       # (E, 3) endpoint positions
    v1: np.ndarray
    n0: np.ndarray       # (E, 3) unnormalised normals of the adjacent faces (n1 = 0: boundary edge)
    n1: np.ndarray
    always: np.ndarray   # (E,) bool: discontinuity from every viewpoint (boundary, non-manifold, flat crease)


def scene_edges(meshes) -> EdgeSet:
    """All edges that can be a discontinuity as seen from *some* point: boundary and non-manifold
    edges, edges between non-coplanar faces (potential silhouettes), and for flat-shaded meshes the
    creases (always discontinuous in shading)."""
    cols = {k: [] for k in EdgeSet.__dataclass_fields__}
    for m, shape in enumerate(meshes):
        V = np.array(dr.detach(shape.vertex_positions_buffer()), dtype=np.float64).reshape(-1, 3)
        F = np.array(shape.faces_buffer(), dtype=np.int64).reshape(-1, 3)
        if len(F) == 0:
            continue
        if not np.all(np.isfinite(V)):
            raise ValueError(f"edge sampling: mesh {shape.id()!r} has NaN/Inf vertex positions")
        topo = edge_topology(F)
        E, Fa = topo.edges, topo.faces
        N = face_normals(V, F)
        boundary = Fa[:, 1] < 0
        n0 = N[Fa[:, 0]]
        n1 = np.where(boundary[:, None], 0.0, N[np.maximum(Fa[:, 1], 0)])
        u0 = n0 / np.maximum(np.linalg.norm(n0, axis=1, keepdims=True), 1e-30)
        u1 = n1 / np.maximum(np.linalg.norm(n1, axis=1, keepdims=True), 1e-30)
        coplanar = (~boundary) & (np.einsum("ij,ij->i", u0, u1) > 1 - 1e-6)
        length = np.linalg.norm(V[E[:, 1]] - V[E[:, 0]], axis=1)
        flat = not shape.has_vertex_normals()
        always = boundary | topo.nonmanifold | (flat & ~coplanar)
        keep = (always | ~coplanar) & (length > 1e-12 * max(float(np.ptp(V, axis=0).max()), 1e-30))
        k = np.flatnonzero(keep)
        cols["mesh"].append(np.full(len(k), m))
        cols["i0"].append(E[k, 0])
        cols["i1"].append(E[k, 1])
        cols["v0"].append(V[E[k, 0]])
        cols["v1"].append(V[E[k, 1]])
        cols["n0"].append(n0[k])
        cols["n1"].append(n1[k])
        cols["always"].append(always[k] | topo.nonmanifold[k])
    if not cols["mesh"]:
        z = np.zeros((0, 3))
        return EdgeSet(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), z, z, z, z, np.zeros(0, bool))
    return EdgeSet(*(np.concatenate(cols[k]) for k in EdgeSet.__dataclass_fields__))


@dataclass
class LightCone:
    """What an emitter subtends from a shading point: a bounding sphere (finite emitters) or a
    direction with a half-angle (directional emitters)."""
    centre: mi.ScalarPoint3f | None = None
    radius: float = 0.0
    direction: mi.ScalarVector3f | None = None
    half_angle: float = 0.0


def light_cones(scene) -> list:
    """Cones of the scene's finite and directional emitters (environment maps subtend everything
    and get none)."""
    cones = []
    for em in scene.emitters():
        bbox = em.bbox()
        if bbox.valid():
            cones.append(LightCone(centre=bbox.center(), radius=float(dr.norm(bbox.extents())) / 2))
        elif mi.has_flag(em.flags(), mi.EmitterFlags.DeltaDirection):
            d = em.world_transform() @ mi.ScalarVector3f(0, 0, 1)
            cones.append(LightCone(direction=-dr.normalize(mi.ScalarVector3f(d)), half_angle=1e-3))
    return cones


class EdgeTree:
    """Heap-ordered BVH over an :class:`EdgeSet` with stochastic importance-guided descent."""

    background = 0.05  # relative importance of subtrees that overlap no emitter's cone
    crease = 0.1       # relative importance of flat creases in subtrees with no possible silhouette

    def __init__(self, edges: EdgeSet):
        E = len(edges.mesh)
        self.size = E
        if E == 0:
            return
        mid = 0.5 * (edges.v0 + edges.v1)
        lo, hi = mid.min(axis=0), mid.max(axis=0)
        q = np.floor((mid - lo) / np.maximum(hi - lo, 1e-30) * 1023.0).astype(np.int64)
        order = np.argsort(_morton3(np.clip(q, 0, 1023)), kind="stable")
        self.edges = e = EdgeSet(*(getattr(edges, k)[order] for k in EdgeSet.__dataclass_fields__))
        self.levels = L = max(int(np.ceil(np.log2(E))), 0)
        n_leaf = 1 << L

        def pad(a, fill):
            out = np.full((n_leaf,) + a.shape[1:], fill, dtype=np.float64)
            out[:E] = a
            return out
        unit = lambda n: n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
        n0 = unit(e.n0)
        n1 = np.where(np.linalg.norm(e.n1, axis=1, keepdims=True) > 0, unit(e.n1), n0)
        length = np.linalg.norm(e.v1 - e.v0, axis=1)
        sil_test = np.linalg.norm(e.n1, axis=1) > 0  # two faces: a silhouette test applies
        leaf = {
            "lo": pad(np.minimum(e.v0, e.v1), np.inf), "hi": pad(np.maximum(e.v0, e.v1), -np.inf),
            "nlo": pad(np.minimum(n0, n1), np.inf), "nhi": pad(np.maximum(n0, n1), -np.inf),
            "ℓ_B": pad(np.where(sil_test, 0.0, length), 0.0),             # always a discontinuity
            "ℓ_S": pad(np.where(sil_test, length, 0.0), 0.0),             # silhouette from some x
            "ℓ_C": pad(np.where(sil_test & e.always, length, 0.0), 0.0),  # ... and a flat crease
        }
        vpad = pad(e.v0, 0.0)
        npad = np.stack([pad(n0, 0.0), pad(n1, 0.0)])
        valid = pad(np.ones(E), 0.0) > 0
        nodes = {k: np.zeros((2 * n_leaf,) + v.shape[1:]) for k, v in leaf.items()}
        dlo, dhi = np.zeros(2 * n_leaf), np.zeros(2 * n_leaf)
        for lvl in range(L, -1, -1):
            k = np.arange(1 << lvl, 2 << lvl)
            g = n_leaf >> lvl  # leaves per node at this level (contiguous in heap order)
            grp = lambda a: a.reshape((len(k), g) + a.shape[1:])
            for name in ("lo", "nlo"):
                nodes[name][k] = grp(leaf[name]).min(axis=1)
            for name in ("hi", "nhi"):
                nodes[name][k] = grp(leaf[name]).max(axis=1)
            for name in ("ℓ_B", "ℓ_S", "ℓ_C"):
                nodes[name][k] = grp(leaf[name]).sum(axis=1)
            # Face planes relative to the node centre: f(x) = n·(x - c) - d', d' = n·(v - c).
            c = np.nan_to_num(0.5 * (nodes["lo"][k] + nodes["hi"][k]), posinf=0.0, neginf=0.0)
            rel = vpad.reshape(len(k), g, 3) - c[:, None, :]
            d = np.einsum("fngj,ngj->fng", npad.reshape(2, len(k), g, 3), rel)
            m = grp(valid)[None]
            dlo[k] = np.where(m, d, np.inf).min(axis=(0, 2))
            dhi[k] = np.where(m, d, -np.inf).max(axis=(0, 2))
        empty = ~np.isfinite(nodes["lo"][:, 0])
        for name in ("lo", "hi", "nlo", "nhi"):
            nodes[name][empty] = 0.0
        dlo[empty] = dhi[empty] = 0.0
        f32 = lambda a: a.astype(np.float32)
        self._centre = mi.Point3f(*f32(0.5 * (nodes["lo"] + nodes["hi"])).T)
        self._half = mi.Vector3f(*f32(0.5 * (nodes["hi"] - nodes["lo"])).T)
        self._nlo, self._nhi = mi.Vector3f(*f32(nodes["nlo"]).T), mi.Vector3f(*f32(nodes["nhi"]).T)
        self._dlo, self._dhi = mi.Float(f32(dlo)), mi.Float(f32(dhi))
        self._ℓ = {k: mi.Float(f32(nodes[k])) for k in ("ℓ_B", "ℓ_S", "ℓ_C")}
        self._leaf = {k: (mi.Point3f(*getattr(e, k).T.astype(np.float32)) if getattr(e, k).ndim == 2 else
                          (mi.UInt32 if k != "always" else mi.Bool)(getattr(e, k)))
                      for k in EdgeSet.__dataclass_fields__}

    def _importance(self, node, x, n, one_sided, lights):
        c = dr.gather(mi.Point3f, self._centre, node)
        h = dr.gather(mi.Vector3f, self._half, node)
        xc = x - c
        d2 = dr.squared_norm(xc)
        r2 = dr.squared_norm(h)
        # Can an edge below be a silhouette from x? Only if its face planes' values at x,
        # f = n·(x - c) - d', are not all of one sign (bounded with the node's normal box).
        nlo, nhi = dr.gather(mi.Vector3f, self._nlo, node), dr.gather(mi.Vector3f, self._nhi, node)
        f_lo = dr.sum(dr.minimum(nlo * xc, nhi * xc)) - dr.gather(mi.Float, self._dhi, node)
        f_hi = dr.sum(dr.maximum(nlo * xc, nhi * xc)) - dr.gather(mi.Float, self._dlo, node)
        maybe_sil = (f_lo <= 0) & (f_hi >= 0)
        ell = dr.gather(mi.Float, self._ℓ["ℓ_B"], node) + dr.select(
            maybe_sil, dr.gather(mi.Float, self._ℓ["ℓ_S"], node),
            self.crease * dr.gather(mi.Float, self._ℓ["ℓ_C"], node))
        imp = ell / dr.maximum(d2, dr.maximum(r2, 1e-12))
        # Support function of the box along n: max over its corners of n·(corner - x).
        above = dr.dot(n, -xc) + dr.dot(dr.abs(n), h)
        imp = dr.select(one_sided & (above <= 0), 0.0, imp)
        if lights:
            # Boost subtrees whose bounding cone from x overlaps an emitter's: their edges are the
            # ones that can cast shadow boundaries on x.
            α_B = dr.select(d2 > r2, dr.asin(dr.sqrt(r2 / dr.maximum(d2, 1e-30))), dr.pi)
            u = -xc * dr.rsqrt(dr.maximum(d2, 1e-30))
            hit = mi.Bool(False)
            for light in lights:
                if light.centre is not None:
                    dl = light.centre - x
                    dl2 = dr.squared_norm(dl)
                    α_L = dr.select(dl2 > light.radius ** 2,
                                    dr.asin(dr.minimum(light.radius * dr.rsqrt(dr.maximum(dl2, 1e-30)), 1.0)), dr.pi)
                    u_L = dl * dr.rsqrt(dr.maximum(dl2, 1e-30))
                else:
                    α_L, u_L = light.half_angle, light.direction
                hit |= dr.safe_acos(dr.dot(u, u_L)) <= α_B + α_L
            imp *= dr.select(hit, 1.0, self.background)
        return imp

    def sample(self, sampler, x, n, one_sided, active, lights=()):
        """Choose an edge for each lane; returns (edge index, probability, valid mask).

        ``n`` is the shading point's geometric normal oriented to the side of the incident
        directions that matter; ``one_sided`` (mi.Bool) enables the horizon test; ``lights`` is a
        sequence of :class:`LightCone` (subtrees overlapping one keep full importance, the others
        ``background`` times it).
        """
        node = mi.UInt32(1)
        prob = mi.Float(1.0)
        valid = mi.Bool(active)
        for _ in range(self.levels):
            il = self._importance(2 * node, x, n, one_sided, lights)
            ir = self._importance(2 * node + 1, x, n, one_sided, lights)
            total = il + ir
            valid &= total > 0
            pl = il / dr.maximum(total, 1e-30)
            left = sampler.next_1d(valid) < pl
            node = dr.select(left, 2 * node, 2 * node + 1)
            prob *= dr.select(left, pl, 1 - pl)
        index = node - (1 << self.levels)
        valid &= (prob > 0) & (index < self.size)
        return dr.select(valid, index, 0), prob, valid

    def leaf(self, field: str, index, active=True):
        """Gather a per-edge field (see :class:`EdgeSet`) for the chosen edges."""
        v = self._leaf[field]
        return dr.gather(type(v), v, index, active)
