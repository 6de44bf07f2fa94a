"""Where on an edge the emitters are: the part of a segment seen inside an emitter's cone, and
sampling a point on a secondary boundary edge towards the emitters.

Seen from a shading point x, the points p(t) = v₀ + t (v₁ - v₀), t ∈ [0, 1], of an edge span an arc
of a great circle. Where the incident radiance is only the emitted radiance of the first hit (the
last bounce of a path, ``remaining_depth`` 1), the jump f L_i⁻ - f L_i⁺ across the edge vanishes
wherever the arc misses every emitter: on a shadow scene 81 % of uniformly placed edge samples
were such zeros (triangle over a floor under a 0.5 x 0.5 area light). The set of t whose
direction lies inside an emitter's bounding cone (axis u, half-angle α, :class:`.edge_tree.LightCone`)
is an interval, the intersection of a line with a convex cone (:func:`cone_interval`), so t can be
sampled there.

:func:`sample_edge_point` draws t from the defensive mixture

    pdf(t) = (1 - q) + q Σ_k w_k 1[t ∈ I_k] / |I_k|

(uniform with probability 1 - q, else uniform on the interval I_k of emitter k chosen with
probability w_k ∝ its arc's angle): a one-sample balance-heuristic MIS of the two strategies (Veach
1997, Sec. 9.2.4). It is unbiased for any q < 1, whatever the emitters' true shapes (the cones are
bounds), and the weight 1/pdf never exceeds 1/(1 - q), so edge samples that matter outside the cones
(indirect light, emitters without a cone such as environment maps) cost at most that factor in
variance.
"""
from __future__ import annotations

import drjit as dr
import mitsuba as mi


def cone_interval(a, d, axis, cos_α, active=True):
    """The interval [t₀, t₁] ⊆ [0, 1] of t whose direction a + t d lies inside the cone of unit
    ``axis`` and half-angle α (cos α = ``cos_α`` > 0), and whether it is non-empty.

    Inside means (a + t d)·u >= cos α |a + t d|, i.e. the quadratic
    Q(t) = ((a + t d)·u)² - cos²α |a + t d|² >= 0 on the nappe (a + t d)·u >= 0."""
    du, au = dr.dot(d, axis), dr.dot(a, axis)
    c2 = dr.square(cos_α)
    A = dr.square(du) - c2 * dr.squared_norm(d)
    B = 2 * (au * du - c2 * dr.dot(a, d))
    C = dr.square(au) - c2 * dr.squared_norm(a)
    disc = dr.square(B) - 4 * A * C
    real = disc >= 0
    s = dr.safe_sqrt(disc)
    # Roots without cancellation (q = -(B + sign(B) s) / 2).
    qr = -0.5 * (B + dr.mulsign(s, B))
    r_a = qr / dr.select(A != 0, A, 1e-30)
    r_b = C / dr.select(qr != 0, qr, 1e-30)
    lo, hi = dr.minimum(r_a, r_b), dr.maximum(r_a, r_b)
    inf = dr.inf
    # A < 0: Q >= 0 between the roots, on one nappe (check its middle); A > 0: outside the roots,
    # the forward nappe is the side d points to along the axis.
    mid_ok = au + 0.5 * (lo + hi) * du >= 0
    t0 = dr.select(A < 0, lo, dr.select(du > 0, hi, -inf))
    t1 = dr.select(A < 0, hi, dr.select(du > 0, inf, lo))
    ok = mi.Bool(active) & real & (A != 0) & ((A > 0) | mid_ok)
    t0, t1 = dr.maximum(t0, 0.0), dr.minimum(t1, 1.0)
    ok &= t1 > t0
    return dr.select(ok, t0, 0.0), dr.select(ok, t1, 0.0), ok


def _affine(m, p):
    """Row-major 3 x 4 affine map ``m`` (floats) applied to the point or vector-with-w ``p``."""
    x, y, z, w = p
    m = [float(v) for v in m]  # (NumPy scalars would turn the Dr.Jit arithmetic into NumPy's)
    return [m[4 * r] * x + m[4 * r + 1] * y + m[4 * r + 2] * z + m[4 * r + 3] * w for r in range(3)]


