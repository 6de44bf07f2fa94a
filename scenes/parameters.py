"""The parameter protocol shared by every scene kind (path-traced, vector, acoustic).

A :class:`ParameterSet` is a dictionary-like view of a scene's numeric quantities under stable dotted
names (``red.reflectance.value``, ``circle.center``, ``floor.absorption`` ...). It is implemented once,
here; a scene kind only says which names exist, how to read and write a value and describes each one
with a :class:`ParameterInfo` (shape, type, "is differentiable", "moves geometry", valid range).
Everything else is common:

* lookup with a "did you mean" hint for unknown names;
* validation of an assignment (:meth:`ParameterSet.validate`): conversion to the parameter's type,
  shape, NaN/Inf, integrality of integer parameters and the valid range (e.g. absorption in [0, 1],
  face indices below the vertex count), each error a :class:`ParameterError` naming the parameter;
* glob patterns (:meth:`ParameterSet.select`, :meth:`ParameterSet.update`, :meth:`ParameterSet.pack`);
* the lists :meth:`ParameterSet.differentiable` and :meth:`ParameterSet.geometric`, a table
  (:meth:`ParameterSet.describe`), and :meth:`ParameterSet.snapshot` / :meth:`ParameterSet.restore`.

Values keep the scene's own representation: Dr.Jit arrays for Mitsuba and acoustic scenes (so that
``dr.enable_grad(params[name])`` attaches the value the renderer reads), NumPy arrays for vector scenes.
"""
from __future__ import annotations

import difflib
import fnmatch
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from penumbra.renderer.arrays import from_numpy, is_drjit, is_finite, is_transform, to_numpy

from .errors import ParameterError


@dataclass(frozen=True)
class ParameterInfo:
    """What a parameter is: ``shape`` of its value (NumPy convention of :mod:`renderer.arrays`), type
    name, whether gradients can flow into it, whether changing it moves geometry (visibility changes,
    so its gradients need boundary terms), the object that owns it, and the valid range ``[lower,
    upper]`` of every entry (``None``: unbounded)."""
    name: str
    type: str
    shape: tuple
    differentiable: bool
    moves_geometry: bool
    owner: str
    lower: float | None = None
    upper: float | None = None
    integer: bool = False


def shape_of(value) -> tuple:
    """The shape of a parameter value: Dr.Jit arrays as (width,) or (width, components), tensors and
    NumPy arrays as they are, transforms (4, 4)."""
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


def is_float_drjit(value) -> bool:
    """True for floating-point JIT arrays (the values gradients can flow into)."""
    import drjit as dr
    if is_transform(value):
        value = value.matrix
    return dr.is_array_v(value) and dr.is_float_v(value) and dr.is_jit_v(value)


def _is_integer(value) -> bool:
    import drjit as dr
    if is_drjit(value):
        return not is_transform(value) and dr.is_integral_v(value)
    return np.issubdtype(np.asarray(value).dtype, np.integer)


