"""Derivatives of an image with respect to the camera: pose (``to_world``), field of view, principal point.

Mitsuba 3.9 flags a perspective sensor's ``to_world``, ``x_fov`` and principal point as
non-differentiable, and ``prb`` detaches the camera rays, so these derivatives are added here. The
camera's motion splits into a motion of its centre t and a change of the map from film points to
ray directions (rotation/linear part A of ``to_world`` and intrinsics K, :mod:`.camera`):

**Rotation, field of view, principal point: a film-space warp.** With the centre fixed, camera θ sees
through film point x what the reference camera (θ0) sees through the film point ``h_θ(x)``, a
homography: ``h_θ(x) ~ K0 A0⁻¹ A_θ K_θ⁻¹ x̃``. Pixel j of the image, with reconstruction filter k and
normalisation K_j = ∫_D k(x - c_j) dx over the sampled film domain D, is

    I_j(θ) = (1/K_j) ∫_D k(x - c_j) L0(h_θ(x)) dx
           = (1/K_j) ∫_{h_θ(D)} k(p_θ(y) - c_j) L0(y) |det ∂p_θ/∂y| dy,    p_θ = h_θ⁻¹,

after the change of variables y = h_θ(x). All θ-dependence has moved out of the (discontinuous)
radiance L0 into the filter weight, the Jacobian ``det G / (G ỹ)_z³`` (G = K_θ A_θ⁻¹ A0 K0⁻¹) and
the domain, so (Reynolds transport, u = ∂h_θ/∂θ the film velocity)

    ∂I_j/∂θ = (1/K_j) [ ∫_D L0(y) ∂θ( k(p_θ(y) - c_j) det ∂p_θ/∂y ) dy + ∮_{∂D} k(y - c_j) L0(y) (u · n) dℓ ].

The first (interior) integral is estimated at stratified film samples by splatting ``L0 · det`` at
the attached position ``p_θ(y)`` (smooth filters differentiate through ``ImageBlock.put``). For the
*box* filter k is an indicator, whose derivative is a line integral over the pixel borders: every
pixel edge is sampled and ``L0 (u · n)`` splatted to the two pixels it separates. For smooth filters
without ``sample_border`` the film border is sampled the same way. Silhouettes and environment maps
need no special treatment: the warp term is the complete derivative (interior and visibility).
Since every pixel's terms integrate to zero for constant radiance, ``L0 - c`` replaces L0, with c a
pixel's (box) or the image's (smooth filters) mean radiance from an *independent* half of the samples
(a control variate; unbiased).

**Translation: the scene moves instead.** Moving the camera centre by δ with a fixed orientation is
the same as moving every shape, area light and point/spot light by -δ (infinite emitters are
invariant). :func:`translation_as_scene_motion` temporarily adds the zero-valued offset
``-(t - detach(t))`` to every mesh's vertex buffer, shape transform and finite emitter position while
the derivative is computed, so that ``prb``'s interior term (attached intersections) and the
primary boundary term (edge motion on the film) pick up the translation exactly as they do for
moving geometry; the original values (with their own gradients) are restored afterwards. A dedicated
interior term for a moving ray origin would have to replay whole paths; ``prb`` already does it.
``prb`` keeps the positions of next-event-estimation emitter samples fixed; the light-motion part
comes from :mod:`.emitter_motion` (area lights on shapes, point lights), so the scene moves
rigidly. Other finite emitters (spot, projector lights) have no such term: with them, translation
derivatives are refused unless ``max_depth=1`` (no emitter sampling). Infinite emitters
(environment, constant, directional) are invariant.

:class:`CameraMotionIntegrator` wires both into a :class:`~.base.BoundaryTermIntegrator` (property
``camera_spp``: film samples per pixel and samples per pixel edge for the warp term, default 4).
Nothing is computed when the camera parameters carry no gradient. Limitations: near-plane clipping is
ignored (a rotated near plane cuts differently), and only perspective sensors without crop windows.
References: Li et al. 2018 (edge sampling, the boundary integral), Loubet et al. 2019 (moving the
discontinuities into a change of variables) for the idea of reparameterizing the film.
"""
from __future__ import annotations

from contextlib import contextmanager

import drjit as dr
import mitsuba as mi
import numpy as np

from penumbra.renderer.arrays import upload, upload_tensor

