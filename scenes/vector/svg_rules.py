"""SVG processing rules applied to the raw XML tree before svgelements reads it.

svgelements (https://github.com/meerk40t/svgelements) resolves styles, transforms, ``<use>`` and
the root viewport, but leaves some rules of SVG 1.1 / SVG 2 (https://www.w3.org/TR/SVG2/) unapplied.
:func:`apply_rules` resolves those on the :mod:`xml.etree` tree, in place, and refuses what the vector
rasterizer cannot draw faithfully, so that a document is either drawn as the specification says or
rejected with a :class:`scenes.SceneError` that names the element:

- ``inherit`` on a presentation attribute or ``style`` property takes the parent's value (SVG 2
  section 6.7): for inherited properties the nearest ancestor's, for the others (:data:`NON_INHERITED`)
  the parent's own; none: the property's initial value.
- An invalid length in a geometry attribute (``width="44mmx"``) is ignored, as if not written; a
  negative ``rx``/``ry`` of a rect or ellipse likewise (SVG 2 section 10.4: it becomes ``auto``).
- An ellipse with ``auto`` (missing) ``rx`` or ``ry`` takes the other radius; a rect without a
  width or height is not rendered (SVG 2 sections 10.2, 10.4).
- Percentages in geometry attributes of shapes and ``<use>`` refer to the nearest viewport: its
  width (x, width, cx, rx, x1, x2), height (y, height, cy, ry, y1, y2) or normalized diagonal
  ``sqrt((w^2 + h^2) / 2)`` (r, stroke-width) (SVG 2 section 8.9).
- A nested ``<svg>`` becomes a ``<g>`` holding a ``<g>`` with its viewport transform (x, y,
  width, height, ``viewBox``, ``preserveAspectRatio``; :func:`viewport_group`); a ``<use>`` of a
  ``<svg>`` or ``<symbol>`` becomes a ``<g>`` holding a copy of it as a nested ``<svg>`` (sized by
  the use); its viewport clip (``overflow`` hidden) is recorded in :data:`VIEWPORT_CLIP` for the
  loader to check. ``<symbol>`` elements themselves are not rendered.
- Children of a shape element are not rendered (shapes are not containers); an element SVG does
  not define (or in another namespace) is not rendered, but its content can be referenced. Of
  elements with the same id, the first in document order keeps it. ``x``/``y``/``width``... on a
  group are dropped (svgelements would pass them on to the children); ``inherit`` on a geometry
  attribute is invalid (ignored).
- Path data: a smooth curve command after a command of another kind gets its first control
  point at the current point (:func:`.svg_path.explicit_smooth_controls`).
- Refused: lengths in font or viewport relative units (em, ex, ch, rem, vw, vh, ...),
  ``mix-blend-mode`` other than normal, ``isolation``, ``requiredFeatures`` /
  ``requiredExtensions``, ``context-fill``/``context-stroke`` paints, ``clip-path``/``mask``
  values other than ``url(#id)`` (CSS basic shapes), filters on any element, a ``<use>`` cycle
  through a viewport, ICC colours and a percentage alpha in the comma syntax of ``rgba()`` (CSS
  Color 3 and 4 disagree).
- CSS Color 4 ``rgb()``/``hsl()`` notations (spaces, floats, percentages, alpha) become
  ``#rrggbbaa``; the comma syntax of ``rgb()`` that mixes numbers and percentages is invalid and
  ignored.
- ``systemLanguage`` is evaluated for the user language English (as resvg does): an element whose
  list names no ``en`` / ``en-*`` language is not rendered, the root included (SVG 2 section 5.8.5).
- ``transform-origin`` (CSS Transforms 1) is folded into ``transform`` / ``gradientTransform`` as
  ``translate(o) T translate(-o)``; percentages and keywords refer to the root viewport (the
  SVG default ``transform-box: view-box``).
"""
from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET

import numpy as np

from ..errors import SceneError
from .svg_path import explicit_smooth_controls

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"

GEOMETRY_ATTRIBUTES = {"x", "y", "width", "height", "rx", "ry", "cx", "cy", "r", "x1", "y1", "x2", "y2",
                       "stroke-width"}
