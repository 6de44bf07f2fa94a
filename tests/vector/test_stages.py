"""The rasterizer's stages on a small scene, through their records: compile (layers, paints and
slots in theta), parameter binding, tessellation (edges of a square), the affine helpers, the
composited colour at chosen points, and boundary samples lying on the outline."""
import numpy as np
import pytest

from penumbra import renderer

renderer.ensure_variant()
import dataclasses  # noqa: E402

import mitsuba as mi  # noqa: E402

from penumbra.integrators.vector import rasterize  # noqa: E402
from penumbra.integrators.vector.affine import compose, invert  # noqa: E402
from penumbra.integrators.vector.batch import BatchItem, concat_edges  # noqa: E402
from penumbra.integrators.vector.binning import bin_edges, upload_bins  # noqa: E402
from penumbra.integrators.vector.boundary import sample_outline  # noqa: E402
from penumbra.integrators.vector.compile import PAINT_SOLID, bind_parameters, compile_scene  # noqa: E402
from penumbra.integrators.vector.composite import Shading  # noqa: E402
from penumbra.integrators.vector.layers import layer_table  # noqa: E402
from penumbra.integrators.vector.pixels import Canvas  # noqa: E402
from penumbra.integrators.vector.prefilter import prefilter_strokes  # noqa: E402
from penumbra.integrators.vector.tessellate import tessellate  # noqa: E402
from penumbra.scenes.errors import ParameterError  # noqa: E402
from penumbra.scenes.vector import VectorScene, rect  # noqa: E402

IDENT = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def square_scene():
    sc = VectorScene(16, 16)
    sc.add(rect("r", (4.0, 4.0), (8.0, 8.0), fill=(1.0, 0.0, 0.0, 1.0)))
    return sc


