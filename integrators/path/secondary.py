"""Secondary-visibility boundary term by edge sampling (Li et al. 2018, Sec. 5).

At a path vertex x with outgoing direction ω_o, reflected radiance is an integral over incident
directions, L_r(x, ω_o) = ∫_{S²} f(x, ω_o, ω) L_i(x, ω) dω. L_i jumps across the spherical
projections of the scene's silhouette edges (shadows, reflections of edges) and, for flat-shaded
meshes, of creases. Moving them adds a boundary integral over those curves on the sphere:

    ∂L_r/∂θ |_boundary = ∫_Γ (f L_i⁻ - f L_i⁺)(ω) · v_n(ω) dℓ(ω)

with m the unit normal of the plane through x and the edge (a great circle on the sphere, so m is
also the curve's normal in the sphere's tangent plane), L_i^± the incident radiance just on the ±m
side, and v_n = m · ∂ω/∂θ the normal velocity of the projected edge. A sample picks an edge e from
the hierarchy (:mod:`integrators.path.edge_tree`, probability P(e | x)), a point p = v₀ + t (v₁ - v₀)
with t of density p(t) (:mod:`.edge_light`: uniform, mixed with uniform on the part of the edge
seen in front of an emitter or inside a narrow glossy lobe, :func:`glossy_lobe_cone`), checks
that the edge is a silhouette (or flat crease) seen from x and that p is
visible from x, estimates L_i^± with two correlated sub-paths (Mitsuba's path-replay integrator in
primal mode, with the remaining depth) started a hair's width to each side, and weights by the
Jacobian |∂ω/∂t| = |(I - ωωᵀ)(v₁ - v₀)| / |p - x|:

    ⟨∂L_r/∂θ⟩ = (f L_i⁻ - f L_i⁺) · |∂ω/∂t| / (P(e | x) p(t)) · v_n .

Vertices x come from camera paths traced by BSDF sampling (:mod:`integrators.path.vertices`); the
contribution of a vertex is multiplied by the path throughput up to x and splatted at the camera
sample's film position with the film's filter (normalised like Mitsuba's film), one edge sample per
vertex, ``secondary_spp`` paths per pixel.

Next-event estimation's share of L_i is differentiated in the moving light's own area
parameterisation (:mod:`.emitter_motion`) with visibility frozen there; on the light's surface its
boundary moves at v_n minus the normal velocity v_L of the light point behind the edge, so that
share of the jump ΔE is weighted by v_n - v_L. Edges of static meshes are therefore sampled
wherever x moves *or* they may lie in front of a moving area light: with x and the edge fixed,
v_n = 0 and the term -ΔE v_L is the motion of a static occluder's shadow relative to the light.
(Delta lights get no secondary term: their shadow boundaries have no extent on the sphere.)

As for the primary term, the estimator is a Dr.Jit expression of value 0 whose derivative is the
boundary term: ``v_n = m · (ω(θ) - detach(ω(θ)))`` with ω(θ) = normalize(p(θ) - x(θ)), p gathered
from the meshes' vertex buffers and x re-intersected with attachment to the moving geometry: along
its fixed ray (edge sampling, whose interior term is ``prb``'s), or, for a camera vertex under
warped-area sampling, with its camera sample moved by the film warp field (``camera_frame="warp"``:
the primary term has already moved the film sample by that field, so a jump it carries the sample
across counts there as moving with it).
"""
from __future__ import annotations

import warnings

import drjit as dr
import mitsuba as mi

from penumbra.renderer import checks

from .edge_light import directed_share, sample_edge_point
from .edge_tree import EdgeTree, LightCone, light_cones, scene_edges
from .edges import attached_edge_point, no_secondary_edges, scene_meshes
from .emitter_motion import mis_weight, moving_emitters
from .film import stream_seed
from .vertices import CAMERA_FRAMES, first_vertex_motion, secondary_term_zero, vertex_term_image

EPS_ANGLE = 1e-4  # angular offset of the two one-sided sub-paths, in radians


# Camera paths per pixel of this term per interior sample per pixel (times ``boundary_budget``) when
# ``secondary_path_spp`` is not set. Measured at equal time (16x16, 16 spp, three seeds, FD of
# ``path`` with its own noise removed): error x sqrt(time) of the whole gradient with 1 / 2 / 4 paths
# per interior sample: 0.100 / 0.065 / 0.058 (occluder under an area light), 0.096 / 0.070 / 0.054
# (triangle shadow), 0.213 / 0.150 / 0.091 (self-shadowing right angle); the primary term's share
# barely matters there (half the edge samples: the same errors).
SECONDARY_SHARE = 4.0


