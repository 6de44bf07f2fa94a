"""Forward images against an independent reference rasterizer (resvg, via resvg-py from PyPI) on
bundled SVGs covering every supported feature; SVG round trip; batching; robustness."""
import io
import os

import numpy as np
import pytest

import renderer

renderer.ensure_variant()
import drjit as dr  # noqa: E402
import mitsuba as mi  # noqa: E402

from integrators.vector import rasterize  # noqa: E402
from scenes.errors import ParameterError, SceneError  # noqa: E402
from scenes.vector import circle, load_svg, path, save_svg, to_svg_string, VectorScene  # noqa: E402

ASSETS = os.path.join(os.path.dirname(__file__), "..", "..", "assets", "svg")
resvg_py = pytest.importorskip("resvg_py")

# PSNR thresholds (dB) at 64 spp, per file. Residuals are anti-aliasing differences along edges
# (resvg uses analytic coverage) and, for gradients.svg, the hard wrap of a repeat gradient.
PSNR = {"shapes.svg": 40.0, "paths.svg": 38.0, "strokes.svg": 37.0, "gradients.svg": 30.0, "groups.svg": 40.0}


def resvg_image(svg_text):
    from PIL import Image
    png = resvg_py.svg_to_bytes(svg_string=svg_text)
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGBA")).astype(np.float32) / 255


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
    with pytest.raises(SceneError, match="dasharray"):
        load_svg('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><path d="M0 0 L5 5" '
                 'stroke="#000" stroke-dasharray="2"/></svg>')
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


def test_ray_directions_give_identical_coverage():
    sc = load_svg(os.path.join(ASSETS, "paths.svg"))
    ref = np.array(rasterize(sc, spp=4, seed=1))
    for d in (2, 4):
        np.testing.assert_array_equal(np.array(rasterize(sc, spp=4, seed=1, ray_directions=d)), ref)
