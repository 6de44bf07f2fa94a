"""Image sources in arbitrary (convex or not) polyhedral rooms, with visibility checked by ray tracing
on the room mesh (Mitsuba 3 / Dr.Jit).

:func:`find_paths` picks the search (``search="auto"``): the shoebox lattice for a rectangular box in any
orientation, the exact 2D beam tracing of :mod:`.prism` for a prism along any axis (an extruded floor
polygon, e.g. the L-shaped room), and the complete image tree of :mod:`.image_tree` (classic image
sources with Borish pruning and 3D beam clipping, ray-traced validity) for any other closed polyhedron.
All three are exact up to the order.

``search="rays"`` keeps a faster, incomplete alternative for very high orders on large rooms. Following the
candidate-then-refine idea of Sionna RT (Hoydis et al., "Sionna RT: Differentiable ray tracing for radio
propagation modeling", 2023), it

1. **finds candidate wall sequences** by shooting ``n_rays`` specular rays (Fibonacci sphere) from the
   source (``rays_from="source"``, default; or from the receiver, or both) for ``order`` bounces,
   recording the walls they hit; every prefix of a source ray's sequence (every reversed prefix of a
   receiver ray's) is a candidate, plus every sequence of at most 3 reflections. Their number is bounded
   by ``n_rays * order`` whatever the order. A cheap necessary condition (Borish 1984: each image lies on
   the room side of its next wall) prunes candidates before the ray-traced check, and sequences one edit
   away from valid ones (adjacent transposition, one wall more at either end) are tried in a few
   rounds, which recovers narrow beams the rays miss near edges and corners;
2. **refines by the image method**: the image of the source through the candidate's walls gives the exact
   specular path (differentiable in the source and the wall vertex positions, Dr.Jit float64);
3. **validates by ray tracing**: from the receiver towards the last image, the first hit must be on the
   expected wall, and so on back to the source, whose final segment must be unobstructed.

Step 3 is exact, so no invalid path is ever used; step 1 can miss sequences whose beam is narrower than
the ray spacing (very high orders, tiny walls).
"""
from __future__ import annotations


import drjit as dr
import numpy as np

from ._jit import upload
from .rays import fibonacci_sphere, room_scene


def _mi():
    import mitsuba as mi
    return mi


def _trace_sequences(scene, face_wall, origin, n_rays, order):
    """(n_rays, order) wall ids hit by specular rays from ``origin`` (-1 after a miss)."""
    mi = _mi()
    dirs = fibonacci_sphere(n_rays)
    o = np.broadcast_to(np.asarray(origin, np.float32), (n_rays, 3))
    ray = mi.Ray3f(mi.Point3f(*[mi.Float(np.ascontiguousarray(o[:, a])) for a in range(3)]),
                   mi.Vector3f(*[mi.Float(dirs[:, a].astype(np.float32)) for a in range(3)]))
    fw = mi.Int32(face_wall.astype(np.int32))
    alive = dr.full(mi.Bool, True, n_rays)
    walls = []
    for b in range(order):
        si = scene.ray_intersect(ray, alive)
        alive &= si.is_valid()
        wall = dr.select(alive, dr.gather(mi.Int32, fw, si.prim_index, alive), -1)
        n = si.n
        d = ray.d - 2.0 * dr.dot(ray.d, n) * n
        ray = si.spawn_ray(d)
        dr.eval(ray, wall, alive)
        walls.append(wall)
    # one synchronisation at the end (the bounce kernels run back to back)
    return np.stack([np.array(w, dtype=np.int64) for w in walls], axis=1)


def _encode(seq_list, W):
    """Integer code of each (padded with -1) sequence row: sum (w_j + 1) (W + 1)^j."""
    base = W + 1
    return (seq_list + 1) @ (base ** np.arange(seq_list.shape[1], dtype=np.int64))


def _decode(codes, W, K):
    base = W + 1
    out = np.full((len(codes), K), -1, np.int64)
    c = codes.copy()
    for j in range(K):
        out[:, j] = c % base - 1
        c //= base
    return out


