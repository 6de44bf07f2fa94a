"""Harmonic-weighted warp field estimated from auxiliary rays (Bangaru, Li, Durand 2020, Sec. 5-6).

"Unbiased Warped-Area Sampling for Differentiable Rendering" turns the boundary integral of a
visibility derivative, ∫_Γ Δf (v · n) dℓ, into an area integral ∫ ∇·(f V) dx of the divergence of a
*warp field* V (the divergence theorem applied region by region). Any V works as long as it is
continuous inside the domain and equals the velocity v of the discontinuity on every boundary
(the *boundary-consistency* condition). The paper builds one as a normalised convolution of the
velocities v(x') of the surface points seen through nearby samples x':

    V(x) = ∫ w(x, x') v(x') dx' / ∫ w(x, x') dx',   w(x, x') = (D(x, x') + B(x'))^(-γ)

with D(x, x') = exp(κ |x - x'|² / 2) - 1 (zero at x' = x; 1 / (1 + D) is the Gaussian kernel, the
flat-domain counterpart of a von Mises-Fisher lobe) and B(x') >= 0 a *boundary test* that is zero
exactly on the curves where the integrand may be discontinuous. For γ >= 1 the weight is not
integrable where both vanish, so as x approaches a boundary the samples next to it on the occluding
side dominate and V(x) tends to the boundary's own velocity; elsewhere V is smooth in x.

Here the domain is the film (pixel units) and B is the distance, in the same units as D, from the
auxiliary ray to the nearest edge of the triangle it hits (every mesh edge is a potential
silhouette or crease; edges that are not discontinuities do no harm because the surface velocity
is continuous across them). Rays that miss see the static environment: v = 0, B = B_MISS.

The integrals are estimated with i.i.d. auxiliary samples x' = x + o, o ~ N(0, 1/κ). With
w̃ = w / p (the Gaussian pdf, up to a constant), W = Σ w̃_i and V̂ = Σ w̃_i v_i / W, the divergence of
the *expected* field E[V̂] has three parts (:func:`ratio_field`): the derivative of w̃ with respect
to the kernel centre x with the auxiliary points held fixed, both through the kernel w and through
the proposal density p in w̃ = w / p, and the score term Σ ∇ₓ log p(x'_i | x) of the samples being
drawn around x, with a leave-one-out ratio as its baseline. With all three the divergence estimate
is unbiased for ∇·E[V̂] (checked against central differences of E[V̂] to ~1 %, tests), so the
estimator integrates the divergence of one well-defined continuous field, E[V̂]. (An earlier
version omitted the proposal-density part and used another film sample's V̂ as the baseline: it
was off by ~0.35 px/px near the triangle's edge, which partly cancelled the smoothing bias below,
and had ~3x the gradient noise.) E[V̂] is boundary-consistent up to the chance that no auxiliary ray
lands on the moving side of a boundary (about 2^-n for n rays at a straight silhouette) and the
finite-sample smoothing of the ratio: rays that leave the scene get a large boundary test B_MISS,
so any ray that hits the occluder dominates the ratio. (Auxiliary samples in antithetic pairs ±o
would have no such score correction; antithetic sampling is applied to the film samples instead,
see :mod:`integrators.path.warped_area`.) On the sphere (:class:`DirectionWarp`) the samples come
from a mixture of lobes of several widths, which makes this finite-sample deficit small (measured
there); ``ratio_field`` takes each sample's own score for that.

Both are linear in the velocities, so they are returned as *attached, zero-valued* Dr.Jit
expressions built from ``x'_i(θ) - detach(x'_i(θ))`` (the film projection of the hit point
following its shape): their derivatives are V̂ and ∇·V̂ for any parameter tangent, in forward and in
reverse mode.
"""
from __future__ import annotations

import math

import drjit as dr
import mitsuba as mi

