"""Dashed strokes (stroke-dasharray / stroke-dashoffset): images against resvg (resvg-py), the SVG
round trip, and gradients with respect to the dash offset, the dash lengths and the dashed
geometry against central finite differences (the checks of tests/vector/test_gradients.py)."""
import numpy as np
import pytest

from penumbra import renderer

renderer.ensure_variant()

from penumbra.integrators.vector import rasterize  # noqa: E402
from penumbra.scenes.errors import SceneError  # noqa: E402
from penumbra.scenes.vector import load_svg, path, to_svg_string  # noqa: E402
from tests.scenes_lib import svg  # noqa: E402
from tests.vector.test_gradients import check  # noqa: E402

DASHED = {
    # line, even pattern with offset; odd pattern repeats twice
    "line": '<path d="M10 20 H90" stroke="#204080" stroke-width="6" stroke-dasharray="12 5" '
            'stroke-dashoffset="3" fill="none"/>',
    "odd": '<path d="M10 40 H90" stroke="black" stroke-width="4" stroke-dasharray="9 3 5" fill="none"/>',
    # corners inside dashes keep their joins; closed subpath's closing segment is dashed
    "polygon": '<polygon points="20,50 80,55 60,90" stroke="#a03010" stroke-width="5" stroke-linejoin="round" '
               'stroke-dasharray="25 8" fill="none"/>',
    # curves, round caps, negative offset, percentages of the viewport diagonal
    "circle": '<circle cx="50" cy="50" r="30" stroke="green" stroke-width="5" stroke-linecap="round" '
              'stroke-dasharray="10% 4%" stroke-dashoffset="-7" fill="none"/>',
    "zero-dots": '<path d="M10 80 H90" stroke="black" stroke-width="6" stroke-linecap="round" '
                 'stroke-dasharray="0 10" fill="none"/>',
}


def doc(body):
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">{body}</svg>'


@pytest.mark.parametrize("name", sorted(DASHED))
def test_dashes_match_resvg(name):
    from tests.vector.resvg_suite import premultiply, psnr
    from tests.vector.test_forward import resvg_image
    text = doc(DASHED[name])
    ref = premultiply(resvg_image(text))
    img = premultiply(np.array(rasterize(load_svg(text), 100, 100, spp=16)))
    assert psnr(img, ref) >= 33.0, f"{name}: PSNR {psnr(img, ref):.1f} dB"


def test_dash_round_trip_and_invalid_lists():
    sc = load_svg(doc(DASHED["odd"]))
    shape = sc.shapes()[0]
    assert np.allclose(shape.dash_array, [9, 3, 5]) and "path0.dash_offset" in sc.params
    again = load_svg(to_svg_string(sc)).shapes()[0]
    assert np.allclose(again.dash_array, [9, 3, 5])
    # SVG: a negative entry or a zero sum leaves the stroke solid
    for bad in ("5 -1", "0 0", "5 x"):
        s = load_svg(doc(f'<path d="M0 0 H9" stroke="black" stroke-dasharray="{bad}"/>')).shapes()[0]
        assert s.dash_array.size == 0
    with pytest.raises(SceneError, match="dash_array"):
        path("p", [[0, 0], [9, 0]], "L", stroke=[0, 0, 0], dash_array=[3, -1])


SCENE = ('<path id="p" d="M3 6 L29 8 L20 29" stroke="#102040" stroke-width="6" fill="none" '
         'stroke-dasharray="9 4" stroke-dashoffset="2.2"/>')


def test_dash_offset_gradient_reverse_and_forward():
    s = svg(SCENE)
    check(s, "p.dash_offset")
    check(s, "p.dash_offset", mode="forward")


@pytest.mark.slow
def test_dash_lengths_and_dashed_points_gradients():
    s = svg(SCENE)
    check(s, "p.dash_array")
    check(s, "p.points")
