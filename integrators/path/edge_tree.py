"""A bounding-volume hierarchy over mesh edges for importance-sampling *secondary* boundary edges.

At a shading point x, the edges that can carry a discontinuity of the incident radiance are
silhouettes as seen from x (and shading creases: flat-shaded meshes, hard edges). Which ones those are depends on x,
so a single length-weighted choice wastes almost every sample on large meshes. As in redner (Li,
Aittala, Durand, Lehtinen 2018, Sec. 5.2), edges are organised in a hierarchy and each sample
descends it stochastically, choosing a child with probability proportional to an importance bound
of its subtree seen from x; the probability of the chosen edge is the product of the choices.
The traversal is cheap (one gather per level, ~log2 E levels) and any edge that can contribute
keeps a non-zero probability, so the estimator stays unbiased.

Importance of a node, per kind of edges below it (moving / static meshes, each with its own
bounding box B: centre c, half-diagonal r):

    I(x) = ℓ' / max(|c - x|², r²)

i.e. roughly the solid angle its edges subtend, where ℓ' counts only edges that can matter:
boundary edges always; two-faced edges only if some face plane below may separate from the others
as seen from x (bounded per node by a box of face normals and of plane offsets: no silhouette is
possible when all planes put x on one side), and then by the *expected silhouette length* along
the view direction (:meth:`EdgeTree._silhouette_density`: tessellation-invariant, from the
dihedral-weighted length Σ ℓφ and the node's normal cone) rather than their total length; flat
creases with a small weight otherwise; edges of static meshes only where x itself moves or where
they lie in front of a moving emitter (a static occluder's shadow moves relative to a moving light:
the boundary term keeps the next-event share of that motion, :mod:`.secondary`). I = 0
when the node lies entirely below the tangent plane of a non-transmissive shading point (those
edges meet a zero BSDF; ``horizon`` widens that to edges within 1e-3 of the plane, where the
cosine-weighted BSDF vanishes), and I is multiplied by ``background`` when the node's bounding
cone from x overlaps no emitter's cone (edges that can cast shadow boundaries on x keep full
weight).

The tree is a complete binary tree in heap order over clusters of ``cluster`` edges: node k has
children 2k and 2k+1, leaves are nodes [2^L, 2^(L+1)), with empty padding slots (ℓ = 0, never
chosen). Every mesh fills a subtree of its own (a far-away floor edge in a fine mesh's leaf gave
that leaf a box 10x too large and its edges 100x too little probability), built top-down by
count-balanced splits along the longest axis of each node's edge midpoints. Inside the reached
cluster the exact per-edge importance (exact silhouette test; the angle of the edge's arc in front
of the emitters, :func:`.edge_light.cone_arcs`, or ``background`` times its length where the arc
meets none) picks the edge. Building it is O(E log E) in NumPy (leaves from the edges,
inner nodes from their children, normal cones exactly); traversal is a Python loop over the L
levels (no symbolic loop needed, the depth is fixed).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import drjit as dr
import mitsuba as mi
import numpy as np

from penumbra.renderer.arrays import upload, upload_columns

from .edge_light import cone_arcs
from .emitter_motion import emitter_moves
from .edges import edge_topology, face_normals, mesh_arrays, shading_creases


def _split_order(mid: np.ndarray, levels: int, cluster: int) -> np.ndarray:
    """Edge order for the heap-ordered tree: top-down, each node's edges (a contiguous range of
    ``cluster << (levels - level)`` slots, padding at the end) are sorted along the longest axis
    of their midpoints' bounding box, so that its two children split it there (a BVH built by
    count-balanced longest-axis splits). Unlike a global Morton order, no node mixes far-apart
    edges of different meshes (a floor's long edges inside a fine sphere's leaves gave those
    leaves a box 10x the sphere and P(e | x) 100x too small: single samples carried 25 % of an
    image sum)."""
    order = np.arange(len(mid))
    n_pad = cluster << levels
    for lvl in range(levels):
        node = np.arange(len(mid)) // (n_pad >> lvl)
        starts = np.flatnonzero(np.r_[True, node[1:] != node[:-1]])
        m = mid[order]
        lo = np.minimum.reduceat(m, starts, axis=0)
        extent = np.maximum.reduceat(m, starts, axis=0) - lo
        axis = np.argmax(extent, axis=1)
        # One sort key: node index + position along the node's axis scaled into [0, 0.5].
        t = (m[np.arange(len(m)), axis[node]] - lo[node, axis[node]]) / np.maximum(extent[node, axis[node]], 1e-30)
        order = order[np.argsort(node + 0.5 * t, kind="stable")]
    return order


def _mesh_aligned_slots(edges, cluster: int) -> np.ndarray:
    """Tree slots (edge index, or -1 for padding) such that every mesh's edges fill a complete
    subtree of their own, ordered inside by :func:`_split_order`. Blocks are placed by a buddy
    allocator over clusters (a mesh of c clusters takes an aligned block of 2^⌈log2 c⌉, largest
    first; the unused tail of a block hosts smaller meshes), so a few small meshes next to a large
    one do not double the tree. The total is ``cluster`` times a power of two."""
    mid = 0.5 * (edges.v0 + edges.v1)
    meshes = []
    for m in np.unique(edges.mesh):
        idx = np.flatnonzero(edges.mesh == m)
        lv = int(np.ceil(np.log2(max(-(-len(idx) // cluster), 1))))
        meshes.append((lv, idx[_split_order(mid[idx], lv, cluster)]))
    meshes.sort(key=lambda t: -t[0])
    free: list[tuple[int, int]] = []  # aligned free blocks (start, size), in clusters
    total = 0

    def release(start, end):
        while start < end:
            size = start & -start if start else 1 << int(np.log2(end))
            while start + size > end:
                size //= 2
            free.append((start, size))
            start += size
    placed = []
    for lv, idx in meshes:
        need = 1 << lv
        fits = [b for b in free if b[1] >= need]
        if not fits:
            if total == 0:
                total = need
                fits = [(0, need)]
            else:
                while not fits:
                    free.append((total, total))
                    total *= 2
                    fits = [b for b in free if b[1] >= need]
        block = min(fits, key=lambda b: (b[1], b[0]))
        if block in free:
            free.remove(block)
        release(block[0] + need, block[0] + block[1])
        placed.append((block[0], idx))
        release(block[0] + -(-len(idx) // cluster), block[0] + need)
    slots = np.full(total * cluster, -1)
    for start, idx in placed:
        slots[start * cluster:start * cluster + len(idx)] = idx
    return slots


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
    always: np.ndarray   # (E,) bool: discontinuity from every viewpoint (boundary, non-manifold, shading crease)
    moving: np.ndarray   # (E,) bool: its mesh's vertices carry derivatives


def scene_edges(meshes, moving=None) -> EdgeSet:
    """All edges that can be a discontinuity as seen from *some* point: boundary and non-manifold
    edges, edges between non-coplanar faces (potential silhouettes), and the shading creases (always
    discontinuous: :func:`.edges.shading_creases`). ``moving[m]`` flags meshes whose vertices carry
    derivatives (default: all)."""
    cols = {k: [] for k in EdgeSet.__dataclass_fields__}
    for m, shape in enumerate(meshes):
        arrays = mesh_arrays(shape)
        if arrays is None:
            continue
        V, F = arrays
        topo = edge_topology(F, V)
        E, Fa = topo.edges, topo.faces
        N = face_normals(V, F)
        boundary = Fa[:, 1] < 0
        n0 = N[Fa[:, 0]]
        n1 = np.where(boundary[:, None], 0.0, N[np.maximum(Fa[:, 1], 0)])
        u0 = n0 / np.maximum(np.linalg.norm(n0, axis=1, keepdims=True), 1e-30)
        u1 = n1 / np.maximum(np.linalg.norm(n1, axis=1, keepdims=True), 1e-30)
        coplanar = (~boundary) & (np.einsum("ij,ij->i", u0, u1) > 1 - 1e-6)
        length = np.linalg.norm(V[E[:, 1]] - V[E[:, 0]], axis=1)
        always = boundary | topo.nonmanifold | shading_creases(shape, V, F)
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
    # A rectangle emitter's world-to-local affine map (3 x 4 row-major floats; the emitting square
    # is [-1, 1]² x {0}, lit on +z), for the exact emitter interval of .edge_light.
    to_local: tuple | None = None
    # The emitter's shape moves (its edges' shadows move relative to static occluders).
    moves: bool = False


def light_cones(scene) -> list:
    """Cones of the scene's finite and directional emitters (environment maps subtend everything
    and get none), with ``moves`` set for area lights whose shape carries a derivative."""
    mp = mi.traverse(scene)
    cones = []
    for em in scene.emitters():
        bbox = em.bbox()
        if bbox.valid():
            shape = em.get_shape()
            to_local = None
            if shape is not None and shape.class_name() == "Rectangle":
                M = np.linalg.inv(np.array(mi.traverse(shape)["to_world"].matrix, dtype=np.float64).reshape(4, 4))
                to_local = tuple(float(v) for v in M[:3].ravel())
            cones.append(LightCone(centre=bbox.center(), radius=float(dr.norm(bbox.extents())) / 2,
                                   to_local=to_local,
                                   moves=bool(shape is not None and emitter_moves(em, mp)[0])))
        elif mi.has_flag(em.flags(), mi.EmitterFlags.DeltaDirection):
            d = np.array(em.world_transform() @ mi.Vector3f(0, 0, 1), dtype=np.float64).ravel()
            cones.append(LightCone(direction=mi.ScalarVector3f(*(-d / np.linalg.norm(d))), half_angle=1e-3))
    return cones


class EdgeTree:
    """Heap-ordered BVH over an :class:`EdgeSet` with stochastic importance-guided descent.

    Leaves are clusters of up to ``cluster`` consecutive edges (longest-axis splits); within the reached
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
        self.count = E = len(edges.mesh)
        if E == 0:
            self.size = 0
            return
        K = self.cluster
        slot = _mesh_aligned_slots(edges, K)
        self.size = n_pad = len(slot)  # slots: edges and empty padding, a multiple of K
        self.levels = L = int(np.log2(n_pad // K))
        n_leaf = 1 << L
        valid = slot >= 0
        take = np.maximum(slot, 0)
        self.edges = e = EdgeSet(*(np.where(valid.reshape((-1,) + (1,) * (a.ndim - 1)), a[take], np.zeros_like(a[:1]))
                                   for a in (getattr(edges, k) for k in EdgeSet.__dataclass_fields__)))

        def pad(a, fill):
            return np.where(valid.reshape((-1,) + (1,) * (a.ndim - 1)), a, fill).astype(np.float64)
        unit = lambda n: n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
        two_faces = np.linalg.norm(e.n1, axis=1) > 0  # a silhouette test applies
        n0 = unit(e.n0)
        n1 = np.where(two_faces[:, None], unit(e.n1), n0)
        length = np.linalg.norm(e.v1 - e.v0, axis=1)
        φ = np.arccos(np.clip(np.einsum("ij,ij->i", n0, n1), -1.0, 1.0))  # dihedral (normal) angle
        per_edge = {
            "lo": pad(np.minimum(e.v0, e.v1), np.inf), "hi": pad(np.maximum(e.v0, e.v1), -np.inf),
            # Separate boxes of moving and static edges: a node that mixes a static floor's long
            # edges with a moving mesh's small ones must not weigh the latter by the floor's extent.
            **{f"{b}_{tag}": pad(np.where(mask[:, None], f(e.v0, e.v1), fill), fill)
               for b, f, fill in (("lo", np.minimum, np.inf), ("hi", np.maximum, -np.inf))
               for tag, mask in (("m", e.moving), ("s", ~e.moving))},
            "nlo": pad(np.minimum(n0, n1), np.inf), "nhi": pad(np.maximum(n0, n1), -np.inf),
            # Lengths by kind, for edges of moving (..._m) and static (..._s) meshes.
            **{f"ℓ_{kind}_{tag}": pad(np.where(sel & mask, length, 0.0), 0.0)
               for kind, sel in (("B", ~two_faces),               # always a discontinuity
                                 ("S", two_faces),                # silhouette from some x
                                 ("C", two_faces & e.always))     # ... and a flat crease
               for tag, mask in (("m", e.moving), ("s", ~e.moving))},
            # Dihedral-angle-weighted lengths ℓφ of potential silhouettes (see _silhouette_density).
            **{f"ℓφ_S_{tag}": pad(np.where(two_faces & mask, length * φ, 0.0), 0.0)
               for tag, mask in (("m", e.moving), ("s", ~e.moving))},
            "nsum": pad(n0 + n1, 0.0),
        }
        vpad = pad(e.v0, 0.0)
        npad = np.stack([pad(n0, 0.0), pad(n1, 0.0)])
        nodes = {k: np.zeros((2 * n_leaf,) + v.shape[1:]) for k, v in per_edge.items()}
        dlo, dhi = np.zeros(2 * n_leaf), np.zeros(2 * n_leaf)
        axis, θ = np.zeros((2 * n_leaf, 3)), np.zeros(2 * n_leaf)
        reduce = lambda name: (np.minimum if name.startswith(("lo", "nlo")) else
                               np.maximum if name.startswith(("hi", "nhi")) else np.add)
        centre = lambda lo, hi: 0.5 * (np.where(np.isfinite(lo), lo, 0.0) + np.where(np.isfinite(hi), hi, 0.0))
        unit_or_0 = lambda a: a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-30)
        # Leaves (clusters of K edges) from the edges ...
        k = np.arange(n_leaf, 2 * n_leaf)
        grp = lambda a: a.reshape((n_leaf, K) + a.shape[1:])
        for name, a in per_edge.items():
            nodes[name][k] = reduce(name).reduce(grp(a), axis=1)
        # Face planes relative to the node centre: f(x) = n·(x - c) - d', d' = n·(v - c).
        c = centre(nodes["lo"][k], nodes["hi"][k])
        d = np.einsum("fngj,ngj->fng", npad.reshape(2, n_leaf, K, 3), grp(vpad) - c[:, None, :])
        m = grp(valid)[None]
        dlo[k], dhi[k] = np.where(m, d, np.inf).min(axis=(0, 2)), np.where(m, d, -np.inf).max(axis=(0, 2))
        # Normal cone: axis = mean face normal, half-angle θ to the farthest face normal.
        axis[k] = unit_or_0(nodes["nsum"][k])
        cos_f = np.einsum("fngj,nj->fng", npad.reshape(2, n_leaf, K, 3), axis[k])
        θ[k] = np.where(np.linalg.norm(axis[k], axis=1) > 0.5,
                        np.arccos(np.clip(np.where(m, cos_f, 1.0).min(axis=(0, 2)), -1, 1)), np.pi)
        # ... and every other node from its two children (conservative bounds of the bounds).
        for lvl in range(L - 1, -1, -1):
            k = np.arange(1 << lvl, 2 << lvl)
            kids = (2 * k, 2 * k + 1)
            for name in per_edge:
                nodes[name][k] = reduce(name)(nodes[name][kids[0]], nodes[name][kids[1]])
            c = centre(nodes["lo"][k], nodes["hi"][k])
            axis[k] = unit_or_0(nodes["nsum"][k])
            lo_d, hi_d = np.full(len(k), np.inf), np.full(len(k), -np.inf)
            for kid in kids:
                # d' = n·(v - c_kid) + n·(c_kid - c), the second term bounded over the kid's normal box.
                t = centre(nodes["lo"][kid], nodes["hi"][kid]) - c
                live = np.isfinite(dlo[kid])
                nlo, nhi = (np.where(live[:, None], nodes[b][kid], 0.0) for b in ("nlo", "nhi"))
                lo_d = np.where(live, np.minimum(lo_d, dlo[kid] + np.minimum(nlo * t, nhi * t).sum(axis=1)), lo_d)
                hi_d = np.where(live, np.maximum(hi_d, dhi[kid] + np.maximum(nlo * t, nhi * t).sum(axis=1)), hi_d)
            dlo[k], dhi[k] = lo_d, hi_d
            # The cone's half-angle exactly, over the node's faces (merging the children's cones
            # compounds their slack level by level: the estimate then sees silhouettes everywhere).
            g = n_pad >> lvl
            cos_f = np.einsum("fngj,nj->fng", npad.reshape(2, len(k), g, 3), axis[k])
            θ[k] = np.where(np.linalg.norm(axis[k], axis=1) > 0.5,
                            np.arccos(np.clip(np.where(valid.reshape(1, len(k), g), cos_f, 1.0).min(axis=(0, 2)),
                                              -1, 1)),
                            np.pi)
        cosθ = np.where(np.linalg.norm(axis, axis=1) > 0.5, np.cos(θ), -1.0)
        for name in ("lo", "hi", "nlo", "nhi", "lo_m", "hi_m", "lo_s", "hi_s"):
            nodes[name][~np.isfinite(nodes[name][:, 0])] = 0.0
        empty = ~np.isfinite(dlo)
        dlo[empty] = dhi[empty] = 0.0
        # Uploaded at aligned addresses: Dr.Jit compiles a NumPy buffer's alignment into the kernels.
        P3, V3, F1 = (functools.partial(upload_columns, mi.Point3f), functools.partial(upload_columns, mi.Vector3f),
                      functools.partial(upload, mi.Float))
        self._centre = P3(0.5 * (nodes["lo"] + nodes["hi"]))
        self._half = V3(0.5 * (nodes["hi"] - nodes["lo"]))
        self._box = {tag: (P3(0.5 * (nodes[f"lo_{tag}"] + nodes[f"hi_{tag}"])),
                           V3(0.5 * (nodes[f"hi_{tag}"] - nodes[f"lo_{tag}"]))) for tag in "ms"}
        self._nlo, self._nhi = V3(nodes["nlo"]), V3(nodes["nhi"])
        self._dlo, self._dhi = F1(dlo), F1(dhi)
        self._ℓ = {k: F1(v) for k, v in nodes.items() if k.startswith("ℓ")}
        self._axis, self._cosθ = V3(axis), F1(cosθ)
        # Edges per leaf cluster: a mesh's edges fill its clusters from the start, so a cluster's
        # valid slots are a prefix and the per-edge loops stop after them.
        self._filled = upload(mi.UInt32, valid.reshape(n_leaf, K).sum(axis=1))
        self._leaf = {k: (P3(getattr(e, k)) if getattr(e, k).ndim == 2 else
                          upload(mi.Bool if getattr(e, k).dtype == bool else mi.UInt32, getattr(e, k)))
                      for k in EdgeSet.__dataclass_fields__}

    # -- importance ---------------------------------------------------------------------------
    @staticmethod
    def cones(x, lights):
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

    @staticmethod
    def _silhouette_density(cos_ψ, cosθ):
        """Expected length S of a node's silhouette seen along u (cos ψ = u · cone axis), per unit
        of its edges' Σ ℓφ.

        Over uniformly random view directions an edge with dihedral angle φ is a silhouette with
        probability φ/π, so Σ ℓφ/π is the node's mean silhouette length, whatever the
        tessellation. Spreading that mass uniformly over the node's normal cone (half-angle θ,
        area A = 2π(1 - cos θ)) with density ρ = 2 Σℓφ / (π A) (Crofton: the mean over u of a
        great circle's integral is half the area integral), the silhouette along u is ρ times the
        arc of the great circle ⟂ u inside the cone, 2β with cos β = cos θ / cos δ, δ = |π/2 - ψ|.
        On a sphere patch of angular radius θ this is the exact 2θR through its middle. It is an
        estimate, not a bound (the perspective spread of u over the node is left out on purpose:
        widening δ by the node's angular radius smeared the estimate over nodes the silhouette
        misses, 35 % more per-pixel noise on a 327k-triangle sphere's shadow); the conservative
        zero test is the caller's. Total length ℓ_S caps it; a floor of a quarter of the mean
        keeps every potential silhouette reachable. A plain ℓ_S made the descent nearly uniform
        over finely tessellated meshes (P(e | x) 20-200x below the ring's typical value for some
        silhouette edges: heavy-tailed shadows)."""
        cos_δ = dr.safe_sqrt(1 - dr.square(dr.minimum(dr.abs(cos_ψ), 1.0)))  # δ = |π/2 - ψ|
        β = dr.safe_acos(dr.clip(cosθ / dr.maximum(cos_δ, 1e-6), -1.0, 1.0))
        A = dr.maximum(2 * dr.pi * (1 - cosθ), 1e-12)
        return dr.maximum(4 * β / (dr.pi * A), 0.25 / dr.pi)  # S / Σℓφ, capped by ℓ_S by the caller

    def _node_importance(self, node, x, n, one_sided, x_moves, lights, cones):
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

        d = dr.sqrt(d2)
        u = -xc / dr.maximum(d, 1e-30)  # from x to the node's centre
        axis, cosθ = dr.gather(mi.Vector3f, self._axis, node), dr.gather(mi.Float, self._cosθ, node)

        density = self._silhouette_density(dr.dot(u, axis), cosθ)

        def length(tag):
            ℓ = lambda kind: dr.gather(mi.Float, self._ℓ[f"ℓ_{kind}_{tag}"], node)
            S = dr.minimum(ℓ("S"), density * dr.gather(mi.Float, self._ℓ[f"ℓφ_S_{tag}"], node))
            ell = ℓ("B") + dr.select(maybe_sil, dr.maximum(S, self.crease * ℓ("C")), self.crease * ℓ("C"))
            c_t, h_t = (dr.gather(type(a), a, node) for a in self._box[tag])
            return ell / dr.maximum(dr.squared_norm(x - c_t), dr.maximum(dr.squared_norm(h_t), 1e-12))
        # Which emitters' cones the node's bounding cone from x overlaps.
        hit, hit_moving = mi.Bool(False), mi.Bool(False)
        α_B = dr.select(d2 > r2, dr.asin(dr.sqrt(r2 / dr.maximum(d2, 1e-30))), dr.pi)
        for light, (u_L, α_L) in zip(lights, cones):
            overlaps = dr.safe_acos(dr.dot(u, u_L)) <= α_B + α_L
            hit |= overlaps
            if light.moves:
                hit_moving |= overlaps
        # Static edges matter only where the shading point itself moves or a moving light lies behind them.
        imp = length("m") + dr.select(x_moves | hit_moving, length("s"), 0.0)
        # Support function of the box along n: max over its corners of n·(corner - x).
        above = dr.dot(n, -xc) + dr.dot(dr.abs(n), h)
        # Culled when every point of the box is within HORIZON of the tangent plane or below it
        # (conservative: the box's nearest possible distance from x bounds |p - x| from below).
        near = dr.maximum(dr.sqrt(d2) - dr.sqrt(r2), 0.0)
        imp = dr.select(one_sided & (above <= self.horizon * near), 0.0, imp)
        if cones:
            imp *= dr.select(hit, 1.0, self.background)
        return imp

    def _edge_importance(self, i, x, n, one_sided, x_moves, lights, cones, active):
        """Exact importance of edge ``i`` seen from x (0 where it cannot be a discontinuity)."""
        g = lambda k: self.leaf(k, i, active)
        v0, v1 = g("v0"), g("v1")
        a, b = v0 - x, v1 - x
        s0, s1 = dr.dot(g("n0"), -a), dr.dot(g("n1"), -a)
        sil = s0 * s1 <= 0  # boundary edges have n1 = 0: always true
        ell = dr.norm(v1 - v0) * dr.select(sil, 1.0, dr.select(g("always"), self.crease, 0.0))
        mid = 0.5 * (a + b)
        imp = ell / dr.maximum(dr.squared_norm(mid), dr.maximum(0.25 * dr.squared_norm(v1 - v0), 1e-12))
        # Whether the edge's arc seen from x overlaps each emitter's bounding cone.
        ωa, ωb = dr.normalize(a), dr.normalize(b)
        m = dr.normalize(dr.cross(ωa, ωb))
        hit, hit_moving = mi.Bool(False), mi.Bool(False)
        for light, (u_L, α_L) in zip(lights, cones):
            proj = u_L - m * dr.dot(m, u_L)  # projection on the great circle's plane
            inside = (dr.dot(dr.cross(ωa, proj), m) >= 0) & (dr.dot(dr.cross(proj, ωb), m) >= 0)
            dist = dr.select(inside, dr.asin(dr.minimum(dr.abs(dr.dot(m, u_L)), 1.0)),
                             dr.minimum(dr.safe_acos(dr.dot(u_L, ωa)), dr.safe_acos(dr.dot(u_L, ωb))))
            hit |= dist <= α_L
            if light.moves:
                hit_moving |= dist <= α_L
        # A static edge matters where x moves or where it may shadow a moving light.
        imp = dr.select(g("moving") | x_moves | hit_moving, imp, 0.0)
        imp = dr.select(one_sided & (dr.dot(n, a) <= self.horizon * dr.norm(a))
                        & (dr.dot(n, b) <= self.horizon * dr.norm(b)), 0.0, imp)
        base = imp
        if cones:
            # The angle of the edge's arc inside each emitter cone, over |mid| (≈ the length
            # inside over |mid|², like ℓ/|mid|²): the share the emitter-directed point sampling
            # (.edge_light) draws from. A plain hit test weighed an edge that grazes the cone like
            # one that crosses it (P(e | x) ~ 0.5 for the edge that casts a shadow's penumbra).
            # Edges whose arc meets no cone keep ``background`` times the length.
            inside_angle = mi.Float(0.0)
            for _, _, _, angle in cone_arcs(x, v0, v1, lights, cones):
                inside_angle += angle
            weight = dr.select(sil, 1.0, dr.select(g("always"), self.crease, 0.0))
            imp_cone = weight * inside_angle / dr.maximum(dr.norm(mid), 1e-6)
            imp = dr.select(inside_angle > 0, dr.maximum(imp_cone, self.background * imp),
                            imp * dr.select(hit, 1.0, self.background))
            imp = dr.select(base > 0, imp, 0.0)
        return dr.select(active, imp, 0.0)

    # -- sampling -----------------------------------------------------------------------------
    def sample(self, sampler, x, n, one_sided, x_moves, active, lights=(), cones=None):
        """Choose an edge for each lane; returns (edge index, probability, valid mask).

        ``n`` is the shading point's geometric normal oriented to the side of the incident
        directions that matter; ``one_sided`` (mi.Bool) enables the horizon test; ``x_moves``
        (mi.Bool) says whether x lies on moving geometry (else only moving edges, and static ones
        in front of a moving emitter, are chosen);
        ``lights`` is a sequence of :class:`LightCone` (edges whose arc overlaps no emitter cone
        get ``background`` times the importance); ``cones`` their per-lane (axis, half-angle) seen
        from x (default :meth:`cones`; a caller may add cones of its own, such as a glossy lobe,
        with a plain :class:`LightCone` beside each in ``lights``; a negative half-angle: none).
        """
        cones = self.cones(x, lights) if cones is None else cones
        node = mi.UInt32(1)
        prob = mi.Float(1.0)
        valid = mi.Bool(active)
        for _ in range(self.levels):
            il = self._node_importance(2 * node, x, n, one_sided, x_moves, lights, cones)
            ir = self._node_importance(2 * node + 1, x, n, one_sided, x_moves, lights, cones)
            total = il + ir
            valid &= total > 0
            pl = il / dr.maximum(total, 1e-30)
            left = sampler.next_1d(valid) < pl
            node = dr.select(left, 2 * node, 2 * node + 1)
            prob *= dr.select(left, pl, 1 - pl)
        index, p_leaf, valid = self._choose_in_cluster(sampler, node, x, n, one_sided, x_moves, lights, cones, valid)
        prob *= p_leaf
        valid &= prob > 0
        return dr.select(valid, index, 0), prob, valid

    @dr.syntax
    def _choose_in_cluster(self, sampler, node, x, n, one_sided, x_moves, lights, cones, valid):
        """Pick an edge of the reached leaf cluster proportionally to its exact importance
        (two symbolic loops over the cluster: the total, then the inverse CDF)."""
        first = (node - (1 << self.levels)) * self.cluster
        end = first + dr.gather(mi.UInt32, self._filled, node - (1 << self.levels), valid)
        total = mi.Float(0.0)
        i = mi.UInt32(first)
        while valid & (i < end):
            total += self._edge_importance(i, x, n, one_sided, x_moves, lights, cones, mi.Bool(True))
            i += 1
        valid &= total > 0
        u = sampler.next_1d(valid) * total
        acc, chosen, index = mi.Float(0.0), mi.Float(0.0), mi.UInt32(first)
        i = mi.UInt32(first)
        done = ~valid
        while ~done & (i < end):
            imp = self._edge_importance(i, x, n, one_sided, x_moves, lights, cones, mi.Bool(True))
            acc += imp
            if (imp > 0) & ((u < acc) | (i + 1 == end)):
                index, chosen, done = mi.UInt32(i), mi.Float(imp), mi.Bool(True)
            i += 1
        return index, chosen / dr.maximum(total, 1e-30), valid & (chosen > 0)

    def leaf(self, field: str, index, active=True):
        """Gather a per-edge field (see :class:`EdgeSet`) for the chosen edges."""
        v = self._leaf[field]
        return dr.gather(type(v), v, index, active)