def ray_candidates(scene, room, order, src, rcv, n_rays, rays_from="source"):
    """(n, order) padded candidate sequences from the prefixes of rays shot from the source and the
    (reversed) prefixes of rays shot from the receiver, deduplicated through integer codes."""
    W = room.n_walls
    base = W + 1
    mode = rays_from
    if mode not in ("source", "receiver", "both"):
        raise ValueError(f"rays_from must be 'source', 'receiver' or 'both', got {mode!r}")
    s_seq = _trace_sequences(scene, room.face_wall, src, n_rays, order) if mode in ("both", "source") \
        else np.zeros((0, order), np.int64)
    r_seq = _trace_sequences(scene, room.face_wall, rcv, n_rays, order) if mode in ("both", "receiver") \
        else np.zeros((0, order), np.int64)
    codes = []
    pw = base ** np.arange(order, dtype=np.int64)
    ok_s = np.cumprod(s_seq >= 0, axis=1).astype(bool)
    cs = np.cumsum((s_seq + 1) * pw[None, :], axis=1)       # prefix codes (source order)
    codes.append(cs[ok_s])
    ok_r = np.cumprod(r_seq >= 0, axis=1).astype(bool)
    rc = np.zeros(len(r_seq), np.int64)
    for k in range(order):                                     # reversed prefixes by Horner's rule
        rc = rc * base + (r_seq[:, k] + 1)
        codes.append(rc[ok_r[:, k]])
    return _decode(_unique_sorted(np.concatenate(codes)), W, order)


def _unique_sorted(c):
    """np.unique for int64 codes by sort + diff (numpy 2's hash-based unique is slower here)."""
    c = np.sort(c, kind="stable")
    return c[np.r_[True, c[1:] != c[:-1]]] if len(c) else c


def _transpositions(c, order):
    out = [c]
    k = (c >= 0).sum(axis=1)
    for j in range(order - 1):
        m = k >= j + 2
        v = c[m].copy()
        v[:, [j, j + 1]] = v[:, [j + 1, j]]
        out.append(v)
    return np.concatenate(out)


def _neighbours(valid, W, order, second=False):
    """Sequences one edit away from valid ones: adjacent transpositions, one wall appended or prepended
    (with ``second``, also one further adjacent transposition of those)."""
    out = []
    k = (valid >= 0).sum(axis=1)
    for j in range(order - 1):  # transpositions
        m = k >= j + 2
        v = valid[m].copy()
        v[:, [j, j + 1]] = v[:, [j + 1, j]]
        out.append(v)
    m = k < order
    v = valid[m]
    kv = k[m]
    for w in range(W):
        a = v.copy()
        a[np.arange(len(a)), kv] = w            # append
        out.append(a)
        b = np.full_like(v, -1)                  # prepend
        b[:, 0] = w
        b[:, 1:] = v[:, :-1]
        out.append(b)
    c = np.concatenate(out) if out else np.zeros((0, order), np.int64)
    if second and len(c):
        c = _transpositions(c, order)
    good = np.ones(len(c), bool)
    kc = (c >= 0).sum(axis=1)
    for j in range(order - 1):
        good &= ~((c[:, j] == c[:, j + 1]) & (c[:, j] >= 0))
    return c[good & (kc > 0)]


def _planes(room, vertices):
    """Dr.Jit (normal mi.Vector3d, offset mi.Float64) per wall from the (possibly AD) vertex array."""
    mi = _mi()
    if not dr.grad_enabled(vertices):      # constants: computed on the host, no kernel launch
        V = np.array(vertices, dtype=np.float64).reshape(-1, 3)
        key = (mi.variant(), V.tobytes(), np.ascontiguousarray(room.vertices).tobytes(),
               np.ascontiguousarray(room.faces).tobytes(), np.ascontiguousarray(room.face_wall).tobytes())
        hit = _PLANES.get(key)
        if hit is None:
            n, d = wall_planes_np(room, V)
            _PLANES.clear()                  # one geometry at a time (uploaded once, read-only)
            hit = _PLANES[key] = (mi.Vector3d(*[upload(mi.Float64, np.ascontiguousarray(n[:, k])) for k in range(3)]),
                                  upload(mi.Float64, d))
        return hit
    rep = room.wall_triangles()
    pts = []
    for c in range(3):
        idx = rep[:, c]
        pts.append(mi.Vector3d(*[dr.gather(mi.Float64, vertices, upload(mi.UInt32, (3 * idx + a).astype(np.uint32)))
                                 for a in range(3)]))
    n = dr.normalize(dr.cross(pts[1] - pts[0], pts[2] - pts[0]))
    d = dr.dot(n, pts[0])
    dr.eval(n, d)          # one small kernel (gathers from unevaluated planes would launch one each)
    return n, d