B_MISS = 1e3        # boundary test of rays that leave the scene (no edge anywhere there)
STATIC_BOUNDARY_SCALE = 100.0  # direction space: boundary test of static hits x this (DirectionWarp)
LOBE_SCALES = (1.0, 30.0, 1000.0)  # proposal lobes of the auxiliary samples: concentrations / κ (film and sphere)
W_DENOM_MIN = 1e-6  # floor of D + B (the weight is singular where both vanish)


def mixture_weight(one_minus_cos, B, kappa: float, power: float, o, scales, j: int, n: int):
    """Weight, kernel-centre gradient and score of an auxiliary direction drawn from lobe ``j`` of
    von Mises-Fisher lobes with concentrations ``kappa * scales``, sample i of n using lobe i mod K.

    w̃ = (D+B)^-γ / p̂ with D = exp(κ (1 - ω·ω')) - 1 and p̂ = Σ_k c_k m_k exp(-κ m_k (1 - ω·ω')) the
    density of the n samples' mixture up to a constant (c_k: share of the samples from lobe k; one
    lobe: p̂ = 1 / (D+1)). On the film, with Gaussian lobes, 1 - ω·ω' is |o|²/2 and everything else
    is the same. The gradient with respect to ω (auxiliary direction held fixed) has the
    kernel part and the proposal part -w̃ ∇log p̂; :func:`ratio_field` adds -w̃ s_j itself (s_j = κ m_j o,
    the score of the component the sample was drawn from), so the proposal part passed here is
    w̃ (s_j - ∇log p̂), zero for one component. Returns (w̃, gradient, s_j).
    """
    K = len(scales)
    terms = [(len(range(k, n, K)) / n * m) * dr.exp(-kappa * m * one_minus_cos) for k, m in enumerate(scales)]
    p = dr.maximum(sum(terms[1:], terms[0]), 1e-30)
    grad_log_p = (kappa * sum((t * m for t, m in zip(terms[1:], scales[1:])), terms[0] * scales[0]) / p) * o
    D = dr.exp(dr.minimum(kappa * one_minus_cos, 60.0)) - 1
    denom = dr.maximum(D + B, W_DENOM_MIN)
    w = dr.power(denom, -power) / p
    s = dr.opaque(mi.Float, kappa * scales[j]) * o  # (opaque: one kernel for every lobe j)
    grad = (power * kappa) * (D + 1) * dr.power(denom, -power - 1) / p * o + w * (s - grad_log_p)
    return w, grad, s


def sample_vmf(sample, kappa: float):
    """Direction from a von Mises-Fisher lobe of concentration ``kappa`` about +z, with 1 - cos θ exact.

    Returns (u, o, t): the unit vector, its tangential part o = (u.x, u.y) and t = 1 - u.z. Mitsuba's
    ``square_to_von_mises_fisher`` forms cos θ = 1 + log(ξ)/κ in single precision, which rounds
    1 - cos θ to multiples of 6e-8: at κ = 1e5 its typical value 1e-5 is off by ~0.6 %, at κ = 1e7 the
    sampled radii collapse onto a few values, so the samples no longer follow the density that the
    weights and scores assume. Here t = -log(ξ + (1 - ξ) e^(-2κ)) / κ and sin θ = sqrt(t (2 - t)).
    """
    p = mi.warp.square_to_uniform_disk_concentric(sample)
    r2 = dr.squared_norm(p)
    sy = dr.maximum(1 - r2, 1e-6)
    # (κ opaque: the lobes of a mixture then share one kernel instead of compiling one each)
    t = -dr.log(sy + (1 - sy) * dr.opaque(mi.Float, math.exp(-2 * kappa))) / dr.opaque(mi.Float, kappa)
    o = p * (dr.sqrt(dr.maximum(t * (2 - t), 0.0)) * dr.rsqrt(dr.maximum(r2, 1e-30)))
    return mi.Vector3f(o.x, o.y, 1 - t), o, t


