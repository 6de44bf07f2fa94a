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

    I(x) = ℓ' / max(|c - x|², r²)

i.e. roughly the solid angle its edges subtend, where ℓ' counts only edges that can matter:
boundary edges always, two-faced edges only if some face plane below may separate from the others
as seen from x (bounded per node by a box of face normals and of plane offsets: no silhouette is
possible when all planes put x on one side), flat creases with a small weight otherwise, and
edges of static meshes only where x itself moves. I = 0 when B lies entirely below the tangent
plane of a non-transmissive shading point (those edges meet a zero BSDF; ``horizon`` widens
that to edges within 1e-3 of the plane, where the cosine-weighted BSDF vanishes), and I is multiplied by
``background`` when B's bounding cone from x overlaps no emitter's cone (edges that can cast
shadow boundaries on x keep full weight).

The tree is a complete binary tree in heap order over clusters of edges sorted along a Morton
curve of their midpoints: node k has children 2k and 2k+1, leaves are nodes [2^L, 2^(L+1)), padded
with empty leaves (ℓ = 0, never chosen); inside the reached cluster the exact per-edge importance
(exact silhouette test, the edge arc's angular distance to each emitter cone) picks the edge. Building it is O(E log E) in NumPy; traversal is a Python loop over
the L levels (no symbolic loop needed, the depth is fixed).
"""
from __future__ import annotations

from dataclasses import dataclass

import drjit as dr
import mitsuba as mi
import numpy as np

from .edges import edge_topology, face_normals, mesh_arrays


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
    moving: np.ndarray   # (E,) bool: its mesh's vertices carry derivatives


def scene_edges(meshes, moving=None) -> EdgeSet:
    """All edges that can be a discontinuity as seen from *some* point: boundary and non-manifold
    edges, edges between non-coplanar faces (potential silhouettes), and for flat-shaded meshes the
    creases (always discontinuous in shading). ``moving[m]`` flags meshes whose vertices carry
    derivatives (default: all)."""
    cols = {k: [] for k in EdgeSet.__dataclass_fields__}
    for m, shape in enumerate(meshes):
        arrays = mesh_arrays(shape)
        if arrays is None:
            continue
        V, F = arrays
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
        cols["always"].append(always[k])
        cols["moving"].append(np.full(len(k), True if moving is None else bool(moving[m])))
    if not cols["mesh"]:
        z = np.zeros((0, 3))
        b = np.zeros(0, bool)
        return EdgeSet(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), z, z, z, z, b, b)
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
    """Heap-ordered BVH over an :class:`EdgeSet` with stochastic importance-guided descent.

    Leaves are clusters of up to ``cluster`` consecutive edges (Morton order); within the reached
    cluster each edge's importance is evaluated exactly (silhouette test against both face planes,
    angular distance of its arc to each emitter cone) and one is chosen by it.
    """

    background = 0.05  # relative importance of edges/subtrees that overlap no emitter's cone
    crease = 0.1       # relative importance of flat creases that are not silhouettes from x
    cluster = 64       # edges per leaf
    # Edges no more than this (radians, as a sine) above the tangent plane of a one-sided shading
    # point are skipped: their discontinuity lies where the cosine-weighted BSDF vanishes. Edges of
    # x's own face (or coplanar ones) otherwise came in at random, grazing, with huge weights: a
    # single sample moved a triangle's image sum by 80 %.
    horizon = 1e-3

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
        K = self.cluster
        self.levels = L = max(int(np.ceil(np.log2(max(-(-E // K), 1)))), 0)
        n_leaf = 1 << L
        n_pad = n_leaf * K

        def pad(a, fill):
            out = np.full((n_pad,) + a.shape[1:], fill, dtype=np.float64)
            out[:E] = a
            return out
        unit = lambda n: n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
        two_faces = np.linalg.norm(e.n1, axis=1) > 0  # a silhouette test applies
        n0 = unit(e.n0)
        n1 = np.where(two_faces[:, None], unit(e.n1), n0)
        length = np.linalg.norm(e.v1 - e.v0, axis=1)
        per_edge = {
            "lo": pad(np.minimum(e.v0, e.v1), np.inf), "hi": pad(np.maximum(e.v0, e.v1), -np.inf),
            "nlo": pad(np.minimum(n0, n1), np.inf), "nhi": pad(np.maximum(n0, n1), -np.inf),
            # Lengths by kind, for edges of moving (..._m) and static (..._s) meshes.
            **{f"ℓ_{kind}_{tag}": pad(np.where(sel & mask, length, 0.0), 0.0)
               for kind, sel in (("B", ~two_faces),               # always a discontinuity
                                 ("S", two_faces),                # silhouette from some x
                                 ("C", two_faces & e.always))     # ... and a flat crease
               for tag, mask in (("m", e.moving), ("s", ~e.moving))},
        }
        vpad = pad(e.v0, 0.0)
        npad = np.stack([pad(n0, 0.0), pad(n1, 0.0)])
        valid = pad(np.ones(E), 0.0) > 0
        nodes = {k: np.zeros((2 * n_leaf,) + v.shape[1:]) for k, v in per_edge.items()}
        dlo, dhi = np.zeros(2 * n_leaf), np.zeros(2 * n_leaf)
        for lvl in range(L, -1, -1):
            k = np.arange(1 << lvl, 2 << lvl)
            g = n_pad >> lvl  # edges per node at this level (contiguous in heap order)
            grp = lambda a: a.reshape((len(k), g) + a.shape[1:])
            for name, a in per_edge.items():
                reduce = np.min if name in ("lo", "nlo") else np.max if name in ("hi", "nhi") else np.sum
                nodes[name][k] = reduce(grp(a), axis=1)
            # Face planes relative to the node centre: f(x) = n·(x - c) - d', d' = n·(v - c).
            lo, hi = nodes["lo"][k], nodes["hi"][k]
            finite = np.isfinite(lo) & np.isfinite(hi)
            c = np.where(finite, 0.5 * (np.where(finite, lo, 0.0) + np.where(finite, hi, 0.0)), 0.0)
            d = np.einsum("fngj,ngj->fng", npad.reshape(2, len(k), g, 3), grp(vpad) - c[:, None, :])
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
        self._ℓ = {k: mi.Float(f32(v)) for k, v in nodes.items() if k.startswith("ℓ")}
        self._leaf = {k: (mi.Point3f(*getattr(e, k).T.astype(np.float32)) if getattr(e, k).ndim == 2 else
                          (mi.Bool if getattr(e, k).dtype == bool else mi.UInt32)(getattr(e, k)))
                      for k in EdgeSet.__dataclass_fields__}

    # -- importance ---------------------------------------------------------------------------
    @staticmethod
    def _cones(x, lights):
        """Per-lane (axis, half-angle) of each emitter seen from x."""
        out = []
        for light in lights:
            if light.centre is None:
                out.append((mi.Vector3f(light.direction), mi.Float(light.half_angle)))
                continue
            dl = light.centre - x
            dl2 = dr.squared_norm(dl)
            α = dr.select(dl2 > light.radius ** 2,
                          dr.asin(dr.minimum(light.radius * dr.rsqrt(dr.maximum(dl2, 1e-30)), 1.0)), dr.pi)
            out.append((dl * dr.rsqrt(dr.maximum(dl2, 1e-30)), α))
        return out

    def _node_importance(self, node, x, n, one_sided, x_moves, cones):
        """Conservative importance of a subtree (see the module docstring)."""
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

        def length(tag):
            ℓ = lambda kind: dr.gather(mi.Float, self._ℓ[f"ℓ_{kind}_{tag}"], node)
            return ℓ("B") + dr.select(maybe_sil, ℓ("S"), self.crease * ℓ("C"))
        # Static edges matter only where the shading point itself moves.
        ell = length("m") + dr.select(x_moves, length("s"), 0.0)
        imp = ell / dr.maximum(d2, dr.maximum(r2, 1e-12))
        # Support function of the box along n: max over its corners of n·(corner - x).
        above = dr.dot(n, -xc) + dr.dot(dr.abs(n), h)
        # Culled when every point of the box is within HORIZON of the tangent plane or below it
        # (conservative: the box's nearest possible distance from x bounds |p - x| from below).
        near = dr.maximum(dr.sqrt(d2) - dr.sqrt(r2), 0.0)
        imp = dr.select(one_sided & (above <= self.horizon * near), 0.0, imp)
        if cones:
            α_B = dr.select(d2 > r2, dr.asin(dr.sqrt(r2 / dr.maximum(d2, 1e-30))), dr.pi)
            u = -xc * dr.rsqrt(dr.maximum(d2, 1e-30))
            hit = mi.Bool(False)
            for u_L, α_L in cones:
                hit |= dr.safe_acos(dr.dot(u, u_L)) <= α_B + α_L
            imp *= dr.select(hit, 1.0, self.background)
        return imp

    def _edge_importance(self, i, x, n, one_sided, x_moves, cones, active):
        """Exact importance of edge ``i`` seen from x (0 where it cannot be a discontinuity)."""
        g = lambda k: self.leaf(k, i, active)
        v0, v1 = g("v0"), g("v1")
        a, b = v0 - x, v1 - x
        s0, s1 = dr.dot(g("n0"), -a), dr.dot(g("n1"), -a)
        sil = s0 * s1 <= 0  # boundary edges have n1 = 0: always true
        ell = dr.norm(v1 - v0) * dr.select(sil, 1.0, dr.select(g("always"), self.crease, 0.0))
        mid = 0.5 * (a + b)
        imp = ell / dr.maximum(dr.squared_norm(mid), dr.maximum(0.25 * dr.squared_norm(v1 - v0), 1e-12))
        imp = dr.select(g("moving") | x_moves, imp, 0.0)
        imp = dr.select(one_sided & (dr.dot(n, a) <= self.horizon * dr.norm(a))
                        & (dr.dot(n, b) <= self.horizon * dr.norm(b)), 0.0, imp)
        if cones:
            # Angular distance from each emitter axis to the edge's arc on the sphere around x.
            ωa, ωb = dr.normalize(a), dr.normalize(b)
            m = dr.normalize(dr.cross(ωa, ωb))
            hit = mi.Bool(False)
            for u_L, α_L in cones:
                proj = u_L - m * dr.dot(m, u_L)  # projection on the great circle's plane
                inside = (dr.dot(dr.cross(ωa, proj), m) >= 0) & (dr.dot(dr.cross(proj, ωb), m) >= 0)
                dist = dr.select(inside, dr.asin(dr.minimum(dr.abs(dr.dot(m, u_L)), 1.0)),
                                 dr.minimum(dr.safe_acos(dr.dot(u_L, ωa)), dr.safe_acos(dr.dot(u_L, ωb))))
                hit |= dist <= α_L
            imp *= dr.select(hit, 1.0, self.background)
        return dr.select(active, imp, 0.0)

    # -- sampling -----------------------------------------------------------------------------
    def sample(self, sampler, x, n, one_sided, x_moves, active, lights=()):
        """Choose an edge for each lane; returns (edge index, probability, valid mask).

        ``n`` is the shading point's geometric normal oriented to the side of the incident
        directions that matter; ``one_sided`` (mi.Bool) enables the horizon test; ``x_moves``
        (mi.Bool) says whether x lies on moving geometry (else only moving edges are chosen);
        ``lights`` is a sequence of :class:`LightCone` (edges whose arc overlaps no emitter cone
        get ``background`` times the importance).
        """
        cones = self._cones(x, lights)
        node = mi.UInt32(1)
        prob = mi.Float(1.0)
        valid = mi.Bool(active)
        for _ in range(self.levels):
            il = self._node_importance(2 * node, x, n, one_sided, x_moves, cones)
            ir = self._node_importance(2 * node + 1, x, n, one_sided, x_moves, cones)
            total = il + ir
            valid &= total > 0
            pl = il / dr.maximum(total, 1e-30)
            left = sampler.next_1d(valid) < pl
            node = dr.select(left, 2 * node, 2 * node + 1)
            prob *= dr.select(left, pl, 1 - pl)
        index, p_leaf, valid = self._choose_in_cluster(sampler, node, x, n, one_sided, x_moves, cones, valid)
        prob *= p_leaf
        valid &= (prob > 0) & (index < self.size)
        return dr.select(valid, index, 0), prob, valid

    @dr.syntax
    def _choose_in_cluster(self, sampler, node, x, n, one_sided, x_moves, cones, valid):
        """Pick an edge of the reached leaf cluster proportionally to its exact importance
        (two symbolic loops over the cluster: the total, then the inverse CDF)."""
        first = (node - (1 << self.levels)) * self.cluster
        end = dr.minimum(first + self.cluster, self.size)
        total = mi.Float(0.0)
        i = mi.UInt32(first)
        while valid & (i < end):
            total += self._edge_importance(i, x, n, one_sided, x_moves, cones, mi.Bool(True))
            i += 1
        valid &= total > 0
        u = sampler.next_1d(valid) * total
        acc, chosen, index = mi.Float(0.0), mi.Float(0.0), mi.UInt32(first)
        i = mi.UInt32(first)
        done = ~valid
        while ~done & (i < end):
            imp = self._edge_importance(i, x, n, one_sided, x_moves, cones, mi.Bool(True))
            acc += imp
            if (imp > 0) & ((u < acc) | (i + 1 == end)):
                index, chosen, done = mi.UInt32(i), mi.Float(imp), mi.Bool(True)
            i += 1
        return index, chosen / dr.maximum(total, 1e-30), valid & (chosen > 0)

    def leaf(self, field: str, index, active=True):
        """Gather a per-edge field (see :class:`EdgeSet`) for the chosen edges."""
        v = self._leaf[field]
        return dr.gather(type(v), v, index, active)
