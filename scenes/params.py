"""Named parameters of a scene: a validated view over ``mi.traverse``.

Every quantity has a stable dotted name (``red.reflectance.value``, ``light.emitter.radiance.value``,
``bunny.vertex_positions`` ...). :class:`ParameterMap` tells which parameters are differentiable and
which move geometry (Mitsuba's ``Discontinuous`` flag: changing them changes visibility, so their
gradients need boundary terms), rejects unknown names, wrong shapes and NaN/Inf with a clear error,
and applies updates to the scene.

Integrators that own parameters Mitsuba does not expose (camera pose, acoustic materials, vector
path points) register *extra* parameters through :meth:`ParameterMap.register`, so that optimizers,
the CLI and tests address every parameter the same way.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from penumbra.renderer.arrays import from_numpy, is_drjit, is_finite, is_transform, to_numpy

from .errors import ParameterError


@dataclass(frozen=True)
class ParameterInfo:
    name: str
    type: str
    shape: tuple
    differentiable: bool
    moves_geometry: bool
    owner: str


@dataclass
class _Extra:
    get: Callable[[], Any]
    set: Callable[[Any], None]
    differentiable: bool = True
    moves_geometry: bool = False
    owner: str = "penumbra"


def _shape_of(value) -> tuple:
    import drjit as dr
    if is_drjit(value):
        if dr.is_tensor_v(value):
            return tuple(value.shape)
        if is_transform(value):
            return (4, 4)
        if dr.depth_v(value) > 1:
            return (dr.width(value), dr.size_v(value))
        return (dr.width(value),)
    return tuple(np.shape(value))


class ParameterMap:
    """Dictionary-like access to a scene's named parameters.

    >>> params = ParameterMap(scene)
    >>> params.differentiable()                 # names that gradients can flow into
    >>> params["red.reflectance.value"] = [0.8, 0.1, 0.1]   # validated; applied by update()
    >>> params.update()
    """

    def __init__(self, scene):
        import mitsuba as mi
        self.scene = scene
        self.mitsuba = mi.traverse(scene)  # the underlying mi.SceneParameters (pass to mi.render)
        self._extra: dict[str, _Extra] = {}
        from .camera import register_camera_parameters
        register_camera_parameters(self)  # camera pose / fov: differentiable in Penumbra
        from .emitters import register_emitter_parameters
        register_emitter_parameters(self)  # point-light positions: differentiable in Penumbra

    # --- lookup -------------------------------------------------------------------------------
    def keys(self):
        return list(self.mitsuba.keys()) + [k for k in self._extra if k not in self.mitsuba.properties]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def __contains__(self, name):
        return name in self._extra or name in self.mitsuba.properties

    def _check_name(self, name):
        if name not in self:
            close = difflib.get_close_matches(str(name), self.keys(), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ParameterError(f"unknown scene parameter {name!r}{hint} (the scene has {len(self)} "
                                 "parameters; ParameterMap.describe() lists them)")

    def __getitem__(self, name):
        self._check_name(name)
        if name in self._extra:
            return self._extra[name].get()
        return self.mitsuba[name]

    def info(self, name) -> ParameterInfo:
        import mitsuba as mi
        self._check_name(name)
        value = self[name]
        if name in self._extra:
            e = self._extra[name]
            return ParameterInfo(name, type(value).__name__, _shape_of(value), e.differentiable,
                                 e.moves_geometry, e.owner)
        flags = self.mitsuba.flags(name)
        node = self.mitsuba.properties[name][2]
        return ParameterInfo(
            name, type(value).__name__, _shape_of(value),
            differentiable=not (flags & int(mi.ParamFlags.NonDifferentiable)) and _is_float_drjit(value),
            moves_geometry=bool(flags & int(mi.ParamFlags.Discontinuous)),
            owner=type(node).__name__)

    def differentiable(self) -> list[str]:
        return [k for k in self.keys() if self.info(k).differentiable]

    def geometric(self) -> list[str]:
        """Differentiable parameters that move geometry (need visibility/boundary gradients)."""
        return [k for k in self.keys() if (i := self.info(k)).differentiable and i.moves_geometry]

    def describe(self) -> str:
        rows = [("name", "type", "shape", "diff", "geometry")]
        for k in self.keys():
            i = self.info(k)
            rows.append((k, i.type, "x".join(map(str, i.shape)), "yes" if i.differentiable else "",
                         "yes" if i.moves_geometry else ""))
        w = [max(len(r[c]) for r in rows) for c in range(5)]
        return "\n".join("  ".join(r[c].ljust(w[c]) for c in range(5)) for r in rows)

    # --- updates ------------------------------------------------------------------------------
    def validate(self, name, value):
        """Convert ``value`` to the parameter's type and check shape and finiteness (no side effect)."""
        self._check_name(name)
        current = self[name]
        if is_drjit(value) and type(value) is type(current):
            converted = value
        elif is_drjit(value) and _grad_enabled(value):
            # A differentiable value of another Dr.Jit type: convert inside Dr.Jit (a NumPy round
            # trip would silently drop its gradient).
            try:
                converted = type(current)(value)
            except Exception as e:
                raise ParameterError(f"parameter {name!r} is a {type(current).__name__}; got a differentiable "
                                     f"{type(value).__name__} that cannot be converted without losing its "
                                     f"gradient ({e})") from None
        else:
            arr = to_numpy(value)
            if _is_float_drjit(current) or isinstance(current, float):
                arr = arr.astype(np.float64)
            want = _shape_of(current)
            if arr.size != int(np.prod(want)) and not (len(want) == 2 and want[0] == 1 and arr.size == want[1]):
                raise ParameterError(f"parameter {name!r} expects shape {want} ({type(current).__name__}), "
                                     f"got a value of shape {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ParameterError(f"parameter {name!r}: value contains NaN or Inf")
            converted = from_numpy(current, arr.reshape(want) if len(want) != 2 or want[0] != 1 else arr)
        if _shape_of(converted) != _shape_of(current):
            raise ParameterError(f"parameter {name!r} expects shape {_shape_of(current)} "
                                 f"({type(current).__name__}), got shape {_shape_of(converted)}")
        if not is_finite(converted):
            raise ParameterError(f"parameter {name!r}: value contains NaN or Inf")
        return converted

    def __setitem__(self, name, value):
        converted = self.validate(name, value)
        if name in self._extra:
            self._extra[name].set(converted)
        else:
            self._set_mitsuba(name, converted)

    def _set_mitsuba(self, name, value):
        # Like mi.SceneParameters.__setitem__ without its "identical value" shortcut: that check
        # compares JIT/AD variable ids, and after dr.backward() frees an AD graph a new value can
        # receive the id of the stored one, so the update (and its gradient) would be dropped.
        import mitsuba as mi
        cur, value_type, node, flags = self.mitsuba.properties[name]
        if flags & int(mi.ParamFlags.ReadOnly):
            raise ParameterError(f"parameter {name!r} is read-only")
        self.mitsuba.set_dirty(name)
        if value_type is None:
            self.mitsuba.set_property(cur, value)
        else:
            self.mitsuba.set_property(cur, value_type, value)

    def update(self, values: dict | None = None):
        """Set several parameters (validated), then propagate changes to the scene."""
        for k, v in (values or {}).items():
            self[k] = v
        self.mitsuba.update()
        return self

    def snapshot(self, names=None) -> dict[str, np.ndarray]:
        """NumPy copies of parameter values (all differentiable ones by default)."""
        return {k: to_numpy(self[k]) for k in (names or self.differentiable())}

    # --- extension ----------------------------------------------------------------------------
    def register(self, name, get, set, differentiable=True, moves_geometry=False, owner="penumbra",
                 override=False):
        """Add a parameter that Mitsuba does not expose (e.g. an acoustic material); ``override=True``
        replaces the flags and setter of one it does (e.g. a camera's field of view)."""
        if name in self.mitsuba.properties and not override:
            raise ParameterError(f"parameter {name!r} already exists in the Mitsuba scene")
        self._extra[name] = _Extra(get, set, differentiable, moves_geometry, owner)

    def add_transforms(self, ids=None) -> list[str]:
        """Register a differentiable ``<id>.to_world`` per mesh (see :mod:`scenes.transforms`)."""
        from .transforms import register_transforms
        return register_transforms(self, ids)


def _grad_enabled(value) -> bool:
    import drjit as dr
    return bool(dr.grad_enabled(value))


def _is_float_drjit(value) -> bool:
    import drjit as dr
    if is_transform(value):
        value = value.matrix
    return dr.is_array_v(value) and dr.is_float_v(value) and dr.is_jit_v(value)
