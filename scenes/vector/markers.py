"""Marker placement: where an SVG marker instance sits on its host path, as a function of the
host's points (SVG 2 section 11.6, https://www.w3.org/TR/SVG2/painting.html#Markers).

A marker instance is a :class:`~.model.Group` whose ``placement`` (:class:`MarkerPlacement`)
computes its transform from the host path's parameters::

    M = translate(V) o rotate(w) o scale(s) o C

- ``V``: the vertex, a row of the host's ``points``;
- ``w``: the marker's direction: ``orient="auto"`` takes the bisector of the incoming and
  outgoing path directions at the vertex (unit vectors summed, then normalised), each a
  difference of two host points (for an elliptical arc: its tangent at load time, a constant);
  ``auto-start-reverse`` reverses it on the start marker; a fixed ``orient`` angle is constant;
- ``s``: the host's ``stroke_width`` parameter (``markerUnits="strokeWidth"``), else 1;
- ``C``: the marker's own constant map (its viewBox onto ``markerWidth`` x ``markerHeight`` and
  the reference point ``refX``/``refY`` moved to the origin).

The rasterizer evaluates this map on ``theta`` before tessellation (``integrators.vector.compile``),
so the marker's geometry is differentiable in the host's points (vertex and tangents) and stroke
width. Decided at load time, from the loaded values, and fixed afterwards: which control point
defines a direction when a segment starts or ends with coincident control points, whether a
direction exists (zero-length segments have none; the other side's is used), and a fixed angle
where the two directions are exactly opposite (the bisector of their angles, as resvg does).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SceneError


@dataclass(frozen=True)
class Direction:
    """A path direction at a vertex: ``points[to] - points[frm]`` of the host (``to``/``frm``
    rows), or the constant vector ``const`` when ``to`` is ``None`` (an arc's tangent)."""
    to: int | None
    frm: int | None
    const: tuple = (0.0, 0.0)

    def value(self, points) -> np.ndarray:
        if self.to is None:
            return np.asarray(self.const, np.float64)
        return points[self.to] - points[self.frm]


@dataclass(frozen=True)
class MarkerPlacement:
    """The placement of one marker instance on host path ``host`` (a shape id): vertex row
    ``vertex``, incoming / outgoing :class:`Direction` (``None``: none), ``k_in``/``k_out`` the
    weights of their unit vectors in the direction ``w`` plus the constant ``fixed`` (cos, sin)
    (``orient`` resolved: auto -> 1, 1, (0, 0); a fixed angle -> 0, 0, (cos a, sin a); reversed
    -> negated), ``stroke_scaled`` whether ``s`` is the host's stroke width (else 1), ``scale``
    the constant factor used when the host has no stroke width parameter, and ``content`` the
    constant map ``C`` (6 numbers, SVG matrix order)."""
    host: str
    vertex: int
    d_in: Direction | None
    d_out: Direction | None
    k_in: float
    k_out: float
    fixed: tuple
    stroke_scaled: bool
    scale: float
    content: tuple

    def matrix(self, points, stroke_width) -> np.ndarray:
        """The transform (6,) for host points ``points`` (n, 2) and stroke width (NumPy)."""
        zero = np.zeros(2)
        di = self.d_in.value(points) if self.d_in is not None else zero
        do = self.d_out.value(points) if self.d_out is not None else zero
        s = stroke_width if self.stroke_scaled else self.scale
        return np.array([float(v) for v in placement_matrix(
            points[self.vertex][0], points[self.vertex][1], di[0], di[1], do[0], do[1], self.k_in, self.k_out,
            self.fixed[0], self.fixed[1], s, self.content, np.sqrt, np.maximum)])


def placement_matrix(vx, vy, ix, iy, ox, oy, k_in, k_out, fx, fy, s, content, sqrt, maximum):
    """``translate(V) o rotate(w) o scale(s) o content`` with ``w = k_in u_in + k_out u_out +
    (fx, fy)`` normalised, ``u`` the unit vectors of ``(ix, iy)`` and ``(ox, oy)``. Elementwise
    on NumPy or Dr.Jit arrays (``sqrt`` and ``maximum`` of the array library)."""
    from penumbra.integrators.vector.affine import compose
    li = sqrt(maximum(ix * ix + iy * iy, 1e-24))
    lo = sqrt(maximum(ox * ox + oy * oy, 1e-24))
    wx = k_in * ix / li + k_out * ox / lo + fx
    wy = k_in * iy / li + k_out * oy / lo + fy
    lw = sqrt(maximum(wx * wx + wy * wy, 1e-24))
    c, sn = wx / lw * s, wy / lw * s
    return compose((c, sn, -sn, c, vx, vy), tuple(content))


def _angle(v):
    return np.degrees(np.arctan2(v[1], v[0]))


def orientation(d_in, d_out, points, orient, reverse):
    """``(k_in, k_out, fixed)`` of :class:`MarkerPlacement` for orient ``orient`` (``"auto"`` or
    an angle in degrees), reversed when ``reverse`` (``auto-start-reverse`` on a start marker)."""
    if orient != "auto":
        a = np.radians(float(orient))
        return 0.0, 0.0, (float(np.cos(a)), float(np.sin(a)))
    sign = -1.0 if reverse else 1.0
    vi = d_in.value(points) if d_in is not None else None
    vo = d_out.value(points) if d_out is not None else None
    if vi is None and vo is None:
        return 0.0, 0.0, (sign, 0.0)
    if vi is not None and vo is not None:
        ui, uo = vi / np.hypot(*vi), vo / np.hypot(*vo)
        if np.hypot(*(ui + uo)) < 1e-6:   # opposite directions: the bisector of the two angles
            ai, ao = _angle(vi), _angle(vo)
            a = np.radians((ai + ao) / 2 + (180.0 if abs(ai - ao) > 180 else 0.0))
            return 0.0, 0.0, (sign * float(np.cos(a)), sign * float(np.sin(a)))
    return (sign if vi is not None else 0.0), (sign if vo is not None else 0.0), (0.0, 0.0)


def _first_nonzero(points, pairs):
    for to, frm in pairs:
        if np.hypot(*(points[to] - points[frm])) > 1e-12:
            return Direction(to, frm)
    return None


def path_vertices(subpaths, points, arc_tangents=()):
    """The vertices of a path (SVG 2 section 11.6.2, path vertices in order) as ``(row,
    incoming, outgoing)``: :class:`Direction` or ``None`` each. Each subpath's start (outgoing
    direction only), every segment's end and, when the path ends with a closed subpath, the end of
    its closing segment (at the subpath's start, incoming direction only): the vertices resvg
    places markers on. A subpath without segments has no vertices. ``arc_tangents``: per
    elliptical arc in order, its (start, end) tangent vectors."""
    out, start, n_arc = [], 0, 0
    closing = None
    for kinds, closed in subpaths:
        closing = None
        cur, segs = start, []    # per segment: (start direction, end direction, end row)
        for kd in kinds:
            if kd[0] == "A":
                t0, t1 = arc_tangents[n_arc]
                n_arc += 1
                segs.append((Direction(None, None, tuple(t0)), Direction(None, None, tuple(t1)), cur + 1))
                cur += 1
                continue
            n = {"L": 1, "Q": 2, "C": 3}[kd]
            e = cur + n
            inner = list(range(cur + 1, e))
            segs.append((_first_nonzero(points, [(r, cur) for r in inner + [e]]),
                         _first_nonzero(points, [(e, r) for r in inner[::-1] + [cur]]), e))
            cur = e
        if not segs:
            start = cur + 1
            continue
        if closed:
            close = _first_nonzero(points, [(start, cur)])
            segs.append((close, close, start))
        out.append((start, None, segs[0][0]))
        for i, (_, d_end, row) in enumerate(segs):
            out.append((row, d_end, segs[i + 1][0] if i + 1 < len(segs) else None))
        if closed:
            closing = out.pop()   # the closing vertex is a vertex of the path's end only
        start = cur + 1
    if closing is not None:
        out.append(closing)
    # a missing direction takes the other side's (a zero-length segment has none)
    return [(row, di if di is not None else do, do if do is not None else di) for row, di, do in out]


def parse_orient(value, where):
    """``("auto" | angle in degrees, reverse on start)`` of an ``orient`` attribute; an invalid
    value is the initial ``0``."""
    v = (value or "0").strip()
    if v == "auto":
        return "auto", False
    if v == "auto-start-reverse":
        return "auto", True
    units = {"deg": 1.0, "grad": 0.9, "rad": 180.0 / np.pi, "turn": 360.0}   # grad before rad
    for unit, factor in units.items():
        if v.endswith(unit):
            try:
                return float(v[:-len(unit)]) * factor, False
            except ValueError:
                return 0.0, False
    try:
        a = float(v)
    except ValueError:
        return 0.0, False
    if not np.isfinite(a):
        raise SceneError(f"{where}: orient={value!r} is not a finite angle")
    return a, False
