"""Rooms for the acoustic integrator: closed triangle meshes with per-wall acoustic materials,
sources, receivers and the propagation medium (speed of sound, air absorption).

A :class:`Room` is plain data (NumPy arrays); the integrators in ``integrators/acoustic`` turn it into
impulse responses. Rooms come from

* :func:`shoebox` -- a rectangular room ``[0, Lx] x [0, Ly] x [0, Lz]`` by its dimensions (the image
  sources then form a lattice, see ``integrators.acoustic.shoebox``);
* :func:`extruded_room` -- a floor polygon extruded to a height (e.g. an L-shaped room);
* :func:`load_room` -- any closed room mesh: a Mitsuba XML file / XML string / scene dict / ``mi.Scene``
  (the same file the path tracer renders) or arrays. Every triangle shape of the scene becomes part
  of the room surface; coplanar triangles of one shape form one *wall*, and the wall gets the
  acoustic material given for its shape id.

Conventions: SI units, metres, Hz. Octave bands 125 Hz - 8 kHz (:data:`BANDS_HZ`). Absorption and
scattering are random-incidence *energy* coefficients in [0, 1]; a wall reflects pressure with the
factor sqrt(1 - alpha) (sign convention: see the integrator's ``reflection_sign`` option).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings

import numpy as np

from penumbra.renderer import checks

from .errors import SceneError

BANDS_HZ = np.array([125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0])
_TABLE_PATH = os.path.join(os.path.dirname(__file__), "acoustic_materials.json")
_TABLE = None

SHOEBOX_WALLS = ("west", "east", "south", "north", "floor", "ceiling")  # x=0, x=Lx, y=0, y=Ly, z=0, z=Lz


# pyroomacoustics 0.10.1's air absorption table (1e-3 / m, energy), rows by temperature and humidity.
_PRA_AIR = {"10C_30-50%": [0.1, 0.2, 0.5, 1.1, 2.7, 9.4, 29.0], "10C_50-70%": [0.1, 0.2, 0.5, 0.8, 1.8, 5.9, 21.1],
            "10C_70-90%": [0.1, 0.2, 0.5, 0.7, 1.4, 4.4, 15.8], "20C_30-50%": [0.1, 0.3, 0.6, 1.0, 1.9, 5.8, 20.3],
            "20C_50-70%": [0.1, 0.3, 0.6, 1.0, 1.7, 4.1, 13.5], "20C_70-90%": [0.1, 0.3, 0.6, 1.1, 1.7, 3.5, 10.6]}


class RoomError(SceneError):
    """Invalid room description (open mesh, source outside, bad absorption, NaN position, ...)."""


class RoomWarning(UserWarning):
    """A room mesh was repaired or has small holes that are tolerated (see :func:`load_room`)."""


# ----------------------------------------------------------------------------------------------
# Materials

@dataclasses.dataclass(frozen=True)
class AcousticMaterial:
    """Energy absorption and scattering coefficients at the 7 octave bands of :data:`BANDS_HZ`."""
    name: str
    absorption: np.ndarray
    scattering: np.ndarray
    description: str = ""

    def __post_init__(self):
        for what in ("absorption", "scattering"):
            v = np.asarray(getattr(self, what), dtype=np.float64)
            v = np.broadcast_to(v, (len(BANDS_HZ),)).copy() if v.size in (1, len(BANDS_HZ)) else v
            if v.shape != (len(BANDS_HZ),):
                raise RoomError(f"material {self.name!r}: {what} needs 1 or {len(BANDS_HZ)} values (octave "
                                f"bands {BANDS_HZ.astype(int).tolist()} Hz), "
                                f"got {np.asarray(getattr(self, what)).size}")
            if not np.all(np.isfinite(v)):
                raise RoomError(f"material {self.name!r}: {what} contains NaN/Inf")
            if v.min() < 0.0 or v.max() > 1.0:
                raise RoomError(f"material {self.name!r}: {what} must lie in [0, 1], got {v.tolist()}")
            object.__setattr__(self, what, v)


def material_table() -> dict:
    """The bundled table of named materials (``scenes/acoustic_materials.json``)."""
    global _TABLE
    if _TABLE is None:
        with open(_TABLE_PATH) as f:
            _TABLE = json.load(f)
    return _TABLE


def list_materials() -> list[str]:
    return sorted(material_table()["materials"])


def material(spec, name: str | None = None) -> AcousticMaterial:
    """An :class:`AcousticMaterial` from a table name, an absorption value / 7 band values, a dict
    ``{"absorption": ..., "scattering": ...}`` or an existing material."""
    if isinstance(spec, AcousticMaterial):
        return spec
    if isinstance(spec, str):
        table = material_table()["materials"]
        if spec not in table:
            raise RoomError(f"unknown acoustic material {spec!r}; bundled materials: {', '.join(sorted(table))}")
        m = table[spec]
        return AcousticMaterial(spec, m["absorption"], m["scattering"], m.get("description", ""))
    if isinstance(spec, dict):
        if "absorption" not in spec:
            raise RoomError(f"material dict {spec!r} needs an 'absorption' entry")
        return AcousticMaterial(spec.get("name", name or "custom"), spec["absorption"], spec.get("scattering", 0.0))
    return AcousticMaterial(name or "custom", spec, 0.0)


# ----------------------------------------------------------------------------------------------
# Medium

def speed_of_sound(temperature: float = 20.0, humidity: float = 50.0) -> float:
    """Speed of sound in air (m/s), Cramer's simplified fit as used by pyroomacoustics:
    331.4 + 0.6 T + 0.0124 H (T in C, H relative humidity in %)."""
    return 331.4 + 0.6 * temperature + 0.0124 * humidity


def air_absorption_iso9613(freqs, temperature: float = 20.0, humidity: float = 50.0,
                           pressure_kpa: float = 101.325) -> np.ndarray:
    """Air absorption energy coefficient m (1/m) at ``freqs`` after ISO 9613-1:1993 (eq. 3-5, annex B);
    the pressure amplitude decays as exp(-m d / 2)."""
    f = np.asarray(freqs, dtype=np.float64)
    T = temperature + 273.15
    T0, T01, pr = 293.15, 273.16, 101.325
    pa = pressure_kpa / pr
    psat = 10.0 ** (-6.8346 * (T01 / T) ** 1.261 + 4.6151)
    h = humidity * psat / pa
    frO = pa * (24.0 + 4.04e4 * h * (0.02 + h) / (0.391 + h))
    frN = pa * (T / T0) ** -0.5 * (9.0 + 280.0 * h * math.exp(-4.170 * ((T / T0) ** (-1.0 / 3.0) - 1.0)))
    alpha_db = 8.686 * f ** 2 * (1.84e-11 / pa * (T / T0) ** 0.5 + (T / T0) ** -2.5 * (
        0.01275 * np.exp(-2239.1 / T) / (frO + f ** 2 / frO) + 0.1068 * np.exp(-3352.0 / T) / (frN + f ** 2 / frN)))
    return alpha_db / (10.0 * math.log10(math.e))


# ----------------------------------------------------------------------------------------------
# Geometry helpers (NumPy, float64)

def _plane_groups(V, F, tol=1e-6):
    """Group the triangles of one shape by supporting plane (normal up to sign, offset): a triangle joins
    the first group whose plane holds its three corners (within ``tol`` x the mesh size) and whose normal
    is parallel to its own (within ``tol``). Vectorised over the triangles, one pass per group."""
    e1, e2 = V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]
    n = np.cross(e1, e2)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)
    scale = max(float(np.ptp(V, axis=0).max()), 1e-9)
    groups = np.full(len(F), -1)
    g = 0
    while True:
        free = np.flatnonzero(groups < 0)
        if not len(free):
            return groups
        i = free[0]
        ng, dg = n[i], float(np.dot(n[i], V[F[i, 0]]))
        same = (np.abs(np.abs(n[free] @ ng) - 1) < tol) & np.all(np.abs(V[F[free]] @ ng - dg) < tol * scale, axis=1)
        same[0] = True
        groups[free[same]] = g
        g += 1


def _weld(V, F, tol=None):
    """Merge vertices closer than ``tol`` (default 1e-7 x the mesh size; chains of close vertices merge
    into one, found with a k-d tree): (welded vertices, re-indexed faces)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree
    scale = max(float(np.ptp(V, axis=0).max()), 1e-9)
    tol = 1e-7 * scale if tol is None else float(tol)
    pairs = cKDTree(V).query_pairs(tol, output_type="ndarray")
    n = len(V)
    if len(pairs) == 0:
        _, first, inv = np.unique(V, axis=0, return_index=True, return_inverse=True)
        return V[first], inv.reshape(-1)[F]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    _, first = np.unique(label, return_index=True)
    return V[first], label[F]


