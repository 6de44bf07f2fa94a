"""The CSS cascade of an SVG document, resolved into each element's ``style`` attribute.

Style sheets (``<style>`` elements, ``type`` text/css or absent) are parsed with tinycss2 and their
selectors matched with cssselect2 (the CSS parser and matcher of CairoSVG and WeasyPrint, selectors
level 3 with specificity). :func:`apply_style_sheets` writes the cascaded declarations into every
element's ``style`` attribute and removes the ``<style>`` elements, so later readers (svgelements)
see the result of the cascade only. Order of precedence (CSS Cascade 4, SVG 2 section 6.3):
presentation attributes < style sheet rules by (specificity, document order) < inline ``style``
< ``!important`` sheet rules < ``!important`` inline declarations. Geometry properties (x, y, width,
height, r, ...) set from CSS are ignored, as in SVG 1.1 (SVG 2 allows them; resvg does not).
"""
from __future__ import annotations

from .svg_rules import local_name

GEOMETRY_PROPERTIES = {"x", "y", "width", "height", "r", "rx", "ry", "cx", "cy", "x1", "y1", "x2", "y2", "d",
                       "points"}


def _declarations(tokens):
    """``[(name, value, important)]`` of a declaration list (tinycss2 tokens or a string)."""
    import tinycss2
    out = []
    for d in tinycss2.parse_blocks_contents(tokens, skip_comments=True, skip_whitespace=True):
        if d.type != "declaration":
            continue
        name = d.lower_name
        if name in GEOMETRY_PROPERTIES:
            continue
        out.append((name, tinycss2.serialize(d.value).strip(), bool(d.important)))
    return out


def inline_declarations(el) -> list:
    """The declarations of ``el``'s ``style`` attribute, comments removed."""
    return _declarations(el.get("style") or "")


def apply_style_sheets(root):
    """Cascade the document's style sheets and inline styles into ``style`` attributes (in place)."""
    import cssselect2
    import tinycss2
    sheets = [el for el in root.iter() if local_name(el.tag) == "style"
              and (el.get("type") or "text/css").strip().lower() in ("text/css", "")]
    matcher = cssselect2.Matcher()
    order = 0
    for sheet in sheets:
        for rule in tinycss2.parse_stylesheet(sheet.text or "", skip_comments=True, skip_whitespace=True):
            if rule.type != "qualified-rule":
                continue   # at-rules (@media, @import ...) and parse errors: not applied
            try:
                selectors = cssselect2.compile_selector_list(rule.prelude)
            except cssselect2.SelectorError:
                continue   # an invalid selector drops its rule (CSS Syntax 3)
            decls = _declarations(rule.content)
            for sel in selectors:
                matcher.add_selector(sel, (order, decls))
                order += 1
    parents = {c: p for p in root.iter() for c in p}
    for wrapper in cssselect2.ElementWrapper.from_xml_root(root).iter_subtree():
        el = wrapper.etree_element
        cascaded = {}   # name -> (rank, value)
        if sheets:
            for specificity, order_, _pseudo, (rule_order, decls) in matcher.match(wrapper):
                for name, value, important in decls:
                    rank = (2 if important else 0, specificity, rule_order)
                    if name not in cascaded or rank >= cascaded[name][0]:
                        cascaded[name] = (rank, value)
        if el.get("style") is not None:
            for name, value, important in inline_declarations(el):
                rank = (3 if important else 1, (0, 0, 0), 0)
                if name not in cascaded or rank >= cascaded[name][0]:
                    cascaded[name] = (rank, value)
        if cascaded:
            el.set("style", "; ".join(f"{k}: {v}" for k, (_, v) in cascaded.items()))
        elif "style" in el.attrib:
            del el.attrib["style"]
    for sheet in sheets:
        parents[sheet].remove(sheet)
    for el in root.iter():
        if local_name(el.tag) == "style":
            el.text = ""   # a style sheet of another type: not applied
