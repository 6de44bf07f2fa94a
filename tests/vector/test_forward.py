"""Forward images against an independent reference rasterizer (resvg, via resvg-py from PyPI) on
bundled SVGs covering every supported feature; SVG round trip; batching; robustness."""
import io
import os

import numpy as np
import pytest

from penumbra import renderer

renderer.ensure_variant()
import drjit as dr  # noqa: E402
import mitsuba as mi  # noqa: E402

from penumbra.integrators.vector import rasterize  # noqa: E402
from penumbra.scenes.errors import ParameterError, SceneError  # noqa: E402
from penumbra.scenes.vector import circle, load_svg, path, save_svg, to_svg_string, VectorScene  # noqa: E402

ASSETS = os.path.join(os.path.dirname(__file__), "..", "..", "assets", "svg")
resvg_py = pytest.importorskip("resvg_py")

# PSNR thresholds (dB) at 64 spp, per file. Residuals are anti-aliasing differences along edges
# (resvg uses analytic coverage) and, for gradients.svg, the hard wrap of a repeat gradient.
PSNR = {"shapes.svg": 40.0, "paths.svg": 38.0, "strokes.svg": 37.0, "gradients.svg": 30.0, "groups.svg": 40.0}


def resvg_image(svg_text):
    from PIL import Image
    png = resvg_py.svg_to_bytes(svg_string=svg_text)
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGBA")).astype(np.float32) / 255


def premultiply(img):
    return np.concatenate([img[..., :3] * img[..., 3:], img[..., 3:]], -1)


def psnr(a, b):
    return 10 * np.log10(1.0 / max(np.mean((a - b) ** 2), 1e-12))


@pytest.mark.parametrize("name", sorted(PSNR))
def test_against_resvg(name):
    path_ = os.path.join(ASSETS, name)
    ref = resvg_image(open(path_).read())
    img = np.array(rasterize(load_svg(path_), ref.shape[1], ref.shape[0], spp=64))
    assert img.shape == ref.shape
    assert psnr(img, ref) >= PSNR[name], f"{name}: PSNR {psnr(img, ref):.2f} dB"


@pytest.mark.parametrize("name", sorted(PSNR))
def test_save_svg_round_trip_renders_the_same_in_resvg(name, tmp_path):
    path_ = os.path.join(ASSETS, name)
    ref = resvg_image(open(path_).read())
    out = save_svg(load_svg(path_), tmp_path / name)
    again = resvg_image(open(out).read())
    assert psnr(again, ref) >= 40.0  # arcs are written as cubics, numbers with 6 digits
    ours = np.array(rasterize(load_svg(out), ref.shape[1], ref.shape[0], spp=16))
    assert psnr(ours, again) >= PSNR[name] - 4


def test_filters_and_prefilter_close_to_reference():
    path_ = os.path.join(ASSETS, "shapes.svg")
    ref = resvg_image(open(path_).read())
    sc = load_svg(path_)
    for filt, thr in (("tent", 30.0), ("gaussian", 28.0), ("prefilter", 30.0)):
        img = np.array(rasterize(sc, ref.shape[1], ref.shape[0], spp=16, filter=filt))
        assert psnr(img, ref) >= thr, f"{filt}: {psnr(img, ref):.2f}"


def test_batches_match_single_renders():
    sc = load_svg(os.path.join(ASSETS, "strokes.svg"))
    sc2 = load_svg(os.path.join(ASSETS, "shapes.svg"))
    batch = np.array(rasterize([sc, sc2], 96, 72, spp=16, seed=3))
    assert batch.shape == (2, 72, 96, 4)
    for i, s in enumerate((sc, sc2)):
        single = np.array(rasterize(s, 96, 72, spp=16, seed=3))
        assert psnr(batch[i], single) > 30  # same scene, different sample jitter per tile layout
    # many parameter sets of one scene in one call
    c = load_svg('<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32">'
                 '<circle id="c" cx="16" cy="16" r="5" fill="#000"/></svg>')
    imgs = np.array(rasterize(c, 32, 32, spp=4, params=[{"c.radius": r} for r in (3, 6, 9)]))
    cover = imgs[..., 3].sum(axis=(1, 2))
    np.testing.assert_allclose(cover, np.pi * np.array([3, 6, 9]) ** 2, rtol=0.03)


