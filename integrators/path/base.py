"""Shared base of Penumbra's path-tracing integrators: path-replay interior + extra derivative terms.

The derivative of a rendered image splits into an *interior* term, computed by Mitsuba 3.9's path
replay backpropagation (``prb``: Vicini, Speierer, Jakob 2021, with next-event estimation, MIS and
attached intersections for moving geometry), and terms ``prb`` lacks: visibility boundaries (edge
sampling, warped-area sampling) and camera motion. Subclasses return those extra terms from
:meth:`BoundaryTermIntegrator.extra_terms` as *zero-valued* Dr.Jit images attached to the scene
parameters; forward mode propagates tangents into them, reverse mode back-propagates the image
adjoint through them, so one expression serves both modes.

The *primal* image (``mi.render`` without derivatives, and the primal pass that ``mi.render``
runs before a derivative) is the same estimator as Mitsuba's C++ ``path`` integrator (unidirectional
path tracing with next-event estimation, MIS and Russian roulette from ``rr_depth``), so it is
delegated to a ``path`` instance with the same ``max_depth``, ``rr_depth`` and ``hide_emitters``:
primal throughput is ``path``'s. The derivative passes (``render_forward``/``render_backward``)
run ``prb``'s replay and this package's own terms.
"""
from __future__ import annotations

import math
import warnings
from contextlib import contextmanager

import drjit as dr
import mitsuba as mi
import numpy as np

from penumbra.renderer import memory
from penumbra.renderer.arrays import is_transform, upload_tensor

from .edges import scene_meshes
from .emitter_motion import emitter_motion_image, moving_emitters
from .secondary import warn_delta_light_shadows

PRBIntegrator = mi.ad.integrators.prb.PRBIntegrator

_FLAGS = dr.ADFlag.Default | dr.ADFlag.AllowNoGrad


def count_option(props, owner: str, name: str, old: str | None = None):
    """Sample-count property ``name`` (an int >= 0), or None when it is not set (the count is then
    derived at render time, :func:`derived_count`). ``old`` is its deprecated name, still accepted
    with a DeprecationWarning."""
    key = name
    if old is not None and old in props:
        if name in props:
            raise ValueError(f"{owner}: set {name!r} or its deprecated name {old!r}, not both")
        warnings.warn(f"{owner}: {old!r} is deprecated, use {name!r}", DeprecationWarning, stacklevel=3)
        key = old
    if key not in props:
        return None
    value = int(props.get(key))
    if value < 0:
        raise ValueError(f"{owner}: {key} must be >= 0, got {value}")
    return value


def budget_option(props, owner: str, default: float = 1.0) -> float:
    """``boundary_budget``: the boundary terms' sample counts that are not set explicitly, as a
    multiple of the interior samples per pixel (:func:`derived_count`)."""
    value = float(props.get("boundary_budget", default))
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}: boundary_budget must be a finite number > 0, got {value}")
    return value


def derived_count(explicit, budget: float, interior_spp: int, share: float, floor: int) -> int:
    """``explicit`` if set, else max(floor, ceil(budget x interior_spp x share)): a boundary term's
    samples per pixel scale with the gradient pass's own spp."""
    if explicit is not None:
        return explicit
    return max(floor, math.ceil(budget * interior_spp * share))


def signed_depth(max_depth) -> int:
    """A ``max_depth`` as Mitsuba's plugins accept it: Mitsuba stores -1 (unbounded) unsigned."""
    return -1 if int(max_depth) >= 2 ** 31 else int(max_depth)


