"""Shaders referenced by Mitsuba scene descriptions (plugin properties hold strings, not Python
objects): a process-wide registry from key to :class:`.shader.Shader`."""
from __future__ import annotations

_shaders: dict = {}


def register_shader(shader) -> str:
    """Make ``shader`` reachable from scene descriptions; returns its key (``shader.key``)."""
    _shaders[shader.key] = shader
    return shader.key


def lookup_shader(key: str):
    """The shader registered under ``key`` (ValueError naming it otherwise)."""
    if key not in _shaders:
        raise ValueError(f"texture 'shader': no shader registered under {key!r} "
                         f"(use penumbra.shaders.shader_texture(shader))")
    return _shaders[key]


def shader_texture(shader) -> dict:
    """A Mitsuba texture description (for ``mi.load_dict``) evaluating ``shader`` at the surface uv."""
    return {"type": "shader", "shader": register_shader(shader)}
