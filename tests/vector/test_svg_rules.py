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


@pytest.mark.parametrize("body, words", [
    ('<svg x="5"><rect width="9" height="9"/></svg>', "nested <svg>"),
    ('<symbol id="s"><rect width="9" height="9"/></symbol><use id="u" href="#s"/>', "<use id='u'>"),
    ('<rect id="q" width="2em" height="9"/>', "relative unit"),
    ('<g id="g" clip-path="url(#c)"><rect width="9" height="9"/></g>', "<g id='g'>: clip-path"),
    ('<rect id="m" width="9" height="9" style="mix-blend-mode: multiply"/>', "mix-blend-mode"),
    ('<path id="p" d="M0 0 H9" stroke="context-stroke"/>', "context paint"),
])
def test_refusals_name_the_element(body, words):
    with pytest.raises(SceneError, match=words.replace("(", r"\(").replace("[", r"\[")):
        load_svg(doc(body))
