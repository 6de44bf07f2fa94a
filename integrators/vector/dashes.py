"""Dashed strokes: the flattened subpaths of a dashed stroke cut into open dash subpaths.

SVG (https://www.w3.org/TR/SVG2/painting.html#StrokeDashing): the dash pattern ``d`` (repeated
twice when it has an odd count) starts ``stroke-dashoffset`` into the pattern at the start of every
subpath and alternates dashes and gaps along the arc length; each dash is stroked as an open
subpath with the shape's caps and joins (a zero-length dash gives a dot with round or square caps);
a closed subpath's closing segment is dashed too, and its first and last dash stay separate.

Which flattened pieces a dash covers is decided on detached values; the cut points are computed on
the device as ``V[a] + w (V[b] - V[a])`` with ``w = (s - L_a) / |V[b] - V[a]|``, where ``s`` (the
dash end's arc length: integer multiples of the pattern's entries minus the offset) is linear in
``theta`` and ``L_a`` is the attached arc length to ``V[a]``: so the image is differentiable with
respect to ``dash_array``, ``dash_offset`` and the geometry. The arc length is that of the
flattened polyline (within the flattening tolerance of the curve's).
"""
from __future__ import annotations

import drjit as dr
import numpy as np

from penumbra.renderer.checks import InputError

from .compile import Compiled

#: most dashes per rasterize call (a tiny pattern on a long path would otherwise exhaust memory)
MAX_DASHES = 200_000


def _pattern(values):
    """The pattern's entries as indices into ``values``, repeated twice when their count is odd."""
    k = len(values)
    return np.arange(2 * k if k % 2 else k) % k


def _end_row(x, cf, poly, L, row0, kmax):
    """The vertex record of a dash end at arc length ``x``: a plain vertex at the subpath's ends,
    else a cut on the segment that holds ``x``."""
    total = L[-1]
    if x <= 0 or x >= total:
        v = poly[0] if x <= 0 else poly[-1]
        return (v, v, False, 0, np.zeros(kmax), 0.0)
    g = int(np.clip(np.searchsorted(L, x, side="right") - 1, 0, len(poly) - 2))
    cfp = np.zeros(kmax)
    cfp[:len(cf)] = cf
    return (poly[g], poly[g + 1], True, row0 + g, cfp, -1.0)


