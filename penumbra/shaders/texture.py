"""Mitsuba texture plugin ``shader``: a :class:`.shader.Shader` evaluated at the surface's uv, so any
BSDF parameter that takes a texture can be a procedural shader.

Use ``{"type": "diffuse", "reflectance": shader_texture(shader)}`` (or pass a registered shader's
key as property ``shader``). The shader's parameters appear in ``mi.traverse`` under the texture's
path, e.g. ``plane.bsdf.reflectance.threshold`` (flat ``mi.Float``, differentiable); Mitsuba's
in-place updates write into the arrays the shader reads. The path tracer ``edge_sampling`` adds the
boundary term of the shader's discontinuities seen directly, through smooth mirrors and glass, or
through glossy or diffuse scattering (:mod:`penumbra.integrators.path.shader_edges`).

| property | meaning |
|---|---|
| ``shader`` | key of a shader registered by :func:`shader_texture` / :func:`register_shader` |

The module derives from the active variant's ``mi.Texture``: it is (re)imported per variant by
:func:`penumbra.integrators.register_plugins`.
"""
from __future__ import annotations

import drjit as dr
import mitsuba as mi

from .registry import lookup_shader


class ShaderTexture(mi.Texture):
    #: marks Penumbra shader textures (the class is re-created per Mitsuba variant)
    is_penumbra_shader = True

    def __init__(self, props):
        super().__init__(props)
        if "shader" not in props:
            raise ValueError("texture 'shader': property 'shader' (a registered shader key) is required")
        self.shader = lookup_shader(str(props["shader"]))

    def _value(self, si):
        # Attached to every parameter with a zero weight: prb's replay refuses to run when its
        # contribution does not depend on the differentiated parameters, which is the case for a
        # parameter that only moves the shader's edges (its derivative is the boundary term alone).
        zero = dr.opaque(mi.Float, 0.0)
        tie = sum((dr.gather(mi.Float, v, mi.UInt32(0)) - dr.detach(dr.gather(mi.Float, v, mi.UInt32(0)))) * zero
                  for v in self.shader.values.values())
        return self.shader(si.uv)[0] + tie

    def eval(self, si, active=True):
        return self._value(si)

    def eval_3(self, si, active=True):
        return self._value(si)

    def eval_1(self, si, active=True):
        return dr.mean(self._value(si))

    def mean(self):
        return 0.5

    def is_spatially_varying(self):
        return True

    def traverse(self, callback):
        for name, value in self.shader.values.items():
            callback.put(name, value, mi.ParamFlags.Differentiable)

    def parameters_changed(self, keys=[]):
        pass

    def to_string(self):
        return f"ShaderTexture[{self.shader!r}]"


mi.register_texture("shader", lambda props: ShaderTexture(props))
