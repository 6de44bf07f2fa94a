"""Tessellation: parameters -> closed polygon edges in canvas space, differentiably.

Topology (how many line pieces per curve, which joins become miters, which polygons face which way)
is decided in NumPy from detached values; positions are computed on Dr.Jit from ``theta`` so that
every edge endpoint carries its derivative with respect to every named parameter.

- Curves are flattened with uniform parameter steps; the count per cubic follows the classical
  bound ``n >= sqrt(0.75 * max|second difference| / tol)`` (in canvas pixels), raised for stroked
  shapes so that the outer-side wedge between consecutive pieces stays within ``tol`` of the true
  round offset, and rounded up to a power of two (so small parameter changes rarely change it).
- A fill is the flattened outline itself (implicitly closed); the fill rule is applied when
  counting windings.
- A stroke is a union of polygons, all oriented the same way so that the union is exactly the set
  of points with non-zero winding: one polygon per run of flattened pieces whose smooth joints
  let the inner offset lines meet within both pieces (the union of the pieces' quads and outer
  wedges, :func:`_stroke_runs`), a wedge or round fan at the other vertices inside a curve, and at
  segment corners the SVG join (miter with limit, round fan, bevel);
  caps (butt, square, round) at the ends of open subpaths, and SVG's dot/square for zero-length
  subpaths with round/square caps. This follows the stroking model of diffvg (Li et al. 2020,
  Sec. 5) but with the join and cap types SVG defines (diffvg strokes are always round).
- Dashed strokes are cut into open dash subpaths after flattening (``dashes.py``).
- The stroke outline is built in the shape's local space and then transformed, so non-uniform
  transforms distort strokes exactly as in SVG.
"""
from __future__ import annotations

from dataclasses import dataclass

import drjit as dr
import numpy as np

from penumbra.renderer.arrays import upload
from penumbra.renderer.compiled import host_kernel, use_vector_kernels

from penumbra.scenes.vector.model import ARC_PIECES

from .affine import compose
from .binning import index_dtype
from .compile import Compiled, Theta
from .dashes import dash_subpaths


@dataclass(frozen=True)
class Geometry:
    """Tessellated scene: oriented polygon edges in canvas pixels, with their layer."""
    x0: object          # mi.Float (attached) edge endpoints in canvas pixels
    y0: object
    x1: object
    y1: object
    np_edges: np.ndarray    # (E, 4) float32 detached copy (the device's values)
    edge_layer: np.ndarray  # (E,) int32 layer index
    matrices: tuple          # 6 mi.Float per shape (attached) canvas transform
    matrices_np: np.ndarray  # (S, 6)
    edge_samp: np.ndarray    # (E,) edge may lie on the outline (gets boundary samples)
    edge_end: np.ndarray     # (E, 2) prefiltered stroke pieces: END_* kind of each end (+ JOIN_FLAG)
    edge_nb: np.ndarray      # (E, 2) prefiltered stroke pieces: neighbour piece (edge) at each end
                             # (both zeros unless tessellated with mode="prefilter")


@dataclass(frozen=True)
class Flattened:
    """Flattened subpaths (detached): vertices of subpath ``s`` are
    ``points[first[s] : first[s] + count[s]]``."""
    points: np.ndarray      # (V, 2) vertices in shape space
    corner: np.ndarray      # (V,) vertex starts a curve segment (SVG joins apply there)
    first: np.ndarray       # (S,) first vertex of each subpath
    count: np.ndarray       # (S,) vertex count of each subpath
    closed: np.ndarray      # (S,) subpath is closed
    shape: np.ndarray       # (S,) shape index of each subpath


@dataclass(frozen=True)
class ShapeMetrics:
    """Per shape (detached): half the stroke width (shape space) and the canvas transform's largest
    singular value (how much it magnifies)."""
    half_width: np.ndarray  # (n_shapes,)
    scale: np.ndarray       # (n_shapes,)


@dataclass(frozen=True)
class OutlinePoints:
    """Outline points of all polygons, as formulas evaluated on the device: point ``k`` is

    ``V[v] + h * (alpha * rot(sigma N[i0], lam * angle(N[i0], N[i1]) + phi) + beta D[i0]
    + gamma sigma (N[i0] + N[i1]) / (1 + N[i0] . N[i1]))``

    with ``V`` the flattened vertices, ``D`` / ``N`` the unit direction / normal of stroke piece
    ``seg_a[i] -> seg_b[i]`` and ``h`` the shape's half stroke width (fills: ``v`` only).
    Polygons are consecutive runs of ``poly_sizes`` points, drawn by layer ``poly_layer``."""
    v: np.ndarray
    i0: np.ndarray
    i1: np.ndarray
    sigma: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    lam: np.ndarray
    phi: np.ndarray
    samp: np.ndarray        # the edge from this point to the next may lie on the outline
    end0: np.ndarray        # prefiltered stroke pieces: END_* kind of the start (+ JOIN_FLAG)
    end1: np.ndarray        # ... and of the end
    poly_sizes: np.ndarray
    poly_layer: np.ndarray
    seg_a: np.ndarray       # stroke pieces (vertex indices), addressed by i0 / i1
    seg_b: np.ndarray


class OutlineBuilder:
    """Collects :class:`OutlinePoints` polygon by polygon (vectorised over many polygons)."""
    FIELDS = ("v", "i0", "i1", "sigma", "alpha", "beta", "gamma", "lam", "phi", "samp", "end0", "end1")
    # compact storage (the device reads float32 and uint32): indices int32, coefficients float32
    DTYPES = {"v": np.int32, "i0": np.int32, "i1": np.int32, "samp": np.bool_, "end0": np.int32, "end1": np.int32}

    def __init__(self):
        self._points = {k: [] for k in self.FIELDS}
        self._sizes, self._layers = [], []
        self.seg_a = self.seg_b = np.zeros(0, np.int64)

    def add_points(self, v, i0=0, i1=0, sigma=1.0, alpha=0.0, beta=0.0, gamma=0.0, lam=0.0, phi=0.0, n=None,
                   samp=True, end0=0, end1=0):
        """Append ``n`` points (scalars broadcast). ``samp``: whether the edge starting at this
        point can lie on the outline (stroke pieces' shared ends and wedge sides are interior by
        construction and get no boundary samples)."""
        n = len(np.atleast_1d(v)) if n is None else n
        for k, val in (("v", v), ("i0", i0), ("i1", i1), ("sigma", sigma), ("alpha", alpha), ("beta", beta),
                       ("gamma", gamma), ("lam", lam), ("phi", phi), ("samp", samp), ("end0", end0), ("end1", end1)):
            dtype = self.DTYPES.get(k, np.float32)
            self._points[k].append(np.full(n, val, dtype) if np.isscalar(val) else np.asarray(val, dtype))

    def add_polygons(self, sizes, layers):
        """Close the points added since the last call into polygons of ``sizes`` points each."""
        self._sizes.append(np.asarray(sizes, np.int64).reshape(-1))
        self._layers.append(np.asarray(layers, np.int64).reshape(-1))

    def finish(self) -> OutlinePoints:
        cat = {k: (np.concatenate(v) if v else np.zeros(0, self.DTYPES.get(k, np.float32)))
               for k, v in self._points.items()}
        self._points = {k: [] for k in self.FIELDS}   # the parts are not needed any more
        sizes = np.concatenate(self._sizes) if self._sizes else np.zeros(0, np.int64)
        layers = np.concatenate(self._layers) if self._layers else np.zeros(0, np.int64)
        return OutlinePoints(**cat, poly_sizes=sizes, poly_layer=layers, seg_a=self.seg_a, seg_b=self.seg_b)


