"""Penumbra: differentiable rendering and inverse graphics on Dr.Jit and Mitsuba 3.

``import penumbra as pn`` is the front door. It selects a backend lazily (CUDA when usable, else
LLVM; see :func:`set_variant`) and re-exports the public API of the floors below::

    scene  = pn.load_scene("scene.xml")
    params = pn.ParameterMap(scene)
    image  = pn.render(scene, params, spp=64)

Sub-systems register their entry points in ``_LAZY`` (name -> "module:attribute") so that importing
penumbra stays cheap and one sub-system's optional dependencies never break another.
"""
from __future__ import annotations

import importlib

import renderer as _renderer  # configures libLLVM before anything imports drjit
from renderer import (BackendError, ensure_variant, read_image, read_wav, set_variant, variant,
                      write_image, write_wav)

__version__ = "0.1.0"

_LAZY = {
    # scene layer
    "load_scene": "scenes:load_scene",
    "ParameterMap": "scenes:ParameterMap",
    "ParameterError": "scenes:ParameterError",
    "SceneError": "scenes:SceneError",
    "load_mesh": "scenes:load_mesh",
    "save_mesh": "scenes:save_mesh",
    "mesh_from_arrays": "scenes:mesh_from_arrays",
    "builders": "scenes.builders",
    # optimizer layer
    "optim": "optim",
    "optimize": "optim:optimize",
    "Variable": "optim:Variable",
    # rendering
    "render": "penumbra.render:render",
    "torch_function": "renderer.torch_bridge:torch_function",
    "render_function": "renderer.torch_bridge:render_function",
    # vector graphics (integrators/vector)
    "load_svg": "scenes.vector:load_svg",
    "save_svg": "scenes.vector:save_svg",
    "rasterize": "integrators.vector:rasterize",
    "VectorScene": "scenes.vector:VectorScene",
    "vector": "scenes.vector",
    # room acoustics (integrators/acoustic)
    "shoebox": "scenes.room:shoebox",
    "load_room": "scenes.room:load_room",
    "extruded_room": "scenes.room:extruded_room",
    "acoustic_material": "scenes.room:material",
    "simulate_rir": "integrators.acoustic:simulate",
    "rir": "integrators.acoustic:rir",
    "acoustics": "integrators.acoustic",
    "room_metrics": "integrators.acoustic.metrics",
    "register_acoustic_parameters": "scenes.room:register_acoustic_parameters",
}


def __getattr__(name):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'penumbra' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    if attr:
        obj = getattr(obj, attr)
    globals()[name] = obj
    return obj


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["BackendError", "ensure_variant", "read_image", "read_wav", "set_variant", "variant",
           "write_image", "write_wav", *_LAZY]