_PLANES: dict = {}


def wall_planes_np(room, V):
    """(unit normals (W, 3), offsets (W,)) of the wall planes from the vertex positions ``V`` (V, 3), in
    NumPy: the normal of each wall's representative triangle (orientation as stored); read-only arrays
    kept for the next call with the same geometry."""
    V = np.ascontiguousarray(V, np.float64)
    key = (V.tobytes(), np.ascontiguousarray(room.faces).tobytes(), np.ascontiguousarray(room.face_wall).tobytes())
    hit = _HOST_PLANES.get(key)
    if hit is None:
        rep = room.wall_triangles()
        a, b, c = V[rep[:, 0]], V[rep[:, 1]], V[rep[:, 2]]
        n = np.cross(b - a, c - a)
        n /= np.linalg.norm(n, axis=1, keepdims=True)
        hit = (n, np.einsum("ij,ij->i", n, a))
        for x in hit:
            x.setflags(write=False)
        _HOST_PLANES.clear()                 # one geometry at a time
        _HOST_PLANES[key] = hit
    return hit


_HOST_PLANES: dict = {}


def outward_planes(room, V):
    """(normals (W, 3), offsets (W,)) of the wall planes with normals pointing out of the room (cached per
    geometry: the inside tests cost a few ms)."""
    V = np.ascontiguousarray(V, np.float64)
    key = (V.tobytes(), np.ascontiguousarray(room.faces).tobytes(), np.ascontiguousarray(room.face_wall).tobytes())
    hit = _OUTWARD.get(key)
    if hit is None:
        hit = _OUTWARD[key] = _outward_planes(room, V)
        while len(_OUTWARD) > 16:
            _OUTWARD.pop(next(iter(_OUTWARD)))
    return hit[0].copy(), hit[1].copy()


_OUTWARD: dict = {}


def _outward_planes(room, V):
    from penumbra.scenes.room import point_inside
    rep = room.wall_triangles()
    a, b, c = V[rep[:, 0]], V[rep[:, 1]], V[rep[:, 2]]
    n = np.cross(b - a, c - a)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    cen = (a + b + c) / 3.0
    eps = 1e-4 * float(np.ptp(V, axis=0).max())
    for w in range(len(n)):
        if not point_inside(cen[w] - eps * n[w], V, room.faces):
            n[w] = -n[w]
    return n, np.einsum("ij,ij->i", n, a)


def borish_valid(seq, n_out, d_out, source, receiver, tol=1e-9):
    """Necessary condition for a specular path (Borish 1984): before each reflection, the current image
    lies on the room side of the reflecting wall's plane, and so does the receiver for the last wall."""
    n, K = seq.shape
    cur = np.broadcast_to(np.asarray(source, np.float64), (n, 3)).copy()
    ok = np.ones(n, bool)
    last = np.full(n, -1)
    for j in range(K):
        act = seq[:, j] >= 0
        if not act.any():
            break
        w = np.maximum(seq[:, j], 0)
        side = np.einsum("ij,ij->i", n_out[w], cur) - d_out[w]
        ok &= ~act | (side < -tol)
        cur = np.where(act[:, None], cur - 2.0 * side[:, None] * n_out[w], cur)
        last = np.where(act, w, last)
    has = last >= 0
    rside = n_out[np.maximum(last, 0)] @ np.asarray(receiver, np.float64) - d_out[np.maximum(last, 0)]
    return ok & (~has | (rside < -tol))


