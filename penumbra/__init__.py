"""Penumbra: differentiable rendering and inverse graphics on Dr.Jit and Mitsuba 3.

``import penumbra as pn`` is the front door. It selects a backend lazily (CUDA when usable, else
LLVM; see :func:`set_variant`), registers the Mitsuba plugins ``edge_sampling`` and ``warped_area``
for every differentiable variant that becomes active, and re-exports the public API of the floors
below::

    scene  = pn.load_scene("scene.xml")
    params = pn.ParameterMap(scene)
    image  = pn.render(scene, params, spp=64)

Sub-systems register their entry points in ``_LAZY`` (name -> "module:attribute") so that importing
penumbra stays cheap and one sub-system's optional dependencies never break another.
"""
from __future__ import annotations

import importlib

import penumbra.renderer as _renderer  # noqa: F401  (configures libLLVM before anything imports drjit)
from penumbra.renderer import (BackendError, ensure_variant, read_image, read_wav, set_variant, variant,
                               write_image, write_wav)

from penumbra.rendering import render  # noqa: E402

__version__ = "0.1.0"


def _register_plugins(*_args) -> None:
    from penumbra.integrators import register_plugins
    register_plugins()


def _watch_variants() -> None:
    import mitsuba as mi
    mi.detail.add_variant_callback(_register_plugins)
    _register_plugins()


_watch_variants()

_LAZY = {
    # scene layer
    "load_scene": "penumbra.scenes:load_scene",
    "ParameterMap": "penumbra.scenes:ParameterMap",
    "ParameterSet": "penumbra.scenes:ParameterSet",
    "ParameterError": "penumbra.scenes:ParameterError",
    "SceneError": "penumbra.scenes:SceneError",
    "load_mesh": "penumbra.scenes:load_mesh",
    "save_mesh": "penumbra.scenes:save_mesh",
    "mesh_from_arrays": "penumbra.scenes:mesh_from_arrays",
    "builders": "penumbra.scenes.builders",
    "read_calibration": "penumbra.scenes.calibration:read_calibration",
    "load_photo_set": "penumbra.scenes.photo_set:load_photo_set",
    "reconstruct_photos": "penumbra.photo_reconstruction:reconstruct_photos",
    # input checks and resource limits
    "InputError": "penumbra.renderer.checks:InputError",
    "MemoryLimitError": "penumbra.renderer.memory:MemoryLimitError",
    "set_memory_limit": "penumbra.renderer.memory:set_memory_limit",
    "CheckpointError": "penumbra.optim:CheckpointError",
    # optimizer layer
    "optim": "penumbra.optim",
    "optimize": "penumbra.optim:optimize",
    "Variable": "penumbra.optim:Variable",
    # rendering
    "torch_function": "penumbra.renderer.torch_bridge:torch_function",
    "render_function": "penumbra.renderer.torch_bridge:render_function",
    # vector graphics (integrators/vector)
    "load_svg": "penumbra.scenes.vector:load_svg",
    "save_svg": "penumbra.scenes.vector:save_svg",
    "rasterize": "penumbra.integrators.vector:rasterize",
    "VectorScene": "penumbra.scenes.vector:VectorScene",
    "vector": "penumbra.scenes.vector",
    # room acoustics (integrators/acoustic)
    "shoebox": "penumbra.scenes.room:shoebox",
    "load_room": "penumbra.scenes.room:load_room",
    "RoomWarning": "penumbra.scenes.room:RoomWarning",
    "extruded_room": "penumbra.scenes.room:extruded_room",
    "acoustic_material": "penumbra.scenes.room:material",
    "simulate_rir": "penumbra.integrators.acoustic:simulate",
    "rir": "penumbra.integrators.acoustic:rir",
    "acoustics": "penumbra.integrators.acoustic",
    "room_metrics": "penumbra.integrators.acoustic.metrics",
    "RoomParameters": "penumbra.scenes.room_parameters:RoomParameters",
    "register_acoustic_parameters": "penumbra.scenes.room:register_acoustic_parameters",
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


__all__ = ["BackendError", "render", "ensure_variant", "read_image", "read_wav", "set_variant", "variant",
           "write_image", "write_wav", *_LAZY]