def _degenerate(V, F, tol):
    """Boolean per triangle: repeated corners, or a height (twice the area over the longest side) below
    ``tol`` (a sliver that has no inside)."""
    e = [V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 1]], V[F[:, 0]] - V[F[:, 2]]]
    longest = np.max([np.linalg.norm(x, axis=1) for x in e], axis=0)
    twice_area = np.linalg.norm(np.cross(e[0], -e[2]), axis=1)
    repeated = (F[:, 0] == F[:, 1]) | (F[:, 1] == F[:, 2]) | (F[:, 2] == F[:, 0])
    return repeated | (twice_area <= tol * np.maximum(longest, 1e-300))


def _open_edges(F):
    e = np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), axis=1)
    uniq, counts = np.unique(e, axis=0, return_counts=True)
    return uniq[counts != 2], counts[counts != 2]


def find_holes(V, F, face_wall=None, wall_names=None) -> list:
    """The holes of a triangle mesh: connected loops of open edges (edges of one triangle only), each a
    dict with ``centre`` (3,), ``area`` (m^2, the norm of the loop's vector area, 0 for a crack between
    triangles that meet without sharing vertices), ``perimeter`` (m), ``longest_edge`` (m), ``edges``
    (count) and ``walls`` (names of the walls around it, when ``face_wall``/``wall_names`` are given)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    he = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    tri = np.tile(np.arange(len(F)), 3)
    key = np.sort(he, axis=1)
    _, inv, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    open_he = counts[inv] == 1
    if not open_he.any():
        return []
    E, T = he[open_he], tri[open_he]
    n = len(V)
    _, label = connected_components(coo_matrix((np.ones(len(E)), (E[:, 0], E[:, 1])), shape=(n, n)),
                                    directed=False)
    comp = label[E[:, 0]]
    holes = []
    for c in np.unique(comp):
        e, t = E[comp == c], T[comp == c]
        a, b = V[e[:, 0]], V[e[:, 1]]
        centre = np.unique(np.concatenate([a, b]), axis=0).mean(axis=0)
        area = 0.5 * float(np.linalg.norm(np.cross(a - centre, b - centre).sum(axis=0)))
        lengths = np.linalg.norm(b - a, axis=1)
        walls = sorted({wall_names[w] for w in face_wall[t]}) if face_wall is not None else []
        holes.append(dict(centre=centre, area=area, perimeter=float(lengths.sum()),
                          longest_edge=float(lengths.max()), edges=len(e), walls=walls))
    return holes


def describe_hole(h) -> str:
    walls = f", between {', '.join(map(repr, h['walls']))}" if h["walls"] else ""
    return (f"hole at {np.round(h['centre'], 3).tolist()} ({h['edges']} open edges, area {h['area']:.4g} m^2, "
            f"perimeter {h['perimeter']:.4g} m{walls})")


def _ray_crossings(p, d, V, F):
    """Number of triangles hit by the ray p + t d, t > 0 (Moller-Trumbore, vectorised)."""
    a, b, c = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]
    e1, e2 = b - a, c - a
    h = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, h)
    ok = np.abs(det) > 1e-14
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = p - a
    u = inv * np.einsum("ij,ij->i", s, h)
    q = np.cross(s, e1)
    v = inv * (q @ d)
    t = inv * np.einsum("ij,ij->i", e2, q)
    hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-12)
    return int(hit.sum())


def point_inside(p, V, F) -> bool:
    """Ray-parity inside test, majority vote over 3 irrational directions (robust to edges)."""
    dirs = np.array([[0.5377, 0.8308, 0.1432], [-0.2741, 0.3371, -0.9007], [0.8731, -0.4112, 0.2620]])
    votes = sum(_ray_crossings(np.asarray(p, float), d / np.linalg.norm(d), V, F) % 2 for d in dirs)
    return votes >= 2


def _position(value, what) -> np.ndarray:
    p = np.asarray(value, dtype=np.float64)
    if p.shape != (3,):
        raise RoomError(f"{what} must be a 3D position (x, y, z), got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise RoomError(f"{what} position {p.tolist()} contains NaN/Inf")
    return p


# ----------------------------------------------------------------------------------------------
# Room

@dataclasses.dataclass
class Room:
    """A closed room: welded triangle mesh, wall ids per triangle, one material per wall, sources,
    receivers and medium. ``box`` holds (Lx, Ly, Lz) for shoebox rooms (axis-aligned at the origin)."""
    vertices: np.ndarray            # (V, 3) float64
    faces: np.ndarray               # (F, 3) int64
    face_wall: np.ndarray           # (F,) wall index of each triangle
    wall_names: list
    materials: list                 # AcousticMaterial per wall
    sources: np.ndarray             # (S, 3)
    receivers: np.ndarray           # (R, 3)
    fs: int = 16000
    c: float = 343.0
    temperature: float = 20.0
    humidity: float = 50.0
    air_absorption: object = False  # False, True/"iso9613", "pyroomacoustics" (its table) or 7 coefficients (1/m)
    box: np.ndarray | None = None
    max_hole: float = 0.0           # largest tolerated hole area, as a fraction of the surface area
    frame: np.ndarray | None = None  # (3, 3) file-to-room map (rotation x scale) of rooms read from files
    repairs: dict = dataclasses.field(default_factory=dict)  # what loading fixed (welds, dropped triangles)

    def __post_init__(self):
        self.vertices = np.asarray(self.vertices, np.float64)
        self.faces = np.asarray(self.faces, np.int64)
        self.face_wall = np.asarray(self.face_wall, np.int64)
        self.sources = np.atleast_2d(np.asarray(self.sources, np.float64))
        self.receivers = np.atleast_2d(np.asarray(self.receivers, np.float64))
        self.validate()

    # -- validation ----------------------------------------------------------------------------
    def validate(self):
        V, F = self.vertices, self.faces
        if V.ndim != 2 or V.shape[1] != 3 or F.ndim != 2 or F.shape[1] != 3 or len(F) < 4:
            raise RoomError("room mesh must have vertices (V, 3) and at least 4 faces (F, 3); "
                            f"got {V.shape}, {F.shape}")
        if not np.all(np.isfinite(V)):
            raise RoomError("room mesh vertex positions contain NaN/Inf")
        open_e, counts = _open_edges(F)
        if np.any(counts > 2):
            k = int(np.argmax(counts > 2))
            a, b = V[open_e[k, 0]], V[open_e[k, 1]]
            raise RoomError(f"room mesh is not a closed surface: {int(np.sum(counts > 2))} edge(s) are shared by "
                            f"more than two triangles, e.g. the edge {np.round(a, 4).tolist()} - "
                            f"{np.round(b, 4).tolist()} used {counts[k]} times (inner partitions or overlapping "
                            "objects; give one closed surface around the air volume)")
        self.holes = find_holes(V, F, self.face_wall, self.wall_names) if len(open_e) else []
        if self.holes:
            surface = float(self.wall_areas().sum()) if len(self.face_wall) == len(F) else 0.0
            limit = self.max_hole * surface
            gross = [h for h in self.holes if h["area"] > limit]
            if gross:
                rule = (f"larger than max_hole = {self.max_hole:g} x the surface area ({limit:.4g} m^2)"
                        if self.max_hole > 0 else "(max_hole = 0: no hole is tolerated)")
                raise RoomError(f"room mesh is not closed: {len(open_e)} edge(s) are not shared by exactly two "
                                f"triangles; {len(gross)} opening(s) {rule}: "
                                + "; ".join(describe_hole(h) for h in gross[:5])
                                + (" ..." if len(gross) > 5 else "")
                                + " (an open room leaks its sound: close the surface in the modelling tool)")
        if len(self.materials) != len(self.wall_names):
            raise RoomError(f"{len(self.wall_names)} walls but {len(self.materials)} materials")
        self.materials = [material(m) for m in self.materials]
        if not (self.fs > 0 and np.isfinite(self.fs)):
            raise RoomError(f"sampling rate fs must be positive, got {self.fs}")
        if not (self.c > 0 and np.isfinite(self.c)):
            raise RoomError(f"speed of sound c must be positive, got {self.c}")
        for kind, pts in (("source", self.sources), ("receiver", self.receivers)):
            if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
                raise RoomError(f"{kind}s must be an array of 3D positions (N, 3), got shape {pts.shape}")
            for i, p in enumerate(pts):
                _position(p, f"{kind} {i}")
                if not self.contains(p):
                    raise RoomError(f"{kind} {i} at {np.round(p, 4).tolist()} is outside the room "
                                    f"(bounding box {np.round(V.min(0), 3).tolist()} - "
                                    f"{np.round(V.max(0), 3).tolist()})")
        if not isinstance(self.air_absorption, (bool, str)):
            m = np.asarray(self.air_absorption, np.float64)
            if m.shape != (len(BANDS_HZ),) or not np.all(np.isfinite(m)) or m.min() < 0:
                raise RoomError(f"air_absorption must be True/False or {len(BANDS_HZ)} non-negative coefficients (1/m)")

    def contains(self, p) -> bool:
        p = np.asarray(p, np.float64)
        if self.box is not None:
            return bool(np.all(p > 0) and np.all(p < self.box))
        return point_inside(p, self.vertices, self.faces)

    # -- derived quantities ----------------------------------------------------------------------
    @property
    def n_walls(self) -> int:
        return len(self.wall_names)

    def absorption(self) -> np.ndarray:
        """(W, 7) energy absorption coefficients."""
        return np.stack([m.absorption for m in self.materials])

    def scattering(self) -> np.ndarray:
        return np.stack([m.scattering for m in self.materials])

    def air_coefficients(self) -> np.ndarray:
        """(7,) air absorption energy coefficients m (1/m); zeros when disabled."""
        if self.air_absorption is True or self.air_absorption == "iso9613":
            return air_absorption_iso9613(BANDS_HZ, self.temperature, self.humidity)
        if isinstance(self.air_absorption, str):
            if self.air_absorption != "pyroomacoustics":
                raise RoomError(f"unknown air absorption model {self.air_absorption!r} (use 'iso9613', "
                                "'pyroomacoustics' or 7 coefficients)")
            key = ("10C_" if self.temperature < 15 else "20C_") + (
                "30-50%" if self.humidity < 50 else "50-70%" if self.humidity < 70 else "70-90%")
            return np.array(_PRA_AIR[key]) * 1e-3
        if self.air_absorption is False:
            return np.zeros(len(BANDS_HZ))
        return np.asarray(self.air_absorption, np.float64)

    def wall_triangles(self) -> np.ndarray:
        """(W, 3) index of one representative (largest) triangle per wall, defining its plane."""
        V, F = self.vertices, self.faces
        area = 0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1)
        rep = np.zeros((self.n_walls, 3), np.int64)
        for w in range(self.n_walls):
            idx = np.flatnonzero(self.face_wall == w)
            rep[w] = F[idx[np.argmax(area[idx])]]
        return rep

    def wall_areas(self) -> np.ndarray:
        V, F = self.vertices, self.faces
        area = 0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1)
        return np.bincount(self.face_wall, weights=area, minlength=self.n_walls)

    def volume(self) -> float:
        V, F = self.vertices, self.faces
        return abs(float(np.einsum("ij,ij->i", V[F[:, 0]], np.cross(V[F[:, 1]], V[F[:, 2]])).sum()) / 6.0)

    def sabine(self) -> np.ndarray:
        """Sabine reverberation time per band, 0.161 V / (sum S_i alpha_i + 4 m V)."""
        A = self.wall_areas() @ self.absorption() + 4 * self.air_coefficients() * self.volume()
        return 24 * math.log(10) / self.c * self.volume() / np.maximum(A, 1e-12)

    def eyring(self) -> np.ndarray:
        """Eyring reverberation time per band, with the area-weighted mean absorption."""
        S = self.wall_areas()
        a = np.clip(S @ self.absorption() / S.sum(), 0, 1 - 1e-12)
        A = -S.sum() * np.log(1 - a) + 4 * self.air_coefficients() * self.volume()
        return 24 * math.log(10) / self.c * self.volume() / np.maximum(A, 1e-12)

    def mitsuba_mesh(self):
        """The whole room surface as one ``mi.Mesh`` (used for ray-traced visibility)."""
        from .meshes import mesh_from_arrays
        return mesh_from_arrays(self.vertices, self.faces, name="room")

    def mitsuba_scene_dict(self, reflectance=0.6) -> dict:
        """A renderable scene dict with one mesh per wall (shape ids = wall names) for the path tracer."""
        from .meshes import mesh_from_arrays
        d = {"type": "scene"}
        for w, name in enumerate(self.wall_names):
            F = self.faces[self.face_wall == w]
            used = np.unique(F)
            remap = np.full(len(self.vertices), -1)
            remap[used] = np.arange(len(used))
            d[name] = mesh_from_arrays(self.vertices[used], remap[F], name=name,
                                       bsdf={"type": "diffuse",
                                             "reflectance": {"type": "rgb", "value": [reflectance] * 3}})
        return d

    @property
    def params(self):
        """The room's :class:`scenes.room_parameters.RoomParameters`: the named, validated quantities the
        acoustic integrator reads (wall materials, source and receiver positions, geometry)."""
        p = self.__dict__.get("_parameters")
        if p is None:
            from .room_parameters import RoomParameters
            p = self.__dict__["_parameters"] = RoomParameters(self)
        return p

    def with_positions(self, source=None, receiver=None) -> "Room":
        """A copy with the (single) source and/or receiver replaced (validated)."""
        return dataclasses.replace(self, sources=self.sources if source is None else np.atleast_2d(source),
                                   receivers=self.receivers if receiver is None else np.atleast_2d(receiver))


def _materials_for(names, materials, default):
    if isinstance(materials, dict) and "absorption" in materials:   # one material spec for every wall
        return [material(materials, name=n) for n in names]
    if materials is None or isinstance(materials, (str, AcousticMaterial, float, int, list, tuple, np.ndarray)) \
            and not isinstance(materials, dict):
        spec = default if materials is None else materials
        return [material(spec, name=n) for n in names]
    unknown = set(materials) - set(names)
    if unknown:
        raise RoomError(f"materials given for unknown wall(s)/shape(s) {sorted(unknown)}; walls are {list(names)}")
    return [material(materials.get(n, default), name=n) for n in names]


def _medium(temperature, humidity, c):
    """The propagation medium's keyword arguments of :class:`Room`, range-checked."""
    humidity = checks.number("humidity (relative, %)", humidity, 0.0, 100.0)
    if temperature is not None:
        temperature = checks.number("temperature (deg C)", temperature, -273.15, open_lo=True)
    if c is not None:
        c = checks.positive("speed of sound c (m/s)", c)
    if c is None:
        c = speed_of_sound(temperature, humidity) if temperature is not None else 343.0
    return dict(c=float(c), temperature=20.0 if temperature is None else float(temperature),
                humidity=float(humidity))