def _images(seq, n_w, d_w, source, intermediate: bool = True):
    """Final images (mi.Vector3d, AD) of ``source`` through each padded row of ``seq`` (n, order), and the
    list of detached float32 intermediate images per reflection for the visibility test (with
    ``intermediate=False``: none, and the final images stay one lazy expression: no kernel launches)."""
    mi = _mi()
    n, K = seq.shape
    k = (seq >= 0).sum(axis=1)
    cur = mi.Vector3d(source[0] + dr.zeros(mi.Float64, n), source[1] + dr.zeros(mi.Float64, n),
                      source[2] + dr.zeros(mi.Float64, n))
    final = mi.Vector3d(cur)
    inter = []
    for j in range(K):
        act = seq[:, j] >= 0
        if not act.any():
            break
        w = upload(mi.UInt32, np.maximum(seq[:, j], 0).astype(np.uint32))
        nn = dr.gather(mi.Vector3d, n_w, w)
        d = dr.gather(mi.Float64, d_w, w)
        cur = cur - 2.0 * (dr.dot(nn, cur) - d) * nn
        last = upload(mi.Float64, (k == j + 1).astype(np.float64)) > 0.5
        final = dr.select(last, cur, final)
        if intermediate:
            inter.append(mi.Vector3f(dr.detach(cur)))
            dr.eval(cur, final)
    return final, inter


def image_positions_np(seq, n_w, d_w, source) -> np.ndarray:
    """The final images of :func:`_images` on the host: (n, 3) NumPy float64 positions of ``source``
    reflected in turn on the walls of each padded (-1) row of ``seq`` (n, K), planes ``n_w`` (W, 3) and
    ``d_w`` (W,)."""
    cur = np.broadcast_to(np.asarray(source, np.float64).reshape(3), (len(seq), 3)).copy()
    for j in range(seq.shape[1]):
        act = seq[:, j] >= 0
        if not act.any():
            break
        w = np.maximum(seq[:, j], 0)
        nn = n_w[w]
        side = nn[:, 0] * cur[:, 0] + nn[:, 1] * cur[:, 1] + nn[:, 2] * cur[:, 2] - d_w[w]
        cur = np.where(act[:, None], cur - 2.0 * side[:, None] * nn, cur)
    return cur


def visible(scene, face_wall, seq, inter, source, receiver):
    """Boolean (n,) validity of each padded candidate path by ray tracing (float32, no derivatives)."""
    mi = _mi()
    n, K = seq.shape
    k = (seq >= 0).sum(axis=1)
    fw = mi.Int32(face_wall.astype(np.int32))
    # opaque: positions that change per call must not become kernel literals (one compilation per position)
    src = mi.Point3f(*[dr.opaque(mi.Float, float(x)) for x in source])
    rcv = mi.Point3f(*[dr.opaque(mi.Float, float(x), n) for x in receiver])
    ok = dr.full(mi.Bool, True, n)
    started = dr.full(mi.Bool, False, n)
    si = dr.zeros(mi.SurfaceInteraction3f, n)
    for j in range(len(inter) - 1, -1, -1):
        act = upload(mi.Float, (k > j).astype(np.float32)) > 0.5
        target = mi.Point3f(inter[j])
        ray_r = mi.Ray3f(rcv, dr.normalize(target - rcv))
        ray_s = si.spawn_ray(dr.normalize(target - si.p))
        ray = dr.select(started, ray_s, ray_r)
        hit = scene.ray_intersect(ray, ok & act)
        wall = dr.gather(mi.Int32, fw, hit.prim_index, ok & act)
        want = upload(mi.Int32, np.maximum(seq[:, j], 0).astype(np.int32))
        ok &= ~act | (hit.is_valid() & (wall == want))
        si = dr.select(act, hit, si)
        started |= act
        dr.eval(ok, si, started)
    # last segment: to the source, unobstructed
    direct = mi.Ray3f(mi.Ray3f(rcv, dr.normalize(src - rcv)), dr.norm(src - rcv) * (1 - 1e-5))
    ray = dr.select(started, si.spawn_ray_to(src), direct)
    ok &= ~scene.ray_test(ray, ok)
    return np.array(ok, dtype=bool)


