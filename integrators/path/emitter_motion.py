"""Derivative of next-event estimation with respect to the motion of the sampled light.

Mitsuba 3.9's ``prb`` samples emitters without derivative tracking and keeps the sampled emitter
point fixed (it differentiates the shading point's motion and the emitted radiance only), so a
floor lit by a moving area light, or by a point light whose position changes, gets no derivative
from it. At a path vertex x (throughput β, detached: the motion of x itself is ``prb``'s part)
next-event estimation computes, for an emitter point p sampled with area density p_A,

    C(p) = β f(x, ω_o, ω(p)) L_e(p, -ω(p)) G(x, p) w_e / p_A,   G = |n_p · ω| / |p - x|²,
    ω(p) = (p - x) / |p - x|,

(``mi`` writes L_e G / p_A as the sampled emitter weight, with p_A converted to solid angle; w_e is
the MIS weight, kept detached as ``prb`` does). The light's surface is parameterised by the
*material* coordinates of the sample (primitive and barycentrics for meshes, local (u, v) for
analytic shapes: Mitsuba's ``RayFlags.FollowShape``), so as the light moves or deforms p(θ) and
n_p(θ) follow it and the area element scales by a(θ) = dA_θ/dA_0; no boundary term arises from the
light's own outline in this parameterisation (Li et al. 2018 sample lights the same way; occluders
between x and the light are the secondary boundary term's business). The derivative is

    ∂C/∂θ |_light = ∂/∂θ [ C(p(θ)) · a(θ) ]   at fixed x, BSDF and radiance,

estimated as the zero-valued difference C(p(θ)) a(θ)/detach(a) - C(detach p(θ)), whose
derivative keeps only the light-motion part (the parameters of f and L_e cancel). A point light
is a single point p(θ) = its ``position`` (registered differentiable by :mod:`scenes.emitters`),
with G = 1/|p - x|². Textured area lights keep the radiance of the sampled texel.

The term is evaluated at camera-path vertices 0 .. max_depth-2 (where ``prb`` samples emitters)
and splatted like the secondary boundary term (:func:`.vertices.vertex_term_image`).
"""
from __future__ import annotations

import drjit as dr
import mitsuba as mi

from .film import stream_seed
from .vertices import vertex_term_image

mis_weight = mi.ad.integrators.common.mis_weight  # power heuristic, as prb weights its NEE


def emitter_moves(em, mp) -> tuple:
    """(whether ``em`` moves, its attached position value or None), ``mp`` = ``mi.traverse(scene)``:
    area lights on shapes with grad-enabled geometry, point lights with a grad-enabled position."""
    shape = em.get_shape()
    if shape is not None:
        if shape.is_mesh():
            return dr.grad_enabled(shape.vertex_positions_buffer()), None
        key = f"{shape.id()}.to_world"
        return key in mp.properties and dr.grad_enabled(mp[key].matrix), None
    if em.class_name() == "PointLight":
        key = f"{em.id()}.position"
        if key in mp.properties and dr.grad_enabled(mp[key]):
            return True, mp[key]
    return False, None


def moving_emitters(scene) -> list:
    """(emitter, attached position value or None) for the emitters that move (:func:`emitter_moves`)."""
    mp = mi.traverse(scene)
    out = []
    for em in scene.emitters():
        moves, position = emitter_moves(em, mp)
        if moves:
            out.append((em, position))
    return out


