"""SVG import and export for vector scenes, on svgelements (https://github.com/meerk40t/svgelements);
the CSS cascade and the SVG rules svgelements leaves unapplied are resolved first (:mod:`.svg_css`,
:mod:`.svg_rules`).

:func:`load_svg` parses a file path or an SVG string: viewBox/preserveAspectRatio, nested
transforms, nested ``<svg>`` viewports, presentation attributes, ``style`` and CSS style sheets,
``<use>`` (of ``<symbol>`` and ``<svg>`` too), ``<circle> <ellipse> <rect> <line> <polyline>
<polygon> <path>``, solid colours, dashed strokes (``stroke-dasharray``, ``stroke-dashoffset``),
linear/radial gradients (``gradientUnits``, ``gradientTransform``, ``spreadMethod``, ``href``
inheritance, stop colour/opacity from attributes or ``style``; read from the XML directly because
svgelements does not model them), patterns (:mod:`.svg_pattern`), markers expanded into placed
groups (:mod:`.svg_markers`) and the root's ``background-color``. Anything it cannot draw
faithfully (``<text>``, ``<image>``, masks, clip paths, filters, a viewport
clip that would cut its content, and the constructs :mod:`.svg_rules` lists) raises
:class:`scenes.SceneError` naming the element, unless ``strict=False``, which skips unsupported
elements with a warning.

:func:`save_svg` writes the scene back with its current parameter values; elliptical arcs stay arcs
(end point, ``arc_radii``, ``arc_rotation`` in degrees, flags).
"""
from __future__ import annotations

import io
import os
import re
import types
import warnings
import xml.etree.ElementTree as ET
import xml.sax.saxutils

import numpy as np

from ..errors import SceneError
from .model import (CAPS, IDENTITY, JOINS, SEGMENT_POINTS, SPREADS, Gradient, Group, Shape, ShaderPaint,
                    VectorScene)
from .svg_content import INHERITED, inherited_values
from .svg_css import apply_style_sheets
from .svg_markers import marker_groups, paint_order
from .svg_path import arc_arguments
from .pattern import PatternShader, pattern_svg
from .svg_pattern import load_pattern
from .svg_rules import REFERENCE, SVG_NS, VIEWPORT_CLIP, XLINK_NS, apply_rules, color_function, length, \
    style_declarations

ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)
_UNSUPPORTED_TAGS = {"text", "image", "filter", "foreignObject",
                     "switch", "tspan", "textPath"}
#: attribute marking a ``<mask>`` that the loader handed to svgelements as a ``<clipPath>`` (which
#: svgelements keeps out of the drawing and resolves, ``<use>`` included)
_MASK_MARK = "data-penumbra-mask"
#: inherited properties that a clip path or mask passes from its ancestors to its content


def _matrix6(m) -> np.ndarray:
    return np.array([m.a, m.b, m.c, m.d, m.e, m.f], dtype=np.float64)


def _strip_ns(tag):
    return tag.split("}", 1)[-1] if isinstance(tag, str) else ""


def _fraction(s, default) -> float:
    """A unitless number or a percentage (as a fraction); missing or invalid -> ``default``
    (an invalid presentation value is ignored)."""
    if s is None:
        return default
    s = str(s).strip()
    try:
        return float(s[:-1]) / 100.0 if s.endswith("%") else float(s)
    except ValueError:
        return default


def _opacity(s) -> float:
    """An opacity value (number or percentage), clamped to [0, 1] (CSS Color 4: out-of-range
    values are clamped); missing or invalid -> 1."""
    return min(max(_fraction(s, 1.0), 0.0), 1.0)


def _color(value, what, current="black"):
    """RGBA in [0, 1] of an SVG colour value."""
    import svgelements as se
    v = str(value).strip()
    if v == "currentColor":
        v = current
    rgba = color_function(v)
    if rgba is not None:
        return rgba
    try:
        c = se.Color(v)
    except Exception:
        raise SceneError(f"{what}: cannot read colour {value!r}") from None
    if c.value is None:
        raise SceneError(f"{what}: cannot read colour {value!r}")
    return np.array([c.red / 255.0, c.green / 255.0, c.blue / 255.0, c.alpha / 255.0])


_GRADIENT_TAGS = ("linearGradient", "radialGradient")
_GEOMETRY_ATTRS = {"x1", "y1", "x2", "y2", "cx", "cy", "r", "fx", "fy", "fr"}

# Attributes whose values are names or text, not numbers: never scanned for NaN/Inf.
_TEXT_ATTRIBUTES = {"id", "class", "href", "font-family", "lang", "title"}
_NON_FINITE = re.compile(r"(?<![\w#.-])[+-]?(nan|inf(inity)?)(?![\w-])", re.IGNORECASE)