class ParameterSet(ABC):
    """Named parameters of one scene (see the module docstring). Subclasses implement :meth:`keys`,
    :meth:`info`, :meth:`_read` and :meth:`_write`, and may add cross-parameter checks in
    :meth:`_check_value` and an end-of-update step in :meth:`_commit`."""

    #: what the error messages call this kind of scene
    kind = "scene"

    # --- what a scene kind provides ----------------------------------------------------------------
    @abstractmethod
    def keys(self) -> list[str]:
        """Every parameter name, in a stable order."""

    @abstractmethod
    def info(self, name) -> ParameterInfo:
        """The :class:`ParameterInfo` of ``name`` (raises :class:`ParameterError` for unknown names)."""

    @abstractmethod
    def _read(self, name):
        """The current value of a known parameter (the scene's own array, not a copy)."""

    @abstractmethod
    def _write(self, name, value):
        """Store a validated value (already converted to the parameter's type and shape)."""

    def _check_value(self, name, array: np.ndarray):
        """Checks that involve the rest of the scene (e.g. a source position must lie in the room); gets
        the validated value as NumPy. Raise :class:`ParameterError` naming ``name``."""

    def _commit(self):
        """Propagate the writes of :meth:`update` to the scene (e.g. Mitsuba's ``SceneParameters.update``)."""

    # --- lookup ------------------------------------------------------------------------------------
    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def __contains__(self, name):
        return name in self.keys()

    def check_name(self, name):
        """Raise a :class:`ParameterError` (with close matches) when ``name`` is not a parameter."""
        if name not in self:
            keys = self.keys()
            close = difflib.get_close_matches(str(name), keys, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ParameterError(f"unknown {self.kind} parameter {name!r}{hint} (the scene has {len(keys)} "
                                 f"parameters; {type(self).__name__}.describe() lists them)")

    def __getitem__(self, name):
        self.check_name(name)
        return self._read(name)

    def select(self, pattern) -> list[str]:
        """Names equal to ``pattern`` or matching it as a glob (``"*.points"``, ``"wall?.absorption"``), in
        key order; :class:`ParameterError` when none does."""
        if pattern in self:
            return [pattern]
        names = [n for n in self.keys() if fnmatch.fnmatchcase(n, str(pattern))]
        if not names:
            self.check_name(pattern)
        return names

    def differentiable(self) -> list[str]:
        return [k for k in self.keys() if self.info(k).differentiable]

    def geometric(self) -> list[str]:
        """Differentiable parameters that move geometry (need visibility/boundary gradients)."""
        return [k for k in self.keys() if (i := self.info(k)).differentiable and i.moves_geometry]

    def describe(self) -> str:
        """A table of every parameter: name, type, shape, differentiable, moves geometry, range."""
        rows = [("name", "type", "shape", "diff", "geometry", "range")]
        for k in self.keys():
            i = self.info(k)
            rng = "" if i.lower is None and i.upper is None else \
                f"[{'-inf' if i.lower is None else f'{i.lower:g}'}, {'inf' if i.upper is None else f'{i.upper:g}'}]"
            rows.append((k, i.type, "x".join(map(str, i.shape)) or "scalar", "yes" if i.differentiable else "",
                         "yes" if i.moves_geometry else "", rng))
        w = [max(len(r[c]) for r in rows) for c in range(6)]
        return "\n".join("  ".join(r[c].ljust(w[c]) for c in range(6)).rstrip() for r in rows)

    # --- validation --------------------------------------------------------------------------------
    def validate(self, name, value, check_scene: bool = True):
        """``value`` converted to the parameter's type and checked (shape, NaN/Inf, integrality, range
        and, with ``check_scene``, the scene-level checks of :meth:`_check_value`); no side effect.
        Raises :class:`ParameterError` naming the parameter."""
        self.check_name(name)
        info = self.info(name)
        current = self._read(name)
        converted, host = self._convert(name, value, current)
        got = shape_of(converted)
        if got != shape_of(current):
            hint = ""
            if is_drjit(value) and _grad_enabled(value) and got[:1] != (1,) and shape_of(current)[:1] == (1,):
                hint = ("; if it was computed from a scalar θ such as mi.Float(0.0): Dr.Jit widens a width-1 "
                        "literal in place the first time it meets a wider array, so θ used for another "
                        "parameter first is no longer a scalar. Create θ with dr.opaque(mi.Float, 0.0)")
            raise ParameterError(f"parameter {name!r} expects shape {shape_of(current)} "
                                 f"({type(current).__name__}), got shape {got}{hint}")
        if host is None and not is_finite(converted):
            raise ParameterError(f"parameter {name!r}: value contains NaN or Inf")
        scene_checks = check_scene and type(self)._check_value is not ParameterSet._check_value
        if info.lower is None and info.upper is None and not info.integer and not scene_checks:
            return converted
        if host is None:    # a Dr.Jit value passed through: read it back once for the range checks
            host = np.asarray(to_numpy(_detached(converted)), dtype=np.float64).reshape(-1)
        if info.integer and not np.all(host == np.round(host)):
            raise ParameterError(f"parameter {name!r} holds integers, got {host[host != np.round(host)][:3].tolist()}")
        bad = np.zeros(host.shape, bool)
        if info.lower is not None:
            bad |= host < info.lower
        if info.upper is not None:
            bad |= host > info.upper
        if bad.any():
            lo = "-inf" if info.lower is None else f"{info.lower:g}"
            hi = "inf" if info.upper is None else f"{info.upper:g}"
            where = np.flatnonzero(bad)
            raise ParameterError(f"parameter {name!r}: every entry must lie in [{lo}, {hi}]; entry {int(where[0])} "
                                 f"is {host[where[0]]:g} ({len(where)} out of range)")
        if scene_checks:
            self._check_value(name, host.reshape(got) if _is_numpy_shape(got) else host)
        return converted

    def _convert(self, name, value, current):
        """``(converted, host)``: ``value`` as the type of ``current`` and, when it went through NumPy, its
        float64 NumPy entries (else None). Dr.Jit values of the same type pass through, other
        differentiable Dr.Jit values are converted inside Dr.Jit (a NumPy round trip would drop their
        gradient), everything else goes through NumPy (shape, NaN/Inf and integer checks here)."""
        if is_drjit(current):
            if is_drjit(value) and type(value) is type(current):
                return value, None
            if is_drjit(value) and _grad_enabled(value):
                try:
                    return type(current)(value), None
                except Exception as e:
                    raise ParameterError(f"parameter {name!r} is a {type(current).__name__}; got a differentiable "
                                         f"{type(value).__name__} that cannot be converted without losing its "
                                         f"gradient ({e})") from None
        try:
            arr = np.asarray(to_numpy(value), dtype=np.float64)
        except (TypeError, ValueError):
            raise ParameterError(f"parameter {name!r} needs numbers, got {type(value).__name__}") from None
        want = shape_of(current)
        if arr.size != int(np.prod(want)):
            raise ParameterError(f"parameter {name!r} expects shape {want} ({type(current).__name__}), "
                                 f"got a value of shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ParameterError(f"parameter {name!r}: value contains NaN or Inf")
        host = arr.reshape(-1)
        if not is_drjit(current):
            return from_numpy(current, arr.reshape(want)), host
        if _is_integer(current):
            if not np.all(arr == np.round(arr)):
                raise ParameterError(f"parameter {name!r} holds integers, got {arr[arr != np.round(arr)][:3].tolist()}")
            if "UInt" in type(current).__name__ and arr.size and arr.min() < 0:
                raise ParameterError(f"parameter {name!r} holds unsigned integers, got {arr.min():g}")
        return from_numpy(current, arr.reshape(want) if len(want) != 2 or want[0] != 1 else arr), host

    # --- updates -----------------------------------------------------------------------------------
    def __setitem__(self, name, value):
        self._write(name, self.validate(name, value))

    def update(self, values: dict | None = None):
        """Set several parameters (validated), then propagate the changes to the scene. Keys may be glob
        patterns: a pattern matching several names takes the concatenation of their flattened values in
        key order (as :meth:`pack` returns it)."""
        for pattern, v in (values or {}).items():
            names = self.select(pattern)
            if len(names) == 1:
                self[names[0]] = v
                continue
            flat = np.asarray(to_numpy(v), dtype=np.float64).reshape(-1)
            sizes = [int(np.prod(shape_of(self._read(n)))) for n in names]
            if flat.size != sum(sizes):
                raise ParameterError(f"parameters {pattern!r} ({len(names)} names) need {sum(sizes)} values, "
                                     f"got {flat.size}")
            for n, chunk in zip(names, np.split(flat, np.cumsum(sizes)[:-1])):
                self[n] = chunk
        self._commit()
        return self

    def detach(self):
        """Write every parameter that is attached to the AD graph back as its detached value, and
        propagate. Optimization loops call it when they stop (normally or by an exception): a Mitsuba
        scene left holding attached arrays joins the AD graph of every later render of *any* scene in
        the process (Dr.Jit traces virtual calls over all live instances), and the forward-mode
        ``prb`` of such a render then fails with "ad_traverse(): tried to forward-propagate
        derivatives across edge ... outside of the current dr.isolate_grad() scope"."""
        import drjit as dr
        written = False
        for name in self.keys():
            value = self._read(name)
            if not is_drjit(value) or not _grad_enabled(value):
                continue
            if is_transform(value):
                value = type(value)(dr.detach(value.matrix))
            else:
                value = dr.detach(value)
            self._write(name, value)
            written = True
        if written:
            self._commit()
        return self

    def pack(self, pattern) -> np.ndarray:
        """The flat NumPy concatenation of the parameters matching ``pattern`` (key order)."""
        return np.concatenate([np.asarray(to_numpy(self[n]), np.float64).reshape(-1) for n in self.select(pattern)])

    def snapshot(self, names=None) -> dict[str, np.ndarray]:
        """NumPy copies of parameter values: ``names`` (glob patterns allowed), or every differentiable one."""
        if names is None:
            keys = self.differentiable()
        else:
            keys = [k for pattern in ([names] if isinstance(names, str) else names) for k in self.select(pattern)]
        return {k: np.array(to_numpy(_detached(self[k]))) for k in keys}

    def restore(self, snapshot: dict):
        """Set the parameters of a :meth:`snapshot` back (validated) and propagate them."""
        return self.update(snapshot)


def _detached(value):
    import drjit as dr
    return dr.detach(value) if is_drjit(value) and not is_transform(value) else value


def _grad_enabled(value) -> bool:
    import drjit as dr
    return bool(dr.grad_enabled(value))


def _is_numpy_shape(shape) -> bool:
    return all(isinstance(s, (int, np.integer)) for s in shape)
