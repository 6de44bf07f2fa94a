"""The complete image-source tree of an arbitrary closed polyhedral room (convex or not), built level by
level with vectorized NumPy beam clipping, and the ray-traced validity check of each image path.

The classic method (Allen & Berkley, JASA 65(4), 1979; Borish, JASA 75(6), 1984; pyroomacoustics'
``libroom``) reflects every image through every wall, W (W - 1)^(k - 1) sequences at order k, keeps an
image only when it lies on the room side of the wall it is reflected through, and checks each surviving
path for validity (every reflection point inside its wall, no segment obstructed). Here each node also
carries its *window*: the convex polygon of its wall that the beam from its parent can reach (beam
tracing, Heckbert & Hanrahan, SIGGRAPH 1984; Funkhouser et al., JASA 115(2), 2004, without occlusion).
A child (wall Q of a node with image J, wall P and window w) is kept only if

1. Q differs from P and J lies strictly on the room side of Q's plane (Borish's condition);
2. the convex hull of Q, clipped to the room side of P's plane and to the pyramid from J through w, is
   not empty; that clipped polygon is the child's window (a cheap test first drops the walls with no
   vertex inside one of the pyramid's side planes).

A valid path's reflection point on Q lies in that clipped polygon, so the pruned tree holds every valid
path up to the order (the search is complete; occluders and non-convex walls only make the windows
larger than the true beams, never smaller). The tree depends on the source and the room, not on the
receiver: :func:`valid_paths` checks it for any receiver. Nodes are counted before each level is built and
the memory guard (:mod:`penumbra.renderer.memory`) refuses a level that would not fit.

Paths that graze an edge or a corner exactly (measure zero: e.g. a box's receiver on the line through
a corner and an image) may be dropped by the float32 visibility test.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from penumbra.renderer import memory

from . import path_kernel, tree_kernel, visibility_kernel
from ._jit import upload

# Bytes per candidate child of a level if every candidate were kept (window of up to 10 float64
# vertices, image, parent and wall ids: an upper bound) and per kept node of earlier levels (image,
# parent, wall, window kept for the receiver's beam test). The pruning temporaries of one chunk of CHUNK
# parents stay below ~40 MiB.
BYTES_PER_CHILD = 320
BYTES_PER_NODE = 320
CHUNK = 1 << 12        # parent nodes pruned at once (bounds the (chunk, edges, walls, vertices) temporaries)


@dataclasses.dataclass
class ImageTree:
    """Levels of the pruned image tree: per level k (1 .. order), ``images[k-1]`` (n_k, 3) float64,
    ``parents[k-1]`` (n_k,) index into level k - 1 (-1: the source), ``walls[k-1]`` (n_k,) reflecting wall."""
    source: np.ndarray
    images: list
    parents: list
    walls: list
    windows: list = dataclasses.field(default_factory=list)   # per level (n_k, M_k, 3) beam windows
    counts: list = dataclasses.field(default_factory=list)    # per level (n_k,) window vertex counts
    n_out: np.ndarray | None = None                           # outward wall normals (W, 3), offsets (W,)
    d_out: np.ndarray | None = None
    extent: float = 1.0                                       # the room's largest bounding-box side
    flat: tuple | None = None     # compiled trees: all levels' (images, parents, walls, windows, counts, offsets)
    pruner: object = None         # compiled trees: the room's Pruner (walls' hulls, front table)

    def in_beam(self, level: int, point, tol: float) -> np.ndarray:
        """(n_level,) whether ``point`` lies in each node's beam (within ``tol``): on the room side of the
        node's wall and inside the pyramid from its image through its window. The receiver end of a
        valid path lies in the beam of its last node (its last reflection point is in the window)."""
        p = np.asarray(point, np.float64).reshape(3)
        J, wall = self.images[level - 1], self.walls[level - 1]
        if tree_kernel.AVAILABLE:
            return tree_kernel.in_beam(J, wall, self.windows[level - 1], self.counts[level - 1],
                                       self.n_out, self.d_out, p, tol)
        ok = self.n_out[wall] @ p - self.d_out[wall] < tol
        for lo in range(0, len(J), CHUNK * 16):
            sl = slice(lo, lo + CHUNK * 16)
            m, o, use = side_planes(J[sl], self.windows[level - 1][sl], self.counts[level - 1][sl])
            ok[sl] &= np.all((np.einsum("nej,j->ne", m, p) - o > -tol) | ~use, axis=1)
        return ok

    @property
    def size(self) -> int:
        return sum(len(w) for w in self.walls)

    def sequences(self, level: int, rows: np.ndarray) -> np.ndarray:
        """(n, level) wall sequences of the nodes ``rows`` of ``level``, source side first."""
        out = np.empty((len(rows), level), np.int64)
        idx = rows
        for k in range(level, 0, -1):
            out[:, k - 1] = self.walls[k - 1][idx]
            idx = self.parents[k - 1][idx]
        return out

    def chain(self, level: int, rows: np.ndarray) -> list:
        """Images along the sequences of nodes ``rows`` of ``level``: a list of ``level`` (n, 3) arrays,
        first reflection first."""
        out = [None] * level
        idx = rows
        for k in range(level, 0, -1):
            out[k - 1] = self.images[k - 1][idx]
            idx = self.parents[k - 1][idx]
        return out


def wall_hulls(room, V, n_out):
    """Per wall: the convex hull of its vertices in its plane, (m, 3) points in order around the hull
    (counter-clockwise seen from outside the room; all walls are planar polygons of coplanar triangles)."""
    hulls = []
    for w in range(room.n_walls):
        P = V[np.unique(room.faces[room.face_wall == w])]
        n = n_out[w]
        a = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
        a /= np.linalg.norm(a)
        b = np.cross(n, a)
        h = _hull_2d(np.c_[P @ a, P @ b])
        hulls.append(P[h])
    return hulls


def _hull_2d(p):
    """Indices of the 2D convex hull of points ``p`` (monotone chain)."""
    order = np.lexsort((p[:, 1], p[:, 0]))

    def half(idx):
        out = []
        for i in idx:
            while len(out) >= 2:
                o, a = p[out[-2]], p[out[-1]]
                if (a[0] - o[0]) * (p[i][1] - o[1]) - (a[1] - o[1]) * (p[i][0] - o[0]) > 0:
                    break
                out.pop()
            out.append(i)
        return out
    lo, hi = half(order), half(order[::-1])
    return np.array(lo[:-1] + hi[:-1], np.int64)


def clip(poly, cnt, m, o, tol):
    """Sutherland-Hodgman clip of convex polygons by half-spaces, vectorized over rows: polygons ``poly``
    (n, M, 3) whose first ``cnt`` (n,) slots are the vertices in order, kept part ``m . x - o >= -tol``
    (m (n, 3), o (n,)). Returns (polygons (n, M', 3), counts (n,)); slots past a count are unspecified."""
    n, M, _ = poly.shape
    if n == 0:
        return poly, cnt
    slot = np.arange(M)
    valid = slot[None, :] < cnt[:, None]
    d = np.matmul(poly, m[:, :, None])[:, :, 0] - o[:, None] + tol
    out = (d < 0) & valid
    cut = np.flatnonzero(out.any(axis=1))
    if len(cut) < n:          # rows entirely inside stay as they are; only the others are clipped
        cnt = cnt.copy()
        if len(cut):
            cp, cc = _clip_rows(poly[cut], cnt[cut], d[cut], valid[cut])
            Mo = max(M, cp.shape[1])
            poly = np.concatenate([poly, np.zeros((n, Mo - M, 3))], axis=1) if Mo > M else poly.copy()
            poly[cut, :cp.shape[1]] = cp
            cnt[cut] = cc
        return poly, cnt
    return _clip_rows(poly, cnt, d, valid)


def _clip_rows(poly, cnt, d, valid):
    """:func:`clip` of rows with signed distances ``d`` (n, M) (already offset by the tolerance)."""
    n, M, _ = poly.shape
    slot = np.arange(M)
    nxt = np.where(slot[None, :] + 1 < cnt[:, None], slot[None, :] + 1, 0)
    rows = np.arange(n)[:, None]
    pn = poly[rows, nxt]
    dn = d[rows, nxt]
    inside = d >= 0
    keep_v = valid & inside
    keep_x = valid & (inside != (dn >= 0))
    t = d / np.where(d == dn, 1.0, d - dn)
    # output order per row: vertex i (if kept), then the crossing on edge (i, i + 1) (if any)
    keep = np.stack([keep_v, keep_x], axis=2).reshape(n, 2 * M)
    new_cnt = keep.sum(axis=1)
    Mo = max(int(new_cnt.max()), 1)
    pos = np.cumsum(keep, axis=1) - 1
    r, c = np.nonzero(keep)
    res = np.zeros((n, Mo, 3))
    src = c // 2
    is_x = (c % 2) == 1
    pv = poly[r, src]
    res[r, pos[r, c]] = np.where(is_x[:, None], pv + t[r, src][:, None] * (pn[r, src] - pv), pv)
    return res, new_cnt


def side_planes(J, win, cnt):
    """Side planes of the pyramids from images ``J`` (n, 3) through windows ``win`` (n, E, 3) with ``cnt``
    vertices, one per window edge, oriented towards the window: unit normals m (n, E, 3), offsets
    o (n, E) (inside: m . x - o >= 0) and ``use`` (n, E), False for padding and degenerate edges (m = 0)."""
    E = win.shape[1]
    valid = np.arange(E)[None, :] < cnt[:, None]
    cen = (win * valid[:, :, None]).sum(axis=1) / cnt[:, None]
    nxt = np.where(np.arange(E)[None, :] + 1 < cnt[:, None], np.arange(E)[None, :] + 1, 0)
    b = win[np.arange(len(J))[:, None], nxt]
    m = np.cross(win - J[:, None], b - J[:, None])
    nm = np.linalg.norm(m, axis=2)
    use = valid & (nm > 0)
    m = m / np.where(nm > 0, nm, 1.0)[:, :, None]
    m *= (np.sign(np.einsum("nej,nj->ne", m, cen - J)) * use)[:, :, None]
    o = np.einsum("nej,nj->ne", m, J)
    return m, o, use


class Pruner:
    """The per-wall data of conditions 1-3 (module docstring) and the beam clipping."""

    def __init__(self, room, V, n_out, d_out):
        self.n_out = np.ascontiguousarray(n_out, np.float64)
        self.d_out = np.ascontiguousarray(d_out, np.float64)
        hulls = wall_hulls(room, V, n_out)
        self.tol = 1e-9 * float(np.ptp(V, axis=0).max())
        M = max(len(h) for h in hulls)
        self.hull = np.stack([np.r_[h, np.zeros((M - len(h), 3))] for h in hulls])   # (W, M, 3)
        self.hull_cnt = np.array([len(h) for h in hulls])
        self.hull_valid = np.arange(M)[None, :] < self.hull_cnt[:, None]           # (W, M)
        # front[P, Q]: some vertex of Q on the room side of P's plane
        side = np.einsum("qmj,pj->pqm", self.hull, n_out) - d_out[:, None, None]
        self.front = ((side < self.tol) & (np.arange(M)[None, None, :] < self.hull_cnt[None, :, None])).any(axis=2)
        np.fill_diagonal(self.front, False)
        # in-plane half-planes of each hull edge (unit normal towards the hull's inside, offset)
        nxt = np.where(np.arange(M)[None, :] + 1 < self.hull_cnt[:, None], np.arange(M)[None, :] + 1, 0)
        b = self.hull[np.arange(len(hulls))[:, None], nxt]
        u = np.cross(np.broadcast_to(self.n_out[:, None, :], b.shape), b - self.hull)
        u /= np.maximum(np.linalg.norm(u, axis=2, keepdims=True), 1e-300)
        cen = np.stack([h.mean(axis=0) for h in hulls])
        u *= np.where(np.einsum("wmj,wmj->wm", u, cen[:, None, :] - self.hull) < 0, -1.0, 1.0)[:, :, None]
        u *= self.hull_valid[:, :, None]
        self.edge_n = np.ascontiguousarray(u)
        self.edge_o = np.einsum("wmj,wmj->wm", u, self.hull)

    def children(self, J, P, win, cnt):
        """Children of nodes (image J (n, 3), last wall P (n,), -1 at the source, window ``win`` (n, M, 3)
        with ``cnt`` vertices): (parent row, wall, child window, count) of those whose window is not empty."""
        side = J @ self.n_out.T - self.d_out                        # Borish: J on the room side of Q
        ok = side < -self.tol
        has = P >= 0
        if not has.any():
            i, q = np.nonzero(ok)
            return i, q, self.hull[q], self.hull_cnt[q]
        ok &= self.front[P]
        m, o, use = side_planes(J, win, cnt)
        E = win.shape[1]
        # cheap test first: some vertex of Q inside every side plane
        n, W, M = len(J), *self.hull.shape[:2]
        dist = (m.reshape(-1, 3) @ self.hull.reshape(-1, 3).T).reshape(n, E, W, M) - o[:, :, None, None]
        inside = (dist > -self.tol) | ~self.hull_valid[None, None]
        ok &= np.all(np.any(inside & self.hull_valid[None, None], axis=3), axis=1)
        i, q = np.nonzero(ok)
        poly, pc = self.hull[q], self.hull_cnt[q]
        # the exact beam: Q's hull clipped to the room side of P and to each side plane
        Pq = P[i]
        poly, pc = clip(poly, pc, -self.n_out[Pq], -self.d_out[Pq], self.tol)
        for e in range(E):
            alive = np.flatnonzero(pc >= 3)
            i, q, poly, pc = i[alive], q[alive], poly[alive], pc[alive]
            act = np.flatnonzero(use[i, e])
            if len(act) == 0:
                continue
            cp, cc = clip(poly[act], pc[act], m[i[act], e], o[i[act], e], self.tol)
            Mo = max(poly.shape[1], cp.shape[1])
            poly = _pad(poly, Mo)
            poly[act] = _pad(cp, Mo)
            pc[act] = cc
        alive = np.flatnonzero(pc >= 3)
        return i[alive], q[alive], poly[alive], pc[alive]


def _pad(poly, M):
    if poly.shape[1] >= M:
        return poly
    return np.concatenate([poly, np.zeros((len(poly), M - poly.shape[1], 3))], axis=1)


_TREES: dict = {}
TREE_CACHE = 4          # trees kept for reuse (one per source of a batch, see :mod:`.batch`)


def clear_tree_cache() -> None:
    """Forget the trees kept by :func:`cached_build`."""
    _TREES.clear()


def cached_build(room, V, n_out, d_out, source, order: int) -> ImageTree:
    """:func:`build`, reusing the tree of a recent call with the same geometry, source and order (the
    receivers of a batch share it)."""
    key = (np.ascontiguousarray(V, np.float64).tobytes(), np.ascontiguousarray(room.faces).tobytes(),
           np.ascontiguousarray(room.face_wall).tobytes(), np.asarray(source, np.float64).tobytes(), int(order))
    tree = _TREES.pop(key, None)
    if tree is None:
        tree = build(room, V, n_out, d_out, source, order)
    _TREES[key] = tree                       # most recent last
    while len(_TREES) > TREE_CACHE:
        _TREES.pop(next(iter(_TREES)))
    return tree


def _use_compiled(compiled):
    if compiled is None:
        return tree_kernel.AVAILABLE
    if compiled and not tree_kernel.AVAILABLE:
        raise ValueError("compiled=True needs numba (pip install 'penumbra[fast]'); pass compiled=None or False")
    return bool(compiled)


_PRUNERS: dict = {}


def pruner(room, V, n_out, d_out) -> Pruner:
    """The :class:`Pruner` of the room's geometry, kept for the next call with the same geometry (the
    per-wall hulls and the front table depend on the walls only, not on the source)."""
    key = (np.ascontiguousarray(V, np.float64).tobytes(), np.ascontiguousarray(room.faces).tobytes(),
           np.ascontiguousarray(room.face_wall).tobytes())
    pr = _PRUNERS.get(key)
    if pr is None:
        _PRUNERS.clear()                     # one geometry at a time
        pr = _PRUNERS[key] = Pruner(room, V, n_out, d_out)
    return pr


def build(room, V, n_out, d_out, source, order: int, compiled: bool | None = None) -> ImageTree:
    """The pruned image tree of ``source`` up to ``order`` reflections (see the module docstring).
    ``compiled``: prune with the numba kernel of :mod:`.tree_kernel` (None: when numba is installed) or
    with NumPy (False); both give the same tree."""
    src = np.asarray(source, np.float64).reshape(3)
    pr = pruner(room, V, n_out, d_out)
    W = room.n_walls
    tree = ImageTree(src, [], [], [], n_out=np.asarray(n_out, np.float64), d_out=np.asarray(d_out, np.float64),
                     extent=float(np.ptp(V, axis=0).max()))
    if _use_compiled(compiled):
        return _build_compiled(tree, pr, W, order)
    J, P = src[None, :], np.array([-1])
    win, cnt = np.zeros((1, 1, 3)), np.ones(1, np.int64)
    total = 0
    for k in range(1, order + 1):
        _guard_level(W, k, len(J), total)
        par, wal, wins, cnts = [], [], [], []
        for lo in range(0, len(J), CHUNK):
            i, q, w, c = pr.children(J[lo:lo + CHUNK], P[lo:lo + CHUNK], win[lo:lo + CHUNK], cnt[lo:lo + CHUNK])
            par.append(i + lo)
            wal.append(q)
            wins.append(w)
            cnts.append(c)
        parent = np.concatenate(par)
        if len(parent) == 0:
            break
        wall = np.concatenate(wal)
        Mo = max(w.shape[1] for w in wins)
        win = np.concatenate([_pad(w, Mo) for w in wins])
        cnt = np.concatenate(cnts)
        Jp = J[parent]
        d = np.einsum("ij,ij->i", n_out[wall], Jp) - d_out[wall]
        J = Jp - 2.0 * d[:, None] * n_out[wall]
        P = wall
        tree.images.append(J)
        tree.parents.append(parent if k > 1 else np.full(len(parent), -1))
        tree.walls.append(wall.astype(np.int16))
        tree.windows.append(win)
        tree.counts.append(cnt)
        total += len(wall)
    return tree


def _guard_level(W: int, k: int, parents: int, total: int) -> None:
    """The memory guard of level ``k`` of a ``W``-wall room's tree: ``parents`` nodes at level k - 1,
    ``total`` nodes in the levels before."""
    memory.guard(f"the image-source tree of a {W}-wall room at order {k} ({parents * W} candidate images)",
                 float(parents) * W * BYTES_PER_CHILD + float(total) * BYTES_PER_NODE, "the order")


def _build_compiled(tree: ImageTree, pr: Pruner, W: int, order: int) -> ImageTree:
    """:func:`build`'s levels from :func:`.tree_kernel.tree` (one compiled pass); the per-level arrays are
    views of its flat arrays, kept in ``tree.flat`` for the receiver's compiled pass."""
    limit = memory.memory_limit()
    # the most candidates a level may have under the guard (the earlier levels' nodes counted as all kept)
    budget = np.iinfo(np.int64).max // 2 if limit is None else max(int(limit // BYTES_PER_CHILD), 0)
    img, par, wal, win, cnt, offs, over = tree_kernel.tree(pr, tree.source, order, budget)
    levels = int(np.count_nonzero(offs[1:] > offs[:-1]))
    if over:
        levels = over - 1
    for k in range(1, levels + 1):            # the guard with the exact totals (raises where it must)
        _guard_level(W, k, 1 if k == 1 else int(offs[k - 1] - offs[k - 2]), int(offs[k - 1]))
    if over:
        _guard_level(W, over, 1 if over == 1 else int(offs[over - 1] - offs[over - 2]), int(offs[over - 1]))
    n = int(offs[levels])
    tree.flat = (img[:n], par[:n], wal[:n], win[:n], cnt[:n], offs[:levels + 1].copy())
    tree.pruner = pr
    for k in range(levels):
        sl = slice(int(offs[k]), int(offs[k + 1]))
        c = cnt[sl]
        tree.images.append(img[sl])
        tree.parents.append(par[sl])
        tree.walls.append(wal[sl].astype(np.int16))
        tree.windows.append(win[sl, :max(int(c.max()), 1)])
        tree.counts.append(c)
    return tree


# Visibility rays traced at once (bounds Mitsuba's per-ray state).
VIS_BATCH = 1 << 18
# Margin of the receiver's beam test, relative to the room's extent.
BEAM_MARGIN = 1e-4


def distinct_images(seq, inter, extent: float) -> np.ndarray:
    """The rows of padded (-1) sequences ``seq`` (n, K) with distinct final images (``inter[j]`` (n, 3): the
    images after reflection j + 1), the first of each: two valid sequences with the same image are the
    same physical path (a path through the edge where two perpendicular walls meet reflects on both, in
    either order; the shoebox lattice counts it once). Images within 1e-9 x ``extent`` coincide."""
    if len(seq) < 2:
        return seq
    k = (seq >= 0).sum(axis=1)
    final = np.stack(inter)[np.maximum(k - 1, 0), np.arange(len(seq))]
    return seq[distinct_rows(k, final, extent)]


def distinct_rows(k, final, extent: float) -> np.ndarray:
    """Ascending indices of the paths with distinct final images ``final`` (n, 3) among paths with ``k``
    (n,) reflections (k = 0: the direct path, distinct from every image), the first of each (see
    :func:`distinct_images`)."""
    final = final.copy()
    final[k == 0] = np.inf                      # the direct path
    key = np.round(final / (1e-9 * extent))
    order = np.lexsort(key.T[::-1])            # rows sorted by (x, y, z), stable: the first of equal rows first
    ks = key[order]
    return np.sort(order[np.r_[True, np.any(ks[1:] != ks[:-1], axis=1)]])


def receiver_level(tree: ImageTree, pruner: Pruner, receiver, margin: float):
    """The level after the tree's last one, only the children whose beam holds ``receiver`` (compiled
    :func:`.tree_kernel.receiver_children`: a point-in-beam test, no clipped windows): (sequences (n, k),
    images along them: k arrays (n, 3)) with k = the tree's levels + 1."""
    k = len(tree.walls)
    if k == 0:
        J, P = tree.source[None, :], np.array([-1])
        win, cnt = np.zeros((1, 1, 3)), np.ones(1, np.int64)
    else:
        J, P, win, cnt = tree.images[k - 1], tree.walls[k - 1], tree.windows[k - 1], tree.counts[k - 1]
    par, q = tree_kernel.receiver_children(pruner, J, P, win, cnt, receiver, margin)
    seq = np.empty((len(par), k + 1), np.int64)
    chain = tree.chain(k, par) if k else []
    if k:
        seq[:, :k] = tree.sequences(k, par)
    seq[:, k] = q
    Jp = J[par]
    d = np.einsum("ij,ij->i", tree.n_out[q], Jp) - tree.d_out[q]
    return seq, chain + [Jp - 2.0 * d[:, None] * tree.n_out[q]]


def compiled_pass(scene, tree: ImageTree) -> bool:
    """Whether :func:`valid_paths` searches ``tree`` in ``scene`` in one compiled pass: numba installed,
    the tree built by :func:`.tree_kernel.tree` and ``scene`` a :class:`.visibility_kernel.TriangleMesh`."""
    return isinstance(scene, visibility_kernel.TriangleMesh) and tree.flat is not None and path_kernel.AVAILABLE


def valid_paths(scene, face_wall, tree: ImageTree, receiver, last: Pruner | None = None, extra: int = 1) -> np.ndarray:
    """(M, order) padded (-1) wall sequences of the tree's paths (and the direct path) that reach
    ``receiver`` (3,): from the receiver towards the last image the first hit must be on the last wall,
    from there towards the previous image on the previous wall, and so on; the last segment to the source
    must be unobstructed (ray tracing in float32 on the room mesh, as pyroomacoustics checks its paths).
    Only nodes whose beam holds the receiver (:meth:`ImageTree.in_beam`, with a margin of
    ``BEAM_MARGIN`` times the room's extent, far above float32 ray-tracing error) are traced: the others
    cannot be valid. All levels are traced together, ``VIS_BATCH`` paths at a time (a few kernels per
    reflection). With ``last`` (the room's :class:`Pruner`), one more level is added for this receiver
    only (:func:`receiver_level`, numba): the tree is built to one order less; with ``extra=2`` two
    levels (:func:`.tree_kernel.two_level_candidates`: the middle level's windows are not clipped; needs
    :func:`compiled_pass`): the tree is built to two orders less.
    ``scene`` may instead be a :class:`.visibility_kernel.TriangleMesh` of the room: the same
    test in compiled float64 code (:func:`.visibility_kernel.valid`), all paths in one pass
    (:mod:`.path_kernel` when the tree is compiled too: :func:`compiled_pass`)."""
    from .polyhedral import visible
    import mitsuba as mi
    if extra not in (1, 2):
        raise ValueError(f"extra must be 1 or 2 (levels added for the receiver), got {extra!r}")
    if compiled_pass(scene, tree):
        return path_kernel.receiver_paths(tree, scene, receiver, BEAM_MARGIN * tree.extent,
                                          0 if last is None else extra)
    if last is not None and extra == 2:
        raise ValueError("extra=2 needs the compiled pass (numba, a compiled tree and a TriangleMesh scene)")
    levels = len(tree.walls) + (last is not None)
    K = max(levels, 1)
    rcv = np.asarray(receiver, np.float64).reshape(3)
    seq = [np.full((1, K), -1, np.int64)]
    inter = [[np.zeros((1, 3))] for _ in range(K)]
    for k in range(1, levels + 1):
        if k > len(tree.walls):
            sk, ch = receiver_level(tree, last, rcv, BEAM_MARGIN * tree.extent)
            n = len(sk)
        else:
            idx = np.flatnonzero(tree.in_beam(k, rcv, BEAM_MARGIN * tree.extent))
            sk, ch, n = tree.sequences(k, idx), tree.chain(k, idx), len(idx)
        s = np.full((n, K), -1, np.int64)
        s[:, :k] = sk
        seq.append(s)
        for j in range(K):
            inter[j].append(ch[j] if j < k else np.zeros((n, 3)))
    seq = np.concatenate(seq)
    if isinstance(scene, visibility_kernel.TriangleMesh):
        inter = [np.concatenate(c) for c in inter]
        ok = visibility_kernel.valid(scene, seq, inter, tree.source, rcv)
        return distinct_images(seq[ok], [c[ok] for c in inter], tree.extent)
    inter = [np.concatenate(c).astype(np.float32) for c in inter]
    rows = []
    for lo in range(0, len(seq), VIS_BATCH):
        sl = slice(lo, lo + VIS_BATCH)
        depth = int((seq[sl] >= 0).sum(axis=1).max())
        pts = [mi.Vector3f(*[upload(mi.Float, np.ascontiguousarray(inter[j][sl, a])) for a in range(3)])
               for j in range(depth)]
        ok = visible(scene, face_wall, seq[sl], pts, tree.source, rcv)
        rows.append(seq[sl][ok])
    return np.concatenate(rows)
