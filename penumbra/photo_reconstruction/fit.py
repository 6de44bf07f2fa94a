"""One fitting stage of a photo reconstruction: Large Steps on the vertex positions, the albedo (per
vertex, one value or a texture) and the lighting (a uniform sky, an environment map or area lights) on a fixed mesh
connectivity."""
from __future__ import annotations

import numpy as np

from .scene import Model, build_scene


def fit_stage(views, goal, train, model: Model, *, steps, views_per_step, spp, lambda_, lr, lr_albedo,
              albedo_mode, lighting, envmap_smoothness, out_dir, checkpoint_every, resume, progress, description,
              seed) -> tuple[Model, list]:
    """One stage: optimize the positions of ``model``'s mesh vertices (Large Steps, on the welded mesh
    also with a texture atlas), its albedo (``albedo_mode``: ``vertex``, ``uniform`` or ``texture``)
    and, with ``lighting`` ``sky``, ``envmap`` or ``area``, its lighting (the envmap's loss adds
    ``envmap_smoothness`` times :func:`.lighting.smoothness`; ``area``: the sky and each area light's
    radiance at ``RADIANCE_LR`` times ``lr_albedo``, :mod:`.area_lights`). Returns (the fitted model, loss history)."""
    import drjit as dr
    import mitsuba as mi

    from penumbra import optim
    from penumbra.optim.large_steps import LargeSteps, UniformAdam
    from penumbra.scenes import ParameterMap

    from .area_lights import RADIANCE_LR, radiance_key
    from .lighting import envmap_data, smoothness
    from .texture import vertex_colours
    V, F = np.asarray(model.vertices, np.float64), np.asarray(model.faces, np.int64)
    scene = build_scene(views, model, spp)
    params = ParameterMap(scene)
    pos = "obj.vertex_positions"
    x0 = mi.Float(V.astype(np.float32).ravel())
    if model.atlas is None:
        x0 = params.validate(pos, x0)
    variables = {pos: optim.Variable(x0, LargeSteps(V, F, lambda_), lr=lr)}
    if albedo_mode == "vertex":
        a0 = np.clip(np.asarray(model.albedo, np.float64), 0.02, 0.98).ravel()
        variables["obj.vertex_color"] = optim.Variable(mi.Float(a0.astype(np.float32)), optim.Unit, lr=lr_albedo)
    elif albedo_mode == "texture":
        t0 = np.clip(np.asarray(model.texture, np.float64), 0.02, 0.98).astype(np.float32)
        variables["obj.bsdf.reflectance.data"] = optim.Variable(mi.TensorXf(t0), optim.Unit, lr=lr_albedo)
    else:
        a0 = np.clip(np.asarray(model.albedo, np.float64)[0], 0.02, 0.98)
        variables["albedo"] = optim.Variable(mi.Float(a0.astype(np.float32)), optim.Unit, lr=lr_albedo)
    lr_light = lr_albedo * (RADIANCE_LR if lighting == "area" else 1.0)
    if lighting in ("sky", "area"):
        variables["sky.radiance.value"] = optim.Variable(params.validate("sky.radiance.value",
                                                                         mi.Color3f(*[float(s) for s in model.sky])),
                                                         optim.Positive(), lr=lr_light)
    elif lighting == "envmap":
        e0 = mi.TensorXf(np.asarray(model.envmap, np.float32))
        if tuple(params["sky.data"].shape) != tuple(envmap_data(e0).shape):
            raise RuntimeError(f"fit_stage: Mitsuba's envmap data has shape {tuple(params['sky.data'].shape)}, "
                               f"expected {tuple(envmap_data(e0).shape)} (one wrapped column on each side)")
        variables["envmap"] = optim.Variable(e0, optim.Positive(), lr=lr_albedo)
    if lighting == "area":
        for j, L in enumerate(model.light_radiance):
            key = radiance_key(j)
            variables[key] = optim.Variable(params.validate(key, mi.Color3f(*[float(x) for x in L])), optim.Positive(),
                                            lr=lr_light)
    tg = [mi.TensorXf(t) for t in goal]
    k = min(views_per_step, len(train))
    order = np.random.default_rng(seed).permutation(train)
    n_vert = len(V)
    split = None if model.atlas is None else mi.UInt32(model.atlas.vertex.astype(np.uint32))

    def objective(values):
        values = dict(values)
        if "albedo" in values:
            values["obj.vertex_color"] = dr.tile(values.pop("albedo"), n_vert)
        if split is not None:     # welded positions onto the atlas mesh's split vertices
            values[pos] = dr.ravel(dr.gather(mi.Point3f, dr.unravel(mi.Point3f, values[pos]), split))
        prior = 0.0
        if "envmap" in values:
            env = values.pop("envmap")
            values["sky.data"] = envmap_data(env)
            prior = envmap_smoothness * smoothness(env)
        params.update(values)
        s = step_state[0]
        step_state[0] += 1
        total = 0.0
        for j in range(k):
            v = int(order[(s * k + j) % len(order)])
            image = mi.render(params.scene, params.mitsuba, sensor=v, spp=spp, seed=seed * 100003 + s * 97 + v)
            total = total + optim.losses.l1(image, tg[v])
        return total / k + prior

    step_state = [0]
    try:
        result = optim.optimize(objective, variables, steps, optimizer=UniformAdam(uniform={pos}), out_dir=out_dir,
                                schedule=optim.schedules.cosine(steps, final=0.1), progress=progress,
                                checkpoint_every=checkpoint_every, resume=resume, description=description,
                                plot=False)
    finally:
        params.detach()  # also when the run fails: see ParameterSet.detach
    vals = result.numpy()
    out = model.with_(vertices=vals[pos].reshape(-1, 3).astype(np.float64))
    if albedo_mode == "vertex":
        out.albedo = vals["obj.vertex_color"].reshape(-1, 3).astype(np.float64)
    elif albedo_mode == "texture":
        out.texture = np.asarray(vals["obj.bsdf.reflectance.data"], np.float64).reshape(model.texture.shape)
        out.albedo = vertex_colours(model.atlas, out.texture, n_vert)
    else:
        out.albedo = np.tile(vals["albedo"].reshape(1, 3), (n_vert, 1)).astype(np.float64)
    if lighting in ("sky", "area"):
        out.sky = np.asarray(vals["sky.radiance.value"], np.float64).ravel()
    if lighting == "area":
        out.light_radiance = np.array([np.asarray(vals[radiance_key(j)], np.float64).ravel()
                                       for j in range(len(model.light_radiance))])
    elif lighting == "envmap":
        out.envmap = np.asarray(vals["envmap"], np.float64).reshape(model.envmap.shape)
    return out, result.history