class BoundaryTermIntegrator(PRBIntegrator):
    """``prb`` plus zero-valued extra derivative terms. Property ``emitter_spp`` (default 4): camera
    paths per pixel for the derivative of next-event estimation w.r.t. moving lights
    (:mod:`.emitter_motion`; 0 disables it). With ``max_depth = 0`` (nothing is rendered) every
    derivative is 0."""

    def __init__(self, props):
        super().__init__(props)
        self.emitter_spp = int(props.get("emitter_spp", 4))
        if self.emitter_spp < 0:
            raise ValueError(f"{type(self).__name__}: emitter_spp must be >= 0, got {self.emitter_spp}")
        # True while only this package's terms carry derivatives (a camera pose, a point light's
        # position): prb's replay would then refuse to run ("not attached to the AD graph").
        self._interior_detached = False

    def sample(self, mode, scene, sampler, ray, δL, state_in, active, **kwargs):
        if mode != dr.ADMode.Primal and self._interior_detached:
            zero = dr.zeros(mi.Spectrum, dr.width(ray))
            return zero, mi.Bool(True), [], zero
        return super().sample(mode, scene, sampler, ray, δL, state_in, active, **kwargs)

    @contextmanager
    def _interior_scope(self, scene):
        saved = self._interior_detached
        if not saved and not scene_attached(scene) and any(pos is not None for _, pos in moving_emitters(scene)):
            self._interior_detached = True
        try:
            yield
        finally:
            self._interior_detached = saved

    def render(self, scene, sensor=0, seed=0, spp=0, develop=True, evaluate=True):
        """Primal image by Mitsuba's ``path`` with this integrator's settings (see module docstring)."""
        key = (signed_depth(self.max_depth), int(self.rr_depth), bool(self.hide_emitters))
        if getattr(self, "_primal", (None,))[0] != key:
            self._primal = key, mi.load_dict({"type": "path", "max_depth": key[0], "rr_depth": key[1],
                                              "hide_emitters": key[2]})
        memory.guard_film(f"{type(self).__name__} render", self._sensor(scene, sensor).film(), differentiable=False)
        with dr.suspend_grad():
            return self._primal[1].render(scene, sensor, seed, spp, develop, evaluate)

    def extra_terms(self, scene, sensor, seed: int) -> list:
        """Zero-valued (H, W, 3) ``mi.TensorXf`` images whose derivatives are added to ``prb``'s."""
        if int(self.max_depth) >= 2 or int(self.max_depth) < 0:
            warn_delta_light_shadows(scene, type(self).__name__)
        term = emitter_motion_image(self, scene, self._sensor(scene, sensor), seed, self.emitter_spp)
        return [] if term is None else [term]

    @staticmethod
    def _sensor(scene, sensor):
        return scene.sensors()[sensor] if isinstance(sensor, int) else sensor

    def extra_passes(self, scene, sensor, seed: int):
        """Yield ``(row0, row1, image)``: zero-valued images of film rows [row0, row1) whose
        derivatives are added to ``prb``'s, each differentiated on its own so that only one
        pass's AD graph is alive at a time (bounded memory; none here, see ``warped_area``)."""
        return iter(())

    def resolve_counts(self, scene, sensor, spp: int) -> None:
        """Set this render's boundary sample counts from the interior ``spp`` (subclasses)."""

    def _prepare(self, scene, sensor, spp):
        check_supported_motion(scene, type(self).__name__, int(self.max_depth))
        sensor = self._sensor(scene, sensor)
        memory.guard_film(f"{type(self).__name__} derivative render", sensor.film(), differentiable=True)
        self.resolve_counts(scene, sensor, int(spp) if spp else int(sensor.sampler().sample_count()))

    def render_forward(self, scene, params, sensor=0, seed=0, spp=0):
        if self.max_depth == 0:  # an all-black image whatever the parameters
            film = self._sensor(scene, sensor).film()
            W, H = (int(v) for v in film.crop_size())
            return dr.zeros(mi.TensorXf, (H, W, film.base_channels_count() + len(self.aov_names())))
        self._prepare(scene, sensor, spp)
        tangents = parameter_tangents(scene) + derived_buffer_tangents(scene)
        with self._interior_scope(scene):
            grad = super().render_forward(scene, params, sensor, seed, spp)
        sensor = self._sensor(scene, sensor)
        acc = None
        with dr.resume_grad():
            restore_tangents(tangents)
            for r0, r1, img in self.extra_passes(scene, sensor, int(seed)):
                # Keep the input (parameter) tangents for the next pass and for the terms below:
                # no ADFlag.ClearInput.
                dr.forward_to(img, flags=dr.ADFlag.ClearEdges | dr.ADFlag.ClearInterior | dr.ADFlag.AllowNoGrad)
                if acc is None:
                    acc = np.zeros((grad.shape[0], grad.shape[1], 3), dtype=np.float32)
                acc[r0:r1] += np.array(dr.grad(img))
                del img
                restore_tangents(tangents)
            total = self._sum_terms(scene, sensor, seed)
            if total is not None:
                # One traversal for all whole-image terms: ADFlag.Default clears the input
                # tangents, so a second forward_to would see none.
                dr.forward_to(total, flags=_FLAGS)
                total = np.array(dr.grad(total))[..., :3]
                acc = total if acc is None else acc + total
            restore_tangents(tangents)  # (another sensor's render_forward may follow)
        return grad if acc is None else grad + _match_channels(upload_tensor(acc), grad)

    def render_backward(self, scene, params, grad_in, sensor=0, seed=0, spp=0):
        if self.max_depth == 0:
            return
        self._prepare(scene, sensor, spp)
        with self._interior_scope(scene):
            super().render_backward(scene, params, grad_in, sensor, seed, spp)
        sensor = self._sensor(scene, sensor)
        g = grad_in if grad_in.shape[2] == 3 else grad_in[:, :, :3]
        with dr.resume_grad():
            g_np = None
            # One traversal per pass, like forward mode. ClearInterior without ClearEdges: clearing
            # the traversed edges would also cut the graph *above* the scene parameters (e.g.
            # theta -> vertex positions) that later passes still need; the pass's own nodes are
            # freed with its image.
            for r0, r1, img in self.extra_passes(scene, sensor, int(seed)):
                if g_np is None:
                    g_np = np.array(g)
                term = dr.sum(img * upload_tensor(g_np[r0:r1]), axis=None)
                dr.backward_from(term, flags=dr.ADFlag.ClearInterior | dr.ADFlag.AllowNoGrad)
                del term, img
            total = self._sum_terms(scene, sensor, seed)
            if total is not None:
                dr.backward_from(dr.sum(total * dr.detach(g), axis=None), flags=_FLAGS)

    def _sum_terms(self, scene, sensor, seed):
        total = None
        for term in self.extra_terms(scene, sensor, int(seed)):
            total = term if total is None else total + term
        return total