def incident_radiance(integrator, scene, sampler, ray, remaining_depth, active):
    """L_i along ``ray`` estimated by a path (emission at its first hit counted in full)."""
    saved = integrator.max_depth, integrator.hide_emitters
    integrator.max_depth, integrator.hide_emitters = remaining_depth, False
    try:
        L, _, _, _ = integrator.sample(mode=dr.ADMode.Primal, scene=scene, sampler=sampler,
                                       ray=ray, depth=mi.UInt32(0), δL=None, δaovs=None,
                                       state_in=None, active=mi.Bool(active))
    finally:
        integrator.max_depth, integrator.hide_emitters = saved
    return dr.select(active, L, 0.0)


def _edge_sample(integrator, scene, tree, lights, meshes, moving, sampler, vertex, remaining_depth,
                 frame: str = "ray", film_warp=None):
    """Zero-valued contribution (mi.Spectrum) of one edge sample at each vertex of ``vertex``; the
    vertex moves in ``frame`` (:func:`.vertices.first_vertex_motion`)."""
    si, bsdf, active = vertex.si, vertex.bsdf, vertex.active
    x = si.p
    wo = -vertex.ray.d
    n_side = dr.mulsign(si.n, dr.dot(si.n, wo))
    one_sided = ~mi.has_flag(bsdf.flags(), mi.BSDFFlags.Transmission)
    x_moves = mi.Bool(False)
    for shape in moving:
        x_moves |= si.shape == mi.ShapePtr(shape)
    # Rays leave from Mitsuba's offset origin (off the surface along its normal, ~1e-4 here):
    # silhouettes are classified from there too, or faces within that angle of edge-on pass the
    # tree's test but block the ray (0.6 % of a 327k-triangle sphere's edge samples, 1.5 % of
    # its shadow's derivative).
    x = dr.select(one_sided, si.spawn_ray(n_side).o, x)
    # The emitters' cones and a narrow glossy lobe's direct both the edge choice and the point on
    # the edge: towards the emitters where the jump can only be there, and into the lobe (.edge_light).
    cones = EdgeTree.cones(x, lights) + [glossy_lobe_cone(bsdf, si, wo, active)]
    e, P_e, ok = tree.sample(sampler, x, n_side, one_sided, x_moves, active, lights + [LightCone()], cones)
    v0, v1 = tree.leaf("v0", e, ok), tree.leaf("v1", e, ok)
    q = directed_share(len(lights) == len(scene.emitters()), remaining_depth)
    t, pdf_t = sample_edge_point(sampler, x, v0, v1, lights + [LightCone()], cones, q, ok)
    p = dr.lerp(v0, v1, t)
    # Rays leave from Mitsuba's offset origin o (off the surface along its normal); measuring the
    # geometry from o too keeps a ray aimed at p from grazing p's own adjacent faces first.
    o = si.spawn_ray_to(p).o
    dist = dr.norm(p - o)
    ω = (p - o) / dr.maximum(dist, 1e-30)
    m_raw = dr.cross(v0 - o, v1 - o)
    ok &= (dist > 0) & (dr.squared_norm(m_raw) > 0)
    m = dr.normalize(m_raw)
    # p must be visible from x (the tree only chose silhouettes / flat creases seen from x).
    ok &= ~scene.ray_test(mi.Ray3f(o, ω, dist * (1 - 1e-3), si.time, si.wavelengths), ok)

    # A crease that is no silhouette from x (both faces on one side) has no visibility jump along
    # it: only its front-facing ones carry a (shading) jump, and both one-sided rays must land on
    # its own mesh. Near its endpoints they can slip past a silhouette through the same vertex and
    # see what lies behind: rare samples of full-size jumps that belong to that other edge (a
    # flat-shaded sphere's shadow came out 2 % too strong).
    s0 = dr.dot(tree.leaf("n0", e, ok), x - v0)  # (seen from x, as the tree's silhouette test)
    n1 = tree.leaf("n1", e, ok)
    s1 = dr.dot(n1, x - v0)
    crease_only = (dr.squared_norm(n1) > 0) & (s0 * s1 > 0)
    ok &= ~crease_only | (s0 > 0)
    own_mesh = dr.gather(mi.ShapePtr, mi.ShapePtr(meshes), tree.leaf("mesh", e, ok), ok)

    # The edge sample is evaluated here, and each one-sided sub-path in a launch of its own with an
    # opaque sign: the two launches run one kernel (compiled once), and no kernel holds the edge
    # choice and both sub-paths (LLVM's compile time grows faster than a kernel's size: a 13k-op
    # kernel took 21 s to compile, most of a first gradient).
    sampler.schedule_state()
    dr.eval(ok, e, P_e, t, pdf_t, v0, v1, o, dist, ω, m, crease_only, own_mesh)
    ctx = mi.BSDFContext()
    side, nee = [], []
    for sgn, smp in ((+1, sampler.clone()), (-1, sampler)):
        ω_s = dr.normalize(ω + dr.opaque(mi.Float, sgn * EPS_ANGLE) * m)
        ray_s = mi.Ray3f(o, ω_s, si.time, si.wavelengths)
        hit = scene.ray_intersect(ray_s, ok)
        ok &= ~crease_only | (hit.shape == own_mesh)
        f = bsdf.eval(ctx, si, si.to_local(ω_s), ok)
        side.append(f * incident_radiance(integrator, scene, smp, ray_s, remaining_depth, ok))
        nee.append(_nee_share(scene, si, bsdf, ray_s, hit, f, ok))
        smp.schedule_state()
        dr.eval(ok, side[-1], nee[-1])
    side = [dr.select(ok, L, 0.0) for L in side]  # (ok may have changed after the first side)
    nee = [(dr.select(ok, E, 0.0), p_L) for E, p_L in nee]
    ΔI = side[1] - side[0]  # f L_i⁻ - f L_i⁺
    dv = v1 - v0
    J = dr.norm(dv - ω * dr.dot(ω, dv)) / dr.maximum(dist, 1e-30)
    scale = dr.select(ok, vertex.β * (J / dr.maximum(P_e * pdf_t, 1e-30)), 0.0)
    ok_e = dr.select(ok, e, 0)

    # Attached direction to the (moving) edge point from the (moving) shading point.
    with dr.resume_grad():
        p_att = attached_edge_point(meshes, tree.leaf("mesh", ok_e, ok), tree.leaf("i0", ok_e, ok),
                                    tree.leaf("i1", ok_e, ok), t)
        x_att = first_vertex_motion(scene, vertex, frame, sampler, film_warp, ok)
        o_att = o + (x_att - dr.detach(x_att))
        ω_att = dr.normalize(p_att - o_att)
        v_n = dr.dot(m, ω_att - dr.detach(ω_att))
        # Next-event estimation differentiates its share w_e f L_e in the light's own (moving) area
        # parameterisation (.emitter_motion), where the boundary moves at v_n minus the velocity of
        # the light point behind it: remove that point's motion from the NEE share of the jump.
        corr = 0.0
        for sgn, (E, p_L) in zip((-1, +1), nee):
            ω_L = dr.normalize(p_L - o_att)
            corr += sgn * E * dr.dot(m, ω_L - dr.detach(ω_L))
        return dr.select(ok, scale * (ΔI * v_n - corr), 0.0)


