"""Procedural shaders with discontinuities whose gradients see their own edges.

- :mod:`.primitives`: ``step``, ``select``, ``stripes``, ``checker``, ``circle``, ``polygon``,
  ``value_noise``: discontinuities with known level functions;
- :mod:`.shader`: :class:`Shader` (a function of uv and named parameters) and its parameter set;
- :mod:`.boundary`: the boundary term of the shader's discontinuities in the pixel footprint;
- :mod:`.canvas`: a shader rendered on a 2D canvas (box-filtered pixels) with that boundary term;
- :mod:`.texture`: the Mitsuba texture plugin ``shader`` (registered with the integrators).
"""
from .primitives import checker, circle, mix, polygon, polygon_distance, select, step, stripes, value_noise
from .registry import register_shader, shader_texture
from .shader import Shader, ShaderParameters

__all__ = ["Shader", "ShaderParameters", "checker", "circle", "mix", "polygon", "polygon_distance",
           "register_shader", "select", "shader_texture", "step", "stripes", "value_noise"]