def shape_matrices(comp: Compiled, theta, theta_np):
    """Canvas transform of every shape (its chain of transforms, root first): 6 ``mi.Float``
    (attached to ``theta``) and their detached values ``(n_shapes, 6)``."""
    import mitsuba as mi
    S, D = comp.chains.shape
    M = None
    Mn = None
    for lvl in range(D):
        idx = comp.chains[:, lvl]
        T = tuple(dr.gather(mi.Float, theta, upload(mi.UInt32, idx + k)) for k in range(6))
        Tn = tuple(theta_np[idx + k] for k in range(6))
        M = T if M is None else compose(M, T)
        Mn = Tn if Mn is None else compose(Mn, Tn)
    return M, np.stack(Mn, 1)


def _spectral(Mn):
    a, b, c, d = Mn[:, 0], Mn[:, 1], Mn[:, 2], Mn[:, 3]
    s1 = a * a + b * b + c * c + d * d
    det = a * d - b * c
    return np.sqrt(0.5 * (s1 + np.sqrt(np.maximum(s1 * s1 - 4 * det * det, 0.0))))


def _control_points(comp: Compiled, theta, theta_np):
    """Control points of all subpaths (concatenated; elliptical arcs replaced by their cubics):
    ``mi.Float`` x and y attached to ``theta``, and their detached values (n, 2)."""
    import mitsuba as mi
    subs = comp.subpaths
    if subs:
        idx = np.concatenate([s.idx for s in subs])
        coef = np.concatenate([s.coef for s in subs])
        const = np.concatenate([s.const for s in subs])
    else:
        idx = np.zeros((0, 2, 3), np.int64)
        coef = np.zeros((0, 2, 3))
        const = np.zeros((0, 2))
    cp_np = np.einsum("nkt,nkt->nk", coef, theta_np[idx]) + const
    if not np.all(np.isfinite(cp_np)):
        raise ValueError("vector scene: a control point is NaN or Inf")

    def cp_coord(k):
        acc = upload(mi.Float, const[:, k])
        for t in range(3):
            if not coef[:, k, t].any():
                continue
            acc = acc + upload(mi.Float, coef[:, k, t]) * dr.gather(mi.Float, theta, upload(mi.UInt32, idx[:, k, t]))
        return acc
    CPX, CPY = cp_coord(0), cp_coord(1)
    if comp.arcs:
        CPX, CPY = _arc_control_points(comp.arcs, CPX, CPY, theta)
        dr.eval(CPX, CPY)
        cp_np = np.stack([CPX.numpy(), CPY.numpy()], 1).astype(np.float64)
        if not np.all(np.isfinite(cp_np)):
            raise ValueError("vector scene: an elliptical arc has a NaN or Inf control point")
    return CPX, CPY, cp_np


def _flatten(comp: Compiled, CPX, CPY, cp_np, metrics: ShapeMetrics, tol: float):
    """Flatten every cubic segment into uniform parameter steps (vectorised; the count per cubic
    from the module's bound, raised for strokes): the :class:`Flattened` subpaths, the shape of each
    vertex, and the vertices on the device (``mi.Float`` x, y attached to the control points;
    ``None`` without vertices)."""
    import mitsuba as mi
    subs, shapes = comp.subpaths, comp.shapes
    scale, half_np = metrics.scale, metrics.half_width
    S_ = len(subs)
    ncp_s = np.array([len(sp.idx) for sp in subs], np.int64)
    nseg_s = (ncp_s - 1) // 3
    cpoff_s = np.cumsum(ncp_s) - ncp_s
    sub_shape = np.array([sp.shape for sp in subs], np.int64)
    sub_closed = np.array([sp.closed for sp in subs], bool)
    is_line = np.concatenate([np.asarray(sp.is_line, bool) for sp in subs]) if S_ else np.zeros(0, bool)
    p0i, seg_sub, seg_k = _seg_ranges(cpoff_s, nseg_s)
    p0i = cpoff_s[seg_sub] + 3 * seg_k
    if len(p0i):
        p0, p1, p2, p3 = cp_np[p0i], cp_np[p0i + 1], cp_np[p0i + 2], cp_np[p0i + 3]
        sc = scale[sub_shape[seg_sub]]
        dd = np.maximum(np.linalg.norm(p0 - 2 * p1 + p2, axis=1), np.linalg.norm(p1 - 2 * p2 + p3, axis=1)) * sc
        n = np.ceil(np.sqrt(0.75 * dd / tol))
        stroked = np.array([s_.stroke is not None for s_ in shapes], bool)[sub_shape[seg_sub]] & \
            (half_np[sub_shape[seg_sub]] > 0)
        if stroked.any():
            # total turning of the control polygon bounds the curve's turning
            d1, d2, d3 = p1 - p0, p2 - p1, p3 - p2
            ang = _angle(d1, d2) + _angle(d2, d3)
            theta_max = np.maximum(np.sqrt(8 * tol / np.maximum(half_np[sub_shape[seg_sub]] * sc, 1e-9)), 1e-3)
            n = np.where(stroked, np.maximum(n, np.ceil(ang / theta_max)), n)
        n = np.clip(n, 1, 256)
        n = np.where(n > 2, 2 * np.ceil(n / 2), n).astype(np.int64)  # even counts change less often
        n[is_line] = 1
    else:
        n = np.zeros(0, np.int64)
    _, vseg, vk = _seg_ranges(np.zeros(len(n), np.int64), n)
    # one terminal vertex per subpath: end of its last segment (or its only point)
    term_base = np.where(nseg_s > 0, cpoff_s + 3 * np.maximum(nseg_s - 1, 0), cpoff_s)
    term_t = np.where(nseg_s > 0, 1.0, 0.0)
    v_sub_all = np.concatenate([seg_sub[vseg], np.arange(S_)])
    key = 2 * v_sub_all + np.concatenate([np.zeros(len(vseg), np.int64), np.ones(S_, np.int64)])
    order = np.argsort(key, kind="stable")
    v_base = np.concatenate([p0i[vseg], term_base])[order]
    v_t = np.concatenate([vk / np.maximum(n[vseg], 1), term_t])[order]
    v_corner = np.concatenate([vk == 0, np.ones(S_, bool)])[order]
    v_sub = v_sub_all[order]
    v_shape = sub_shape[v_sub] if len(v_sub) else np.zeros(0, np.int64)
    nv = len(v_base)
    sub_count = np.bincount(v_sub, minlength=S_).astype(np.int64) if S_ else np.zeros(0, np.int64)
    sub_first = np.cumsum(sub_count) - sub_count
    u = 1 - v_t
    uu, tt = u * u, v_t * v_t
    Bw = np.stack([uu * u, 3 * uu * v_t, 3 * u * tt, tt * v_t], 1)
    rows = np.minimum(v_base[:, None] + np.arange(4), len(cp_np) - 1)
    fv_np = np.stack([np.einsum("ni,ni->n", Bw, cp_np[:, k][rows]) for k in (0, 1)], 1) if nv else np.zeros((0, 2))
    FVX = FVY = None
    if nv:
        FVX, FVY = mi.Float(0.0), mi.Float(0.0)
        for i in range(4):
            ii = upload(mi.UInt32, v_base + i)
            FVX = FVX + upload(mi.Float, Bw[:, i]) * dr.gather(mi.Float, CPX, ii)
            FVY = FVY + upload(mi.Float, Bw[:, i]) * dr.gather(mi.Float, CPY, ii)
    return Flattened(fv_np, v_corner, sub_first, sub_count, sub_closed, sub_shape), v_shape, FVX, FVY