# A glossy lobe gets a cone where it is narrower than this half-angle (radians).
LOBE_MAX_ANGLE = 0.6


def glossy_lobe_cone(bsdf, si, wo, active):
    """(axis, half-angle) of a cone around the mirror direction of ``wo`` where a narrow glossy
    reflection lobe is concentrated; half-angle -1 (no cone) where the BSDF is not glossy or its
    lobe is wider than :data:`LOBE_MAX_ANGLE`. The cone has the lobe's solid angle, read from the
    BSDF's own sampling density at the mirror direction (Ω ≈ 1 / pdf). Used like an emitter's cone
    to direct edge choice and edge points where f is large. Measured on a rough metal (GGX α 0.15)
    reflecting a moving triangle under a sky, 16 spp, nothing set, seeds 1-3: rel. L2 35 / 37 / 40 %
    without the cone, 26 / 29 / 30 % with it (0.5x / 0.7x / 2x / 3x its width: 36-38 / 30-38 / 31-34 /
    35-38 %)."""
    n = dr.mulsign(si.sh_frame.n, dr.dot(si.sh_frame.n, wo))
    r = 2 * dr.dot(n, wo) * n - wo
    glossy = active & mi.has_flag(bsdf.flags(), mi.BSDFFlags.GlossyReflection)
    pdf = bsdf.pdf(mi.BSDFContext(), si, si.to_local(r), glossy)
    Ω = 1.0 / dr.maximum(pdf, 1e-6)
    β = dr.safe_acos(dr.clip(1 - Ω / (2 * dr.pi), -1.0, 1.0))
    on = glossy & (pdf > 0) & (β < LOBE_MAX_ANGLE)
    return r, dr.select(on, β, -1.0)