def _parameter_arrays(scene):
    """``(key, node, array)`` for every scene parameter held in a Dr.Jit array (a transform's
    matrix), whether or not it carries AD. Mitsuba's ``SceneParameters.properties`` holds opaque
    pointers, so the values are read through ``mp[key]``; a Dr.Jit 3-vector answers ``hasattr(v,
    "matrix")`` with a swizzle, so transforms are recognised by type (:func:`is_transform`)."""
    mp = mi.traverse(scene)
    for key in mp.keys():
        node = mp.properties[key][2]
        value = mp[key]
        if is_transform(value):
            value = value.matrix
        if dr.is_array_v(value):
            yield key, node, value


#: emitters whose pose (``to_world``) no term differentiates
POSED_EMITTERS = ("SpotLight", "Projector", "DirectionalEmitter")


def check_supported_motion(scene, owner: str, max_depth: int) -> None:
    """Refuse derivatives that no term of the estimators covers, naming the parameter:

    * the pose of a spot light, projector or directional light (``to_world``: no emitter-motion
      term; Mitsuba's ``prb`` fails on it with an exception about an unattached contribution);
    * a shape that is not a triangle mesh (Mitsuba's ``sphere``, ``disk``, ``cylinder``, curves,
      SDF grids) moving, or the camera moving in a scene with one: both estimators sample mesh
      edges only, so its silhouette would be missed.

    Warns when other geometry or a light moves while such a shape may cast a shadow or be seen
    indirectly (``max_depth`` >= 2 or unbounded), since the motion of its silhouette as seen from a
    moving surface point is not differentiated."""
    analytic = [s for s in scene.shapes() if not s.is_mesh()]
    camera = None
    for key, node, value in _parameter_arrays(scene):
        if not dr.grad_enabled(value):
            continue
        if isinstance(node, mi.Emitter) and node.class_name() in POSED_EMITTERS and key.endswith("to_world"):
            raise ValueError(f"{owner}: the pose of emitter {node.id()!r} ({node.class_name()}, parameter "
                             f"{key!r}) is not differentiable; move an area light on a mesh instead (a "
                             "'rectangle' with an 'area' emitter), or differentiate its intensity only")
        if not analytic:
            continue
        if isinstance(node, mi.Shape) and not node.is_mesh():
            raise ValueError(
                f"{owner}: shape {node.id()!r} ({node.class_name()}) moves (parameter {key!r} has a "
                "derivative, or the camera translates), but visibility gradients sample the edges of "
                "triangle meshes only and its silhouette would be missed; use a mesh for it (a PLY/OBJ "
                "file, or Mitsuba's 'rectangle' / 'cube' meshes)")
        if isinstance(node, mi.Sensor):
            camera = camera or key
    if not analytic:
        return
    names = ", ".join(f"{s.id()!r} ({s.class_name()})" for s in analytic)
    if camera is not None:
        raise ValueError(f"{owner}: the camera moves (parameter {camera!r} has a derivative), but the "
                         f"silhouettes of shapes that are not triangle meshes ({names}) are not sampled; "
                         "use meshes for them (a PLY/OBJ file, or Mitsuba's 'rectangle' / 'cube' meshes)")
    moving = [m.id() for m in scene_meshes(scene)[1]] + [em.id() for em, _ in moving_emitters(scene)]
    if moving and (max_depth >= 2 or max_depth < 0):
        warnings.warn(f"{owner}: {moving[0]!r} moves while shapes that are not triangle meshes ({names}) may "
                      "cast shadows or be seen indirectly: the motion of their silhouettes as seen from a "
                      "moving surface point is not differentiated (use meshes for them)", stacklevel=4)


