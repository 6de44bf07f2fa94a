"""Secondary-visibility boundary term by warped-area sampling in direction space (Bangaru et al. 2020).

At a path vertex x, reflected radiance is L_r = ∫_{S²} g(ω) dω with g = f(x, ω_o, ω) L_i(x, ω).
Moving geometry moves the discontinuities of L_i on the sphere (shadows, indirect visibility); for
any warp field V on the sphere that is continuous and equals their velocity on them, the boundary
part of ∂L_r/∂θ equals ∫ ∇·(g V) dω (:class:`.warp_field.DirectionWarp` estimates V and ∇·V from
auxiliary rays drawn from a von Mises-Fisher lobe around ω).

As for the primary term (:mod:`.warped_area`), ∇·(g V) = ∇g·V + g ∇·V at a sampled direction ω is
obtained by reparameterizing it: ω(θ) = normalize(ω + ΔV), ΔV zero-valued with derivative V̂(ω),
g traced along ω(θ) with Dr.Jit AD (Mitsuba's ``path`` for the remaining depth), weighted by 1 + Δdiv,
minus the same estimate along the fixed ω (``prb``'s interior term is not counted twice). Any
weight function of the fixed ω may multiply this integrand, so two strategies are combined with the
power heuristic, as in Mitsuba's ``path``:

- *emitter sampling* (shadows): ω toward a point sampled on an emitter, g = f · L_e(first hit) · [the
  first hit is that emitter], weight w_em / p_em;
- *BSDF sampling* (indirect visibility, reflections of moving geometry): g = f · (L_i - (1 - w_bsdf)
  L_e(first hit) - L_env(ω)), weight 1 / p_bsdf. L_env is the environment's radiance towards ω
  whatever the ray hits, a control variate: f L_env V is continuous on the whole sphere, so
  ∫ ∇·(f L_env V) dω = 0 (divergence theorem on a closed surface) and subtracting it adds no bias.
  Without it, an object seen against the sky is warped as "object minus sky" only at the thin band
  where V decays on the sky side, a rare, large sample; with it the sky side is ~0 and the object's
  side carries the signal over its whole solid angle (glossy plane reflecting a sky-lit triangle:
  mean rel. error at 8192 spp 82-84 % -> 15-31 %, two seeds; 8.6-13.3 % at 32768 spp).

Vertices x_k (depth 0 .. max_depth - 2) come from camera paths traced by BSDF sampling
(:mod:`.vertices`), each contribution weighted by the path throughput β_k and splatted at the
camera sample's film position with the film's filter. The result is a zero-valued image whose
derivative is the boundary term, for forward and reverse mode.

Moving area lights: emitter sampling is differentiated in the light's own coordinates by
:mod:`.emitter_motion`; the emitter strategy here then warps relative to the sampled light (its
outline is that term's, occluders moving relative to it are this one's), see
:func:`_sampled_light_motion`. Not covered: delta lights (a point light's shadow boundary is not a
discontinuity in ω; its motion is :mod:`.emitter_motion`'s) and delta BSDF lobes.
"""
from __future__ import annotations

import drjit as dr
import mitsuba as mi

from .edges import no_secondary_edges, scene_meshes
from .emitter_motion import attached_emitter_point, moving_emitters
from .film import stream_seed
from .vertices import first_vertex_motion, secondary_term_zero, vertex_term_image
from .warp_field import DirectionWarp


def _mis(a, b):
    a2, b2 = dr.square(a), dr.square(b)
    return dr.select(a2 + b2 > 0, a2 / (a2 + b2), 0.0)


def _first_emission(scene, ray, active):
    """Emitted radiance at the first hit along ``ray`` (environment on a miss) and that emitter."""
    si = scene.ray_intersect(ray, ray_flags=mi.RayFlags.All, coherent=False, active=active)
    em = si.emitter(scene, active)
    return dr.select(active, em.eval(si, active), 0.0), em


