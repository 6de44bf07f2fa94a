"""The late tail's stochastic ray tracing (:func:`.tail.trace`) in compiled float64 code (numba) for small
rooms: every ray is followed through its bounces on the CPU, each segment intersected with every triangle
of the room (:func:`.visibility_kernel.nearest_hit`, Moller & Trumbore), instead of a few Dr.Jit/Mitsuba
launches and host round trips per bounce.

The physics is that of :func:`.tail.trace`: rays leave the source on the Fibonacci sphere; at a wall hit
the ray is reflected specularly with probability 1 - s (s: the wall's band-averaged scattering), else
into a cosine lobe about the wall normal; reflections are counted per wall (and the scattered ones
apart); a ray crossing a receiver sphere after a scattered or the (order + 1)-th specular reflection
records the crossing (time, path length, chord weight 4 pi chord / (V_sphere n_rays), its counts); a ray
that hits no triangle left through a hole (counted as escaped). The random numbers come from numba's own
generator seeded with ``seed`` (not the PCG32 sequence of the Dr.Jit tracer): the two tracers agree
statistically (energy decay, tested), not ray by ray. numba is optional (the ``fast`` extra).
"""
from __future__ import annotations

import math

import numpy as np

from penumbra.renderer.compiled import AVAILABLE, numba
from .visibility_kernel import nearest_hit

# Rooms with at most this many triangles are traced here: every segment is tested against every triangle,
# so the cost grows with the triangle count (measured: 20 triangles, 20000 rays x ~100 bounces ~0.3 s).
MAX_TRIANGLES = 128


def _grow(a, n):
    out = np.zeros((n,) + a.shape[1:], a.dtype)
    flat, src = out.reshape(-1), a.reshape(-1)
    for i in range(src.shape[0]):   # (an element loop: a slice copy compiles numba's shape-error path)
        flat[i] = src[i]
    return out


def _trace(src, dirs, rcvs, r2, Lmax, order, v0, e1, e2, tri_n, wall, s_wall, W, seed, max_bounces, eps):
    np.random.seed(seed)
    R = rcvs.shape[0]
    cap = 1024
    rec = np.zeros(cap, np.int64)
    arr = np.zeros((cap, 2))                   # path length at the crossing's middle, chord
    hits = np.zeros((cap, W), np.int64)
    scats = np.zeros((cap, W), np.int64)
    k = 0
    escaped = 0
    counts = np.zeros(W, np.int64)
    scounts = np.zeros(W, np.int64)
    for ray in range(dirs.shape[0]):
        ox, oy, oz = src[0], src[1], src[2]
        dx, dy, dz = dirs[ray, 0], dirs[ray, 1], dirs[ray, 2]
        L = 0.0
        nspec = 0
        scattered = False
        counts[:] = 0
        scounts[:] = 0
        for bounce in range(max_bounces):
            t, i, _ = nearest_hit(ox, oy, oz, dx, dy, dz, v0, e1, e2, wall, -1, eps, np.inf)
            if i < 0:
                escaped += 1
                break
            if scattered or nspec > order:
                for r in range(R):
                    cx, cy, cz = ox - rcvs[r, 0], oy - rcvs[r, 1], oz - rcvs[r, 2]
                    b = dx * cx + dy * cy + dz * cz
                    disc = b * b - (cx * cx + cy * cy + cz * cz - r2)
                    if disc <= 0.0:
                        continue
                    sq = math.sqrt(disc)
                    t0 = min(max(-b - sq, 0.0), t)
                    t1 = min(max(-b + sq, 0.0), t)
                    if t1 - t0 > 0.0 and L + t0 < Lmax:
                        if k == cap:
                            cap *= 2
                            rec, arr = _grow(rec, cap), _grow(arr, cap)
                            hits, scats = _grow(hits, cap), _grow(scats, cap)
                        rec[k] = r
                        arr[k, 0] = L + 0.5 * (t0 + t1)
                        arr[k, 1] = t1 - t0
                        for j in range(W):
                            hits[k, j], scats[k, j] = counts[j], scounts[j]
                        k += 1
            L += t
            if not L < Lmax:
                break
            w = wall[i]
            counts[w] += 1
            nx, ny, nz = tri_n[i, 0], tri_n[i, 1], tri_n[i, 2]
            if dx * nx + dy * ny + dz * nz > 0.0:
                nx, ny, nz = -nx, -ny, -nz          # the normal on the ray's side
            px, py, pz = ox + t * dx, oy + t * dy, oz + t * dz
            u1, u2, u3 = np.random.random(), np.random.random(), np.random.random()
            if u3 < s_wall[w]:                       # cosine lobe about the normal
                ax, ay, az = (0.0, 1.0, 0.0) if abs(nx) > 0.9 else (1.0, 0.0, 0.0)
                tx, ty, tz = ay * nz - az * ny, az * nx - ax * nz, ax * ny - ay * nx
                tn = math.sqrt(tx * tx + ty * ty + tz * tz)
                tx, ty, tz = tx / tn, ty / tn, tz / tn
                bx, by, bz = ny * tz - nz * ty, nz * tx - nx * tz, nx * ty - ny * tx
                rr, phi = math.sqrt(u1), 2.0 * math.pi * u2
                a, c, h = rr * math.cos(phi), rr * math.sin(phi), math.sqrt(max(0.0, 1.0 - u1))
                dx, dy, dz = a * tx + c * bx + h * nx, a * ty + c * by + h * ny, a * tz + c * bz + h * nz
                scattered = True
                scounts[w] += 1
            else:
                dn = dx * nx + dy * ny + dz * nz
                dx, dy, dz = dx - 2.0 * dn * nx, dy - 2.0 * dn * ny, dz - 2.0 * dn * nz
                nspec += 1
            dl = math.sqrt(dx * dx + dy * dy + dz * dz)
            dx, dy, dz = dx / dl, dy / dl, dz / dl
            ox, oy, oz = px + eps * nx, py + eps * ny, pz + eps * nz
    return rec[:k], arr[:k], hits[:k], scats[:k], escaped


if AVAILABLE:
    _grow = numba.njit(cache=True, nogil=True)(_grow)
    _trace = numba.njit(cache=True, nogil=True)(_trace)


def trace(mesh, source, receivers, dirs, order: int, radius: float, Lmax: float, s_wall, n_walls: int, seed: int,
          max_bounces: int):
    """Crossings of the receiver spheres: (receiver index (n,), path length at the crossing (n,), chord
    (n,), reflections per wall (n, W), scattered ones (n, W), escaped ray count) for rays from ``source``
    in directions ``dirs`` (n_rays, 3) on ``mesh`` (a :class:`.visibility_kernel.TriangleMesh`)."""
    if not AVAILABLE:
        raise RuntimeError("the compiled ray tracer needs numba (pip install 'penumbra[fast]')")
    n = np.cross(mesh.e1, mesh.e2)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)
    rec, arr, hits, scats, escaped = _trace(
        np.asarray(source, np.float64).reshape(3), np.ascontiguousarray(dirs, np.float64),
        np.ascontiguousarray(np.asarray(receivers, np.float64).reshape(-1, 3)), float(radius) ** 2, float(Lmax),
        int(order), mesh.v0, mesh.e1, mesh.e2, np.ascontiguousarray(n), mesh.wall,
        np.ascontiguousarray(s_wall, np.float64), int(n_walls), int(seed), int(max_bounces), 1e-7 * mesh.extent)
    return rec, arr[:, 0], arr[:, 1], hits, scats, int(escaped)
