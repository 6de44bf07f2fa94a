"""The SVG processing rules load_svg applies before svgelements (scenes/vector/svg_rules.py,
svg_css.py), checked on the loaded scene: CSS cascade order, inherit, invalid values, units,
transform-origin, systemLanguage, colour functions, and refusals that name the element."""
import numpy as np
import pytest

from penumbra.scenes.errors import SceneError
from penumbra.scenes.vector import load_svg


def doc(body, extra=""):
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" {extra}>{body}</svg>'


def fill_of(text, i=0):
    return np.round(load_svg(text).shapes()[i].fill, 3)


def test_css_cascade_specificity_important_and_inline():
    sheet = ('<style>#r { fill: red } rect { fill: blue } .a.b { fill: lime !important } '
             'g > rect[data-x="1"] { stroke: black }</style>')
    assert np.allclose(fill_of(doc(sheet + '<rect id="r" width="9" height="9"/>')), [1, 0, 0, 1])
    assert np.allclose(fill_of(doc(sheet + '<rect id="r" width="9" height="9" style="fill: #00f"/>')), [0, 0, 1, 1])
    assert np.allclose(fill_of(doc(sheet + '<rect id="r" class="a b" width="9" height="9" style="fill: #00f"/>')),
                       [0, 1, 0, 1])
    s = load_svg(doc(sheet + '<g><rect data-x="1" width="9" height="9"/></g>')).shapes()[0]
    assert s.stroke is not None and np.allclose(s.stroke, [0, 0, 0, 1])


def test_inherit_opacity_clamp_and_colour_functions():
    assert np.allclose(fill_of(doc('<g fill="#008000"><rect fill="inherit" width="9" height="9"/></g>')),
                       [0, 0.502, 0, 1])
    s = load_svg(doc('<rect width="9" height="9" opacity="3" fill-opacity="-1"/>')).shapes()[0]
    assert float(s.opacity) == 1.0 and s.fill[3] == 0.0
    assert np.allclose(fill_of(doc('<rect width="9" height="9" fill="rgb(0.8, 127.5, 14.2)"/>')),
                       np.round([1 / 255, 128 / 255, 14 / 255, 1], 3))
    assert np.allclose(fill_of(doc('<rect width="9" height="9" fill="hsl(120 100% 25% / 0.5)"/>')),
                       [0, 0.502, 0, 0.502])


def test_invalid_lengths_auto_radii_and_transform_origin():
    # an invalid width is ignored (as if missing: not rendered); a negative ellipse rx is auto (= ry)
    assert load_svg(doc('<rect width="44mmx" height="9"/>')).shapes() == []
    e = load_svg(doc('<ellipse cx="50" cy="50" rx="-5" ry="20"/>')).shapes()[0]
    assert np.allclose(e.geom["radius"], [20, 20])
    r = load_svg(doc('<rect width="10" height="10" transform="scale(2)" transform-origin="50 50"/>')).shapes()[0]
    assert np.allclose(r.transform, [2, 0, 0, 2, -50, -50])


def test_system_language_and_unused_symbol():
    s = load_svg(doc('<rect systemLanguage="ru" width="9" height="9"/><rect systemLanguage="en-GB" id="k" '
                     'width="9" height="9"/><symbol id="s"><rect width="9" height="9"/></symbol>'))
    assert [x.id for x in s.shapes()] == ["k"]


def test_smooth_curves_after_other_commands_start_at_the_current_point():
    # SVG 2 9.3.6/9.3.7: T after M and S after T take the current point as their first control point
    p = load_svg(doc('<path d="M 30 30 T 40 70 S 70 70 70 30" stroke="black" fill="none"/>')).shapes()[0]
    assert [k for k, _ in p.subpaths] == [["Q", "C"]]
    assert np.allclose(p.geom["points"], [[30, 30], [30, 30], [40, 70], [40, 70], [70, 70], [70, 30]])
    q = load_svg(doc('<path d="M 0 0 t 10 10 s 5 0 10 -10" fill="none" stroke="black"/>')).shapes()[0]
    assert np.allclose(q.geom["points"], [[0, 0], [0, 0], [10, 10], [10, 10], [15, 10], [20, 0]])
    # after a curve of its own kind the control point is still reflected
    r = load_svg(doc('<path d="M0 0 C 0 10 10 10 10 0 S 20 -10 20 0" stroke="black"/>')).shapes()[0]
    assert np.allclose(r.geom["points"][4], [10, -10])


def test_current_color_duplicated_ids_unknown_elements_and_group_geometry():
    # currentColor is inherited as the keyword: resolved with the color of the element that uses it
    assert np.allclose(fill_of(doc('<g fill="currentColor"><g color="#008000"><rect width="9" height="9"/>'
                                   '</g></g>')), [0, 0.502, 0, 1])
    # a duplicated id names the first element; <use> draws that one
    s = load_svg(doc('<defs><rect id="r" width="9" height="9" fill="#008000"/><rect id="r" width="9" height="9" '
                     'fill="red"/></defs><use href="#r"/>'))
    assert len(s.shapes()) == 1 and np.allclose(np.round(s.shapes()[0].fill, 3), [0, 0.502, 0, 1])
    # content of an unknown element is not rendered
    assert [x.id for x in load_svg(doc('<rect id="a" width="9" height="9"/><random><rect id="b" width="9" '
                                       'height="9"/></random>')).shapes()] == ["a"]
    # x/y on a group do not reach its children, and inherit is invalid on a geometry attribute
    r = load_svg(doc('<g x="20" y="20"><rect x="inherit" width="9" height="9"/></g>')).shapes()[0]
    assert np.allclose(r.geom["position"], [0, 0])
    # systemLanguage on the root: nothing is rendered
    assert load_svg(doc('<rect width="9" height="9"/>', 'systemLanguage="ru"')).shapes() == []