def test_many_paths_use_the_tile_structure():
    rng = np.random.default_rng(0)
    sc = VectorScene(128, 128)
    for i in range(300):
        p0 = rng.uniform(0, 128, 2)
        pts = p0 + rng.uniform(-8, 8, (4, 2))
        sc.add(path(f"p{i}", pts, "C", stroke=rng.random(3), stroke_width=1.5))
    img, info = rasterize(sc, spp=4, return_info=True)
    # pairs evaluated are a small fraction of pixels x paths x spp
    assert info["n_pairs"] < 0.05 * 128 * 128 * 4 * 300
    assert np.isfinite(np.array(img)).all()


# --- robustness ------------------------------------------------------------------------------------
def test_malformed_svg_errors():
    with pytest.raises(SceneError, match="malformed SVG"):
        load_svg("<svg xmlns='http://www.w3.org/2000/svg'><rect></svg>")
    with pytest.raises(SceneError, match="text"):
        load_svg('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text id="t">hi</text></svg>')
    with pytest.raises(SceneError, match="filter"):
        load_svg('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><path d="M0 0 L5 5" '
                 'stroke="#000" filter="url(#m)"/></svg>')
    with pytest.raises(SceneError, match="stroke-width"):
        load_svg('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><path d="M0 0 L5 5" '
                 'stroke="#000" stroke-width="-2"/></svg>')
    with pytest.raises(FileNotFoundError):
        load_svg("no_such_file.svg")
    with pytest.warns(UserWarning, match="text"):
        sc = load_svg('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>hi</text>'
                      '<rect width="4" height="4"/></svg>', strict=False)
    assert len(sc.shapes()) == 1


def test_degenerate_geometry_is_well_defined():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><g id="empty"></g>'
           '<path id="z" d="M8 8 L8 8" stroke="#000" stroke-width="4" stroke-linecap="round"/>'
           '<path id="zb" d="M3 3 L3 3" stroke="#000" stroke-width="4"/>'
           '<path id="s" d="M12 12 L12 12" stroke="#000" stroke-width="2" stroke-linecap="square"/></svg>')
    sc = load_svg(svg)
    img = np.array(rasterize(sc, spp=16))
    assert np.isfinite(img).all()
    assert abs(img[..., 3].sum() - (np.pi * 4 + 4)) < 1.0   # SVG: round dot + square, butt draws nothing
    x = mi.Float(sc.params["z.points"].reshape(-1))
    dr.enable_grad(x)
    out = rasterize(sc, spp=4, params={"z.points": x})
    dr.backward(dr.sum(out.array))
    assert np.isfinite(np.array(dr.grad(x))).all()
    assert np.array(rasterize(VectorScene(8, 8), spp=1)).sum() == 0  # empty scene


def test_bad_parameter_values():
    sc = load_svg('<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16">'
                  '<circle id="c" cx="8" cy="8" r="4" stroke="#000"/></svg>')
    with pytest.raises(ParameterError, match="NaN"):
        rasterize(sc, params={"c.center": [np.nan, 1.0]})
    with pytest.raises(ParameterError, match=">= 0"):
        rasterize(sc, params={"c.stroke_width": -1.0})
    with pytest.raises(ParameterError, match="unknown"):
        rasterize(sc, params={"c.radiuss": 1.0})
    with pytest.raises(ParameterError, match="expects"):
        rasterize(sc, params={"c.center": [1.0, 2.0, 3.0]})
    with pytest.raises(ParameterError, match="NaN"):
        sc.params["c.radius"] = float("nan")
    with pytest.raises(SceneError, match="NaN"):
        path("p", [[0, 0], [np.nan, 1]], "L")