from .base import BoundaryTermIntegrator, scene_attached
from .camera import camera_matrices, camera_radiance
from .film import term_sampler


def _any_grad(values) -> bool:
    return any(dr.grad_enabled(v) for v in values)


def camera_gradients(sensor) -> tuple[bool, bool]:
    """(warp, translation): whether the film warp (rotation, fov, principal point) and the camera
    centre carry gradients."""
    if sensor.class_name() != "PerspectiveCamera":
        return False, False
    M = sensor.world_transform().matrix
    params = mi.traverse(sensor)
    warp = _any_grad([M[i][j] for i in range(3) for j in range(3)]) or _any_grad(
        [params[k] for k in ("x_fov", "principal_point_offset_x", "principal_point_offset_y")])
    return warp, _any_grad([M[i][3] for i in range(3)])


# --- translation --------------------------------------------------------------------------------
def _hold(value):
    """A new Python object referencing the same Dr.Jit variables (Mitsuba writes parameter updates
    into the stored objects' components in place, which would change a shallow copy too)."""
    if "Transform" in type(value).__name__:
        return type(value)(_hold(value.matrix))
    if dr.depth_v(value) > 1:
        return type(value)(*[_hold(c) for c in value])
    return type(value)(value)


def _moved(key, value, node, delta, probe=False):
    """``value`` of parameter ``key`` of ``node`` after moving the node by the vector ``delta``, or None
    when the parameter does not hold a position (or the node is infinitely far away); with
    ``probe=True`` only whether it does (True or None)."""
    leaf = key.rsplit(".", 1)[-1]
    if isinstance(node, mi.Sensor):
        return None
    if isinstance(node, mi.Emitter) and (node.is_environment() or
                                         node.flags() & int(mi.EmitterFlags.Infinite)):
        return None
    if leaf not in ("vertex_positions", "to_world", "position"):
        return None
    if probe:
        return True if isinstance(node, (mi.Shape, mi.Emitter)) else None
    if isinstance(node, mi.Mesh) and leaf == "vertex_positions":
        c = dr.arange(mi.UInt32, dr.width(value)) % 3
        return value + dr.select(c == 0, delta.x, dr.select(c == 1, delta.y, delta.z))
    if isinstance(node, (mi.Shape, mi.Emitter)) and leaf == "to_world":
        return type(value)(mi.Transform4f().translate(delta).matrix @ value.matrix)
    if isinstance(node, mi.Emitter) and leaf == "position":
        return value + delta
    return None


@contextmanager
def translation_as_scene_motion(scene, sensor, forward: bool = False, nee: bool = True):
    """While active, shapes and finite emitters carry the zero-valued offset ``-(t - detach(t))`` of
    the camera centre t (nothing happens when t carries no gradient). Yields whether anything moved.

    ``forward=True`` (forward mode) pushes t's tangent into the moved values (and what the shapes
    derive from them on update) right away: ``prb`` propagates tangents inside an isolated AD scope
    that cannot reach edges created outside it. ``nee``: the integrator samples emitters at path
    vertices (max_depth != 1); then spot and projector lights are refused (see the module docstring)."""
    if not camera_gradients(sensor)[1]:
        yield False
        return
    M = sensor.world_transform().matrix
    t = mi.Vector3f(M[0][3], M[1][3], M[2][3])
    delta = dr.detach(t) - t  # value 0, derivative -dt
    for em in scene.emitters() if nee else ():
        if not em.flags() & int(mi.EmitterFlags.Infinite) and em.get_shape() is None \
                and em.class_name() != "PointLight":
            raise NotImplementedError(
                f"camera translation derivatives: the scene has the finite emitter {em.id()!r} "
                f"({em.class_name()}), whose motion next-event estimation does not differentiate "
                "(supported: area lights on shapes, point lights, environment, constant and directional "
                "lights, or max_depth=1)")
    mp = mi.traverse(scene)
    saved, moved = {}, {}
    for key in mp.keys():
        _, _, node, flags = mp.properties[key]
        if flags & int(mi.ParamFlags.ReadOnly) or _moved(key, None, node, None, probe=True) is None:
            continue
        value = mp[key]
        new = _moved(key, value, node, delta)
        if new is not None:
            saved[key], moved[key] = _hold(value), new
    for key, value in moved.items():
        _set(mp, key, value)
    if saved:
        mp.update()
        if forward:  # t -> delta -> moved values -> what the shapes derive from them (frames, areas)
            dr.enqueue(dr.ADMode.Forward, t)
            dr.traverse(dr.ADMode.Forward, dr.ADFlag.ClearEdges)
    try:
        yield bool(saved)
    finally:
        if saved:
            for key, value in saved.items():
                _set(mp, key, value)
            mp.update()


