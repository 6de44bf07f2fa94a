"""A procedural shader: a Python function of surface coordinates and named parameters.

``Shader(fn, params)`` wraps ``fn(uv, p)`` where ``uv`` is a 2-vector of Dr.Jit arrays (texture
coordinates on a surface, or canvas coordinates in [0, 1]²) and ``p[name]`` gives each parameter as
a Dr.Jit value attached to the stored one (a scalar, a 2-vector, a colour, or a list of 2-vectors for
an (n, 2) array such as polygon vertices). ``fn`` returns a grey value or an RGB triple. Its
discontinuities must come from :mod:`.primitives` (see there why plain ``dr.select`` is not enough).

The parameters are one flat ``mi.Float`` per name, exposed through :class:`ShaderParameters` (the
project's :class:`penumbra.scenes.ParameterSet` protocol) and, once the shader is a Mitsuba texture
(:mod:`.texture`), through ``mi.traverse`` under ``<texture path>.<name>``.
"""
from __future__ import annotations

import itertools

import drjit as dr
import numpy as np

from penumbra.scenes.errors import ParameterError
from penumbra.scenes.parameters import ParameterInfo, ParameterSet

from .primitives import LevelRecorder

_ids = itertools.count()


class ParameterView:
    """``p[name]`` inside a shader: the stored parameter gathered into per-lane-broadcastable values."""

    def __init__(self, shader, detached: bool):
        self._shader = shader
        self._detached = detached

    def __getitem__(self, name):
        import mitsuba as mi
        if name not in self._shader.values:
            raise KeyError(f"shader {self._shader.name!r} has no parameter {name!r} "
                           f"(it has {sorted(self._shader.values)})")
        v = self._shader.values[name]
        v = dr.detach(v) if self._detached else v
        shape = self._shader.shapes[name]
        comps = [dr.gather(mi.Float, v, mi.UInt32(k)) for k in range(int(np.prod(shape)) if shape else 1)]
        return parameter_value(comps, shape)


def parameter_value(comps, shape):
    """The value ``p[name]`` that a shader sees for a parameter of NumPy ``shape`` whose flat
    components are the Dr.Jit arrays ``comps``: a scalar, a ``mi.Point2f`` (2,), a ``mi.Color3f``
    (3,), a list of components (other (n,)), or a list of ``mi.Point2f`` ((n, 2))."""
    import mitsuba as mi
    if shape == ():
        return comps[0]
    if len(shape) == 1:
        return mi.Color3f(*comps) if shape[0] == 3 else mi.Point2f(*comps) if shape[0] == 2 else list(comps)
    return [mi.Point2f(comps[2 * i], comps[2 * i + 1]) for i in range(shape[0])]


class Shader:
    """A procedural shader ``fn(uv, p)`` with named parameters ``params`` (name -> number or array:
    scalar, (2,), (3,) or (n, 2)). ``ranges`` optionally bounds parameters (name -> (lower, upper))."""

    def __init__(self, fn, params: dict, name: str = "shader", ranges: dict | None = None):
        import mitsuba as mi
        if not callable(fn):
            raise TypeError(f"Shader(fn=...): expected a function fn(uv, p), got {type(fn).__name__}")
        self.fn, self.name = fn, str(name)
        self.key = f"{self.name}#{next(_ids)}"
        self.values, self.shapes = {}, {}
        for k, v in params.items():
            a = np.asarray(v, dtype=np.float64)
            if a.ndim > 2 or (a.ndim == 2 and a.shape[1] != 2) or a.size == 0:
                raise ParameterError(f"shader parameter {k!r}: expected a number or an array of shape (n,), "
                                     f"or (n, 2), got shape {a.shape}")
            if not np.all(np.isfinite(a)):
                raise ParameterError(f"shader parameter {k!r}: value contains NaN or Inf")
            self.values[k] = mi.Float(a.ravel().astype(np.float32))
            self.shapes[k] = a.shape
        self.ranges = dict(ranges or {})
        for k in self.ranges:
            if k not in self.values:
                raise ParameterError(f"shader ranges: unknown parameter {k!r}")

    def __call__(self, uv, detached: bool = False, params=None):
        """``(value, levels)``: the shader's output at ``uv`` (``mi.Color3f``) and the level
        functions of its discontinuities, in call order (see :mod:`.primitives`). ``params``: where
        ``p[name]`` is read from (a mapping of name -> value as :func:`parameter_value` builds it);
        default the stored values (detached with ``detached``)."""
        import mitsuba as mi
        with LevelRecorder() as rec:
            out = self.fn(uv, ParameterView(self, detached) if params is None else params)
        if isinstance(out, (tuple, list)):
            out = mi.Color3f(*out)
        elif not isinstance(out, mi.Color3f):
            out = mi.Color3f(out)
        return out, rec.levels

    def levels(self, uv, detached: bool = False, params=None) -> list:
        """The level functions at ``uv`` (see :meth:`__call__`)."""
        return self(uv, detached, params)[1]

    def parameters(self) -> "ShaderParameters":
        return ShaderParameters(self)

    def __repr__(self):
        return f"Shader({self.name!r}, params={sorted(self.values)})"


class ShaderParameters(ParameterSet):
    """The named parameters of one :class:`Shader` (``ParameterSet`` protocol). Writes replace the
    stored ``mi.Float``, which every later evaluation reads (textures included)."""

    kind = "shader"

    def __init__(self, shader: Shader):
        self.shader = shader

    def keys(self):
        return list(self.shader.values)

    def info(self, name) -> ParameterInfo:
        self.check_name(name)
        lo, hi = self.shader.ranges.get(name, (None, None))
        return ParameterInfo(name, "Float", (dr.width(self.shader.values[name]),), True, False, self.shader.name,
                             lo, hi)

    def _read(self, name):
        return self.shader.values[name]

    def _write(self, name, value):
        self.shader.values[name] = value
