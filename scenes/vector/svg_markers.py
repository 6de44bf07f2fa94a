"""SVG markers expanded at load time (SVG 2 section 11.6): each ``marker-start`` / ``marker-mid``
/ ``marker-end`` (or the ``marker`` shorthand) of a ``<path>``, ``<line>``, ``<polyline>`` or
``<polygon>`` becomes a :class:`~.model.Group` per vertex holding the marker's content as
ordinary shapes, placed by a :class:`~.markers.MarkerPlacement` (differentiable in the host's
points and stroke width).

Read from the ``<marker>`` element: ``markerUnits`` (strokeWidth | userSpaceOnUse),
``markerWidth``/``markerHeight`` (default 3), ``refX``/``refY`` (numbers, lengths, or the SVG 2
keywords left/center/right, top/center/bottom), ``viewBox`` and ``preserveAspectRatio``,
``orient`` (auto, auto-start-reverse, an angle in deg/rad/grad/turn). The content inherits
properties from the marker's ancestors, not from the host. The marker's clip (``overflow``
hidden, its initial value) is not drawn: a marker whose content (with its strokes) crosses the
clip rectangle is refused; ``overflow="visible"`` (as Inkscape writes) draws it unclipped.
Markers inside marker content are refused.
"""
from __future__ import annotations

import re
import types

from ..errors import SceneError
from .markers import MarkerPlacement, orientation, parse_orient, path_vertices
from .model import Group
from .svg_content import content_svg
from .svg_rules import length, local_name, parse_view_box, style_declarations, viewbox_matrix

MARKER_HOSTS = ("path", "line", "polyline", "polygon")
MARKER_PROPERTIES = ("marker-start", "marker-mid", "marker-end")
_REF_KEYWORDS = {"left": 0.0, "top": 0.0, "center": 0.5, "right": 1.0, "bottom": 1.0}


def marker_refs(el) -> dict:
    """``{property: marker id}`` of svgelements element ``el`` (a specific property wins over the
    ``marker`` shorthand; ``none`` or no reference: absent)."""
    out = {}
    attrs = el.values.get("attributes") or {}
    # the shorthand is a CSS property only: as a presentation attribute it is ignored
    shorthand = None if "marker" in attrs and "marker" not in str(attrs.get("style", "")) else el.values.get("marker")
    for prop in MARKER_PROPERTIES:
        v = el.values.get(prop, shorthand)
        m = re.match(r"\s*url\(\s*['\"]?#([^)'\"]+)['\"]?\s*\)\s*$", str(v or ""))
        if m:
            out[prop] = m.group(1)
    return out


def paint_order(value) -> tuple:
    """The order of ("fill", "stroke", "markers") that ``paint-order`` ``value`` gives (SVG 2
    section 13.3): the listed ones first, the others after them in their normal order; ``normal``,
    a missing value or an invalid one (an unknown or repeated keyword) is the normal order."""
    normal = ("fill", "stroke", "markers")
    tokens = str(value or "normal").split()
    if tokens == ["normal"] or not tokens or len(set(tokens)) != len(tokens) or not set(tokens) <= set(normal):
        return normal
    return tuple(tokens) + tuple(k for k in normal if k not in tokens)


def _ref(value, extent, box_origin, viewport):
    """refX or refY: an SVG 2 keyword (a fraction of the viewBox or marker extent), or a length
    (percentages of the root viewport's ``viewport`` extent, as resvg); invalid -> 0."""
    v = (value or "0").strip()
    if v in _REF_KEYWORDS:
        return box_origin + _REF_KEYWORDS[v] * extent
    try:
        return length(v, viewport)
    except SceneError:
        return 0.0