def _set(mp, key, value):
    cur, value_type, _, _ = mp.properties[key]
    mp.set_dirty(key)
    if value_type is None:
        mp.set_property(cur, value)
    else:
        mp.set_property(cur, value_type, value)


# --- rotation, field of view, principal point ------------------------------------------------------
def _project(G, x):
    """Homography ``G`` (Matrix3f) applied to film points ``x`` (Point2f); returns (point, (G x̃)_z)."""
    g = G @ mi.Vector3f(x.x, x.y, 1.0)
    return mi.Point2f(g.x / g.z, g.y / g.z), g.z


def filter_normalization(film) -> np.ndarray:
    """(H, W) array of K_j = ∫_D k(x - c_j) dx over the sampled film domain D (the film, expanded by
    the filter's border when ``sample_border`` is set): the denominator of each pixel's estimate."""
    rf = film.rfilter()
    W, H = (int(v) for v in film.crop_size())
    if rf.is_box_filter():
        return np.ones((H, W))
    b = int(rf.border_size()) if film.sample_border() else 0
    r = float(rf.radius())

    def axis(n):
        x = np.linspace(-b, n + b, (n + 2 * b) * 64 + 1)
        c = np.arange(n) + 0.5
        d = x[None, :] - c[:, None]
        k = np.array(rf.eval(mi.Float(np.clip(d, -r, r).ravel().astype(np.float32)))).reshape(d.shape)
        k[np.abs(d) > r] = 0
        return np.trapezoid(k, x, axis=1) if hasattr(np, "trapezoid") else np.trapz(k, x, axis=1)
    return np.outer(axis(H), axis(W))


