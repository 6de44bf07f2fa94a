"""Boundary term of procedural shaders' own discontinuities seen through glossy or diffuse scattering.

A shader edge on surface S (the curve Γ = {x ∈ S : g(uv(x); θ) = 0} of a level function,
:mod:`penumbra.shaders.primitives`) also reaches the image through a rough reflection of S, or as
indirect light that S throws on other surfaces: paths camera → y → x → ... with x ∈ S and y a glossy
or diffuse vertex. In area form (Veach 1997, Sec. 8.2) their share of pixel j is

    I_j = ∫_S ∫_A W_j(y) G(c, y) f(x → y → c) G(y, x) V(y, x) L_o(x → y) dA(y) dA(x),

c the camera, W_j the pixel's importance. L_o(x → y) jumps across Γ by ΔL = L_o⁺ - L_o⁻ (L_o⁺ on
the side g > 0) because the BSDF at x reads the shader. Moving Γ in S with θ (the textured surface
itself fixed, or moving with its texture, which other terms handle) gives the boundary integral of
Li et al. 2018 (Sec. 3, Reynolds transport), the edge being on the surface instead of the film:

    ∂I_j/∂θ |_boundary = ∫_Γ v(x) ∫_A W_j G(c, y) f G(y, x) V ΔL(x → y) dA(y) dℓ(x),
    v = (∂g/∂θ) / |∇_S g|,

the Dirac term of the shader's branch condition (Bangaru et al. 2021 "Teg", Yang et al. 2022 "Aδ")
as in :mod:`penumbra.shaders.boundary`, here in surface length dℓ.

*The curve.* S is parameterized by its texture coordinates, x = X(uv) (Mitsuba's
``Shape.eval_parameterization``), with area element J = |∂X/∂u × ∂X/∂v|. In uv the same term is
∫_{Γ_uv} ΔF J (∂g/∂θ) / |∇_uv g| dℓ_uv (F the inner integral). The unit uv square is cut into
``UV_CELLS``² cells and Γ_uv is sampled with :func:`penumbra.shaders.boundary.line_roots` (pairs of
horizontal and vertical lines per cell, roots by bisection); in cell units q = ``UV_CELLS`` uv a root
carries ΔF (J / UV_CELLS²) (∂g/∂θ) / ((|g_qx| + |g_qy|) n_lines), n_lines the line pairs per cell.

*The inner integral.* With G(y, x) dA(y) = |cos θ_x| dω, y is the first hit of a direction ω from x
drawn cosine-weighted on a uniformly chosen side of S (|cos θ_x| / p(ω) = 2π). The camera term is
written on the film: pixel j = ∫_D k(p - c_j) L(p) dp / K_j over the film's sampled domain D (the
film, grown by the filter's border when the film samples it), K_j = ∫_D k(p - c_j) dp
(:func:`.camera_motion.filter_normalization`), and a pinhole maps y to the film point p(y) with
W_j(y) G(c, y) = k(p - c_j) / K_j · f² |cos θ_y| / (cos³θ_c |c - y|²) (f the focal length in
pixels, θ_c the angle from the optical axis; :func:`film_connection`). ``bsdf.eval`` at y
(importance transport, light coming from x) gives f_s |cos θ_y| towards the camera, and a shadow
ray checks V(y, c). ΔL is the radiance of two sub-paths from y aimed at the surface points a hair's
width on each side of the root (Mitsuba's path replay in primal mode with the remaining depth, same
random numbers): their first hits lie on S on the expected sides (else the sample is dropped).
``DIRECTIONS`` directions per root share one root.

The estimate, per direction,

    2π · f² / (cos³θ_c |c - y|²) · f_s |cos θ_y| · ΔL · (J / UV_CELLS²) · (∂g/∂θ) / ((|g_qx| + |g_qy|) n_lines n_dirs),

is splatted at p(y) with the film's filter and each pixel divided by K_j; the value is 0 and its
derivative the boundary term (g attached to the shader's parameters, evaluated at the root's uv).

*Longer chains.* Paths camera → y_k → ... → y₁ → x with more glossy, diffuse or specular vertices
between continue from y₁ as a light-tracing walk (Veach 1997, Sec. 10.2; Mitsuba's particle
tracer): y₂, y₃, ... are drawn by sampling the BSDF at each vertex in importance
transport (throughput β_k, the product of the sampling weights), and every vertex y_k connects to
the camera as above, weighted by β_k and by ΔL(x → y₁) estimated with the depth left to a path of k
vertices before x (``max_depth`` - k; one pair of sub-paths per k). The walk has ``max_depth`` - 2
vertices at most (unbounded: ``MAX_WALK``, Russian roulette from ``rr_depth`` on).

Covered: every path from the camera to S whose vertex next to the camera is glossy or diffuse (a
rough or diffuse reflection of S, light from S on a diffuse surface, after any number of bounces).
Not covered: a glossy or diffuse vertex seen through a mirror or glass (camera → specular → y → ...;
the pinhole cannot be reached by a walk through a Dirac lobe), shapes without a one-to-one uv map
(:func:`supports_parameterization`; Mitsuba's ``eval_parameterization`` serves rectangles, disks,
spheres and meshes with texture coordinates).
"""
from __future__ import annotations

