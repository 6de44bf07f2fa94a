"""Lighting recovered by a photo reconstruction with ``lighting="area"``: a few small emitting squares
around the object, facing its centre, beside the uniform sky (both fitted by the shading loss).

Placement (fixed, not optimized): directions on a Fibonacci sphere around the object's bounding-sphere
centre, at ``DISTANCE`` bounding radii; a square of side ``SIZE`` radii is kept only if no view's camera
sees any of a 5 x 5 grid of points on it (a light in a view would occlude the object there); from
those, ``count`` directions as far apart as possible (farthest-point order, starting nearest the
cameras' mean up direction). Start values (:func:`fit_radiance`): the rendered image is linear in the
emitters' radiance, so the start mesh is rendered once per emitter (sky and each light at unit
radiance, the others off) and the radiances that best fit the training targets under this basis are
found by non-negative least squares per colour channel; the shading loss then refines them with the
geometry and albedo, at ``RADIANCE_LR`` times the albedo's learning rate (from that start, at a
few samples per pixel the small lights' gradients are noisy and Adam's normalized steps at the full
rate walked the radiances away from it). Only the lights' RGB radiance is optimized: moving an area light changes
the visibility of its edges (shadows, the square's outline), whose position gradients would need the
boundary terms of the light's own edges, noisy with so few samples.

Each square is two-sided-black (its BSDF reflects nothing) and emits from its front face only.
Written as ``lights.json`` (centre, normal, side, ``to_world`` and radiance of each light; the sky).
"""
from __future__ import annotations

import json

import numpy as np

DISTANCE, SIZE, CANDIDATES = 2.5, 0.5, 256
RADIANCE_LR = 0.1


def fibonacci_directions(n: int) -> np.ndarray:
    """``n`` unit vectors spread evenly over the sphere (Fibonacci lattice), (n, 3)."""
    k = np.arange(n) + 0.5
    z = 1 - 2 * k / n
    phi = np.pi * (1 + 5 ** 0.5) * k
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def square_frame(centre, normal, side: float) -> np.ndarray:
    """``to_world`` (4, 4) of Mitsuba's ``rectangle`` ([-1, 1]^2 in z = 0, emitting along +z) scaled to
    a square of ``side`` at ``centre`` with its front face along ``normal``."""
    n = np.asarray(normal, np.float64) / np.linalg.norm(normal)
    a = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(n, a)
    M = np.eye(4)
    M[:3, 0], M[:3, 1], M[:3, 2], M[:3, 3] = 0.5 * side * a, 0.5 * side * b, n, centre
    return M


def seen_by(view, points: np.ndarray, margin: float = 2.0) -> bool:
    """Whether any of ``points`` (P, 3) projects into the image of the calibrated ``view`` (within
    ``margin`` pixels of its border), in front of the camera."""
    cam = points @ np.asarray(view.R).T + np.asarray(view.t)
    front = cam[:, 2] > 1e-9
    uvw = cam[front] @ np.asarray(view.K).T
    uv = uvw[:, :2] / uvw[:, 2:3]
    inside = ((uv[:, 0] > -margin) & (uv[:, 0] < view.width + margin) &
              (uv[:, 1] > -margin) & (uv[:, 1] < view.height + margin))
    return bool(inside.any())


