"""The compiled host kernels of tessellation and binning (numba, the optional ``fast`` extra) give
the same arrays as their vectorised NumPy versions, which are used without numba: the edges of
every polygon (strokes with all joins and caps, dashes, fills, prefiltered centre lines) and the
tile lists (column edges, stubs, backdrops, candidates in tile order)."""
import os

import numpy as np
import pytest

from penumbra import renderer

renderer.ensure_variant()
from penumbra.integrators.vector import binning  # noqa: E402
from penumbra.integrators.vector import tessellate as tess  # noqa: E402
from penumbra.integrators.vector.compile import bind_parameters, compile_scene  # noqa: E402
from penumbra.renderer import compiled  # noqa: E402
from penumbra.scenes.vector import VectorScene, load_svg, path  # noqa: E402

ASSETS = os.path.join(os.path.dirname(__file__), "..", "..", "assets", "svg")
BINS_FIELDS = ("cand_start", "cand_layer", "cand_edge0", "cand_count", "src", "stubs", "edge_id", "cand_w0")
GEOMETRY_FIELDS = ("np_edges", "edge_layer", "edge_samp", "edge_end", "edge_nb")

needs_numba = pytest.mark.skipif(not compiled.AVAILABLE,
                                 reason="numba is not installed (optional 'fast' extra): only the NumPy path runs")


def random_strokes(n=60, size=64, seed=0):
    """Random stroked cubic paths (the benchmark's kind of scene) with every join and cap."""
    rng = np.random.default_rng(seed)
    sc = VectorScene(size, size)
    for i in range(n):
        pts = [rng.uniform(0, size, 2)]
        for _ in range(9):
            pts.append(pts[-1] + rng.normal(0, 0.08 * size, 2))
        sc.add(path(f"p{i}", np.array(pts), "CCC", stroke=(0.2, 0.4, 0.6, 1.0), fill=None,
                    stroke_width=rng.uniform(0.5, 4), join=("miter", "round", "bevel")[i % 3],
                    cap=("butt", "round", "square")[i % 3]))
    return sc


def scenes():
    yield "random strokes", random_strokes()
    for name in ("strokes.svg", "paths.svg", "shapes.svg"):
        yield name, load_svg(os.path.join(ASSETS, name))
    yield "dashes", load_svg('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
                             '<path d="M4 4 C 30 0 40 30 10 36 Z" fill="none" stroke="black" stroke-width="3" '
                             'stroke-dasharray="5 2 1 2" stroke-linecap="round" stroke-linejoin="round"/>'
                             '<polyline points="2,30 12,20 22,32 34,6" fill="none" stroke="red" stroke-width="2" '
                             'stroke-dasharray="4" stroke-linecap="square"/></svg>')


def star_edges(W, H, seed=3):
    """Random star polygons (self-intersecting, some reversed, some with repeated vertices and two
    subpolygons) as edge rows and layers."""
    rng = np.random.default_rng(seed)
    polys, layer = [], []
    for l in range(12):
        n = rng.integers(3, 40)
        c = rng.uniform([-5, -5], [W + 5, H + 5])
        ang = np.sort(rng.uniform(0, 2 * np.pi, n)) * rng.choice([1, 2, -1])
        p = np.round(c + np.stack([np.cos(ang), np.sin(ang)], 1) * rng.uniform(2, 25, n)[:, None], 1)
        if l % 3 == 0:
            p = np.repeat(p, 2, axis=0)
        for k in range(1 + l % 2):
            q = p + 7.0 * k
            polys.append(np.concatenate([q, np.roll(q, -1, 0)], 1))
            layer.append(np.full(len(q), l))
    e, lay = np.concatenate(polys), np.concatenate(layer)
    keep = np.any(e[:, :2] != e[:, 2:], axis=1)
    return e[keep], lay[keep]


def assert_same(a, b, fields, what):
    for f in fields:
        x, y = np.asarray(getattr(a, f)), np.asarray(getattr(b, f))
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what}: {f} {x.dtype}{x.shape} vs {y.dtype}{y.shape}"
        np.testing.assert_array_equal(x, y, err_msg=f"{what}: {f}")


@needs_numba
@pytest.mark.slow  # numba compiles the five kernels first (~25 s on a fresh checkout)
@pytest.mark.parametrize("mode", ["sample", "prefilter"])
def test_tessellate_and_bin_compiled_equal_numpy(mode):
    """On stroked, dashed and filled scenes: tessellate's edges and the tile lists from the numba
    kernels equal those of the NumPy versions, array for array."""
    for name, sc in scenes():
        W = H = 64
        comp = compile_scene(sc)
        theta = bind_parameters(comp, sc, None, (W / sc.width, 0.0, 0.0, H / sc.height, 0.0, 0.0))
        g1 = tess.tessellate(comp, theta, mode=mode, compiled=True)
        g0 = tess.tessellate(comp, theta, mode=mode, compiled=False)
        assert len(g1.np_edges) > 0, name
        assert_same(g1, g0, GEOMETRY_FIELDS, f"{name} ({mode})")
        np.testing.assert_array_equal(g1.x0.numpy(), g0.x0.numpy())
        n_layers = len(comp.layers)
        for T, margin in ((4, 1.0), (8, 0.0)):
            args = (g1.np_edges, g1.edge_layer, n_layers, W, H)
            b1 = binning.bin_edges(*args, T=T, margin=margin, compiled=True)
            b0 = binning.bin_edges(*args, T=T, margin=margin, compiled=False)
            assert len(b1.src) > 0, name
            assert_same(b1, b0, BINS_FIELDS, f"{name} bins T={T}")


@pytest.mark.slow
@needs_numba
def test_bin_compiled_equals_numpy_on_star_polygons_and_batches():
    """Self-intersecting polygons with repeated vertices, both fill rules, a batch layout (layers
    confined to their item's tile columns) and edges partly outside the canvas."""
    W, H = 61, 45
    e, lay = star_edges(W, H)
    evenodd = np.arange(12) % 2 == 1
    for kw in ({"T": 4, "margin": 1.5}, {"T": 8, "margin": 0.5},
               {"T": 4, "margin": 1.0, "layer_item": np.arange(12) % 2, "item_cols": 8}):
        b1 = binning.bin_edges(e, lay, 12, 64 if "layer_item" in kw else W, H, evenodd=evenodd, compiled=True, **kw)
        b0 = binning.bin_edges(e, lay, 12, 64 if "layer_item" in kw else W, H, evenodd=evenodd, compiled=False, **kw)
        assert len(b1.stubs) > 0
        assert_same(b1, b0, BINS_FIELDS, str(kw))


def test_compiled_without_numba_is_refused(monkeypatch):
    """``compiled=True`` (or the opt-in switch) without numba names the missing extra; the default is
    the NumPy path."""
    e, lay = star_edges(20, 20)
    assert len(binning.bin_edges(e, lay, 12, 20, 20).src) > 0
    monkeypatch.setattr(compiled, "AVAILABLE", False)
    with pytest.raises(ValueError, match="bin_edges: .*numba"):
        binning.bin_edges(e, lay, 12, 20, 20, compiled=True)
    monkeypatch.setattr(compiled, "vector_host_kernels", True)
    with pytest.raises(ValueError, match="bin_edges: .*PENUMBRA_VECTOR_HOST_KERNELS"):
        binning.bin_edges(e, lay, 12, 20, 20)
