"""Central finite differences with a stated step, cached on disk (:mod:`.cache`).

- :func:`central_differences`: ``(f(x0 + h d) - f(x0 - h d)) / 2h`` along each direction ``d`` of a
  Python function ``f`` (the vector rasterizer at high spp, the acoustic NumPy model);
- :func:`fd_image`: the same for a perturbation of a Mitsuba scene, rendered by an independent
  reference integrator (by default Mitsuba's ``path``) with correlated samples on both sides.

Both take ``h`` without a default: every check states its step.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable

import numpy as np

from penumbra.renderer.arrays import is_transform

from .cache import code_version, default_cache

# The code a path-tracer reference image depends on besides Mitsuba itself (render call, parameter
# map, scene loading) and this module (the difference formula).
PATH_REFERENCE_CODE = ("penumbra.rendering", "penumbra.renderer", "penumbra.scenes", __name__)


def central_differences(f: Callable[[np.ndarray], float], x0, h: float, directions=None, *,
                        config: dict | None = None, depends: Iterable[str] = ()) -> np.ndarray:
    """Directional derivatives of ``f`` at ``x0`` by central differences with step ``h``.

    ``directions``: rows (each shaped like ``x0`` flattened); default the unit axes. With
    ``config`` (a dict naming what ``f`` computes: scene, loss, sample count, seed, ...) the result is
    cached on disk, keyed by ``config``, ``x0``, ``h``, the directions and the source of the
    modules named in ``depends``; without it, it is always computed.
    """
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"finite-difference step h must be > 0, got {h!r}")
    x0 = np.asarray(x0, dtype=np.float64)
    dirs = np.eye(x0.size) if directions is None else np.atleast_2d(np.asarray(directions, dtype=np.float64))
    if dirs.shape[1] != x0.size:
        raise ValueError(f"directions have {dirs.shape[1]} entries, x0 has {x0.size}")

    def compute():
        flat = x0.ravel()
        return np.array([(np.asarray(f((flat + h * d).reshape(x0.shape)), dtype=np.float64)
                          - np.asarray(f((flat - h * d).reshape(x0.shape)), dtype=np.float64)) / (2 * h)
                         for d in dirs])
    if config is None:
        return compute()
    key = {"kind": "central_differences", "config": config, "x0": x0, "h": h, "directions": dirs,
           "code": code_version(__name__, *depends)}
    return default_cache().get_or_compute(key, compute)


def _snapshot(scene) -> dict:
    """Every traversable parameter of ``scene`` (values as arrays) and the plugin classes it is made of.

    Unnamed plugins get ids with their memory address (``object_140128677367008``): these are
    renumbered in traversal order, so the snapshot is the same in every process."""
    import mitsuba as mi
    renumbered = {}

    def stable(name):
        return re.sub(r"object_\d+", lambda m: renumbered.setdefault(m.group(0), f"object#{len(renumbered)}"), name)
    out = {}
    params = mi.traverse(scene)
    for k in params.keys():
        v = params[k]
        try:
            out[stable(k)] = np.asarray(v.matrix if is_transform(v) else v)
        except Exception:
            out[stable(k)] = re.sub(r"0x[0-9a-fA-F]+", "", repr(v))
    film = scene.sensors()[0].film()
    out["__structure__"] = [
        [stable(s.id()), s.class_name(), s.bsdf().class_name() if s.bsdf() is not None else None]
        for s in scene.shapes()
    ] + [[stable(e.id()), e.class_name()] for e in scene.emitters()] + [
        [scene.sensors()[0].class_name(), film.class_name(), repr(film.rfilter())]]
    return out


def scene_fingerprint(scene, perturb: Callable, h: float) -> dict:
    """The scene's parameters at theta = +h, -h and 0, and its structure: a cache key that changes
    with the scene and with what the perturbation writes."""
    perturb(+h)
    plus = _snapshot(scene)
    perturb(-h)
    minus = _snapshot(scene)
    perturb(0.0)
    return {"plus": plus, "minus": minus, "zero": _snapshot(scene)}


def fd_image(scene, params, perturb: Callable, h: float, reference="path", spp: int = 1024, seed: int = 7,
             passes: int = 1, cache: bool = True) -> np.ndarray:
    """Central finite differences ``(I(+h) - I(-h)) / 2h`` of the reference renderer.

    Both sides use the same seeds (correlated samples), and ``passes`` renders with seeds
    ``seed + 17 p`` are averaged, so that the difference has low variance. Cached on disk by
    :func:`scene_fingerprint`, the reference integrator, ``h``, ``spp``, ``seed`` and ``passes``.
    """
    from penumbra.rendering import render
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"finite-difference step h must be > 0, got {h!r}")

    def compute():
        acc = 0.0
        for p in range(passes):
            perturb(+h)
            plus = np.array(render(scene, params, spp=spp, seed=seed + 17 * p, integrator=reference))
            perturb(-h)
            minus = np.array(render(scene, params, spp=spp, seed=seed + 17 * p, integrator=reference))
            acc = acc + (plus - minus) / (2 * h)
        perturb(0.0)
        return acc / passes
    if not cache:
        return compute()
    integrator = reference if isinstance(reference, (str, dict)) else repr(reference)
    key = {"kind": "fd_image", "scene": scene_fingerprint(scene, perturb, h), "reference": integrator, "h": h,
           "spp": spp, "seed": seed, "passes": passes, "code": code_version(*PATH_REFERENCE_CODE)}
    return default_cache().get_or_compute(key, compute)