class _Loader:
    def __init__(self, text, strict, name="<string>"):
        self.text = text
        self.strict = strict
        self.used_ids = set()
        self.clip_rule = False
        self.open_masks = []   # masks whose content is being read (a reference back to one is a cycle)
        self.count = 0
        try:
            root = ET.fromstring(text)
        except ET.ParseError as e:
            raise SceneError(f"malformed SVG {name}: {e}") from None
        if _strip_ns(root.tag) != "svg":
            raise SceneError(f"SVG {name} is not an SVG document: the root element is <{_strip_ns(root.tag)}>")
        for el in root.iter():
            for key, value in el.attrib.items():
                if _strip_ns(key) not in _TEXT_ATTRIBUTES and _NON_FINITE.search(value):
                    raise SceneError(f"SVG {name}: <{_strip_ns(el.tag)}> attribute {_strip_ns(key)}={value!r} "
                                     "holds a non-finite number (NaN/Inf)")
        apply_style_sheets(root)
        apply_rules(root, name)
        _lift_clips_and_masks(root)
        self.by_id = {el.get("id"): el for el in root.iter() if el.get("id")}
        self.parents = {c: p for p in root.iter() for c in p}
        for el, parent in list(self.parents.items()):
            if _strip_ns(el.tag) in ("marker", "pattern"):
                parent.remove(el)   # never drawn in place (svgelements would): read where referenced
        self.text = ET.tostring(root, encoding="unicode")
        self.root_attrib = dict(root.attrib)
        self.markers = {}          # marker id -> svg_markers.MarkerContent
        self.in_marker = False     # walking the content of a marker

    def problem(self, msg):
        if self.strict:
            raise SceneError(msg + " (pass strict=False to skip it with a warning)")
        warnings.warn(msg + "; skipped", stacklevel=4)

    def new_id(self, el, tag):
        base = getattr(el, "id", None) or (el.values.get("attributes", {}).get("id") if hasattr(el, "values") else None)
        if not base or base in self.used_ids:
            while True:
                base2 = f"{base or tag}{self.count}" if base else f"{tag}{self.count}"
                self.count += 1
                if base2 not in self.used_ids:
                    break
            base = base2
        self.used_ids.add(base)
        return base

    def named_id(self, name):
        """``name`` as a node id where no node has it yet, else ``name`` with a number appended
        (a clip path or mask used by several elements is a group under each)."""
        if name in self.used_ids:
            return self.new_id(None, name)
        self.used_ids.add(name)
        return name

    # --- paints ---------------------------------------------------------------------------------
    def paint(self, el, which, where, bbox, viewport):
        v = el.values.get(which, "black" if which == "fill" else "none")
        v = str(v).strip() if v is not None else "none"
        opacity = _opacity(el.values.get(f"{which}-opacity"))
        if v in ("none", "transparent", ""):
            return None
        m = re.match(r"url\(\s*['\"]?#([^)'\"]+)['\"]?\s*\)\s*(.*)$", v)
        if m:
            gid, fallback = m.group(1), m.group(2).strip()
            ref = self.by_id.get(gid)
            if ref is not None and _strip_ns(ref.tag) == "pattern":
                paint = load_pattern(self, ref, gid, where, bbox, opacity)
                if paint is None and fallback and fallback != "none":
                    return _color(fallback, where, el.values.get("color", "black")) * [1, 1, 1, opacity]
                return paint
            if ref is None or _strip_ns(ref.tag) not in ("linearGradient", "radialGradient"):
                if fallback and fallback != "none":
                    return _color(fallback, where, el.values.get("color", "black")) * [1, 1, 1, opacity]
                kind = "missing element" if ref is None else f"<{_strip_ns(ref.tag)}>"
                self.problem(f"{where}: {which} paint url(#{gid}) refers to a {kind}; only "
                             "linearGradient/radialGradient/pattern paint servers are supported")
                return None
            paint = self.gradient(ref, gid, where, bbox, opacity, viewport)
            if paint is None and fallback and fallback != "none":   # a gradient without stops (resvg)
                return _color(fallback, where, el.values.get("color", "black")) * [1, 1, 1, opacity]
            return paint
        c = _color(v, where, el.values.get("color", "black"))
        c[3] *= opacity
        return c

    def gradient(self, ref, gid, where, bbox, opacity, viewport):
        import svgelements as se
        chain, el, seen = [], ref, set()
        while el is not None and id(el) not in seen and _strip_ns(el.tag) in _GRADIENT_TAGS:
            seen.add(id(el))
            chain.append(el)
            href = el.get("href") or el.get(f"{{{XLINK_NS}}}href")   # SVG 2: href wins over xlink:href
            el = self.by_id.get(href[1:]) if href and href.startswith("#") else None

        def attr(name, default=None, valid=None):
            # geometry attributes come from gradients of the same kind only; an invalid value is ignored
            for e in chain:
                if name in _GEOMETRY_ATTRS and e.tag != ref.tag:
                    continue
                v = e.get(name)
                if v is not None and (valid is None or v.strip() in valid):
                    return v.strip()
            return default

        stops_el = next((list(e) for e in chain if any(_strip_ns(c.tag) == "stop" for c in e)), [])
        offsets, colors = [], []
        for s in stops_el:
            if _strip_ns(s.tag) != "stop":
                continue
            st = style_declarations(s)
            off = min(max(_fraction(s.get("offset"), 0.0), 0.0), 1.0)
            offsets.append(max(off, offsets[-1]) if offsets else off)
            c = _color(st.get("stop-color", s.get("stop-color", "black")), f"{where} gradient #{gid} stop",
                       self.current_color(s))
            c[3] *= _opacity(st.get("stop-opacity", s.get("stop-opacity"))) * opacity
            colors.append(c)
        if not offsets:
            return None
        if len(offsets) == 1:
            return colors[0]
        kind = "linear" if _strip_ns(ref.tag) == "linearGradient" else "radial"
        units = attr("gradientUnits", "objectBoundingBox", ("objectBoundingBox", "userSpaceOnUse"))
        spread = attr("spreadMethod", "pad", SPREADS)
        gt = se.Matrix(attr("gradientTransform", "")) if attr("gradientTransform") else se.Matrix()
        if abs(gt.a * gt.d - gt.b * gt.c) < 1e-12:
            gt = se.Matrix()   # a singular gradientTransform is an invalid value: ignored
        if units == "objectBoundingBox":
            if bbox is None or bbox[2] <= bbox[0] or bbox[3] <= bbox[1]:
                return None  # SVG: objectBoundingBox gradient on a zero-area box -> not rendered
            bb = se.Matrix(f"translate({bbox[0]},{bbox[1]}) scale({bbox[2] - bbox[0]},{bbox[3] - bbox[1]})")
            total = gt * bb  # row-vector convention: apply gradientTransform, then the bbox map
            rx = ry = 1.0
        else:
            total = gt
            rx, ry = viewport
        rd = np.sqrt((rx * rx + ry * ry) / 2)
        kw = {}
        if kind == "linear":
            kw["start"] = [length(attr("x1"), rx, 0.0), length(attr("y1"), ry, 0.0)]
            kw["end"] = [length(attr("x2"), rx, rx), length(attr("y2"), ry, 0.0)]
        else:
            cx, cy = length(attr("cx"), rx, 0.5 * rx), length(attr("cy"), ry, 0.5 * ry)
            kw["center"] = [cx, cy]
            r = length(attr("r"), rd, 0.5 * rd)
            if r <= 0:
                return colors[-1]   # SVG: r = 0 paints the last stop's colour; a negative r is an error
            kw["radius"] = r
            f = np.array([length(attr("fx"), rx, cx), length(attr("fy"), ry, cy)])
            d = np.hypot(*(f - [cx, cy]))
            if d > r:
                raise SceneError(f"{where}: radial gradient #{gid} has its focal point outside its circle, "
                                 "which SVG 1.1 moves onto the circle and SVG 2 draws as a cone (unsupported)")
            kw["focal"] = f
            if length(attr("fr"), rd, 0.0) != 0.0:
                self.problem(f"{where}: radial gradient #{gid} has a focal radius fr != 0 (unsupported)")
        return Gradient(kind, offsets, colors, spread=spread, transform=_matrix6(total), **kw)

    def current_color(self, el):
        """The ``color`` property of XML element ``el``, inherited from its ancestors (black if none)."""
        while el is not None:
            c = style_declarations(el).get("color", el.get("color"))
            if c is not None and c.strip() not in ("inherit", "currentColor"):
                return c.strip()
            el = self.parents.get(el)
        return "black"

    # --- elements -------------------------------------------------------------------------------
    def load(self, source_name):
        import svgelements as se
        try:
            svg = se.SVG.parse(io.StringIO(self.text), reify=False)
            self.svg = svg
        except Exception as e:  # svgelements raises various errors on broken input
            raise SceneError(f"cannot parse SVG {source_name}: {e}") from None
        width = svg.width if svg.width else (svg.viewbox.width if svg.viewbox else None)
        height = svg.height if svg.height else (svg.viewbox.height if svg.viewbox else None)
        if "viewBox" not in self.root_attrib:
            if "width" not in self.root_attrib and "height" not in self.root_attrib:
                raise SceneError(f"SVG {source_name}: has no width, height or viewBox: SVG leaves the size of a "
                                 "standalone document to the user agent (browsers use 300 x 150, resvg the "
                                 "drawing's bounds); give it a size")
            # no viewBox: a missing width or height takes the browsers' default size of 300 x 150
            width = width if "width" in self.root_attrib else 300.0
            height = height if "height" in self.root_attrib else 150.0
        if not (width and height and np.isfinite(width) and np.isfinite(height) and width > 0 and height > 0):
            raise SceneError(f"SVG {source_name}: needs width/height or a viewBox with a positive size "
                             f"(got width {width}, height {height})")
        vb = svg.viewbox
        if vb is not None:
            box = [vb.x, vb.y, vb.width, vb.height]
            if not (all(isinstance(v, (int, float)) and np.isfinite(v) for v in box) and box[2] > 0 and box[3] > 0):
                raise SceneError(f"SVG {source_name}: viewBox {self.root_attrib.get('viewBox')!r} must have a "
                                 "finite position and a positive width and height")
        root_m = se.Matrix(svg.viewbox_transform) if svg.viewbox is not None and svg.viewbox_transform else se.Matrix()
        self.viewport = (svg.viewbox.width, svg.viewbox.height) if svg.viewbox is not None else (width, height)
        self.root_m = root_m
        scene = VectorScene(width, height, root_transform=_matrix6(root_m))

        try:
            self.walk(svg, scene.root, root_m)
        except (ZeroDivisionError, OverflowError) as e:   # svgelements inverting a singular transform
            raise SceneError(f"SVG {source_name}: a transform or the viewBox scaling is degenerate "
                             f"(not invertible or overflowing): {e}") from None
        background = style_declarations(self.root_attrib).get("background-color", "").strip()
        if background not in ("", "transparent", "none", "initial"):
            # the root's background colour (CSS Backgrounds 3) fills the canvas below the drawing
            inv = ~root_m
            x0, y0 = inv.point_in_matrix_space((0, 0))
            x1, y1 = inv.point_in_matrix_space((width, height))
            scene.root.children.insert(0, Shape(self.new_id(None, "background"), "rect", {
                "position": [min(x0, x1), min(y0, y1)], "size": [abs(x1 - x0), abs(y1 - y0)],
                "corner_radius": [0.0, 0.0]}, fill=_color(background, "<svg> background-color")))
        root_opacity = self.root_attrib.get("opacity", style_declarations(self.root_attrib).get("opacity"))
        if root_opacity is not None and _opacity(root_opacity) != 1.0:
            # the root element's opacity: one group around the document, composited in isolation
            scene.root.children = [Group(self.new_id(None, "svg"), scene.root.children, IDENTITY.copy(),
                                         _opacity(root_opacity))]
        refs = {k: self.root_attrib.get(k, style_declarations(self.root_attrib).get(k)) for k in ("clip-path", "mask")}
        refs = {k: REFERENCE.match(v.strip()).group(1) for k, v in refs.items()
                if v is not None and REFERENCE.match(v.strip())}
        if refs:   # the root element's clip path and mask, in its user space
            g = Group(self.new_id(None, "svg"), scene.root.children)
            scene.root.children = [g] if self.clip_and_mask(g, refs, svg, root_m, "<svg>") else []
        return scene

    def walk(self, parent_el, group, parent_m):
        import svgelements as se
        for el in list(parent_el):
            tag = el.values.get("tag", type(el).__name__).split("}")[-1] if hasattr(el, "values") else ""
            where = f"<{tag}{' id=' + repr(el.id) if getattr(el, 'id', None) else ''}>"
            if tag in _UNSUPPORTED_TAGS or isinstance(el, (se.Text, se.Image)):
                self.problem(f"{where}: element <{tag}> is not supported by the vector rasterizer")
                continue
            if tag == "marker":
                continue  # drawn where referenced (svg_markers)
            if not isinstance(el, (se.Group, se.Use, se.Shape)):
                continue  # defs content, titles, styles, gradients (resolved by reference)
            if str(el.values.get("display", "")) == "none":
                continue
            if isinstance(el, se.Shape) and str(el.values.get("visibility", "")) in ("hidden", "collapse"):
                continue  # visibility is inherited, and a child may set it back to visible
            m = el.transform if el.transform is not None else se.Matrix()
            local = m * ~parent_m
            attrs = el.values.get("attributes", {}) or {}
            own_opacity = _opacity(attrs.get("opacity", style_declarations(attrs).get("opacity"))) \
                if ("opacity" in attrs or "opacity" in str(attrs.get("style", ""))) else 1.0
            refs = {k: attrs.get(k, style_declarations(attrs).get(k)) for k in ("clip-path", "mask")}
            refs = {k: REFERENCE.match(v.strip()).group(1) for k, v in refs.items()
                    if v is not None and REFERENCE.match(v.strip())}
            if self.clip_rule:   # content of a clip path: shapes, and <use> of a shape (SVG 1.1 14.3.5)
                refs.pop("mask", None)   # a mask on clip path content has no effect
                if refs:
                    raise SceneError(f"{where}: a clip-path on the content of a clip path is not supported")
                if isinstance(el, se.Use) and len(el) == 1 and isinstance(el[0], se.Shape):
                    self.walk(el, group, parent_m)   # the used shape, its transform composed with the use's
                if isinstance(el, (se.Group, se.Use)):
                    continue
            if isinstance(el, (se.Group, se.Use)):
                g = Group(self.new_id(el, "g"), [], _matrix6(local), own_opacity)
                if attrs.get(VIEWPORT_CLIP) is not None:
                    g.clip = self.viewport_clip(attrs[VIEWPORT_CLIP])
                    if refs:   # the viewport clip applies inside the element's own clip and mask
                        g = Group(self.new_id(None, "g"), [g])
                if refs and not self.clip_and_mask(g, refs, el, m, where):
                    continue
                group.children.append(g)
                self.walk(el, g if not refs or attrs.get(VIEWPORT_CLIP) is None else g.children[0], m)
                continue
            shape = self.shape(el, tag, where, local, own_opacity)
            if shape is not None and refs:
                g = Group(self.new_id(None, "g"), [shape], shape.transform)
                shape.transform = IDENTITY.copy()
                if not self.clip_and_mask(g, refs, el, m, where):
                    continue
                shape = g
            if shape is not None:
                group.children.append(shape)

    # --- clip paths and masks -------------------------------------------------------------------
    def viewport_clip(self, rect):
        """The clip path of a viewport (nested ``<svg>``, ``<symbol>`` instance) whose overflow is
        hidden: its rectangle ``rect`` ("x y width height" in the group's user space)."""
        x, y, w, h = (float(v) for v in rect.split())
        return Group(self.new_id(None, "viewport-clip"), [Shape(self.new_id(None, "viewport-rect"), "rect", {
            "position": [x, y], "size": [max(w, 0.0), max(h, 0.0)], "corner_radius": [0.0, 0.0]}, fill=(0, 0, 0))])

    def element_bbox(self, el, m, where):
        """Bounding box (x, y, width, height) of ``el``'s geometry without strokes in its user
        space (``m``: its user space to canvas), or None where it has no area to refer to."""
        import svgelements as se
        if isinstance(el, se.Shape):
            box = el.bbox(transformed=False)
        else:
            if abs(m.b) > 1e-12 or abs(m.c) > 1e-12:
                raise SceneError(f"{where}: objectBoundingBox units on a rotated or skewed group are not supported")
            box = el.bbox(transformed=True, with_stroke=False)
            if box is not None:
                inv = ~m
                x0, y0 = inv.point_in_matrix_space((box[0], box[1]))
                x1, y1 = inv.point_in_matrix_space((box[2], box[3]))
                box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        if box is None or not all(np.isfinite(box)) or box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
            return None
        return box[0], box[1], box[2] - box[0], box[3] - box[1]

    def clip_and_mask(self, g, refs, el, m, where):
        """Set ``g.clip`` / ``g.mask`` from the ids in ``refs`` (``clip-path`` / ``mask`` of
        element ``el``, user space to canvas ``m``). False when the element is not rendered: a
        reference to a missing or wrong element, or objectBoundingBox units of an element without
        area (as resvg does)."""
        if "clip-path" in refs and refs["clip-path"] in self.by_id:   # a missing one is ignored (as resvg)
            g.clip = self.clip_path(refs["clip-path"], el, m, where, ())
            if g.clip is None:
                return False
        if "mask" in refs and refs["mask"] in self.by_id:   # a missing one is ignored (as resvg)
            g.mask, g.mask_type = self.mask(refs["mask"], el, m, where, ())
            if g.mask is None:
                return False
        return True

    def clip_path(self, cid, el, m, where, stack):
        """A clip group for ``<clipPath id=cid>`` applied to element ``el`` (SVG 1.1 section 14.3):
        its shapes (``<use>`` resolved) with their fills only and ``clip-rule`` as fill rule, in
        the element's user space (``clipPathUnits="objectBoundingBox"``: the element's bounding
        box as unit square, inside the clip path's own transform), and the clip path's own
        ``clip-path`` as the group's clip. None where the element is not rendered."""
        import svgelements as se
        xml = self.by_id.get(cid)
        if xml is None or _strip_ns(xml.tag) != "clipPath" or xml.get(_MASK_MARK) is not None:
            return None
        cp = self.svg.get_element_by_id(cid)
        g = Group(self.named_id(cid), [])
        if (xml.get("clipPathUnits") or "").strip() == "objectBoundingBox":
            box = self.element_bbox(el, m, where)
            if box is None:
                return None
            ct = se.Matrix(xml.get("transform") or "")
            bb = se.Matrix(box[2], 0, 0, box[3], box[0], box[1])
            g.transform = _matrix6(~ct * bb * ct)   # transform o bbox units o content
        if isinstance(cp, list):
            self.clip_rule = True   # shapes take clip-rule as their fill rule
            try:
                self.walk(cp, g, self.root_m)
            finally:
                self.clip_rule = False
        for node, _ in VectorScene(1, 1, [g]).walk():
            if isinstance(node, Group) and node is not g and (node.clip is not None or node.mask is not None):
                raise SceneError(f"{where}: clip path {cid!r}: a clip path or mask inside a clip path is not "
                                 "supported")
            if isinstance(node, Shape):
                node.stroke, node.fill = None, np.array([0.0, 0.0, 0.0, 1.0])
                node.dash_array = np.zeros(0)
        nested = (xml.get("clip-path") or style_declarations(xml).get("clip-path") or "").strip()
        nid = REFERENCE.match(nested).group(1) if REFERENCE.match(nested) else None
        if nid is not None and nid not in stack + (cid,) and nid in self.by_id:   # a cycle is cut (as resvg)
            g.clip = self.clip_path(nid, el, m, where, stack + (cid,))
            if g.clip is None:
                return None
        return g

    def mask(self, mid, el, m, where, stack):
        """A mask group for ``<mask id=mid>`` applied to element ``el`` (SVG 1.1 section 14.4), and
        its ``mask-type``: the content in the element's user space (``maskContentUnits=
        "objectBoundingBox"``: the bounding box as unit square), clipped to the mask region
        (``maskUnits``, default objectBoundingBox -10% -10% 120% 120%), and masked by the mask's own
        ``mask`` (a cycle is cut). (None, type) where the element is not rendered."""
        xml = self.by_id.get(mid)
        if xml is None or xml.get(_MASK_MARK) is None:
            return None, "luminance"
        mtype = (xml.get("mask-type") or style_declarations(xml).get("mask-type") or "luminance").strip()
        mtype = mtype if mtype in ("luminance", "alpha") else "luminance"
        box = None
        if (xml.get("maskUnits") or "objectBoundingBox").strip() != "userSpaceOnUse" or \
                (xml.get("maskContentUnits") or "").strip() == "objectBoundingBox":
            box = self.element_bbox(el, m, where)
            if box is None:
                return None, mtype
        vw, vh = self.viewport
        if (xml.get("maskUnits") or "objectBoundingBox").strip() == "userSpaceOnUse":
            x, y = length(xml.get("x"), vw, -0.1 * vw), length(xml.get("y"), vh, -0.1 * vh)
            w, h = length(xml.get("width"), vw, 1.2 * vw), length(xml.get("height"), vh, 1.2 * vh)
        else:
            fx, fy = _fraction(xml.get("x"), -0.1), _fraction(xml.get("y"), -0.1)
            fw, fh = _fraction(xml.get("width"), 1.2), _fraction(xml.get("height"), 1.2)
            x, y, w, h = box[0] + fx * box[2], box[1] + fy * box[3], fw * box[2], fh * box[3]
        if w <= 0 or h <= 0:
            return None, mtype
        content = Group(self.new_id(None, f"{mid}-content"), [])
        if (xml.get("maskContentUnits") or "").strip() == "objectBoundingBox":
            content.transform = np.array([box[2], 0, 0, box[3], box[0], box[1]], np.float64)
        g = Group(self.named_id(mid), [content],
                  clip=self.viewport_clip(f"{x!r} {y!r} {w!r} {h!r}"))
        mk = self.svg.get_element_by_id(mid)
        if mid in self.open_masks:
            raise SceneError(f"{where}: mask {mid!r} is used inside its own content (a cycle), which is not supported")
        if isinstance(mk, list):
            self.open_masks.append(mid)
            try:
                self.walk(mk, content, self.root_m)
            finally:
                self.open_masks.pop()
        nested = (xml.get("mask") or style_declarations(xml).get("mask") or "").strip()
        nid = REFERENCE.match(nested).group(1) if REFERENCE.match(nested) else None
        if nid is not None and nid in stack:
            raise SceneError(f"{where}: mask {mid!r}: its mask refers back to a mask that uses it (a cycle through "
                             f"{nid!r}), which is not supported")
        if nid is not None and nid != mid and nid in self.by_id:   # the mask's own mask; a self reference is cut
            g.mask, g.mask_type = self.mask(nid, el, m, where, stack + (mid,))
            if g.mask is None:
                return None, mtype
        return g, mtype

    def shape(self, el, tag, where, local, opacity):
        import svgelements as se
        try:
            if isinstance(el, se.Rect):
                arc_tangents = ()
                kind = "rect"
                geom = {"position": [el.x, el.y], "size": [el.width, el.height],
                        "corner_radius": [el.rx or 0.0, el.ry or 0.0]}
                subpaths = None
                bbox = (el.x, el.y, el.x + el.width, el.y + el.height)
                if el.width <= 0 or el.height <= 0:
                    return None  # SVG: zero-size rect is not rendered
            elif isinstance(el, se.Circle) or (isinstance(el, se.Ellipse) and tag == "circle"):
                arc_tangents = ()
                kind = "circle"
                geom = {"center": [el.cx, el.cy], "radius": el.rx}
                subpaths = None
                bbox = (el.cx - el.rx, el.cy - el.rx, el.cx + el.rx, el.cy + el.rx)
                if el.rx <= 0:
                    return None
            elif isinstance(el, se.Ellipse):
                arc_tangents = ()
                kind = "ellipse"
                geom = {"center": [el.cx, el.cy], "radius": [el.rx, el.ry]}
                subpaths = None
                bbox = (el.cx - el.rx, el.cy - el.ry, el.cx + el.rx, el.cy + el.ry)
                if el.rx <= 0 or el.ry <= 0:
                    return None
            else:
                kind = "path"
                geom, subpaths, arc_tangents = self.path_geometry(el, tag, where)
                if not subpaths:
                    return None
                p = geom["points"]
                bbox = (p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()) if len(p) else None
        except SceneError:
            raise
        except Exception as e:
            raise SceneError(f"{where}: cannot read its geometry: {e}") from None
        if any(not np.all(np.isfinite(np.asarray(v, dtype=float))) for v in geom.values()):
            raise SceneError(f"{where}: geometry contains NaN or Inf")
        sw = length(el.values.get("stroke-width"), default=1.0) if el.values.get("stroke-width") is not None else 1.0
        if sw < 0:
            raise SceneError(f"{where}: negative stroke-width {sw}")
        fill = self.paint(el, "fill", where, bbox, self.viewport)
        stroke = self.paint(el, "stroke", where, bbox, self.viewport) if sw > 0 else None
        join = str(el.values.get("stroke-linejoin", "miter")).strip()
        join = {"miter-clip": "miter", "arcs": "miter"}.get(join, join)
        join = join if join in JOINS else "miter"   # an invalid value is ignored: the initial value
        cap = str(el.values.get("stroke-linecap", "butt")).strip()
        cap = cap if cap in CAPS else "butt"
        miter_limit = _fraction(el.values.get("stroke-miterlimit"), 4.0)
        miter_limit = miter_limit if miter_limit >= 1 else 4.0   # SVG: a value below 1 is invalid
        if tag == "line":
            fill = None  # SVG: lines are never filled
        dashes, dash_offset = self.dashes(el, where) if stroke is not None else (np.zeros(0), 0.0)
        rule = str(el.values.get("clip-rule" if self.clip_rule else "fill-rule", "nonzero")).strip()
        shape = Shape(self.new_id(el, tag or kind), kind, geom, subpaths=subpaths, fill=fill, stroke=stroke,
                      dash_array=dashes, dash_offset=dash_offset,
                      stroke_width=sw, fill_rule=rule if rule in ("nonzero", "evenodd") else "nonzero",
                      join=join, cap=cap, miter_limit=miter_limit,
                      opacity=opacity, transform=_matrix6(local), tag=tag)
        # markers are not drawn in a clip path (resvg)
        markers = [] if self.clip_rule else marker_groups(self, el, tag, shape, arc_tangents, where)
        order = paint_order(el.values.get("paint-order"))
        drawn = [k for k in order if (k == "markers" and markers) or (k != "markers" and getattr(shape, k) is not None)]
        if fill is not None and stroke is not None and not self.clip_rule and \
                order.index("stroke") < order.index("fill"):
            raise SceneError(f"{where}: paint-order={el.values.get('paint-order')!r} draws the stroke below the "
                             "fill, which is not supported")
        if markers and drawn[0] != "markers" and drawn[-1] != "markers":
            raise SceneError(f"{where}: paint-order={el.values.get('paint-order')!r} draws the markers between "
                             "the fill and the stroke, which is not supported")
        if not markers:
            return shape
        # the shape and its markers: one element (its transform and opacity apply to both)
        children = [*markers, shape] if drawn[0] == "markers" else [shape, *markers]
        group = Group(self.new_id(types.SimpleNamespace(id=f"{shape.id}-marked"), "g"), children,
                      shape.transform, shape.opacity)
        shape.transform, shape.opacity = IDENTITY.copy(), np.array(1.0)
        return group

    def dashes(self, el, where):
        """(dash_array, dash_offset) of ``el``'s stroke. SVG 2 section 13.5.4: percentages refer to
        the viewport's normalized diagonal; a list with a negative or unreadable value, or one
        that sums to zero, leaves the stroke solid (an empty array)."""
        attrs = el.values
        diag = float(np.hypot(*self.viewport) / np.sqrt(2))
        raw = str(attrs.get("stroke-dasharray") or "none").strip()
        values = np.zeros(0)
        if raw not in ("none", "", "inherit"):
            relative = [v for v in re.split(r"[\s,]+", raw) if re.search(r"\d(em|ex|ch|rem|vw|vh|vmin|vmax)$", v)]
            if relative:
                raise SceneError(f"{where}: stroke-dasharray={raw!r} uses a font- or viewport-relative unit, "
                                 "which is not supported (use px, mm, cm, in, pt, pc or %)")
            try:
                values = np.array([length(v, diag) for v in re.split(r"[\s,]+", raw) if v], dtype=np.float64)
            except SceneError:
                values = np.zeros(0)
            if values.size and (np.any(values < 0) or values.sum() <= 0 or not np.all(np.isfinite(values))):
                values = np.zeros(0)
        try:
            offset = length(attrs.get("stroke-dashoffset"), diag, default=0.0)
        except SceneError:
            offset = 0.0
        return values, offset

    def path_geometry(self, el, tag, where):
        import svgelements as se
        segs = list(se.Path(el).segments(transformed=False)) if not isinstance(el, se.Path) else \
            list(el.segments(transformed=False))
        points, subpaths, radii, rotation, tangents = [], [], [], [], []
        written = arc_arguments((el.values.get("attributes") or {}).get("d", "")) if isinstance(el, se.Path) else None
        n_arc = 0
        kinds, closed, start = None, False, None

        def flush():
            nonlocal kinds
            if kinds is not None:
                subpaths.append((kinds, closed))
            kinds = None

        def begin(p):
            nonlocal kinds, closed, start
            flush()
            kinds, closed, start = [], False, p
            points.append([p.x, p.y])

        cur = None
        for s in segs:
            if isinstance(s, se.Move):
                begin(s.end)
                cur = s.end
                continue
            if kinds is None or closed:
                begin(cur if cur is not None else s.start)
            if isinstance(s, se.Close):
                closed = True
                cur = start
                continue
            if isinstance(s, se.Line):
                kinds.append("L")
                points.append([s.end.x, s.end.y])
            elif isinstance(s, se.QuadraticBezier):
                kinds.append("Q")
                points += [[s.control.x, s.control.y], [s.end.x, s.end.y]]
            elif isinstance(s, se.CubicBezier):
                kinds.append("C")
                points += [[s.control1.x, s.control1.y], [s.control2.x, s.control2.y], [s.end.x, s.end.y]]
            elif isinstance(s, se.Arc):
                arg = written[n_arc] if written is not None and n_arc < len(written) else None
                n_arc += 1
                if s.start == s.end:
                    continue
                if s.rx == 0 or s.ry == 0:
                    kinds.append("L")
                    points.append([s.end.x, s.end.y])
                else:
                    points.append([s.end.x, s.end.y])
                    # the arc as written when it can be matched (svgelements' radii are scaled to fit)
                    rx, ry, rot, large, sweep = arg if arg is not None and arg[0] > 0 and arg[1] > 0 else \
                        (s.rx, s.ry, np.degrees(float(s.get_rotation())), int(abs(s.sweep) > np.pi), int(s.sweep > 0))
                    kinds.append(f"A{large}{sweep}")
                    radii.append([rx, ry])
                    rotation.append(rot)
                    p0, p1, q0, q1 = (s.point(t) for t in (0.0, 1e-4, 1.0 - 1e-4, 1.0))
                    tangents.append(((p1.x - p0.x, p1.y - p0.y), (q1.x - q0.x, q1.y - q0.y)))
            else:
                raise SceneError(f"{where}: unsupported path segment {type(s).__name__}")
            cur = s.end
        flush()
        if tag == "polygon" and subpaths:
            subpaths = [(k, True) for k, _ in subpaths]
        pts = np.array(points, dtype=np.float64).reshape(-1, 2)
        geom = {"points": pts}
        if radii:
            geom["arc_radii"], geom["arc_rotation"] = np.array(radii), np.array(rotation)
        return geom, subpaths, tangents


