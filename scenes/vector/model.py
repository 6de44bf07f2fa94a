"""The vector-graphics scene model: shapes, groups, paints, and their named parameters.

A :class:`VectorScene` is a tree of :class:`Group` and :class:`Shape` nodes, drawn in document order
with source-over compositing (the SVG painter's model). Every numeric attribute is a NumPy array
registered under a stable dotted name (``"<id>.center"``, ``"<id>.stroke_width"``,
``"<id>.fill.stops.color"``, ``"<group>.transform"`` ...): :class:`VectorParameters` lists them,
validates updates (unknown names, wrong shapes, NaN/Inf, negative widths all raise
:class:`scenes.ParameterError`) and packs them into one flat vector ``theta`` that the rasterizer
differentiates (``integrators/vector``).

Geometry is canonicalised to cubic Bézier subpaths whose control points are *affine* functions of
the parameters (``x = sum_j coef_j * theta[idx_j] + const``): circles/ellipses use the four-arc
kappa approximation (radial error 2.7e-4 r), rectangles with rounded corners likewise, quadratic
segments are degree-elevated exactly, lines are cubic with collinear controls. Elliptical arcs of
SVG paths keep their end point in ``points`` and their radii / rotation as parameters; their four
cubic pieces are computed (non-linearly, differentiably) by the tessellator. Colours are straight-alpha
sRGB values in [0, 1] (SVG composites in sRGB).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..errors import SceneError
from ..parameters import ParameterInfo, ParameterSet

JOINS = ("miter", "round", "bevel")
CAPS = ("butt", "round", "square")
FILL_RULES = ("nonzero", "evenodd")
SPREADS = ("pad", "reflect", "repeat")
KAPPA = 0.5522847498307936
ARC_PIECES = 4          # cubic pieces per elliptical arc (<= 90 degrees each: radial error 2.7e-4 r)
SEGMENT_POINTS = {"L": 1, "Q": 2, "C": 3, "A00": 1, "A01": 1, "A10": 1, "A11": 1}
IDENTITY = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])  # SVG matrix(a b c d e f)


def _arr(x, shape=None, what="value"):
    a = np.array(x, dtype=np.float64)
    if shape is not None:
        try:
            a = a.reshape(shape)
        except ValueError:
            raise SceneError(f"{what}: expected shape {shape}, got {np.shape(x)}") from None
    return a


@dataclass
class Gradient:
    """A linear or radial gradient paint owned by one shape (SVG ``<linearGradient>`` /
    ``<radialGradient>``). Coordinates are in the shape's user space after ``transform``
    (gradientTransform, with objectBoundingBox units folded in when loaded)."""
    kind: str                       # "linear" | "radial"
    offsets: np.ndarray             # (n,)
    colors: np.ndarray              # (n, 4) straight-alpha sRGB
    start: np.ndarray = field(default_factory=lambda: np.zeros(2))   # linear: (x1, y1)
    end: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0]))  # linear: (x2, y2)
    center: np.ndarray = field(default_factory=lambda: np.array([0.5, 0.5]))  # radial
    radius: np.ndarray = field(default_factory=lambda: np.array(0.5))
    focal: np.ndarray = field(default_factory=lambda: np.array([0.5, 0.5]))
    transform: np.ndarray = field(default_factory=lambda: IDENTITY.copy())
    spread: str = "pad"

    def __post_init__(self):
        if self.kind not in ("linear", "radial"):
            raise SceneError(f"gradient kind must be 'linear' or 'radial', got {self.kind!r}")
        if self.spread not in SPREADS:
            raise SceneError(f"gradient spread must be one of {SPREADS}, got {self.spread!r}")
        self.offsets = _arr(self.offsets, (-1,), "gradient offsets")
        self.colors = _arr(self.colors, (-1, 4), "gradient stop colors")
        if len(self.offsets) != len(self.colors) or len(self.offsets) == 0:
            raise SceneError("a gradient needs as many stop offsets as stop colours (at least one)")
        for k in ("start", "end", "center", "focal"):
            setattr(self, k, _arr(getattr(self, k), (2,), f"gradient {k}"))
        self.radius = _arr(self.radius, (), "gradient radius")
        self.transform = _arr(self.transform, (6,), "gradient transform")

    def param_fields(self):
        keys = ["stops.offset", "stops.color", "transform"]
        keys += ["start", "end"] if self.kind == "linear" else ["center", "radius", "focal"]
        return keys

    def _attr(self, key):
        return {"stops.offset": "offsets", "stops.color": "colors"}.get(key, key)


class ShaderPaint:
    """A procedural shader (:class:`penumbra.shaders.Shader`) as the fill or stroke paint of one
    shape. The shader sees ``uv`` = the canvas point mapped back through the shape's user space and
    ``transform`` (uv = (M_shape T)^-1 x, as for gradients), and returns an opaque colour (grey or
    RGB, straight sRGB in [0, 1]); the layer's opacity applies on top.

    The paint owns its parameter values (a copy of the shader's values when it is made): they are
    parameters of the vector scene named ``<shape id>.fill.<name>`` (``.stroke.<name>``), plus
    ``<shape id>.fill.transform``. Their gradients include the shader's own discontinuities
    (:mod:`integrators.vector.shader_paint`)."""

    def __init__(self, shader, transform=None):
        from penumbra.shaders.shader import Shader
        if not isinstance(shader, Shader):
            raise SceneError(f"ShaderPaint(shader=...): expected a penumbra.shaders.Shader, "
                             f"got {type(shader).__name__}")
        if "transform" in shader.values:
            raise SceneError(f"ShaderPaint: shader {shader.name!r} has a parameter named 'transform', "
                             "which is the paint's own transform; rename it")
        self.shader = shader
        self.values = {k: np.array(v.numpy() if hasattr(v, "numpy") else v, np.float64).reshape(shader.shapes[k])
                       for k, v in shader.values.items()}
        self.transform = _arr(IDENTITY.copy() if transform is None else transform, (6,), "shader paint transform")
        if not np.all(np.isfinite(self.transform)):
            raise SceneError("shader paint transform contains NaN or Inf")

    def param_fields(self):
        return list(self.values) + ["transform"]

    def __repr__(self):
        return f"ShaderPaint({self.shader!r})"


def solid(color) -> np.ndarray:
    """A solid paint: RGBA (straight alpha, sRGB, [0, 1]); RGB gets alpha 1."""
    c = np.array(color, dtype=np.float64).reshape(-1)
    if c.size == 3:
        c = np.append(c, 1.0)
    if c.size != 4:
        raise SceneError(f"a colour needs 3 or 4 components, got {c.size}")
    return c


@dataclass
class Shape:
    """One drawable element. ``kind`` is circle | ellipse | rect | path (polygons, polylines and
    lines are paths). ``geom`` holds the kind's parameters:

    - circle: ``center`` (2,), ``radius`` ()
    - ellipse: ``center`` (2,), ``radius`` (2,) (rx, ry)
    - rect: ``position`` (2,), ``size`` (2,), ``corner_radius`` (2,) (rx, ry; 0 for sharp corners)
    A stroke may be dashed (SVG ``stroke-dasharray`` / ``stroke-dashoffset``): ``dash_array``
    holds the dash and gap lengths (repeated twice when odd, as SVG says), ``dash_offset`` the
    distance into the pattern at the start of each subpath; both are parameters.

    - path: ``points`` (n, 2), with ``subpaths``: list of ``(segment_kinds, closed)`` where each
      kind is ``"L"`` (1 point), ``"Q"`` (2 points), ``"C"`` (3 points) or an SVG elliptical arc
      ``"A<large-arc-flag><sweep-flag>"`` such as ``"A01"`` (1 point: its end) after the subpath's
      start point. Points of consecutive subpaths follow each other in ``points``. Paths with arcs
      also hold ``arc_radii`` (m, 2) (rx, ry) and ``arc_rotation`` (m,) (x-axis rotation in
      degrees), one row per arc in order.
    """
    id: str
    kind: str
    geom: dict
    subpaths: list | None = None
    fill: object = None                 # None | RGBA array | Gradient | ShaderPaint
    stroke: object = None
    stroke_width: np.ndarray = field(default_factory=lambda: np.array(1.0))
    fill_rule: str = "nonzero"
    join: str = "miter"
    cap: str = "butt"
    miter_limit: float = 4.0
    opacity: np.ndarray = field(default_factory=lambda: np.array(1.0))
    transform: np.ndarray = field(default_factory=lambda: IDENTITY.copy())
    tag: str = ""
    dash_array: np.ndarray = field(default_factory=lambda: np.zeros(0))   # stroke-dasharray (empty: solid)
    dash_offset: np.ndarray = field(default_factory=lambda: np.array(0.0))  # stroke-dashoffset

    def __post_init__(self):
        where = f"shape {self.id!r}"
        if self.kind not in ("circle", "ellipse", "rect", "path"):
            raise SceneError(f"{where}: unknown kind {self.kind!r}")
        if self.join not in JOINS:
            raise SceneError(f"{where}: stroke-linejoin {self.join!r} not supported (use {JOINS})")
        if self.cap not in CAPS:
            raise SceneError(f"{where}: stroke-linecap {self.cap!r} not supported (use {CAPS})")
        if self.fill_rule not in FILL_RULES:
            raise SceneError(f"{where}: fill-rule {self.fill_rule!r} not supported (use {FILL_RULES})")
        shapes = {"circle": {"center": (2,), "radius": ()}, "ellipse": {"center": (2,), "radius": (2,)},
                  "rect": {"position": (2,), "size": (2,), "corner_radius": (2,)},
                  "path": {"points": (-1, 2)}}[self.kind]
        for kinds, _ in (self.subpaths or ()) if self.kind == "path" else ():
            for k in kinds:
                if k not in SEGMENT_POINTS:
                    raise SceneError(f"{where}: unknown path segment kind {k!r} (use L, Q, C, A00, A01, A10, A11)")
        n_arcs = sum(str(k).startswith("A") for kinds, _ in (self.subpaths or ()) for k in kinds) \
            if self.kind == "path" else 0
        if n_arcs:
            shapes = dict(shapes, arc_radii=(n_arcs, 2), arc_rotation=(n_arcs,))
        g = {}
        for k, shp in shapes.items():
            if k not in self.geom:
                if k == "corner_radius":
                    self.geom[k] = np.zeros(2)
                else:
                    raise SceneError(f"{where}: missing geometry {k!r}")
            g[k] = _arr(self.geom[k], shp, f"{where} {k}")
            if not np.all(np.isfinite(g[k])):
                raise SceneError(f"{where}: {k} contains NaN or Inf")
        self.geom = g
        if n_arcs and np.any(g["arc_radii"] < 0):
            raise SceneError(f"{where}: negative arc radius {g['arc_radii'].min():g}")
        if self.kind in ("circle", "ellipse") and np.any(g["radius"] < 0):
            raise SceneError(f"{where}: negative radius {g['radius']}")
        if self.kind == "rect":
            if np.any(g["size"] < 0):
                raise SceneError(f"{where}: negative width/height {g['size']}")
            g["corner_radius"] = np.clip(g["corner_radius"], 0, g["size"] / 2)
        if self.kind == "path":
            if self.subpaths is None:
                raise SceneError(f"{where}: a path needs its subpath structure")
            need = sum(1 + sum(SEGMENT_POINTS[s] for s in kinds) for kinds, _ in self.subpaths)
            if need != len(g["points"]):
                raise SceneError(f"{where}: subpath structure needs {need} points, got {len(g['points'])}")
        self.stroke_width = _arr(self.stroke_width, (), f"{where} stroke_width")
        if not np.isfinite(self.stroke_width) or self.stroke_width < 0:
            raise SceneError(f"{where}: stroke width must be finite and >= 0, got {float(self.stroke_width)}")
        self.opacity = _arr(self.opacity, (), f"{where} opacity")
        self.dash_array = _arr(self.dash_array, (-1,), f"{where} dash_array")
        self.dash_offset = _arr(self.dash_offset, (), f"{where} dash_offset")
        if not (np.all(np.isfinite(self.dash_array)) and np.isfinite(self.dash_offset)):
            raise SceneError(f"{where}: dash_array / dash_offset contain NaN or Inf")
        if np.any(self.dash_array < 0):
            raise SceneError(f"{where}: dash_array has a negative length {self.dash_array.min():g}")
        self.transform = _arr(self.transform, (6,), f"{where} transform")
        if not np.all(np.isfinite(self.transform)):
            raise SceneError(f"{where}: transform contains NaN or Inf")
        for which in ("fill", "stroke"):
            p = getattr(self, which)
            if p is not None and not isinstance(p, (Gradient, ShaderPaint)):
                setattr(self, which, solid(p))

    # --- canonical cubic outline as affine formulas of theta ---------------------------------
    def outline(self, slot):
        """Subpaths as ``(idx, coef, const, is_line, closed, arcs)``: control points (1 + 3 n_seg, 2)
        with ``x = sum_t coef[..., t] * theta[idx[..., t]] + const`` (3 terms), ``slot(name, i)``
        mapping parameter element ``i`` of geometry ``name`` to its index in theta. ``arcs``: per
        elliptical arc ``(first replaced row, start row, end row, rx slot, ry slot, rotation slot,
        large, sweep)``; rows first .. end - 1 are computed from those by the tessellator."""
        out = []
        if self.kind in ("circle", "ellipse"):
            c = slot("center", 0), slot("center", 1)
            r = (slot("radius", 0),) * 2 if self.kind == "circle" else (slot("radius", 0), slot("radius", 1))
            # unit-circle control points, starting at angle 0 and turning towards +y (SVG order)
            k = KAPPA
            u = [(1, 0), (1, k), (k, 1), (0, 1), (-k, 1), (-1, k), (-1, 0), (-1, -k), (-k, -1), (0, -1),
                 (k, -1), (1, -k), (1, 0)]
            n = len(u)
            idx = np.zeros((n, 2, 3), np.int64)
            coef = np.zeros((n, 2, 3))
            for i, (ux, uy) in enumerate(u):
                for d, uu in ((0, ux), (1, uy)):
                    idx[i, d, 0], coef[i, d, 0] = c[d], 1.0
                    idx[i, d, 1], coef[i, d, 1] = r[d], uu
            out.append((idx, coef, np.zeros((n, 2)), np.zeros(4, bool), True, []))
        elif self.kind == "rect":
            p = slot("position", 0), slot("position", 1)
            s = slot("size", 0), slot("size", 1)
            rr = slot("corner_radius", 0), slot("corner_radius", 1)
            rounded = bool(np.any(self.geom["corner_radius"] > 0))
            # each point: per axis (a, b): coordinate = pos + a * size + b * radius
            k = 1 - KAPPA
            if rounded:
                pts = [((0, 1), (0, 0)), ((1, -1), (0, 0)),  # top edge
                       ((1, -k), (0, 0)), ((1, 0), (0, k)), ((1, 0), (0, 1)),  # top-right corner
                       ((1, 0), (1, -1)),
                       ((1, 0), (1, -k)), ((1, -k), (1, 0)), ((1, -1), (1, 0)),
                       ((0, 1), (1, 0)),
                       ((0, k), (1, 0)), ((0, 0), (1, -k)), ((0, 0), (1, -1)),
                       ((0, 0), (0, 1)),
                       ((0, 0), (0, k)), ((0, k), (0, 0)), ((0, 1), (0, 0))]
                kinds = "LCLCLCLC"
            else:
                pts = [((0, 0), (0, 0)), ((1, 0), (0, 0)), ((1, 0), (1, 0)), ((0, 0), (1, 0)), ((0, 0), (0, 0))]
                kinds = "LLLL"
            ctrl = []
            it = iter(pts[1:])
            ctrl.append(pts[0])
            for kd in kinds:
                if kd == "L":
                    b = next(it)
                    a = ctrl[-1]
                    ctrl += [_lerp_ab(a, b, 1 / 3), _lerp_ab(a, b, 2 / 3), b]
                else:
                    ctrl += [next(it), next(it), next(it)]
            n = len(ctrl)
            idx = np.zeros((n, 2, 3), np.int64)
            coef = np.zeros((n, 2, 3))
            for i, axes in enumerate(ctrl):
                for d in (0, 1):
                    a, b = axes[d]
                    idx[i, d] = (p[d], s[d], rr[d])
                    coef[i, d] = (1.0, a, b)
            out.append((idx, coef, np.zeros((n, 2)), np.array([kd == "L" for kd in kinds]), True, []))
        else:
            start = 0
            n_arc = 0
            for kinds, closed in self.subpaths:
                rows = [(start, 1.0, start, 0.0)]  # (i0, w0, i1, w1): point = w0*P[i0] + w1*P[i1]
                cur = start
                is_line = []
                arcs = []
                for kd in kinds:
                    if kd[0] == "A":
                        # ARC_PIECES cubics; their inner control points are not affine in theta: the
                        # placeholders (on the chord) are replaced by the tessellator (``arcs`` rows)
                        m = 3 * ARC_PIECES
                        arcs.append((len(rows), len(rows) - 1, len(rows) + m - 1, slot("arc_radii", 2 * n_arc),
                                     slot("arc_radii", 2 * n_arc + 1), slot("arc_rotation", n_arc),
                                     int(kd[1]), int(kd[2])))
                        rows += [(cur, 1 - (i + 1) / m, cur + 1, (i + 1) / m) for i in range(m)]
                        cur += 1
                        n_arc += 1
                        is_line += [False] * ARC_PIECES
                        continue
                    if kd == "L":
                        rows += [(cur, 2 / 3, cur + 1, 1 / 3), (cur, 1 / 3, cur + 1, 2 / 3),
                                 (cur + 1, 1.0, cur + 1, 0.0)]
                        cur += 1
                    elif kd == "Q":
                        rows += [(cur, 1 / 3, cur + 1, 2 / 3), (cur + 2, 1 / 3, cur + 1, 2 / 3),
                                 (cur + 2, 1.0, cur + 2, 0.0)]
                        cur += 2
                    else:
                        rows += [(cur + 1, 1.0, cur + 1, 0.0), (cur + 2, 1.0, cur + 2, 0.0),
                                 (cur + 3, 1.0, cur + 3, 0.0)]
                        cur += 3
                    is_line.append(kd == "L")
                n = len(rows)
                r = np.array(rows)
                base, d = slot("points", 0), np.arange(2)
                idx = np.zeros((n, 2, 3), np.int64)
                coef = np.zeros((n, 2, 3))
                idx[:, :, 0] = base + 2 * r[:, 0:1].astype(np.int64) + d
                idx[:, :, 1] = base + 2 * r[:, 2:3].astype(np.int64) + d
                coef[:, :, 0], coef[:, :, 1] = r[:, 1:2], r[:, 3:4]
                out.append((idx, coef, np.zeros((n, 2)), np.array(is_line, bool), closed, arcs))
                start = cur + 1
        return out

    def param_fields(self):
        keys = list(self.geom) + ["transform", "opacity"]
        if self.stroke is not None:
            keys.append("stroke_width")
            if self.dash_array.size:
                keys += ["dash_array", "dash_offset"]
        for which in ("fill", "stroke"):
            p = getattr(self, which)
            if isinstance(p, (Gradient, ShaderPaint)):
                keys += [f"{which}.{k}" for k in p.param_fields()]
            elif p is not None:
                keys.append(f"{which}.color")
        return keys


def _lerp_ab(a, b, t):
    return tuple((a[d][0] + t * (b[d][0] - a[d][0]), a[d][1] + t * (b[d][1] - a[d][1])) for d in (0, 1))


MASK_TYPES = ("luminance", "alpha")


@dataclass
class Group:
    """A group: an affine ``transform`` and an ``opacity`` applied to its children. As in SVG, a
    group whose opacity is not 1 is composited in isolation (its children over transparent, then
    the result at the group's opacity); so is a shape's own ``opacity`` over its fill and stroke.

    ``clip`` (SVG ``clipPath``) and ``mask`` (SVG ``mask``) are groups in this group's user space
    (after ``transform``). The clip's shapes are never drawn: a point is inside the clip where any
    of its shapes' fills covers it (each with its ``fill_rule`` as the clip rule; strokes and paints
    are ignored), and the clip's own ``clip`` intersects it. The mask's content is composited on
    its own and never drawn: its luminance (``mask_type="luminance"``, coefficients 0.2125, 0.7154,
    0.0721 on premultiplied sRGB) or its alpha (``"alpha"``), times the mask group's opacity, is the
    mask value. The group composited in isolation is multiplied by its opacity, the clip coverage
    and the mask value at each point. The shapes of a clip or mask are parameters like any other
    (``<shape id>.points``, ``<shape id>.fill.color``, ``<mask id>.opacity`` ...).

    A marker instance's group has a ``placement`` (:class:`.markers.MarkerPlacement`): its
    ``transform`` is then computed from its host path's points and stroke width when the scene is
    rasterized (the stored value is the one at load time); the transform is not a parameter of
    its own (not differentiable, an override of it is replaced)."""
    id: str
    children: list = field(default_factory=list)
    transform: np.ndarray = field(default_factory=lambda: IDENTITY.copy())
    opacity: np.ndarray = field(default_factory=lambda: np.array(1.0))
    clip: Group | None = None
    mask: Group | None = None
    mask_type: str = "luminance"
    placement: object = None

    def __post_init__(self):
        self.transform = _arr(self.transform, (6,), f"group {self.id!r} transform")
        self.opacity = _arr(self.opacity, (), f"group {self.id!r} opacity")
        if not np.all(np.isfinite(self.transform)):
            raise SceneError(f"group {self.id!r}: transform contains NaN or Inf")
        for which in ("clip", "mask"):
            ref = getattr(self, which)
            if ref is not None and not isinstance(ref, Group):
                raise SceneError(f"group {self.id!r}: {which} must be a Group, got {type(ref).__name__}")
        if self.mask_type not in MASK_TYPES:
            raise SceneError(f"group {self.id!r}: mask_type must be one of {MASK_TYPES}, got {self.mask_type!r}")

    def param_fields(self):
        return ["transform", "opacity"]


class VectorScene:
    """A 2D vector scene: canvas size plus a tree of groups and shapes (drawn in order)."""

    def __init__(self, width, height, children=None, root_transform=None):
        if not (np.isfinite(width) and np.isfinite(height) and width > 0 and height > 0):
            raise SceneError(f"canvas size must be positive, got {width} x {height}")
        self.width, self.height = float(width), float(height)
        self.root = Group("root", list(children or []),
                          IDENTITY.copy() if root_transform is None else root_transform)
        self._ids = itertools.count()

    # --- building -------------------------------------------------------------------------------
    def add(self, node, parent: Group | None = None):
        (parent or self.root).children.append(node)
        return node

    def walk(self):
        """Yield ``(node, chain)`` in document order; ``chain`` lists the ancestor groups (root first).
        A group's ``clip`` and then its ``mask`` come right after the group itself, before its
        children, as if they were its first children."""
        def group(c, chain):
            yield c, chain
            for ref in (c.clip, c.mask):
                if ref is not None:
                    yield from group(ref, chain + [c])
            yield from rec(c, chain + [c])

        def rec(g, chain):
            for c in g.children:
                if isinstance(c, Group):
                    yield from group(c, chain)
                else:
                    yield c, chain
        yield from rec(self.root, [self.root])

    def shapes(self):
        """The drawn shapes in draw order (not those of clip paths and masks)."""
        refs = {id(r) for n, _ in self.walk() if isinstance(n, Group) for r in (n.clip, n.mask) if r is not None}
        return [n for n, chain in self.walk() if isinstance(n, Shape) and not any(id(g) in refs for g in chain)]

    def __repr__(self):
        return f"VectorScene({self.width:g} x {self.height:g}, {len(self.shapes())} shapes)"

    @property
    def params(self) -> "VectorParameters":
        return VectorParameters(self)

    def structure_key(self):
        """A hashable description of everything that is not a parameter value (topology, styles)."""
        parts = []
        for node, chain in self.walk():
            if isinstance(node, Group):
                parts.append(("g", node.id, len(chain), getattr(node.clip, "id", None), getattr(node.mask, "id", None),
                              node.mask_type, node.placement))
            else:
                paint = tuple(_paint_structure(p) for p in (node.fill, node.stroke))
                rounded = tuple(node.geom["corner_radius"] > 0) if node.kind == "rect" else ()
                parts.append((node.id, node.kind, len(chain), str(node.subpaths), paint, node.fill_rule,
                              node.join, node.cap, node.miter_limit, node.dash_array.size, rounded))
        return tuple(parts)


def _paint_structure(p):
    """The non-parameter part of a paint: its type, and a gradient's kind, stop count and spread or
    a shader paint's shader key."""
    if isinstance(p, Gradient):
        return "Gradient", p.kind, len(p.offsets), p.spread
    if isinstance(p, ShaderPaint):
        return "ShaderPaint", p.shader.key
    return type(p).__name__


#: geometry fields (changing them moves edges: their gradients need the boundary term)
GEOMETRY_FIELDS = ("points", "center", "radius", "position", "size", "corner_radius", "arc_radii",
                   "arc_rotation", "transform", "stroke_width", "dash_array", "dash_offset")
#: fields whose entries must be >= 0
NONNEGATIVE_FIELDS = ("stroke_width", "radius", "size", "corner_radius", "arc_radii", "dash_array")


class VectorParameters(ParameterSet):
    """Named parameters of a :class:`VectorScene` (the :class:`scenes.parameters.ParameterSet`
    protocol): ``params[name]`` is a NumPy copy, assignment is validated (shape, NaN/Inf, widths,
    radii and sizes >= 0).

    Names may be glob patterns in :meth:`pack` / :meth:`select` / :meth:`update` and in
    ``rasterize(params=...)``: ``"*.points"`` addresses the concatenation of every path's points, in
    document order.
    """

    kind = "vector-scene"

    def __init__(self, scene: VectorScene):
        self.scene = scene
        self._entries = {}   # name -> (obj, attr, kind, field, owner)
        self._shader_paints = {}   # name -> ShaderPaint of the shader paints' parameters
        for node, _ in scene.walk():
            owner = type(node).__name__
            for key in node.param_fields():
                name = f"{node.id}.{key}"
                which, _, sub = key.partition(".")
                if which in ("fill", "stroke") and sub:
                    paint = getattr(node, which)
                    if sub == "color":
                        self._entries[name] = (node, which, None, "color", owner)
                    elif isinstance(paint, ShaderPaint):
                        self._shader_paints[name] = paint
                        self._entries[name] = (paint.values, sub, "dict", sub, "ShaderPaint") if sub != "transform" \
                            else (paint, sub, None, sub, "ShaderPaint")
                    else:
                        paint = getattr(node, which)
                        self._entries[name] = (paint, paint._attr(sub), None, sub, "Gradient")
                elif isinstance(node, Shape) and key in node.geom:
                    self._entries[name] = (node.geom, key, "dict", key, owner)
                else:
                    self._entries[name] = (node, key, None, key, owner)

    def keys(self):
        return list(self._entries)

    def __contains__(self, name):
        return name in self._entries

    def _read(self, name):
        obj, attr, kind, _, _ = self._entries[name]
        return obj[attr] if kind == "dict" else getattr(obj, attr)

    def stored(self, name):
        """The stored array itself, without a copy (read by the rasterizer's compiler)."""
        self.check_name(name)
        return self._read(name)

    def __getitem__(self, name):
        self.check_name(name)
        return np.array(self._read(name))

    def readers(self):
        """One function per parameter (in :meth:`keys` order) returning its stored array without a
        copy: reads that stay valid while the scene keeps the same objects (assignments through
        this set or to the same nodes' fields are seen; replacing a node or paint object is not)."""
        def reader(obj, attr, kind):
            return (lambda: obj[attr]) if kind == "dict" else (lambda: getattr(obj, attr))
        return [reader(obj, attr, kind) for obj, attr, kind, _, _ in self._entries.values()]

    def shape_of(self, name):
        self.check_name(name)
        return np.shape(self._read(name))

    def info(self, name) -> ParameterInfo:
        self.check_name(name)
        _, _, _, fld, owner = self._entries[name]
        if owner == "ShaderPaint":   # the shader's own edges move, no shape edge does
            lo, hi = self._shader_paints[name].shader.ranges.get(fld, (None, None))
            return ParameterInfo(name, "ndarray", self.shape_of(name), differentiable=True, moves_geometry=False,
                                 owner=owner, lower=lo, upper=hi)
        paint = owner == "Gradient" or fld == "color"      # paint coordinates and colours move no edge
        obj = self._entries[name][0]
        if isinstance(obj, Group) and obj.placement is not None:   # computed from the host path
            return ParameterInfo(name, "ndarray", self.shape_of(name), differentiable=False,
                                 moves_geometry=True, owner=owner)
        return ParameterInfo(name, "ndarray", self.shape_of(name), differentiable=True,
                             moves_geometry=fld in GEOMETRY_FIELDS and not paint, owner=owner,
                             lower=0.0 if fld in NONNEGATIVE_FIELDS else None)

    def _write(self, name, value):
        obj, attr, kind, _, _ = self._entries[name]
        if kind == "dict":
            obj[attr] = value
        else:
            setattr(obj, attr, value)

    def snapshot(self, names=None):
        """NumPy copies of every parameter (or of ``names``; glob patterns allowed)."""
        return super().snapshot(self.keys() if names is None else names)


# --- convenience constructors ------------------------------------------------------------------
def circle(id, center, radius, **style) -> Shape:
    return Shape(id, "circle", {"center": center, "radius": radius}, **style)


def ellipse(id, center, radius, **style) -> Shape:
    return Shape(id, "ellipse", {"center": center, "radius": radius}, **style)


def rect(id, position, size, corner_radius=(0, 0), **style) -> Shape:
    return Shape(id, "rect", {"position": position, "size": size, "corner_radius": corner_radius}, **style)


def path(id, points, kinds, closed=False, **style) -> Shape:
    """A single-subpath path: ``kinds`` is a string/list of "L", "Q", "C" segment kinds."""
    return Shape(id, "path", {"points": points}, subpaths=[(list(kinds), bool(closed))], **style)


def polygon(id, points, closed=True, **style) -> Shape:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return path(id, pts, "L" * (len(pts) - 1), closed, **style)
