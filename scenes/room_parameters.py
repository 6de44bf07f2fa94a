"""Named parameters of a room (:class:`scenes.room.Room`): the quantities the acoustic integrator reads,
under the :class:`scenes.parameters.ParameterSet` protocol.

======================================  ==========  ==============================================
name                                    shape       meaning
======================================  ==========  ==============================================
``<wall>.absorption``                   (7,)        energy absorption per octave band, in [0, 1]
``<wall>.scattering``                   (7,)        scattering coefficient per octave band, in [0, 1]
``acoustic.sources``                    (S, 3)      sound source positions (inside the room)
``acoustic.receivers``                  (R, 3)      receiver positions (inside the room)
``acoustic.dims``                       (1, 3)      (Lx, Ly, Lz) of a shoebox room (moves geometry)
``acoustic.vertex_positions``           (3 V,)      room mesh vertices of other rooms (moves geometry)
======================================  ==========  ==============================================

Values are Dr.Jit float64 arrays (``mi.Float64``, ``mi.Vector3d``): ``dr.enable_grad(params[name])``
attaches the very value :func:`integrators.acoustic.simulate` reads, so gradients of an impulse
response flow back to it. Assignments are validated and written through to the room (its NumPy
arrays, materials, sources ...), so the room and its parameters always agree; a room changed directly
(e.g. ``room.materials[w] = ...``) is picked up on the next read.

Mounted in a :class:`scenes.ParameterMap` (:meth:`scenes.ParameterMap.attach`), a room loaded from a
Mitsuba scene shows each wall's optical and acoustic parameters side by side (``floor.vertex_positions``,
``floor.bsdf.reflectance.value``, ``floor.absorption``, ``floor.scattering``).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from penumbra.renderer.arrays import to_numpy

from .errors import ParameterError
from .parameters import ParameterInfo, ParameterSet, shape_of
from .room import point_inside

MATERIAL_FIELDS = ("absorption", "scattering")
SOURCES, RECEIVERS = "acoustic.sources", "acoustic.receivers"
DIMS, VERTICES = "acoustic.dims", "acoustic.vertex_positions"


def _mi():
    import mitsuba as mi
    from penumbra.renderer import ensure_variant
    ensure_variant()
    return mi


def outside_rows(points: np.ndarray, box=None, vertices=None, faces=None) -> np.ndarray:
    """Indices of the rows of ``points`` (N, 3) that are not strictly inside the room: the box
    ``(0, Lx) x (0, Ly) x (0, Lz)`` when ``box`` is given, else the closed mesh (ray parity)."""
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    if box is not None:
        L = np.asarray(box, np.float64).reshape(3)
        return np.flatnonzero(~(np.all(pts > 0, axis=1) & np.all(pts < L, axis=1)))
    V = np.asarray(vertices, np.float64).reshape(-1, 3)
    return np.array([i for i, p in enumerate(pts) if not point_inside(p, V, faces)], np.int64)


class RoomParameters(ParameterSet):
    """The acoustic parameters of ``room`` (see the module docstring); ``room.params`` holds one."""

    kind = "room"

    def __init__(self, room):
        self.room = room
        self._values: dict[str, tuple] = {}    # name -> (Dr.Jit value, the room's NumPy value it mirrors)

    # --- the protocol ---------------------------------------------------------------------------
    def keys(self):
        names = [f"{w}.{f}" for w in self.room.wall_names for f in MATERIAL_FIELDS]
        return names + [SOURCES, RECEIVERS, DIMS if self.room.box is not None else VERTICES]

    def __contains__(self, name):
        if name in (SOURCES, RECEIVERS):
            return True
        if name in (DIMS, VERTICES):
            return (name == DIMS) == (self.room.box is not None)
        wall, _, field = str(name).rpartition(".")
        return field in MATERIAL_FIELDS and wall in self.room.wall_names

    def info(self, name) -> ParameterInfo:
        self.check_name(name)
        value = self._read(name)
        shape = shape_of(value)
        if name in (SOURCES, RECEIVERS):
            return ParameterInfo(name, type(value).__name__, shape, True, False, "Room")
        if name in (DIMS, VERTICES):
            return ParameterInfo(name, type(value).__name__, shape, True, True, "Room",
                                 lower=1e-9 if name == DIMS else None)
        return ParameterInfo(name, type(value).__name__, shape, True, False, "AcousticMaterial", 0.0, 1.0)

    def _host(self, name) -> np.ndarray:
        """The room's current NumPy value of ``name``."""
        room = self.room
        if name == SOURCES:
            return room.sources
        if name == RECEIVERS:
            return room.receivers
        if name == DIMS:
            return np.asarray(room.box, np.float64).reshape(1, 3)
        if name == VERTICES:
            return room.vertices.reshape(-1)
        wall, _, field = name.rpartition(".")
        return getattr(room.materials[room.wall_names.index(wall)], field)

    def _read(self, name):
        host = self._host(name)
        cached = self._values.get(name)
        if cached is None or cached[1].shape != host.shape or not np.array_equal(cached[1], host):
            mi = _mi()
            if host.ndim == 2:
                value = mi.Vector3d(*[mi.Float64(np.ascontiguousarray(host[:, a])) for a in range(3)])
            else:
                value = mi.Float64(np.ascontiguousarray(host))
            self._values[name] = cached = (value, np.array(host))
        return cached[0]

    def _write(self, name, value):
        import drjit as dr
        room = self.room
        host = np.asarray(to_numpy(dr.detach(value)), np.float64).reshape(self._host(name).shape)
        if name == SOURCES:
            room.sources = host.copy()
        elif name == RECEIVERS:
            room.receivers = host.copy()
        elif name == DIMS:
            L = host.reshape(3)
            room.vertices = room.vertices / np.asarray(room.box, np.float64) * L
            room.box = L.copy()
        elif name == VERTICES:
            room.vertices = host.reshape(-1, 3).copy()
        else:
            wall, _, field = name.rpartition(".")
            w = room.wall_names.index(wall)
            room.materials[w] = dataclasses.replace(room.materials[w], **{field: host.copy()})
        self._values[name] = (value, np.array(self._host(name)))

    def _check_value(self, name, array):
        room = self.room
        if name in (SOURCES, RECEIVERS):
            kind = "source" if name == SOURCES else "receiver"
            bad = outside_rows(array, room.box, room.vertices, room.faces)
            if len(bad):
                raise ParameterError(f"parameter {name!r}: {kind} {int(bad[0])} at "
                                     f"{np.round(array.reshape(-1, 3)[bad[0]], 4).tolist()} is outside the room")
        elif name in (DIMS, VERTICES):
            geometry = dict(box=array.reshape(3)) if name == DIMS else \
                dict(vertices=array.reshape(-1, 3), faces=room.faces)
            for what, pts in (("source", room.sources), ("receiver", room.receivers)):
                bad = outside_rows(pts, **geometry)
                if len(bad):
                    raise ParameterError(f"parameter {name!r}: the new room leaves {what} {int(bad[0])} at "
                                         f"{np.round(pts[bad[0]], 4).tolist()} outside the room")

    # --- the integrator's packed view ---------------------------------------------------------------
    def any_grad_enabled(self) -> bool:
        """Whether gradients are enabled on any value this set has handed out (a value never read cannot
        be AD-attached; one whose room value changed since is replaced on its next read, so True may be
        conservative)."""
        import drjit as dr
        return any(dr.grad_enabled(v) for v, _ in self._values.values())

    def check_packed(self, host: dict, source: int = 0, receiver: int = 0):
        """Validate the acoustic integrator's packed inputs given as NumPy arrays (keys ``source``,
        ``receiver`` (3,), ``absorption``, ``scattering`` (W * 7), ``dims`` (3,) or ``vertices``
        (3 V,); missing keys keep the room's values) by the same rules as assignments, positions
        checked against the packed geometry. Values equal to the room's own (validated when set) are
        not checked again."""
        room = self.room
        for field in MATERIAL_FIELDS:
            if field in host:
                vals = np.asarray(host[field], np.float64).reshape(-1)
                if vals.size != 7 * room.n_walls:
                    raise ParameterError(f"{field}: expected {7 * room.n_walls} values (7 octave bands for "
                                         f"each of the {room.n_walls} walls), got {vals.size}")
                own = getattr(room, field)().reshape(-1)
                for w, wall in enumerate(room.wall_names):
                    if not np.array_equal(vals[7 * w:7 * w + 7], own[7 * w:7 * w + 7]):
                        self.validate(f"{wall}.{field}", vals[7 * w:7 * w + 7])
        geometry = dict(box=room.box) if room.box is not None else dict(vertices=room.vertices, faces=room.faces)
        moved = False
        if "dims" in host and room.box is not None and not np.array_equal(host["dims"], room.box):
            moved = True
            self.validate(DIMS, host["dims"], check_scene=False)
            geometry = dict(box=np.asarray(host["dims"], np.float64).reshape(3))
        if "vertices" in host and room.box is None and not np.array_equal(host["vertices"], room.vertices.reshape(-1)):
            moved = True
            self.validate(VERTICES, host["vertices"], check_scene=False)
            geometry = dict(vertices=np.asarray(host["vertices"], np.float64).reshape(-1, 3), faces=room.faces)
        for key, name, index, rows in (("source", SOURCES, source, room.sources),
                                       ("receiver", RECEIVERS, receiver, room.receivers)):
            p = np.asarray(host.get(key, rows[index]), np.float64).reshape(-1)
            pts = np.array(rows)
            if p.size != 3:
                raise ParameterError(f"{key}: expected a 3D position, got {p.size} values")
            if not moved and np.array_equal(p, rows[index]):
                continue
            pts[index] = p
            self.validate(name, pts, check_scene=False)
            if len(outside_rows(p, **geometry)):
                raise ParameterError(f"{key} at {np.round(p, 4).tolist()} is outside the room")