_X_LENGTHS = {"x", "width", "cx", "rx", "x1", "x2"}
_Y_LENGTHS = {"y", "height", "cy", "ry", "y1", "y2"}
CONTAINER_TAGS = {"g", "a", "defs", "switch"}
SHAPE_TAGS = {"rect", "circle", "ellipse", "line", "polyline", "polygon", "path"}
RELATIVE_UNITS = ("em", "ex", "ch", "rem", "ic", "cap", "lh", "rlh", "vw", "vh", "vi", "vb", "vmin", "vmax", "q")
_LENGTH = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?(px|mm|cm|in|pt|pc|%)?\s*$")
_RELATIVE = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?(" + "|".join(RELATIVE_UNITS) + r")\s*$",
                       re.IGNORECASE)
# property -> value that means "not used"; any other value is refused
REFUSED_PROPERTIES = {"filter": "none",
                      "mix-blend-mode": "normal", "isolation": "auto"}
#: a reference to an element of the document, ``url(#id)`` (group 1: the id)
REFERENCE = re.compile(r"^url\(\s*['\"]?#([^)'\"]+)['\"]?\s*\)$")
#: properties a child does not inherit: ``inherit`` takes the parent's own value (else the initial one)
NON_INHERITED = {"stop-color", "stop-opacity", "opacity", "display", "overflow", "clip-path", "mask", "filter",
                 "flood-color", "flood-opacity", "lighting-color", "mix-blend-mode", "isolation", "transform-origin",
                 "background-color"}
#: SVG 2 element names (and SVG 1.1 ones still met in files): any other element is not rendered,
#: nor is its content (SVG 2 section 5.9, unknown elements)
SVG_ELEMENTS = {"a", "animate", "animateMotion", "animateTransform", "circle", "clipPath", "defs", "desc",
                "discard", "ellipse", "feBlend", "feColorMatrix", "feComponentTransfer", "feComposite",
                "feConvolveMatrix", "feDiffuseLighting", "feDisplacementMap", "feDistantLight", "feDropShadow",
                "feFlood", "feFuncA", "feFuncB", "feFuncG", "feFuncR", "feGaussianBlur", "feImage", "feMerge",
                "feMergeNode", "feMorphology", "feOffset", "fePointLight", "feSpecularLighting", "feSpotLight",
                "feTile", "feTurbulence", "filter", "foreignObject", "g", "image", "line", "linearGradient",
                "marker", "mask", "metadata", "mpath", "path", "pattern", "polygon", "polyline",
                "radialGradient", "rect", "script", "set", "stop", "style", "svg", "switch", "symbol", "text",
                "textPath", "title", "tspan", "use", "view", "font", "glyph", "missing-glyph", "font-face",
                "altGlyph", "tref", "cursor", "color-profile", "hkern", "vkern", "animateColor"}
CONDITIONAL_ATTRIBUTES = ("requiredFeatures", "requiredExtensions")
USER_LANGUAGE = "en"
_ORIGIN_KEYWORDS = {"left": ("x", 0.0), "right": ("x", 1.0), "top": ("y", 0.0), "bottom": ("y", 1.0),
                    "center": (None, 0.5)}


#: CSS absolute units in px (CSS Values 4: 1in = 96px = 2.54cm = 72pt = 6pc)
UNITS = {"px": 1.0, "mm": 96 / 25.4, "cm": 96 / 2.54, "in": 96.0, "pt": 96 / 72, "pc": 16.0, "q": 96 / 101.6}


def length(s, ref=1.0, default=0.0):
    """A number or length in px: a percentage of ``ref``, or a value in an absolute unit."""
    if s is None:
        return default
    s = str(s).strip()
    try:
        if s.endswith("%"):
            return float(s[:-1]) / 100.0 * ref
        m = re.match(r"^(.*?)([a-zA-Z]*)$", s)
        unit = m.group(2).lower()
        if unit and unit not in UNITS:
            raise SceneError(f"length {s!r}: unit {unit!r} is not supported (use px, mm, cm, in, pt, pc or %)")
        return float(m.group(1)) * UNITS.get(unit, 1.0)
    except ValueError:
        raise SceneError(f"cannot read number {s!r}") from None


_COLOR_FUNCTION = re.compile(r"^(rgba?|hsla?)\(\s*([^)]*)\)$", re.IGNORECASE)