def _coefficients(a: np.ndarray):
    """The per-point coefficients ``a`` as an ``mi.Float``: a literal when all are equal (no array
    for the kernels to read, none kept alive by the AD graph), else the uploaded array."""
    import mitsuba as mi
    if len(a) and np.all(a == a[0]):
        return mi.Float(float(a[0]))
    return upload(mi.Float, a)


def tessellate(comp: Compiled, bound: Theta, tol: float = 0.05, mode: str = "sample",
               compiled: bool | None = None) -> Geometry:
    """Stage 2, tessellate: the polygon edges of every layer in canvas pixels (attached to
    ``bound.values`` where a parameter that moves edges has gradients, :meth:`.compile.Theta.geometry`),
    ``tol`` the flattening tolerance in pixels. ``mode="prefilter"``: strokes
    become their centre-line pieces (the rasterizer measures the distance to them). ``compiled``:
    the host loops in numba kernels (None: :data:`penumbra.renderer.compiled.vector_host_kernels`, off by
    default; False: vectorised NumPy, the same edges)."""
    import mitsuba as mi
    compiled = use_vector_kernels(compiled, "tessellate")
    theta, theta_np = bound.geometry(), bound.values_np
    shapes = comp.shapes
    M, Mn = shape_matrices(comp, theta, theta_np)
    scale = _spectral(Mn) if len(shapes) else np.zeros(0)
    half_np = 0.5 * theta_np[comp.width_slot] if len(shapes) else np.zeros(0)
    metrics = ShapeMetrics(half_np, scale)
    CPX, CPY, cp_np = _control_points(comp, theta, theta_np)
    flat, v_shape, FVX, FVY = _flatten(comp, CPX, CPY, cp_np, metrics, tol)
    # --- outline point records -------------------------------------------------------------------
    subs_of_shape = {}
    for s_, sh_ in enumerate(flat.shape):
        subs_of_shape.setdefault(int(sh_), []).append(s_)
    flat, v_shape, FVX, FVY, dashed = dash_subpaths(comp, flat, v_shape, FVX, FVY, theta, theta_np)
    fill_subs, fill_layers, stroke_subs, stroke_layers = [], [], [], []
    for li, layer in enumerate(comp.layers):
        mine = subs_of_shape.get(layer.shape, ())
        if layer.kind == "fill":
            fill_subs += mine
            fill_layers += [li] * len(mine)
        elif half_np[layer.shape] > 0:
            mine = dashed.get(layer.shape, mine)
            stroke_subs += mine
            stroke_layers += [li] * len(mine)
    builder = OutlineBuilder()
    _fill_records(builder, flat, np.array(fill_subs, np.int64), np.array(fill_layers, np.int64))
    _stroke_records(builder, flat, np.array(stroke_subs, np.int64), np.array(stroke_layers, np.int64), shapes,
                    metrics, tol, mode == "prefilter", compiled)
    out = builder.finish()
    seg_a, seg_b = out.seg_a, out.seg_b
    npts = len(out.v)
    pt_shape = v_shape[out.v.astype(np.int64)] if npts else np.zeros(0, np.int64)
    if npts:
        si = upload(mi.UInt32, pt_shape)
        vi = upload(mi.UInt32, out.v)
        VX, VY = dr.gather(mi.Float, FVX, vi), dr.gather(mi.Float, FVY, vi)
        PX, PY = VX, VY
        if len(seg_a):
            sa, sb = upload(mi.UInt32, seg_a), upload(mi.UInt32, seg_b)
            dx = dr.gather(mi.Float, FVX, sb) - dr.gather(mi.Float, FVX, sa)
            dy = dr.gather(mi.Float, FVY, sb) - dr.gather(mi.Float, FVY, sa)
            ln = dr.sqrt(dx * dx + dy * dy)
            okl = ln > 0
            DX = dr.select(okl, dx / dr.select(okl, ln, 1.0), 1.0)
            DY = dr.select(okl, dy / dr.select(okl, ln, 1.0), 0.0)
            i0 = upload(mi.UInt32, out.i0)
            i1 = upload(mi.UInt32, out.i1)
            d0x, d0y = dr.gather(mi.Float, DX, i0), dr.gather(mi.Float, DY, i0)
            d1x, d1y = dr.gather(mi.Float, DX, i1), dr.gather(mi.Float, DY, i1)
            n0x, n0y, n1x, n1y = -d0y, d0x, -d1y, d1x
            sig = _coefficients(out.sigma)
            ang = dr.atan2(n0x * n1y - n0y * n1x, n0x * n1x + n0y * n1y)
            phi = _coefficients(out.lam) * ang + _coefficients(out.phi)
            cs, sn = dr.cos(phi), dr.sin(phi)
            rx = sig * (n0x * cs - n0y * sn)
            ry = sig * (n0x * sn + n0y * cs)
            den = 1.0 + n0x * n1x + n0y * n1y
            den = dr.select(den > 1e-6, den, 1e-6)
            mx, my = sig * (n0x + n1x) / den, sig * (n0y + n1y) / den
            hh = 0.5 * dr.gather(mi.Float, theta, upload(mi.UInt32, comp.width_slot[pt_shape]))
            al, be, ga = _coefficients(out.alpha), _coefficients(out.beta), _coefficients(out.gamma)
            PX = VX + hh * (al * rx + be * d0x + ga * mx)
            PY = VY + hh * (al * ry + be * d0y + ga * my)
        # canvas transform
        m = [dr.gather(mi.Float, M[k], si) for k in range(6)]
        CX = m[0] * PX + m[2] * PY + m[4]
        CY = m[1] * PX + m[3] * PY + m[5]
        dr.eval(CX, CY)
        ptx, pty = dr.detach(CX).numpy().astype(np.float64), dr.detach(CY).numpy().astype(np.float64)
    else:
        CX = CY = None
        ptx = pty = np.zeros(0)
    # --- edges of each polygon, oriented (strokes) -------------------------------------------------
    poly_sizes, poly_layer = out.poly_sizes, out.poly_layer
    if len(poly_sizes):
        start = np.cumsum(poly_sizes) - poly_sizes
        nxt = np.arange(1, npts + 1)
        nxt[start + poly_sizes - 1] = start
        area = np.add.reduceat(ptx * pty[nxt] - ptx[nxt] * pty, start)
        is_stroke = np.array([l.kind == "stroke" for l in comp.layers], bool)[poly_layer]
        center = is_stroke & (mode == "prefilter")
        ea, eb, e_poly, e_src, np_edges = (_polygon_edges_compiled if compiled else _polygon_edges_numpy)(
            ptx, pty, poly_sizes, area, is_stroke, center)
        edge_layer = poly_layer[e_poly].astype(np.int32)
        edge_samp = out.samp[e_src].astype(bool)
        if mode == "prefilter":
            # prefiltered stroke pieces: end kinds, and neighbour pieces as edge indices
            edge_end = np.stack([out.end0[e_src], out.end1[e_src]], 1).astype(np.int64)
            cen_ids = np.nonzero(center[e_poly])[0]
            nb = np.stack([out.i0[e_src], out.i1[e_src]], 1).astype(np.int64)
            edge_nb = cen_ids[np.clip(nb, 0, len(cen_ids) - 1)] if len(cen_ids) else np.zeros_like(nb)
        else:   # not used by area sampling
            edge_end = edge_nb = np.zeros((len(ea), 2), np.int64)
    else:
        ea = eb = np.zeros(0, np.int64)
        edge_layer = np.zeros(0, np.int32)
        edge_samp = np.zeros(0, bool)
        edge_end = edge_nb = np.zeros((0, 2), np.int64)
        np_edges = np.zeros((0, 4), np.float32)
    if len(ea):
        ia, ib = upload(mi.UInt32, ea), upload(mi.UInt32, eb)
        x0, y0 = dr.gather(mi.Float, CX, ia), dr.gather(mi.Float, CY, ia)
        x1, y1 = dr.gather(mi.Float, CX, ib), dr.gather(mi.Float, CY, ib)
    else:
        x0 = y0 = x1 = y1 = mi.Float()
    return Geometry(x0, y0, x1, y1, np_edges, edge_layer, M, Mn, edge_samp, edge_end, edge_nb)


