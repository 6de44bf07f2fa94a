"""Camera path vertices for boundary terms at secondary bounces (wavefront, primal only).

Boundary terms at a path vertex x_k (secondary edge sampling, warped-area sampling in direction
space) need the vertex itself and the path throughput that carries its contribution to the film:

    β_k = W(pos) · Π_{j<k} f(x_j, ω_{j-1}, ω_j) |cos| / p(ω_j)

for a camera path traced by BSDF sampling. This module traces such paths one bounce at a time
(each bounce evaluated before the next, so kernels stay small) and returns, per depth, the
detached surface interaction, its BSDF, the ray that reached it, β_k and the lanes still alive.
No emission is accumulated: the caller adds its own estimate at each vertex.
:func:`vertex_term_image` runs such a per-vertex estimate over all depths and splats it to the film.
"""
from __future__ import annotations

from dataclasses import dataclass

import drjit as dr
import mitsuba as mi


@dataclass
class PathVertex:
    si: mi.SurfaceInteraction3f
    bsdf: mi.BSDFPtr
    ray: mi.Ray3f        # the ray whose first hit is ``si`` (detached)
    β: mi.Spectrum       # throughput from the sensor up to (excluding) the BSDF at ``si``
    active: mi.Bool
    film: mi.Point2f     # the path's camera sample on the film (pixels of the crop window)


# Unbounded ``max_depth``: camera paths for vertex terms continue with Russian roulette from the
# integrator's ``rr_depth`` on (survival min(max β, 0.95), β divided by it: unbiased) until every
# lane has ended, or at most this many vertices.
MAX_VERTICES = 64

#: how the first vertex of a camera path moves in a boundary term, which must match the primary
#: term's frame: ``"ray"`` (edge sampling: the vertex stays on its fixed camera ray), ``"surface"``
#: (it follows its surface, its barycentrics fixed) or ``"warp"`` (warped-area sampling: its camera
#: sample moves with the film warp field V, as the primary term moves every film sample; V is the
#: surface's own film motion away from moving silhouettes but a blend of the velocities around
#: near them, where a vertex on a static floor moves too)
CAMERA_FRAMES = ("ray", "surface", "warp")


def camera_vertices(integrator, scene, sensor, sampler, n_vertices: int, roulette: bool = False):
    """Trace ``sampler.sample_count()`` camera paths per pixel for ``n_vertices`` vertices.

    Returns the film positions of the camera samples (pixels) and a list of :class:`PathVertex`,
    one per depth 0 .. n_vertices - 1. ``roulette``: Russian roulette from ``integrator.rr_depth``
    on, and the list ends early once no path is alive.
    """
    ray, weight, pos = integrator.sample_rays(scene, sensor, sampler)[:3]
    ray = mi.Ray3f(ray)
    film = mi.Point2f(pos - mi.ScalarVector2f(sensor.film().crop_offset()))
    β = mi.Spectrum(weight)
    active = mi.Bool(True)
    ctx = mi.BSDFContext()
    vertices = []
    for depth in range(n_vertices):
        si = scene.ray_intersect(ray, ray_flags=mi.RayFlags.All, coherent=depth == 0, active=active)
        active &= si.is_valid()
        bsdf = si.bsdf(ray)
        vertices.append(PathVertex(si, bsdf, mi.Ray3f(ray), mi.Spectrum(β), mi.Bool(active), film))
        if depth + 1 == n_vertices:
            break
        wo, β, active = continue_path(integrator, sampler, ctx, si, bsdf, β, active,
                                      roulette and depth + 1 >= int(integrator.rr_depth))
        ray = si.spawn_ray(wo)
        sampler.schedule_state()
        dr.eval(ray, β, active, si)
        if roulette and not dr.any(active):
            break
    return pos, vertices


def first_vertex_motion(scene, vertex: PathVertex, frame: str, sampler, film_warp=None, active=True):
    """The camera vertex ``vertex.si.p`` attached to θ as it moves in ``frame`` (:data:`CAMERA_FRAMES`;
    ``"warp"`` needs the primary term's :class:`.warp_field.FilmWarp`, whose estimate at the path's
    camera sample draws auxiliary rays from ``sampler``), on the lanes ``active`` and alive.
    Call with derivative tracking on."""
    active = vertex.active & active
    if frame == "warp":
        if film_warp is None:
            raise ValueError("first_vertex_motion(frame='warp') needs the film warp field")
        ΔX = film_warp.estimate(vertex.film, sampler, active)[0]
        # the displaced ray's derivative through ΔX only: a moving camera's own derivative (the same
        # at both points, ΔX being zero-valued) is the camera terms' and is subtracted
        moved, fixed = film_warp.ray(vertex.film + ΔX), film_warp.ray(dr.detach(vertex.film))
        ray = mi.Ray3f(moved.o - (fixed.o - dr.detach(fixed.o)), moved.d - (fixed.d - dr.detach(fixed.d)),
                       dr.detach(moved.time), moved.wavelengths)
        return attached_hit(scene, ray, active).p
    return attached_hit(scene, vertex.ray, active, frame == "surface").p