def color_function(v):
    """RGBA of a CSS Color 4 ``rgb()``/``rgba()``/``hsl()``/``hsla()`` value (commas or spaces,
    numbers or percentages, optional ``/ alpha``; channels clamped, hue modulo 360), or None when
    ``v`` is not one or is invalid (the comma-separated legacy syntax does not mix numbers and
    percentages in the channels of ``rgb()``)."""
    m = _COLOR_FUNCTION.match(v)
    if m is None:
        return None
    args = [a for a in re.split(r"[\s,/]+", m.group(2).strip()) if a]
    if len(args) not in (3, 4):
        return None
    is_rgb = m.group(1).lower().startswith("rgb")
    if is_rgb and "," in m.group(2) and len({a.endswith("%") for a in args[:3]}) > 1:
        return None

    def part(a, scale):
        try:
            return float(a[:-1]) / 100.0 if a.endswith("%") else float(a) / scale
        except ValueError:
            return None
    alpha = part(args[3], 1.0) if len(args) == 4 else 1.0
    if is_rgb:
        rgb = [part(a, 255.0) for a in args[:3]]
    else:
        try:
            h = float(re.sub(r"deg$", "", args[0])) % 360.0
        except ValueError:
            return None
        sat, light = part(args[1], 100.0), part(args[2], 100.0)
        if sat is None or light is None:
            return None
        import colorsys
        rgb = list(colorsys.hls_to_rgb(h / 360.0, min(max(light, 0), 1), min(max(sat, 0), 1)))
    if alpha is None or any(c is None for c in rgb):
        return None
    return np.clip(np.array(rgb + [alpha], dtype=np.float64), 0.0, 1.0)


COLOR_PROPERTIES = ("fill", "stroke", "stop-color", "color", "flood-color", "lighting-color")


def _hex_colors(el, decl, where, name):
    """Rewrite CSS Color 4 functional colours of ``el`` (attributes and ``decl``) as ``#rrggbbaa``,
    which svgelements reads exactly; an invalid one is ignored (removed), as an invalid presentation
    value is. Refused: ICC colours and a percentage alpha in the comma-separated syntax, on which
    the specifications disagree."""
    def conv(prop, v):
        v = v.strip()
        if "icc-color(" in v:
            raise SceneError(f"SVG {name}: {where}: {prop}={v!r}: ICC colours (icc-color) are not supported "
                             "(SVG 1.1 draws the sRGB fallback, SVG 2 dropped the syntax)")
        m = _COLOR_FUNCTION.match(v)
        if m is None:
            return v
        args = [a for a in re.split(r"[\s,/]+", m.group(2).strip()) if a]
        if "," in m.group(2) and len(args) == 4 and args[3].endswith("%"):
            raise SceneError(f"SVG {name}: {where}: {prop}={v!r}: a percentage alpha in the comma-separated "
                             "colour syntax is invalid in CSS Color 3 (cited by SVG 2) and valid in CSS Color 4")
        rgba = color_function(v)
        return None if rgba is None else "#" + "".join(f"{int(round(c * 255)):02x}" for c in rgba)
    for prop in COLOR_PROPERTIES:
        if el.get(prop) is not None:
            value = conv(prop, el.get(prop))
            if value is None:
                del el.attrib[prop]
            else:
                el.set(prop, value)
        if prop in decl:
            value = conv(prop, decl[prop])
            if value is None:
                del decl[prop]
            else:
                decl[prop] = value


def local_name(tag) -> str:
    """An element or attribute name without its XML namespace."""
    return tag.split("}", 1)[-1] if isinstance(tag, str) else ""


def style_declarations(el) -> dict:
    """The ``style`` attribute of ``el`` as ``{property: value}``."""
    out = {}
    for part in (el.get("style") or "").split(";"):
        if ":" in part:
            k, v = part.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def _set_style(el, decl):
    if decl:
        el.set("style", "; ".join(f"{k}: {v}" for k, v in decl.items()))
    elif "style" in el.attrib:
        del el.attrib["style"]


def _namespace(tag) -> str:
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def _where(el):
    i = el.get("id")
    return f"<{local_name(el.tag)}{' id=' + repr(i) if i else ''}>"


def _href(el):
    return el.get(f"{{{XLINK_NS}}}href") or el.get("href")


def _origin_component(token, extent, where, name):
    if token in _ORIGIN_KEYWORDS:
        return _ORIGIN_KEYWORDS[token][1] * extent
    m = _LENGTH.match(token)
    if not m or (m.group(3) or "px") not in ("px", "%"):
        raise SceneError(f"SVG {name}: {where}: cannot read transform-origin component {token!r} "
                         "(use keywords, px or %)")
    v = float(token.strip().rstrip("px%"))
    return v / 100.0 * extent if m.group(3) == "%" else v