def _environment(scene, ray, active):
    """Radiance of the environment emitter towards ``ray.d`` whatever the ray hits (0 without one):
    a continuous function of the direction, subtracted from the BSDF strategy's integrand as a
    control variate (see the module docstring)."""
    env = scene.environment()
    if env is None:
        return mi.Spectrum(0.0)
    si = dr.zeros(mi.SurfaceInteraction3f)
    si.wi, si.wavelengths = -ray.d, ray.wavelengths
    return env.eval(si, active)


class _Vertex:
    """Per-vertex state shared by both strategies: shading point, frame and attached motion of x.
    A camera vertex moves with its camera sample carried by the film warp field, as the primary
    term moves the film sample (:func:`.vertices.first_vertex_motion`, ``"warp"``); deeper vertices
    along their fixed rays."""

    def __init__(self, scene, vertex, sampler, film_warp=None):
        self.si, self.bsdf, self.active = vertex.si, vertex.bsdf, vertex.active
        with dr.resume_grad():
            x_att = first_vertex_motion(scene, vertex, "ray" if film_warp is None else "warp", sampler, film_warp)
            self.x_shift = x_att - dr.detach(x_att)
        self.x_moves = mi.Bool(False)
        for shape in scene.shapes():
            if shape.is_mesh() and dr.grad_enabled(shape.vertex_positions_buffer()):
                self.x_moves |= self.si.shape == mi.ShapePtr(shape)


def _direction_term(integrator, scene, warp, v: _Vertex, ω, weight, active, sampler, g, reference=None):
    """[g(ω(θ)) (1 + Δdiv) - g(ω)] · weight, zero-valued; ``g(ray, ω, sampler)`` traces the integrand;
    ``reference`` as in :meth:`.warp_field.DirectionWarp.estimate`."""
    si = v.si
    o = si.spawn_ray(ω).o
    frame = mi.Frame3f(ω)
    ΔV, Δdiv = warp.estimate(o, v.x_shift, frame, sampler, active, v.x_moves, reference)
    ω_att = dr.normalize(ω + frame.s * ΔV.x + frame.t * ΔV.y)
    ray_att = mi.Ray3f(o, ω_att, si.time, si.wavelengths)
    ray_fix = mi.Ray3f(o, ω, si.time, si.wavelengths)
    with dr.scoped_set_flag(dr.JitFlag.SymbolicLoops, False):  # AD graph recorded: reverse mode works
        g_att = g(ray_att, ω_att, sampler.clone())
        g_fix = g(ray_fix, ω, sampler)
    return dr.select(active, (g_att * (1 + Δdiv) - g_fix) * weight, 0.0)


def _sampled_light_motion(integrator, scene, v: _Vertex, ds, active):
    """``(shape, u)``: the emitter strategy's warp is measured relative to the sampled light point.

    Emitter sampling is differentiated in *area* form over the light's surface: ``prb`` keeps the
    sampled light point fixed while the shading point x moves, and :mod:`.emitter_motion` follows the
    point in the light's own (material) coordinates when the light moves (``emitter_spp`` > 0). In
    that parameterisation the light's outline does not move; what is left to this term is the motion
    of occluders *relative to the light*. So hits on the sampled light get velocity 0 and other hits
    v - u, with u the direction velocity of the sampled light point as seen from x. u is taken at
    the sample's direction rather than at each auxiliary direction: exact on the light's outline, off
    by O(kernel width) elsewhere. (Measured without this: the image sum doubled for a light moving
    above a floor and for a floor rising under a static light.) Environment emitters have no shape:
    u is 0 and every hit keeps its own velocity (they are sampled in solid angle)."""
    si = v.si
    emitters = [(em, pos) for em, pos in moving_emitters(scene) if pos is None] if integrator.emitter_spp > 0 else []
    with dr.resume_grad():
        p = attached_emitter_point(scene, si.spawn_ray_to(ds.p).o, ds, emitters, active)[0] if emitters \
            else dr.detach(ds.p)
        x = dr.detach(si.p) + v.x_shift
        ω = dr.normalize(p - x)
        shape = dr.select(active, ds.emitter.get_shape(), dr.zeros(mi.ShapePtr))
        u = dr.select(shape != dr.zeros(mi.ShapePtr), ω - dr.detach(ω), mi.Vector3f(0))
    return shape, u