def rectangle_interval(o, v0, v1, to_local, active=True):
    """The interval [t₀, t₁] ⊆ [0, 1] of t whose ray from o through v₀ + t (v₁ - v₀) meets the
    lit side of a rectangle emitter (world-to-local map ``to_local``, square [-1, 1]² x {0}
    lit on +z), and whether it is non-empty.

    Affine maps keep lines and the parameter t along them, so this is solved in the rectangle's
    frame: with y(t) = a + t d (a = v₀ - o, d = v₁ - v₀), the ray o + s y(t) meets z = 0 at
    s = o_z / D(t), D(t) = -y_z(t) > 0, in h(t) = o_xy + o_z y_xy(t) / D(t). Each of
    D > 0 and ±h_x, ±h_y <= 1, multiplied by D, is linear in t: their intersection is an interval."""
    ol = _affine(to_local, (o.x, o.y, o.z, 1.0))
    al = _affine(to_local, (v0.x - o.x, v0.y - o.y, v0.z - o.z, 0.0))
    dl = _affine(to_local, (v1.x - v0.x, v1.y - v0.y, v1.z - v0.z, 0.0))
    oz = ol[2]
    ok = mi.Bool(active) & (oz > 0)  # on the lit side
    t0, t1 = mi.Float(0.0), mi.Float(1.0)

    def keep(c0, c1):  # c0 + c1 t <= 0
        nonlocal t0, t1, ok
        root = -c0 / dr.select(c1 != 0, c1, 1.0)
        t1 = dr.select(c1 > 0, dr.minimum(t1, root), t1)
        t0 = dr.select(c1 < 0, dr.maximum(t0, root), t0)
        ok &= (c1 != 0) | (c0 <= 0)
    keep(al[2], dl[2])  # D = -(a_z + t d_z) > 0 (as <= 0: the boundary has measure zero)
    for k in (0, 1):
        for sgn in (1.0, -1.0):
            # sgn h_k <= 1  <=>  (sgn o_k - 1) D + sgn o_z y_k <= 0
            keep(-(sgn * ol[k] - 1) * al[2] + sgn * oz * al[k], -(sgn * ol[k] - 1) * dl[2] + sgn * oz * dl[k])
    ok &= t1 > t0
    return dr.select(ok, t0, 0.0), dr.select(ok, t1, 0.0), ok


def cone_arcs(o, v0, v1, lights, cones, active=True):
    """Per emitter (:class:`.edge_tree.LightCone` ``lights`` and their cones ``EdgeTree.cones`` at
    o): (t₀, t₁, non-empty, angle of the arc inside). Rectangles use their exact interval
    (:func:`rectangle_interval`), other emitters their bounding cone (:func:`cone_interval`)."""
    a, d = v0 - o, v1 - v0
    out = []
    for light, (axis, α) in zip(lights, cones):
        if light.to_local is not None:
            t0, t1, ok = rectangle_interval(o, v0, v1, light.to_local, active)
        else:
            # o inside the bounding sphere (α = π): no cone; α < 0 marks a cone that is off in this lane.
            usable = mi.Bool(active) & (α >= 0) & (α < 0.5 * dr.pi - 1e-3)
            t0, t1, ok = cone_interval(a, d, axis, dr.cos(α), usable)
        w0, w1 = dr.normalize(a + t0 * d), dr.normalize(a + t1 * d)
        angle = dr.select(ok, dr.safe_acos(dr.dot(w0, w1)), 0.0)
        out.append((t0, t1, ok & (angle > 0), angle))
    return out


def sample_edge_point(sampler, o, v0, v1, lights, cones, q: float, active):
    """t ∈ [0, 1] on the edge v₀v₁ and its density (per unit t) under the mixture of the module
    docstring, for the emitters ``lights`` with cones ``cones`` seen from o; ``q`` is the probability of the
    emitter-directed strategy where some arc meets a cone (plain uniform t elsewhere)."""
    u_strategy = sampler.next_1d(active)
    u_t = sampler.next_1d(active)
    arcs = cone_arcs(o, v0, v1, lights, cones, active)
    total = mi.Float(0.0)
    for _, _, ok, angle in arcs:
        total += dr.select(ok, angle, 0.0)
    directed = total > 0
    q_eff = dr.select(directed, q, 0.0)
    use_cone = u_strategy < q_eff
    # Which emitter's interval, with probability w_k = angle_k / total (reusing u_strategy / q).
    u_k = dr.select(use_cone, u_strategy / dr.maximum(q_eff, 1e-30), 0.0) * total
    t = mi.Float(u_t)
    acc = mi.Float(0.0)
    chosen = mi.Bool(False)
    for t0, t1, ok, angle in arcs:
        acc += dr.select(ok, angle, 0.0)
        pick = use_cone & ok & ~chosen & (u_k < acc)
        t = dr.select(pick, dr.lerp(t0, t1, u_t), t)
        chosen |= pick
    # A draw past the last interval through rounding takes the last non-empty one.
    for t0, t1, ok, angle in reversed(arcs):
        pick = use_cone & ok & ~chosen
        t = dr.select(pick, dr.lerp(t0, t1, u_t), t)
        chosen |= pick
    pdf = 1.0 - q_eff
    for t0, t1, ok, angle in arcs:
        inside = ok & (t >= t0) & (t <= t1)
        pdf += dr.select(inside, q_eff * (angle / dr.maximum(total, 1e-30)) / dr.maximum(t1 - t0, 1e-30), 0.0)
    return t, pdf



def directed_share(every_emitter_bounded: bool, remaining_depth: int) -> float:
    """q of :func:`sample_edge_point`: 0.9 where the sub-paths see only emitted radiance at their
    first hit (``remaining_depth`` 1) and every emitter has a cone (``every_emitter_bounded``), so
    that jumps outside the cones are 0; 0.5 otherwise (indirect light, environment maps), where
    samples off the emitters keep half the uniform density."""
    return 0.9 if remaining_depth == 1 and every_emitter_bounded else 0.5