def _transform_origin(value, viewport, where, name):
    """The point (x, y) that a ``transform-origin`` value names, in user units."""
    tokens = value.split()
    if not 1 <= len(tokens) <= 3:
        raise SceneError(f"SVG {name}: {where}: cannot read transform-origin {value!r}")
    if len(tokens) == 1:
        tokens.append("center")
    a, b = tokens[:2]
    if _ORIGIN_KEYWORDS.get(a, (None,))[0] == "y" or _ORIGIN_KEYWORDS.get(b, (None,))[0] == "x":
        a, b = b, a   # "top left": the vertical keyword first
    return (_origin_component(a, viewport[0], where, name), _origin_component(b, viewport[1], where, name))


def root_viewport(root):
    """(width, height) of the root viewport in user units: the viewBox size, else width/height
    (px only), else 100 x 100."""
    vb = (root.get("viewBox") or "").replace(",", " ").split()
    if len(vb) == 4:
        try:
            return float(vb[2]), float(vb[3])
        except ValueError:
            pass
    try:
        return float(root.get("width", "100").rstrip("px")), float(root.get("height", "100").rstrip("px"))
    except ValueError:
        return 100.0, 100.0


def _language_passes(value):
    langs = [v.strip() for v in value.split(",") if v.strip()]
    return any(v.lower() == USER_LANGUAGE or v.lower().startswith(USER_LANGUAGE + "-") for v in langs)


def apply_rules(root, name="<string>"):
    """Apply the rules listed in the module docstring to the tree under ``root`` (in place)."""
    by_id = {}
    for el in root.iter():
        if el.get("id") in by_id:
            del el.attrib["id"]   # a duplicated id names its first element only (document order)
        elif el.get("id"):
            by_id[el.get("id")] = el
    # viewports that <use> may instantiate, as written (the walk below rewrites the tree in place)
    templates = {i: copy.deepcopy(el) for i, el in by_id.items()
                 if local_name(el.tag) in ("svg", "symbol") and el is not root}
    if style_declarations(root).get("display", root.get("display", "")).strip() == "none":
        for child in list(root):
            root.remove(child)   # nothing is rendered
        root.attrib.pop("display", None)
        _set_style(root, {k: v for k, v in style_declarations(root).items() if k != "display"})
    if root.get("systemLanguage") is not None and not _language_passes(root.get("systemLanguage")):
        for child in list(root):
            root.remove(child)   # conditional processing on the root: nothing is rendered
    _refuse_and_prune(root, root, templates, name, root_viewport(root))
    _resolve_inherit(root, {})


#: attribute of the group made from a viewport (nested ``<svg>``, instance of a ``<symbol>``) that
#: clips its content: the clip rectangle "x y width height" in the group's user space
VIEWPORT_CLIP = "data-penumbra-viewport-clip"
_ALIGNS = {"none"} | {f"x{a}Y{b}" for a in ("Min", "Mid", "Max") for b in ("Min", "Mid", "Max")}


def parse_view_box(value):
    """(x, y, width, height) of a ``viewBox`` value, or None when missing or invalid (SVG 2
    section 8.6: a width or height that is not positive disables the viewBox)."""
    parts = (value or "").replace(",", " ").split()
    try:
        box = [float(v) for v in parts]
    except ValueError:
        return None
    return tuple(box) if len(box) == 4 and box[2] > 0 and box[3] > 0 and all(np.isfinite(box)) else None


def viewbox_matrix(box, width, height, aspect):
    """``(sx, sy, tx, ty)``: the viewBox ``box`` mapped onto the viewport ``width`` x ``height``
    at the origin under ``preserveAspectRatio`` value ``aspect`` (SVG 2 section 8.2, the equivalent
    transform; an invalid value is the initial ``xMidYMid meet``)."""
    parts = (aspect or "").split()
    parts = parts[1:] if parts[:1] == ["defer"] else parts
    align = parts[0] if parts else "xMidYMid"
    mode = parts[1] if len(parts) > 1 else "meet"
    if align not in _ALIGNS or mode not in ("meet", "slice") or len(parts) > 2:
        align, mode = "xMidYMid", "meet"
    vx, vy, vw, vh = box
    sx, sy = width / vw, height / vh
    if align != "none":
        sx = sy = min(sx, sy) if mode == "meet" else max(sx, sy)
    tx, ty = -vx * sx, -vy * sy
    if align != "none":
        tx += {"Min": 0.0, "Mid": 0.5, "Max": 1.0}[align[1:4]] * (width - vw * sx)
        ty += {"Min": 0.0, "Mid": 0.5, "Max": 1.0}[align[5:8]] * (height - vh * sy)
    return sx, sy, tx, ty