class MarkerContent:
    """One ``<marker>`` element read once: its content parsed by svgelements, its constant map
    ``content`` (viewBox onto the marker viewport, reference point to the origin), units,
    orient and the clip check result."""

    def __init__(self, loader, marker_el, mid, where):
        self.id = mid
        a = marker_el.attrib
        self.units = (a.get("markerUnits") or "strokeWidth").strip()
        if self.units not in ("strokeWidth", "userSpaceOnUse"):
            self.units = "strokeWidth"
        try:
            mw = length(a.get("markerWidth"), loader.viewport[0], 3.0)
            mh = length(a.get("markerHeight"), loader.viewport[1], 3.0)
        except SceneError:
            mw = mh = 3.0
        self.empty = not (mw > 0 and mh > 0)
        box = parse_view_box(a.get("viewBox"))
        vw, vh = loader.viewport
        if box is not None:
            sx, sy, _, _ = viewbox_matrix(box, mw, mh, a.get("preserveAspectRatio"))
            rx, ry = _ref(a.get("refX"), box[2], box[0], vw), _ref(a.get("refY"), box[3], box[1], vh)
            clip = (box[0], box[1], box[0] + box[2], box[1] + box[3])
        else:
            sx = sy = 1.0
            rx, ry = _ref(a.get("refX"), mw, 0.0, vw), _ref(a.get("refY"), mh, 0.0, vh)
            clip = (0.0, 0.0, mw, mh)
        # C: the viewBox scale about the reference point (the reference point to the origin)
        self.content = (sx, 0.0, 0.0, sy, -sx * rx, -sy * ry)
        self.orient, self.reverse = parse_orient(a.get("orient"), f"<marker id={mid!r}>")
        self.svg = content_svg(loader, marker_el, list(marker_el), f"{where}: marker #{mid}")
        decl = style_declarations(marker_el)
        overflow = decl.get("overflow", a.get("overflow", "hidden")).strip()
        self.clip_problem = None
        if overflow not in ("visible", "auto") and not self.empty:
            # the clip rectangle (content coordinates): the viewBox, else (0, 0, markerWidth, markerHeight)
            bb = self.svg.bbox(transformed=True, with_stroke=True)
            if bb is not None:
                tol = 1e-6 * max(1.0, *map(abs, clip))
                if bb[0] < clip[0] - tol or bb[1] < clip[1] - tol or bb[2] > clip[2] + tol or bb[3] > clip[3] + tol:
                    self.clip_problem = (f"marker #{mid}: its content crosses the marker's clip rectangle "
                                         "(overflow hidden) and clipping is not supported (overflow=\"visible\" "
                                         "draws it unclipped)")


def marker_groups(loader, el, tag, shape, arc_tangents, where) -> list:
    """The marker instances of svgelements element ``el`` (loaded as :class:`~.model.Shape`
    ``shape``, a path whose elliptical arcs have the (start, end) tangents ``arc_tangents``) as
    placed groups, in drawing order (start, mids, end)."""
    refs = marker_refs(el)
    if not refs:
        return []
    if tag not in MARKER_HOSTS:
        if shape.kind != "path" or tag not in ("", "svg"):
            raise SceneError(f"{where}: markers on <{tag}> are not supported (SVG 2 draws them at the vertices "
                             "of the shape's equivalent path; only path, line, polyline and polygon are)")
    if loader.in_marker:
        raise SceneError(f"{where}: a marker inside the content of a marker is not supported")
    points = shape.geom["points"]
    vertices = path_vertices(shape.subpaths, points, arc_tangents)
    if not vertices:
        return []
    picks = [("marker-start", [0]), ("marker-mid", list(range(1, len(vertices) - 1))),
             ("marker-end", [len(vertices) - 1])]
    stroked = shape.stroke is not None
    groups = []
    for prop, which in picks:
        mid = refs.get(prop)
        ref = loader.by_id.get(mid) if mid else None
        if ref is None or local_name(ref.tag) != "marker":
            continue   # a reference to anything else draws no marker
        content = loader.markers.get(mid)
        if content is None:
            content = loader.markers[mid] = MarkerContent(loader, ref, mid, where)
        if content.empty:
            continue
        if content.clip_problem:
            loader.problem(f"{where}: {content.clip_problem}")
            continue
        for k in which:
            row, d_in, d_out = vertices[k]
            k_in, k_out, fixed = orientation(d_in, d_out, points, content.orient,
                                             content.reverse and prop == "marker-start")
            scaled = content.units == "strokeWidth"
            placement = MarkerPlacement(shape.id, row, d_in, d_out, k_in, k_out, fixed,
                                        stroke_scaled=scaled and stroked,
                                        scale=float(shape.stroke_width) if scaled else 1.0, content=content.content)
            g = Group(loader.new_id(types.SimpleNamespace(id=f"{shape.id}-{prop}"), "marker"), [],
                      placement.matrix(points, float(shape.stroke_width)), placement=placement)
            loader.in_marker = True
            try:
                loader.walk(content.svg, g, _identity())
            finally:
                loader.in_marker = False
            if g.children:
                groups.append(g)
    return groups


def _identity():
    import svgelements as se
    return se.Matrix()