def shoebox(dims, source, receiver, materials="hard_surface", fs: int = 16000, c: float | None = None,
            temperature: float | None = None, humidity: float = 50.0, air_absorption=False) -> Room:
    """A rectangular room ``[0, Lx] x [0, Ly] x [0, Lz]``.

    ``materials``: one material spec for all walls or a dict by wall name (``west`` x=0, ``east``
    x=Lx, ``south`` y=0, ``north`` y=Ly, ``floor`` z=0, ``ceiling`` z=Lz); a spec is a bundled
    material name, an absorption value / 7 octave-band values, or ``{"absorption", "scattering"}``.
    ``c`` defaults to 343 m/s, or to :func:`speed_of_sound` when ``temperature`` is given.
    ``air_absorption``: False, True (ISO 9613-1 at temperature/humidity) or 7 coefficients (1/m).
    Multiple sources/receivers: pass (N, 3) arrays.
    """
    L = np.asarray(dims, np.float64)
    if L.shape != (3,) or not np.all(np.isfinite(L)) or np.any(L <= 0):
        raise RoomError(f"shoebox dimensions must be 3 positive finite lengths, got {np.asarray(dims).tolist()}")
    x, y, z = L
    V = np.array([[0, 0, 0], [x, 0, 0], [x, y, 0], [0, y, 0], [0, 0, z], [x, 0, z], [x, y, z], [0, y, z]], float)
    quads = {"west": [0, 4, 7, 3], "east": [1, 2, 6, 5], "south": [0, 1, 5, 4], "north": [3, 7, 6, 2],
             "floor": [0, 3, 2, 1], "ceiling": [4, 5, 6, 7]}  # all wound with outward normals
    F, fw = [], []
    for w, name in enumerate(SHOEBOX_WALLS):
        a, b, cc, d = quads[name]
        F += [[a, b, cc], [a, cc, d]]
        fw += [w, w]
    return Room(V, np.array(F), np.array(fw), list(SHOEBOX_WALLS),
                _materials_for(SHOEBOX_WALLS, materials, "hard_surface"),
                source, receiver, fs=checks.integer("sampling rate fs", fs, lo=1), air_absorption=air_absorption,
                box=L, **_medium(temperature, humidity, c))