def viewport_group(root, el, x, y, width, height):
    """Turn the viewport-establishing element ``el`` (a nested ``<svg>``) into a ``<g>`` (in place)
    holding a ``<g>`` with the viewport transform ``translate(x, y)`` o viewBox map around its
    children (SVG 2 section 8.2). Unless ``overflow`` is ``visible`` or ``auto``, the outer group
    carries the clip rectangle in :data:`VIEWPORT_CLIP`. A viewport of zero size renders nothing.
    Returns the size of the new viewport, the reference of percentages inside it."""
    decl = style_declarations(el)
    overflow = decl.pop("overflow", el.get("overflow", "hidden")).strip()
    box = parse_view_box(el.get("viewBox"))
    aspect = el.get("preserveAspectRatio")
    for a in ("x", "y", "width", "height", "viewBox", "preserveAspectRatio", "overflow"):
        el.attrib.pop(a, None)
    _set_style(el, decl)
    children = list(el)
    for c in children:
        el.remove(c)
    ns = _namespace(root.tag)
    el.tag = f"{{{ns}}}g" if ns else "g"
    if width <= 0 or height <= 0:
        return (0.0, 0.0)
    inner = ET.SubElement(el, el.tag)
    transform = f"translate({x!r} {y!r})"
    if box is not None:
        sx, sy, tx, ty = viewbox_matrix(box, width, height, aspect)
        transform += f" matrix({sx!r} 0 0 {sy!r} {tx!r} {ty!r})"
    inner.set("transform", transform)
    inner.extend(children)
    if overflow not in ("visible", "auto"):
        el.set(VIEWPORT_CLIP, f"{x!r} {y!r} {width!r} {height!r}")
    return (box[2], box[3]) if box is not None else (width, height)


def _instantiate(root, use, ref, viewport):
    """Turn a ``<use>`` of a ``<symbol>`` or ``<svg>`` into a ``<g>`` (in place) translated by the
    use's x, y and holding a copy of the referenced element as a nested ``<svg>``, sized by the
    use's width and height where given (SVG 2 section 5.6.2)."""
    clone = copy.deepcopy(ref)
    ns = _namespace(root.tag)
    for a in ("width", "height"):
        if use.get(a) is not None:
            clone.set(a, use.get(a))
    if local_name(ref.tag) == "symbol":
        clone.tag = f"{{{ns}}}svg" if ns else "svg"
        for a in ("x", "y", "transform"):   # SVG 1.1: a symbol has no transform (resvg ignores it)
            clone.attrib.pop(a, None)
    x, y = length(use.get("x"), viewport[0]), length(use.get("y"), viewport[1])
    transform = (use.get("transform") or "") + (f" translate({x!r} {y!r})" if x or y else "")
    for a in ("x", "y", "width", "height", "href", f"{{{XLINK_NS}}}href", "transform"):
        use.attrib.pop(a, None)
    if transform.strip():
        use.set("transform", transform.strip())
    use.tag = f"{{{ns}}}g" if ns else "g"
    use.append(clone)