def _lift_clips_and_masks(root):
    """Move every ``<clipPath>`` and ``<mask>`` to the root (their content is drawn in the user
    space of the element that refers to them, not of their ancestors), a ``<mask>`` renamed to a
    marked ``<clipPath>`` so that svgelements parses its content (``<use>`` included) without
    drawing it."""
    parents = {c: p for p in root.iter() for c in p}
    for el in list(root.iter()):
        tag = _strip_ns(el.tag)
        if tag not in ("clipPath", "mask") or el is root:
            continue
        own = set(el.attrib) | set(style_declarations(el))
        # the properties the element inherits where it stands
        for prop, value in inherited_values(parents, parents[el], INHERITED + ("clip-rule",)).items():
            if prop not in own:
                el.set(prop, value)
        el.attrib.pop("display", None)   # display does not apply to clipPath and mask elements
        style = {k: v for k, v in style_declarations(el).items() if k != "display"}
        if "style" in el.attrib:
            el.set("style", "; ".join(f"{k}: {v}" for k, v in style.items()))
        parents[el].remove(el)
        root.append(el)
        if tag == "mask":
            el.tag = el.tag[:-len("mask")] + "clipPath"
            el.set(_MASK_MARK, "1")
            el.attrib.pop("transform", None)


def _decode(data: bytes, name) -> str:
    """An SVG file's bytes as text, in the encoding its XML declaration names (UTF-8 if none)."""
    m = re.match(rb"\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']", data)
    encoding = m.group(1).decode("ascii") if m else "utf-8"
    try:
        text = data.decode(encoding)
    except (LookupError, UnicodeDecodeError) as e:
        raise SceneError(f"SVG {name}: cannot decode it as {encoding}: {e}") from None
    return re.sub(r"^\s*<\?xml[^>]*\?>", "", text)   # ElementTree refuses a declaration in a str


