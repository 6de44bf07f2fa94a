"""``pn.render``: Mitsuba's render call with Penumbra's backend selection and parameter map."""
from __future__ import annotations

from penumbra.renderer import ensure_variant


def render(scene, params=None, spp: int | None = None, seed: int = 0, integrator=None, sensor=0):
    """Render ``scene`` and return an ``mi.TensorXf`` (H, W, C), differentiable w.r.t. ``params``.

    ``params`` may be a :class:`scenes.ParameterMap` or Mitsuba's ``SceneParameters``; passing it
    lets ``dr.backward``/``dr.forward`` reach the scene parameters. ``integrator`` is a plugin name
    (e.g. ``"prb"``, ``"edge_sampling"``), a dict, or an ``mi.Integrator``; default: the scene's.
    """
    import mitsuba as mi
    ensure_variant()
    if isinstance(integrator, str):
        integrator = mi.load_dict({"type": integrator})
    elif isinstance(integrator, dict):
        integrator = mi.load_dict(integrator)
    mparams = getattr(params, "mitsuba", params)
    return mi.render(scene, mparams, spp=spp or 0, seed=seed, integrator=integrator, sensor=sensor)