import drjit as dr
import mitsuba as mi
import numpy as np

from penumbra.shaders.boundary import FilmLookup, level_at, line_roots

from .base import signed_depth
from .camera import PinholeCamera
from .camera_motion import filter_normalization
from .secondary import incident_radiance
from .vertices import continue_path

UV_CELLS = 32       # cells per side of the uv square for the line samples
DIRECTIONS = 64     # directions from each root
EPS_CELLS = 1e-3    # distance of the jump's two surface points from the root, in cells
MAX_WALK = 16       # walk vertices at most with an unbounded max_depth (Russian roulette before)


def supports_parameterization(shape, probes: int = 256) -> bool:
    """True where Mitsuba maps texture coordinates on ``shape`` one-to-one to its surface inside the
    unit square: ``probes`` surface points (``sample_position``, fixed seed) have uv in [0, 1]² and
    ``eval_parameterization`` of their uv returns them (within 1e-3 of the bounding box's diagonal).
    False for shapes without the mapping and for overlapping or tiled uv (a cube's six faces)."""
    with dr.suspend_grad():
        sampler = mi.load_dict({"type": "independent"})
        sampler.seed(0x5CA7, probes)
        ps = shape.sample_position(0.0, sampler.next_2d())
        try:
            back = shape.eval_parameterization(ps.uv)
        except Exception:  # Mitsuba's default implementation raises
            return False
        diag = float(dr.norm(shape.bbox().extents()))
        inside = (ps.uv.x >= 0) & (ps.uv.x <= 1) & (ps.uv.y >= 0) & (ps.uv.y <= 1)
        same = back.is_valid() & (dr.norm(back.p - ps.p) <= 1e-3 * diag)
        return bool(dr.all(inside & same))


class SurfaceUV(FilmLookup):
    """The uv square of ``shape`` as a ``UV_CELLS`` x ``UV_CELLS`` "film" for
    :func:`penumbra.shaders.boundary.line_roots`: position q maps to uv = q / ``UV_CELLS``, valid where
    the shape has a surface point with these texture coordinates."""

    def __init__(self, shape):
        self.width = self.height = UV_CELLS
        self.shape = shape

    def uv(self, pos, chain=None):
        uv = mi.Point2f(pos) / UV_CELLS
        inside = (uv.x >= 0) & (uv.x <= 1) & (uv.y >= 0) & (uv.y <= 1)
        return uv, inside & self.shape.eval_parameterization(uv, active=inside).is_valid()