def load_svg(source, strict: bool = True) -> VectorScene:
    """Load an SVG file (path) or document (a string starting with ``<``) as a :class:`VectorScene`."""
    if isinstance(source, (bytes, bytearray)):
        source = source.decode("utf-8")
    text = str(source)
    name = "<string>"
    if not text.lstrip().startswith("<"):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise FileNotFoundError(f"SVG file not found: {path}")
        with open(path, "rb") as f:
            text = _decode(f.read(), path)
        name = path
    return _Loader(text, strict, name).load(name)


# --- export ---------------------------------------------------------------------------------------
def _f(x):
    return f"{float(x):.6g}"


def _esc(text) -> str:
    """``text`` escaped for a double-quoted XML attribute."""
    return xml.sax.saxutils.escape(str(text), {'"': "&quot;"})


def _mat(t):
    t = np.asarray(t)
    if np.allclose(t, IDENTITY):
        return ""
    return f' transform="matrix({" ".join(_f(v) for v in t)})"'


def _rgb(c):
    c = np.clip(np.asarray(c), 0, 1)
    return "#%02x%02x%02x" % tuple(int(round(v * 255)) for v in c[:3])


def _paint_attr(which, paint, defs, gid):
    if paint is None:
        return f' {which}="none"'
    if isinstance(paint, ShaderPaint) and isinstance(paint.shader, PatternShader):
        defs.append(pattern_svg(paint.shader, paint.values, paint.transform, _esc(gid)))
        return f' {which}="url(#{_esc(gid)})"'
    if isinstance(paint, ShaderPaint):
        raise SceneError(f"save_svg: {gid!r} is a ShaderPaint, which SVG cannot "
                         "express; rasterize the scene instead")
    if isinstance(paint, Gradient):
        g = paint
        stops = "".join(f'<stop offset="{_f(o)}" stop-color="{_rgb(c)}" stop-opacity="{_f(np.clip(c[3], 0, 1))}"/>'
                        for o, c in zip(g.offsets, g.colors))
        common = f'id="{_esc(gid)}" gradientUnits="userSpaceOnUse" spreadMethod="{g.spread}"' + \
            (f' gradientTransform="matrix({" ".join(_f(v) for v in g.transform)})"'
             if not np.allclose(g.transform, IDENTITY) else "")
        if g.kind == "linear":
            defs.append(f'<linearGradient {common} x1="{_f(g.start[0])}" y1="{_f(g.start[1])}" '
                        f'x2="{_f(g.end[0])}" y2="{_f(g.end[1])}">{stops}</linearGradient>')
        else:
            defs.append(f'<radialGradient {common} cx="{_f(g.center[0])}" cy="{_f(g.center[1])}" '
                        f'r="{_f(g.radius)}" fx="{_f(g.focal[0])}" fy="{_f(g.focal[1])}">{stops}</radialGradient>')
        return f' {which}="url(#{_esc(gid)})"'
    c = np.asarray(paint)
    return f' {which}="{_rgb(c)}"' + (f' {which}-opacity="{_f(np.clip(c[3], 0, 1))}"' if c[3] < 1 else "")