def test_named_parameters_and_globs():
    sc = VectorScene(32, 32)
    sc.add(circle("a", [8, 8], 3, fill=[1, 0, 0]))
    sc.add(circle("b", [20, 20], 4, fill=[0, 0, 1]))
    assert sc.params.pack("*.radius").tolist() == [3, 4]
    sc.params.update({"*.radius": [5, 6]})
    assert sc.params["b.radius"] == 6
    text = to_svg_string(sc)
    assert 'r="6"' in text


def _brute_winding(e, x, y):
    """Winding numbers of closed edge soup ``e`` (N, 4) at points (x, y), ray towards +x (float64)."""
    x0, y0, x1, y1 = (c[None, :] for c in e.T)
    cross = (y0 <= y[:, None]) != (y1 <= y[:, None])
    xc = x0 + (y[:, None] - y0) * (x1 - x0) / np.where(y1 != y0, y1 - y0, 1.0)
    w = np.sum(np.where(cross & (xc > x[:, None]), np.where(y1 > y0, 1, -1), 0), axis=1)
    # distance to the nearest edge: points (almost) on an edge have no well-defined winding number
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((x[:, None] - x0) * dx + (y[:, None] - y0) * dy) / np.maximum(dx * dx + dy * dy, 1e-30), 0, 1)
    return w, np.hypot(x[:, None] - x0 - t * dx, y[:, None] - y0 - t * dy).min(axis=1)


