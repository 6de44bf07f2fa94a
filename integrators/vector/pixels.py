"""The pixel grid and its filter: the canvas layout in tiles (:class:`Canvas`), stratified pixel
samples (stage 4, sample), the pixel filters (box, tent, Gaussian; their 1D kernels and
integrals for the boundary splat), ratio-estimator reconstruction of pixels from samples, and the
final straight-alpha tensor."""
from __future__ import annotations

from dataclasses import dataclass

import drjit as dr
import numpy as np

from penumbra.renderer.arrays import upload

FILTERS = {"box": 0.5, "tent": 1.0, "gaussian": 1.5, "prefilter": 0.5}   # filter -> radius (pixels)
GAUSS_SIGMA = 0.5


@dataclass(frozen=True)
class Canvas:
    """Image size, tiling and filter of one ``rasterize`` call. Item ``b`` of a batch occupies tile
    columns ``[b * tiles_x_item, (b + 1) * tiles_x_item)``: its canvas plus one spare tile column
    (for evaluations just outside it), i.e. its x offset is ``b * item_width``."""
    width: int               # W
    height: int              # H
    batch: int               # B
    tile: int                # T
    tiles_x_item: int        # tile columns per item (one spare)
    tiles_y: int
    spp: int
    filter: str

    @property
    def item_width(self) -> int:
        """Canvas pixels between the x origins of consecutive batch items."""
        return self.tiles_x_item * self.tile

    @property
    def radius(self) -> float:
        return FILTERS[self.filter]

    @property
    def side_eps(self) -> float:
        """Offset of the two sides of a boundary sample from the edge (pixels)."""
        return 1e-3 * max(1.0, max(self.width, self.height) / 256.0)

    def list_margin(self, stroke_reach: float = 0.0) -> float:
        """How far outside its tile a tile list must stay valid. Pixel samples lie inside it;
        boundary samples p +- eps n sit near the tile of p, or up to radius - 0.5 px outside the
        canvas in a border tile (farther out their filter weight is 0); prefiltered coverage
        reaches 0.5 px (+ ``stroke_reach``, the farthest a prefiltered stroke reaches beyond its
        pieces) beyond an edge. Every extra pixel of margin grows the lists."""
        margin = 0.05 + 2 * self.side_eps + (0.5 if self.filter == "prefilter" else self.radius - 0.5)
        return margin + stroke_reach


@dataclass(frozen=True)
class Samples:
    """Pixel sample positions, grouped by tile (``spp`` consecutive samples per pixel, ``T x T``
    consecutive pixels per tile)."""
    x: object                # mi.Float (n,) canvas pixels (batch items shifted)
    y: object
    tile: np.ndarray         # (n,) tile of each sample


def filter_weight(d, kind):
    """1D pixel filter ``kind`` at offsets ``d`` (``mi.Float``) from the pixel centre (box: half
    weight exactly on the border)."""
    d = dr.abs(d)
    if kind == "box":
        return dr.select(d < 0.5, 1.0, dr.select(d == 0.5, 0.5, 0.0))
    if kind == "tent":
        return dr.maximum(1.0 - d, 0.0)
    return dr.select(d < 1.5, dr.exp(-0.5 * (d / GAUSS_SIGMA) ** 2), 0.0)


def integral1d(lo, hi, kind):
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


def pixel_samples(canvas: Canvas, tiles_x: int, seed: int) -> Samples:
    """Stage 4, sample: ``spp`` samples in every pixel of every tile (``tiles_x`` tile columns of
    the whole batch), stratified when ``spp`` is a square, jittered by PCG32 from ``seed``;
    prefilter: the pixel centre."""
    import mitsuba as mi
    T, spp = canvas.tile, canvas.spp
    n_tiles = tiles_x * canvas.tiles_y
    S = T * T * spp
    n_points = n_tiles * S
    q = dr.arange(mi.UInt32, n_points)
    tile_id = q // S
    r = q - tile_id * S
    pix = r // spp
    j = r - pix * spp
    tx = tile_id % tiles_x
    ty = tile_id // tiles_x
    ix = tx * T + pix % T
    iy = ty * T + pix // T
    if canvas.filter == "prefilter":
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
    return Samples(px, py, np.repeat(np.arange(n_tiles, dtype=np.int64), S))


def reconstruct(canvas: Canvas, tiles_x: int, samples: Samples, colour):
    """Premultiplied RGBA pixels (4 ``mi.Float`` of ``B * H * W``) from the samples' composited
    ``colour`` (``mi.Vector4f``): box and prefilter average each pixel's samples; tent and
    Gaussian use the ratio estimator over the samples of the 3x3 neighbouring pixels (inside the
    canvas)."""
    import mitsuba as mi
    B, H, W, T, spp, Wp = canvas.batch, canvas.height, canvas.width, canvas.tile, canvas.spp, canvas.item_width
    px, py = samples.x, samples.y
    chans = [colour.x, colour.y, colour.z, colour.w]
    if canvas.filter in ("box", "prefilter"):
        # output pixel (b, y, x) -> tile-ordered pixel index
        bb, yy, xx = np.meshgrid(np.arange(B), np.arange(H), np.arange(W), indexing="ij")
        gx = bb * Wp + xx
        pix_vals = [dr.block_sum(c, spp) / spp if spp > 1 else c for c in chans]
        idx = upload(mi.UInt32, ((yy // T) * tiles_x + gx // T) * (T * T) + (yy % T) * T + (gx % T))
        return [dr.gather(mi.Float, c, idx) for c in pix_vals]
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
    sidx = (((nyu // T) * tiles_x + gxn // T) * (T * T) + (nyu % T) * T + (gxn % T)) * spp + jj
    sx = dr.gather(mi.Float, px, sidx) - (mi.Float(pb * Wp + px_) + 0.5)
    sy = dr.gather(mi.Float, py, sidx) - (mi.Float(py_) + 0.5)
    if canvas.filter == "tent":
        wgt = dr.maximum(1.0 - dr.abs(sx), 0.0) * dr.maximum(1.0 - dr.abs(sy), 0.0)
    else:
        wgt = dr.select((dr.abs(sx) < 1.5) & (dr.abs(sy) < 1.5),
                        dr.exp(-0.5 * (sx * sx + sy * sy) / (GAUSS_SIGMA * GAUSS_SIGMA)), 0.0)
    wgt = dr.select(ok, wgt, 0.0)
    den = dr.block_sum(wgt, K)
    den = dr.select(den > 0, den, 1.0)
    return [dr.block_sum(dr.gather(mi.Float, c, sidx) * wgt, K) / den for c in chans]


def straight_alpha_tensor(img, shape):
    """``mi.TensorXf`` of ``shape`` (..., 4) with straight-alpha RGBA from premultiplied pixels
    ``img`` (4 ``mi.Float``); no clipping (it would zero gradients at 0 and 1)."""
    import mitsuba as mi
    a = img[3]
    inv = dr.select(a > 1e-8, 1.0 / dr.select(a > 1e-8, a, 1.0), 0.0)
    out = [img[0] * inv, img[1] * inv, img[2] * inv, a]
    n = int(np.prod(shape[:-1]))
    k = dr.arange(mi.UInt32, 4 * n)
    p = k // 4
    ch = k - 4 * p
    flat = dr.select(ch == 0, dr.gather(mi.Float, out[0], p),
                     dr.select(ch == 1, dr.gather(mi.Float, out[1], p),
                               dr.select(ch == 2, dr.gather(mi.Float, out[2], p), dr.gather(mi.Float, out[3], p))))
    return mi.TensorXf(flat, shape)

