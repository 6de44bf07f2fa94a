"""Primary boundary term of the shading-normal terminator of smooth-shaded meshes.

Mitsuba's BSDFs vanish where the viewing direction lies below the *shading* frame (cos θ_i <= 0
for the interpolated vertex normal n_s). On a smooth-shaded mesh this cuts a dark rim inside the
silhouette whose inner border, the terminator

    g(p) = n_s(p) · (c - p) = 0        (c: the camera centre),

runs through triangles, not along mesh edges, and moves with the vertices and their normals.
Edge sampling (Li, Aittala, Durand, Lehtinen 2018) of the silhouette alone then sees the jump
"background - dark rim" where the image really changes by "background - surface": on a low-poly
sphere moving in depth the derivative came out 2.6x too large. This module adds the missing
boundary integral over the terminator curves Γ in film space,

    ∂I_j/∂θ |_Γ = (1/K) ∫_Γ k(y - c_j) (L_lit - L_dark)(y) · ġ(y) / |∇_y g(y)| dℓ(y),

with ġ = ∂g/∂θ at a fixed film point y (g evaluated where the camera ray through y meets the
moving triangle's plane): by the implicit function theorem the curve moves towards the lit side
by v = -ġ / |∇_y g|, turning a strip of width v from lit to dark, (L_dark - L_lit) v per length.

*Sampling the curve.* Inside a triangle with vertices p_j and vertex normals n_i, barycentrics b,
g = Σ_ij b_i b_j n_i·(c - p_j) is quadratic along any line in the triangle's plane, so the curve's
crossing with a line is a root of a quadratic. Lines are drawn in film space and weighted by
Crofton's formula, ∫_Γ f dℓ = ½ ∫_0^π ∫ Σ_{y ∈ Γ∩L(φ,s)} f(y) ds dφ: a candidate triangle T with
probability P_T ∝ its projected perimeter, an angle φ uniform in [0, π), an offset s uniform over
T's projected width w(φ); every root y inside T contributes ½ π w(φ) f(y) / P_T. Unlike a fixed
family of parallel lines this has no 1/|cos| blow-up where the curve runs along the lines. A film
line back-projects to a 3D line in T's plane (both film points are intersected with the plane,
in float64), on which barycentrics are affine. The jump L_lit - L_dark is estimated like the
silhouette's (:mod:`.primary`): two correlated camera rays a hair's width either side along
∇_y g (central differences of g in film space, 1e-3 px). A root counts only if the camera ray
through it hits T itself (visibility).

Candidates: triangles of meshes with vertex normals where n_i·(c - p_j) <= 0 for some (i, j) and
> 0 for another (otherwise g has one sign on T), with all vertices in front of the near plane and
the projection overlapping the film (plus the filter's reach). Left out: triangles crossing the
near plane. Camera motion needs nothing here: the centre c is a constant in this module, but a
camera translation is differentiated as the scene moving the other way (:mod:`.camera_motion`),
which ġ sees through the attached vertex buffers; rotation and field of view leave g unchanged and
are covered by the camera warp term.
"""
from __future__ import annotations

import drjit as dr
import mitsuba as mi
import numpy as np

from penumbra.renderer.arrays import upload

from .camera import PinholeCamera, camera_radiance
from .edges import gather_per_mesh, mesh_arrays
from .film import filter_integral, one_sided_offset, term_sampler

GRAD_STEP = 1e-3  # film-space step (pixels) of the central differences of g


class TerminatorTriangles:
    """Candidate triangles (NumPy table) and the float64 geometry of g for a pinhole camera."""

    def __init__(self, scene, sensor):
        self.camera = cam = PinholeCamera(sensor)
        r = float(sensor.film().rfilter().radius())
        c = cam.origin
        self.meshes, rows = [], []
        for shape in scene.shapes():
            if not (shape.is_mesh() and shape.has_vertex_normals()):
                continue
            arrays = mesh_arrays(shape)
            if arrays is None:
                continue
            V, F = arrays
            N = np.array(dr.detach(shape.vertex_normals_buffer()), dtype=np.float64).reshape(-1, 3)
            P, Nv = V[F], N[F]  # (T, 3 vertices, 3)
            G = np.einsum("tik,tjk->tij", Nv, c[None, None, :] - P)  # n_i · (c - p_j)
            cand = (G <= 0).any(axis=(1, 2)) & (G > 0).any(axis=(1, 2))
            Pc = cam.camera_space(P.reshape(-1, 3)).reshape(-1, 3, 3)
            cand &= (Pc[:, :, 2] > max(cam.near, 1e-6) * 1.001).all(axis=1)
            if not cand.any():
                continue
            a = cam.film_np(Pc[cand].reshape(-1, 3)).reshape(-1, 3, 2)
            lo, hi = a.min(axis=1), a.max(axis=1)
            inside = (hi[:, 0] > -r) & (lo[:, 0] < cam.W + r) & (hi[:, 1] > -r) & (lo[:, 1] < cam.H + r)
            tri = np.flatnonzero(cand)[inside]
            if len(tri) == 0:
                continue
            a = a[inside]
            perimeter = sum(np.linalg.norm(a[:, (k + 1) % 3] - a[:, k], axis=1) for k in range(3))
            m = len(self.meshes)
            self.meshes.append(shape)
            rows.append(np.column_stack([np.full(len(tri), m), tri, F[tri], a.reshape(-1, 6), perimeter]))
        self.table = np.concatenate(rows) if rows else np.zeros((0, 12))

    def __len__(self):
        return len(self.table)

    def column(self, j, index, tp=mi.Float):
        return dr.gather(tp, upload(tp, self.table[:, j]), index)

    def direction(self, y):
        """World-space direction (Array3f64, unnormalised) of the camera ray through film point y."""
        cam = self.camera
        R = cam.to_world[:3, :3].tolist()
        d = [(float(cam.cx) - mi.Float64(y.x)) * (2.0 * float(cam.tx) / cam.W),
             (float(cam.cy) - mi.Float64(y.y)) * (2.0 * float(cam.ty) / cam.H), mi.Float64(1.0)]
        return mi.Vector3d(*(R[i][0] * d[0] + R[i][1] * d[1] + R[i][2] * d[2] for i in range(3)))


