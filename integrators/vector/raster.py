"""``rasterize``: anti-aliased, differentiable rasterization of vector scenes.

The rasterizer runs in named stages, each a function passing typed records to the next:

1. **compile** (:func:`.compile.compile_scene`, :func:`.compile.bind_parameters`): the scene's
   parameters packed into ``theta``, shapes and paints as slots and affine formulas in it;
2. **tessellate** (:func:`.tessellate.tessellate`): polygon edges in canvas pixels, attached to
   ``theta``; the batch's edges and layer tables (:mod:`.batch`, :mod:`.layers`);
3. **bin** (:func:`.binning.bin_edges`): per ``T x T`` tile, the candidate layers and their edge
   lists;
4. **sample** (:func:`.pixels.pixel_samples`): stratified samples per pixel (``spp``);
5. **composite** (:class:`.composite.Shading`, :func:`.pixels.reconstruct`): per (sample,
   candidate layer) a winding number decides coverage; covered layers are composited source-over
   in draw order; a box, tent or Gaussian pixel filter reconstructs pixels (ratio estimator).
   ``filter="prefilter"`` instead uses one sample at the pixel centre with analytic coverage
   (:mod:`.prefilter`, diffvg's prefiltering, Li et al. 2020 Sec. 4.2), whose gradients come from
   AD alone;
6. **boundary** (:func:`.boundary.boundary_term`): the boundary term of the gradient (Li et al.
   2020, Sec. 4), that of shader paints' own discontinuities (:mod:`.shader_edges`) and of
   pattern tiles' edges (:mod:`.pattern_edges`); the interior term (colours, stops, gradient
   geometry, opacities, shader values) flows through AD into the paint evaluation of each covered
   sample.
"""
from __future__ import annotations

import drjit as dr

from penumbra.renderer import checks, ensure_variant, memory
from penumbra.scenes.vector.model import VectorScene

from .batch import BatchItem, concat_edges
from .binning import bin_edges, upload_bins
from .boundary import boundary_term
from .compile import bind_parameters, compile_scene
from .composite import Shading
from .layers import layer_table
from .pixels import FILTERS, Canvas, pixel_samples, reconstruct, straight_alpha_tensor
from .prefilter import piece_ends, prefilter_strokes
from .pattern_edges import pattern_edge_term
from .shader_edges import shader_edge_term
from .tessellate import tessellate

__all__ = ["FILTERS", "rasterize"]


def _batch(scene, params):
    """The scenes and parameter sets of a call, and whether the result is a batch."""
    scenes = scene if isinstance(scene, (list, tuple)) else [scene]
    plist = params if isinstance(params, (list, tuple)) else None
    batched = isinstance(scene, (list, tuple)) or plist is not None
    if plist is not None:
        if len(scenes) == 1:
            scenes = scenes * len(plist)
        elif len(scenes) != len(plist):
            raise ValueError("rasterize(): a list of scenes and a list of parameter sets must have the same length")
    else:
        plist = [params] * len(scenes)
    if not scenes:
        raise ValueError("rasterize(): empty batch")
    for s in scenes:
        if not isinstance(s, VectorScene):
            raise TypeError(f"rasterize() expects a VectorScene (see pn.load_svg), got {type(s).__name__}")
    return scenes, plist, batched


# Peak bytes per pixel sample, measured on the bundled shapes.svg at 512-2048 px and 1-4 spp
# (100-137 B); scenes with many overlapping paths need more (candidate lists per tile).
BYTES_PER_SAMPLE = 192


