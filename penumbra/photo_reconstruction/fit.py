"""One fitting stage of a photo reconstruction: Large Steps on the vertex positions, the albedo and the
lighting on a fixed mesh connectivity."""
from __future__ import annotations

import numpy as np

from .scene import build_scene


def fit_stage(views, goal, train, V, F, albedo, sky, *, steps, views_per_step, spp, lambda_, lr, lr_albedo,
              albedo_mode, lighting, out_dir, checkpoint_every, resume, progress, description, seed):
    """One stage: optimize positions (Large Steps), albedo and (optionally) the sky on a fixed mesh
    connectivity. Returns (V, albedo, sky, loss history)."""
    import drjit as dr
    import mitsuba as mi

    from penumbra import optim
    from penumbra.optim.large_steps import LargeSteps, UniformAdam
    from penumbra.scenes import ParameterMap
    scene = build_scene(views, V, F, albedo, sky, spp)
    params = ParameterMap(scene)
    pos = "obj.vertex_positions"
    x0 = params.validate(pos, mi.Float(np.asarray(V, np.float32).ravel()))
    variables = {pos: optim.Variable(x0, LargeSteps(np.asarray(V), F, lambda_), lr=lr)}
    if albedo_mode == "vertex":
        a0 = np.clip(np.asarray(albedo, np.float64), 0.02, 0.98).ravel()
        variables["obj.vertex_color"] = optim.Variable(mi.Float(a0.astype(np.float32)), optim.Unit, lr=lr_albedo)
    else:
        a0 = np.clip(np.asarray(albedo, np.float64)[0], 0.02, 0.98)
        variables["albedo"] = optim.Variable(mi.Float(a0.astype(np.float32)), optim.Unit, lr=lr_albedo)
    if lighting == "sky":
        variables["sky.radiance.value"] = optim.Variable(params.validate("sky.radiance.value",
                                                                         mi.Color3f(*[float(s) for s in sky])),
                                                         optim.Positive(), lr=lr_albedo)
    tg = [mi.TensorXf(t) for t in goal]
    k = min(views_per_step, len(train))
    order = np.random.default_rng(seed).permutation(train)
    n_vert = len(V)

    def objective(values):
        values = dict(values)
        if "albedo" in values:
            a = values.pop("albedo")
            values["obj.vertex_color"] = dr.tile(a, n_vert)
        params.update(values)
        s = step_state[0]
        step_state[0] += 1
        total = 0.0
        for j in range(k):
            v = int(order[(s * k + j) % len(order)])
            image = mi.render(params.scene, params.mitsuba, sensor=v, spp=spp, seed=seed * 100003 + s * 97 + v)
            total = total + optim.losses.l1(image, tg[v])
        return total / k

    step_state = [0]
    try:
        result = optim.optimize(objective, variables, steps, optimizer=UniformAdam(uniform={pos}), out_dir=out_dir,
                                schedule=optim.schedules.cosine(steps, final=0.1), progress=progress,
                                checkpoint_every=checkpoint_every, resume=resume, description=description,
                                plot=False)
    finally:
        params.detach()  # also when the run fails: see ParameterSet.detach
    vals = result.numpy()
    V1 = vals[pos].reshape(-1, 3).astype(np.float64)
    A1 = (vals["obj.vertex_color"].reshape(-1, 3) if albedo_mode == "vertex"
          else np.tile(vals["albedo"].reshape(1, 3), (n_vert, 1))).astype(np.float64)
    sky1 = np.asarray(vals["sky.radiance.value"], np.float64).ravel() if lighting == "sky" else np.asarray(sky)
    return V1, A1, sky1, result.history
