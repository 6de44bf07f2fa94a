"""Stage 5, composite: the colour of the scene at arbitrary points (pixel samples, or the two
sides of boundary samples). Per (point, candidate layer of its tile) a winding number decides
coverage (:func:`.kernels.coverage`); covered layers get their paint (premultiplied, layer
opacity included) and are composited source-over in draw order (:class:`.kernels.Composite`),
with SVG group opacity composited in isolation (:func:`.kernels.isolate`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import drjit as dr
import numpy as np

from penumbra.renderer import memory
from penumbra.renderer.arrays import upload

from .batch import SceneEdges
from .binning import Bins, DeviceBins, argsort_small
from .kernels import (Pairs, PointSet, composite, coverage, decode_pairs, isolate, jump, paint, restore_coverage,
                      segment_ids, winding)
from .layers import LayerTable
from .prefilter import PieceEnds, PrefilterStrokes, prefiltered_alpha


#: (point, candidate layer) pairs per pass: points are shaded in runs of whole tiles with about this
#: many pairs each, which bounds the per-pair state (coverage masks, compaction indices) in memory
PAIR_BUDGET = 1 << 20


@dataclass(frozen=True)
class Shading:
    """Everything needed to evaluate the composited colour at points: the tile lists (host and
    device), the batch's edges, layers and parameter vector, and the prefiltered strokes
    (``ends`` is ``None`` unless ``prefilter``)."""
    bins: Bins
    dev: DeviceBins
    edges: SceneEdges
    layers: LayerTable
    theta: object            # mi.Float, the batch's parameter vector
    prefilter: bool
    strokes: PrefilterStrokes
    ends: PieceEnds | None

    @property
    def n_tiles(self) -> int:
        return self.bins.tiles_x * self.bins.tiles_y

    def chunks(self, tile_np, budget: int | None = None):
        """``[lo, hi)`` ranges of points ``tile_np`` (sorted by tile), cut at tile boundaries, of about
        ``budget`` (default :data:`PAIR_BUDGET`) (point, candidate) pairs each (at most ``budget``
        plus one tile's pairs)."""
        budget = PAIR_BUDGET if budget is None else budget
        n = len(tile_np)
        if n == 0:
            return []
        # per run of equal tiles (few: at most the tiles) the pairs before it, not per point
        starts = np.flatnonzero(tile_np[1:] != tile_np[:-1]) + 1
        starts = np.concatenate([[0], starts])
        run_pairs = np.diff(np.append(starts, n)) * np.diff(self.bins.cand_start)[tile_np[starts]]
        part = (np.cumsum(run_pairs) - run_pairs) // max(int(budget), 1)
        cuts = starts[np.nonzero(np.diff(part))[0] + 1]
        bounds = np.concatenate([[0], cuts, [n]])
        return [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]

    def pairs(self, tile_np) -> Pairs:
        """The (point, candidate) pairs of points in tiles ``tile_np`` (sorted by tile)."""
        import mitsuba as mi
        n_cand = np.diff(self.bins.cand_start)
        counts = np.bincount(tile_np, minlength=self.n_tiles)
        point_start = np.concatenate([[0], np.cumsum(counts)])
        pair_base = np.concatenate([[0], np.cumsum(counts * n_cand)])
        P = Pairs(self.n_tiles, upload(mi.UInt32, point_start), upload(mi.UInt32, pair_base),
                  upload(mi.UInt32, self.bins.cand_start),
                  int(pair_base[-1]))
        P.pair_tile = segment_ids(pair_base)
        return P

    def premultiplied(self, px, py, P: Pairs, differentiable: bool):
        """Premultiplied RGBA of every covered pair's layer paint (layer opacity included)."""
        import mitsuba as mi
        _, q, c = decode_pairs(P.cov_pairs, P)
        layer = dr.gather(mi.UInt32, self.dev.cand_layer, c)
        x = dr.gather(mi.Float, px, q)
        y = dr.gather(mi.Float, py, q)
        th = self.theta if differentiable else dr.detach(self.theta)
        col = paint(layer, x, y, th, self.layers if differentiable else self.layers.detached())
        a = col[3] * dr.gather(mi.Float, self.layers.alpha if differentiable else dr.detach(self.layers.alpha), layer)
        if self.prefilter:
            a = prefiltered_alpha(a, x, y, layer, P, self.dev, self.edges, self.strokes, self.ends, differentiable)
        out = (col[0] * a, col[1] * a, col[2] * a, a)
        dr.eval(out)   # one kernel (each gather source evaluated on its own would re-run the paint 4x)
        return out

    def composited(self, px, py, tile_np, differentiable: bool, covered=None):
        """Composited premultiplied RGBA (``mi.Vector4f``) at points ``(px, py)`` sorted by tile
        ``tile_np``, and their :class:`.kernels.Pairs`. ``covered``: the coverage mask
        (``Pairs.mask``) of an earlier call on the same points (area sampling), which then skips
        the coverage test."""
        import mitsuba as mi
        P = self.pairs(tile_np)
        if covered is None:
            coverage(px, py, P, self.dev, prefilter=self.prefilter)
        else:
            restore_coverage(P, covered)
        ps = PointSet(len(tile_np), upload(mi.UInt32, tile_np), P)
        if P.n_cov == 0:
            return composite(None, None, None, None, ps), P
        vals = isolate(self.premultiplied(px, py, P, differentiable), P, ps.tile, self.dev.cand_layer, self.theta,
                       self.layers.iso, differentiable)
        return composite(*vals, ps, differentiable), P

    def colour_at(self, x: np.ndarray, y: np.ndarray, tile_size: int) -> np.ndarray:
        """Composited premultiplied RGBA (NumPy (N, 4) float32, detached) at canvas points ``(x,
        y)`` (NumPy, any order; grouped by tile of ``tile_size`` pixels here, in runs of
        :meth:`chunks`)."""
        import mitsuba as mi
        T, tiles_x, tiles_y = tile_size, self.bins.tiles_x, self.bins.tiles_y
        tile = (np.clip(np.floor(y / T), 0, tiles_y - 1) * tiles_x + np.clip(np.floor(x / T), 0, tiles_x - 1)).astype(
            np.int64)
        order = argsort_small(tile)
        tile_sorted = tile[order]
        out = np.zeros((len(x), 4), np.float32)
        for lo, hi in self.chunks(tile_sorted):
            o = order[lo:hi]
            c, _ = self.composited(upload(mi.Float, x[o]), upload(mi.Float, y[o]), tile_sorted[lo:hi], False)
            dr.eval(c)
            out[o] = np.stack([c[k].numpy() for k in range(4)], 1)
        return out

    def shade(self, px, py, tile_np, differentiable: bool):
        """Composited premultiplied RGBA (``mi.Vector4f``) at points ``(px, py)`` sorted by tile
        ``tile_np``, with the number of (point, candidate) pairs and of covered ones.

        With gradients (area sampling) the colour is a :class:`RecomputedShading`: its derivatives
        re-run coverage, paint and compositing of these points on the AD graph, so that nothing per
        pair outlives the call. Prefiltered coverage (whose derivatives reach the edges) keeps its
        AD graph."""
        if differentiable and not self.prefilter:
            counts = PairCounts()
            lay = self.layers
            c = dr.custom(RecomputedShading, self.theta, lay.alpha, list(lay.inv or ()), self, px, py, tile_np,
                          counts)
            return c, counts.n_pairs, counts.n_cov
        c, P = self.composited(px, py, tile_np, differentiable)
        dr.eval(c)   # evaluated now: a pending colour would keep this tile group's pairs alive
        return c, P.n_pairs, P.n_cov

    def attached_to(self, theta, alpha, inv) -> Shading:
        """The same shading with the parameter vector, the layers' alphas and the inverse gradient
        transforms replaced (e.g. by fresh AD leaves)."""
        layers = dataclasses.replace(self.layers, alpha=alpha, inv=tuple(inv) if inv else self.layers.inv)
        return dataclasses.replace(self, theta=theta, layers=layers)

    def jump(self, pxm, pym, pxp, pyp, tile_np, owner):
        """Colour jump ``f(p - eps n) - f(p + eps n)`` across boundary samples (premultiplied RGBA,
        4 ``mi.Float``; points sorted by tile ``tile_np``, ``owner`` the layer of each sampled
        edge). Only the owner changes coverage between the two sides (2 eps apart): every
        candidate is tested at p - eps n, the owner again at p + eps n, and the jump is
        ``+-T_above (c_own - a_own B_below)`` from one compositing sweep."""
        import mitsuba as mi
        bins, dev = self.bins, self.dev
        n_tiles, L = self.n_tiles, self.edges.n_layers
        n_cand = np.diff(bins.cand_start)
        cand_key = np.repeat(np.arange(n_tiles), n_cand) * (L + 1) + bins.cand_layer   # sorted: (tile, layer) order
        P = self.pairs(tile_np)
        coverage(pxm, pym, P, dev)
        n_s = len(tile_np)
        key = tile_np.astype(np.int64) * (L + 1) + owner
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
            ii, ci, pi = upload(mi.UInt32, idx), upload(mi.UInt32, qc[idx]), upload(mi.UInt32, pair[idx])
            w = winding(dr.gather(mi.Float, pxp, ii), dr.gather(mi.Float, pyp, ii),
                        dr.gather(mi.UInt32, dev.cand_edge0, ci), dr.gather(mi.UInt32, dev.cand_count, ci),
                        dev.edges, dr.gather(mi.Int32, dev.cand_w0, ci))
            eo = dr.gather(mi.Bool, dev.layer_evenodd, dr.gather(mi.UInt32, dev.cand_layer, ci))
            inside = dr.select(eo, (w & 1) != 0, w != 0)
            dr.scatter(cov_p, inside, ii)
            dr.scatter(cov_m, dr.gather(mi.Bool, P.mask, pi), ii)
            dr.scatter(union, True, pi, inside)
        own_k = upload(mi.UInt32, np.where(found, k, 0xFFFFFFFF))
        U = Pairs(P.n_tiles, P.point_start, P.pair_base, P.cand_start, P.n_pairs)
        U.pair_tile, U.mask = P.pair_tile, union
        U.cov_pairs = dr.compress(union)
        U.n_cov = dr.width(U.cov_pairs)
        U.cov_index = dr.prefix_sum(mi.UInt32(dr.select(union, 1, 0)))
        if U.n_cov == 0:
            return [dr.zeros(mi.Float, n_s) for _ in range(4)]
        ps = PointSet(n_s, upload(mi.UInt32, tile_np), U)
        vals = self.premultiplied(pxm, pym, U, False)
        if not self.layers.iso:
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
            f.append(composite(*isolate(vals, S_, ps.tile, dev.cand_layer, self.theta, self.layers.iso, False),
                               ps_, False))
        return [f[0][c] - f[1][c] for c in range(4)]


class PairCounts:
    """(point, candidate) pairs and covered ones of a :class:`RecomputedShading` evaluation."""
    n_pairs = 0
    n_cov = 0


class RecomputedShading(dr.CustomOp):
    """The composited colour at points (:meth:`Shading.composited`) as a function of the parameter
    vector ``theta``, the layers' alphas and inverse gradient transforms, evaluated without AD.
    Both derivative modes recompute paint and compositing of the same points on a private AD graph
    over fresh copies of the inputs and propagate through it (``dr.isolate_grad``), so the outer AD
    graph holds a few arrays per point and the indices of the covered pairs (coverage does not
    depend on these inputs: it is not tested again) instead of the per-pair state (coverage masks,
    compaction slots, paint and compositing records) of every tile group until backward."""

    def eval(self, theta, alpha, inv, shading, px, py, tile_np, counts):
        self.shading, self.px, self.py, self.tile_np = shading, px, py, tile_np
        self.inputs = (dr.detach(theta), dr.detach(alpha), [dr.detach(v) for v in inv])
        c, P = shading.composited(px, py, tile_np, False)
        self.covered = np.packbits(P.mask.numpy()) if P.n_pairs else None   # 1 bit per pair
        counts.n_pairs, counts.n_cov = P.n_pairs, P.n_cov
        dr.eval(c)
        return c

    def _leaves(self):
        import mitsuba as mi
        theta, alpha, inv = self.inputs
        leaves = (mi.Float(theta), mi.Float(alpha), [mi.Float(v) for v in inv])
        dr.enable_grad(leaves)
        return leaves

    def _colour(self, leaves):
        import mitsuba as mi
        covered = None
        if self.covered is not None:
            n = int(np.diff(self.shading.bins.cand_start)[self.tile_np].sum())
            covered = upload(mi.Bool, np.unpackbits(self.covered, count=n).view(bool))
        c, _ = self.shading.attached_to(*leaves).composited(self.px, self.py, self.tile_np, True, covered)
        return c

    def forward(self):
        with dr.isolate_grad():
            leaves = self._leaves()
            c = self._colour(leaves)
            for leaf, key in zip(leaves, ("theta", "alpha", "inv")):
                dr.set_grad(leaf, self.grad_in(key))
            dr.enqueue(dr.ADMode.Forward, leaves)
            dr.traverse(dr.ADMode.Forward)
            self.set_grad_out(dr.grad(c))
        memory.release_freed()   # this tile group's per-pair buffers, before the next group's

    def backward(self):
        with dr.isolate_grad():
            leaves = self._leaves()
            c = self._colour(leaves)
            dr.set_grad(c, self.grad_out())
            dr.enqueue(dr.ADMode.Backward, c)
            dr.traverse(dr.ADMode.Backward)
            for leaf, key in zip(leaves, ("theta", "alpha", "inv")):
                self.set_grad_in(key, dr.grad(leaf))
        memory.release_freed()

    def name(self):
        return "penumbra.vector.RecomputedShading"