def _exhaustive(W, K, up_to):
    """All wall sequences without immediate repetition of lengths 1 .. ``up_to`` (padded to K)."""
    out = []
    cur = np.arange(W, dtype=np.int64)[:, None]
    for k in range(1, up_to + 1):
        if k > 1:
            nxt = np.repeat(cur, W, axis=0)
            last = np.tile(np.arange(W, dtype=np.int64), len(cur))
            keep = nxt[:, -1] != last
            cur = np.concatenate([nxt[keep], last[keep, None]], axis=1)
        pad = np.full((len(cur), K), -1, np.int64)
        pad[:, :k] = cur
        out.append(pad)
    return np.concatenate(out) if out else np.zeros((0, K), np.int64)


def exhaustive_depth(W, order, budget):
    """Largest k <= order with sum_{j <= k} W (W - 1)^(j - 1) <= budget (at least 1)."""
    total, k = 0, 0
    while k < order:
        total += W * (W - 1) ** k
        if total > budget:
            break
        k += 1
    return max(k, 1)


def find_paths(room, order: int, params: dict, n_rays: int = 40000, rounds: int = 4,
               exhaustive: int = 1000, second: bool = False, rays_from: str = "source", search: str = "auto",
               host: bool = False):
    """Valid image sources of ``room`` up to ``order``: (positions mi.Vector3d, wall hits (M, W), orders (M,)).

    With ``search="rays"``, candidates are ray-traced sequences (see the module docstring), then up to
    ``rounds`` rounds of sequences one edit away from the valid ones (adjacent transposition, one more
    wall at either end), which recovers the narrow beams that rays miss near edges and corners. All sequences up to
    ``k`` reflections are tested as well, for the largest ``k`` whose W (W - 1)^(j - 1) candidates
    (summed over j <= k) fit in the ``exhaustive`` budget: up to that order the search is exact (the
    classic method with Borish pruning and ray-traced visibility), and no rays are shot if it covers
    ``order``.

    ``search``: ``"auto"`` (default) uses the shoebox lattice when the walls form a rectangular box (in any
    orientation; not while vertex gradients are enabled), the exact beam tracing of :mod:`.prism` when the
    room is a prism along any axis (an extruded floor polygon: every path found, no rays) and the complete
    image tree of :mod:`.image_tree` otherwise; ``"beams"`` requires a prism, ``"tree"`` always builds the
    image tree, ``"rays"`` uses the candidate rays above (``n_rays``, ``rounds``, ``exhaustive``,
    ``second``, ``rays_from`` apply to it only).

    ``host=True`` (no gradients: the inputs must not be AD-attached) returns the positions as a NumPy
    (M, 3) float64 array computed on the host, and launches no Dr.Jit kernel except in the ray search."""
    mi = _mi()
    if search not in ("auto", "beams", "tree", "rays"):
        raise ValueError(f"search must be 'auto', 'beams', 'tree' or 'rays', got {search!r}")
    vertices = params["vertices"]
    V = np.array(dr.detach(vertices), dtype=np.float64).reshape(-1, 3)
    src_np = np.array(dr.detach(params["source"]), dtype=np.float64).reshape(-1)
    rcv_np = np.array(dr.detach(params["receiver"]), dtype=np.float64).reshape(-1)
    n_w, d_w = wall_planes_np(room, V) if host else _planes(room, vertices)
    source = params["source"]
    W, K = room.n_walls, max(order, 1)
    n_out, d_out = outward_planes(room, V)
    if search == "auto" and not dr.grad_enabled(vertices):
        lattice = _box_lattice(room, order, n_out, d_out, src_np if host else source)
        if lattice is not None:
            return lattice
    if search in ("auto", "beams"):
        from . import prism
        seqs = prism.find_sequences(room, V, n_out, d_out, src_np, rcv_np, order)
        if seqs is None and search == "beams":
            raise ValueError("search='beams' needs a vertical prism room (an extruded floor polygon)")
        if seqs is not None:
            if len(seqs) == 0:
                raise ValueError("no valid path between the source and the receiver up to this order")
            return _path_arrays(seqs, n_w, d_w, src_np, source, W, host)
    if search in ("auto", "tree"):
        from . import image_tree, tree_kernel, visibility_kernel
        scene = tracer(room, V)
        # the last level (or two, in the compiled pass) per receiver: image_tree.valid_paths
        extra = 2 if order > 1 and visibility_kernel.AVAILABLE and isinstance(scene, visibility_kernel.TriangleMesh) \
            else 1
        if tree_kernel.AVAILABLE and order > 0:
            tree = image_tree.cached_build(room, V, n_out, d_out, src_np, order - extra)
            last = image_tree.pruner(room, V, n_out, d_out) if len(tree.walls) == order - extra else None
        else:
            tree, last = image_tree.cached_build(room, V, n_out, d_out, src_np, order), None
        seqs = image_tree.valid_paths(scene, room.face_wall, tree, rcv_np, last=last, extra=extra)
        if len(seqs) == 0:
            raise ValueError("no valid path between the source and the receiver up to this order")
        return _path_arrays(seqs, n_w, d_w, src_np, source, W, host)
    if host:
        n_w, d_w = _planes(room, vertices)
    scene = room_scene(V, room.faces)
    # order 0: the direct path
    cand = np.full((1, K), -1, np.int64)
    if order > 0:
        depth = min(exhaustive_depth(W, order, exhaustive), order)
        if depth < order and n_rays > 0:
            rc = ray_candidates(scene, room, order, src_np, rcv_np, n_rays, rays_from)
            rc = rc[np.all((rc[:, 1:] != rc[:, :-1]) | (rc[:, 1:] < 0), axis=1)]
        else:
            rc = np.zeros((0, K), np.int64)
        cand = np.concatenate([cand, rc, _exhaustive(W, K, depth)])
    tested = np.zeros(0, np.int64)
    valid_rows, finals = [], []
    for rnd in range(rounds + 1):
        codes = _encode(cand, W)
        order_idx = np.argsort(codes, kind="stable")
        codes = codes[order_idx]
        new = np.r_[True, codes[1:] != codes[:-1]] if len(codes) else np.zeros(0, bool)
        codes, first = codes[new], order_idx[new]
        pos = np.searchsorted(tested, codes)
        keep = ~((pos < len(tested)) & (tested[np.minimum(pos, len(tested) - 1)] == codes)) if len(tested) else \
            np.ones(len(codes), bool)
        cand = cand[first[keep]]
        if len(cand) == 0:
            break
        tested = np.sort(np.concatenate([tested, codes[keep]]))
        cand = cand[borish_valid(cand, n_out, d_out, src_np, rcv_np)]   # cheap necessary condition first
        if len(cand) == 0:
            break
        final, inter = _images(cand, n_w, d_w, source)
        ok = visible(scene, room.face_wall, cand, inter, src_np, rcv_np)
        if ok.any():
            idx = upload(mi.UInt32, np.flatnonzero(ok).astype(np.uint32))
            finals.append(dr.gather(mi.Vector3d, final, idx))
            valid_rows.append(cand[ok])
        if order == 0 or rnd == rounds or not ok.any():
            break
        cand = _neighbours(cand[ok], W, K, second=second)
    if not valid_rows:
        raise ValueError("no valid path between the source and the receiver up to this order")
    seqs = np.concatenate(valid_rows)
    pos = finals[0]
    for q in finals[1:]:
        pos = mi.Vector3d(*[_cat(pos[a], q[a]) for a in range(3)])
    if host:
        pos = np.stack([np.array(pos[a], dtype=np.float64) for a in range(3)], axis=1)
    return pos, _hit_counts(seqs, W), (seqs >= 0).sum(axis=1)