def attached_hit(scene, ray, active=True, follow_shape: bool = False) -> mi.SurfaceInteraction3f:
    """The first hit of ``ray``, attached to the moving geometry (and to the ray where it is
    attached): sliding along the ray, or moving with its surface (``follow_shape``: Mitsuba's
    ``RayFlags.FollowShape``, the point's barycentrics fixed). Call with derivative tracking on."""
    flags = mi.RayFlags.All | mi.RayFlags.FollowShape if follow_shape else mi.RayFlags.All
    return scene.ray_intersect(ray, ray_flags=flags, coherent=False, active=active)


def continue_path(integrator, sampler, ctx, si, bsdf, β, active, roulette: bool):
    """One BSDF-sampled step of a path at ``si``: ``(world direction, throughput, active)``, the
    throughput times the BSDF weight, the lanes with a zero pdf or throughput retired and, with
    ``roulette``, Russian roulette as ``prb`` plays it (survival max(β) capped at 0.95)."""
    bs, bsdf_weight = bsdf.sample(ctx, si, sampler.next_1d(active), sampler.next_2d(active), active)
    β = β * bsdf_weight
    active = active & (bs.pdf > 0) & dr.any(β != 0)
    if roulette:
        q = dr.minimum(dr.max(β), 0.95)
        active &= sampler.next_1d(active) < q
        β /= dr.maximum(q, 1e-30)
    return si.to_world(bs.wo), β, active


def secondary_term_zero(integrator, sensor, spp: int):
    """The zero (H, W, 3) film image of a secondary boundary term, and whether the term has anything
    to estimate at all (``spp`` > 0 and paths with a vertex that can see past a first bounce)."""
    W, H = (int(v) for v in sensor.film().crop_size())
    return dr.zeros(mi.TensorXf, (H, W, 3)), spp > 0 and int(integrator.max_depth) >= 2


def vertex_term_image(integrator, scene, sensor, seed: int, spp: int, n_vertices: int, estimate):
    """Film image (mi.TensorXf (H, W, 3)) of ``Σ_k estimate(sampler, vertex_k, k)`` over the camera-path
    vertices k = 0 .. n_vertices - 1 of ``spp`` paths per pixel (more than :data:`MAX_VERTICES`, i.e.
    an unbounded ``max_depth``: Russian roulette, at most that many), splatted at each path's camera
    sample with the film's filter and normalised per pixel like Mitsuba's film. ``estimate`` runs
    with derivative tracking suspended (it resumes it for what it attaches) and returns a
    (zero-valued) mi.Spectrum per lane."""
    film = sensor.film()
    W, H = (int(v) for v in film.crop_size())
    if film.sample_border():  # sample_rays() then covers the border too (Gaussian filters)
        W, H = W + 2 * film.rfilter().border_size(), H + 2 * film.rfilter().border_size()
    sampler = mi.load_dict({"type": "independent", "sample_count": spp})
    sampler.seed(seed, W * H * spp)
    total = None
    with dr.suspend_grad():
        roulette = n_vertices > MAX_VERTICES
        pos, vertices = camera_vertices(integrator, scene, sensor, sampler, min(n_vertices, MAX_VERTICES),
                                        roulette)
        for depth, vertex in enumerate(vertices):
            c = estimate(sampler, vertex, depth)
            with dr.resume_grad():  # (a sum under suspend_grad would detach the terms)
                total = c if total is None else total + c
            sampler.schedule_state()
            dr.eval(total)
    block = mi.ImageBlock(film.crop_size(), film.crop_offset(), 4, rfilter=film.rfilter(), border=False,
                          normalize=False, coalesce=False)
    with dr.resume_grad():
        block.put(pos, [total[0], total[1], total[2], mi.Float(1.0)])
        t = block.tensor()
        return t[:, :, :3] / dr.maximum(dr.detach(t[:, :, 3:4]), 1e-30)