def attached_emitter_point(scene, x, ds, emitters, active):
    """Position, normal and area ratio a(θ) of the emitter sample ``ds`` following the emitter's
    motion (attached), for the emitters in ``emitters`` (from :func:`moving_emitters`)."""
    p, n, a = mi.Point3f(dr.detach(ds.p)), mi.Normal3f(dr.detach(ds.n)), mi.Float(1.0)
    surface = mi.Bool(False)
    for em, position in emitters:
        is_em = active & (ds.emitter == mi.EmitterPtr(em))
        if position is not None:
            p = dr.select(is_em, mi.Point3f(position), p)
        else:
            surface |= is_em
    # Re-find the sampled point from just in front of it, with the intersection following the shape.
    d = dr.normalize(ds.p - x)
    ray = mi.Ray3f(ds.p - d * (1e-4 * (1 + dr.norm(ds.p - x))), d)
    si = scene.ray_intersect(ray, ray_flags=mi.RayFlags.All | mi.RayFlags.FollowShape,
                             coherent=False, active=surface)
    surface &= si.is_valid()
    p = dr.select(surface, si.p, p)
    n = dr.select(surface, si.n, n)
    for em, position in emitters:
        shape = em.get_shape()
        if position is None and shape.is_mesh():
            is_tri = surface & (si.shape == mi.ShapePtr(shape))
            a = dr.select(is_tri, _triangle_area_ratio(shape, si.prim_index, is_tri), a)
        elif position is None:
            is_sh = surface & (si.shape == mi.ShapePtr(shape))
            area = shape.surface_area()
            a = dr.select(is_sh, area / dr.detach(area), a)
    return p, n, a


def _triangle_area_ratio(mesh, prim, active):
    V = mesh.vertex_positions_buffer()
    idx = mesh.faces_buffer()
    corners = []
    for k in range(3):
        i = dr.gather(mi.UInt32, idx, 3 * prim + k, active)
        corners.append(dr.gather(mi.Point3f, V, i, active))
    area = dr.norm(dr.cross(corners[1] - corners[0], corners[2] - corners[0]))
    return area / dr.maximum(dr.detach(area), 1e-30)


def _nee_light_motion(scene, sampler, vertex, emitters):
    """Zero-valued NEE contribution whose derivative is the light-motion part, at one vertex."""
    si, bsdf = vertex.si, vertex.bsdf
    ctx = mi.BSDFContext()
    active = vertex.active & mi.has_flag(bsdf.flags(), mi.BSDFFlags.Smooth)
    ds, em_weight = scene.sample_emitter_direction(si, sampler.next_2d(active), True, active)
    active &= (ds.pdf != 0) & dr.any(em_weight != 0)
    wo = si.to_local(ds.d)
    mis = dr.select(ds.delta, 1.0, mis_weight(ds.pdf, bsdf.pdf(ctx, si, wo, active)))
    x = si.p

    def contribution(p, n, a):
        # Safe where G = 0 (grazing) or x = p: reverse mode multiplies the zero adjoint of a masked
        # lane by these partial derivatives, and 0 * inf is NaN.
        δ = p - x
        dist2 = dr.maximum(dr.squared_norm(δ), 1e-12)
        ω = δ * dr.rsqrt(dist2)
        G = dr.select(ds.delta, 1.0, dr.abs(dr.dot(n, ω))) / dist2
        G0 = dr.detach(G)
        f = bsdf.eval(ctx, si, si.to_local(ω), active)
        return f * (G / dr.select(G0 > 0, G0, 1.0)) * a

    with dr.resume_grad():
        p, n, a = attached_emitter_point(scene, si.spawn_ray_to(ds.p).o, ds, emitters, active)
        moved = contribution(p, n, a)
        fixed = contribution(dr.detach(p), dr.detach(n), 1.0)
        return dr.select(active, vertex.β * em_weight * mis * (moved - fixed), 0.0)


def emitter_motion_image(integrator, scene, sensor, seed: int, spp: int):
    """Film-space image (value 0) whose derivative is NEE's light-motion term; None if no emitter moves."""
    emitters = moving_emitters(scene)
    if spp <= 0 or not emitters or int(integrator.max_depth) < 2:
        return None
    return vertex_term_image(integrator, scene, sensor, stream_seed(seed, "emitter_motion"), spp,
                             int(integrator.max_depth) - 1,
                             lambda sampler, vertex, depth: _nee_light_motion(scene, sampler, vertex, emitters))