def _path_arrays(seqs, n_w, d_w, src_np, source, W, host):
    """:func:`find_paths`' result for the wall sequences ``seqs``: (final images, reflections per wall,
    orders), the images NumPy (``host``: compiled when numba is installed, else
    :func:`image_positions_np`) or Dr.Jit (:func:`_images`, differentiable in ``source``)."""
    from . import path_kernel
    if host and path_kernel.AVAILABLE:
        return path_kernel.sequence_images(seqs, n_w, d_w, src_np, W)
    final = image_positions_np(seqs, n_w, d_w, src_np) if host else \
        _images(seqs, n_w, d_w, source, intermediate=False)[0]
    return final, _hit_counts(seqs, W), (seqs >= 0).sum(axis=1)


def tracer(room, V):
    """What the image tree's paths are ray-traced on (:func:`.image_tree.valid_paths`): the compiled
    float64 test of :mod:`.visibility_kernel` for rooms of at most ``MAX_TRIANGLES`` triangles when numba
    is installed (no kernel tracing or launch per call), the room's Mitsuba scene otherwise."""
    from . import visibility_kernel
    if visibility_kernel.AVAILABLE and len(room.faces) <= visibility_kernel.MAX_TRIANGLES:
        key = (np.ascontiguousarray(V, np.float64).tobytes(), np.ascontiguousarray(room.faces).tobytes(),
               np.ascontiguousarray(room.face_wall).tobytes())
        mesh = _MESHES.get(key)
        if mesh is None:
            _MESHES.clear()                   # one geometry at a time
            mesh = _MESHES[key] = visibility_kernel.triangle_mesh(V, room.faces, room.face_wall)
        return mesh
    return room_scene(V, room.faces)


