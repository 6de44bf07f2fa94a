"""Appearance refinement of a photo reconstruction on its final, fixed mesh: the per-vertex albedo and
(with ``lighting="sky"``) the uniform sky radiance fitted to the training photos with Mitsuba's ``prb``
(no boundary terms: the mesh does not move), one view per step, Adam (Kingma & Ba 2015) on latent
values (albedo = sigmoid(latent), sky = exp(latent)).

The whole step (set the parameters, render, L1 loss, backward, Adam update) is one function that can
run under ``dr.freeze``: its inputs are Dr.Jit arrays only (the step-dependent Adam rate and the seed
are opaque arrays, not Python numbers, which a frozen function would take as part of its key) and the
view index, so each training view is recorded once and replayed afterwards
(:func:`frozen_appearance_step`). The geometry steps of
:mod:`.fit` cannot be frozen in Dr.Jit 1.5.0 / Mitsuba 3.9.1 (``benchmarks/reconstruct_freeze.py``):
setting a mesh's vertex positions makes the mesh read its evaluated vertices back (bounding box and
acceleration structure rebuild), which a recording refuses ("reading from evaluated variables while
recording a frozen function is not supported"), and ``edge_sampling`` selects silhouette edges on the
host between kernels.
"""
from __future__ import annotations

import numpy as np

from .scene import Model, build_scene

BETA_1, BETA_2, EPS = 0.9, 0.999, 1e-8


def appearance_step(scene, mp, latent: dict, m: dict, v: dict, rate, seed, target, sensor: int, spp: int):
    """One Adam step of the appearance parameters. ``latent``: ``{"obj.vertex_color": Float}`` and
    optionally ``{"sky.radiance.value": Color3f}`` (latent values); ``m``, ``v``: Adam's moments (same
    keys); ``rate``: the bias-corrected learning rate (opaque ``mi.Float``); ``seed``: ``mi.UInt32``;
    ``target``: the view's image (TensorXf). Returns (new latent, new m, new v, loss)."""
    import drjit as dr
    import mitsuba as mi
    x = {k: dr.detach(val) for k, val in latent.items()}
    for val in x.values():
        dr.enable_grad(val)
    mp["obj.vertex_color"] = dr.rcp(1.0 + dr.exp(-x["obj.vertex_color"]))
    if "sky.radiance.value" in x:
        mp["sky.radiance.value"] = dr.exp(x["sky.radiance.value"])
    mp.update()
    image = mi.render(scene, mp, sensor=sensor, spp=spp, seed=seed)
    loss = dr.mean(dr.abs(image - target), axis=None)
    dr.backward(loss)
    new_x, new_m, new_v = {}, {}, {}
    for k, val in x.items():
        g = dr.grad(val)
        new_m[k] = BETA_1 * m[k] + (1 - BETA_1) * g
        new_v[k] = BETA_2 * v[k] + (1 - BETA_2) * dr.square(g)
        new_x[k] = dr.detach(val) - rate * new_m[k] / (dr.sqrt(new_v[k]) + EPS)
    return new_x, new_m, new_v, dr.detach(loss)


def frozen_appearance_step(scene, sensors):
    """:func:`appearance_step` under ``dr.freeze``, set up so that each of the ``sensors`` (indices
    into ``scene.sensors()``) is recorded once and replayed afterwards (``n_recordings`` is
    ``len(sensors) + 1`` in Dr.Jit 1.5.0: the first call records twice). Two things would otherwise
    record every view again on its second call: a film allocates its image block on its first render,
    which Mitsuba reports to the recording as a state change (the recording is discarded), so the films
    are prepared here; and ``auto_opaque`` compares each call's literal inputs with the previous
    call's, which differ between views, so every input is made opaque instead."""
    import drjit as dr
    for index in sensors:
        scene.sensors()[int(index)].film().prepare([])
    return dr.freeze(appearance_step, warn_after=len(sensors) + 2, auto_opaque=False)


def fit_appearance(views, goal, train, model: Model, *, steps: int, spp: int, lr: float, lighting: str,
                   frozen: bool = True, seed: int = 0, progress: bool = False,
                   stats: dict | None = None) -> tuple[Model, list]:
    """``steps`` steps of :func:`appearance_step` (under ``dr.freeze`` when ``frozen``) cycling through
    the ``train`` views, cosine learning-rate schedule down to 0.1 ``lr``. Optimizes the per-vertex
    albedo and, with ``lighting="sky"``, the sky radiance (``"fixed"``: the sky stays). Returns (the
    model with the new albedo / sky, the loss per step). ``stats`` (a dict), when given, receives
    ``recordings``: how many times the frozen step was recorded (0 when not frozen)."""
    import drjit as dr
    import mitsuba as mi

    from penumbra import optim
    if lighting not in ("fixed", "sky"):
        raise ValueError(f"fit_appearance: lighting must be 'fixed' or 'sky', got {lighting!r}")
    if model.texture is not None:
        raise ValueError("fit_appearance: the appearance refinement fits per-vertex albedo, not a texture")
    scene = build_scene(views, model, spp, integrator="prb")
    mp = mi.traverse(scene)
    A = np.clip(np.asarray(model.albedo, np.float64), 0.02, 0.98).ravel()
    latent = {"obj.vertex_color": mi.Float(np.log(A / (1 - A)).astype(np.float32))}
    if lighting == "sky":
        latent["sky.radiance.value"] = mi.Color3f(*[float(np.log(max(s, 1e-6))) for s in model.sky])
    m = {k: dr.zeros(type(val), dr.width(val)) for k, val in latent.items()}
    v = {k: dr.zeros(type(val), dr.width(val)) for k, val in latent.items()}
    targets = [mi.TensorXf(t) for t in goal]
    # evaluated arrays from the start: literals (zeros) and NumPy-backed memory in the first call and
    # evaluated arrays afterwards would be different inputs to a frozen function (recorded again)
    latent, m, v = ({k: val + 0 for k, val in d.items()} for d in (latent, m, v))
    dr.make_opaque(latent, m, v, targets)
    step = frozen_appearance_step(scene, train) if frozen else appearance_step
    schedule = optim.schedules.cosine(steps, final=0.1)
    history = []
    bar = range(steps)
    if progress:
        from tqdm import tqdm
        bar = tqdm(bar, desc="appearance", leave=False)
    try:
        for s in bar:
            view = int(train[s % len(train)])
            t = s + 1
            rate = lr * schedule(s) * np.sqrt(1 - BETA_2 ** t) / (1 - BETA_1 ** t)
            latent, m, v, loss = step(scene, mp, latent, m, v, dr.opaque(mi.Float, float(rate)),
                                      dr.opaque(mi.UInt32, seed * 100003 + s), targets[view], view, spp)
            dr.eval(latent, m, v, loss)
            history.append(float(loss.numpy().ravel()[0]))
        if stats is not None:
            stats["recordings"] = int(getattr(step, "n_recordings", 0))
    finally:  # leave no attached arrays in the scene (see ParameterSet.detach)
        for k in latent:
            mp[k] = dr.detach(mp[k])
        mp.update()
    out = model.with_(albedo=(1.0 / (1.0 + np.exp(-latent["obj.vertex_color"].numpy().astype(np.float64))))
                      .reshape(-1, 3))
    if lighting == "sky":
        out.sky = np.exp(np.asarray(latent["sky.radiance.value"].numpy(), np.float64).ravel())
    return out, history