def _plane_point(c, D, p):
    """Intersection (float64) of rays c + t D with the planes of triangles ``p`` (3 points each),
    and its barycentrics; also the validity (ray not parallel to the plane)."""
    e1, e2 = p[1] - p[0], p[2] - p[0]
    nT = dr.cross(e1, e2)
    denom = dr.dot(nT, D)
    ok = dr.abs(denom) > 1e-12 * dr.norm(nT) * dr.norm(D)
    t = dr.dot(nT, p[0] - c) / dr.select(ok, denom, 1.0)
    Q = c + t * D
    # Barycentrics of Q in the plane (b1, b2 via the Gram system of e1, e2).
    w = Q - p[0]
    d11, d12, d22 = dr.dot(e1, e1), dr.dot(e1, e2), dr.dot(e2, e2)
    w1, w2 = dr.dot(w, e1), dr.dot(w, e2)
    det = d11 * d22 - d12 * d12
    b1 = (d22 * w1 - d12 * w2) / det
    b2 = (d11 * w2 - d12 * w1) / det
    return Q, (1 - b1 - b2, b1, b2), ok


def _g(c, Q, b, n):
    """g = n_s · (c - Q) with the (unnormalised) interpolated normal."""
    ns = b[0] * n[0] + b[1] * n[1] + b[2] * n[2]
    return dr.dot(ns, c - Q)


