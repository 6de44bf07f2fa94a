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
- Percentages in geometry attributes of shapes and ``<use>`` refer to the root viewport: its width
  (x, width, cx, rx, x1, x2), height (y, height, cy, ry, y1, y2) or normalized diagonal
  ``sqrt((w^2 + h^2) / 2)`` (r, stroke-width) (SVG 2 section 8.9).
- Children of a shape element are not rendered (shapes are not containers); an unreferenced
  ``<symbol>`` is not rendered.
- Refused: nested ``<svg>`` viewports, ``<use>`` of ``<svg>`` or ``<symbol>``, lengths in font or
  viewport relative units (em, ex, ch, rem, vw, vh, ...), ``mix-blend-mode`` other than normal,
  ``isolation``, ``requiredFeatures`` / ``requiredExtensions``, ``context-fill``/``context-stroke``
  paints, references to clip paths, masks, filters and markers on any element.
- CSS Color 4 ``rgb()``/``hsl()`` notations (spaces, floats, percentages, alpha) become ``#rrggbbaa``.
- ``systemLanguage`` is evaluated for the user language English (as resvg does): an element whose
  list names no ``en`` / ``en-*`` language is not rendered (SVG 2 section 5.8.5).
- ``transform-origin`` (CSS Transforms 1) is folded into ``transform`` / ``gradientTransform`` as
  ``translate(o) T translate(-o)``; percentages and keywords refer to the root viewport (the
  SVG default ``transform-box: view-box``).
"""
from __future__ import annotations

import re

import numpy as np

from ..errors import SceneError

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"

GEOMETRY_ATTRIBUTES = {"x", "y", "width", "height", "rx", "ry", "cx", "cy", "r", "x1", "y1", "x2", "y2",
                       "stroke-width"}
_X_LENGTHS = {"x", "width", "cx", "rx", "x1", "x2"}
_Y_LENGTHS = {"y", "height", "cy", "ry", "y1", "y2"}
SHAPE_TAGS = {"rect", "circle", "ellipse", "line", "polyline", "polygon", "path"}
RELATIVE_UNITS = ("em", "ex", "ch", "rem", "ic", "cap", "lh", "rlh", "vw", "vh", "vi", "vb", "vmin", "vmax", "q")
_LENGTH = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?(px|mm|cm|in|pt|pc|%)?\s*$")
_RELATIVE = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?(" + "|".join(RELATIVE_UNITS) + r")\s*$",
                       re.IGNORECASE)
# property -> value that means "not used"; any other value is refused
REFUSED_PROPERTIES = {"clip-path": "none", "mask": "none", "filter": "none", "marker-start": "none",
                      "marker-mid": "none", "marker-end": "none", "marker": "none",
                      "mix-blend-mode": "normal", "isolation": "auto"}
#: properties a child does not inherit: ``inherit`` takes the parent's own value (else the initial one)
NON_INHERITED = {"stop-color", "stop-opacity", "opacity", "display", "overflow", "clip-path", "mask", "filter",
                 "flood-color", "flood-opacity", "lighting-color", "mix-blend-mode", "isolation", "transform-origin",
                 "background-color"}
CONDITIONAL_ATTRIBUTES = ("requiredFeatures", "requiredExtensions")
USER_LANGUAGE = "en"
_ORIGIN_KEYWORDS = {"left": ("x", 0.0), "right": ("x", 1.0), "top": ("y", 0.0), "bottom": ("y", 1.0),
                    "center": (None, 0.5)}


_COLOR_FUNCTION = re.compile(r"^(rgba?|hsla?)\(\s*([^)]*)\)$", re.IGNORECASE)


def color_function(v):
    """RGBA of a CSS Color 4 ``rgb()``/``rgba()``/``hsl()``/``hsla()`` value (commas or spaces,
    numbers or percentages, optional ``/ alpha``; channels clamped, hue modulo 360), or None."""
    m = _COLOR_FUNCTION.match(v)
    if m is None:
        return None
    args = [a for a in re.split(r"[\s,/]+", m.group(2).strip()) if a]
    if len(args) not in (3, 4):
        return None

    def part(a, scale):
        try:
            return float(a[:-1]) / 100.0 if a.endswith("%") else float(a) / scale
        except ValueError:
            return None
    alpha = part(args[3], 1.0) if len(args) == 4 else 1.0
    if m.group(1).lower().startswith("rgb"):
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


def _hex_colors(el, decl):
    """Rewrite CSS Color 4 functional colours of ``el`` (attributes and ``decl``) as ``#rrggbbaa``,
    which svgelements reads exactly."""
    def conv(v):
        rgba = color_function(v.strip()) if v else None
        return "#" + "".join(f"{int(round(c * 255)):02x}" for c in rgba) if rgba is not None else v
    for prop in COLOR_PROPERTIES:
        if el.get(prop) is not None:
            el.set(prop, conv(el.get(prop)))
        if prop in decl:
            decl[prop] = conv(decl[prop])


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
    by_id = {el.get("id"): el for el in root.iter() if el.get("id")}
    used = {_href(el)[1:] for el in root.iter() if local_name(el.tag) == "use" and (_href(el) or "").startswith("#")}
    if style_declarations(root).get("display", root.get("display", "")).strip() == "none":
        for child in list(root):
            root.remove(child)   # nothing is rendered
        root.attrib.pop("display", None)
        _set_style(root, {k: v for k, v in style_declarations(root).items() if k != "display"})
    _refuse_and_prune(root, root, by_id, used, name, root_viewport(root))
    _resolve_inherit(root, {})


def _refuse_and_prune(root, el, by_id, used, name, viewport):
    tag = local_name(el.tag)
    where = _where(el)
    if tag == "svg" and el is not root:
        raise SceneError(f"SVG {name}: {where}: nested <svg> viewports are not supported")
    if tag == "use":
        ref = by_id.get((_href(el) or "#")[1:])
        if ref is not None and local_name(ref.tag) in ("svg", "symbol"):
            raise SceneError(f"SVG {name}: {where}: <use> of a <{local_name(ref.tag)}> element is not supported")
    decl = style_declarations(el)
    for attr in CONDITIONAL_ATTRIBUTES:
        if el.get(attr) is not None:
            raise SceneError(f"SVG {name}: {where}: conditional processing ({attr}) is not supported")
    for prop, neutral in REFUSED_PROPERTIES.items():
        v = decl.get(prop, el.get(prop))
        if v is not None and (neutral is None or v.strip() not in (neutral, "")):
            raise SceneError(f"SVG {name}: {where}: {prop}={v!r} is not supported")
    _hex_colors(el, decl)
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
        if tag in SHAPE_TAGS or (ctag == "symbol" and child.get("id") not in used):
            el.remove(child)   # not rendered
            continue
        if child.get("systemLanguage") is not None and not _language_passes(child.get("systemLanguage")):
            el.remove(child)   # conditional processing: not rendered
            continue
        _refuse_and_prune(root, child, by_id, used, name, viewport)


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
            if a in inherited:
                el.set(attr, inherited[a])
            else:
                del el.attrib[attr]
    here = {k: v for k, v in inherited.items() if k not in NON_INHERITED}
    here.update({local_name(k): v for k, v in el.attrib.items() if local_name(k) not in ("id", "style", "transform")})
    here.update(decl)
    for child in el:
        _resolve_inherit(child, here)