@pytest.mark.parametrize("T", [4, 8])
def test_tile_lists_give_exact_winding_numbers(T):
    """Column edges + stubs + backdrop of every candidate reproduce the brute-force winding number
    of its layer at random points (inside tiles and up to the margin outside); layers that are
    not candidates of a tile have winding 0 (or even, for even-odd) there."""
    from penumbra.integrators.vector.binning import bin_edges
    from penumbra.integrators.vector.kernels import winding_at
    rng = np.random.default_rng(3)
    W, H, margin, polys, layer = 61, 45, 1.5, [], []
    for l in range(12):   # random star polygons (self-intersecting), some reversed, some with repeated vertices
        n = rng.integers(3, 40)
        c = rng.uniform([-5, -5], [W + 5, H + 5])
        ang = np.sort(rng.uniform(0, 2 * np.pi, n)) * rng.choice([1, 2, -1])
        rad = rng.uniform(2, 25, n)
        p = np.round(c + np.stack([np.cos(ang), np.sin(ang)], 1) * rad[:, None], 1)
        if l % 3 == 0:
            p = np.repeat(p, 2, axis=0)
        for k in range(1 + l % 2):  # some layers with two subpolygons
            q = p + 7.0 * k
            polys.append(np.concatenate([q, np.roll(q, -1, 0)], 1))
            layer.append(np.full(len(q), l))
    e, lay = np.concatenate(polys), np.concatenate(layer)
    keep = np.any(e[:, :2] != e[:, 2:], axis=1)
    e, lay = e[keep], lay[keep]
    evenodd = np.arange(12) % 2 == 1
    bins = bin_edges(e, lay, 12, W, H, T=T, margin=margin, evenodd=evenodd)
    edges_flat = mi.Float(bins.edges.reshape(-1))
    n_tiles = bins.tiles_x * bins.tiles_y
    tile = rng.integers(0, n_tiles, 3000)
    x = (tile % bins.tiles_x) * T + rng.uniform(-margin, T + margin, len(tile))
    y = (tile // bins.tiles_x) * T + rng.uniform(-margin, T + margin, len(tile))
    # some points on the lines of vertices and tile borders (still within the margin of their tile)
    x0, y0 = (tile % bins.tiles_x) * T, (tile // bins.tiles_x) * T
    x[:300] = np.clip(np.round(x[:300]), x0[:300] - margin, x0[:300] + T + margin)
    y[:300] = np.clip(np.round(y[:300] * 10) / 10, y0[:300] - margin, y0[:300] + T + margin)
    cand_tile = np.repeat(np.arange(n_tiles), np.diff(bins.cand_start))
    keys = cand_tile * 12 + bins.cand_layer          # sorted: candidates are in (tile, layer) order
    for l in range(12):
        ref, dist = _brute_winding(e[lay == l], x, y)
        c = np.minimum(np.searchsorted(keys, tile * 12 + l), len(keys) - 1)
        has = keys[c] == tile * 12 + l
        w = winding_at(x, y, bins.cand_edge0[c], np.where(has, bins.cand_count[c], 0), edges_flat) + bins.cand_w0[c]
        got_in = has & np.where(evenodd[l], w % 2 == 1, w != 0)
        ok = dist > 1e-3                              # (almost) on an edge: winding number undefined
        np.testing.assert_array_equal(got_in[ok], np.where(evenodd[l], ref % 2 == 1, ref != 0)[ok])
        if not evenodd[l]:
            np.testing.assert_array_equal(w[ok & has], ref[ok & has])


def test_group_opacity_isolates_the_group():
    """SVG group opacity: the group's children are composited on their own, then the result at the
    group's opacity. Where two opaque children overlap, the top one shows at the group opacity
    (per-child opacity would let the lower one through: alpha 0.75 instead of 0.5)."""
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><g opacity="0.5">'
           '<rect x="2" y="2" width="20" height="16" fill="#f00"/>'
           '<rect x="12" y="2" width="26" height="16" fill="#00f"/></g></svg>')
    ref = resvg_image(svg)
    img = np.array(rasterize(load_svg(svg), 40, 20, spp=16))
    tol = 2.5 / 255
    for x, rgba in ((6, (1, 0, 0, 0.5)), (17, (0, 0, 1, 0.5)), (30, (0, 0, 1, 0.5))):
        np.testing.assert_allclose(ref[10, x], rgba, atol=tol)
        np.testing.assert_allclose(img[10, x], rgba, atol=tol)
    overlap = (slice(3, 17), slice(13, 21))
    assert psnr(img[overlap], ref[overlap]) >= 45.0


def test_nested_group_and_element_opacity_against_resvg():
    """Nested groups with opacity, an element opacity on a filled and stroked shape (its stroke
    overlaps its own fill: SVG isolates the element too), partly over a backdrop. PSNR of the
    premultiplied images (straight-alpha colour of nearly transparent edge pixels is noise), on the
    whole image and inside the overlaps."""
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48">'
           '<rect x="0" y="0" width="48" height="20" fill="#208040"/>'
           '<g opacity="0.6"><circle cx="16" cy="18" r="11" fill="#f04020"/>'
           '<g opacity="0.5" transform="translate(3 2)"><rect x="14" y="8" width="22" height="20" fill="#2040f0"/>'
           '<circle cx="30" cy="26" r="8" fill="#ffd000"/></g></g>'
           '<circle cx="12" cy="34" r="8" fill="#ffffff" stroke="#000000" stroke-width="6" opacity="0.5"/></svg>')
    ref = premultiply(resvg_image(svg))
    img = premultiply(np.array(rasterize(load_svg(svg), 48, 48, spp=64)))
    assert psnr(img, ref) >= 40.0
    for region in ((slice(12, 24), slice(18, 25)),    # red circle under the inner group
                   (slice(26, 30), slice(27, 36)),    # yellow circle over blue rect, inside both groups
                   (slice(33, 36), slice(5, 7))):     # the shape's stroke over its own fill
        assert psnr(img[region], ref[region]) >= 45.0, region
    np.testing.assert_allclose(img[34, 5], (0, 0, 0, 0.5), atol=2.5 / 255)   # not 0.75: isolated


