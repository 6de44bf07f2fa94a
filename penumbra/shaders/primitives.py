"""Discontinuous building blocks of procedural shaders, each known to the boundary estimator.

A shader is a Python function of surface coordinates written with Dr.Jit operations. Every
discontinuity it contains must come from one of the primitives below: each primitive computes its
value *and* records a **level function** g, a continuous scalar field whose zero set is exactly the
primitive's discontinuity set, with the primitive's "inside" where g > 0. The boundary estimator
(:mod:`.boundary`) finds the zeros of every recorded g in the pixel footprint and weights the
image's jump across them by their normal velocity -∂g/∂θ / |∇g| (Li et al. 2018 applied to the
shader's own edges instead of geometric ones).

A plain ``dr.select(x > t, a, b)`` or ``dr.floor`` inside a shader is evaluated correctly but is
**invisible** to the boundary estimator (Dr.Jit comparisons cannot be intercepted): its
parameter's gradient is then the plain-AD one, zero for the threshold ``t``. Use :func:`select` /
:func:`step` with a level function instead.

Level functions used here (all continuous, zero exactly on the value's jumps):

- :func:`step`, :func:`select`: g given by the caller (e.g. ``field - threshold``);
- :func:`stripes`: value ``fract(s) < duty``; g = cos 2π(fract(s) - duty/2) - cos π duty;
- :func:`checker`: value ``(floor u + floor v)`` even; g = sin(πu) sin(πv) (u, v reduced modulo 2);
- :func:`circle`: g = r - |p - c|;
- :func:`polygon`: g = signed distance to the polygon's outline (positive inside, even-odd);
- :func:`value_noise` is smooth (C², quintic fade); threshold it with :func:`step`.
"""
from __future__ import annotations

import math
import threading

import drjit as dr

_state = threading.local()


class LevelRecorder:
    """Collects the level functions of the primitives called while it is active (context manager;
    nested recorders each see only their own calls)."""

    def __init__(self):
        self.levels = []

    def __enter__(self):
        stack = getattr(_state, "stack", None)
        if stack is None:
            stack = _state.stack = []
        stack.append(self)
        return self

    def __exit__(self, *exc):
        _state.stack.pop()


def record(g):
    """Register level function ``g`` with the active recorder (no-op without one); returns ``g``."""
    stack = getattr(_state, "stack", None)
    if stack:
        stack[-1].levels.append(g)
    return g


def step(g):
    """1 where ``g >= 0``, else 0; ``g`` is the level function of this jump."""
    record(g)
    return dr.select(g >= 0, 1.0, 0.0)


def select(g, a, b):
    """``a`` where ``g >= 0``, else ``b`` (a ``dr.select`` whose condition is the sign of a continuous
    ``g``, so that its boundary moves with ``g``'s parameters)."""
    record(g)
    return dr.select(g >= 0, a, b)


def mix(mask, a, b):
    """``b + mask (a - b)``, component-wise for colours: combine the 0/1 masks of the primitives."""
    return b + (a - b) * mask


def stripes(s, duty=0.5):
    """Stripes of a coordinate ``s`` (stripe period 1): 1 where ``fract(s) < duty``. ``duty`` in (0, 1)
    may be a parameter (it moves the stripes' trailing edges), and so may an offset inside ``s``
    (it moves both edges).

    The value is the sign of the level function, evaluated on ``fract(s)`` (cos is 1-periodic, so
    g stays continuous): the boundary estimator's brackets then straddle the value's jump exactly.
    A floor-based value next to a cos of the unreduced ``s`` disagrees with g's zero by the rounding
    of cos(2π s), which exceeds the estimator's bracket width for ``s`` of a few units."""
    t = s - dr.floor(s)
    return step(dr.cos(2.0 * math.pi * (t - 0.5 * duty)) - dr.cos(math.pi * duty))


def checker(u, v):
    """Checkerboard of period 2 in ``u`` and ``v``: 1 on cells where floor(u) + floor(v) is even
    (the sign of sin(πu) sin(πv), evaluated on u, v reduced modulo 2; see :func:`stripes`)."""
    tu, tv = u - 2.0 * dr.floor(0.5 * u), v - 2.0 * dr.floor(0.5 * v)
    return step(dr.sin(math.pi * tu) * dr.sin(math.pi * tv))


def circle(p, center, radius):
    """1 inside the disc of ``center`` (2-vector) and ``radius`` around point ``p``."""
    d = dr.sqrt(dr.square(p[0] - center[0]) + dr.square(p[1] - center[1]))
    return step(radius - d)