def _polygon_edges(ptx, pty, sizes, area, stroke, center):
    """The edges kept of every polygon (compiled; :func:`_polygon_edges_numpy` in one loop):
    polygon ``p`` (``sizes[p]`` consecutive points ``ptx, pty``, signed doubled area ``area[p]``) is
    dropped when it is a stroke polygon (``stroke[p]``) without area; a stroke polygon of negative
    area is walked backwards (all stroke polygons positive); edges that do not move are dropped; a
    centre-line piece (``center[p]``) keeps only its first edge. Returns per kept edge its start and
    end point, its polygon and the point it starts from in the polygon's own order, and the edges
    ``(x0, y0, x1, y1)``."""
    n = len(ptx)
    ea = np.empty(n, np.int64)
    eb = np.empty(n, np.int64)
    poly = np.empty(n, np.int64)
    src = np.empty(n, np.int64)
    k = 0
    s = 0
    for p in range(len(sizes)):
        m = sizes[p]
        flip = stroke[p] and area[p] < 0 and not center[p]
        if not stroke[p] or abs(area[p]) > 1e-12 or center[p]:
            for j in range(1 if center[p] else m):
                i = s + j
                nxt = s if j == m - 1 else i + 1
                a, b = (nxt, i) if flip else (i, nxt)
                if center[p] or ptx[a] != ptx[b] or pty[a] != pty[b]:
                    ea[k], eb[k], poly[k], src[k] = a, b, p, i
                    k += 1
        s += m
    edges = np.empty((k, 4), np.float32)
    for q in range(k):
        edges[q, 0], edges[q, 1], edges[q, 2], edges[q, 3] = ptx[ea[q]], pty[ea[q]], ptx[eb[q]], pty[eb[q]]
    return ea[:k], eb[:k], poly[:k], src[:k], edges


def _polygon_edges_numpy(ptx, pty, sizes, area, stroke, center):
    """:func:`_polygon_edges` vectorised (the default; the numba kernel when opted in)."""
    npts = len(ptx)
    start = np.cumsum(sizes) - sizes
    e0 = np.arange(npts, dtype=np.int32)
    pid = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
    e1 = e0 + 1
    e1[start + sizes - 1] = start
    flip = stroke & (area < 0) & ~center
    keep_poly = ~stroke | (np.abs(area) > 1e-12) | center
    f_e = flip[pid]
    ea = np.where(f_e, e1, e0)
    eb = np.where(f_e, e0, e1)
    first = np.zeros(npts, bool)
    first[start] = True
    moves = (ptx[ea] != ptx[eb]) | (pty[ea] != pty[eb])
    ke = keep_poly[pid] & (moves | center[pid]) & (~center[pid] | first)
    ea, eb = ea[ke], eb[ke]
    edges = np.take(np.stack([ptx, pty], 1), np.stack([ea, eb], 1), axis=0).reshape(-1, 4).astype(np.float32)
    return ea, eb, pid[ke], np.nonzero(ke)[0], edges


_polygon_edges_compiled = host_kernel(_polygon_edges)


