"""Pattern paint servers: hand-written files outside resvg's suite against resvg (resvg-py) (a
rotated hatching with dots, a triangle tile in objectBoundingBox units), the exact tiling against
the same tiles drawn as explicit shapes (resvg resamples its tile pixmap, see
tests/vector/resvg_suite.py), refusals, and gradients with respect to the pattern transform
(forward and reverse) and the tile content against central finite differences of the renderer
(the checks of tests/vector/test_gradients.py)."""
import numpy as np
import pytest

from penumbra import renderer

renderer.ensure_variant()

from penumbra.integrators.vector import rasterize  # noqa: E402
from penumbra.scenes.errors import SceneError  # noqa: E402
from penumbra.scenes.vector import ShaderPaint, load_svg  # noqa: E402
from tests.scenes_lib import svg  # noqa: E402
from tests.vector.resvg_suite import premultiply, psnr  # noqa: E402
from tests.vector.test_gradients import check  # noqa: E402

HATCHING = '''<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">
  <defs>
    <pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(30)">
      <rect x="0" y="0" width="3" height="8" fill="#2040a0"/>
      <circle cx="6" cy="4" r="1.5" fill="red" fill-opacity="0.5"/>
    </pattern>
    <pattern id="tri" width="0.25" height="0.25"><path d="M0 0 L10 0 L5 8 z" fill="green"/></pattern>
  </defs>
  <rect x="10" y="10" width="50" height="80" fill="url(#hatch)" stroke="black"/>
  <circle cx="75" cy="50" r="20" fill="url(#tri)"/>
</svg>'''


def test_hatching_and_bounding_box_tiles_match_resvg():
    from tests.vector.test_forward import resvg_image
    sc = load_svg(HATCHING)
    assert isinstance(sc.shapes()[0].fill, ShaderPaint)
    img = premultiply(np.array(rasterize(sc, 100, 100, spp=16)))
    ref = premultiply(resvg_image(HATCHING))
    assert psnr(img, ref) >= 32.0, f"PSNR {psnr(img, ref):.1f} dB"


def test_tiling_equals_explicit_tiles():
    # a fractional tile offset (x = 5 at 1.5 px per unit): resvg snaps it, the exact image is the
    # tiles drawn one by one
    pattern = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200"><pattern id="p" '
               'patternUnits="userSpaceOnUse" x="5" y="10" width="20" height="20"><rect width="10" height="10" '
               'fill="grey"/><rect x="10" y="10" width="10" height="10" fill="green"/></pattern>'
               '<rect x="20" y="20" width="140" height="140" fill="url(#p)"/></svg>')
    tiles = "".join(f'<rect x="{5 + 20 * i + d}" y="{10 + 20 * j + d}" width="10" height="10" fill="{c}"/>'
                    for i in range(-1, 9) for j in range(-1, 9) for d, c in ((0, "grey"), (10, "green")))
    explicit = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200">{tiles}</svg>'
    a = premultiply(np.array(rasterize(load_svg(pattern), 150, 150, spp=16)))
    b = premultiply(np.array(rasterize(load_svg(explicit), 150, 150, spp=16)))
    inside = (slice(16, 119), slice(16, 119))   # the filled rect, 1 px in from its edges
    assert psnr(a[inside], b[inside]) >= 60.0


def test_pattern_refusals_and_empty_tiles():
    doc = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><pattern id="p" width="10" '
           'height="10" patternUnits="userSpaceOnUse">{content}</pattern><rect width="40" height="40" '
           'fill="url(#p)"/></svg>')
    with pytest.raises(SceneError, match="strokes inside a pattern tile"):
        load_svg(doc.format(content='<rect width="5" height="5" stroke="black"/>'))
    with pytest.raises(SceneError, match="text"):
        load_svg(doc.format(content='<text>a</text>'))
    # no content: the fill is not drawn
    assert load_svg(doc.format(content="")).shapes()[0].fill is None


# tile edges off the pixel grid
SCENE = ('<defs><pattern id="h" width="7" height="9" patternUnits="userSpaceOnUse" '
         'patternTransform="translate(0.37 0.41)"><rect x="1" y="1" width="3" height="6" fill="#1030c0"/>'
         '</pattern></defs><rect id="r" x="3" y="4" width="26" height="24" fill="url(#h)"/>')
OFFSET = np.eye(6)[4:6]   # the pattern offset: the translation of the pattern transform


def test_pattern_offset_gradient_reverse_and_forward():
    from tests.harness import Tolerance, compare
    from tests.vector.test_gradients import ad_grad, fd_grad
    s = svg(SCENE)
    fd = fd_grad(s, "r.fill.transform", 0.25, dirs=OFFSET)
    assert np.max(np.abs(fd)) > 1.0
    for mode in ("reverse", "forward"):
        compare(ad_grad(s, "r.fill.transform", mode=mode, dirs=OFFSET), fd).check(
            Tolerance(rtol_max=0.08, atol=0.5), f"r.fill.transform offset ({mode})")