def polygon_distance(p, vertices):
    """Signed distance from point ``p`` to the closed polygon ``vertices`` (list of 2-vectors, at least
    3): positive inside (even-odd rule), continuous everywhere.

    Where the nearest outline point lies inside an edge, the distance is that edge's signed line
    distance cross(e, p - a) / |e| (times the side's sign): it is linear across the edge, so its
    derivatives are exact on the zero set itself. A Euclidean ``sqrt(|p - q|²)`` there would have an
    undefined derivative (sqrt'(0)), and its direction would be the rounding noise of p - q, with a sign
    decided independently by the inside test: random signs and NaN at the points the boundary
    estimator needs. The inside test reads the same cross products, so the side's sign
    (inside == cross > 0) does not flip with rounding. Near a vertex the distance to the vertex is
    used (its gradient is guarded at distance 0)."""
    if len(vertices) < 3:
        raise ValueError(f"polygon: needs at least 3 vertices, got {len(vertices)}")
    px, py = p[0], p[1]
    n = len(vertices)
    d2 = inside = cross = inv_len = interior = None
    for k in range(n):
        ax, ay = vertices[k][0], vertices[k][1]
        bx, by = vertices[(k + 1) % n][0], vertices[(k + 1) % n][1]
        ex, ey = bx - ax, by - ay
        wx, wy = px - ax, py - ay
        len2 = dr.maximum(ex * ex + ey * ey, 1e-20)
        t_line = (wx * ex + wy * ey) / len2
        t = dr.clip(t_line, 0.0, 1.0)
        dist2 = dr.square(wx - t * ex) + dr.square(wy - t * ey)
        cr = ex * wy - ey * wx                       # > 0: p left of the edge
        # the horizontal ray from p to +x crosses the edge iff it straddles p's height and p is on the
        # edge's left when it goes up (right when it goes down)
        crosses = ((ay > py) != (by > py)) & ((cr > 0) == (by > ay))
        if d2 is None:
            d2, inside, cross, inv_len = dist2, crosses, cr, dr.rsqrt(len2)
            interior = (t_line > 0) & (t_line < 1)
        else:
            closer = dist2 < d2
            d2 = dr.select(closer, dist2, d2)
            cross = dr.select(closer, cr, cross)
            inv_len = dr.select(closer, dr.rsqrt(len2), inv_len)
            interior = dr.select(closer, (t_line > 0) & (t_line < 1), interior)
            inside = inside ^ crosses
    line = dr.select(inside == (cross > 0), cross, -cross) * inv_len
    d = dr.sqrt(dr.maximum(d2, 1e-30))
    return dr.select(interior, line, dr.select(inside, d, -d))


def polygon(p, vertices):
    """1 inside the closed polygon ``vertices`` (even-odd rule); the vertices may be parameters."""
    return step(polygon_distance(p, vertices))


def _hash01(ix, iy, seed: int):
    """A value in [0, 1) per integer lattice point (integer hash, deterministic)."""
    import mitsuba as mi
    salt = mi.UInt32(seed * 0x9E3779B9 & 0xFFFFFFFF)
    x = mi.UInt32(mi.Int32(ix)) * 0x8DA6B343 ^ mi.UInt32(mi.Int32(iy)) * 0xD8163841 ^ salt
    x = (x ^ (x >> 15)) * 0x2C1B3C6D
    x = (x ^ (x >> 12)) * 0x297A2D39
    x = x ^ (x >> 15)
    return mi.Float(x >> 8) * (1.0 / (1 << 24))


def value_noise(p, seed: int = 0):
    """Value noise at point ``p`` (2-vector): random values in [0, 1) on the integer lattice, blended
    with the quintic fade 6t⁵ - 15t⁴ + 10t³ (C² continuous, so ``step(value_noise(p) - t)`` has a
    well-defined moving boundary; Perlin 2002)."""
    x, y = p[0], p[1]
    fx, fy = dr.floor(dr.detach(x)), dr.floor(dr.detach(y))
    tx, ty = x - fx, y - fy
    sx = tx * tx * tx * (tx * (tx * 6.0 - 15.0) + 10.0)
    sy = ty * ty * ty * (ty * (ty * 6.0 - 15.0) + 10.0)
    v00, v10 = _hash01(fx, fy, seed), _hash01(fx + 1, fy, seed)
    v01, v11 = _hash01(fx, fy + 1, seed), _hash01(fx + 1, fy + 1, seed)
    return dr.lerp(dr.lerp(v00, v10, sx), dr.lerp(v01, v11, sx), sy)