def ratio_field(rows):
    """ΔV and Δdiv (attached, zero-valued) of the ratio estimate from auxiliary samples ``rows``.

    ``rows[i] = (w̃_i, g_i, s_i, v_i)``: weight, its gradient with respect to the kernel centre with
    the sample held fixed, less the part -w̃_i s_i of its own proposal density
    (``mixture_weight``), the score s_i = ∇ log p_i(x'_i | x) of the density it was drawn from (κ o_i
    for a Gaussian/vMF lobe of concentration κ, o_i the tangential offset) and its attached
    zero-valued 2D velocity. With
    r_i = w̃_i / W, V̂ = Σ r_i v_i and

        ∇·E[V̂] = E[ Σ_i (g_i - w̃_i s_i) · (v_i - V̂) / W  +  Σ_j s_j · (V̂ - V̂_{-j}) ],

    the first sum differentiating w̃ = w / p with the auxiliary points held fixed (kernel and proposal
    density), the second the score of the sampling density with the leave-one-out ratio V̂_{-j} as
    baseline (independent of sample j, so it adds no bias). Per sample, the proposal and score parts
    combine to r_i² s_i · (v_i - V̂_{-i}), small unless one sample dominates. Returns (ΔV, Δdiv, r).
    """
    n = len(rows)
    with dr.suspend_grad():
        W = dr.maximum(sum(row[0] for row in rows), 1e-30)
        r = [row[0] / W for row in rows]
        G = sum(row[1] for row in rows)
        # r_j² s_j / (W_{-j} / W), with W_{-j} summed explicitly (1 - r_j cancels when r_j ~ 1).
        t = [dr.square(r[j]) * rows[j][2] / dr.maximum(sum(r[k] for k in range(n) if k != j), 1e-30)
             for j in range(n)]
        coef = []
        for i in range(n):
            loo = sum((t[j] for j in range(n) if j != i), mi.Vector2f(0))
            coef.append((rows[i][1] - r[i] * G) / W + dr.square(r[i]) * rows[i][2] - r[i] * loo)
    ΔV = sum((r[i] * rows[i][3] for i in range(1, n)), r[0] * rows[0][3])
    Δdiv = sum((dr.dot(coef[i], rows[i][3]) for i in range(1, n)), dr.dot(coef[0], rows[0][3]))
    return ΔV, Δdiv, r


def static_edge_masks(scene, crease_cos: float = 1 - 1e-6):
    """{mesh: UInt32 per face} for the meshes that do not move: bit e set where the face's edge
    (vertex e, vertex e+1 mod 3) can be a discontinuity, i.e. all edges except those between two
    coplanar faces (a rectangle's diagonal). Such an edge of a static mesh is no discontinuity, yet a
    zero boundary test there would pin V to the static zero velocity wherever a moving silhouette
    crosses it (a spurious junction, see :class:`DirectionWarp`). Moving meshes keep every edge (their
    interior edges are harmless: the surface velocity is continuous across them)."""
    import numpy as np

    from .edges import edge_topology, welded_faces, face_normals, mesh_arrays
    masks = {}
    for shape in scene.shapes():
        if not shape.is_mesh() or shape.face_count() == 0 or dr.grad_enabled(shape.vertex_positions_buffer()):
            continue
        V, F = mesh_arrays(shape)
        F = welded_faces(V, F)   # the per-face edge bits below index the welded topology
        topo = edge_topology(F)
        N = face_normals(V, F)
        N = N / np.maximum(np.linalg.norm(N, axis=1, keepdims=True), 1e-30)
        f0, f1 = topo.faces[:, 0], topo.faces[:, 1]
        flat = (f1 >= 0) & ~topo.nonmanifold & (np.einsum("ij,ij->i", N[f0], N[np.maximum(f1, 0)]) >= crease_cos)
        if not flat.any():
            continue
        nv = len(V)
        key = topo.edges[:, 0] * nv + topo.edges[:, 1]  # sorted like topo.edges (lexicographic)
        bits = np.zeros(len(F), dtype=np.uint32)
        for e in range(3):
            a, b = F[:, e], F[:, (e + 1) % 3]
            idx = np.searchsorted(key, np.minimum(a, b) * nv + np.maximum(a, b))
            bits |= np.where(flat[idx], 0, 1 << e).astype(np.uint32)
        masks[shape] = mi.UInt32(bits)
    return masks


