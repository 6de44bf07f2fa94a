"""``<pattern>`` paint servers read from SVG (SVG 2 section 14.3) into
:class:`~.model.ShaderPaint` of a :func:`.pattern.pattern_shader`.

Read: ``patternUnits`` (objectBoundingBox | userSpaceOnUse) of ``x``, ``y``, ``width``,
``height``; ``patternContentUnits`` (userSpaceOnUse | objectBoundingBox: the content scaled by the
bounding box size); ``viewBox`` and ``preserveAspectRatio`` (they override the content units);
``patternTransform``; attributes and content inherited through ``href`` (the content of the
first pattern of the chain that has any). The content's filled shapes (rect, circle, ellipse,
line, polyline, polygon, path, in groups with transforms) become polygons in tile coordinates
(curves flattened to :data:`CURVE_POINTS` points per segment), with their fill colour, fill and
element opacity. Refused with a reason: strokes, gradient or pattern fills, group opacity,
``<text>``/``<image>`` and other non-shape content inside the tile, overlapping subpaths under
the non-zero rule, and a tile or bounding box of zero size under objectBoundingBox units is not
rendered (SVG)."""
from __future__ import annotations

import numpy as np

from ..errors import SceneError
from .model import IDENTITY, ShaderPaint
from .pattern import pattern_shader
from .svg_content import content_svg
from .svg_rules import XLINK_NS, length, local_name, parse_view_box, viewbox_matrix

CURVE_POINTS = 16   # flattening points per curved segment of tile content


def _chain(loader, ref):
    chain, el, seen = [], ref, set()
    while el is not None and id(el) not in seen and local_name(el.tag) == "pattern":
        seen.add(id(el))
        chain.append(el)
        href = el.get("href") or el.get(f"{{{XLINK_NS}}}href")
        el = loader.by_id.get(href[1:]) if href and href.startswith("#") else None
    return chain