def terminator_boundary_image(integrator, scene, sensor, seed: int, spp: int):
    """Film-space image (mi.TensorXf (H, W, 3), value 0) whose derivative is the terminator term;
    ``spp`` lines per pixel."""
    film = sensor.film()
    tris = TerminatorTriangles(scene, sensor)
    cam = tris.camera
    shape = (cam.H, cam.W, 3)
    if len(tris) == 0 or spp <= 0:
        return dr.zeros(mi.TensorXf, shape)
    N = spp * cam.W * cam.H
    K = filter_integral(film.rfilter())
    r = float(film.rfilter().radius())
    perimeter = tris.table[:, 11]
    P_T = perimeter / perimeter.sum()
    c32 = mi.Point3f(*(float(v) for v in cam.origin))
    c64 = mi.Point3d(*(float(v) for v in cam.origin))
    eps = one_sided_offset(cam.W, cam.H)
    block = mi.ImageBlock(film.crop_size(), film.crop_offset(), 3, rfilter=film.rfilter(), border=False,
                          normalize=False, coalesce=False)

    with dr.suspend_grad():
        sampler = term_sampler(seed, "terminator", N)
        u = mi.Float((dr.arange(mi.Float64, N) + mi.Float64(sampler.next_1d())) / dr.opaque(mi.Float64, N))
        T, u_rest = mi.DiscreteDistribution(upload(mi.Float, perimeter)).sample_reuse(
            dr.minimum(u, 1.0 - 2.0 ** -24))
        mesh, tri = tris.column(0, T, mi.UInt32), tris.column(1, T, mi.UInt32)
        idx = [tris.column(2 + k, T, mi.UInt32) for k in range(3)]
        a = [mi.Point2f(tris.column(5 + 2 * k, T), tris.column(6 + 2 * k, T)) for k in range(3)]
        scale = 0.5 * dr.pi / (dr.gather(mi.Float, upload(mi.Float, P_T), T) * dr.opaque(mi.Float, N * K))
        # A film line through T: angle φ, offset s uniform over T's projected width w(φ).
        φ = dr.pi * u_rest
        d = mi.Vector2f(dr.cos(φ), dr.sin(φ))
        e = mi.Vector2f(-d.y, d.x)
        q = [dr.dot(mi.Vector2f(ak), e) for ak in a]
        λ = [dr.dot(mi.Vector2f(ak), d) for ak in a]
        q_lo, q_hi = dr.minimum(dr.minimum(q[0], q[1]), q[2]), dr.maximum(dr.maximum(q[0], q[1]), q[2])
        λ_lo, λ_hi = dr.minimum(dr.minimum(λ[0], λ[1]), λ[2]), dr.maximum(dr.maximum(λ[0], λ[1]), λ[2])
        w = q_hi - q_lo
        s = dr.lerp(q_lo, q_hi, sampler.next_1d())
        y_A, y_B = s * e + λ_lo * d, s * e + dr.maximum(λ_hi, λ_lo + 1.0) * d
        active = w > 0
        # Geometry in float64: the 3D line in T's plane and g along it (a quadratic in τ).
        def positions(sh):
            return dr.detach(sh.vertex_positions_buffer())

        def normals(sh):
            return dr.detach(sh.vertex_normals_buffer())
        p = [mi.Point3d(v) for v in gather_per_mesh(tris.meshes, mesh, positions, idx, active)]
        n = [mi.Vector3d(v) for v in gather_per_mesh(tris.meshes, mesh, normals, idx, active, mi.Vector3f)]
        Q_A, b_A, ok_A = _plane_point(c64, tris.direction(y_A), p)
        Q_B, b_B, ok_B = _plane_point(c64, tris.direction(y_B), p)
        active &= ok_A & ok_B
        ΔQ = Q_B - Q_A
        Δb = [b_B[k] - b_A[k] for k in range(3)]
        n_A = b_A[0] * n[0] + b_A[1] * n[1] + b_A[2] * n[2]
        Δn = Δb[0] * n[0] + Δb[1] * n[1] + Δb[2] * n[2]
        w_A = c64 - Q_A
        A2, B1, C0 = -dr.dot(Δn, ΔQ), dr.dot(Δn, w_A) - dr.dot(n_A, ΔQ), dr.dot(n_A, w_A)
        disc = B1 * B1 - 4 * A2 * C0
        active &= disc >= 0
        sq = dr.sqrt(dr.maximum(disc, 0.0))
        qq = -0.5 * (B1 + dr.mulsign(sq, B1))
        linear = dr.abs(A2) <= 1e-12 * (dr.abs(B1) + dr.abs(C0))
        roots = [dr.select(linear, -C0 / B1, qq / A2), dr.select(linear, dr.inf, C0 / qq)]

        per_root = []
        for τ in roots:
            b = [b_A[k] + τ * Δb[k] for k in range(3)]
            ok = active & dr.isfinite(τ) & (b[0] >= 0) & (b[1] >= 0) & (b[2] >= 0)
            Q = mi.Point3f(Q_A + τ * ΔQ)
            y = cam.film(Q)
            ok &= (y.x > -r) & (y.x < cam.W + r) & (y.y > -r) & (y.y < cam.H + r)
            # Visible: the camera ray through y hits T itself.
            inv = mi.ScalarVector2f(1.0 / cam.W, 1.0 / cam.H)
            ray, _ = sensor.sample_ray(sensor.shutter_open(), 0.5, y * inv, mi.Point2f(0.5), ok)
            si = scene.ray_intersect(ray, ok)
            hit_T = si.is_valid() & (si.prim_index == tri)
            for m, sh in enumerate(tris.meshes):
                hit_T &= ~(mesh == m) | (si.shape == mi.ShapePtr(sh))
            ok &= hit_T
            # ∇_y g by central differences (the curve's film normal points to the lit side).
            def g_at(yy):
                Qy, by, _ = _plane_point(c64, tris.direction(yy), p)
                return _g(c64, Qy, by, n)
            hx, hy = mi.Vector2f(GRAD_STEP, 0), mi.Vector2f(0, GRAD_STEP)
            grad = mi.Vector2f((g_at(y + hx) - g_at(y - hx)) / (2 * GRAD_STEP),
                               (g_at(y + hy) - g_at(y - hy)) / (2 * GRAD_STEP))
            norm = dr.norm(grad)
            ok &= norm > 0
            ν = grad / dr.select(ok, norm, 1.0)
            smp = sampler.clone()
            L_lit = camera_radiance(integrator, scene, sensor, y + eps * ν, smp)
            L_dark = camera_radiance(integrator, scene, sensor, y - eps * ν, sampler)
            per_root.append((ok, y, tris.direction(y), (L_lit - L_dark) * (scale * w / norm)))
            sampler.schedule_state()
            dr.eval(per_root[-1])

    for ok, y, D, weight in per_root:
        # ġ at the fixed film point y: the ray through y against the moving triangle and normals.
        p_att = gather_per_mesh(tris.meshes, mesh, lambda sh: sh.vertex_positions_buffer(), idx, ok)
        n_att = gather_per_mesh(tris.meshes, mesh, lambda sh: sh.vertex_normals_buffer(), idx, ok, mi.Vector3f)
        Q, b, _ = _plane_point(c32, mi.Vector3f(D), p_att)
        g = _g(c32, Q, b, n_att)
        value = dr.select(ok, weight * (g - dr.detach(g)), 0.0)
        block.put(y, [value[0], value[1], value[2]], active=ok)
    return block.tensor()
