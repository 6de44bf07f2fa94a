"""``pn.render``: Mitsuba's render call with Penumbra's backend selection, parameter map and input
checks (sample count, sensor index, memory estimate) made before any kernel runs."""
from __future__ import annotations

from penumbra.renderer import ensure_variant
from penumbra.renderer import checks, memory

def render(scene, params=None, spp: int | None = None, seed: int = 0, integrator=None, sensor=0):
    """Render ``scene`` and return an ``mi.TensorXf`` (H, W, C), differentiable w.r.t. ``params``.

    ``params`` may be a :class:`penumbra.scenes.ParameterMap` or Mitsuba's ``SceneParameters``;
    passing it lets ``dr.backward``/``dr.forward`` reach the scene parameters. ``integrator`` is a
    plugin name (e.g. ``"prb"``, ``"edge_sampling"``), a dict, or an ``mi.Integrator``; default: the
    scene's. ``spp=None`` uses the sensor's sampler; otherwise it must be >= 1. ``sensor`` is an index
    into ``scene.sensors()`` or an ``mi.Sensor``. Raises :class:`~penumbra.renderer.checks.InputError`
    for a bad argument and :class:`~penumbra.renderer.memory.MemoryLimitError` when the film would
    not fit the memory limit.
    """
    import mitsuba as mi
    ensure_variant()
    if spp is not None:
        spp = checks.integer("render(spp=...)", spp, lo=1)
    seed = checks.integer("render(seed=...)", seed, lo=0, hi=2 ** 32 - 1)
    if isinstance(sensor, mi.Sensor):
        film = sensor.film()
    else:
        n = len(scene.sensors())
        if n == 0:
            raise checks.InputError("render(): the scene has no sensor")
        sensor = checks.integer("render(sensor=...)", sensor, lo=0, hi=n - 1)
        film = scene.sensors()[sensor].film()
    memory.guard_film("render()", film, differentiable=params is not None)
    if isinstance(integrator, str):
        integrator = mi.load_dict({"type": integrator})
    elif isinstance(integrator, dict):
        integrator = mi.load_dict(integrator)
    mparams = getattr(params, "mitsuba", params)
    return mi.render(scene, mparams, spp=spp or 0, seed=seed, integrator=integrator, sensor=sensor)