def load_pattern(loader, ref, gid, where, bbox, opacity):
    """The paint of ``<pattern>`` element ``ref`` (id ``gid``) on a shape with bounding box
    ``bbox`` (x0, y0, x1, y1, user space) and fill/stroke opacity ``opacity``; ``None`` when SVG
    draws nothing (zero-size tile, empty content, zero-size box under objectBoundingBox)."""
    import svgelements as se
    chain = _chain(loader, ref)

    def attr(name, default=None, valid=None):
        # the first valid value along the href chain; an invalid value is ignored
        return next((e.get(name).strip() for e in chain if e.get(name) is not None
                     and (valid is None or e.get(name).strip() in valid)), default)

    unit_names = ("objectBoundingBox", "userSpaceOnUse")
    units = attr("patternUnits", "objectBoundingBox", unit_names)
    content_units = attr("patternContentUnits", "userSpaceOnUse", unit_names)
    box = parse_view_box(attr("viewBox"))
    bw = bh = 0.0
    if bbox is not None:
        bw, bh = bbox[2] - bbox[0], bbox[3] - bbox[1]
    if units == "userSpaceOnUse":
        vw, vh = loader.viewport
        x, y = length(attr("x"), vw), length(attr("y"), vh)
        w, h = length(attr("width"), vw), length(attr("height"), vh)
    else:
        if bbox is None or bw <= 0 or bh <= 0:
            return None
        x, y = bbox[0] + length(attr("x"), 1.0) * bw, bbox[1] + length(attr("y"), 1.0) * bh
        w, h = length(attr("width"), 1.0) * bw, length(attr("height"), 1.0) * bh
    if not (w > 0 and h > 0):
        return None
    children = next((list(e) for e in chain if any(local_name(c.tag) not in ("title", "desc") for c in e)), [])
    if box is not None:
        sx, sy, tx, ty = viewbox_matrix(box, w, h, attr("preserveAspectRatio"))
        content = se.Matrix(sx, 0, 0, sy, tx, ty)
    elif content_units == "objectBoundingBox":
        if bbox is None or bw <= 0 or bh <= 0:
            return None
        content = se.Matrix(bw, 0, 0, bh, 0, 0)
    else:
        content = se.Matrix()
    what = f"{where}: pattern #{gid}"
    doc = content_svg(loader, chain[0], children, what)
    shapes = []
    for el in doc.elements():
        if isinstance(el, (se.Text, se.Image)):
            raise SceneError(f"{what}: <{type(el).__name__.lower()}> inside a pattern tile is not supported")
        if isinstance(el, se.Group) and not isinstance(el, se.SVG):
            op = (el.values.get("attributes") or {}).get("opacity")
            if op is not None and float(op) != 1.0:
                raise SceneError(f"{what}: group opacity inside a pattern tile is not supported")
        if not isinstance(el, se.Shape) or str(el.values.get("display", "")) == "none" or \
                str(el.values.get("visibility", "")) in ("hidden", "collapse"):
            continue
        tag = str(el.values.get("tag", ""))
        stroke = loader.paint(el, "stroke", what, None, loader.viewport)
        if stroke is not None and length(el.values.get("stroke-width"), default=1.0) > 0:
            raise SceneError(f"{what}: strokes inside a pattern tile are not supported (<{tag}>)")
        if tag == "line":
            continue
        fill_value = str(el.values.get("fill") or "").strip()
        target = loader.by_id.get(fill_value[5:].split(")")[0].strip("'\"")) if fill_value.startswith("url(#") else None
        if target is not None and local_name(target.tag) in ("linearGradient", "radialGradient", "pattern"):
            raise SceneError(f"{what}: a gradient or pattern fill inside a pattern tile is not supported")
        fill = loader.paint(el, "fill", what, None, loader.viewport)
        if fill is None:
            continue
        if not isinstance(fill, np.ndarray):
            raise SceneError(f"{what}: a gradient or pattern fill inside a pattern tile is not supported")
        attrs = el.values.get("attributes") or {}
        rgba = fill.copy()
        rgba[3] *= min(max(float(attrs.get("opacity", 1.0)), 0.0), 1.0) * opacity
        rings = _rings(el, content, what)
        if len(rings) > 1 and str(el.values.get("fill-rule", "nonzero")).strip() != "evenodd" and _overlap(rings):
            raise SceneError(f"{what}: <{tag}> has overlapping subpaths under fill-rule nonzero "
                             "(only even-odd is exact for pattern content)")
        if rings:
            shapes.append((rings, rgba))
    if not shapes:
        return None
    from penumbra.renderer import ensure_variant
    ensure_variant()   # the shader's parameters are Dr.Jit arrays
    transform = se.Matrix(attr("patternTransform", "")) if attr("patternTransform") else se.Matrix()
    # tile coordinates -> user space: translate to the tile origin, then patternTransform
    tile = se.Matrix(f"translate({x!r},{y!r})") * transform
    m = np.array([tile.a, tile.b, tile.c, tile.d, tile.e, tile.f])
    if abs(m[0] * m[3] - m[1] * m[2]) < 1e-12:
        m = IDENTITY.copy()
    return ShaderPaint(pattern_shader((w, h), shapes, name=f"pattern#{gid}"), transform=m)


def _rings(el, content, what):
    """Closed polygons ((n, 2), tile coordinates) of svgelements shape ``el`` under ``content``."""
    import svgelements as se
    path = abs(se.Path(el) * content)
    rings = []
    for sub in path.as_subpaths():
        pts = []
        for seg in sub:
            if isinstance(seg, se.Move):
                pts.append((seg.end.x, seg.end.y))
            elif isinstance(seg, (se.Line, se.Close)):
                if seg.end is not None:
                    pts.append((seg.end.x, seg.end.y))
            elif seg.start is not None:
                for t in np.linspace(0, 1, CURVE_POINTS + 1)[1:]:
                    p = seg.point(t)
                    pts.append((p.x, p.y))
        ring = np.array(pts, np.float64).reshape(-1, 2)
        if len(ring) > 1 and np.allclose(ring[0], ring[-1]):
            ring = ring[:-1]
        if len(ring) >= 3:
            if not np.all(np.isfinite(ring)):
                raise SceneError(f"{what}: tile content geometry contains NaN or Inf")
            rings.append(ring)
    return rings


def _overlap(rings):
    lo = [r.min(0) for r in rings]
    hi = [r.max(0) for r in rings]
    return any(np.all(lo[i] < hi[j]) and np.all(lo[j] < hi[i])
               for i in range(len(rings)) for j in range(i + 1, len(rings)))