def test_pattern_linear_part_gradient():
    """The tile's scale and rotation (the linear part of the pattern transform, about the pattern
    origin), every repeated tile moving differently: AD (64 spp, forward and reverse) against FD with a
    small step (h = 0.02: 2 % scale, 0.02 rad). Measured: scale -255.0 vs -240.8, rotation 8.11 vs
    8.29 (FD at h = 0.01 / 0.05 gives 6.2 / 7.3: its own noise is ~1)."""
    import tests.vector.test_gradients as TG
    s = svg(SCENE)
    dirs = np.array([[1, 0, 0, 1, 0, 0], [0, 1, -1, 0, 0, 0]], float) / np.sqrt(2)
    fd = TG.fd_grad(s, "r.fill.transform", 0.02, dirs=dirs)
    assert abs(fd[0]) > 100 and abs(fd[1]) > 4
    spp, TG.AD_SPP = TG.AD_SPP, 64
    try:
        for mode in ("reverse", "forward"):
            ad = TG.ad_grad(s, "r.fill.transform", mode=mode, dirs=dirs)
            assert abs(ad[0] - fd[0]) <= 0.08 * abs(fd[0]), (mode, ad, fd)
            assert abs(ad[1] - fd[1]) <= 2.0, (mode, ad, fd)
    finally:
        TG.AD_SPP = spp


@pytest.mark.slow
def test_pattern_content_gradients():
    s = svg(SCENE)
    check(s, "r.fill.s0_ring0")
    check(s, "r.fill.s0_color", h=0.02)


def test_pattern_round_trip():
    from penumbra.scenes.vector import to_svg_string
    sc = load_svg(HATCHING)
    a = premultiply(np.array(rasterize(sc, 100, 100, spp=4)))
    b = premultiply(np.array(rasterize(load_svg(to_svg_string(sc)), 100, 100, spp=4)))
    assert psnr(a, b) >= 45.0


# content overflowing the tile (the circle is cut by the tile's right side, the rectangle by its top)
# and a semi-transparent shape: the tile border is a discontinuity that moves with the offset
OVERFLOW = ('<defs><pattern id="h" width="7" height="9" patternUnits="userSpaceOnUse" '
            'patternTransform="translate(0.37 0.41)"><circle cx="6" cy="4.5" r="2.5" fill="#1030c0"/>'
            '<rect x="1" y="-2" width="2" height="4" fill="#c03010" fill-opacity="0.6"/>'
            '</pattern></defs><rect id="r" x="3" y="4" width="26" height="24" fill="url(#h)"/>')


def test_pattern_offset_gradient_with_clipped_content_and_tent_filter():
    """Tile edges clipped by the tile, the tile border itself, and a tent filter (the tile edges
    are splatted through the pixel filter like shape outlines). Measured: box -1.762, -10.327 and
    tent -1.781, -10.312 (reverse = forward) vs FD -1.674, -10.268 and -1.708, -10.261."""
    from tests.harness import Tolerance, compare
    from tests.vector.test_gradients import ad_grad, fd_grad
    s = svg(OVERFLOW)
    fd = fd_grad(s, "r.fill.transform", 0.25, filter="tent", dirs=OFFSET)
    assert np.max(np.abs(fd)) > 1.0
    for mode in ("reverse", "forward"):
        compare(ad_grad(s, "r.fill.transform", filter="tent", mode=mode, dirs=OFFSET), fd).check(
            Tolerance(rtol_max=0.08, atol=0.5), f"r.fill.transform offset, tent ({mode})")


def test_pattern_kernels_do_not_grow_with_the_tile_polygons():
    """The tile content is evaluated from its edges as data: an 8-gon and a 256-gon tile render
    (with the gradient of the pattern offset) through the same number of kernels of the same size."""
    import drjit as dr
    import mitsuba as mi

    def kernels(n):
        a = np.linspace(0, 2 * np.pi, n, endpoint=False)
        pts = " ".join(f"{3.5 + 2.5 * np.cos(t):.4f},{4.5 + 2.5 * np.sin(t):.4f}" for t in a)
        s = svg('<defs><pattern id="h" width="7" height="9" patternUnits="userSpaceOnUse">'
                f'<polygon points="{pts}" fill="#1030c0"/></pattern></defs>'
                '<rect id="r" x="3" y="4" width="26" height="24" fill="url(#h)"/>')
        x = mi.Float(s.params.pack("r.fill.transform"))
        dr.enable_grad(x)
        flag = dr.flag(dr.JitFlag.KernelHistory)
        dr.set_flag(dr.JitFlag.KernelHistory, True)
        try:
            dr.kernel_history()
            dr.backward(dr.sum(rasterize(s, 32, 32, params={"r.fill.transform": x}).array))
            history = [k for k in dr.kernel_history() if k.get("type") == dr.KernelType.JIT]
        finally:
            dr.set_flag(dr.JitFlag.KernelHistory, flag)
        return len(history), max(k["operation_count"] for k in history)
    assert kernels(8) == kernels(256)
