"""``rasterize``: anti-aliased, differentiable rasterization of vector scenes.

Forward: stratified samples per pixel (``spp``), grouped by ``T x T`` tiles
(:mod:`.binning`); per (sample, candidate layer) a winding number decides coverage; covered
layers are composited source-over in draw order (:class:`.kernels.Composite`); a box, tent or
Gaussian pixel filter reconstructs pixels (ratio estimator). ``filter="prefilter"`` instead uses
one sample at the pixel centre with analytic coverage ``clip(0.5 + signed distance)`` (diffvg's
prefiltering, Li et al. 2020 Sec. 4.2): continuous in the parameters, so its gradients come from
AD alone (diffvg's prefiltered circles get zero gradients; here they do not).

Gradients (Li et al. 2020, Sec. 4): the interior term (colours, stops, gradient geometry,
opacities) flows through AD into the paint evaluation of each covered sample; the boundary term
samples points ``p`` on every edge of every fill and stroke outline (stratified, proportional to
length), evaluates the composited colour on both sides, and adds
``sum_p  k(p - c) / Z_c * (f(p - eps n) - f(p + eps n)) * |e| / n_e * (n . dp/dtheta)``
to pixel ``c`` as a zero-valued term whose derivative is exactly that (forward *and* reverse
mode). Interior stroke edges (quad ends, wedges) have equal colours on both sides and contribute
nothing, so unions, fill rules and occlusion are handled by the two-sided difference itself.
Samples exactly on a pixel border split half/half (box filter), the convention that central
finite differences see (diffvg counts such edges twice).
"""
from __future__ import annotations

import numpy as np
import drjit as dr

from penumbra.renderer import ensure_variant
from penumbra.scenes.errors import ParameterError, SceneError
from penumbra.scenes.vector.model import VectorScene

from .binning import argsort_small, bin_edges, device_edges
from .compile import PAINT_LINEAR, PAINT_RADIAL, check_values, compile_scene, override_indices
from .kernels import Pairs, PointSet, _winding_loop, composite, coverage, isolate, jump, paint, segment_ids
from .tessellate import _compose, tessellate

FILTERS = {"box": 0.5, "tent": 1.0, "gaussian": 1.5, "prefilter": 0.5}
GAUSS_SIGMA = 0.5


def _kernel1d(d, kind):
    d = np.abs(d)
    if kind == "box":
        return np.where(d < 0.5, 1.0, np.where(d == 0.5, 0.5, 0.0))
    if kind == "tent":
        return np.clip(1.0 - d, 0.0, None)
    return np.where(d < 1.5, np.exp(-0.5 * (d / GAUSS_SIGMA) ** 2), 0.0)


def _integral1d(lo, hi, kind):
    """Integral of the 1D kernel over [lo, hi] (offsets from the pixel centre)."""
    from scipy.special import erf
    if kind == "box":
        return np.clip(np.minimum(hi, 0.5) - np.maximum(lo, -0.5), 0, None)
    if kind == "tent":
        def F(x):
            x = np.clip(x, -1, 1)
            return np.where(x < 0, 0.5 * (x + 1) ** 2, 1 - 0.5 * (1 - x) ** 2)
        return F(hi) - F(lo)
    s = GAUSS_SIGMA * np.sqrt(2)
    lo, hi = np.clip(lo, -1.5, 1.5), np.clip(hi, -1.5, 1.5)
    return GAUSS_SIGMA * np.sqrt(np.pi / 2) * (erf(hi / s) - erf(lo / s))


def _side_eps(W, H):
    """Offset of the two sides of a boundary sample from the edge (pixels)."""
    return 1e-3 * max(1.0, max(W, H) / 256.0)


class _Item:
    pass


def _as_theta(comp, scene, overrides, sx, sy, xoff):
    import mitsuba as mi
    theta0 = comp.theta0.copy()
    # canvas scale and batch offset folded into the (constant) root transform slot
    rt = comp.chains[0, 0] if len(comp.chains) else None
    root = theta0[-6:].copy()
    root = np.array(_compose((sx, 0.0, 0.0, sy, xoff, 0.0), tuple(root)))
    theta0[-6:] = root
    theta_np = theta0.copy()
    theta = mi.Float(theta0)
    overridden = np.zeros(theta0.size, bool)
    for pattern, value in (overrides or {}).items():
        names, idx, sizes = override_indices(comp, scene, pattern)
        if dr.is_array_v(value):
            v = value.array if dr.is_tensor_v(value) else (dr.ravel(value) if dr.depth_v(value) > 1 else value)
            v = mi.Float(v) if type(v) is not mi.Float else v
            vnp = np.array(dr.detach(v), dtype=np.float64)
        else:
            vnp = np.asarray(value, dtype=np.float64).reshape(-1)
            v = mi.Float(vnp)
        if vnp.size != idx.size:
            raise ParameterError(f"parameter {pattern!r} ({len(names)} name(s)) expects {idx.size} values, got {vnp.size}")
        check_values(names, sizes, vnp)
        theta_np[idx] = vnp
        overridden[idx] = True
        pos = np.full(theta0.size, -1, np.int64)
        pos[idx] = np.arange(idx.size)
        sel = pos >= 0
        theta = dr.select(mi.Bool(sel), dr.gather(mi.Float, v, mi.UInt32(np.maximum(pos, 0))), theta)
    return theta, theta_np, overridden