def _path_d(shape):
    p = shape.geom["points"]
    out, i, a = [], 0, 0
    for kinds, closed in shape.subpaths:
        out.append(f"M{_f(p[i, 0])} {_f(p[i, 1])}")
        i += 1
        for k in kinds:
            if k[0] == "A":
                rx, ry = shape.geom["arc_radii"][a]
                out.append(f"A{_f(rx)} {_f(ry)} {_f(shape.geom['arc_rotation'][a])} {k[1]} {k[2]} "
                           f"{_f(p[i, 0])} {_f(p[i, 1])}")
                i, a = i + 1, a + 1
                continue
            n = SEGMENT_POINTS[k]
            out.append(k + " ".join(f"{_f(p[j, 0])} {_f(p[j, 1])}" for j in range(i, i + n)))
            i += n
        if closed:
            out.append("Z")
    return " ".join(out)


def to_svg_string(scene: VectorScene) -> str:
    defs, body = [], []

    def emit_clip(clip):
        """A ``<clipPath>`` in ``defs`` (user space units, the clip group's transform) for ``clip``."""
        out = []
        for c in clip.children:
            if isinstance(c, Group):
                raise SceneError(f"clip path {clip.id!r}: a group inside a clip path cannot be written as SVG "
                                 "(its content must be shapes)")
            emit(c, 3, out, clip=True)
        nested = f' clip-path="url(#{_esc(clip.clip.id)})"' if clip.clip is not None else ""
        if clip.clip is not None:
            emit_clip(clip.clip)
        defs.append(f'<clipPath id="{_esc(clip.id)}" clipPathUnits="userSpaceOnUse"{_mat(clip.transform)}{nested}>\n'
                    + "\n".join(out) + "\n    </clipPath>")

    def emit_mask(mask, mask_type):
        """A ``<mask>`` in ``defs`` (an unbounded user space region) holding ``mask`` as a group."""
        out = []
        emit(mask, 3, out)
        defs.append(f'<mask id="{_esc(mask.id)}-mask" maskUnits="userSpaceOnUse" x="-1e6" y="-1e6" width="2e6" '
                    f'height="2e6" mask-type="{mask_type}">\n' + "\n".join(out) + "\n    </mask>")

    def emit(node, depth, out, clip=False):
        pad = "  " * depth
        if isinstance(node, Group):
            op = f' opacity="{_f(node.opacity)}"' if node.opacity != 1 else ""
            if node.clip is not None:
                emit_clip(node.clip)
                op += f' clip-path="url(#{_esc(node.clip.id)})"'
            if node.mask is not None:
                emit_mask(node.mask, node.mask_type)
                op += f' mask="url(#{_esc(node.mask.id)}-mask)"'
            out.append(f'{pad}<g id="{_esc(node.id)}"{_mat(node.transform)}{op}>')
            for c in node.children:
                emit(c, depth + 1, out)
            out.append(f"{pad}</g>")
            return
        s = node
        g = s.geom
        if s.kind == "circle":
            head = f'<circle cx="{_f(g["center"][0])}" cy="{_f(g["center"][1])}" r="{_f(g["radius"])}"'
        elif s.kind == "ellipse":
            head = (f'<ellipse cx="{_f(g["center"][0])}" cy="{_f(g["center"][1])}" rx="{_f(g["radius"][0])}" '
                    f'ry="{_f(g["radius"][1])}"')
        elif s.kind == "rect":
            head = (f'<rect x="{_f(g["position"][0])}" y="{_f(g["position"][1])}" width="{_f(g["size"][0])}" '
                    f'height="{_f(g["size"][1])}"')
            if np.any(g["corner_radius"] > 0):
                head += f' rx="{_f(g["corner_radius"][0])}" ry="{_f(g["corner_radius"][1])}"'
        else:
            head = f'<path d="{_path_d(s)}"'
        attrs = (_paint_attr("fill", s.fill, defs, f"{s.id}.fill")
                 + _paint_attr("stroke", s.stroke, defs, f"{s.id}.stroke"))
        if s.stroke is not None:
            attrs += (f' stroke-width="{_f(s.stroke_width)}" stroke-linejoin="{s.join}" stroke-linecap="{s.cap}"'
                      f' stroke-miterlimit="{_f(s.miter_limit)}"')
            if s.dash_array.size:
                attrs += (f' stroke-dasharray="{" ".join(_f(v) for v in s.dash_array)}"'
                          f' stroke-dashoffset="{_f(s.dash_offset)}"')
        if clip:   # a clip path's shape: its geometry and clip rule only
            attrs = f' clip-rule="{s.fill_rule}"' if s.fill_rule != "nonzero" else ""
        elif s.fill_rule != "nonzero":
            attrs += f' fill-rule="{s.fill_rule}"'
        if s.opacity != 1 and not clip:
            attrs += f' opacity="{_f(s.opacity)}"'
        out.append(f'{pad}{head} id="{_esc(s.id)}"{attrs}{_mat(s.transform)}/>')

    emit(scene.root, 1, body)
    w, h = _f(scene.width), _f(scene.height)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">\n')
    d = "  <defs>\n" + "".join(f"    {x}\n" for x in defs) + "  </defs>\n" if defs else ""
    return head + d + "\n".join(body) + "\n</svg>\n"


def save_svg(scene: VectorScene, path) -> str:
    """Write ``scene`` (current parameter values) as an SVG file; returns the path."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(to_svg_string(scene))
    return path
