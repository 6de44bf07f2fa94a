"""Penumbra's integrators: path tracing (Mitsuba plugins ``edge_sampling`` and ``warped_area``),
the vector rasterizer and the acoustic integrator.

Mitsuba registers plugins per variant. :func:`register_plugins` registers the path-tracing plugins
for the active variant; ``import penumbra`` calls it now if a variant is active and again whenever
the variant changes (through Mitsuba's variant callbacks), so ``mi.load_dict({'type':
'edge_sampling'})`` works after either ``mi.set_variant`` or :func:`penumbra.set_variant`.
"""
from __future__ import annotations

import importlib
import sys

_registered: set[str] = set()


def register_plugins() -> str | None:
    """Register ``edge_sampling``, ``warped_area`` and the ``shader`` texture for the active Mitsuba variant.

    Returns the variant, or None when no differentiable variant is active (nothing to register).
    The integrator classes derive from the variant's own Mitsuba types, so a second variant
    re-imports the path-tracing modules under it.
    """
    import mitsuba as mi
    variant = mi.variant()
    if not variant or "_ad_" not in variant:
        return None
    if variant not in _registered:
        path = f"{__name__}.path"
        if _registered:
            for name in [m for m in sys.modules if m == path or m.startswith(path + ".")]:
                del sys.modules[name]
        sys.modules.pop("penumbra.shaders.texture", None)
        importlib.import_module("penumbra.shaders.texture")
        importlib.import_module(path)
        _registered.add(variant)
    return variant
