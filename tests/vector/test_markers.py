"""Markers (marker-start / marker-mid / marker-end) expanded into placed groups at load time:
placement against resvg (resvg-py) on hand-written files outside resvg's suite (an Inkscape-style
arrow head with overflow visible, auto-start-reverse, mid dots in user space), the vertex and
direction rules, refusals, and the gradient of the marker geometry with respect to the host
path's points (forward and reverse) against central finite differences of the renderer
(the checks of tests/vector/test_gradients.py)."""
import numpy as np
import pytest

from penumbra import renderer

renderer.ensure_variant()

from penumbra.integrators.vector import rasterize  # noqa: E402
from penumbra.scenes.errors import SceneError  # noqa: E402
from penumbra.scenes.vector import load_svg, to_svg_string  # noqa: E402
from penumbra.scenes.vector.markers import path_vertices  # noqa: E402
from tests.scenes_lib import svg  # noqa: E402
from tests.vector.test_gradients import check  # noqa: E402

# Inkscape writes its arrow heads like this: a path in a marker with overflow:visible, scaled by
# the stroke width and turned to the path direction (orient auto), centred by a transform
INKSCAPE_ARROW = '''<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80" viewBox="0 0 120 80">
  <defs>
    <marker style="overflow:visible" id="Arrow1Lend" refX="0" refY="0" orient="auto">
      <path transform="scale(0.8) rotate(180) translate(12.5,0)"
            style="fill:#800000;fill-rule:evenodd;stroke:#800000;stroke-width:1.3333"
            d="M 0,0 5,-5 -12.5,0 5,5 Z"/>
    </marker>
    <marker style="overflow:visible" id="DotM" refX="0" refY="0" orient="auto" markerUnits="userSpaceOnUse">
      <circle r="3" fill="#2060c0"/>
    </marker>
    <marker id="Tri" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="4" markerHeight="4"
            orient="auto-start-reverse">
      <path d="M 0 0 L 10 5 L 0 10 z" fill="#208020"/>
    </marker>
  </defs>
  <path d="M 10,60 C 30,10 60,10 70,40 S 95,70 105,20" fill="none" stroke="#000" stroke-width="1.5"
        style="marker-end:url(#Arrow1Lend);marker-mid:url(#DotM)"/>
  <polyline points="10,75 50,65 90,75" fill="none" stroke="#444" stroke-width="2"
            marker-start="url(#Tri)" marker-end="url(#Tri)"/>
</svg>'''


def test_inkscape_arrow_and_reversed_start_match_resvg():
    from tests.vector.resvg_suite import premultiply, psnr
    from tests.vector.test_forward import resvg_image
    sc = load_svg(INKSCAPE_ARROW)
    groups = [n.id for n, _ in sc.walk() if getattr(n, "placement", None) is not None]
    assert len(groups) == 4   # arrow head, one mid dot (the S vertex), two triangles
    ref = premultiply(resvg_image(INKSCAPE_ARROW))
    img = premultiply(np.array(rasterize(sc, 120, 80, spp=16)))
    assert psnr(img, ref) >= 33.0, f"PSNR {psnr(img, ref):.1f} dB"
    # the expanded markers are plain groups: the saved file renders the same without markers
    again = premultiply(np.array(rasterize(load_svg(to_svg_string(sc)), 120, 80, spp=16)))
    assert psnr(again, img) >= 45.0


def test_vertices_and_directions():
    pts = np.array([[0, 0], [10, 0], [10, 10], [0, 0], [20, 20], [30, 20]], float)
    v = path_vertices([(["L", "L"], True), (["L"], False)], pts)
    # subpath 1: start, two ends (no closing vertex: only the path's last vertex would get one)
    # subpath 2: start, end
    assert [r for r, _, _ in v] == [0, 1, 2, 3, 4]
    row, d_in, d_out = v[2]
    assert np.allclose(d_in.value(pts), [0, 10]) and np.allclose(d_out.value(pts), [-10, -10])
    closed_last = path_vertices([(["L", "L"], True)], pts[:3])
    assert [r for r, _, _ in closed_last] == [0, 1, 2, 0]
    assert np.allclose(closed_last[-1][1].value(pts), [-10, -10])
    # a cubic starting with a coincident control point takes the next one
    cpts = np.array([[0, 0], [0, 0], [5, 5], [10, 0]], float)
    (_, _, d0), _ = path_vertices([(["C"], False)], cpts)
    assert np.allclose(d0.value(cpts), [5, 5])


def test_marker_refusals():
    doc = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><marker id="m" markerWidth="4" '
           'markerHeight="4"><circle cx="2" cy="2" r="{r}"/></marker>{host}</svg>')
    line = '<path d="M5 5 L30 30" stroke="black" marker-end="url(#m)"/>'
    assert len(load_svg(doc.format(r=2, host=line)).shapes()) == 2
    with pytest.raises(SceneError, match="clip"):
        load_svg(doc.format(r=3, host=line))
    with pytest.raises(SceneError, match="markers on <rect>"):
        load_svg(doc.format(r=2, host='<rect width="9" height="9" marker-end="url(#m)"/>'))


MARKED = ('<defs><marker id="a" viewBox="0 0 10 10" refX="2" refY="5" markerWidth="5" markerHeight="5" '
          'orient="auto"><path d="M0 0 L10 5 L0 10 z" fill="#b02020"/></marker></defs>'
          '<path id="p" d="M6 24 L16 9 L27 20" fill="none" stroke="none" stroke-width="2" '
          'marker-mid="url(#a)" marker-end="url(#a)"/>')


def test_marker_placement_follows_host_points_reverse_and_forward():
    # the host path is not drawn: the whole derivative comes from the markers' placement
    # (vertex positions and the tangent directions at them)
    s = svg(MARKED)
    assert not s.params.info(next(k for k in s.params.keys() if "marker" in k and k.endswith(".transform"))
                             ).differentiable
    check(s, "p.points")
    check(s, "p.points", mode="forward")


@pytest.mark.slow
def test_marker_scale_follows_host_stroke_width():
    s = svg(MARKED.replace('stroke="none"', 'stroke="#00000000"'))
    check(s, "p.stroke_width", h=0.05)