def _self_intersection(P):
    """(i, j) of the first two non-adjacent sides of the closed polygon ``P`` that touch or cross,
    or None when the polygon is simple (also catches repeated corners and collinear overlaps)."""
    n = len(P)
    A, B = P, np.roll(P, -1, axis=0)

    def orient(p, q, r):
        return np.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))

    def on_segment(p, q, r):   # r on segment pq, given collinear
        return (min(p[0], q[0]) <= r[0] <= max(p[0], q[0])) and (min(p[1], q[1]) <= r[1] <= max(p[1], q[1]))

    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                if np.allclose(A[i], A[j]) or np.allclose(B[i], B[j]):
                    return i, j    # a repeated corner
                continue
            o1, o2 = orient(A[i], B[i], A[j]), orient(A[i], B[i], B[j])
            o3, o4 = orient(A[j], B[j], A[i]), orient(A[j], B[j], B[i])
            if o1 != o2 and o3 != o4:
                return i, j
            if ((o1 == 0 and on_segment(A[i], B[i], A[j])) or (o2 == 0 and on_segment(A[i], B[i], B[j]))
                    or (o3 == 0 and on_segment(A[j], B[j], A[i])) or (o4 == 0 and on_segment(A[j], B[j], B[i]))):
                return i, j
    return None