def _vertex_terms(integrator, scene, warp, vertex, sampler, remaining_depth, film_warp=None):
    v = _Vertex(scene, vertex, sampler, film_warp)
    si, bsdf = v.si, v.bsdf
    ctx = mi.BSDFContext()
    active = v.active & mi.has_flag(bsdf.flags(), mi.BSDFFlags.Smooth)

    def f(ω):
        return bsdf.eval(ctx, si, si.to_local(ω), active)

    # Emitter sampling (shadows).
    with dr.suspend_grad():
        ds, _ = scene.sample_emitter_direction(si, sampler.next_2d(active), False, active)
        ok_e = active & (ds.pdf > 0) & ~ds.delta
        w_e = _mis(ds.pdf, bsdf.pdf(ctx, si, si.to_local(ds.d), ok_e)) / dr.maximum(ds.pdf, 1e-30)

    def g_emitter(ray, ω, smp):
        Le, em = _first_emission(scene, ray, ok_e)
        return f(ω) * dr.select(em == ds.emitter, Le, 0.0)
    total = _direction_term(integrator, scene, warp, v, dr.detach(ds.d), w_e, ok_e, sampler, g_emitter,
                            _sampled_light_motion(integrator, scene, v, ds, ok_e))

    # BSDF sampling (indirect visibility).
    with dr.suspend_grad():
        bs, _ = bsdf.sample(ctx, si, sampler.next_1d(active), sampler.next_2d(active), active)
        ok_b = active & (bs.pdf > 0) & ~mi.has_flag(bs.sampled_type, mi.BSDFFlags.Delta)
        ω_b = si.to_world(bs.wo)
        si_h = scene.ray_intersect(si.spawn_ray(ω_b), ok_b)
        ds_h = mi.DirectionSample3f(scene, si_h, si)
        p_em = scene.pdf_emitter_direction(si, ds_h, ok_b)
        keep = 1 - _mis(bs.pdf, p_em)   # share of the first hit's emission counted by emitter sampling
        w_b = dr.rcp(dr.maximum(bs.pdf, 1e-30))
    path = integrator.incident_path(remaining_depth)

    def g_bsdf(ray, ω, smp):
        L, _, _ = path.sample(scene, smp, ray, active=ok_b)
        Le, _ = _first_emission(scene, ray, ok_b)
        return f(ω) * (L - keep * Le - _environment(scene, ray, ok_b))
    total += _direction_term(integrator, scene, warp, v, ω_b, w_b, ok_b, sampler, g_bsdf)
    return vertex.β * total


def secondary_boundary_image(integrator, scene, sensor, seed: int, spp: int, pass_index: int = 0, film_warp=None):
    """Zero-valued (H, W, 3) image whose derivative is the secondary boundary term, from ``spp``
    camera paths per pixel (vertices of depth 0 .. max_depth - 2); ``pass_index`` decorrelates passes.
    ``film_warp``: the primary term's field, which moves the camera vertices (None: along their rays)."""
    zero, runs = secondary_term_zero(integrator, sensor, spp)
    if not runs:
        return zero
    max_depth = int(integrator.max_depth)
    meshes, moving = scene_meshes(scene)
    if not moving or no_secondary_edges(scene, meshes):
        return zero  # no boundary moves: nothing moves, or no shading point sees an edge
    warp = DirectionWarp(scene, integrator.secondary_aux_rays, integrator.secondary_kappa, integrator.power,
                         integrator.secondary_lobes)

    def estimate(sampler, vertex, depth):
        with dr.resume_grad():  # the direction samples are traced with AD (reparameterised)
            return _vertex_terms(integrator, scene, warp, vertex, sampler, max_depth - depth - 1,
                                 film_warp if depth == 0 else None)
    return vertex_term_image(integrator, scene, sensor, stream_seed(seed, "warped_secondary", pass_index), spp,
                             max_depth - 1, estimate)
