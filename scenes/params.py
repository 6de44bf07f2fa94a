"""Named parameters of a Mitsuba scene: the :mod:`scenes.parameters` protocol over ``mi.traverse``.

Every quantity has a stable dotted name (``red.reflectance.value``, ``light.emitter.radiance.value``,
``bunny.vertex_positions`` ...). :class:`ParameterMap` tells which parameters are differentiable and
which move geometry (Mitsuba's ``Discontinuous`` flag: changing them changes visibility, so their
gradients need boundary terms), rejects unknown names, wrong shapes, NaN/Inf and face indices past the
vertex count with a clear error, and applies updates to the scene.

Parameters Mitsuba does not expose (a mesh's ``to_world``, validated camera and light setters) are
registered through :meth:`ParameterMap.register`; a room's acoustic parameters are mounted with
:meth:`ParameterMap.attach`, so that optimizers, the CLI and tests address every parameter the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from penumbra.renderer.arrays import is_drjit, is_transform

from .errors import ParameterError
from .parameters import ParameterInfo, ParameterSet, is_float_drjit, shape_of


@dataclass
class _Extra:
    get: Callable[[], Any]
    set: Callable[[Any], None]
    differentiable: bool = True
    moves_geometry: bool = False
    owner: str = "penumbra"
    lower: float | None = None
    upper: float | None = None


class ParameterMap(ParameterSet):
    """Dictionary-like access to a scene's named parameters (the :class:`~scenes.parameters.ParameterSet`
    protocol over ``mi.traverse``).

    >>> params = ParameterMap(scene)
    >>> params.differentiable()                 # names that gradients can flow into
    >>> params["red.reflectance.value"] = [0.8, 0.1, 0.1]   # validated; applied by update()
    >>> params.update()

    Other parameter sets over the same scene can be mounted with :meth:`attach`; a room loaded from the
    scene's file mounts its acoustic parameters so that one map shows a wall's ``vertex_positions``,
    ``bsdf.reflectance.value``, ``absorption`` and ``scattering``.
    """

    def __init__(self, scene):
        import mitsuba as mi
        self.scene = scene
        self.mitsuba = mi.traverse(scene)  # the underlying mi.SceneParameters (pass to mi.render)
        self._extra: dict[str, _Extra] = {}
        self._mounted: list[ParameterSet] = []
        from .camera import register_camera_parameters
        register_camera_parameters(self)  # camera pose / fov: differentiable in Penumbra
        from .emitters import register_emitter_parameters
        register_emitter_parameters(self)  # point-light positions: differentiable in Penumbra

    # --- the protocol ---------------------------------------------------------------------------
    def keys(self):
        own = list(self.mitsuba.keys()) + [k for k in self._extra if k not in self.mitsuba.properties]
        return own + [k for m in self._mounted for k in m.keys()]

    def __contains__(self, name):
        return name in self._extra or name in self.mitsuba.properties or any(name in m for m in self._mounted)

    def _mount_of(self, name):
        if name in self._extra or name in self.mitsuba.properties:
            return None
        return next((m for m in self._mounted if name in m), None)

    def _read(self, name):
        if name in self._extra:
            return self._extra[name].get()
        mount = self._mount_of(name)
        return mount[name] if mount is not None else self.mitsuba[name]

    def _write(self, name, value):
        if name in self._extra:
            self._extra[name].set(value)
            return
        mount = self._mount_of(name)
        if mount is not None:
            mount._write(name, value)
        else:
            self.write_mitsuba(name, value)

    def _check_value(self, name, array):
        mount = self._mount_of(name)
        if mount is not None:
            mount._check_value(name, array)

    def info(self, name) -> ParameterInfo:
        import mitsuba as mi
        self.check_name(name)
        mount = self._mount_of(name)
        if mount is not None:
            return mount.info(name)
        value = self._read(name)
        if name in self._extra:
            e = self._extra[name]
            return ParameterInfo(name, type(value).__name__, shape_of(value), e.differentiable,
                                 e.moves_geometry, e.owner, e.lower, e.upper)
        flags = self.mitsuba.flags(name)
        node = self.mitsuba.properties[name][2]
        lower = upper = None
        integer = not is_float_drjit(value) and is_drjit(value) and not is_transform(value)
        if name.endswith(".faces") and integer:
            # face indices address vertex_positions: an index past its end makes the next render crash
            verts = name[:-len("faces")] + "vertex_positions"
            lower = 0
            if verts in self.mitsuba.properties:
                upper = _width(self.mitsuba[verts]) // 3 - 1
        return ParameterInfo(
            name, type(value).__name__, shape_of(value),
            differentiable=not (flags & int(mi.ParamFlags.NonDifferentiable)) and is_float_drjit(value),
            moves_geometry=bool(flags & int(mi.ParamFlags.Discontinuous)),
            owner=type(node).__name__, lower=lower, upper=upper, integer=integer)

    def write_mitsuba(self, name, value):
        """Store a converted value into the Mitsuba scene (marks it dirty; :meth:`update` propagates).

        Like ``mi.SceneParameters.__setitem__`` without its "identical value" shortcut: that check
        compares JIT/AD variable ids, and after ``dr.backward()`` frees an AD graph a new value can
        receive the id of the stored one, so the update (and its gradient) would be dropped."""
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
        """Set several parameters (validated; glob patterns allowed), then propagate changes to the scene.
        Vertex positions are set before face indices, so that a mesh can change its vertex count and
        faces in one update."""
        items = sorted((values or {}).items(), key=lambda kv: str(kv[0]).endswith("faces"))
        return super().update(dict(items))

    def _commit(self):
        self.mitsuba.update()

    # --- extension ----------------------------------------------------------------------------
    def register(self, name, get, set, differentiable=True, moves_geometry=False, owner="penumbra",
                 override=False, lower=None, upper=None):
        """Add a parameter that Mitsuba does not expose (e.g. a mesh's ``to_world``); ``override=True``
        replaces the flags and setter of one it does (e.g. a camera's field of view). ``lower`` /
        ``upper`` bound every entry (checked by :meth:`validate`)."""
        if name in self.mitsuba.properties and not override:
            raise ParameterError(f"parameter {name!r} already exists in the Mitsuba scene")
        self._extra[name] = _Extra(get, set, differentiable, moves_geometry, owner, lower, upper)

    def attach(self, parameters: ParameterSet):
        """Mount another parameter set over the same scene (e.g. a room's acoustic parameters,
        :class:`scenes.room_parameters.RoomParameters`): its names appear in this map, reads and writes
        go to it. Names must not collide with this map's."""
        clash = [k for k in parameters.keys() if k in self]
        if clash:
            raise ParameterError(f"cannot attach {type(parameters).__name__}: parameter(s) {clash[:5]} already "
                                 "exist in this map")
        self._mounted.append(parameters)
        return self

    def add_transforms(self, ids=None) -> list[str]:
        """Register a differentiable ``<id>.to_world`` per mesh (see :mod:`scenes.transforms`)."""
        from .transforms import register_transforms
        return register_transforms(self, ids)


def _width(value) -> int:
    import drjit as dr
    return dr.width(value)