def _refuse_and_prune(root, el, templates, name, viewport, stack=()):
    tag = local_name(el.tag)
    where = _where(el)
    if tag == "use":
        ref = templates.get((_href(el) or "#")[1:])
        if ref is not None:
            if ref in stack:
                raise SceneError(f"SVG {name}: {where}: <use> refers to an element that contains it (a cycle)")
            _instantiate(root, el, ref, viewport)
            stack = stack + (ref,)
            tag = "g"
    if tag == "svg" and el is not root:
        x, y = length(el.get("x"), viewport[0]), length(el.get("y"), viewport[1])
        w = length(el.get("width"), viewport[0], viewport[0])
        h = length(el.get("height"), viewport[1], viewport[1])
        viewport = viewport_group(root, el, x, y, w, h)
        tag = "g"
    decl = style_declarations(el)
    for attr in CONDITIONAL_ATTRIBUTES:
        if el.get(attr) is not None:
            raise SceneError(f"SVG {name}: {where}: conditional processing ({attr}) is not supported")
    for prop, neutral in REFUSED_PROPERTIES.items():
        v = decl.get(prop, el.get(prop))
        if v is not None and (neutral is None or v.strip() not in (neutral, "")):
            raise SceneError(f"SVG {name}: {where}: {prop}={v!r} is not supported")
    for prop in ("clip-path", "mask"):
        v = decl.get(prop, el.get(prop))
        if v is not None and v.strip() not in ("none", "") and not REFERENCE.match(v.strip()):
            raise SceneError(f"SVG {name}: {where}: {prop}={v!r} is not supported (only url(#id) references)")
    _hex_colors(el, decl, where, name)
    _set_style(el, decl)
    origin = decl.pop("transform-origin", el.attrib.pop("transform-origin", None))
    if origin is not None:
        _set_style(el, decl)
        ox, oy = _transform_origin(origin, viewport, where, name)
        attr = next((a for a in ("gradientTransform", "patternTransform") if el.get(a)), "transform")
        if el.get(attr):
            el.set(attr, f"translate({ox!r} {oy!r}) {el.get(attr)} translate({-ox!r} {-oy!r})")
    for prop in ("fill", "stroke"):
        v = decl.get(prop, el.get(prop)) or ""
        if v.strip() in ("context-fill", "context-stroke"):
            raise SceneError(f"SVG {name}: {where}: {prop}={v!r} (context paint) is not supported")
    for attr in list(el.attrib):
        a = local_name(attr)
        if a not in GEOMETRY_ATTRIBUTES:
            continue
        if tag in CONTAINER_TAGS and a != "stroke-width":
            del el.attrib[attr]   # no geometry on a group (svgelements would pass it to the children)
            continue
        v = el.get(attr)
        if _RELATIVE.match(v):
            raise SceneError(f"SVG {name}: {where}: {a}={v!r} uses a font- or viewport-relative unit, "
                             "which is not supported (use px, mm, cm, in, pt, pc or %)")
        m = _LENGTH.match(v)
        if not m or (a in ("rx", "ry") and tag in ("rect", "ellipse") and v.strip().startswith("-")):
            del el.attrib[attr]   # invalid value: as if not specified
        elif m.group(3) == "%" and (tag in SHAPE_TAGS or tag == "use"):
            w, h = viewport
            ref = w if a in _X_LENGTHS else h if a in _Y_LENGTHS else ((w * w + h * h) / 2) ** 0.5
            el.set(attr, repr(float(v.strip()[:-1]) / 100.0 * ref))
    if tag == "path" and el.get("d"):
        el.set("d", explicit_smooth_controls(el.get("d")))
    if tag == "rect":
        for a in ("width", "height"):
            if el.get(a) is None:
                el.set(a, "0")   # auto: a rect without a width or height is not rendered
    if tag == "ellipse":
        rx, ry = el.get("rx"), el.get("ry")
        if rx is None and ry is not None:
            el.set("rx", ry)
        elif ry is None and rx is not None:
            el.set("ry", rx)
    for child in list(el):
        ctag = local_name(child.tag)
        if tag in SHAPE_TAGS or ctag == "symbol":
            el.remove(child)   # not rendered
            continue
        if ctag not in SVG_ELEMENTS or _namespace(child.tag) != _namespace(root.tag):
            ns = _namespace(root.tag)
            child.tag = f"{{{ns}}}defs" if ns else "defs"   # unknown: not rendered, its content may be used
        if child.get("systemLanguage") is not None and not _language_passes(child.get("systemLanguage")) \
                and ctag not in ("clipPath", "mask"):   # conditional processing does not apply to these
            el.remove(child)   # conditional processing: not rendered
            continue
        _refuse_and_prune(root, child, templates, name, viewport, stack)


def _resolve_inherit(el, inherited):
    decl = style_declarations(el)
    changed = False
    for prop, v in list(decl.items()):
        if v == "inherit":
            if prop in inherited:
                decl[prop] = inherited[prop]
            else:
                del decl[prop]
            changed = True
    if changed:
        _set_style(el, decl)
    for attr in list(el.attrib):
        if el.get(attr).strip() == "inherit":
            a = local_name(attr)
            if a in GEOMETRY_ATTRIBUTES and a != "stroke-width":
                del el.attrib[attr]   # geometry attributes are not properties: inherit is invalid there
            elif a in inherited:
                el.set(attr, inherited[a])
            else:
                del el.attrib[attr]
    here = {k: v for k, v in inherited.items() if k not in NON_INHERITED}
    here.update({local_name(k): v for k, v in el.attrib.items() if local_name(k) not in ("id", "style", "transform")})
    here.update(decl)
    if "color" in decl or el.get("color") is not None:
        for prop in ("fill", "stroke"):
            if here.get(prop, "").strip() == "currentColor" and prop not in decl and el.get(prop) is None:
                el.set(prop, "currentColor")   # currentColor is inherited as the keyword: use this color
    for child in el:
        _resolve_inherit(child, here)