def _layer_arrays(items, mi):
    """Per-layer device arrays (all batch items concatenated; theta slots shifted)."""
    rec = {k: [] for k in ("ptype", "color", "offsets", "colors", "nstops", "a", "b", "r", "spread", "gt", "evenodd", "shape")}
    thetas, alphas, mats, iso = [], [], [[] for _ in range(6)], []
    shift = 0
    l_base = 0
    shape_shift = 0
    max_stops = 1
    has_grad = False
    for it in items:
        comp = it.comp
        for layer in comp.layers:
            p = layer["paint"]
            rec["ptype"].append(p["type"])
            rec["color"].append(shift + p.get("color", comp.zero_slot))
            rec["offsets"].append(shift + p.get("offsets", comp.zero_slot))
            rec["colors"].append(shift + p.get("colors", comp.zero_slot))
            rec["nstops"].append(p.get("n", 1))
            rec["a"].append(shift + p.get("a", comp.zero_slot))
            rec["b"].append(shift + p.get("b", comp.zero_slot))
            rec["r"].append(shift + p.get("r", comp.zero_slot))
            rec["spread"].append(p.get("spread", 0))
            rec["gt"].append(shift + p.get("transform", comp.identity_slot))
            rec["evenodd"].append(bool(layer["rule"]))
            rec["shape"].append(shape_shift + layer["shape"])
            max_stops = max(max_stops, p.get("n", 1))
            has_grad |= p["type"] in (PAINT_LINEAR, PAINT_RADIAL)
        thetas.append(it.theta)
        opac = np.array([comp.opac[l["shape"]] for l in comp.layers], np.int64).reshape(
            len(comp.layers), comp.opac.shape[1])
        # opacity nodes (groups, shapes with fill and stroke) whose opacity may differ from 1 are
        # composited in isolation (see ``_isolate``); their opacity leaves the layers' own alpha
        for slot, lo, hi, depth in comp.nodes:
            if it.theta_np[slot] != 1.0 or it.overridden[slot]:
                iso.append((shift + slot, l_base + lo, l_base + hi, depth))
                rows = opac[lo:hi]
                rows[rows == slot] = comp.one_slot
        alphas.append(opac + shift)
        l_base += len(comp.layers)
        for k in range(6):
            mats[k].append(it.geom.matrices[k] if it.geom.matrices is not None else mi.Float())
        shift += dr.width(it.theta)
        shape_shift += len(comp.shapes)
    theta = dr.concat(thetas) if len(thetas) > 1 else thetas[0]
    lay = {k: (mi.UInt32(np.asarray(v, np.int64)) if k not in ("evenodd",) else mi.Bool(np.asarray(v, bool)))
           for k, v in rec.items()}
    lay["max_stops"] = max_stops
    width = max([a.shape[1] for a in alphas] + [1])
    slots = np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=-1) for a in alphas]) \
        if alphas else np.zeros((0, 1), np.int64)
    alpha = dr.full(mi.Float, 1.0, len(slots))
    for k in range(width):
        col = slots[:, k]
        alpha = alpha * dr.select(mi.Bool(col >= 0), dr.gather(mi.Float, theta, mi.UInt32(np.maximum(col, 0))), 1.0)
    lay["alpha"] = alpha
    lay["iso"] = sorted(iso, key=lambda n: -n[3])   # innermost first
    if has_grad and len(rec["shape"]):
        M = [dr.gather(mi.Float, dr.concat(m) if len(m) > 1 else m[0], lay["shape"]) for m in mats]
        GT = [dr.gather(mi.Float, theta, lay["gt"] + k) for k in range(6)]
        G = _compose(tuple(M), tuple(GT))
        det = G[0] * G[3] - G[1] * G[2]
        det = dr.select(dr.abs(det) > 1e-30, det, 1e-30)
        ia, ib, ic, id_ = G[3] / det, -G[1] / det, -G[2] / det, G[0] / det
        ie = -(ia * G[4] + ic * G[5])
        if_ = -(ib * G[4] + id_ * G[5])
        lay["inv"] = (ia, ib, ic, id_, ie, if_)
    return theta, lay, has_grad


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
    if filter not in FILTERS:
        raise ValueError(f"rasterize(): unknown filter {filter!r}; use one of {sorted(FILTERS)}")
    if int(spp) < 1:
        raise ValueError(f"rasterize(): spp must be >= 1, got {spp}")
    spp = 1 if filter == "prefilter" else int(spp)
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
    W = int(width if width is not None else round(scenes[0].width))
    H = int(height if height is not None else round(scenes[0].height))
    if W < 1 or H < 1:
        raise ValueError(f"rasterize(): image size must be positive, got {W} x {H}")
    T = int(tile)
    TX, TY = -(-W // T) + 1, -(-H // T)   # one spare tile column per item (outside evaluations)
    Wp = TX * T
    B = len(scenes)
    radius = FILTERS[filter]
    # Tile lists must hold for every point evaluated in a tile: pixel samples lie inside it; boundary
    # samples p +- eps n (eps = _side_eps) sit near the tile of p, or up to radius - 0.5 px outside the
    # canvas in a border tile (farther out their filter weight is 0); prefiltered coverage reaches
    # 0.5 px (+ the half width of strokes) beyond an edge. Every extra pixel of margin grows the lists.
    margin = 0.05 + 2 * _side_eps(W, H) + (0.5 if filter == "prefilter" else radius - 0.5)

    items = []
    for b, (sc, pr) in enumerate(zip(scenes, plist)):
        it = _Item()
        it.scene = sc
        it.comp = compile_scene(sc)
        it.theta, it.theta_np, it.overridden = _as_theta(it.comp, sc, pr, W / sc.width, H / sc.height, b * Wp)
        it.geom = tessellate(it.comp, it.theta, it.theta_np, tol=tol / max(1.0, 1.0), mode=filter)
        items.append(it)
    shape = (B, H, W, 4) if batched else (H, W, 4)
    if not any(it.comp.layers for it in items):  # nothing to draw: transparent image
        empty = mi.TensorXf(dr.zeros(mi.Float, B * H * W * 4), shape)
        return (empty, {"n_edges": 0, "n_pairs": 0, "n_covered": 0, "n_candidates": 0}) if return_info else empty
    theta_all, lay, has_grad = _layer_arrays(items, mi)
    # concatenated edges / layers
    e_off, l_off = 0, 0
    np_edges, edge_layer, edge_item, layer_item, edge_samp, edge_end, edge_nb = [], [], [], [], [], [], []
    for b, it in enumerate(items):
        g = it.geom
        np_edges.append(g.np_edges)
        edge_end.append(g.edge_end)
        edge_nb.append(g.edge_nb + e_off)
        e_off += len(g.np_edges)
        edge_layer.append(g.edge_layer + l_off)
        edge_samp.append(g.edge_samp)
        edge_item.append(np.full(len(g.edge_layer), b))
        layer_item.append(np.full(len(it.comp.layers), b))
        l_off += len(it.comp.layers)
    np_edges = np.concatenate(np_edges)
    edge_layer = np.concatenate(edge_layer).astype(np.int64)
    edge_samp = np.concatenate(edge_samp).astype(bool)
    layer_item = np.concatenate(layer_item).astype(np.int64)
    nonempty = [it.geom for it in items if len(it.geom.np_edges)]
    if nonempty:
        X0 = dr.concat([g.x0 for g in nonempty]) if len(nonempty) > 1 else nonempty[0].x0
        Y0 = dr.concat([g.y0 for g in nonempty]) if len(nonempty) > 1 else nonempty[0].y0
        X1 = dr.concat([g.x1 for g in nonempty]) if len(nonempty) > 1 else nonempty[0].x1
        Y1 = dr.concat([g.y1 for g in nonempty]) if len(nonempty) > 1 else nonempty[0].y1
    L = l_off
    layer_sdf = np.zeros(L, bool)
    layer_half = np.zeros(L)
    layer_reach = np.zeros(L)
    layer_mlim = np.ones(L)
    half_ad = mi.Float()
    if filter == "prefilter":
        # prefiltered strokes: distance to the centre line, within the half width (scaled by the
        # transform's area factor), shaped beyond the pieces' ends by the SVG joins and caps
        off, shift = 0, 0
        wslot, wscale = np.zeros(L, np.int64), np.zeros(L)
        for it in items:
            for li, layer in enumerate(it.comp.layers):
                if layer["kind"] == "stroke":
                    sh = it.comp.shapes[layer["shape"]]
                    layer_sdf[off + li] = True
                    s = it.geom.matrices_np[layer["shape"]]
                    wscale[off + li] = 0.5 * np.sqrt(abs(s[0] * s[3] - s[1] * s[2]))
                    wslot[off + li] = shift + it.comp.width_slot[layer["shape"]]
                    layer_half[off + li] = wscale[off + li] * it.theta_np[it.comp.width_slot[layer["shape"]]]
                    layer_mlim[off + li] = sh.miter_limit
                    ext = max(1.0, sh.miter_limit if sh.join == "miter" else 1.0, np.sqrt(2) if sh.cap == "square" else 1.0)
                    layer_reach[off + li] = layer_half[off + li] * ext
            off += len(it.comp.layers)
            shift += dr.width(it.theta)
        half_ad = dr.gather(mi.Float, theta_all, mi.UInt32(wslot)) * mi.Float(wscale)
    if layer_sdf.any():  # prefiltered strokes reach their half width (miter tips, square caps: more)
        margin += float(layer_reach[layer_sdf].max())
    evenodd_np = np.array([bool(x) for x in np.array(lay["evenodd"])] if L else [], bool)
    if filter == "prefilter" and nonempty:
        ends, nbs = np.concatenate(edge_end), np.concatenate(edge_nb)
        edev = {"end0": mi.UInt32(ends[:, 0]), "end1": mi.UInt32(ends[:, 1]), "nb0": mi.UInt32(nbs[:, 0]),
                "nb1": mi.UInt32(nbs[:, 1]), "X0": X0, "Y0": Y0, "X1": X1, "Y1": Y1}
    bins = bin_edges(np_edges, edge_layer, L, B * Wp, TY * T, T=T, margin=margin, evenodd=evenodd_np, sdf=layer_sdf,
                     layer_item=layer_item, item_cols=TX)
    bdev = {"cand_layer": mi.UInt32(bins.cand_layer), "cand_w0": mi.Int32(bins.cand_w0),
            "cand_edge0": mi.UInt32(bins.cand_edge0), "cand_count": mi.UInt32(bins.cand_count),
            "edges": device_edges(bins, X0, Y0, X1, Y1) if nonempty else mi.Float(), "layer_evenodd": mi.Bool(evenodd_np),
            "layer_sdf": mi.Bool(layer_sdf), "layer_half": mi.Float(layer_half), "layer_reach": mi.Float(layer_reach)}
    n_tiles = bins.tiles_x * bins.tiles_y
    n_cand = np.diff(bins.cand_start)

    def make_pairs(tile_np):
        counts = np.bincount(tile_np, minlength=n_tiles)
        point_start = np.concatenate([[0], np.cumsum(counts)])
        pair_base = np.concatenate([[0], np.cumsum(counts * n_cand)])
        P = Pairs(n_tiles, mi.UInt32(point_start), mi.UInt32(pair_base), mi.UInt32(bins.cand_start),
                  int(pair_base[-1]))
        P.pair_tile = segment_ids(pair_base)
        return P

    def premultiplied(px, py, P, differentiable):
        """Premultiplied RGBA of every covered pair's layer paint (layer opacity included)."""
        from .kernels import _decode
        t, q, c = _decode(P.cov_pairs, P)
        layer = dr.gather(mi.UInt32, bdev["cand_layer"], c)
        x = dr.gather(mi.Float, px, q)
        y = dr.gather(mi.Float, py, q)
        th = theta_all if differentiable else dr.detach(theta_all)
        col = paint(layer, x, y, th, lay if differentiable else _detached(lay), None, has_grad)
        a = col[3] * dr.gather(mi.Float, lay["alpha"] if differentiable else dr.detach(lay["alpha"]), layer)
        if filter == "prefilter":
            ei = dr.gather(mi.UInt32, mi.UInt32(bins.edge_id), dr.gather(mi.UInt32, P.argmin, P.cov_pairs))
            ex0, ey0 = dr.gather(mi.Float, X0, ei), dr.gather(mi.Float, Y0, ei)
            ex1, ey1 = dr.gather(mi.Float, X1, ei), dr.gather(mi.Float, Y1, ei)
            if not differentiable:
                ex0, ey0, ex1, ey1 = map(dr.detach, (ex0, ey0, ex1, ey1))
            dx, dy = ex1 - ex0, ey1 - ey0
            t_raw = ((x - ex0) * dx + (y - ey0) * dy) / dr.maximum(dx * dx + dy * dy, 1e-20)
            tt = dr.clip(t_raw, 0.0, 1.0)
            d = dr.sqrt(dr.square(x - ex0 - tt * dx) + dr.square(y - ey0 - tt * dy))
            sdf = dr.gather(mi.Bool, bdev["layer_sdf"], layer)
            half = dr.gather(mi.Float, half_ad if differentiable else dr.detach(half_ad), layer)
            sd = _stroke_sd(x, y, ex0, ey0, dx, dy, t_raw, d, half, ei, dr.gather(mi.Float, mi.Float(layer_mlim), layer),
                            edev, differentiable)
            cov = dr.select(sdf, 0.5 - sd, dr.select(dr.gather(mi.Bool, P.inside, P.cov_pairs), d + 0.5, 0.5 - d))
            # candidates of edge-free tiles (constant winding) have no nearest edge: fully covered
            has_edge = dr.isfinite(dr.gather(mi.Float, P.dmin, P.cov_pairs))
            a = a * dr.select(has_edge, dr.clip(cov, 0.0, 1.0), 1.0)
        out = (col[0] * a, col[1] * a, col[2] * a, a)
        dr.eval(out)   # one kernel (each gather source evaluated on its own would re-run the paint 4x)
        return out

    def evaluate(px, py, tile_np, differentiable):
        """Composited premultiplied RGBA at points (sorted by tile)."""
        P = make_pairs(tile_np)
        coverage(px, py, P, bdev, prefilter=(filter == "prefilter"))
        ps = PointSet(len(tile_np), mi.UInt32(tile_np), P)
        if P.n_cov == 0:
            return composite(None, None, None, None, ps), P
        vals = isolate(premultiplied(px, py, P, differentiable), P, ps.tile, bdev["cand_layer"], theta_all, lay["iso"],
                       differentiable)
        return composite(*vals, ps, differentiable), P

    # --- regular samples ------------------------------------------------------------------------
    S = T * T * spp
    n_points = n_tiles * S
    q = dr.arange(mi.UInt32, n_points)
    tile_id = q // S
    r = q - tile_id * S
    pix = r // spp
    j = r - pix * spp
    tx = tile_id % bins.tiles_x
    ty = tile_id // bins.tiles_x
    ix = tx * T + pix % T
    iy = ty * T + pix // T
    if filter == "prefilter":
        ox = oy = mi.Float(0.5)
    else:
        rng = mi.PCG32(size=n_points, initstate=mi.UInt64(seed) * 0x9E3779B97F4A7C15 + dr.arange(mi.UInt64, n_points))
        u, v = rng.next_float32(), rng.next_float32()
        sq = int(round(np.sqrt(spp)))
        if sq * sq == spp:
            ox = (mi.Float(j % sq) + u) / sq
            oy = (mi.Float(j // sq) + v) / sq
        else:
            ox, oy = u, v
    px = mi.Float(ix) + ox
    py = mi.Float(iy) + oy
    dr.eval(px, py)
    tile_np = np.repeat(np.arange(n_tiles, dtype=np.int64), S)
    diff = dr.grad_enabled(theta_all)
    samples, Pmain = evaluate(px, py, tile_np, diff)

    # --- pixel reconstruction ---------------------------------------------------------------------
    # output pixel (b, y, x) -> tile-ordered pixel index
    bb, yy, xx = np.meshgrid(np.arange(B), np.arange(H), np.arange(W), indexing="ij")
    gx = bb * Wp + xx

    def pix_index(gx_, y_):
        return ((y_ // T) * bins.tiles_x + gx_ // T) * (T * T) + (y_ % T) * T + (gx_ % T)

    chans = [samples.x, samples.y, samples.z, samples.w]
    if filter in ("box", "prefilter"):
        pix_vals = [dr.block_sum(c, spp) / spp if spp > 1 else c for c in chans]
        idx = mi.UInt32(pix_index(gx, yy).reshape(-1))
        img = [dr.gather(mi.Float, c, idx) for c in pix_vals]
    else:
        # ratio estimator over the samples of the 3x3 neighbouring pixels (inside the canvas)
        K = 9 * spp
        i = dr.arange(mi.UInt32, B * H * W * K)
        pixel = i // K
        r_ = i - pixel * K
        nb = r_ // spp
        jj = r_ - nb * spp
        pb = pixel // (H * W)
        rem = pixel - pb * (H * W)
        py_ = rem // W
        px_ = rem - py_ * W
        nx = mi.Int32(px_) + mi.Int32(nb % 3) - 1
        ny = mi.Int32(py_) + mi.Int32(nb // 3) - 1
        ok = (nx >= 0) & (nx < W) & (ny >= 0) & (ny < H)
        nxu, nyu = mi.UInt32(dr.clip(nx, 0, W - 1)), mi.UInt32(dr.clip(ny, 0, H - 1))
        gxn = pb * Wp + nxu
        sidx = (((nyu // T) * bins.tiles_x + gxn // T) * (T * T) + (nyu % T) * T + (gxn % T)) * spp + jj
        sx = dr.gather(mi.Float, px, sidx) - (mi.Float(pb * Wp + px_) + 0.5)
        sy = dr.gather(mi.Float, py, sidx) - (mi.Float(py_) + 0.5)
        if filter == "tent":
            wgt = dr.maximum(1.0 - dr.abs(sx), 0.0) * dr.maximum(1.0 - dr.abs(sy), 0.0)
        else:
            wgt = dr.select((dr.abs(sx) < 1.5) & (dr.abs(sy) < 1.5),
                            dr.exp(-0.5 * (sx * sx + sy * sy) / (GAUSS_SIGMA * GAUSS_SIGMA)), 0.0)
        wgt = dr.select(ok, wgt, 0.0)
        den = dr.block_sum(wgt, K)
        den = dr.select(den > 0, den, 1.0)
        img = [dr.block_sum(dr.gather(mi.Float, c, sidx) * wgt, K) / den for c in chans]

    # --- boundary term ------------------------------------------------------------------------------
    info = {"n_pixel_samples": B * H * W * spp, "n_edges": len(np_edges), "n_pairs": Pmain.n_pairs, "n_covered": Pmain.n_cov,
            "n_candidates": len(bins.cand_layer)}
    if diff and filter != "prefilter" and len(np_edges):
        cand_tile = np.repeat(np.arange(n_tiles), n_cand)
        cand_key = cand_tile * (L + 1) + bins.cand_layer   # sorted: candidates are in (tile, layer) order

        def evaluate_jump(pxm, pym, pxp, pyp, tile_np, owner):
            """Colour jump ``f(p - eps n) - f(p + eps n)`` across boundary samples (premultiplied
            RGBA). Only the layer owning the sampled edge changes coverage between the two sides
            (2 eps apart): every candidate is tested at p - eps n, the owner again at p + eps n, and
            the jump is ``+-T_above (c_own - a_own B_below)`` from one compositing sweep."""
            P = make_pairs(tile_np)
            coverage(pxm, pym, P, bdev)
            n_s = len(tile_np)
            key = tile_np * (L + 1) + owner
            q = cand_key.searchsorted(key) if len(cand_key) else np.zeros(n_s, np.int64)
            qc = np.minimum(q, max(len(cand_key) - 1, 0))
            found = (q < len(cand_key)) & (cand_key[qc] == key) if len(cand_key) else np.zeros(n_s, bool)
            counts = np.bincount(tile_np, minlength=n_tiles)
            pstart = np.cumsum(counts) - counts
            pbase = np.concatenate([[0], np.cumsum(counts * n_cand)])
            k = qc - bins.cand_start[tile_np]
            pair = pbase[tile_np] + k * counts[tile_np] + np.arange(n_s) - pstart[tile_np]
            idx = np.nonzero(found)[0]
            cov_m = dr.zeros(mi.Bool, n_s)
            cov_p = dr.zeros(mi.Bool, n_s)
            union = mi.Bool(P.mask)  # copy: covered at p - eps n, or the owner covered at p + eps n
            if len(idx):
                ii, ci, pi = mi.UInt32(idx), mi.UInt32(qc[idx]), mi.UInt32(pair[idx])
                w = _winding_loop(dr.gather(mi.Float, pxp, ii), dr.gather(mi.Float, pyp, ii),
                                  dr.gather(mi.UInt32, bdev["cand_edge0"], ci), dr.gather(mi.UInt32, bdev["cand_count"], ci),
                                  bdev["edges"], dr.gather(mi.Int32, bdev["cand_w0"], ci))
                eo = dr.gather(mi.Bool, bdev["layer_evenodd"], dr.gather(mi.UInt32, bdev["cand_layer"], ci))
                inside = dr.select(eo, (w & 1) != 0, w != 0)
                dr.scatter(cov_p, inside, ii)
                dr.scatter(cov_m, dr.gather(mi.Bool, P.mask, pi), ii)
                dr.scatter(union, True, pi, inside)
            own_k = mi.UInt32(np.where(found, k, 0xFFFFFFFF).astype(np.uint32))
            U = Pairs(P.n_tiles, P.point_start, P.pair_base, P.cand_start, P.n_pairs)
            U.pair_tile, U.mask = P.pair_tile, union
            U.cov_pairs = dr.compress(union)
            U.n_cov = dr.width(U.cov_pairs)
            U.cov_index = dr.prefix_sum(mi.UInt32(dr.select(union, 1, 0)))
            if U.n_cov == 0:
                return [dr.zeros(mi.Float, n_s) for _ in range(4)]
            ps = PointSet(n_s, mi.UInt32(tile_np), U)
            vals = premultiplied(pxm, pym, U, False)
            if not lay["iso"]:
                return jump(*vals, ps, P.mask, own_k, cov_m, cov_p)
            # isolated groups: composite both sides (they differ in the owner's coverage only)
            f = []
            for side in (P.mask, U.mask):
                if side is U.mask:   # p + eps n: the owner as seen there
                    side = mi.Bool(P.mask)
                    if len(idx):
                        dr.scatter(side, inside, pi)
                S_ = Pairs(U.n_tiles, U.point_start, U.pair_base, U.cand_start, U.n_pairs, side, U.cov_pairs,
                           U.cov_index, U.n_cov, pair_tile=U.pair_tile)
                ps_ = PointSet(n_s, ps.tile, S_)
                f.append(composite(*isolate(vals, S_, ps.tile, bdev["cand_layer"], theta_all, lay["iso"], False),
                                   ps_, False))
            return [f[0][c] - f[1][c] for c in range(4)]

        img = _boundary(img, X0, Y0, X1, Y1, np_edges, edge_layer, layer_item, edge_samp, evaluate_jump, bins, filter, W, H, Wp,
                        B, T, edge_density, seed, info)
    # --- straight alpha, (B, H, W, 4) tensor ------------------------------------------------------
    a = img[3]
    inv = dr.select(a > 1e-8, 1.0 / dr.select(a > 1e-8, a, 1.0), 0.0)
    out = [img[0] * inv, img[1] * inv, img[2] * inv, a]  # no clipping: it would zero gradients at 0 and 1
    n = B * H * W
    k = dr.arange(mi.UInt32, 4 * n)
    p = k // 4
    ch = k - 4 * p
    flat = dr.select(ch == 0, dr.gather(mi.Float, out[0], p),
                     dr.select(ch == 1, dr.gather(mi.Float, out[1], p),
                               dr.select(ch == 2, dr.gather(mi.Float, out[2], p), dr.gather(mi.Float, out[3], p))))
    shape = (B, H, W, 4) if batched else (H, W, 4)
    tensor = mi.TensorXf(flat, shape)
    return (tensor, info) if return_info else tensor


def _stroke_sd(x, y, ex0, ey0, dx, dy, t_raw, d, half, ei, mlim, edev, differentiable):
    """Signed distance to a prefiltered stroke whose nearest centre-line piece is ``ei``: ``d - half``
    along the piece; beyond an end of it, the SVG join with the neighbouring piece (miter within
    the miter limit: the two offset lines; bevel: the chord between them; round) or the cap (butt:
    the end line, square: half a width further, round)."""
    import mitsuba as mi
    from .tessellate import END_BEVEL, END_BUTT, END_MITER, END_SQUARE, JOIN_FLAG
    at0 = t_raw <= 0.0
    beyond = at0 | (t_raw >= 1.0)
    k = dr.select(at0, dr.gather(mi.UInt32, edev["end0"], ei), dr.gather(mi.UInt32, edev["end1"], ei))
    k = dr.select(beyond, k, 0)
    kind, joined = k & (JOIN_FLAG - 1), (k & JOIN_FLAG) != 0
    vx, vy = dr.select(at0, ex0, ex0 + dx), dr.select(at0, ey0, ey0 + dy)
    l2 = dx * dx + dy * dy
    has_dir = l2 > 1e-20
    ln = dr.sqrt(dr.select(has_dir, l2, 1.0))
    ux, uy = dr.select(has_dir, dx / ln, 1.0), dr.select(has_dir, dy / ln, 0.0)   # zero length: user x axis
    px, py = x - vx, y - vy
    along, across = px * ux + py * uy, -px * uy + py * ux
    out = dr.select(at0, -along, along)
    side = dr.maximum(dr.abs(across) - half, out)
    sd_cap = dr.select(kind == END_BUTT, side, dr.maximum(dr.abs(across) - half, dr.select(
        has_dir, out, dr.abs(along)) - half))
    # the neighbour piece at this end (the same travel direction through the vertex)
    nb = dr.select(at0, dr.gather(mi.UInt32, edev["nb0"], ei), dr.gather(mi.UInt32, edev["nb1"], ei))
    nx0, ny0, nx1, ny1 = (dr.gather(mi.Float, edev[k_] if differentiable else dr.detach(edev[k_]), nb)
                          for k_ in ("X0", "Y0", "X1", "Y1"))
    ndx, ndy = nx1 - nx0, ny1 - ny0
    nl = dr.sqrt(dr.maximum(ndx * ndx + ndy * ndy, 1e-20))
    wx, wy = ndx / nl, ndy / nl
    # outer side of the turn (incoming x outgoing direction; at a start the neighbour comes first)
    turn = ux * wy - uy * wx
    sgn = dr.select(dr.select(at0, -turn, turn) > 0, -1.0, 1.0)
    ax, ay, bx, by = -sgn * uy, sgn * ux, -sgn * wy, sgn * wx         # outer offset normals
    sd_miter = dr.maximum(px * ax + py * ay, px * bx + py * by) - half
    mx, my = ax + bx, ay + by
    mn = dr.sqrt(dr.maximum(mx * mx + my * my, 1e-20))
    mx, my = mx / mn, my / mn
    sd_bevel = px * mx + py * my - half * (ax * mx + ay * my)
    cos_turn = ux * wx + uy * wy
    miter_ok = dr.rsqrt(dr.maximum(0.5 * (1.0 + cos_turn), 1e-30)) <= mlim
    sd_join = dr.select((kind == END_MITER) & miter_ok, sd_miter,
                        dr.select((kind == END_MITER) | (kind == END_BEVEL), sd_bevel, d - half))
    return dr.select((kind == END_BUTT) | (kind == END_SQUARE), sd_cap, dr.select(joined, sd_join, d - half))


def _detached(lay):
    out = dict(lay)
    if "inv" in out:
        out["inv"] = tuple(dr.detach(v) for v in out["inv"])
    return out


def _boundary(img, X0, Y0, X1, Y1, np_edges, edge_layer, layer_item, edge_samp, evaluate, bins, filt, W, H, Wp, B, T,
              density, seed, info):
    import mitsuba as mi
    cand = np.nonzero(edge_samp)[0]
    e = np_edges[cand]
    d = e[:, 2:] - e[:, :2]
    length = np.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2)
    lx = e[:, [0, 2]] - (layer_item[edge_layer[cand]] * Wp)[:, None]
    R = FILTERS[filt] + 0.5
    vis = (length > 0) & (lx.max(1) > -R) & (lx.min(1) < W + R) & (e[:, [1, 3]].max(1) > -R) & \
        (e[:, [1, 3]].min(1) < H + R)
    vi = np.nonzero(vis)[0]
    if not len(vi):
        return img
    eid = cand[vi]
    d, length = d[vi], length[vi]
    # stratified samples along the concatenated outline (probability proportional to length)
    cum = np.cumsum(length)
    total = float(cum[-1])
    if density is None:  # diffvg-like budget: as many boundary samples as pixel samples, <= 1 per pixel
        density = min(1.0, info["n_pixel_samples"] / max(total, 1e-9))
    N = max(1, int(np.ceil(total * density)))
    rng = np.random.default_rng(seed + 7919)
    u = (np.arange(N) + rng.random(N)) * (total / N)
    j = np.minimum(np.searchsorted(cum, u, side="right"), len(eid) - 1)
    s_edge = eid[j]
    t = np.clip((u - (cum[j] - length[j])) / length[j], 0.0, 1.0)
    dj = d[j]
    p_np = e[vi[j], :2] + t[:, None] * dj
    n_np = np.stack([dj[:, 1], -dj[:, 0]], 1) / length[j][:, None]
    item = layer_item[edge_layer]
    eps = _side_eps(W, H)
    s_item = item[s_edge]
    # both sides in one pass, grouped by the tile of p (its lists hold for points within the margin)
    col = np.clip(np.floor((p_np[:, 0] - s_item * Wp) / T), 0, bins.tiles_x // B - 1).astype(np.int64) + \
        s_item * (bins.tiles_x // B)
    row = np.clip(np.floor(p_np[:, 1] / T), 0, bins.tiles_y - 1).astype(np.int64)
    tile = row * bins.tiles_x + col
    order = argsort_small(tile)
    pox, poy, nox, noy = (mi.Float(np.ascontiguousarray(v[order])) for v in (p_np[:, 0], p_np[:, 1], n_np[:, 0], n_np[:, 1]))
    jmp = evaluate(pox - eps * nox, poy - eps * noy, pox + eps * nox, poy + eps * noy, tile[order],
                   edge_layer[s_edge][order])
    dr.eval(jmp)
    df_sorted = np.stack([c.numpy() for c in jmp], 1)
    df = np.empty_like(df_sorted)
    df[order] = df_sorted                      # f(p - eps n) - f(p + eps n)
    N = len(p_np)
    coef = df * (total / N)
    nz = np.any(df != 0, axis=1)
    info["n_boundary_samples"] = int(N)
    info["n_boundary_active"] = int(nz.sum())
    if not nz.any():
        return img
    sel = np.nonzero(nz)[0]
    p_sel, coef = p_np[sel], coef[sel]
    # pixel splat with the normalised filter
    lxp = p_sel[:, 0] - s_item[sel] * Wp
    rows_s, rows_p, rows_w = [], [], []
    fx, fy = np.floor(lxp).astype(np.int64), np.floor(p_sel[:, 1]).astype(np.int64)
    rng_o = (-2, -1, 0, 1, 2) if filt == "gaussian" else (-1, 0) if filt == "box" else (-1, 0, 1)
    for oy in rng_o:
        for ox in rng_o:
            cx, cy = fx + ox, fy + oy
            ok = (cx >= 0) & (cx < W) & (cy >= 0) & (cy < H)
            wx = _kernel1d(lxp - (cx + 0.5), filt)
            wy = _kernel1d(p_sel[:, 1] - (cy + 0.5), filt)
            w = wx * wy * ok
            if filt != "box":
                zx = _integral1d(-(cx + 0.5), W - (cx + 0.5), filt)
                zy = _integral1d(-(cy + 0.5), H - (cy + 0.5), filt)
                w = w / np.maximum(zx * zy, 1e-12)
            m = w > 0
            rows_s.append(sel[m])
            rows_p.append(((s_item[sel][m] * H + cy[m]) * W + cx[m]))
            wm, cm = w[m].astype(np.float32), coef[m].astype(np.float32)
            rows_w.append([wm * cm[:, c] for c in range(4)])
    rs, rp = np.concatenate(rows_s), np.concatenate(rows_p)
    rw = [np.concatenate([r[c] for r in rows_w]) for c in range(4)]   # per channel, float32
    # zero-valued term whose derivative is sum_rows w * n . dp/dtheta (custom op: see _BoundaryOp)
    return [img[c] + v for c, v in enumerate(dr.custom(_BoundaryOp, X0, Y0, X1, Y1, (s_edge, t, n_np, rs, rp, rw, B * H * W)))]


class _BoundaryOp(dr.CustomOp):
    """Image increment that is zero in value and whose derivative with respect to the edge
    endpoints is the boundary integral: for sample ``s`` on edge ``e`` at ``p = (1-t) a + t b``,
    ``d img[pix] = sum_rows w[row] * n_s . ((1-t) da + t db)``. Written as a custom operation so
    that both AD modes evaluate it with plain gathers/scatters outside the AD graph."""

    def eval(self, X0, Y0, X1, Y1, data):
        import mitsuba as mi
        s_edge, t, n_np, rs, rp, rw, npix = data
        self.n_edges = dr.width(X0)
        self.se = mi.UInt32(s_edge)
        self.t = mi.Float(t)
        self.nx, self.ny = mi.Float(n_np[:, 0]), mi.Float(n_np[:, 1])
        self.rs, self.rp = mi.UInt32(rs), mi.UInt32(rp)
        self.rw = [mi.Float(v) for v in rw]
        self.npix = npix
        return tuple(dr.zeros(mi.Float, npix) for _ in range(4))

    def forward(self):
        import mitsuba as mi
        g = [self.grad_in(k) for k in ("X0", "Y0", "X1", "Y1")]
        g = [v if dr.width(v) == self.n_edges else dr.zeros(mi.Float, self.n_edges) + v for v in g]
        t = self.t
        dpx = (1 - t) * dr.gather(mi.Float, g[0], self.se) + t * dr.gather(mi.Float, g[2], self.se)
        dpy = (1 - t) * dr.gather(mi.Float, g[1], self.se) + t * dr.gather(mi.Float, g[3], self.se)
        dn = dr.gather(mi.Float, self.nx * dpx + self.ny * dpy, self.rs)
        out = []
        for c in range(4):
            acc = dr.zeros(mi.Float, self.npix)
            dr.scatter_reduce(dr.ReduceOp.Add, acc, dn * self.rw[c], self.rp)
            out.append(acc)
        self.set_grad_out(tuple(out))

    def backward(self):
        import mitsuba as mi
        go = self.grad_out()
        per_row = mi.Float(0.0)
        for c in range(4):
            per_row = per_row + self.rw[c] * dr.gather(mi.Float, go[c], self.rp)
        ws = dr.zeros(mi.Float, dr.width(self.t))
        dr.scatter_reduce(dr.ReduceOp.Add, ws, per_row, self.rs)
        t = self.t
        out = {}
        for key, wgt, nrm in (("X0", 1 - t, self.nx), ("Y0", 1 - t, self.ny), ("X1", t, self.nx), ("Y1", t, self.ny)):
            acc = dr.zeros(mi.Float, self.n_edges)
            dr.scatter_reduce(dr.ReduceOp.Add, acc, ws * wgt * nrm, self.se)
            self.set_grad_in(key, acc)

    def name(self):
        return "penumbra.vector.BoundaryTerm"