def _canvas(scenes, width, height, spp, filter, tile) -> Canvas:
    checks.choice("rasterize(filter=...)", filter, sorted(FILTERS))
    spp = checks.integer("rasterize(spp=...)", spp, lo=1)
    T = checks.integer("rasterize(tile=...)", tile, lo=1, hi=64)
    W = checks.integer("rasterize(width=...)", width if width is not None else round(scenes[0].width), lo=1)
    H = checks.integer("rasterize(height=...)", height if height is not None else round(scenes[0].height), lo=1)
    samples = float(W) * H * len(scenes) * (1 if filter == "prefilter" else spp)
    memory.guard(f"rasterize() of {len(scenes)} x {W}x{H} pixels at spp {spp}", samples * BYTES_PER_SAMPLE,
                 "the image size or spp")
    return Canvas(W, H, len(scenes), T, -(-W // T) + 1, -(-H // T), 1 if filter == "prefilter" else spp, filter)


def rasterize(scene, width=None, height=None, spp: int = 4, filter: str = "box", params=None, seed: int = 0,
              tile: int = 4, tol: float = 0.05, edge_density: float | None = None, return_info: bool = False):
    """Rasterize ``scene`` (a :class:`VectorScene`, or a list of them) to straight-alpha RGBA.

    ``params`` overrides parameter values by name or glob pattern (``{"c.radius": r}``,
    ``{"*.points": P}``); Dr.Jit values with gradients enabled make the image differentiable with
    respect to them (``dr.backward`` / ``dr.forward``). A *list* of dicts renders the same scene
    with each parameter set. Returns ``mi.TensorXf`` of shape (H, W, 4), or (B, H, W, 4) for a
    batch. Colours are sRGB-encoded values composited in sRGB space (as browsers do).

    ``spp`` samples per pixel (stratified when it is a square), ``filter`` in box | tent |
    gaussian | prefilter, ``tile`` the binning tile size, ``tol`` the flattening tolerance in pixels,
    ``edge_density`` boundary samples per pixel of outline length (gradients only; default: as many
    boundary samples as pixel samples, at most one per pixel of outline).
    """
    ensure_variant()
    import mitsuba as mi
    scenes, plist, batched = _batch(scene, params)
    canvas = _canvas(scenes, width, height, spp, filter, tile)
    B, H, W, Wp = canvas.batch, canvas.height, canvas.width, canvas.item_width
    shape = (B, H, W, 4) if batched else (H, W, 4)
    prefilter = filter == "prefilter"

    # what earlier calls and their backward passes freed (Dr.Jit's allocator cache, the heap's free
    # space) leaves the resident set before a call that would take the process above the threshold
    memory.release_freed(expected=float(B) * H * W * canvas.spp * BYTES_PER_SAMPLE)
    # 1-2. compile and tessellate every item (item b shifted right by b item widths)
    items = []
    for b, (sc, pr) in enumerate(zip(scenes, plist)):
        comp = compile_scene(sc)
        if prefilter and any(n.always_isolated for n in comp.nodes):
            raise ValueError("rasterize(filter='prefilter'): clip paths and masks need area sampling "
                             "(filter box, tent or gaussian)")
        theta = bind_parameters(comp, sc, pr, (W / sc.width, 0.0, 0.0, H / sc.height, b * Wp, 0.0))
        items.append(BatchItem(comp, theta, tessellate(comp, theta, tol=tol, mode=filter)))
    # NumPy temporaries of tessellation (here and after binning and the boundary term) leave the
    # resident set before binning
    memory.release_freed()
    if not any(it.comp.layers for it in items):  # nothing to draw: transparent image
        empty = mi.TensorXf(dr.zeros(mi.Float, B * H * W * 4), shape)
        return (empty, {"n_edges": 0, "n_pairs": 0, "n_covered": 0, "n_candidates": 0}) if return_info else empty
    theta_all = dr.concat([it.theta.values for it in items]) if len(items) > 1 else items[0].theta.values
    layers = layer_table(items, theta_all)
    edges = concat_edges(items)
    strokes = prefilter_strokes(items, theta_all, edges.n_layers, prefilter)

    # 3. bin
    reach = float(strokes.reach[strokes.sdf].max()) if strokes.sdf.any() else 0.0
    bins = bin_edges(edges.np_edges, edges.edge_layer, edges.n_layers, B * Wp, canvas.tiles_y * canvas.tile,
                     T=canvas.tile, margin=canvas.list_margin(reach), evenodd=layers.evenodd, sdf=strokes.sdf,
                     layer_item=edges.layer_item, item_cols=canvas.tiles_x_item)
    memory.release_freed()
    dev = upload_bins(bins, edges.x0, edges.y0, edges.x1, edges.y1, layers.evenodd, strokes.sdf, strokes.reach)
    ends = piece_ends(edges.edge_end, edges.edge_nb) if prefilter and edges.x0 is not None else None
    shading = Shading(bins, dev, edges, layers, theta_all, prefilter, strokes, ends)

    # 4-5. sample, composite, reconstruct pixels
    samples = pixel_samples(canvas, bins.tiles_x, seed)
    diff = dr.grad_enabled(theta_all)
    parts, n_pairs, n_cov = [], 0, 0
    for lo, hi in shading.chunks(samples.tile):   # runs of tiles: bounded per-pair state
        rng = dr.arange(mi.UInt32, lo, hi)
        c, k_pairs, k_cov = shading.shade(dr.gather(mi.Float, samples.x, rng), dr.gather(mi.Float, samples.y, rng),
                                          samples.tile[lo:hi], diff)
        parts.append(c)
        n_pairs, n_cov = n_pairs + k_pairs, n_cov + k_cov
        memory.release_freed()
    colour = parts[0] if len(parts) == 1 else mi.Vector4f(*(dr.concat([c[k] for c in parts]) for k in range(4)))
    del parts   # the runs' colours, copied into ``colour``
    img = reconstruct(canvas, bins.tiles_x, samples, colour)

    # 6. boundary term of the gradient
    info = {"n_pixel_samples": B * H * W * canvas.spp, "n_edges": len(edges.np_edges), "n_pairs": n_pairs,
            "n_covered": n_cov, "n_candidates": len(bins.cand_layer)}
    # edges carry gradients only when a parameter that moves them does (compile.Theta.geometry): an
    # image differentiated with respect to paints alone has no boundary term
    if diff and not prefilter and len(edges.np_edges) and dr.grad_enabled(edges.x0, edges.y0, edges.x1, edges.y1):
        img = boundary_term(img, shading, canvas, edge_density, seed, info)
        memory.release_freed()
    if diff and layers.shaders:
        img = shader_edge_term(img, shading, canvas, seed, info)
        img = pattern_edge_term(img, shading, canvas, edge_density, seed, info)
    tensor = straight_alpha_tensor(img, shape)
    return (tensor, info) if return_info else tensor
