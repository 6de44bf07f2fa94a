"""Boundary term of a shader's own discontinuities, by line samples across the pixel footprint.

Setting. A pixel j of a box-filtered image is I_j = ∫_{P_j} L(x) dx over its unit square in film
space. Where the shader switches at a level function g(uv(x); θ) = 0 (:mod:`.primitives`), L jumps
by ΔL = L⁺ - L⁻ (L⁺ on the side g > 0), and the Reynolds transport theorem gives the boundary part
of the derivative (Li et al. 2018, Sec. 3; for shader programs Bangaru et al. 2021 "Teg" and Yang
et al. 2022 "Aδ" derive the same Dirac term of a branch condition):

    ∂I_j/∂θ |_boundary = ∫_{Γ ∩ P_j} ΔL (∂g/∂θ) / |∇ₓg| dℓ,         Γ = {x : g(uv(x); θ) = 0},

-∂g/∂θ / |∇ₓg| being the normal velocity of Γ on the film (∇ₓ the film-space gradient, through the
surface's uv(x)). Unlike geometric edges, Γ is only known implicitly, so we sample it with lines:

*Line samples.* For a horizontal line at height y through P_j, ∫_Γ φ dℓ = ∫ dy Σ_roots φ / |n_x|
with n the unit normal of Γ (|n_x| = |g_x| / |∇g|); vertical lines give the same with |n_y|. Using
both through each sample point, with balance-heuristic weights |n_x| / (|n_x| + |n_y|) and
|n_y| / (|n_x| + |n_y|), every root on either line contributes

    ΔL (∂g/∂θ) / (|g_x| + |g_y|),

which is bounded (|n_x| + |n_y| >= 1), unlike a single line family's 1/|n_x|. The estimator is
unbiased for the box-filtered pixel as long as every root on the line is found. The roots are
found by scanning each line at ``subdiv`` + 1 points for sign changes of every level function,
then bisecting each bracketing interval ``bisect`` times: a level function crossing zero twice
inside one sub-interval (features narrower than a pixel / subdiv) is missed. ΔL is estimated by the
renderer's own radiance at the final bracket's two ends (a few 1e-5 px apart, on opposite sides of
Γ by construction) with the same random numbers; g_x, g_y by central differences at ``FD_PIXELS``.

The result is a Dr.Jit image whose value is zero and whose derivative is the boundary term:
``ΔL (g - detach(g)) / (|g_x| + |g_y|)`` with g evaluated at the root with attached parameters (and
attached surface coordinates when the surface itself moves), so ``dr.forward_to`` and
``dr.backward`` give the forward- and reverse-mode terms from one expression, like the path
tracer's edge terms. Belhe et al. 2025 sample the same set by snapping segments to
discontinuities; the bracketing here plays that role without a program transformation.
"""
from __future__ import annotations

from dataclasses import dataclass

import drjit as dr

FD_PIXELS = 0.05   # step of the central differences of g on the film (g is smooth: O(step²) error)
SUBDIV = 4         # sign tests per line
BISECT = 16        # bisection steps (bracket width 1 / (SUBDIV 2^BISECT) px)


class FilmLookup:
    """What the estimator needs from a renderer: ``width``, ``height`` (pixels) and

    - ``uv(pos, chain)``: ``(uv, valid)`` the shader's coordinates seen through film points ``pos``
      (``mi.Point2f`` in pixels), detached, and where the shaded surface is the one seen. ``chain``
      (``mi.UInt32``, one random word per line, gathered to each point of that line) picks one branch
      where a film point sees several surfaces (reflection or refraction at smooth glass), so that
      uv is a continuous function of the position along a line;
    - ``uv_attached(pos, chain)``: the same uv attached to the parameters that move the surface;
    - ``chain_weight(pos, chain)``: 1 / the probability of the branch ``chain`` picks (1 without
      branching);
    - ``radiance(pos, sampler)``: the detached image value (``mi.Color3f``) at ``pos``;
    - ``rfilter``: the film's reconstruction filter (Mitsuba ``ReconstructionFilter``), None for the
      box of the unit pixel, and ``filter_norm`` its integral ∫ k over R² (see :func:`boundary_image`)."""

    width: int
    height: int
    rfilter = None
    filter_norm = 1.0

    def uv(self, pos, chain=None):
        raise NotImplementedError

    def uv_attached(self, pos, chain=None):
        return self.uv(pos, chain)[0]

    def chain_weight(self, pos, chain):
        return 1.0

    def radiance(self, pos, sampler):
        raise NotImplementedError