def scatter_boundary_image(integrator, scene, sensor, shape, texture, seed: int, spp: int,
                           directions: int = DIRECTIONS):
    """Film image (``mi.TensorXf`` (H, W, 3), value 0) whose derivative is the boundary term of the
    shader ``texture`` on ``shape`` seen through glossy or diffuse scattering (module docstring);
    ``spp`` line pairs per uv cell. None where ``max_depth`` < 3."""
    if 0 <= signed_depth(integrator.max_depth) <= 2:  # no path camera → y → x → ... reflects light at x
        return None
    shader = texture.shader
    film = sensor.film()
    W, H = (int(v) for v in film.crop_size())
    image = dr.zeros(mi.TensorXf, (H, W, 3))
    camera = PinholeCamera(sensor)
    camera_origin = mi.Point3f(*(float(v) for v in camera.origin))
    roots = line_roots(shader, SurfaceUV(shape), spp, seed)
    if roots is None:
        return image
    K = int(directions)
    with dr.suspend_grad():
        n = dr.width(roots.root) * K
        idx = dr.arange(mi.UInt32, n) // K

        def rep(v):
            return dr.gather(type(v), v, idx)
        root = mi.Point2f(rep(roots.root))
        lev, sign_a, a, b = rep(roots.lev), rep(roots.sign_a), rep(roots.a), rep(roots.b)
        grad_sum = dr.abs(rep(roots.gx)) + dr.abs(rep(roots.gy))

        sampler = mi.load_dict({"type": "independent"})
        sampler.seed(int(seed), n)
        # the two surface points of the jump, EPS_CELLS from the root along the line
        t = dr.normalize(b - a)
        q_a, q_b = root - t * EPS_CELLS, root + t * EPS_CELLS
        ok = (level_at(shader, q_a / UV_CELLS, lev, True) >= 0) == sign_a
        ok &= (level_at(shader, q_b / UV_CELLS, lev, True) >= 0) != sign_a
        uv_root = root / UV_CELLS
        si_x = shape.eval_parameterization(uv_root, active=ok)
        ok &= si_x.is_valid()
        J = dr.norm(dr.cross(si_x.dp_du, si_x.dp_dv))
        x_a = shape.eval_parameterization(q_a / UV_CELLS, active=ok).p
        x_b = shape.eval_parameterization(q_b / UV_CELLS, active=ok).p

        # a direction from x, cosine-weighted on a random side of S: |cos θ_x| / p(ω) = 2π
        flip = sampler.next_1d(ok) < 0.5
        local = mi.warp.square_to_cosine_hemisphere(sampler.next_2d(ok))
        local.z = dr.select(flip, -local.z, local.z)
        ω = mi.Frame3f(si_x.n).to_world(local)
        si_y = scene.ray_intersect(si_x.spawn_ray(ω), ok)
        ok &= si_y.is_valid()

        # the jump's two sub-paths start at y₁ and must reach S on the expected sides of the root
        rays = []
        for x_s, side_a in ((x_a, True), (x_b, False)):
            ray = si_y.spawn_ray_to(x_s)
            ray = mi.Ray3f(ray.o, dr.normalize(ray.d), ray.time, ray.wavelengths)
            hit = scene.ray_intersect(ray, ok)
            ok &= hit.is_valid() & (hit.shape == mi.ShapePtr(shape))
            ok &= ((level_at(shader, hit.uv, lev, True) >= 0) == sign_a) == side_a
            rays.append(ray)
        sub = mi.load_dict({"type": "independent"})
        sub.seed(int(seed) ^ 0x9E3779B9, n)
        scale = 2 * dr.pi * J / (UV_CELLS ** 2 * int(spp) * K * dr.maximum(grad_sum, 1e-12))
        dr.eval(ok, scale, rays, si_y)

        # the walk y₁, y₂, ... (importance transport from x), each vertex connected to the camera
        ctx = mi.BSDFContext(mi.TransportMode.Importance)
        depth = signed_depth(integrator.max_depth)
        unbounded = depth < 0
        β = mi.Spectrum(1.0)
        si, alive = si_y, mi.Bool(ok)
        splats = []
        for k in range(1, (MAX_WALK if unbounded else depth - 2) + 1):
            pos, importance, to_camera, visible = film_connection(camera, film, si.p)
            conn = alive & visible
            conn &= ~scene.ray_test(si.spawn_ray_to(camera_origin), conn)
            bsdf = si.bsdf()
            f = bsdf.eval(ctx, si, si.to_local(to_camera), conn)
            conn &= dr.any(f != 0)
            # ΔL of x towards y₁ with the depth left to a path camera → y_k → ... → y₁ → x
            remaining = int(integrator.max_depth) if unbounded else depth - k  # (Mitsuba stores -1 unsigned)
            pair = sub.clone()
            L_a = incident_radiance(integrator, scene, pair, rays[0], remaining, conn)
            L_b = incident_radiance(integrator, scene, sub, rays[1], remaining, conn)
            jump = dr.select(sign_a, L_a - L_b, L_b - L_a)
            weight = dr.select(conn, β * importance * f * jump * scale, 0.0)
            dr.eval(weight, pos)
            splats.append((pos, weight))
            if k == (MAX_WALK if unbounded else depth - 2):
                break
            wo, β, alive = continue_path(integrator, sampler, ctx, si, bsdf, β, alive,
                                         unbounded and k + 1 >= int(integrator.rr_depth))
            si = scene.ray_intersect(si.spawn_ray(wo), alive)
            alive &= si.is_valid()
            sampler.schedule_state()
            sub.schedule_state()
            dr.eval(si, β, alive)
            if not dr.any(alive):
                break
        dr.eval(uv_root, lev)

    with dr.resume_grad():
        g = level_at(shader, uv_root, lev)
        dg = g - dr.detach(g)
        block = mi.ImageBlock(film.crop_size(), film.crop_offset(), 3, rfilter=film.rfilter(), border=False,
                              normalize=False, coalesce=False)
        for pos, weight in splats:
            block.put(pos, [weight[0] * dg, weight[1] * dg, weight[2] * dg])
        norm = filter_normalization(film)
        return block.tensor() / mi.TensorXf(np.repeat(norm[:, :, None], 3, axis=2).astype(np.float32))