def extruded_room(floor, height, source, receiver, materials="hard_surface", fs: int = 16000, c=None,
                  temperature=None, humidity: float = 50.0, air_absorption=False) -> Room:
    """A room from a simple floor polygon ``(N, 2)`` (x, y corners, either winding) extruded from z=0 to
    ``height``. Walls: ``wall0`` .. ``wall{N-1}`` (side i joins corners i and i+1), ``floor``, ``ceiling``."""
    P = np.asarray(floor, np.float64)
    if P.ndim != 2 or P.shape[1] != 2 or len(P) < 3 or not np.all(np.isfinite(P)):
        raise RoomError(f"floor polygon must be (N >= 3, 2) finite corners, got shape {P.shape}")
    if not (np.isfinite(height) and height > 0):
        raise RoomError(f"room height must be positive, got {height}")
    crossing = _self_intersection(P)
    if crossing is not None:
        i, j = crossing
        raise RoomError(f"floor polygon is not simple: side {i} (corners {i}-{(i + 1) % len(P)}) meets side {j} "
                        f"(corners {j}-{(j + 1) % len(P)}); give the corners in order around the room")
    area = 0.5 * np.sum(P[:, 0] * np.roll(P[:, 1], -1) - np.roll(P[:, 0], -1) * P[:, 1])
    if abs(area) <= 1e-12 * max(float(np.ptp(P, axis=0).max()), 1e-30) ** 2:
        raise RoomError("floor polygon has zero area")
    if area < 0:
        P = P[::-1]
    n = len(P)
    V = np.concatenate([np.c_[P, np.zeros(n)], np.c_[P, np.full(n, float(height))]])
    F, fw, names = [], [], [f"wall{i}" for i in range(n)] + ["floor", "ceiling"]
    for i in range(n):
        j = (i + 1) % n
        F += [[i, j, n + j], [i, n + j, n + i]]
        fw += [i, i]
    tri = triangulate_polygon(P)
    F += [[t[0], t[2], t[1]] for t in tri]
    fw += [n] * len(tri)
    F += [[n + t[0], n + t[1], n + t[2]] for t in tri]
    fw += [n + 1] * len(tri)
    return Room(V, np.array(F), np.array(fw), names, _materials_for(names, materials, "hard_surface"),
                source, receiver, fs=checks.integer("sampling rate fs", fs, lo=1), air_absorption=air_absorption,
                **_medium(temperature, humidity, c))