def place_lights(views, centre, radius: float, count: int) -> np.ndarray:
    """``to_world`` matrices (count, 4, 4) of ``count`` squares around the sphere (``centre``, ``radius``)
    outside every view (module docstring). Raises ValueError naming ``count`` when fewer places exist."""
    if int(count) != count or not 1 <= count <= 8:
        raise ValueError(f"area lights: count must be an integer in [1, 8], got {count!r}")
    centre = np.asarray(centre, np.float64)
    grid = np.linspace(-1, 1, 5)
    local = np.array([[u, v, 0.0, 1.0] for u in grid for v in grid])
    frames, dirs = [], []
    for d in fibonacci_directions(CANDIDATES):
        M = square_frame(centre + DISTANCE * radius * d, -d, SIZE * radius)
        pts = (local @ M.T)[:, :3]
        if not any(seen_by(pv.view, pts) for pv in views):
            frames.append(M)
            dirs.append(d)
    if len(frames) < count:
        raise ValueError(f"area lights: only {len(frames)} places around the object are outside every view, "
                         f"count={count} asked; use fewer lights")
    dirs = np.array(dirs)
    up = np.mean([-np.asarray(pv.view.R)[1] for pv in views], axis=0)
    chosen = [int(np.argmax(dirs @ (up / np.linalg.norm(up))))]
    while len(chosen) < count:
        dist = np.min(np.linalg.norm(dirs[:, None] - dirs[chosen][None], axis=2), axis=1)
        chosen.append(int(np.argmax(dist)))
    return np.array([frames[i] for i in chosen])


def fit_radiance(views, goal, train, model, spp: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(sky radiance (3,), light radiances (N, 3)) of the non-negative least-squares fit of the
    training targets ``goal[i]``, ``i`` in ``train``, by images of ``model`` (its mesh, albedo and
    ``light_frames``) rendered by Mitsuba's ``prb`` with one emitter at unit radiance at a time."""
    import mitsuba as mi
    from scipy.optimize import nnls

    from .scene import build_scene
    n = len(model.light_frames)
    unit = model.with_(sky=np.ones(3), light_radiance=np.ones((n, 3)))
    scene = build_scene([views[i] for i in train], unit, spp, integrator="prb")
    mp = mi.traverse(scene)
    keys = ["sky.radiance.value"] + [radiance_key(k) for k in range(n)]
    basis = []
    for key in keys:
        for other in keys:
            mp[other] = mi.Color3f(1.0 if other == key else 0.0)
        mp.update()
        basis.append(np.concatenate([np.array(mi.render(scene, sensor=j, spp=spp, seed=seed + j))[..., :3]
                                     .reshape(-1, 3) for j in range(len(train))]))
    target = np.concatenate([np.asarray(goal[i], np.float64).reshape(-1, 3) for i in train])
    coef = np.array([nnls(np.stack([b[:, c] for b in basis], axis=1).astype(np.float64), target[:, c])[0]
                     for c in range(3)]).T                                    # (1 + n, 3)
    floor = 1e-3 * max(float(coef.max()), 1e-3)   # strictly positive: the fit optimizes log radiance
    coef = np.maximum(coef, floor)
    return coef[0], coef[1:]


def light_shapes(frames, radiance) -> dict:
    """Mitsuba scene entries ``light0``, ``light1``, ... : black ``rectangle`` shapes with ``area``
    emitters of the given RGB ``radiance`` (count, 3)."""
    import mitsuba as mi
    out = {}
    for k, (M, L) in enumerate(zip(np.asarray(frames), np.asarray(radiance))):
        out[f"light{k}"] = {"type": "rectangle", "to_world": mi.ScalarTransform4f(M.tolist()),
                            "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": 0.0}},
                            "emitter": {"type": "area", "radiance": {"type": "rgb",
                                                                     "value": [float(x) for x in L]}}}
    return out


def radiance_key(k: int) -> str:
    """The parameter name of light ``k``'s radiance in the reconstruction's scene."""
    return f"light{k}.emitter.radiance.value"


def write_lights(path: str, frames, radiance, sky) -> str:
    """Write ``lights.json``: per light its centre, normal, side, ``to_world`` and linear RGB radiance,
    and the uniform sky's radiance. Returns the path."""
    lights = []
    for M, L in zip(np.asarray(frames, np.float64), np.asarray(radiance, np.float64)):
        lights.append({"type": "rectangle", "centre": M[:3, 3].tolist(), "normal": M[:3, 2].tolist(),
                       "side": float(2 * np.linalg.norm(M[:3, 0])), "to_world": M.tolist(),
                       "radiance": L.tolist()})
    with open(path, "w") as f:
        json.dump({"lights": lights, "sky": np.asarray(sky, np.float64).ravel().tolist()}, f, indent=2)
    return path