_MESHES: dict = {}


def _box_lattice(room, order, n_out, d_out, source):
    """The shoebox lattice's paths (:mod:`.shoebox`) of a room whose walls form a rectangular box in any
    position and orientation, or None: images in the box's own frame (``prism.box_frame``), rotated back
    (NumPy (M, 3) positions when ``source`` is a NumPy array, else Dr.Jit);
    differentiable in the source position (not in the vertices: the caller keeps the general search
    when vertex gradients are enabled)."""
    from . import prism, shoebox
    mi = _mi()
    if prism.extrusion_frame(n_out) is None:
        return None
    box = prism.box_frame(n_out, d_out)
    if box is None:
        return None
    R, o, L, walls = box
    key = (order, room.n_walls, walls.tobytes())
    if key not in _BOX_HITS:
        n = shoebox.lattice(order)
        hits = np.zeros((len(n), room.n_walls), np.int64)
        hits[:, walls] = shoebox.lattice_hits(order)
        hits.setflags(write=False)
        _BOX_HITS.clear()                    # one (order, wall order) at a time
        _BOX_HITS[key] = hits, np.abs(n).sum(axis=1)
    if isinstance(source, np.ndarray):       # host: NumPy positions
        loc = shoebox.image_positions_np(order, L, R @ source - o)
        return ((loc + o) @ R, *_BOX_HITS[key])
    s_loc = mi.Vector3d(*[sum(float(R[k, a]) * source[a] for a in range(3)) - float(o[k]) for k in range(3)])
    loc = shoebox.image_positions(order, mi.Vector3d(*[dr.opaque(mi.Float64, float(x)) for x in L]), s_loc)
    pos = mi.Vector3d(*[sum(float(R[k, a]) * (loc[k] + float(o[k])) for k in range(3)) for a in range(3)])
    return (pos, *_BOX_HITS[key])


_BOX_HITS: dict = {}


def _hit_counts(seqs, W):
    """(M, W) number of reflections on each wall of padded sequences (M, K)."""
    hits = np.zeros((len(seqs), W), np.int64)
    for j in range(seqs.shape[1]):
        m = seqs[:, j] >= 0
        np.add.at(hits, (np.flatnonzero(m), seqs[m, j]), 1)
    return hits


def _cat(a, b):
    mi = _mi()
    na, nb = dr.width(a), dr.width(b)
    out = dr.zeros(mi.Float64, na + nb)
    dr.scatter(out, a, dr.arange(mi.UInt32, na))
    dr.scatter(out, b, dr.arange(mi.UInt32, nb) + na)
    return out