def test_compile_layers_point_at_their_values():
    sc = square_scene()
    comp = compile_scene(sc)
    assert len(comp.layers) == 1
    layer = comp.layers[0]
    assert (layer.shape, layer.kind, layer.evenodd, layer.paint.type) == (0, "fill", False, PAINT_SOLID)
    c = layer.paint.color
    np.testing.assert_array_equal(comp.theta0[c:c + 4], [1.0, 0.0, 0.0, 1.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.kind = "stroke"


def _uncached(sc):
    """compile_scene of a fresh copy of ``sc`` (same structure and values, nothing cached)."""
    import copy
    return compile_scene(copy.deepcopy(sc))


def test_compile_cache_follows_values_and_structure():
    from penumbra.scenes.vector import Gradient
    sc = square_scene()
    first = compile_scene(sc)
    again = compile_scene(sc)
    assert again.layers is first.layers        # structure shared, values re-read
    np.testing.assert_array_equal(again.theta0, first.theta0)
    sc.params["r.size"] = [6.0, 3.0]           # assignment through the parameter set
    off = first.slots["r.size"][0]
    np.testing.assert_array_equal(compile_scene(sc).theta0[off:off + 2], [6.0, 3.0])
    sc.root.children[0].fill = np.array([0.0, 1.0, 0.0, 1.0])    # a new paint object, same structure
    c = compile_scene(sc).layers[0].paint.color
    np.testing.assert_array_equal(compile_scene(sc).theta0[c:c + 4], [0.0, 1.0, 0.0, 1.0])
    sc.root.children[0].fill = Gradient("linear", [0, 1], [[1, 0, 0, 1], [0, 0, 1, 1]])  # other structure
    comp = compile_scene(sc)
    assert comp.layers[0].paint.type != PAINT_SOLID
    np.testing.assert_array_equal(comp.theta0, _uncached(sc).theta0)
    sc.add(rect("s", (1.0, 1.0), (2.0, 2.0), corner_radius=(0.5, 0.5), fill=(0.0, 0.0, 1.0, 1.0)))
    comp = compile_scene(sc)
    assert len(comp.layers) == 2 and len(comp.subpaths) == 2
    np.testing.assert_array_equal(comp.theta0, _uncached(sc).theta0)
    sc.params["s.corner_radius"] = [0.0, 0.0]   # a sharp rectangle has other control points
    assert len(compile_scene(sc).subpaths[1].idx) == len(_uncached(sc).subpaths[1].idx) != \
        len(comp.subpaths[1].idx)


def test_bind_parameters_overrides_and_checks():
    sc = square_scene()
    comp = compile_scene(sc)
    th = bind_parameters(comp, sc, {"r.size": [6.0, 2.0]}, IDENT)
    off = comp.slots["r.size"][0]
    np.testing.assert_array_equal(th.values_np[off:off + 2], [6.0, 2.0])
    np.testing.assert_array_equal(np.array(th.values)[off:off + 2], [6.0, 2.0])
    assert th.overridden.sum() == 2 and th.overridden[off] and th.overridden[off + 1]
    with pytest.raises(ParameterError, match="r.size"):
        bind_parameters(comp, sc, {"r.size": [1.0]}, IDENT)
    with pytest.raises(ParameterError, match="r.size"):
        bind_parameters(comp, sc, {"r.size": [-1.0, 1.0]}, IDENT)


def test_tessellate_square_edges_in_canvas_pixels():
    sc = square_scene()
    comp = compile_scene(sc)
    # canvas scale 2: the square spans [8, 24]^2
    geom = tessellate(comp, bind_parameters(comp, sc, None, (2.0, 0.0, 0.0, 2.0, 0.0, 0.0)))
    e = geom.np_edges
    assert len(e) == 4 and np.all(geom.edge_layer == 0) and geom.edge_samp.all()
    assert set(map(tuple, e[:, :2])) == {(8.0, 8.0), (24.0, 8.0), (24.0, 24.0), (8.0, 24.0)}
    np.testing.assert_array_equal(np.array(geom.x0), e[:, 0])


def test_affine_compose_and_invert():
    A = (2.0, 0.5, -1.0, 3.0, 4.0, -2.0)
    B = (0.0, 1.0, -1.0, 0.0, 1.0, 1.0)
    # x -> B x -> A (B x): check on a point
    p = np.array([0.3, -0.7])
    Bp = np.array([B[0] * p[0] + B[2] * p[1] + B[4], B[1] * p[0] + B[3] * p[1] + B[5]])
    ABp = np.array([A[0] * Bp[0] + A[2] * Bp[1] + A[4], A[1] * Bp[0] + A[3] * Bp[1] + A[5]])
    C = compose(A, B)
    np.testing.assert_allclose([C[0] * p[0] + C[2] * p[1] + C[4], C[1] * p[0] + C[3] * p[1] + C[5]], ABp)
    I_ = compose(tuple(mi.Float(v) for v in A), invert(tuple(mi.Float(v) for v in A)))
    np.testing.assert_allclose([float(v[0]) for v in I_], IDENT, atol=1e-6)


def stages(sc, W, H, T=4):
    """The driver's stages up to a :class:`Shading` for one scene."""
    canvas = Canvas(W, H, 1, T, -(-W // T) + 1, -(-H // T), 1, "box")
    comp = compile_scene(sc)
    theta = bind_parameters(comp, sc, None, (W / sc.width, 0.0, 0.0, H / sc.height, 0.0, 0.0))
    items = [BatchItem(comp, theta, tessellate(comp, theta))]
    layers = layer_table(items, theta.values)
    edges = concat_edges(items)
    strokes = prefilter_strokes(items, theta.values, edges.n_layers, False)
    bins = bin_edges(edges.np_edges, edges.edge_layer, edges.n_layers, canvas.item_width, canvas.tiles_y * T, T=T,
                     margin=canvas.list_margin(), evenodd=layers.evenodd, layer_item=edges.layer_item,
                     item_cols=canvas.tiles_x_item)
    dev = upload_bins(bins, edges.x0, edges.y0, edges.x1, edges.y1, layers.evenodd, strokes.sdf, strokes.reach)
    return canvas, Shading(bins, dev, edges, layers, theta.values, False, strokes, None)


def test_composited_colour_inside_and_outside():
    canvas, shading = stages(square_scene(), 16, 16)
    pts = np.array([[1.5, 1.5], [6.5, 6.5], [9.5, 10.5], [13.5, 5.5]])   # outside, inside, inside, outside
    tile = (np.floor(pts[:, 1] / 4) * shading.bins.tiles_x + np.floor(pts[:, 0] / 4)).astype(np.int64)
    order = np.argsort(tile, kind="stable")
    col, _ = shading.composited(mi.Float(pts[order, 0]), mi.Float(pts[order, 1]), tile[order], False)
    rgba = np.stack([np.array(c) for c in (col.x, col.y, col.z, col.w)], 1)[np.argsort(order)]
    np.testing.assert_array_equal(rgba, [[0, 0, 0, 0], [1, 0, 0, 1], [1, 0, 0, 1], [0, 0, 0, 0]])


def test_boundary_samples_lie_on_the_outline():
    canvas, shading = stages(square_scene(), 16, 16)
    s = sample_outline(shading.edges, canvas, 2.0, 0, seed=0)
    assert s.total == pytest.approx(32.0) and s.n == 64
    p = np.stack([s.x.numpy(), s.y.numpy()], 1)
    n = np.stack([s.nx.numpy(), s.ny.numpy()], 1)
    on_x = np.isclose(p[:, 0], 4) | np.isclose(p[:, 0], 12)
    on_y = np.isclose(p[:, 1], 4) | np.isclose(p[:, 1], 12)
    assert np.all(on_x | on_y)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, rtol=1e-6)
    e = shading.edges.np_edges[s.edge.numpy()].astype(np.float64)
    np.testing.assert_allclose(e[:, :2] + s.t.numpy()[:, None].astype(np.float64) * (e[:, 2:] - e[:, :2]), p,
                               rtol=1e-6, atol=1e-5)
    # stratified: 16 samples on each of the four 8 px sides
    side = np.where(np.isclose(p[:, 1], 4) & ~np.isclose(p[:, 0], 12), 0, np.where(np.isclose(p[:, 0], 12), 1,
                    np.where(np.isclose(p[:, 1], 12), 2, 3)))
    assert np.bincount(side, minlength=4).tolist() == [16, 16, 16, 16]
    np.testing.assert_array_equal(np.sort(s.layer.numpy()), np.zeros(64))


@pytest.mark.parametrize("filt", ["box", "tent", "gaussian"])
def test_filter_taps_splat_and_gather_are_transposes(filt):
    """The boundary splat spreads a point's value over the pixels of its normalised filter: the
    weights of points well inside the canvas sum to 1 (box: a point on a pixel border splits
    half/half), and gather is the transpose of splat (<splat(v), g> == <v, gather(g)>)."""
    from penumbra.integrators.vector.boundary import FilterTaps
    from penumbra.integrators.vector.pixels import Canvas
    canvas = Canvas(12, 10, 2, 4, 4, 3, 4, filt)
    rng = np.random.default_rng(3)
    item = rng.integers(0, 2, 40)
    x = rng.uniform(3, 9, 40) + item * canvas.item_width
    x[0], item[0] = 5.0, 0   # exactly on the border between pixels 4 and 5
    y = rng.uniform(3, 7, 40)
    taps = FilterTaps(mi.Float(x), mi.Float(y), mi.UInt32(item), canvas)
    v = rng.normal(size=40)
    img = np.array(taps.splat([mi.Float(v), mi.Float(np.ones(40))])[1])
    g = rng.normal(size=2 * 12 * 10)
    back = np.array(taps.gather([mi.Float(g)])[0])
    splat_v = np.array(taps.splat([mi.Float(v)])[0])
    np.testing.assert_allclose(np.dot(splat_v, g), np.dot(v, back), rtol=1e-5)
    ones = np.array(taps.gather([mi.Float(np.ones(2 * 12 * 10))])[0])
    if filt == "gaussian":   # pixel-normalised: sum_c g(p - c) / (integral of g)^2 per point
        from penumbra.integrators.vector.pixels import GAUSS_SIGMA
        from scipy.special import erf

        def g1(u):
            d = u[:, None] - (np.floor(u)[:, None] + np.arange(-2, 3) + 0.5)
            return np.where(np.abs(d) < 1.5, np.exp(-0.5 * (d / GAUSS_SIGMA) ** 2), 0).sum(1)
        z = GAUSS_SIGMA * np.sqrt(np.pi / 2) * 2 * erf(1.5 / (GAUSS_SIGMA * np.sqrt(2)))
        expected = g1(x - item * canvas.item_width) * g1(y) / z ** 2
    else:   # a partition of unity
        expected = np.ones(40)
    np.testing.assert_allclose(ones, expected, rtol=1e-5)
    assert img.sum() == pytest.approx(expected.sum(), rel=1e-5)
    if filt == "box":
        assert img.reshape(2, 10, 12)[0, int(y[0]), 4] >= 0.5 and img.reshape(2, 10, 12)[0, int(y[0]), 5] >= 0.5


def test_rasterize_pixel_aligned_square_is_exact():
    img = np.array(rasterize(square_scene(), 16, 16, spp=4))
    expected = np.zeros((16, 16, 4))
    expected[4:12, 4:12] = [1, 0, 0, 1]
    np.testing.assert_array_equal(img, expected)


def test_recomputed_shading_matches_the_stored_graph(monkeypatch):
    """With gradients, shading is a custom op that recomputes coverage, paint and compositing in its
    derivative passes (composite.RecomputedShading); its image and its reverse- and forward-mode
    derivatives (gradient paint: inverse transforms; group opacity: isolated compositing) equal
    those of the same stages kept on the AD graph."""
    import drjit as dr
    from penumbra.integrators.vector import composite
    from penumbra.scenes.vector import load_svg
    sc = load_svg('<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24">'
                  '<defs><linearGradient id="lg" x1="2" y1="0" x2="20" y2="5" gradientUnits="userSpaceOnUse">'
                  '<stop offset="0.1" stop-color="#ff0000"/><stop offset="0.9" stop-color="#0000ff"/>'
                  '</linearGradient></defs><g id="g" opacity="0.6">'
                  '<rect id="a" x="3.3" y="4.2" width="12" height="13" fill="url(#lg)" stroke="#203040"/>'
                  '<polygon id="p" points="8.2,7.1 21.6,9.3 15.4,21.7" fill="#2050d0"/></g></svg>')
    names = ("a.fill.stops.color", "a.fill.start", "p.points", "g.opacity", "a.stroke_width")
    wts = mi.Float(np.random.default_rng(3).random(24 * 24 * 4).astype(np.float32))

    def derivatives():
        xs = {k: mi.Float(sc.params.pack(k)) for k in names}
        dr.enable_grad(list(xs.values()))
        img = rasterize(sc, 24, 24, spp=4, params=xs)
        dr.backward(dr.sum(img.array * wts))
        rev = [np.array(dr.grad(x)) for x in xs.values()]
        xs = {k: mi.Float(sc.params.pack(k)) for k in names}
        dr.enable_grad(list(xs.values()))
        img = rasterize(sc, 24, 24, spp=4, params=xs)
        for x in xs.values():
            dr.set_grad(x, 1.0)
        fwd = np.array(dr.forward_to(img.array))
        return np.array(img.array), rev, fwd

    img, rev, fwd = derivatives()
    monkeypatch.setattr(composite.Shading, "shade", lambda self, px, py, tile, diff: (
        lambda c, P: (c, P.n_pairs, P.n_cov))(*self.composited(px, py, tile, diff)))
    img_g, rev_g, fwd_g = derivatives()
    np.testing.assert_allclose(img, img_g, atol=1e-6)
    for r, g in zip(rev, rev_g):
        assert np.abs(g).max() > 0
        np.testing.assert_allclose(r, g, rtol=1e-5, atol=1e-5 * np.abs(g).max())
    np.testing.assert_allclose(fwd, fwd_g, rtol=1e-5, atol=1e-5 * np.abs(fwd_g).max())