def edge_sine_distance(scene, si, origin, masks=None):
    """Sine of the angle between the ray origin -> ``si.p`` and the nearest edge of the hit triangle.

    Each edge (a, b) spans a plane through ``origin``; |u · n_ab| with u the unit direction to the hit
    point and n_ab the plane's unit normal is the sine of the angular distance to that edge's great
    circle, zero exactly when the ray grazes the edge. Works for vertices behind the origin too.
    ``masks`` (:func:`static_edge_masks`) leaves out the edges that cannot be discontinuities; a
    triangle without any edge that counts gets 1.
    """
    masks = masks or {}
    s = dr.full(mi.Float, 1.0, dr.width(si.t))
    u = dr.normalize(dr.detach(si.p) - origin)
    for shape in scene.shapes():
        if not shape.is_mesh():
            continue
        active = si.is_valid() & (si.shape == mi.ShapePtr(shape))
        F = shape.faces_buffer()
        P = dr.detach(shape.vertex_positions_buffer())
        idx = [dr.gather(mi.UInt32, F, si.prim_index * 3 + k, active) for k in range(3)]
        q = [dr.gather(mi.Point3f, P, i, active) - origin for i in idx]
        bits = dr.gather(mi.UInt32, masks[shape], si.prim_index, active) if shape in masks else None
        for e, (a, b) in enumerate(((0, 1), (1, 2), (2, 0))):
            n = dr.cross(q[a], q[b])
            sk = dr.abs(dr.dot(u, n)) * dr.rsqrt(dr.maximum(dr.squared_norm(n), 1e-30))
            on = active if bits is None else active & ((bits & (1 << e)) != 0)
            s = dr.select(on, dr.minimum(s, sk), s)
    return s


class FilmWarp:
    """Film-space (primary visibility) warp field of a pinhole camera, estimated per film sample."""

    def __init__(self, scene, sensor, camera, aux_rays: int, kappa: float, power: float, scales=LOBE_SCALES):
        self.scene, self.sensor, self.camera = scene, sensor, camera
        self.aux_rays, self.kappa, self.power = aux_rays, kappa, power
        self.scales = tuple(float(m) for m in scales)  # Gaussian lobes of variance 1 / (κ m), as on the sphere
        # Film pixels per radian of view angle at the image centre (converts the edge test to pixels).
        self.f_px = 0.5 * camera.W / camera.tx
        self.masks = static_edge_masks(scene)

    def ray(self, x):
        """The camera ray through film points ``x`` (pixels of the crop window; attached where x is)."""
        inv = mi.ScalarVector2f(1.0 / self.camera.W, 1.0 / self.camera.H)
        ray, _ = self.sensor.sample_ray(self.sensor.shutter_open(), 0.5, x * inv, mi.Point2f(0.5))
        return ray

    def estimate(self, x, sampler, active=True):
        """Attached zero-valued (ΔX, Δdiv) for film points ``x``: derivatives V̂(x) and ∇·E[V̂](x)
        (0 on lanes that are not ``active``, whose auxiliary rays are not traced)."""
        kappa = self.kappa
        rows = []
        for i in range(self.aux_rays):
            j = i % len(self.scales)
            with dr.suspend_grad():
                σ = dr.opaque(mi.Float, (kappa * self.scales[j]) ** -0.5)  # (opaque: one kernel for every lobe)
                o = mi.warp.square_to_std_normal(sampler.next_2d()) * σ
                ray = self.ray(dr.detach(x) + o)
            # Hit point following its shape (barycentrics fixed): its film projection moves with θ.
            si = self.scene.ray_intersect(ray, ray_flags=mi.RayFlags.All | mi.RayFlags.FollowShape, coherent=True,
                                          active=active)
            hit = si.is_valid()
            with dr.suspend_grad():
                s = edge_sine_distance(self.scene, si, ray.o, self.masks) * self.f_px
                B = dr.select(hit, 0.5 * kappa * s * s, B_MISS)
                w, gw, score = mixture_weight(0.5 * dr.squared_norm(o), B, kappa, self.power, o, self.scales, j,
                                              self.aux_rays)
            Xi = self.camera.film(dr.select(hit, si.p, ray.o + ray.d))  # misses: a static point
            dX = dr.select(hit, Xi - dr.detach(Xi), mi.Vector2f(0))
            sampler.schedule_state()  # one kernel per auxiliary ray, not one that grows with aux_rays
            dr.eval(w, gw, score, dX)
            rows.append((w, gw, score, dX))
        ΔX, Δdiv, _ = ratio_field(rows)
        return ΔX, Δdiv