def _stratified_2d(sampler, s, n):
    """Jittered samples in the unit square: sample ``s`` of ``n`` in its cell of a q x q grid
    (q = floor(sqrt(n)); samples beyond q² are uniform)."""
    q = int(np.floor(np.sqrt(n)))
    q_i, q2 = dr.opaque(mi.UInt32, q), dr.opaque(mi.UInt32, q * q)  # counts: no kernel literals
    u = sampler.next_2d()
    cell = mi.Point2f(mi.Float(s % q_i), mi.Float((s // q_i) % q_i))
    return dr.select(s < q2, (cell + u) * dr.opaque(mi.Float, 1.0 / q), u)


def _pixel_means(L, pixel, active, n_pixels):
    """Per-pixel mean of the samples ``L`` (Color3f) where ``active``; (Color3f array, count)."""
    idx = dr.select(active, pixel, n_pixels)  # inactive samples go to a dump slot
    s = [dr.zeros(mi.Float, n_pixels + 1) for _ in range(3)]
    n = dr.zeros(mi.Float, n_pixels + 1)
    for ch in range(3):
        dr.scatter_reduce(dr.ReduceOp.Add, s[ch], L[ch], idx)
    dr.scatter_reduce(dr.ReduceOp.Add, n, 1.0, idx)
    inv = dr.select(n > 0, dr.rcp(n), 0.0)
    return mi.Color3f(s[0] * inv, s[1] * inv, s[2] * inv)


def camera_warp_image(integrator, scene, sensor, seed: int, spp: int):
    """Zero-valued (H, W, 3) ``mi.TensorXf`` whose derivative is the film-warp term (rotation, fov,
    principal point), or None when none of these carries a gradient or ``spp`` is 0."""
    if spp <= 0 or not camera_gradients(sensor)[0]:
        return None
    film = sensor.film()
    rf = film.rfilter()
    box = rf.is_box_filter()
    W, H = (int(v) for v in film.crop_size())
    A, _, K = camera_matrices(sensor)
    A0, K0 = dr.detach(A), dr.detach(K)
    G = K @ dr.rcp(A) @ A0 @ dr.rcp(K0)      # p_θ: reference film -> film of camera θ
    Hm = K0 @ dr.rcp(A0) @ A @ dr.rcp(K)     # h_θ: film of camera θ -> reference film

    def block():
        return mi.ImageBlock(film.crop_size(), film.crop_offset(), 3, rfilter=rf, border=False,
                             normalize=False, coalesce=False)

    # Interior: stratified samples over the sampled domain D (pixel grid, expanded by the border).
    b = int(rf.border_size()) if (film.sample_border() and not box) else 0
    Wd, Hd = W + 2 * b, H + 2 * b
    N = spp * Wd * Hd
    with dr.suspend_grad():
        sampler = term_sampler(seed, "camera_interior", N)
        i = dr.arange(mi.UInt32, N)
        n = dr.opaque(mi.UInt32, spp)  # the count as a kernel input, not a literal
        pixel, s = i // n, i % n
        y = mi.Point2f(mi.Float(pixel % Wd) - b, mi.Float(pixel // Wd) - b) + _stratified_2d(sampler, s, spp)
        L = camera_radiance(integrator, scene, sensor, y, sampler)
        # Control variate from the other half of the samples (independent of each sample).
        half = (s & 1) == 1
        n_cells = Wd * Hd if box else 1
        cell = pixel if box else dr.zeros(mi.UInt32, N)
        m1, m0 = _pixel_means(L, cell, half, n_cells), _pixel_means(L, cell, ~half, n_cells)
        c_other = dr.select(half, dr.gather(mi.Color3f, m0, cell), dr.gather(mi.Color3f, m1, cell))
        c_all = (m0 + m1) * 0.5 if spp >= 2 else dr.zeros(mi.Color3f, n_cells + 1)
        c = c_other if spp >= 2 else dr.zeros(mi.Color3f, N)
        Lc = (L - c) * dr.opaque(mi.Float, 1.0 / spp)
    p, gz = _project(G, y)
    det = dr.det(G) / (gz * gz * gz)
    if box:  # the weight does not depend on the position: splat at the pixel centre
        p = dr.detach(mi.Point2f(mi.Float(pixel % Wd), mi.Float(pixel // Wd)) + 0.5)
    att, ref = block(), block()
    v, v0 = Lc * det, Lc * dr.detach(det)
    att.put(p, [v[0], v[1], v[2]])
    ref.put(dr.detach(p), [v0[0], v0[1], v0[2]])
    image = att.tensor() - ref.tensor()

    # Boundary: pixel edges (box filter) or the film border (smooth filters, no sample_border).
    if box or not film.sample_border():
        image = image + _edge_term(integrator, scene, sensor, seed, spp, Hm, c_all, box, block, W, H)
    Kj = filter_normalization(film)
    if not np.allclose(Kj, 1.0):
        inv = np.repeat(1.0 / Kj[..., None], 3, axis=2).astype(np.float32)
        image = image * upload_tensor(inv)
    return image


def _edge_term(integrator, scene, sensor, seed, spp, Hm, c_pix, box, block, W, H):
    """∮ k(z - c_j) (L0(z) - c) (u · n) dℓ over pixel edges (box) or the film border (smooth)."""
    if box:
        return _pixel_edge_term(integrator, scene, sensor, seed, spp, Hm, c_pix, block, W, H)
    # Film border, unit segments: vertical ones at x = 0, W (rows r), horizontal ones at y = 0, H.
    vi, vr = np.meshgrid([0, W], np.arange(H), indexing="ij")
    hk, hc = np.meshgrid([0, H], np.arange(W), indexing="ij")
    seg = np.concatenate([np.column_stack([vi.ravel(), vr.ravel(), np.ones(vi.size)]),
                          np.column_stack([hk.ravel(), hc.ravel(), np.zeros(hk.size)])])
    N = len(seg) * spp
    with dr.suspend_grad():
        sampler = term_sampler(seed, "camera_border", N)
        n = dr.opaque(mi.UInt32, spp)
        e = dr.arange(mi.UInt32, N) // n
        k = dr.arange(mi.UInt32, N) % n  # stratified along the segment
        fixed = dr.gather(mi.Float, upload(mi.Float, seg[:, 0]), e)
        along = dr.gather(mi.Float, upload(mi.Float, seg[:, 1]), e) + \
            (mi.Float(k) + sampler.next_1d()) * dr.opaque(mi.Float, 1.0 / spp)
        vertical = dr.gather(mi.Bool, upload(mi.Bool, seg[:, 2] > 0), e)
        z = mi.Point2f(dr.select(vertical, fixed, along), dr.select(vertical, along, fixed))
        L = camera_radiance(integrator, scene, sensor, z, sampler)
        c0 = dr.gather(mi.Color3f, c_pix, mi.UInt32(0))  # the image mean (smooth filters)
    h, _ = _project(Hm, z)
    u = h - dr.detach(h)  # value 0, derivative: film velocity of the edge point
    # Outward normal: -x / -y at x = 0 / y = 0, +x / +y at x = W / y = H.
    u_n = dr.select(vertical, u.x, u.y) * dr.select(fixed > 0, 1.0, -1.0) * (1.0 / spp)
    v = (L - c0) * u_n
    out = block()
    out.put(dr.detach(z), [v[0], v[1], v[2]])
    return out.tensor()


def _pixel_edge_term(integrator, scene, sensor, seed, spp, Hm, c_pix, block, W, H):
    """Box filter: ∮_{∂P_j} (L0 - c_j) (u · n) dℓ for every pixel j. Opposite edges are sampled in
    pairs at the same height (width) with the same random numbers, so that the path-sampling noise of
    the two radiance values largely cancels (like correlated finite differences)."""
    N = spp * W * H
    with dr.suspend_grad():
        sampler = term_sampler(seed, "camera_border", N)
        i = dr.arange(mi.UInt32, N)
        n = dr.opaque(mi.UInt32, spp)
        j, k = i // n, i % n
        x0, y0 = mi.Float(j % W), mi.Float(j // W)
        cj = dr.gather(mi.Color3f, c_pix, j)
    out = mi.Color3f(0.0)
    for vertical in (True, False):
        with dr.suspend_grad():
            t = (mi.Float(k) + sampler.next_1d()) * dr.opaque(mi.Float, 1.0 / spp)  # stratified along the edge
            L = []
            for side in (0.0, 1.0):
                z = mi.Point2f(x0 + side, y0 + t) if vertical else mi.Point2f(x0 + t, y0 + side)
                smp = sampler.clone() if side == 0.0 else sampler
                L.append((z, camera_radiance(integrator, scene, sensor, z, smp)))
        for sgn, (z, Lz) in zip((-1.0, 1.0), L):
            h, _ = _project(Hm, z)
            u = h - dr.detach(h)  # value 0, derivative: film velocity of the edge point
            out += (Lz - cj) * ((u.x if vertical else u.y) * (sgn / spp))
    img = block()
    img.put(mi.Point2f(x0 + 0.5, y0 + 0.5), [out[0], out[1], out[2]])
    return img.tensor()


class CameraMotionIntegrator(BoundaryTermIntegrator):
    """A :class:`~.base.BoundaryTermIntegrator` with camera derivatives (translation through the scene,
    warp term through :meth:`extra_terms`); subclasses add their boundary terms."""

    def __init__(self, props):
        super().__init__(props)
        self.camera_spp = int(props.get("camera_spp", 4))
        if self.camera_spp < 0:
            raise ValueError(f"camera_spp must be >= 0, got {self.camera_spp}")

    def extra_terms(self, scene, sensor, seed: int):
        terms = super().extra_terms(scene, sensor, seed)
        warp = camera_warp_image(self, scene, sensor, seed, self.camera_spp)
        if warp is not None:
            terms.append(warp)
        return terms

    @contextmanager
    def _camera_scope(self, scene, sensor, forward):
        nee = self.max_depth < 0 or self.max_depth > 1
        with translation_as_scene_motion(scene, sensor, forward, nee) as moved:
            self._interior_detached = camera_gradients(sensor)[0] and not moved and \
                not scene_attached(scene)
            try:
                yield
            finally:
                self._interior_detached = False

    def render_forward(self, scene, params, sensor=0, seed=0, spp=0):
        with self._camera_scope(scene, self._sensor(scene, sensor), True):
            return super().render_forward(scene, params, sensor, seed, spp)

    def render_backward(self, scene, params, grad_in, sensor=0, seed=0, spp=0):
        with self._camera_scope(scene, self._sensor(scene, sensor), False):
            return super().render_backward(scene, params, grad_in, sensor, seed, spp)
