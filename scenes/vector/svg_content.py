"""The content of a ``<marker>`` or ``<pattern>`` parsed on its own by svgelements (which does
not keep it in the document tree): a small document holding copies of the content, the
elements its ``<use>`` elements refer to, and the inherited properties of the content's
original place (properties inherit from the element's ancestors, not from where it is used)."""
from __future__ import annotations

import copy
import io
import xml.etree.ElementTree as ET

from ..errors import SceneError
from .svg_rules import SVG_NS, XLINK_NS, local_name, style_declarations

#: inherited properties passed from the container's ancestors to its content
INHERITED = ("fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity", "stroke-linecap",
             "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset", "color", "visibility")


def inherited(loader, container) -> dict:
    """Inherited property values at ``container`` (its ancestors' and its own)."""
    return inherited_values(loader.parents, container)


def inherited_values(parents: dict, element, properties=INHERITED) -> dict:
    """Values of ``properties`` that ``element`` declares or inherits from its ancestors (``parents``:
    element -> parent), a ``style`` declaration winning over an attribute, the nearest element
    winning over its ancestors."""
    chain, el = [], element
    while el is not None:
        chain.append(el)
        el = parents.get(el)
    props = {}
    for e in reversed(chain):
        decl = style_declarations(e)
        for p in properties:
            v = decl.get(p, e.get(p))
            if v is not None:
                props[p] = v
    return props


def referenced(loader, content):
    """A ``<defs>`` with copies of the elements that ``<use>`` elements in ``content`` refer to
    (transitively), so that the content parsed on its own finds them."""
    defs, seen, todo = ET.Element(f"{{{SVG_NS}}}defs"), set(), [content]
    while todo:
        for e in todo.pop().iter():
            if local_name(e.tag) != "use":
                continue
            href = e.get("href") or e.get(f"{{{XLINK_NS}}}href") or ""
            ref = loader.by_id.get(href[1:]) if href.startswith("#") else None
            if ref is not None and href not in seen:
                seen.add(href)
                ref = copy.deepcopy(ref)
                defs.append(ref)
                todo.append(ref)
    return defs


def content_svg(loader, container, children, what):
    """svgelements' parse of ``children`` (XML elements) with the properties inherited at
    ``container``; ``what`` names the content in errors."""
    import svgelements as se
    wrapper = ET.Element(f"{{{SVG_NS}}}g", inherited(loader, container))
    for child in children:
        wrapper.append(copy.deepcopy(child))
    doc = ET.Element(f"{{{SVG_NS}}}svg", {"width": "1", "height": "1"})
    doc.append(referenced(loader, wrapper))
    doc.append(wrapper)
    try:
        return se.SVG.parse(io.StringIO(ET.tostring(doc, encoding="unicode")), reify=False)
    except Exception as e:
        raise SceneError(f"{what}: cannot parse its content: {e}") from None