class DirectionWarp:
    """Warp field on the sphere of directions at path vertices (secondary visibility, Sec. 6 of the paper).

    At a vertex x, incident radiance is discontinuous in the direction ω where the scene's silhouettes
    project onto the sphere around x. Auxiliary directions ω'_i ~ vMF(ω, κ) are traced from x; the hit
    point p_i follows its shape, so its direction ω_i(θ) = normalize(p_i(θ) - x(θ)) moves with the
    geometry (x follows the moving surface it lies on, as in :mod:`.secondary`); rays that leave the
    scene see the static environment (velocity 0). Kernel and boundary test are the film's, with
    1 - ω·ω' in place of |x - x'|²/2: D = exp(κ (1 - ω·ω')) - 1 (the vMF lobe), B = κ s²/2 with s
    the sine of the angle between ω'_i and the nearest edge of the triangle it hits, seen from x.

    Let U = Σ r_i v_i (r_i = w̃_i / W, v_i = ∂ω_i/∂θ, 3D) and V = P_ω U its tangential part. With
    o_i the tangential coordinates of ω'_i in ω's frame, ∇_ω D = -κ (D+1) o_i, so ``mixture_weight``
    applies unchanged, and the surface divergence of V is

        ∇·V = Σ_i v_i · (g_i - r_i G) / W - 2 ω·U  +  Σ_i r_i² s_i · (v_i - U_{-i}),

    g_i = ∂w̃_i/∂ω (kernel part), G = Σ g_i, s_i = ∇_ω log p(ω'_i | ω) = κ o_i, U_{-i} the ratio
    without sample i (:func:`ratio_field`, shared with the film; the last sum is the proposal-density
    and score part of ∇·E[V̂]). -2 ω·U is the sphere's curvature term, O(|v| / κ).

    *Why E[V̂] misses v at finite ``aux_rays``, and the multi-scale proposal.* The exact field
    (infinitely many rays) equals v on a silhouette because the weight is not integrable there; a
    ratio of n samples drawn at the kernel's own scale only resolves the boundary down to ~1/√(nκ).
    That matters most where the moving silhouette meets a *static* discontinuity within a kernel
    width (a light's border, a rectangle light's diagonal: zero-velocity samples with B = 0 compete),
    so the bias grows with the kernel width times the number of such junctions (single floor vertex
    of the triangle-shadow scene, 8 rays, vs FD of ``path``: 15 % low at κ = 10⁴, 7 % with a 3x
    larger light, 3.7 % with the silhouette wholly inside a large light). The auxiliary directions are
    therefore drawn from an equal mixture of vMF lobes with concentrations κ · ``scales`` (one
    lobe each in turn) and weighted by the mixture density (:func:`mixture_weight`): the narrow
    lobes put samples next to x, where the singular weight lives. With lobes (1, 30, 1000) κ the
    same vertex is 0.3 % ± 1.3 % off at κ = 10⁵ (one lobe: 6.6 % low); the remaining bias follows
    the narrowest lobe's width. Static hits get B x 100 (``STATIC_BOUNDARY_SCALE``; still zero on
    their own edges) so that their zero velocity competes only close to their edges, and the edges
    of static meshes between coplanar faces (a rectangle light's diagonal) get no boundary test at
    all (:func:`static_edge_masks`): they are no discontinuity, but a moving silhouette crossing
    them made a junction (sphere-shadow image sum 2.4 % -> 2.1 % low without them).
    ``scales`` may repeat an entry to give that lobe a larger share of the samples.
    Directions are sampled by :func:`sample_vmf`: Mitsuba's vMF warp loses 1 - cos θ to float32
    rounding at these concentrations (the indirect-occluder image sum was 9 % low from it at κ = 10⁵).
    A vertex lying on a moving shape makes every hit move (x moves).
    """

    def __init__(self, scene, aux_rays: int, kappa: float, power: float, scales=LOBE_SCALES):
        self.scene, self.aux_rays, self.kappa, self.power = scene, aux_rays, kappa, power
        self.scales = tuple(float(m) for m in scales)
        self.moving = [s for s in scene.shapes() if s.is_mesh() and dr.grad_enabled(s.vertex_positions_buffer())]
        self.masks = static_edge_masks(scene)

    def estimate(self, o, x_shift, frame, sampler, active, x_moves=False, reference=None):
        """Attached zero-valued (ΔV, Δdiv) at directions ``frame.n`` from ray origins ``o``.

        ``x_shift`` is the zero-valued motion of the vertex (``x - detach(x)``, attached) or None,
        ``x_moves`` whether the vertex lies on a moving shape; ΔV is returned in ``frame``'s
        tangential coordinates (s, t). ``reference = (shape, u)`` measures the field relative to a
        moving surface: hits on ``shape`` (a ``ShapePtr`` per lane) get velocity 0 and all others
        ``v - u`` (``u`` zero-valued, attached: that surface's direction velocity at ``frame.n``).
        """
        kappa, n = self.kappa, self.aux_rays
        rows = []
        for i in range(n):
            j = i % len(self.scales)  # deterministic allocation to the mixture's lobes
            with dr.suspend_grad():
                u, off, one_minus_cos = sample_vmf(sampler.next_2d(active), kappa * self.scales[j])
                ray = mi.Ray3f(o, frame.to_world(u))
            si = self.scene.ray_intersect(ray, ray_flags=mi.RayFlags.All | mi.RayFlags.FollowShape,
                                          coherent=False, active=active)
            hit = si.is_valid()
            with dr.suspend_grad():
                s = edge_sine_distance(self.scene, si, o, self.masks)
                moving = mi.Bool(x_moves)
                for shape in self.moving:
                    moving |= si.shape == mi.ShapePtr(shape)
                B = dr.select(hit, dr.select(moving, 0.5, 0.5 * STATIC_BOUNDARY_SCALE) * kappa * s * s, B_MISS)
                w, g, score = mixture_weight(one_minus_cos, B, kappa, self.power, off, self.scales, j, n)
                w = dr.select(active, w, 1.0)
            p = si.p if x_shift is None else si.p - x_shift
            ω_i = dr.normalize(p - o)
            v = dr.select(hit & active, ω_i - dr.detach(ω_i), mi.Vector3f(0))
            if reference is not None:
                v = dr.select(active & ~(hit & (si.shape == reference[0])), v - reference[1], mi.Vector3f(0))
            sampler.schedule_state()
            dr.eval(w, g, score, v)
            rows.append((w, g, score, v))
        ΔV, Δdiv, r = ratio_field([(w, g, score, mi.Vector2f(dr.dot(frame.s, v), dr.dot(frame.t, v)))
                                   for w, g, score, v in rows])
        # The sphere's curvature term of ∇·(P_ω U) (O(|v| / κ), kept for completeness).
        Δdiv -= 2 * sum(r[i] * dr.dot(frame.n, rows[i][3]) for i in range(len(rows)))
        return ΔV, Δdiv
