"""Clip paths and masks: images of hand-written SVG files (an Inkscape-style clipped group, an icon
with a mask, a nested viewport's overflow clip) against resvg (resvg-py), the SVG round trip, the
model's rules, and gradients with respect to clip-path points and mask opacity against central
finite differences (the checks of tests/vector/test_gradients.py)."""
import numpy as np
import pytest

from penumbra import renderer

renderer.ensure_variant()

from penumbra.integrators.vector import rasterize  # noqa: E402
from penumbra.scenes.errors import SceneError  # noqa: E402
from penumbra.scenes.vector import load_svg, to_svg_string  # noqa: E402
from penumbra.scenes.vector.model import Group, VectorScene, circle, polygon, rect  # noqa: E402
from tests.scenes_lib import svg  # noqa: E402
from tests.vector.test_gradients import check  # noqa: E402

XLINK = 'xmlns:xlink="http://www.w3.org/1999/xlink"'

FILES = {
    # Inkscape: a clipPath in <defs> with a transform, on a translated group, a <use> inside it
    "inkscape-clipped-group": f'''<svg xmlns="http://www.w3.org/2000/svg" {XLINK} width="100" height="100"
     viewBox="0 0 50 50"><defs><path id="star" d="M25 3 L31 19 L48 19 L34 29 L39 46 L25 36 L11 46 L16 29 L2 19 L19 19 Z"/>
     <clipPath id="clipPath817" clipPathUnits="userSpaceOnUse" transform="translate(-5 -3)">
     <use xlink:href="#star" transform="rotate(10 25 25)"/><circle cx="42" cy="10" r="6"/></clipPath></defs>
     <g id="layer1" transform="translate(4 2)" clip-path="url(#clipPath817)">
     <rect x="0" y="0" width="50" height="25" fill="#3366cc"/><rect x="0" y="25" width="50" height="25" fill="#cc6633"/>
     <circle cx="20" cy="25" r="12" fill="none" stroke="#222" stroke-width="3"/></g></svg>''',
    # an icon: a badge whose notch is cut by a luminance mask (white keeps, black removes), a
    # gradient fading it out, and an evenodd clip in bounding-box units on a second shape
    "icon-mask": '''<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 24 24">
     <defs><linearGradient id="fade" x1="0" x2="1"><stop offset="0" stop-color="#fff"/>
     <stop offset="1" stop-color="#fff" stop-opacity="0.2"/></linearGradient>
     <mask id="notch"><rect width="24" height="24" fill="url(#fade)"/><circle cx="18" cy="6" r="5" fill="#000"/>
     <circle cx="6" cy="18" r="3" fill="#808080"/></mask>
     <clipPath id="ring" clipPathUnits="objectBoundingBox" clip-rule="evenodd">
     <path d="M0 0.5 A0.5 0.5 0 1 0 1 0.5 A0.5 0.5 0 1 0 0 0.5 Z M0.25 0.5 A0.25 0.25 0 1 0 0.75 0.5
      A0.25 0.25 0 1 0 0.25 0.5 Z"/></clipPath></defs>
     <rect x="2" y="2" width="20" height="20" rx="4" fill="#1e88e5" mask="url(#notch)"/>
     <rect x="13" y="1" width="10" height="10" fill="#e53935" clip-path="url(#ring)"/></svg>''',
    # an alpha mask on a group with opacity, and a nested <svg> whose viewport clips its content
    "alpha-mask-viewport": '''<svg xmlns="http://www.w3.org/2000/svg" width="80" height="80">
     <mask id="m" mask-type="alpha" maskUnits="userSpaceOnUse" x="0" y="0" width="60" height="80">
     <rect width="80" height="80" fill="#000" fill-opacity="0.6"/></mask>
     <g opacity="0.8" mask="url(#m)"><circle cx="30" cy="30" r="25" fill="green"/></g>
     <svg x="40" y="40" width="30" height="30" viewBox="0 0 10 10"><circle cx="5" cy="5" r="7" fill="purple"/></svg>
     </svg>''',
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_clip_and_mask_files_match_resvg(name):
    from tests.vector.resvg_suite import premultiply, psnr
    from tests.vector.test_forward import resvg_image
    ref = premultiply(resvg_image(FILES[name]))
    scene = load_svg(FILES[name])
    img = premultiply(np.array(rasterize(scene, ref.shape[1], ref.shape[0], spp=16)))
    assert psnr(img, ref) >= 33.0, f"{name}: PSNR {psnr(img, ref):.1f} dB"
    # written back (clip paths and masks in user space units), resvg draws the same picture
    again = premultiply(resvg_image(to_svg_string(scene)))
    assert psnr(again, ref) >= 40.0, f"{name} written back: PSNR {psnr(again, ref):.1f} dB"


def test_clip_and_mask_rules():
    W = 24
    # clip: the union of the clip shapes; its transform; evenodd as the clip rule
    sc = VectorScene(W, W)
    hole = polygon("h", [[2, 2], [22, 2], [22, 22], [2, 22], [2, 2], [8, 8], [16, 8], [16, 16], [8, 16], [8, 8]],
                   fill=(0, 0, 0), fill_rule="evenodd")
    clip = Group("cp", [hole, rect("extra", (10, 10), (2, 2), fill=(0, 0, 0))])
    sc.add(Group("g", [rect("r", (0, 0), (W, W), fill=(1, 0, 0))], clip=clip))
    a = np.array(rasterize(sc, spp=4))[..., 3]
    assert a[4, 4] == 1 and a[0, 0] == 0 and a[12, 14] == 0 and a[11, 11] == 1
    assert [s.id for s in sc.shapes()] == ["r"]   # clip shapes are not drawn
    assert "h.points" in sc.params and "cp.transform" in sc.params
    # an empty clip path clips everything; an empty mask masks everything
    for kw in ({"clip": Group("c0")}, {"mask": Group("m0")}):
        s0 = VectorScene(W, W, [Group("g", [rect("r", (0, 0), (W, W), fill=(1, 0, 0))], **kw)])
        assert np.array(rasterize(s0, spp=1)).max() == 0
    # luminance vs alpha of the mask content, times the mask group's opacity
    content = [rect("mr", (0, 0), (W, W), fill=(0.0, 1.0, 0.0, 0.5))]
    for mtype, want in (("luminance", 0.7154 * 0.5 * 0.5), ("alpha", 0.5 * 0.5)):
        s1 = VectorScene(W, W, [Group("g", [rect("r", (0, 0), (W, W), fill=(0, 0, 1))],
                                      mask=Group("mk", list(content), opacity=0.5), mask_type=mtype)])
        assert np.allclose(np.array(rasterize(s1, spp=1))[..., 3], want, atol=1e-5), mtype
    with pytest.raises(SceneError, match="mask_type"):
        Group("g", mask_type="lum")
    with pytest.raises(SceneError, match="clip must be a Group"):
        Group("g", clip=circle("c", (0, 0), 1))
    with pytest.raises(ValueError, match="prefilter"):
        rasterize(sc, filter="prefilter")


def test_svg_clip_units_and_references():
    doc = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">{}</svg>'
    # objectBoundingBox: the element's box is the unit square, inside the clip path's transform
    s = load_svg(doc.format('<clipPath id="c" clipPathUnits="objectBoundingBox" transform="translate(5 0)">'
                            '<rect width="0.5" height="1"/></clipPath>'
                            '<rect x="10" y="10" width="20" height="20" fill="red" clip-path="url(#c)"/>'))
    a = np.array(rasterize(s, spp=4))[..., 3]
    assert np.array_equal(a[20, 10:30], np.r_[np.zeros(5), np.ones(10), np.zeros(5)])   # x in [10 + 5, 20 + 5)
    # a missing clip path or mask is ignored; a reference to another kind of element hides it
    s = load_svg(doc.format('<rect width="9" height="9" clip-path="url(#nope)" mask="url(#nope2)"/>'))
    assert np.array(rasterize(s, spp=1))[4, 4, 3] == 1
    s = load_svg(doc.format('<circle id="c" r="3"/><rect width="9" height="9" clip-path="url(#c)"/>'))
    assert np.array(rasterize(s, spp=1))[4, 4, 3] == 0
    with pytest.raises(SceneError, match="clip-path on the content of a clip path"):
        load_svg(doc.format('<clipPath id="a"><rect width="5" height="5"/></clipPath><clipPath id="b">'
                            '<rect width="9" height="9" clip-path="url(#a)"/></clipPath>'
                            '<rect width="9" height="9" clip-path="url(#b)"/>'))


CLIPPED = ('<clipPath id="cp"><path id="cpath" d="M4 5 L27 7 L23 28 L6 24 Z"/></clipPath>'
           '<g clip-path="url(#cp)"><circle id="c" cx="17" cy="15" r="12" fill="#d02020"/>'
           '<rect x="2" y="18" width="28" height="8" fill="#2040a0" opacity="0.7"/></g>')
MASKED = ('<mask id="mk"><rect id="mr" x="3" y="4" width="22" height="24" fill="#c0c0c0" opacity="0.7"/>'
          '<circle id="mc" cx="20" cy="12" r="6" fill="#303030"/></mask>'
          '<rect id="r" x="1" y="2" width="28" height="27" fill="#2050d0" mask="url(#mk)"/>')


def test_clip_path_points_gradient():
    check(svg(CLIPPED), "cpath.points", ndirs=1)


def test_mask_opacity_gradient_forward():
    check(svg(MASKED), "mk.opacity", h=0.02, mode="forward")


@pytest.mark.slow
def test_clip_path_points_and_mask_opacity_gradients_both_modes():
    s = svg(CLIPPED)
    check(s, "cpath.points")
    check(s, "cpath.points", mode="forward")
    s = svg(MASKED)
    check(s, "mr.opacity", h=0.02)
    check(s, "mr.opacity", h=0.02, mode="forward")
    check(s, "mk.opacity", h=0.02)


@pytest.mark.slow
def test_mask_content_and_clipped_content_gradients():
    s = svg(MASKED)
    check(s, "mc.center")
    check(s, "mr.fill.color", h=0.02)
    s = svg(CLIPPED)
    check(s, "c.radius")