def dash_subpaths(comp: Compiled, flat, v_shape, FVX, FVY, theta, theta_np):
    """Append the dash subpaths of every dashed stroke to ``flat``. Returns ``(flat, v_shape, FVX,
    FVY, strokes)`` with ``strokes[shape]`` the subpath indices its stroke layer draws instead of
    its own subpaths (a pattern that sums to zero leaves the stroke solid)."""
    import mitsuba as mi

    from .tessellate import Flattened
    if not comp.dashes or FVX is None:
        return flat, v_shape, FVX, FVY, {}
    pts = flat.points
    # per new vertex: a, b (flattened vertex indices), cut (bool), segment row, pattern coefficients
    va, vb, cut, seg_row, coef_rows, slot_rows, off_coef = [], [], [], [], [], [], []
    seg_a, seg_b, seg_first = [], [], []       # polyline segments of the dashed subpaths
    new_first, new_count, new_shape, corner = [], [], [], []
    strokes, n_dashes = {}, 0
    kmax = max(d.count for d in comp.dashes)
    for rec in comp.dashes:
        values = theta_np[rec.array_slot:rec.array_slot + rec.count]
        pat = _pattern(values)
        dlen = values[pat]
        period = float(dlen.sum())
        if period <= 0:
            continue
        offset = float(theta_np[rec.offset_slot])
        strokes[rec.shape] = []
        slots = np.full(kmax, comp.zero_slot, np.int64)
        slots[:rec.count] = rec.array_slot + np.arange(rec.count)
        per_period = np.bincount(pat, minlength=rec.count).astype(np.float64)
        for s in np.nonzero(flat.shape == rec.shape)[0]:
            f, c = int(flat.first[s]), int(flat.count[s])
            poly = list(range(f, f + c))
            if flat.closed[s] and c > 1 and np.any(pts[f + c - 1] != pts[f]):
                poly.append(f)
            poly = np.array(poly, np.int64)
            seg_len = np.linalg.norm(pts[poly[1:]] - pts[poly[:-1]], axis=1)
            L = np.concatenate([[0.0], np.cumsum(seg_len)])
            total = L[-1]
            row0 = len(seg_a)
            seg_a += list(poly[:-1])
            seg_b += list(poly[1:])
            seg_first += [row0] * (len(poly) - 1)
            m0 = int(np.floor(offset / period)) - 1
            m_count = int(np.ceil((total + offset) / period)) - m0 + 1
            n_dashes += m_count * len(dlen) // 2
            if n_dashes > MAX_DASHES:
                raise InputError(f"shape {comp.shapes[rec.shape].id!r}: its dash pattern (period {period:g}) "
                                 f"makes more than {MAX_DASHES} dashes; use a longer dash pattern")
            for m in range(m0, m0 + m_count):
                for i in range(0, len(dlen), 2):
                    # the dash's ends (arc lengths) and their coefficients on the pattern entries
                    (a, ca), (b, cb) = [(float(cf @ values) - offset, cf) for cf in
                                        (m * per_period + np.bincount(pat[:j], minlength=rec.count)
                                         for j in (i, i + 1))]
                    if b < 0 or a > total or (a == total and total > 0) or len(poly) < 2:
                        continue
                    inner = poly[(L > a) & (L < b)]
                    rows = [_end_row(a, ca, poly, L, row0, kmax)]
                    rows += [(v, v, False, 0, np.zeros(kmax), 0.0) for v in inner]
                    rows.append(_end_row(b, cb, poly, L, row0, kmax))
                    new_first.append(len(va))
                    new_count.append(len(rows))
                    new_shape.append(rec.shape)
                    strokes[rec.shape].append(len(flat.first) + len(new_first) - 1)
                    corner += [True] + [bool(flat.corner[v]) for v in inner] + [True]
                    for r in rows:
                        va.append(r[0])
                        vb.append(r[1])
                        cut.append(r[2])
                        seg_row.append(r[3])
                        coef_rows.append(r[4])
                        slot_rows.append(slots)
                        off_coef.append(r[5])
    if not va:
        return flat, v_shape, FVX, FVY, strokes
    va, vb, seg_row = np.array(va, np.int64), np.array(vb, np.int64), np.array(seg_row, np.int64)
    cut = np.array(cut, bool)
    coef, slot_m = np.array(coef_rows), np.array(slot_rows, np.int64)
    off_coef = np.array(off_coef)
    off_slot = np.zeros(len(va), np.int64)
    shape_off = {rec.shape: rec.offset_slot for rec in comp.dashes}
    new_shape_v = np.repeat(np.array(new_shape, np.int64), new_count)
    off_slot[:] = [shape_off[int(s)] for s in new_shape_v]
    # attached arc lengths of the polyline segments
    sa, sb = mi.UInt32(np.array(seg_a, np.int64)), mi.UInt32(np.array(seg_b, np.int64))
    dx = dr.gather(mi.Float, FVX, sb) - dr.gather(mi.Float, FVX, sa)
    dy = dr.gather(mi.Float, FVY, sb) - dr.gather(mi.Float, FVY, sa)
    seg_len = dr.sqrt(dx * dx + dy * dy)
    cum = dr.prefix_sum(seg_len)   # exclusive
    row = mi.UInt32(seg_row)
    L_a = dr.gather(mi.Float, cum, row) - dr.gather(mi.Float, cum, mi.UInt32(np.array(seg_first, np.int64)[seg_row]))
    s_att = mi.Float(off_coef) * dr.gather(mi.Float, theta, mi.UInt32(off_slot))
    for j in range(coef.shape[1]):
        s_att = s_att + mi.Float(coef[:, j]) * dr.gather(mi.Float, theta, mi.UInt32(slot_m[:, j]))
    ln = dr.gather(mi.Float, seg_len, row)
    is_cut = mi.Bool(cut)
    w = dr.select(is_cut & (ln > 0), (s_att - L_a) / dr.select(ln > 0, ln, 1.0), 0.0)
    ia, ib = mi.UInt32(va), mi.UInt32(vb)
    ax, ay = dr.gather(mi.Float, FVX, ia), dr.gather(mi.Float, FVY, ia)
    NX = ax + w * (dr.gather(mi.Float, FVX, ib) - ax)
    NY = ay + w * (dr.gather(mi.Float, FVY, ib) - ay)
    # detached copy with the same formula
    wd = np.zeros(len(va))
    sd = off_coef * theta_np[off_slot] + np.sum(coef * theta_np[slot_m], axis=1)
    seg_len_np = np.linalg.norm(pts[np.array(seg_b)] - pts[np.array(seg_a)], axis=1)
    cum_np = np.concatenate([[0.0], np.cumsum(seg_len_np)])[:-1]
    La_np = cum_np[seg_row] - cum_np[np.array(seg_first, np.int64)[seg_row]]
    lnd = seg_len_np[seg_row]
    ok = cut & (lnd > 0)
    wd[ok] = (sd[ok] - La_np[ok]) / lnd[ok]
    new_pts = pts[va] + wd[:, None] * (pts[vb] - pts[va])
    nv = len(pts)
    out = Flattened(np.concatenate([pts, new_pts]), np.concatenate([flat.corner, np.array(corner, bool)]),
                    np.concatenate([flat.first, nv + np.array(new_first, np.int64)]),
                    np.concatenate([flat.count, np.array(new_count, np.int64)]),
                    np.concatenate([flat.closed, np.zeros(len(new_first), bool)]),
                    np.concatenate([flat.shape, np.array(new_shape, np.int64)]))
    return out, np.concatenate([v_shape, new_shape_v]), dr.concat([FVX, NX]), dr.concat([FVY, NY]), strokes