ARCS_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48"><rect width="64" height="48" fill="#fff"/>'
            '<path id="a" d="M10 30 A 20 12 30 0 1 40 25 A 6 6 0 1 0 20 40 Z" fill="#d04020" stroke="#204080" '
            'stroke-width="3"/><path id="b" d="M45 10 a 8 14 -20 1 1 10 10" fill="none" stroke="#000" '
            'stroke-width="2"/></svg>')


def test_elliptical_arcs_are_parameters_and_round_trip():
    """Arcs keep rx, ry, rotation (as written; radii too small for the chord are scaled up when
    drawn, as SVG prescribes) as named parameters; resvg agrees on the original and the written
    file; changing ``arc_rotation`` moves the drawing like the same edit in SVG text."""
    sc = load_svg(ARCS_SVG)
    np.testing.assert_allclose(sc.params["a.arc_radii"], [[20, 12], [6, 6]], atol=1e-9)
    np.testing.assert_allclose(sc.params["a.arc_rotation"], [30, 0], atol=1e-9)
    np.testing.assert_allclose(sc.params["b.arc_rotation"], [-20], atol=1e-9)
    ref = resvg_image(ARCS_SVG)
    assert psnr(np.array(rasterize(sc, 64, 48, spp=64)), ref) >= 35.0
    text = to_svg_string(sc)
    assert "A20 12 30 0 1 40 25" in text and "A6 6 0 1 0 20 40" in text and "A8 14 -20 1 1 55 20" in text
    assert psnr(resvg_image(text), ref) >= 60.0
    again = load_svg(text)
    for k in ("a.arc_radii", "a.arc_rotation", "b.arc_radii", "b.points"):
        np.testing.assert_allclose(again.params[k], sc.params[k], atol=1e-5)
    sc.params["a.arc_rotation"] = [60, 0]
    moved = ARCS_SVG.replace("A 20 12 30 0 1", "A 20 12 60 0 1")
    assert psnr(np.array(rasterize(sc, 64, 48, spp=64)), resvg_image(moved)) >= 35.0
    with pytest.raises(ParameterError, match="arc_radii"):
        rasterize(sc, params={"a.arc_radii": [[-1, 2], [3, 4]]})
    with pytest.raises(SceneError, match="segment kind"):
        path("bad", [[0, 0], [1, 1]], ["A2"])


def test_prefilter_strokes_have_svg_joins_and_caps():
    """Prefiltered (analytic) strokes: miter (within and beyond the limit), bevel, butt and square
    caps, a square dot and a closed polygon's joins against resvg (premultiplied PSNR), close to
    the 64-spp box rendering of the same scene."""
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="96" height="64"><rect width="96" height="64" fill="#fff"/>'
           '<polyline points="6,50 20,12 34,50" fill="none" stroke="#c02020" stroke-width="6"/>'
           '<polyline points="40,50 54,12 68,50" fill="none" stroke="#20a020" stroke-width="6" '
           'stroke-linejoin="bevel" stroke-linecap="square"/>'
           '<polyline points="72,14 90,30 74,46" fill="none" stroke="#2020c0" stroke-width="5" '
           'stroke-miterlimit="1.5"/>'
           '<path d="M8 58 L 40 58" stroke="#000" stroke-width="4"/>'
           '<path d="M50 58 L 80 56" stroke="#000" stroke-width="4" stroke-linecap="square"/>'
           '<path d="M86 58 Z" stroke="#a0a" stroke-width="4" stroke-linecap="square"/>'
           '<polygon points="30,4 46,8 38,20" fill="none" stroke="#880" stroke-width="3"/></svg>')
    ref = premultiply(resvg_image(svg))
    sc = load_svg(svg)
    pre = premultiply(np.array(rasterize(sc, 96, 64, filter="prefilter")))
    box = premultiply(np.array(rasterize(sc, 96, 64, spp=64)))
    assert psnr(pre, ref) >= 35.0
    assert psnr(pre, box) >= 35.0
    np.testing.assert_allclose(pre[12, 20], ref[12, 20], atol=0.02)     # inside the miter tip
    np.testing.assert_allclose(pre[58, 87], (170 / 255, 0, 170 / 255, 1), atol=0.02)   # the square dot