def triangulate_polygon(P):
    """Ear clipping of a counter-clockwise simple polygon."""
    idx = list(range(len(P)))
    tris = []

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    guard = 0
    while len(idx) > 3 and guard < 10 * len(P) ** 2:
        guard += 1
        for k in range(len(idx)):
            i0, i1, i2 = idx[k - 1], idx[k], idx[(k + 1) % len(idx)]
            a, b, c = P[i0], P[i1], P[i2]
            if cross(a, b, c) <= 1e-12:
                continue
            if any(cross(a, b, P[m]) >= 0 and cross(b, c, P[m]) >= 0 and cross(c, a, P[m]) >= 0
                   for m in idx if m not in (i0, i1, i2)):
                continue
            tris.append([i0, i1, i2])
            idx.pop(k)
            break
        else:
            raise RoomError("floor polygon is not simple (self-intersecting or degenerate)")
    tris.append(idx[:3])
    return tris


def load_room(path, *legacy, source=None, receiver=None, materials=None, default_material="hard_surface",
              fs: int | None = None, c=None, temperature=None, humidity: float | None = None, air_absorption=None,
              src=None, up="z", units="m", weld=None, max_hole: float = 1e-3) -> Room:
    """Load a closed room from ``path``: a mesh file (``.obj``, ``.ply``; other formats through trimesh
    when installed), a Mitsuba scene (XML path or string, scene dict, ``mi.Scene``), a JSON room
    description, or ``(vertices, faces)`` arrays.

    Every part becomes part of the room surface: the shapes of a Mitsuba scene, the groups (``g``) or
    objects (``o``) of an OBJ file (see :func:`scenes.mesh_files.read_obj`), a PLY file as one part.
    Its coplanar triangles form walls named ``<part>`` (or ``<part>.<k>`` when a part has several
    planes). ``materials`` maps part names, wall names or the file's material names (OBJ ``usemtl``)
    to material specs (see :func:`shoebox`); others get ``default_material``.
    ``source``/``receiver`` are the sound source and receiver positions ((3,) or (N, 3)) in the file's
    coordinates and units.

    Frame: ``up`` is the file's up axis (``"x"``, ``"y"``, ``"z"``, ``"-y"``, ...; ``"auto"``: detected,
    see :func:`scenes.mesh_files.detect_up`) and ``units`` its length unit (``"m"``, ``"cm"``, ``"mm"``,
    ``"ft"``, ``"in"`` or metres per unit). The room is stored z up in metres; ``room.frame`` is the
    (3, 3) map from file to room coordinates (positions too are converted by it).

    Imperfect meshes: vertices closer than ``weld`` metres (default 1e-7 x the room size) are merged,
    triangles thinner than that are dropped (counted in ``room.repairs``), and holes (loops of open
    edges) of area up to ``max_hole`` x the surface area each are tolerated, listed in ``room.holes``
    and reported by a :class:`RoomWarning`; larger openings are refused, naming them.

    A JSON file (``.json``) may hold ``{"shoebox": [Lx, Ly, Lz]}`` or ``{"floor": [[x, y], ...],
    "height": h}`` or ``{"scene": "room.xml"}`` plus ``source``, ``receiver``, ``materials``, ``fs``,
    ``temperature``, ``humidity``, ``air_absorption``; keyword arguments override the file.

    Deprecated: ``src=`` for the sound source and the positional ``load_room(path, receiver, src)``
    (both warn with a :class:`DeprecationWarning`).
    """
    if legacy:
        if len(legacy) > 2:
            raise TypeError("load_room takes the room path positionally and everything else by keyword "
                            "(source=..., receiver=..., materials=...)")
        warnings.warn("load_room(path, receiver, src) is deprecated; use load_room(path, source=..., receiver=...)",
                      DeprecationWarning, stacklevel=2)
        if receiver is not None or (len(legacy) > 1 and (src is not None or source is not None)):
            raise TypeError("load_room: receiver/source given both positionally and by keyword")
        receiver = legacy[0]
        if len(legacy) > 1:
            src = legacy[1]
    if src is not None:
        if source is not None:
            raise TypeError("load_room: give the sound source once, as source=... (src= is its deprecated name)")
        warnings.warn("load_room(src=...) is deprecated; the sound source is load_room(path, source=...)",
                      DeprecationWarning, stacklevel=2)
        source = src
    kw = dict(fs=fs, c=c, temperature=temperature, humidity=humidity, air_absorption=air_absorption)
    if isinstance(path, (str, os.PathLike)) and os.fspath(path).lower().endswith(".json"):
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"room file not found: {path}")
        try:
            with open(path) as f:
                desc = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RoomError(f"room file {path} is not valid JSON: {e}") from None
        if not isinstance(desc, dict):
            raise RoomError(f"room file {path} must hold a JSON object, got {type(desc).__name__}")
        try:
            return _room_from_description(path, desc, source, receiver, materials, default_material, kw)
        except (RoomError, ValueError, TypeError) as e:
            if path in str(e):
                raise
            raise RoomError(f"room file {path}: {e}") from e
    kw = _defaults(kw)
    if source is None or receiver is None:
        raise RoomError("load_room needs the sound source position (source=...) and the receiver position "
                        "(receiver=...)")
    return _room_from_geometry(path, source, receiver, materials, default_material, kw, up=up, units=units,
                               weld=weld, max_hole=max_hole)