def film_connection(camera, film, y):
    """Pinhole connection of world points ``y`` to the film: ``(pos, density, direction, valid)`` with
    pos the film position (pixels), density = dx_film / dA(y) without y's cosine, f² / (cos³θ_c |c - y|²)
    (f the focal length in pixels, θ_c the angle to the optical axis), the unit direction from y to the
    camera centre c, and whether pos lies in the film's sampled domain (the film, grown by the filter's
    border when the film samples it) in front of the near plane."""
    M = camera.to_camera.tolist()  # Python floats: NumPy scalars would hijack Dr.Jit arithmetic
    c = [M[i][0] * y.x + M[i][1] * y.y + M[i][2] * y.z + M[i][3] for i in range(3)]
    z = c[2]
    valid = z > float(camera.near)
    z_safe = dr.select(valid, z, 1.0)
    W, H = float(camera.W), float(camera.H)
    pos = mi.Point2f(float(camera.cx) - 0.5 * W * c[0] / (z_safe * float(camera.tx)),
                     float(camera.cy) - 0.5 * H * c[1] / (z_safe * float(camera.ty)))
    b = float(film.rfilter().border_size()) if film.sample_border() and not film.rfilter().is_box_filter() else 0.0
    valid &= (pos.x >= -b) & (pos.x <= W + b) & (pos.y >= -b) & (pos.y <= H + b)
    to_c = mi.Point3f(*(float(v) for v in camera.origin)) - y
    dist = dr.norm(to_c)
    cos_c = z_safe / dr.maximum(dist, 1e-30)
    f = 0.5 * W / float(camera.tx)
    density = dr.select(valid, f * f / (cos_c * cos_c * cos_c * dr.maximum(dist * dist, 1e-30)), 0.0)
    return pos, density, to_c / dr.maximum(dist, 1e-30), valid
