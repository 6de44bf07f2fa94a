"""Loading Mitsuba scenes from XML files, XML strings and dictionaries, with clear errors.

Mitsuba's own messages are kept, prefixed with the input they concern: a missing file, malformed
XML (with line/column where Mitsuba gives them) and unknown plugin names all raise
:class:`~scenes.errors.SceneError` (or ``FileNotFoundError``) instead of an opaque ``RuntimeError``.
"""
from __future__ import annotations

import os
import re

import numpy as np

from penumbra.renderer import ensure_variant

from .errors import SceneError
from .meshes import check_face_indices


def _describe(source) -> str:
    if isinstance(source, dict):
        return f"scene dict (type={source.get('type', '?')!r})"
    s = os.fspath(source)
    return "XML string" if s.lstrip().startswith("<") else f"scene file {s!r}"


def _clean(msg: str) -> str:
    # Mitsuba prefixes messages with "[xml.cpp:123] " etc. and sometimes adds a stack of contexts.
    msg = re.sub(r"\[[\w.]+:\d+\]\s*", "", str(msg)).strip()
    m = re.search(r'Plugin "([^"]+)" not found|unknown plugin ["\']?([\w-]+)', msg, re.I)
    if m:
        name = m.group(1) or m.group(2)
        return f"unknown plugin {name!r} ({msg})"
    return msg


def load_scene(source, merge: bool = False, **parameters):
    """Load a scene and return the ``mi.Scene``.

    ``source`` is a path to a Mitsuba XML file, an XML string (starting with ``<``) or a scene
    dictionary as accepted by ``mi.load_dict``. Keyword arguments fill ``$name`` defaults of an XML
    file (e.g. ``spp=64``, ``resolution=128``).

    ``merge=False`` (default) keeps every shape under its own id. Mitsuba's load-time optimisation
    merges shapes that share a BSDF into one anonymous mesh, which would erase the per-shape
    parameter names that optimizers address; pass ``merge=True`` to allow it for pure rendering.
    """
    import drjit as dr
    ensure_variant()
    # Mitsuba's OpenEXR reader waits forever on a Dr.Jit thread pool of one thread (the set-up of a Ray
    # worker with one CPU): load with at least two, then restore the caller's count
    threads = dr.thread_count()
    if threads < 2:
        dr.set_thread_count(2)
    try:
        return _load(source, merge, parameters)
    finally:
        if threads < 2:
            dr.set_thread_count(threads)


def _load(source, merge: bool, parameters: dict):
    import mitsuba as mi
    what = _describe(source)
    try:
        if isinstance(source, dict):
            if "type" not in source:
                raise SceneError(f"cannot load {what}: a scene dict needs a 'type' entry (usually 'scene')")
            return validate_scene(mi.load_dict(source, optimize=merge), what)
        s = os.fspath(source)
        params = {k: str(v) for k, v in parameters.items()}
        if s.lstrip().startswith("<"):
            return validate_scene(mi.load_string(s, optimize=merge, **params), what)
        if not os.path.exists(s):
            raise FileNotFoundError(f"scene file not found: {s}")
        # Resolve meshes/textures relative to the scene file, as a user expects.
        mi.file_resolver().prepend(os.path.dirname(os.path.abspath(s)))
        scene = mi.load_file(s, optimize=merge, **params)
    except (SceneError, FileNotFoundError):
        raise
    except Exception as e:  # Mitsuba reports parse and plugin errors as RuntimeError / ValueError
        raise SceneError(f"cannot load {what}: {_clean(e)}") from e
    return validate_scene(scene, what)


def name_unnamed(scene) -> None:
    """Give unnamed sensors, shapes and environment/point emitters stable ids by type and position
    (``sensor0``, ``shape2``, ``emitter0``), so that their parameter names are the same on every
    run instead of Mitsuba's address-based ``object_<number>``. Area lights are named through their
    shape."""
    taken = {obj.id() for group in (scene.sensors(), scene.shapes(), scene.emitters()) for obj in group}
    groups = (("sensor", scene.sensors()), ("shape", scene.shapes()),
              ("emitter", [e for e in scene.emitters() if e.get_shape() is None]))
    for kind, objects in groups:
        for i, obj in enumerate(objects):
            if obj.id():
                continue
            name = f"{kind}{i}"
            while name in taken:
                name += "_"
            obj.set_id(name)
            taken.add(name)


def validate_scene(scene, what: str = "scene"):
    """Refuse a loaded scene that Mitsuba accepted but that would crash or render wrongly: a sampler
    with no samples (a floating-point exception in the next render), an empty film, or a NaN/Inf
    value in any parameter (a NaN sphere radius makes the sphere vanish silently)."""
    import drjit as dr
    import mitsuba as mi
    name_unnamed(scene)
    for i, sensor in enumerate(scene.sensors()):
        name = sensor.id() or f"sensor {i}"
        if sensor.sampler().sample_count() < 1:
            raise SceneError(f"{what}: {name} has a sampler with sample_count "
                             f"{sensor.sampler().sample_count()}; it must be >= 1")
        w, h = sensor.film().crop_size()
        if w < 1 or h < 1:
            raise SceneError(f"{what}: {name} has an empty film ({w}x{h})")
    for shape in scene.shapes():
        if isinstance(shape, mi.Mesh):
            check_face_indices(shape, f"{what}: shape {shape.id()!r}")
    for key, value in mi.traverse(scene).items():
        value = getattr(value, "matrix", value)   # transforms: check their matrix
        if not (dr.is_array_v(value) and dr.is_float_v(value)) or dr.width(value) == 0:
            continue
        if dr.is_matrix_v(value):
            finite = bool(np.all(np.isfinite(np.asarray(value))))
        else:
            finite = bool(dr.all(dr.isfinite(value), axis=None))
        if not finite:
            raise SceneError(f"{what}: parameter {key!r} contains NaN/Inf")
    return scene