def _room_from_description(path, desc, source, receiver, materials, default_material, kw):
    """The room of a parsed JSON room description ``desc`` (see :func:`load_room`)."""
    source = desc.get("source") if source is None else source
    receiver = desc.get("receiver") if receiver is None else receiver
    mats = desc.get("materials", default_material) if materials is None else materials
    for k in ("fs", "temperature", "humidity", "air_absorption", "c"):
        if kw[k] is None and k in desc:
            kw[k] = desc[k]
    if source is None or receiver is None:
        raise RoomError(f"{path}: the room needs a 'source' and a 'receiver' position")
    kw = _defaults(kw)
    if "shoebox" in desc:
        return shoebox(desc["shoebox"], source, receiver, materials=mats, **kw)
    if "floor" in desc:
        return extruded_room(desc["floor"], desc["height"], source, receiver, materials=mats, **kw)
    if "scene" in desc:
        scene_path = os.path.join(os.path.dirname(os.path.abspath(path)), desc["scene"])
        return load_room(scene_path, source=source, receiver=receiver,
                         materials=mats if isinstance(mats, dict) else None,
                         default_material=mats if not isinstance(mats, dict) else default_material, **kw)
    raise RoomError(f"{path}: expected one of 'shoebox', 'floor' (+ 'height') or 'scene'")