def test_colour_syntax_rules_and_background():
    # the comma syntax of rgb() does not mix numbers and percentages: invalid, so ignored (black)
    assert np.allclose(fill_of(doc('<rect width="9" height="9" fill="rgba(0, 50%, 0, 0.5)"/>')), [0, 0, 0, 1])
    s = load_svg(doc('<rect id="r" width="9" height="9"/>', 'viewBox="-50 -50 200 200" '
                     'style="background-color: #0000ff80"'))
    bg = s.shapes()[0]
    assert bg.kind == "rect" and np.allclose(bg.geom["position"], [-50, -50]) and np.allclose(bg.geom["size"], 200)
    assert np.allclose(np.round(bg.fill, 3), [0, 0, 1, 0.502]) and s.shapes()[1].id == "r"


@pytest.mark.parametrize("body, words", [
    ('<symbol id="s"><use id="u" href="#s"/></symbol><use href="#s"/>', "<use id='u'>: <use> refers to an element"),
    ('<rect id="q" width="2em" height="9"/>', "relative unit"),
    ('<g id="g" clip-path="circle(5px)"><rect width="9" height="9"/></g>', "<g id='g'>: clip-path"),
    ('<mask id="a" mask="url(#b)"/><mask id="b" mask="url(#a)"/><rect id="r" width="9" height="9" mask="url(#a)"/>',
     "<rect id='r'>: mask 'b': its mask refers back"),
    ('<rect id="m" width="9" height="9" style="mix-blend-mode: multiply"/>', "mix-blend-mode"),
    ('<path id="p" d="M0 0 H9" stroke="context-stroke"/>', "context paint"),
    ('<rect id="i" width="9" height="9" fill="red icc-color(x, 0.1, 0.2, 0.3)"/>', "icc-color"),
    ('<rect id="a" width="9" height="9" fill="rgba(0, 127, 0, 50%)"/>', "percentage alpha"),
    ('<radialGradient id="g" gradientUnits="userSpaceOnUse" cx="10" cy="10" r="5" fx="30"><stop offset="0"/>'
     '<stop offset="1" stop-color="red"/></radialGradient><rect width="9" height="9" fill="url(#g)"/>',
     "focal point outside"),
])
def test_refusals_name_the_element(body, words):
    with pytest.raises(SceneError, match=words.replace("(", r"\(").replace("[", r"\[")):
        load_svg(doc(body))


def test_nested_viewports_and_symbol_instances():
    # nested <svg>: translate(x, y), then the viewBox onto width x height (xMidYMid meet: scale 0.5,
    # centred vertically); percentages inside refer to the nested viewport
    s = load_svg(doc('<svg x="10" y="20" width="40" height="60" viewBox="0 0 80 80"><circle cx="50%" cy="40" '
                     'r="40"/></svg>'))
    c = s.shapes()[0]
    assert np.allclose(c.geom["center"], [40, 40])
    total = _compose(s, c)
    assert np.allclose(total, [0.5, 0, 0, 0.5, 10, 30])
    # <use> of a <symbol>: the use's x, y and size; preserveAspectRatio="none" scales each axis
    s = load_svg(doc('<symbol id="s" viewBox="0 0 10 10" preserveAspectRatio="none"><rect width="10" '
                     'height="10"/></symbol><use href="#s" x="5" y="5" width="20" height="40"/>'))
    assert np.allclose(_compose(s, s.shapes()[0]), [2, 0, 0, 4, 5, 5])
    # overflow="visible": content beyond the viewport is drawn, no clip needed
    s = load_svg(doc('<svg width="10" height="10" overflow="visible"><rect width="30" height="30"/></svg>'))
    assert np.allclose(s.shapes()[0].geom["size"], [30, 30])
    # overflow hidden (the default): the viewport rectangle clips the content
    s = load_svg(doc('<svg x="2" width="10" height="10"><rect width="30" height="30"/></svg>'))
    outer = s.root.children[0]
    assert len(s.shapes()) == 1 and outer.clip is not None
    assert np.allclose(outer.clip.children[0].geom["size"], [10, 10])


def _compose(scene, shape):
    """The product of the transforms from the scene root down to ``shape`` (a, b, c, d, e, f)."""
    def mul(p, q):
        a, b, c, d, e, f = p
        return [a * q[0] + c * q[1], b * q[0] + d * q[1], a * q[2] + c * q[3], b * q[2] + d * q[3],
                a * q[4] + c * q[5] + e, b * q[4] + d * q[5] + f]

    def find(node, acc):
        acc = mul(acc, node.transform)
        if node is shape:
            return acc
        for child in getattr(node, "children", []):
            out = find(child, acc)
            if out is not None:
                return out
        return None
    return find(scene.root, [1, 0, 0, 1, 0, 0])


def test_a_document_without_any_size_is_refused():
    with pytest.raises(SceneError, match="no width, height or viewBox"):
        load_svg('<svg xmlns="http://www.w3.org/2000/svg"><rect width="9" height="9"/></svg>')