def parameter_tangents(scene) -> list:
    """``[(value, tangent)]`` of the scene parameters as they enter ``render_forward``.

    When ``mi.render`` is differentiated with ``dr.forward(θ)`` and the parameters are computed from
    an upstream θ, ``render_forward`` runs inside Dr.Jit's traversal with the tangents stored on the
    parameter nodes, which have an incoming edge (θ -> parameter): a nested
    ``dr.forward_to(..., ClearInterior)`` clears them as interior nodes, and every later traversal
    (the next pass, the next term) then propagates nothing. :func:`restore_tangents` puts them back."""
    return [(v, dr.grad(v)) for _, _, v in _parameter_arrays(scene) if dr.grad_enabled(v)]


def derived_buffer_tangents(scene) -> list:
    """``[(buffer, tangent)]`` of mesh buffers that Mitsuba derives from a parameter (a ``rectangle``'s
    or an instance's ``to_world`` -> its vertex positions and normals), their tangents pushed down
    once. The boundary terms are traversed one pass at a time; inside ``mi.render``'s custom op a
    traversal must clear the edges it crosses that were made outside the op, here parameter ->
    buffer, so every traversal after the first saw no tangent on the buffers (``warped_area`` in
    forward mode: a moving rectangle light's terms came out 0). Pushed into the buffers and
    restored before each traversal, the tangents reach every pass."""
    buffers = []
    for shape in scene.shapes():
        if shape.is_mesh():
            for b in (shape.vertex_positions_buffer(), shape.vertex_normals_buffer()):
                if dr.width(b) and dr.grad_enabled(b):
                    buffers.append(b)
    if not buffers:
        return []
    dr.forward_to(*buffers, flags=dr.ADFlag.ClearEdges | dr.ADFlag.AllowNoGrad)
    return [(b, dr.grad(b)) for b in buffers]


def restore_tangents(tangents) -> None:
    """Set the parameters' tangents recorded by :func:`parameter_tangents` again."""
    for value, grad in tangents:
        dr.set_grad(value, grad)


def _match_channels(img, like):
    """Pad an RGB derivative image with zero channels (alpha, AOVs) to ``like``'s shape."""
    if img.shape == like.shape:
        return img
    a = np.zeros(like.shape, dtype=np.float32)
    a[..., :img.shape[2]] = np.array(img)
    return upload_tensor(a)


def scene_attached(scene) -> bool:
    """Whether a scene parameter that ``prb`` differentiates carries a gradient (sensor parameters and
    point-light positions are handled by this package's terms only)."""
    for key, node, value in _parameter_arrays(scene):
        if isinstance(node, mi.Sensor):
            continue
        if isinstance(node, mi.Emitter) and node.class_name() == "PointLight" and key.endswith(".position"):
            continue
        if dr.grad_enabled(value):
            return True
    return False