def _room_from_geometry(path, source, receiver, materials, default_material, kw, up="z", units="m",
                        weld=None, max_hole=1e-3):
    """The room bounded by the meshes of ``path`` (a mesh file, a Mitsuba scene, file or dict, or a
    ``(vertices, faces)`` pair; see :func:`load_room`)."""
    from .mesh_files import MeshFileError, detect_up, read_mesh, unit_scale, up_rotation
    pieces = []  # (part name, V, F, material name or None)
    try:
        scale = unit_scale(units)
        if isinstance(path, tuple) and len(path) == 2:
            pieces.append(("room", np.asarray(path[0], np.float64), np.asarray(path[1], np.int64), None))
        elif isinstance(path, (str, os.PathLike)) and os.path.splitext(os.fspath(path))[1].lower() not in (
                ".xml", "") and not os.fspath(path).lstrip().startswith("<"):
            pieces = read_mesh(path)
        else:
            pieces = _scene_pieces(path)
    except MeshFileError as e:
        raise RoomError(str(e)) from None
    if not pieces:
        raise RoomError("the scene has no shapes to build a room from")
    is_file = isinstance(path, (str, os.PathLike)) and not os.fspath(path).lstrip().startswith("<")
    label = os.fspath(path) if is_file else "room"   # an XML string is not a name
    for name, V, F, _ in pieces:
        if V.ndim != 2 or V.shape[1] != 3 or F.ndim != 2 or F.shape[1] != 3:
            raise RoomError(f"{label}: mesh {name!r}: vertices must be (n, 3) and faces (m, 3), "
                            f"got {V.shape}, {F.shape}")
        if len(F) and (F.min() < 0 or F.max() >= len(V)):
            raise RoomError(f"{label}: mesh {name!r}: face indices must lie in [0, {len(V) - 1}]")
        if not np.all(np.isfinite(V)):
            raise RoomError(f"{label}: mesh {name!r}: vertex positions contain NaN/Inf")
    offs = np.cumsum([0] + [len(p[1]) for p in pieces])
    V0 = np.concatenate([p[1] for p in pieces])
    F0 = np.concatenate([p[2] + o for p, o in zip(pieces, offs)])
    part = np.concatenate([np.full(len(p[2]), k) for k, p in enumerate(pieces)])
    if isinstance(up, str) and up.lower() == "auto":
        Vw, Fw = _weld(V0, F0)
        up = detect_up(Vw, Fw[~_degenerate(Vw, Fw, 1e-9 * max(float(np.ptp(Vw, axis=0).max()), 1e-9))])
    try:
        M = scale * up_rotation(up)
    except MeshFileError as e:
        raise RoomError(str(e)) from None
    V0 = V0 @ M.T
    if weld is not None:
        weld = checks.number("weld (vertex merge distance, m)", weld, 0.0)
    V, F = _weld(V0, F0, weld)
    tol = weld if weld else 1e-7 * max(float(np.ptp(V, axis=0).max()), 1e-9)
    bad = _degenerate(V, F, tol)
    F, part = F[~bad], part[~bad]
    names, owner, mtls, fw = [], [], [], np.zeros(len(F), np.int64)
    for k, (sid, _, _, mtl) in enumerate(pieces):
        sel = np.flatnonzero(part == k)
        if not len(sel):
            continue
        groups = _plane_groups(V, F[sel])
        ng = groups.max() + 1
        fw[sel] = groups + len(names)
        names += [sid] if ng == 1 else [f"{sid}.{g}" for g in range(ng)]
        owner += [sid] * ng
        mtls += [mtl] * ng
    if len(set(names)) != len(names):   # two parts of one name (e.g. OBJ groups repeated in other objects)
        seen = {}
        for i, n in enumerate(names):
            seen[n] = seen.get(n, 0) + 1
            if seen[n] > 1:
                names[i] = f"{n}#{seen[n] - 1}"
    if isinstance(materials, dict):
        known = set(names) | set(owner) | {m for m in mtls if m is not None}
        unknown = set(materials) - known
        if unknown:
            raise RoomError(f"materials given for unknown part(s)/wall(s)/material name(s) {sorted(unknown)}; "
                            f"parts: {sorted(set(owner))}"
                            + (f", file materials: {sorted({m for m in mtls if m is not None})}"
                               if any(m is not None for m in mtls) else ""))
        mats = [material(materials.get(n, materials.get(o, materials.get(m, default_material))), name=n)
                for n, o, m in zip(names, owner, mtls)]
    else:
        mats = [material(default_material if materials is None else materials) for _ in names]
    src = np.atleast_2d(np.asarray(source, np.float64))
    rcv = np.atleast_2d(np.asarray(receiver, np.float64))
    if src.shape[-1] == 3:
        src = src @ M.T
    if rcv.shape[-1] == 3:
        rcv = rcv @ M.T
    repairs = {"welded_vertices": int(len(V0) - len(V)),
               "degenerate_triangles": int(bad.sum())}
    room = Room(V, F, fw, names, mats, src, rcv,
                fs=checks.integer("sampling rate fs", kw["fs"], lo=1),
                air_absorption=kw["air_absorption"], max_hole=checks.number("max_hole", max_hole, 0.0, 1.0),
                frame=M, repairs=repairs, **_medium(kw["temperature"], kw["humidity"], kw["c"]))
    if room.holes:
        warnings.warn(f"the room mesh has {len(room.holes)} small hole(s), tolerated (max_hole = {max_hole:g} of "
                      "the surface): image sources ignore them, rays that leave through them count as absorbed; "
                      + "; ".join(describe_hole(h) for h in room.holes[:3]) + (" ..." if len(room.holes) > 3 else ""),
                      RoomWarning, stacklevel=3)
    return room


def _scene_pieces(path):
    """(shape id, V, F, None) of every mesh shape of a Mitsuba scene (path, XML string, dict or mi.Scene)."""
    import mitsuba as mi
    from penumbra.renderer import ensure_variant
    from .loading import load_scene
    ensure_variant()
    scene = path if isinstance(path, mi.Scene) else load_scene(path)
    pieces = []
    for k, shape in enumerate(scene.shapes()):
        if not shape.is_mesh():
            raise RoomError(f"shape {shape.id()!r} is not a triangle mesh ({shape.class_().name()}); rooms "
                            "must be built from meshes (obj/ply/rectangle/cube shapes are fine)")
        params = mi.traverse(shape)
        V = np.array(params["vertex_positions"], np.float64).reshape(-1, 3)
        F = np.array(params["faces"], np.int64).reshape(-1, 3)
        pieces.append((shape.id() or f"shape{k}", V, F, None))
    return pieces


def _defaults(kw):
    kw = dict(kw)
    for k, v in (("fs", 16000), ("humidity", 50.0), ("air_absorption", False)):
        if kw[k] is None:
            kw[k] = v
    return kw


def register_acoustic_parameters(params, room: Room):
    """Mount ``room.params`` (its acoustic parameters: ``<wall>.absorption``, ``<wall>.scattering``,
    ``acoustic.sources``, ``acoustic.receivers``, ``acoustic.dims`` or ``acoustic.vertex_positions``)
    in the :class:`scenes.ParameterMap` ``params`` of the scene the room was loaded from, so that one
    map addresses a wall's optical and acoustic parameters. Returns ``params``."""
    return params.attach(room.params)
