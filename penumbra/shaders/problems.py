"""Bundled shader-fitting problems: a procedural shader, its true and initial parameters, and an
image renderer with either gradient (boundary-aware or plain AD).

Each :class:`FitProblem` renders ``render(values, spp, seed, boundary)`` as a ``mi.TensorXf``
(H, W, 3) attached to ``values`` (name -> Dr.Jit value, e.g. the optimizer's transformed latents);
``boundary=False`` gives what plain automatic differentiation of the same program returns (no
term for the shader's own discontinuities). Used by the ``penumbra shader`` job and by
``benchmarks/shader_bench.py``.

| problem | engine | parameter | true | initial |
|---|---|---|---|---|
| ``noise`` | path tracer (``edge_sampling`` / ``prb``) | ``threshold`` | 0.55 | 0.42 |
| | | ``offset`` | (0.35, 0.20) | (0.25, 0.28) |
| | | ``ink`` | (0.80, 0.30, 0.10) | grey 0.3 |
| | | ``paper`` | (0.90, 0.85, 0.70) | grey 0.7 |
| ``logo`` | canvas (:func:`.canvas.render_canvas`) | ``center`` | (0.55, 0.46) | (0.47, 0.53) |
| | | ``radius`` | 0.30 | 0.23 |
| | | ``phase`` | 0.25 | 0.05 |
| | | ``duty`` | 0.35 | 0.5 |
| | | ``ink`` | (0.10, 0.20, 0.60) | grey 0.5 |

``noise``: two-tone thresholded value noise (:func:`.primitives.value_noise`, Perlin 2002) as the
diffuse reflectance of a sphere under an environment and a directional light, path-traced (its
uv seam faces away from the camera). ``logo``: a disc of diagonal stripes over a fixed
checkerboard on the 2D canvas.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import drjit as dr
import numpy as np

from penumbra.renderer import checks, ensure_variant

from . import primitives as P
from .canvas import render_canvas
from .registry import shader_texture
from .shader import Shader

PROBLEMS = ("noise", "logo")


@dataclass
class FitProblem:
    """A shader to fit: ``truth`` and ``initial`` values (name -> NumPy array), per-parameter
    optimizer ``transforms`` (:mod:`penumbra.optim.transforms`) and learning rates ``lrs``, and the
    renderer ``render(values, spp, seed, boundary)``; ``release()`` detaches what ``render`` left
    attached to the AD graph in a Mitsuba scene (:meth:`penumbra.scenes.ParameterSet.detach`)."""
    name: str
    shader: Shader
    width: int
    height: int
    truth: dict
    initial: dict
    transforms: dict
    lrs: dict
    render: Callable = field(repr=False)
    release: Callable = field(default=lambda: None, repr=False)

    def target(self, spp: int, seed: int = 1234) -> np.ndarray:
        """The image at the true parameters (``spp`` samples per pixel, no derivatives)."""
        return self.image(self.truth, spp, seed)

    def image(self, values: dict, spp: int, seed: int = 7) -> np.ndarray:
        """The image (H, W, 3) at ``values`` (NumPy or Dr.Jit), detached."""
        import mitsuba as mi
        with dr.suspend_grad():
            vals = {k: mi.Float(np.asarray(v, np.float32).ravel()) if not dr.is_array_v(v) else dr.detach(v)
                    for k, v in values.items()}
            return np.array(self.render(vals, spp, seed, False), np.float32)

    def set(self, values: dict):
        """Store ``values`` in the shader (the path-traced scene reads them from there)."""
        import mitsuba as mi
        for k, v in values.items():
            self.shader.values[k] = v if dr.is_array_v(v) else mi.Float(np.asarray(v, np.float32).ravel())


def noise_shader(uv, p):
    """Two-tone thresholded value noise: ``ink`` where noise(16u + offset_x, 8v + offset_y) >=
    ``threshold``, else ``paper``."""
    import mitsuba as mi
    q = mi.Point2f(16.0 * uv[0] + p["offset"][0], 8.0 * uv[1] + p["offset"][1])
    return P.mix(P.step(P.value_noise(q, seed=7) - p["threshold"]), p["ink"], p["paper"])


def logo_shader(uv, p):
    """A disc (``center``, ``radius``) of stripes (5 per unit along u + v, ``phase``, ``duty``, ``ink``
    on white) over a fixed grey checkerboard."""
    import mitsuba as mi
    bg = P.mix(P.checker(6.0 * uv[0], 6.0 * uv[1]), mi.Color3f(0.85), mi.Color3f(0.6))
    stripe = P.mix(P.stripes(5.0 * (uv[0] + uv[1]) + p["phase"], p["duty"]), p["ink"], mi.Color3f(0.97))
    return P.mix(P.circle(uv, p["center"], p["radius"]), stripe, bg)


def noise_problem(res: int = 48) -> FitProblem:
    """The ``noise`` problem at ``res`` x ``res`` pixels (path tracer)."""
    ensure_variant()
    import mitsuba as mi

    from penumbra.optim import Unit
    from penumbra.optim.transforms import Identity
    res = checks.integer("noise_problem(res=...)", res, lo=4)
    truth = {"threshold": np.array(0.55), "offset": np.array([0.35, 0.20]),
             "ink": np.array([0.80, 0.30, 0.10]), "paper": np.array([0.90, 0.85, 0.70])}
    initial = {"threshold": np.array(0.42), "offset": np.array([0.25, 0.28]),
               "ink": np.full(3, 0.3), "paper": np.full(3, 0.7)}
    shader = Shader(noise_shader, initial, name="noise", ranges={"threshold": (0.0, 1.0)})
    look = mi.ScalarTransform4f().look_at(origin=[-3.2, 0.4, 0.9], target=[0, 0, 0], up=[0, 0, 1])
    scene = mi.load_dict({
        "type": "scene",
        "sensor": {"type": "perspective", "fov": 45, "to_world": look,
                   "film": {"type": "hdrfilm", "width": res, "height": res, "rfilter": {"type": "box"},
                            "pixel_format": "rgb"}},
        "env": {"type": "constant", "radiance": 0.6},
        "sun": {"type": "directional", "direction": [0.6, 0.3, -0.7], "irradiance": 1.2},
        "ball": {"type": "sphere", "bsdf": {"type": "diffuse", "reflectance": shader_texture(shader)}}},
        optimize=False)
    from penumbra.scenes import ParameterMap
    params = ParameterMap(scene)
    prefix = "ball.bsdf.reflectance."
    integrators = {True: mi.load_dict({"type": "edge_sampling", "max_depth": 2}),
                   False: mi.load_dict({"type": "prb", "max_depth": 2})}

    def render(values, spp, seed, boundary):
        params.update({prefix + k: v for k, v in values.items()})
        return mi.render(scene, params.mitsuba, integrator=integrators[bool(boundary)], spp=int(spp), seed=int(seed),
                         seed_grad=int(seed) + 1)

    return FitProblem("noise", shader, res, res, truth, initial,
                      {"threshold": Unit, "offset": Identity(), "ink": Unit, "paper": Unit},
                      {"threshold": 0.02, "offset": 0.02, "ink": 0.08, "paper": 0.08}, render, params.detach)


def logo_problem(res: int = 64) -> FitProblem:
    """The ``logo`` problem at ``res`` x ``res`` pixels (canvas)."""
    ensure_variant()
    from penumbra.optim import Positive, Unit
    from penumbra.optim.transforms import Identity
    res = checks.integer("logo_problem(res=...)", res, lo=4)
    truth = {"center": np.array([0.55, 0.46]), "radius": np.array(0.30), "phase": np.array(0.25),
             "duty": np.array(0.35), "ink": np.array([0.10, 0.20, 0.60])}
    initial = {"center": np.array([0.47, 0.53]), "radius": np.array(0.23), "phase": np.array(0.05),
               "duty": np.array(0.5), "ink": np.full(3, 0.5)}
    shader = Shader(logo_shader, initial, name="logo", ranges={"duty": (0.0, 1.0), "radius": (0.0, None)})

    def render(values, spp, seed, boundary):
        for k, v in values.items():
            shader.values[k] = v
        return render_canvas(shader, res, res, spp=int(spp), seed=int(seed), boundary=bool(boundary))

    return FitProblem("logo", shader, res, res, truth, initial,
                      {"center": Identity(), "radius": Positive(), "phase": Identity(), "duty": Unit, "ink": Unit},
                      {"center": 0.01, "radius": 0.03, "phase": 0.02, "duty": 0.04, "ink": 0.08}, render)


def make_problem(name: str, res: int | None = None) -> FitProblem:
    """The bundled problem ``name`` (one of :data:`PROBLEMS`) at ``res`` pixels (its default if None)."""
    checks.choice("shader problem", name, PROBLEMS)
    build = noise_problem if name == "noise" else logo_problem
    return build() if res is None else build(res)