def test_bad_and_degenerate_input_of_the_new_features():
    """Arcs with zero radii (a line, as SVG says) or equal end points (dropped), empty groups with
    opacity, zero-length subpaths in prefilter mode: finite, well-defined images; NaN / negative
    arc parameters and opacities: ParameterError naming the parameter."""
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24"><g id="e" opacity="0.5"></g>'
           '<g id="g" opacity="0.5"><g id="e2" opacity="0.3"/>'
           '<path id="a" d="M2 2 A 0 5 0 0 1 20 4 A 4 4 0 0 1 20 4 A 6 3 10 0 1 6 20 Z" fill="#f00" stroke="#000"/></g>'
           '<path id="z" d="M12 12 Z" stroke="#000" stroke-width="3" stroke-linecap="square"/></svg>')
    sc = load_svg(svg)
    assert sc.shapes()[0].subpaths == [(["L", "A01"], True)]
    for filt in ("box", "prefilter"):
        img = np.array(rasterize(sc, filter=filt, spp=4))
        assert np.isfinite(img).all() and img[..., 3].max() > 0.4
    with pytest.raises(ParameterError, match="a.arc_rotation.*NaN"):
        rasterize(sc, params={"a.arc_rotation": [np.nan]})
    with pytest.raises(ParameterError, match="a.arc_radii"):
        sc.params["a.arc_radii"] = [[-1.0, 2.0]]
    with pytest.raises(ParameterError, match="g.opacity.*NaN"):
        rasterize(sc, params={"g.opacity": np.nan})


def test_pad_gradient_with_stops_sharing_offset_zero():
    """Pad spread before the first offset paints the first stop; from the shared offset on, the
    last stop with that offset controls the colour (SVG 2 section 14.3.4), as resvg draws it."""
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="8"><linearGradient id="g" x1="0.25" '
           'x2="0.75"><stop offset="0" stop-color="black"/><stop offset="0" stop-color="#f00"/>'
           '<stop offset="1" stop-color="#00f"/></linearGradient><rect width="40" height="8" fill="url(#g)"/></svg>')
    ref = resvg_image(svg)
    img = np.array(rasterize(load_svg(svg), 40, 8, spp=16))
    np.testing.assert_allclose(img[4, 4], [0, 0, 0, 1], atol=2.5 / 255)
    np.testing.assert_allclose(img[4, 10], [1, 0, 0, 1], atol=0.05)
    assert psnr(premultiply(img), premultiply(ref)) >= 35.0


def test_icon_sprite_symbols_and_nested_viewports_against_resvg():
    """An icon-set style sprite (``<symbol viewBox>`` instanced by ``<use>`` with a size, the fill
    inherited from the use) and a nested ``<svg>`` with ``preserveAspectRatio`` slice and visible
    overflow, against resvg."""
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="96" height="32">'
           '<symbol id="tri" viewBox="0 0 24 24"><path d="M12 2 L22 21 H2 Z"/></symbol>'
           '<use href="#tri" width="32" height="32" fill="#c00"/>'
           '<use href="#tri" x="32" y="4" width="32" height="24" fill="#00c" opacity="0.6"/>'
           '<svg x="64" width="32" height="32" viewBox="0 0 10 20" preserveAspectRatio="xMaxYMin slice" '
           'overflow="visible"><circle cx="5" cy="5" r="4" fill="#0a0"/></svg></svg>')
    ref = resvg_image(svg)
    img = np.array(rasterize(load_svg(svg), 96, 32, spp=64))
    assert ref[16, 16, 3] > 0.9 and ref[16, 48, 3] > 0.5 and ref[16, 80, 3] > 0.9   # all three drawn
    assert psnr(premultiply(img), premultiply(ref)) >= 35.0