def _nee_share(scene, si, bsdf, ray, hit, f, active):
    """The part of f L_i along ``ray`` that next-event estimation at ``si`` accounts for
    (w_e f L_e when the first hit is an emitter), and the hit point attached to the emitter's
    motion (``RayFlags.FollowShape``; detached for static emitters)."""
    active = active & mi.has_flag(bsdf.flags(), mi.BSDFFlags.Smooth)
    active &= hit.is_valid()  # environment emitters sit at infinity: they do not move
    em = hit.emitter(scene, active)  # null where the surface does not emit: pdf_e = L_e = 0
    ds = mi.DirectionSample3f(scene, hit, si)
    pdf_e = scene.pdf_emitter_direction(si, ds, active)
    pdf_b = bsdf.pdf(mi.BSDFContext(), si, si.to_local(ray.d), active)
    w_e = mis_weight(pdf_e, pdf_b)  # prb's power heuristic (0 where pdf_e = 0)
    E = dr.select(active, w_e * f * em.eval(hit, active), 0.0)
    with dr.resume_grad():
        p_L = scene.ray_intersect(ray, ray_flags=mi.RayFlags.All | mi.RayFlags.FollowShape,
                                  coherent=False, active=active).p
        return E, dr.select(active, p_L, dr.detach(p_L))  # (inside: a select outside would detach)


def warn_delta_light_shadows(scene, integrator_name: str) -> None:
    """Warn where a delta-position light (point, spot) may cast a shadow that moves: its shadow
    boundary is a curve on the receiving surface, not a discontinuity in the directions seen from a
    shading point, and neither estimator's secondary term differentiates its motion."""
    delta = [em for em in scene.emitters() if mi.has_flag(em.flags(), mi.EmitterFlags.DeltaPosition)]
    if not delta:
        return
    meshes, moving = scene_meshes(scene)
    lights_move = any(position is not None for _, position in moving_emitters(scene))
    if (moving or lights_move) and not no_secondary_edges(scene, meshes):
        warnings.warn(f"{integrator_name}: delta lights ({', '.join(repr(em.id()) for em in delta)}) cast "
                      "shadows whose motion is not differentiated (use an area light on a mesh, e.g. a small "
                      "rectangle or sphere mesh)",
                      stacklevel=3)


def secondary_boundary_image(integrator, scene, sensor, seed: int, spp: int, camera_frame: str = "ray",
                             film_warp=None):
    """Film-space image (mi.TensorXf (H, W, 3), value 0) whose derivative is the secondary
    boundary term, for path vertices of depth 0 .. max_depth - 2.

    ``camera_frame``: how the first vertex of a camera path moves, which must match the primary
    term's (:data:`.vertices.CAMERA_FRAMES`). ``"ray"`` (edge sampling, Mitsuba's ``prb``): along
    its fixed camera ray, so a shadow edge on a moving receiver moves relative to that point.
    ``"warp"`` (warped-area sampling, whose primary term moves each film sample by the warp field
    ``film_warp`` and so already counts every jump it carries the sample across as moving with
    it): with its camera sample moved by that field, leaving this term the shadow edge's motion
    relative to the moved point. Near a moving silhouette the field moves points of a static floor
    too; measured with their surface instead (``"surface"``), a shadow next to the silhouette of a
    box above a floor came out 25 % too strong (image sum -28.9 +- 0.7 vs FD -23.1 +- 0.1; with
    ``"warp"`` -22.4 +- 0.6)."""
    checks.choice("secondary_boundary_image(camera_frame=...)", camera_frame, CAMERA_FRAMES)
    zero, runs = secondary_term_zero(integrator, sensor, spp)
    if not runs:
        return zero
    max_depth = int(integrator.max_depth)
    meshes, moving = scene_meshes(scene)
    lights = light_cones(scene)
    if not (moving or any(light.moves for light in lights)) or no_secondary_edges(scene, meshes):
        return zero  # then no secondary boundary moves
    tree = EdgeTree(scene_edges(meshes, [m in moving for m in meshes]))
    if tree.count == 0:
        return zero

    return vertex_term_image(
        integrator, scene, sensor, stream_seed(seed, "secondary"), spp, max_depth - 1,
        lambda sampler, vertex, depth: _edge_sample(integrator, scene, tree, lights, meshes, moving, sampler,
                                                    vertex, max_depth - depth - 1,
                                                    camera_frame if depth == 0 else "ray", film_warp))