def _arc_control_points(arcs, CPX, CPY, theta):
    """Control points of SVG elliptical arcs (``ARC_PIECES`` cubics each) from their end points,
    radii and x-axis rotation, on Dr.Jit (differentiable in all of them). Endpoint-to-centre
    conversion with out-of-range radii scaled up (SVG 1.1 Appendix F.6.5-F.6.6); each piece of
    angle d is the cubic with tangent handles ``4/3 tan(d/4)`` (error 2.7e-4 r at 90 degrees)."""
    import mitsuba as mi
    a = np.array(arcs, np.int64)
    row0, start, end = a[:, 0], a[:, 1], a[:, 2]
    x1, y1 = dr.gather(mi.Float, CPX, upload(mi.UInt32, start)), dr.gather(mi.Float, CPY, upload(mi.UInt32, start))
    x2, y2 = dr.gather(mi.Float, CPX, upload(mi.UInt32, end)), dr.gather(mi.Float, CPY, upload(mi.UInt32, end))
    rx = dr.maximum(dr.abs(dr.gather(mi.Float, theta, upload(mi.UInt32, a[:, 3]))), 1e-9)
    ry = dr.maximum(dr.abs(dr.gather(mi.Float, theta, upload(mi.UInt32, a[:, 4]))), 1e-9)
    phi = dr.gather(mi.Float, theta, upload(mi.UInt32, a[:, 5])) * (dr.pi / 180.0)
    same_side = upload(mi.Bool, a[:, 6] == a[:, 7])          # large-arc flag == sweep flag
    sweep = upload(mi.Bool, a[:, 7] == 1)
    cphi, sphi = dr.cos(phi), dr.sin(phi)
    hx, hy = 0.5 * (x1 - x2), 0.5 * (y1 - y2)
    x1p, y1p = cphi * hx + sphi * hy, -sphi * hx + cphi * hy
    lam = dr.square(x1p / rx) + dr.square(y1p / ry)
    fits = lam < 1.0
    # centre offset factor sqrt((1 - lam) / lam) (F.6.5.2 divided by rx^2 ry^2); radii too small for
    # the chord grow by sqrt(lam) and put the centre on the chord (the select keeps the infinite
    # slope of the sqrt at lam = 1 out of the other branch's derivative)
    k = dr.select(fits, dr.sqrt(dr.maximum(1.0 - lam, 1e-12) / dr.maximum(lam, 1e-30)), 0.0) * \
        dr.select(same_side, -1.0, 1.0)
    grow = dr.select(fits, 1.0, dr.sqrt(lam))
    rx, ry = rx * grow, ry * grow
    cxp, cyp = k * rx * y1p / ry, -k * ry * x1p / rx
    cx = cphi * cxp - sphi * cyp + 0.5 * (x1 + x2)
    cy = sphi * cxp + cphi * cyp + 0.5 * (y1 + y2)
    ux, uy = (x1p - cxp) / rx, (y1p - cyp) / ry
    vx, vy = (-x1p - cxp) / rx, (-y1p - cyp) / ry
    t1 = dr.atan2(uy, ux)
    dt = dr.atan2(ux * vy - uy * vx, ux * vx + uy * vy)
    dt = dr.select(~sweep & (dt > 0), dt - 2 * dr.pi, dr.select(sweep & (dt < 0), dt + 2 * dr.pi, dt))
    d = dt / ARC_PIECES
    alpha = (4.0 / 3.0) * dr.tan(0.25 * d)
    # one lane per replaced row: row i of an arc is piece j = i // 3's first handle (s = +1), second
    # handle (s = -1) or end point (s = 0), at ellipse parameter t1 + (j + [i % 3 > 0]) d
    n_rows = 3 * ARC_PIECES - 1
    arc = np.repeat(np.arange(len(a)), n_rows)
    i = np.tile(np.arange(n_rows), len(a))
    A = upload(mi.UInt32, arc)

    def g(v):
        return dr.gather(mi.Float, v, A)
    t = g(t1) + upload(mi.Float, i // 3 + (i % 3 > 0)) * g(d)
    sgn = upload(mi.Float, np.where(i % 3 == 0, 1.0, np.where(i % 3 == 1, -1.0, 0.0)))
    ct, st, cp_, sp_, rx_, ry_, al = dr.cos(t), dr.sin(t), g(cphi), g(sphi), g(rx), g(ry), g(alpha)
    VX = g(cx) + rx_ * ct * cp_ - ry_ * st * sp_ + sgn * al * (-rx_ * st * cp_ - ry_ * ct * sp_)
    VY = g(cy) + rx_ * ct * sp_ + ry_ * st * cp_ + sgn * al * (-rx_ * st * sp_ + ry_ * ct * cp_)
    slot = np.full(dr.width(CPX), -1, np.int64)
    slot[row0[arc] + i] = np.arange(len(arc))
    sel, is_arc = upload(mi.UInt32, np.maximum(slot, 0)), upload(mi.Bool, slot >= 0)
    return dr.select(is_arc, dr.gather(mi.Float, VX, sel), CPX), dr.select(is_arc, dr.gather(mi.Float, VY, sel), CPY)


# ends of prefiltered stroke pieces: round (joins inside curves too), SVG joins, SVG caps; joins
# carry JOIN_FLAG (their neighbour piece is known)
END_ROUND, END_MITER, END_BEVEL, END_BUTT, END_SQUARE = 0, 1, 2, 3, 4
JOIN_FLAG = 8


def _angle(u, v):
    nu, nv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
    ok = (nu > 0) & (nv > 0)
    c = np.where(ok, np.sum(u * v, 1) / np.where(ok, nu * nv, 1), 1.0)
    return np.arccos(np.clip(c, -1, 1))


def _seg_ranges(first, count):
    """Concatenated aranges ``first[i] + [0, count[i])`` and the owner index of each element."""
    count = np.asarray(count, np.int64)
    owner = np.repeat(np.arange(len(count)), count)
    local = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    return np.repeat(np.asarray(first, np.int64), count) + local, owner, local


def _fill_records(out: OutlineBuilder, flat: Flattened, subs, layers):
    """One polygon per filled subpath ``subs`` (closing vertex dropped when it repeats the first),
    drawn by ``layers``."""
    fv_np, sub_first, sub_count = flat.points, flat.first, flat.count
    if len(subs):
        f, c = sub_first[subs], sub_count[subs].copy()
        dup = (c > 1) & np.all(np.abs(fv_np[f + c - 1] - fv_np[f]) <= 1e-12, axis=1)
        c = c - dup
        ok = c >= 3  # fewer than 3 distinct vertices cover no area
        f, c, layers = f[ok], c[ok], layers[ok]
        v, _, _ = _seg_ranges(f, c)
        if len(v):
            out.add_points(v)
            out.add_polygons(c, layers)


def _run_points(a, b, link, link_sigma, ext_next, ext_sigma, startcap, endcap):
    """The points of :func:`_stroke_runs`' polygons in polygon order, by one loop over the runs
    (compiled): ``v, i0, i1, sigma, alpha, gamma, samp`` per point, the point count and first piece
    of each run."""
    n = len(a)
    cap = 5 * n
    v = np.empty(cap, np.int32)
    i0 = np.empty(cap, np.int32)
    i1 = np.empty(cap, np.int32)
    sigma = np.empty(cap, np.float32)
    alpha = np.empty(cap, np.float32)
    gamma = np.empty(cap, np.float32)
    samp = np.empty(cap, np.bool_)
    sizes = np.empty(n, np.int64)
    firsts = np.empty(n, np.int64)
    k = 0
    n_runs = 0
    p = 0
    while p < n:
        q = p
        while q < n - 1 and link[q]:
            q += 1
        k0 = k
        # a_p+, then the + side joints in order
        v[k], i0[k], i1[k], sigma[k], alpha[k], gamma[k], samp[k] = a[p], p, 0, 1.0, 1.0, 0.0, True
        k += 1
        for i in range(p, q):
            if link_sigma[i] > 0:       # outer chord b_i+, a_(i+1)+
                v[k], i0[k], i1[k], sigma[k], alpha[k], gamma[k], samp[k] = b[i], i, 0, 1.0, 1.0, 0.0, True
                v[k + 1], i0[k + 1], i1[k + 1], sigma[k + 1], alpha[k + 1], gamma[k + 1], samp[k + 1] = \
                    b[i], min(i + 1, n - 1), 0, 1.0, 1.0, 0.0, True
                k += 2
            else:                       # miter point of the inner offsets
                v[k], i0[k], i1[k], sigma[k], alpha[k], gamma[k], samp[k] = b[i], i, min(i + 1, n - 1), 1.0, 0.0, \
                    1.0, True
                k += 1
        ext = ext_next[q] >= 0
        # b_q+, the wedge point of a folded smooth joint, b_q-
        v[k], i0[k], i1[k], sigma[k], alpha[k], gamma[k] = b[q], q, 0, 1.0, 1.0, 0.0
        samp[k] = ext_sigma[q] > 0 if ext else endcap[q]
        k += 1
        if ext:
            v[k], i0[k], i1[k], sigma[k], alpha[k], gamma[k], samp[k] = b[q], ext_next[q], 0, ext_sigma[q], 1.0, \
                0.0, ext_sigma[q] < 0
            k += 1
        v[k], i0[k], i1[k], sigma[k], alpha[k], gamma[k], samp[k] = b[q], q, 0, -1.0, 1.0, 0.0, True
        k += 1
        # the - side joints in reverse, a_p-
        for i in range(q - 1, p - 1, -1):
            if link_sigma[i] < 0:
                v[k], i0[k], i1[k], sigma[k], alpha[k], gamma[k], samp[k] = b[i], min(i + 1, n - 1), 0, -1.0, 1.0, \
                    0.0, True
                v[k + 1], i0[k + 1], i1[k + 1], sigma[k + 1], alpha[k + 1], gamma[k + 1], samp[k + 1] = \
                    b[i], i, 0, -1.0, 1.0, 0.0, True
                k += 2
            else:
                v[k], i0[k], i1[k], sigma[k], alpha[k], gamma[k], samp[k] = b[i], i, min(i + 1, n - 1), -1.0, 0.0, \
                    1.0, True
                k += 1
        v[k], i0[k], i1[k], sigma[k], alpha[k], gamma[k], samp[k] = a[p], p, 0, -1.0, 1.0, 0.0, startcap[p]
        k += 1
        sizes[n_runs], firsts[n_runs] = k - k0, p
        n_runs += 1
        p = q + 1
    return v[:k], i0[:k], i1[:k], sigma[:k], alpha[:k], gamma[:k], samp[:k], sizes[:n_runs], firsts[:n_runs]


def _run_points_numpy(a, b, link, link_sigma, ext_next, ext_sigma, startcap, endcap):
    """:func:`_run_points` vectorised (the default; the numba kernel when opted in): every point gets
    its run and position, and one scatter into per-run position slots puts them in polygon order."""
    n = len(a)
    start = np.ones(n, bool)
    start[1:] = ~link[:-1]
    run = np.cumsum(start) - 1
    first = np.nonzero(start)[0]
    last = np.append(first[1:] - 1, n - 1)
    k = (last - first + 1)[run]              # pieces in each piece's run
    li = np.arange(n) - first[run]           # position of the piece in its run
    ext = ext_next >= 0
    nxt = np.where(ext, ext_next, 0)
    recs = []   # (run, position, v, i0, i1, sigma, alpha, gamma, samp) per point
    types = (np.int32,) * 5 + (np.float32,) * 3 + (np.bool_,)

    def add(m, pos, v, i0, i1, sigma, alpha, gamma, samp):
        idx = np.nonzero(m)[0]
        recs.append([(np.broadcast_to(x, m.shape)[idx] if np.ndim(x) else np.full(len(idx), x)).astype(t)
                     for x, t in zip((run, pos, v, i0, i1, sigma, alpha, gamma, samp), types)])

    ids = np.arange(n)
    st, en = start, np.append(start[1:], True)
    add(st, 0, a, ids, 0, 1.0, 1.0, 0.0, True)                               # a_p+
    out_p = link & (link_sigma > 0)                                            # + side joints after piece i
    add(out_p, 1 + 2 * li, b, ids, 0, 1.0, 1.0, 0.0, True)                   # b_i+
    add(out_p, 2 + 2 * li, b, np.minimum(ids + 1, n - 1), 0, 1.0, 1.0, 0.0, True)   # a_(i+1)+
    add(link & ~out_p, 1 + 2 * li, b, ids, np.minimum(ids + 1, n - 1), 1.0, 0.0, 1.0, True)  # + miter
    add(en, 2 * k - 1, b, ids, 0, 1.0, 1.0, 0.0, np.where(ext, ext_sigma > 0, endcap))   # b_q+
    add(en & ext, 2 * k, b, nxt, 0, ext_sigma, 1.0, 0.0, ext_sigma < 0)      # wedge point
    add(en, 2 * k + 1, b, ids, 0, -1.0, 1.0, 0.0, True)                      # b_q-
    back = 2 * k + 2 + 2 * (k - 2 - li)                                        # - side, joints reversed
    out_m = link & (link_sigma < 0)
    add(out_m, back, b, np.minimum(ids + 1, n - 1), 0, -1.0, 1.0, 0.0, True)  # a_(i+1)-
    add(out_m, back + 1, b, ids, 0, -1.0, 1.0, 0.0, True)                     # b_i-
    add(link & ~out_m, back, b, ids, np.minimum(ids + 1, n - 1), -1.0, 0.0, 1.0, True)  # - miter
    add(st, 4 * k, a, ids, 0, -1.0, 1.0, 0.0, startcap)                       # a_p-
    cols = [np.concatenate(c) for c in zip(*recs)]
    # points in polygon order: run r owns the 4 k + 1 position slots [base[r], base[r] + 4 k]
    # (each (run, position) is used once, some slots stay empty); one scatter into the slots and a
    # compaction instead of a sort
    size = 4 * (last - first + 1) + 1
    base = np.cumsum(size) - size
    slot = np.full(int(size.sum()), -1, index_dtype(len(cols[0])))
    slot[base[cols[0]] + cols[1]] = np.arange(len(cols[0]))
    order = slot[slot >= 0]
    r_, _, v, i0, i1, sig, alpha, gamma, samp = (c[order] for c in cols)
    return v, i0, i1, sig, alpha, gamma, samp, np.bincount(r_, minlength=len(first)).astype(np.int64), \
        first.astype(np.int64)


_run_points_compiled = host_kernel(_run_points)


def _stroke_runs(out: OutlineBuilder, a, b, link, link_sigma, ext_next, ext_sigma, startcap, endcap, layer,
                 compiled: bool):
    """One polygon per run of stroke pieces ``p..q`` (piece ``i`` from vertex ``a[i]`` to ``b[i]``;
    ``link[i]``: piece ``i + 1`` continues the run across a joint whose outer wedge lies on side
    ``link_sigma[i]``). The polygon walks the + side forward and the - side back:
    ``a_p+``, per joint the outer chord ``b_i+, a_(i+1)+`` or the inner offsets' intersection
    (miter point), ``b_q+``, ``[b_q + sigma h N_next]`` (the wedge of a smooth joint that ends the
    run, ``ext_next``/``ext_sigma``), ``b_q-``, the joints in reverse, ``a_p-``. It covers exactly the
    union of the pieces' quads and the folded-in wedges (the inner offset lines meet within both
    pieces), with 3 instead of 5 edges per piece. ``startcap``/``endcap``: the piece starts / ends
    an open subpath (its end edge is on the outline); ``layer`` per piece. ``compiled``: the points
    from :func:`_run_points` (numba) rather than :func:`_run_points_numpy`."""
    v, i0, i1, sig, alpha, gamma, samp, sizes, first = (_run_points_compiled if compiled else _run_points_numpy)(
        a, b, link, link_sigma, ext_next, ext_sigma, startcap, endcap)
    out.add_points(v, i0, i1, sig, alpha, 0.0, gamma, samp=samp)
    out.add_polygons(sizes, layer[first])


def _stroke_records(out: OutlineBuilder, flat: Flattened, subs, layers, shapes, metrics: ShapeMetrics, tol: float,
                    prefilter: bool, compiled: bool):
    """Stroke outlines of subpaths ``subs`` drawn by ``layers`` (vectorised): quads, joints (wedge /
    miter / round fan), caps and dots; with ``prefilter`` the centre-line pieces and what their
    ends are. Sets the builder's stroke pieces (``seg_a -> seg_b``)."""
    if not len(subs):
        return
    fv_np, v_corner, sub_first, sub_count = flat.points, flat.corner, flat.first, flat.count
    sub_closed, sub_shape, half_np, scale = flat.closed, flat.shape, metrics.half_width, metrics.scale
    f, c, closed = sub_first[subs], sub_count[subs], sub_closed[subs]
    shp = sub_shape[subs]
    h = half_np[shp]
    sc = np.maximum(scale[shp], 1e-12)
    cap = np.array([{"butt": 0, "round": 1, "square": 2}[shapes[i].cap] for i in shp])
    join = np.array([{"miter": 0, "round": 1, "bevel": 2}[shapes[i].join] for i in shp])
    mlim = np.array([shapes[i].miter_limit for i in shp])
    theta_max = np.maximum(np.sqrt(8 * tol / np.maximum(h * sc, 1e-9)), 0.05)
    # candidate pieces: consecutive vertices, plus the closing piece of closed subpaths
    a, owner, local = _seg_ranges(f, np.maximum(c - 1, 0))
    b = a + 1
    coinc = np.all(np.abs(fv_np[f + c - 1] - fv_np[f]) <= 1e-12, axis=1)
    last = local == (c[owner] - 2)
    fix = last & closed[owner] & coinc[owner]
    b[fix] = f[owner[fix]]
    extra = np.nonzero(closed & ~coinc & (c > 1))[0]
    a = np.concatenate([a, f[extra] + c[extra] - 1])
    b = np.concatenate([b, f[extra]])
    owner = np.concatenate([owner, extra])
    order = np.argsort(owner, kind="stable")
    a, b, owner = a[order], b[order], owner[order]
    seglen = np.linalg.norm(np.take(fv_np, b, axis=0) - np.take(fv_np, a, axis=0), axis=1)
    scale_sub = np.maximum(1.0, np.abs(fv_np[f]).max(1))
    ok = seglen > 1e-9 * scale_sub[owner]
    a, b, owner = a[ok], b[ok], owner[ok]
    ns = np.bincount(owner, minlength=len(subs))
    segs = np.arange(len(a))
    first_seg = np.cumsum(ns) - ns
    last_seg = first_seg + ns - 1
    seg_a, seg_b = [a], [b]     # arrays; dots add one fake piece each
    n_seg = len(a)
    dots = np.nonzero(ns == 0)[0]
    if prefilter:
        # prefiltered strokes: distance to the centre line pieces; each piece records what its ends
        # are (``end0``/``end1``, see END_*: a join with the neighbouring piece, or a cap) and
        # that neighbour (``i0``/``i1``, a piece index), so that the rasterizer can shape the
        # region beyond a piece's end like the SVG join / cap
        if len(a):
            first = np.zeros(len(a), bool)
            first[1:] = owner[1:] != owner[:-1]
            first[0] = True
            last = np.append(first[1:], True)
            cl = closed[owner]
            prev = np.where(first, np.where(cl, last_seg[owner], -1), np.arange(len(a)) - 1)
            nxt = np.where(last, np.where(cl, first_seg[owner], -1), np.arange(len(a)) + 1)
            join_kind = np.array([END_MITER, END_ROUND, END_BEVEL])[join[owner]]
            cap_kind = np.array([END_BUTT, END_ROUND, END_SQUARE])[cap[owner]]
            # joins at segment corners (and at the closing vertex); smooth flattening vertices: round
            e0 = np.where(prev < 0, cap_kind, np.where(v_corner[a] | first, join_kind, END_ROUND))
            e1 = np.where(nxt < 0, cap_kind, np.where(v_corner[b] | last, join_kind, END_ROUND))
            out.add_points(np.stack([a, b], 1).ravel(), np.repeat(np.maximum(prev, 0), 2),
                           np.repeat(np.maximum(nxt, 0), 2),
                       end0=np.repeat(np.where(prev < 0, e0, e0 + JOIN_FLAG * (prev >= 0)), 2),
                       end1=np.repeat(np.where(nxt < 0, e1, e1 + JOIN_FLAG * (nxt >= 0)), 2))
            out.add_polygons(np.full(len(a), 2, np.int64), np.asarray(layers[owner], np.int64).reshape(-1))
        d = dots[(cap[dots] == 1) | (cap[dots] == 2)]   # SVG: dots for round caps, squares for square caps
        if len(d):
            kind = np.where(cap[d] == 2, END_SQUARE, END_ROUND)
            out.add_points(np.repeat(f[d], 2), end0=np.repeat(kind, 2), end1=np.repeat(kind, 2))
            out.add_polygons(np.full(len(d), 2, np.int64), np.asarray(layers[d], np.int64).reshape(-1))
        out.seg_a = np.concatenate(seg_a + [f[d]]).astype(np.int64)
        out.seg_b = np.concatenate(seg_b + [f[d]]).astype(np.int64)
        return
    # zero-length subpaths: SVG draws a dot (round cap) or an axis-aligned square (square cap)
    for s_ in dots:
        fake = n_seg
        n_seg += 1
        seg_a.append(f[s_:s_ + 1])
        seg_b.append(f[s_:s_ + 1])
        if cap[s_] == 1:
            K = int(max(8, 2 * np.ceil(np.pi / theta_max[s_])))
            out.add_points(f[s_], fake, fake, 1.0, 1.0, 0, 0, 0, 2 * np.pi * np.arange(K) / K, n=K)
            out.add_polygons(np.array([K], np.int64), np.array([layers[s_]], np.int64))
        elif cap[s_] == 2:
            out.add_points(f[s_], fake, fake, [1, 1, -1, -1], 1.0, [-1, 1, 1, -1], n=4)
            out.add_polygons(np.array([4], np.int64), np.array([layers[s_]], np.int64))
    out.seg_a = np.concatenate(seg_a).astype(np.int64)
    out.seg_b = np.concatenate(seg_b).astype(np.int64)
    if not len(a):
        return
    diff = np.take(fv_np, b, axis=0) - np.take(fv_np, a, axis=0)
    plen = np.linalg.norm(diff, axis=1)
    D = diff / plen[:, None]
    ext_next = np.full(len(a), -1, np.int64)
    ext_sigma = np.zeros(len(a))
    link = np.zeros(len(a), bool)        # piece i and piece i + 1 share one polygon
    link_sigma = np.ones(len(a))         # side of that joint's outer wedge
    # joints
    j0 = np.nonzero(owner[:-1] == owner[1:])[0]
    j1 = j0 + 1
    cl = np.nonzero(closed & (ns > 1))[0]
    j0 = np.concatenate([j0, last_seg[cl]])
    j1 = np.concatenate([j1, first_seg[cl]])
    if len(j0):
        jo = owner[j0]
        V = b[j0]
        d0, d1 = D[j0], D[j1]
        cross = d0[:, 0] * d1[:, 1] - d0[:, 1] * d1[:, 0]
        dot = np.sum(d0 * d1, 1)
        is_close = np.zeros(len(j0), bool)
        is_close[len(j0) - len(cl):] = True
        corner = v_corner[V] | is_close
        sigma = -np.sign(cross)
        sigma[sigma == 0] = 1.0
        turn = np.abs(np.arctan2(cross, dot))
        active = turn > 1e-7
        kind = np.where(corner, join[jo], 2)
        ratio_ok = 1.0 / np.sqrt(np.maximum((1 + dot) / 2, 1e-30)) <= mlim[jo]
        kind = np.where((kind == 0) & ~ratio_ok, 2, kind)
        kind = np.where(~corner & (turn > 0.5), 1, kind)  # sharp turns inside curves: round
        i0, i1 = segs[j0], segs[j1]
        # smooth joints inside a curve: the outer-side wedge is folded into the piece's own polygon
        smooth = active & (kind == 2) & ~corner & (turn < 0.5)
        # ... and when the inner offset lines of the two pieces meet within both (h tan(turn / 2) at
        # most half of either length), the two pieces share one polygon (see _stroke_runs)
        fits = h[jo] * np.tan(0.5 * np.minimum(turn, 0.5)) <= 0.5 * np.minimum(plen[j0], plen[j1])
        linked = (smooth | ~active) & ~is_close & fits
        link[j0[linked]] = True
        link_sigma[j0[linked]] = sigma[linked]
        fold = smooth & ~linked
        ext_next[j0[fold]] = i1[fold]
        ext_sigma[j0[fold]] = sigma[fold]
        m = np.nonzero(active & (kind == 2) & ~smooth)[0]
        if len(m):
            out.add_points(np.repeat(V[m], 3), np.stack([i0[m], i0[m], i1[m]], 1).ravel(), 0, np.repeat(sigma[m], 3),
                       np.tile([0.0, 1.0, 1.0], len(m)), n=3 * len(m), samp=np.tile([False, True, False], len(m)))
            out.add_polygons(np.full(len(m), 3, np.int64), np.asarray(layers[jo[m]], np.int64).reshape(-1))
        m = np.nonzero(active & (kind == 0))[0]
        if len(m):
            out.add_points(np.repeat(V[m], 4), np.stack([i0[m], i0[m], i0[m], i1[m]], 1).ravel(), np.repeat(i1[m], 4),
                       np.repeat(sigma[m], 4), np.tile([0.0, 1.0, 0.0, 1.0], len(m)), 0.0,
                       np.tile([0.0, 0.0, 1.0, 0.0], len(m)), n=4 * len(m),
                       samp=np.tile([False, True, True, False], len(m)))
            out.add_polygons(np.full(len(m), 4, np.int64), np.asarray(layers[jo[m]], np.int64).reshape(-1))
        m = np.nonzero(active & (kind == 1))[0]
        if len(m):
            K = np.maximum(1, np.ceil(turn[m] / theta_max[jo[m]])).astype(np.int64)
            n_pts = K + 2
            _, own, loc = _seg_ranges(np.zeros(len(m), np.int64), n_pts)
            Kr = K[own]
            lam = np.where(loc == 0, 0.0, (loc - 1) / Kr)
            out.add_points(V[m][own], i0[m][own], i1[m][own], sigma[m][own], np.where(loc == 0, 0.0, 1.0), 0.0, 0.0,
                       lam, n=len(own), samp=(loc > 0) & (loc < n_pts[own] - 1))
            out.add_polygons(np.asarray(n_pts, np.int64).reshape(-1), np.asarray(layers[jo[m]], np.int64).reshape(-1))
    open_ = ~closed[owner]
    _stroke_runs(out, a, b, link, link_sigma, ext_next, ext_sigma, open_ & (segs == first_seg[owner]),
                 open_ & (segs == last_seg[owner]), layers[owner], compiled)
    # caps of open subpaths
    op = np.nonzero(~closed & (ns > 0))[0]
    for end in (0, 1):
        sg_idx = first_seg[op] if end == 0 else last_seg[op]
        Vc = a[sg_idx] if end == 0 else b[sg_idx]
        m = np.nonzero(cap[op] == 2)[0]
        if len(m):
            sg = [1, 1, -1, -1] if end == 0 else [-1, -1, 1, 1]
            be = [0, -1, -1, 0] if end == 0 else [0, 1, 1, 0]
            out.add_points(np.repeat(Vc[m], 4), np.repeat(sg_idx[m], 4), 0, np.tile(sg, len(m)), 1.0,
                           np.tile(be, len(m)),
                       n=4 * len(m), samp=np.tile([True, True, True, False], len(m)))
            out.add_polygons(np.full(len(m), 4, np.int64), np.asarray(layers[op[m]], np.int64).reshape(-1))
        m = np.nonzero(cap[op] == 1)[0]
        if len(m):
            K = np.maximum(2, np.ceil(np.pi / theta_max[op[m]])).astype(np.int64)
            _, own, loc = _seg_ranges(np.zeros(len(m), np.int64), K + 1)
            out.add_points(Vc[m][own], sg_idx[m][own], sg_idx[m][own], 1.0 if end == 0 else -1.0, 1.0, 0, 0, 0,
                       np.pi * loc / K[own], n=len(own), samp=loc < K[own])
            out.add_polygons(np.asarray(K + 1, np.int64).reshape(-1), np.asarray(layers[op[m]], np.int64).reshape(-1))