def _pick(levels, i):
    g = levels[0]
    for j in range(1, len(levels)):
        g = dr.select(i == j, levels[j], g)
    return g


@dataclass
class LineRoots:
    """The roots that :func:`line_roots` found (detached arrays, one entry per root), in the lookup's
    pixel units: ``root`` the position, ``a`` and ``b`` the ends of the final bracket (``a`` on the
    side where the level function's sign is ``sign_a``: g >= 0 there), ``lev`` which level
    function, ``chain`` the line's branch word, ``pixel`` the index (y W + x) of the pixel the line
    crosses, ``gx``, ``gy`` the gradient of g at the root (per pixel, central differences)."""
    root: object
    a: object
    b: object
    sign_a: object
    lev: object
    chain: object
    pixel: object
    gx: object
    gy: object


def line_roots(shader, lookup: FilmLookup, spp: int, seed: int = 0, subdiv: int = SUBDIV, bisect: int = BISECT):
    """:class:`LineRoots` of ``shader``'s level functions on ``spp`` pairs of lines (one horizontal,
    one vertical, stratified) across every pixel of ``lookup`` (module docstring), or None where no
    line crosses a discontinuity. A root's share of ∫_Γ φ dℓ is φ |∇g| / ((|g_x| + |g_y|) spp)."""
    import mitsuba as mi
    W, H = int(lookup.width), int(lookup.height)
    spp, subdiv, bisect = int(spp), int(subdiv), int(bisect)
    for name, v in (("spp", spp), ("subdiv", subdiv), ("bisect", bisect)):
        if v < 1:
            raise ValueError(f"shader boundary term: {name} must be >= 1, got {v}")
    n = W * H * spp * 2
    with dr.suspend_grad():
        sampler = mi.load_dict({"type": "independent"})
        sampler.seed(int(seed) ^ 0x5AADE, n)
        idx = dr.arange(mi.UInt32, n)
        pix = idx // (2 * spp)
        horizontal = (idx & 1) == 0
        k = (idx >> 1) % spp
        u = (mi.Float(k) + sampler.next_1d()) / spp          # stratified across the pixel
        ix, iy = mi.Float(pix % W), mi.Float(pix // W)
        start = mi.Point2f(dr.select(horizontal, ix, ix + u), dr.select(horizontal, iy + u, iy))
        d = mi.Vector2f(dr.select(horizontal, 1.0, 0.0), dr.select(horizontal, 0.0, 1.0))
        chain = mi.UInt32(sampler.next_1d() * 8388608.0)  # the 23 random bits of a float sample: branch choices

        # 1. scan: sign of every level function at subdiv + 1 points per line
        signs, valid = [], []
        for s in range(subdiv + 1):
            uv, ok = lookup.uv(start + d * (s / subdiv), chain)
            g = shader.levels(uv, detached=True)
            signs.append([gi >= 0 for gi in g])
            valid.append(ok)
        m = len(signs[0])
        if m == 0:
            return None
        # one compress over all (sub-interval, level function, line) triples: the concatenated
        # arrays have fixed widths, so their kernels do not change with the number of hits (a
        # data-dependent width would enter the kernels as a literal offset and recompile them)
        hits, first = [], []
        for s in range(subdiv):
            for i in range(m):
                hits.append(valid[s] & valid[s + 1] & (signs[s][i] != signs[s + 1][i]))
                first.append(signs[s][i])
        sel = dr.compress(dr.concat(hits))
        if dr.width(sel) == 0:
            return None
        line, combo = sel % n, sel // n
        lev = combo % m
        a = mi.Float(combo // m) / subdiv
        sign_a = dr.gather(mi.Bool, dr.concat(first), sel)
        b = a + 1.0 / subdiv
        o = dr.gather(mi.Point2f, start, line)
        dd = dr.gather(mi.Vector2f, d, line)
        ch = dr.gather(mi.UInt32, chain, line)
        dr.eval(line, lev, a, b, sign_a, o, dd, ch)

        # 2. bisection on every bracketing interval
        for _ in range(bisect):
            mid = 0.5 * (a + b)
            uv, ok = lookup.uv(o + dd * mid, ch)
            same = ~ok | ((_pick(shader.levels(uv, detached=True), lev) >= 0) == sign_a)
            a, b = dr.select(same, mid, a), dr.select(same, b, mid)
            dr.eval(a, b)
        root = o + dd * (0.5 * (a + b))

        # 3. gradient of g at the root
        def g_at(p):
            return _pick(shader.levels(lookup.uv(p, ch)[0], detached=True), lev)
        h = FD_PIXELS
        gx = (g_at(root + mi.Vector2f(h, 0)) - g_at(root - mi.Vector2f(h, 0))) / (2 * h)
        gy = (g_at(root + mi.Vector2f(0, h)) - g_at(root - mi.Vector2f(0, h))) / (2 * h)
        pixel = dr.gather(mi.UInt32, pix, line)
        return LineRoots(root, o + dd * a, o + dd * b, sign_a, lev, ch, pixel, gx, gy)


def level_at(shader, uv, lev, detached: bool = False):
    """Level function number ``lev`` (per lane) of ``shader`` at ``uv``."""
    return _pick(shader.levels(uv, detached=detached), lev)


def boundary_image(shader, lookup: FilmLookup, spp: int, seed: int = 0, subdiv: int = SUBDIV,
                   bisect: int = BISECT):
    """``mi.TensorXf`` (H, W, 3), value 0, whose derivative is the boundary term of ``shader``'s
    discontinuities seen through ``lookup`` (``spp`` pairs of lines per pixel).

    Box filter (``lookup.rfilter`` None or a box): each root adds to the pixel whose square its line
    crosses. Other filters (pixel j = ∫ k(x - c_j) L(x) dx / K, K = ``lookup.filter_norm``, as the
    path tracer's other boundary terms normalise): the lines still tile the film pixel by pixel, so
    their roots estimate ∫_Γ φ dℓ over the whole film, and each root is splatted with the filter's
    weights k(x - c_j) / K into every pixel it reaches."""
    import mitsuba as mi
    W, H = int(lookup.width), int(lookup.height)
    image = dr.zeros(mi.Float, H * W * 3)
    r = line_roots(shader, lookup, spp, seed, subdiv, bisect)
    if r is None:
        return mi.TensorXf(image, (H, W, 3))
    spp = int(spp)
    with dr.suspend_grad():
        # the jump (same random numbers on both sides)
        rs = mi.load_dict({"type": "independent"})
        rs.seed(int(seed) ^ 0x5AADF, dr.width(r.root))
        La = lookup.radiance(r.a, rs.clone())
        Lb = lookup.radiance(r.b, rs)
        jump = dr.select(r.sign_a, La - Lb, Lb - La)
        weight = jump * lookup.chain_weight(r.root, r.chain) / (dr.maximum(dr.abs(r.gx) + dr.abs(r.gy), 1e-12) * spp)
        dr.eval(r.root, weight)
        target = r.pixel * 3
        root, ch, lev = r.root, r.chain, r.lev

    with dr.resume_grad():
        g = _pick(shader.levels(lookup.uv_attached(root, ch)), lev)
        dg = g - dr.detach(g)
        rfilter = lookup.rfilter
        if rfilter is None or rfilter.is_box_filter():
            for c in range(3):
                dr.scatter_reduce(dr.ReduceOp.Add, image, weight[c] * dg, target + c)
            return mi.TensorXf(image, (H, W, 3))
        block = mi.ImageBlock(mi.ScalarVector2u(W, H), mi.ScalarPoint2i(0, 0), 3, rfilter=rfilter, border=False,
                              normalize=False, coalesce=False)
        scale = 1.0 / float(lookup.filter_norm)
        block.put(root, [weight[0] * dg * scale, weight[1] * dg * scale, weight[2] * dg * scale])
        return block.tensor()
