"""Boundary term of procedural shaders' own discontinuities seen directly, through smooth mirrors and glass,
and (:mod:`.shader_scatter`) through glossy or diffuse scattering.

A surface whose BSDF reads a ``shader`` texture (:mod:`penumbra.shaders.texture`) shows the
shader's edges (thresholds, stripes, masks) on the film; their motion with the shader's parameters
(or with the surface) is a boundary term that ``prb``'s interior replay cannot see. It is estimated
by :func:`penumbra.shaders.boundary.boundary_image` (line samples across each pixel, roots of the
level functions by bisection, jump by two camera paths with the same random numbers, weight by the
normal velocity). The film lookup traces a camera ray and follows it through purely specular
(delta) BSDFs (smooth ``conductor``, ``dielectric``, ``thindielectric``: every lobe a Dirac) up to
:func:`chain_length` bounces, to the first other surface; the points where that surface is the
shader's own are searched. Where a vertex has both a reflected and a refracted branch, each line
follows one of them, chosen by its random ``chain`` word (reflection with probability
``P_REFLECT`` = 1/8, near the Fresnel reflectance of glass at moderate angles, refraction otherwise),
and its roots are weighted by 1 / that probability. The choice does not depend on the position
along the line, so the chain is a continuous map of the film position, as bisection needs. The
jump is the whole camera path's radiance on both sides of the root (same random numbers), whose
expectation is the chain's throughput times the jump at the shader surface: the other branches do not
jump there. A shader edge hidden behind an occluder contributes nothing; where a silhouette cuts a
sub-interval of a line, a shader edge inside that sub-interval is not searched.

Seen through glossy or diffuse scattering (a rough reflection of the shader surface, indirect light
from it onto a diffuse one, any number of such vertices and specular ones between them):
:mod:`.shader_scatter`, added by :func:`shader_boundary_image` for shapes whose uv maps one-to-one to
their surface. Not covered: a glossy or diffuse vertex that the camera sees through a smooth mirror
or glass (camera → specular → glossy/diffuse → ... → shader surface), and shapes without such a uv
map; :func:`shader_boundary_image` warns (:class:`ShaderEdgeCoverageWarning`) whenever ``max_depth``
allows such paths (:func:`warn_uncovered`).

Any pixel filter: the roots are splatted with the film's filter, normalised by its integral like the
other boundary terms (:func:`.film.filter_integral`). Used by ``edge_sampling`` and ``warped_area``.
"""
from __future__ import annotations

import warnings

import drjit as dr
import mitsuba as mi

from penumbra.renderer import checks
from penumbra.shaders.boundary import FilmLookup, boundary_image

from .base import signed_depth
from .camera import camera_radiance
from .edges import scene_meshes
from .film import filter_integral, stream_seed
from .shader_scatter import scatter_boundary_image, supports_parameterization
from .vertices import CAMERA_FRAMES, attached_hit

MAX_CHAIN = 8   # specular bounces followed at most (and no more than max_depth - 2)
P_REFLECT = 0.125   # probability of following the reflected branch where there is a refracted one too


class ShaderEdgeCoverageWarning(UserWarning):
    """Shader edges may reach the image through paths that the shader boundary terms do not include
    (a glossy or diffuse vertex seen through a mirror, or shapes without a one-to-one uv map)."""


def purely_specular(flags):
    """True where BSDF ``flags`` (int or ``mi.UInt32``) have Dirac lobes only."""
    if isinstance(flags, int):
        return bool(flags & int(mi.BSDFFlags.Delta)) and not flags & int(mi.BSDFFlags.Smooth)
    return mi.has_flag(flags, mi.BSDFFlags.Delta) & ~mi.has_flag(flags, mi.BSDFFlags.Smooth)


def has_purely_specular(scene) -> bool:
    """True where some shape's BSDF has Dirac lobes only."""
    return any(s.bsdf() is not None and purely_specular(int(s.bsdf().flags())) for s in scene.shapes())


def chain_length(integrator, scene) -> int:
    """Specular bounces the film lookup follows: 0 when no shape's BSDF is purely specular, else
    ``MAX_CHAIN`` capped at ``max_depth - 2`` (a surface reached after k bounces is path vertex k + 1 and
    reflects light into the image only if the path may go on to vertex k + 2)."""
    if not has_purely_specular(scene):
        return 0
    depth = signed_depth(integrator.max_depth)
    return MAX_CHAIN if depth < 0 else max(0, min(MAX_CHAIN, depth - 2))


def geometry_moves(scene) -> bool:
    """Whether a shape's placement has gradients (a mesh's vertex buffer, :func:`.edges.scene_meshes`,
    or another shape's ``to_world``): its shader edges then move on the film with it."""
    if scene_meshes(scene)[1]:
        return True
    for shape in scene.shapes():
        if not shape.is_mesh():
            mp = mi.traverse(shape)
            if "to_world" in mp.keys() and dr.grad_enabled(mp["to_world"]):
                return True
    return False


def shader_surfaces(scene, moving_geometry: bool = False) -> list:
    """``[(shape, texture)]``: the shapes whose BSDF reads a shader texture with a differentiable
    (gradient-enabled) parameter, or any shader texture when ``moving_geometry`` (its edges move
    with the geometry)."""
    out = []
    for shape in scene.shapes():
        bsdf = shape.bsdf()
        if bsdf is None:
            continue
        mp = mi.traverse(bsdf)
        seen = set()
        for key in mp.keys():
            node = mp.properties[key][2]
            if getattr(node, "is_penumbra_shader", False) and id(node) not in seen:
                seen.add(id(node))
                if moving_geometry or any(dr.grad_enabled(v) for v in node.shader.values.values()):
                    out.append((shape, node))
    return out


class CameraLookup(FilmLookup):
    """Film points -> uv on ``shape`` through the scene's camera rays and up to ``chain`` specular
    bounces (module docstring)."""

    def __init__(self, integrator, scene, sensor, shape, chain: int = 0, follow_shape: bool = False):
        film = sensor.film()
        self.follow_shape = follow_shape
        self.width, self.height = (int(v) for v in film.crop_size())
        self.integrator, self.scene, self.sensor = integrator, scene, sensor
        self.shape = mi.ShapePtr(shape)
        self.chain = int(chain)
        self.inv = mi.ScalarVector2f(1.0 / self.width, 1.0 / self.height)
        self.rfilter = film.rfilter()
        self.filter_norm = filter_integral(self.rfilter)

    def _trace(self, pos, chain):
        """``(si, valid, inverse branch probability)`` of the first non-specular hit through ``pos``; at
        the k-th specular vertex with two branches, a uniform number hashed from (``chain``, k) picks
        reflection (probability ``P_REFLECT``) or refraction."""
        # the camera ray is detached: camera motion is the scene's translation and the film warp of
        # :mod:`.camera_motion`, which already carry the edges' film motion
        ray = mi.Ray3f(dr.detach(self.sensor.sample_ray(self.sensor.shutter_open(), 0.5, pos * self.inv,
                                                        mi.Point2f(0.5))[0]))
        # the first hit moves along the camera ray, or with its surface (follow_shape: its uv is fixed)
        si = attached_hit(self.scene, ray, follow_shape=self.follow_shape)
        chain = mi.UInt32(0) if chain is None else chain
        valid, inv_q = mi.Bool(True), mi.Float(1.0)
        for k in range(self.chain):
            bsdf = si.bsdf()
            flags = bsdf.flags()
            specular = si.is_valid() & (si.shape != self.shape) & purely_specular(flags)
            if not dr.any(specular):
                break
            both = mi.has_flag(flags, mi.BSDFFlags.DeltaReflection) & mi.has_flag(flags, mi.BSDFFlags.DeltaTransmission)
            refract = both & (mi.sample_tea_float32(chain, mi.UInt32(k)) >= P_REFLECT)
            # sample1 = 0 selects the reflected lobe of a two-branch BSDF, 1 the refracted one
            bs, _ = bsdf.sample(mi.BSDFContext(), si, dr.select(refract, 1.0, 0.0), mi.Point2f(0.5), specular)
            took = mi.has_flag(bs.sampled_type, mi.BSDFFlags.DeltaTransmission)
            # the branch chosen must exist (no refraction under total internal reflection)
            follow = specular & (bs.pdf > 0) & ((took == refract) | ~both)
            valid &= ~specular | follow
            inv_q = dr.select(follow & both, inv_q / dr.select(refract, 1.0 - P_REFLECT, P_REFLECT), inv_q)
            nxt = self.scene.ray_intersect(si.spawn_ray(si.to_world(bs.wo)), follow)
            si = dr.select(follow, nxt, si)
        return si, valid & si.is_valid() & (si.shape == self.shape), inv_q

    def uv(self, pos, chain=None):
        with dr.suspend_grad():
            si, valid, _ = self._trace(pos, chain)
            return si.uv, valid

    def uv_attached(self, pos, chain=None):
        with dr.resume_grad():
            return self._trace(pos, chain)[0].uv

    def chain_weight(self, pos, chain):
        if self.chain == 0:
            return 1.0
        with dr.suspend_grad():
            return self._trace(pos, chain)[2]

    def radiance(self, pos, sampler):
        return camera_radiance(self.integrator, self.scene, self.sensor, pos, sampler)


def warn_uncovered(integrator, scene, surfaces, moving: bool | None = None) -> None:
    """Warn (:class:`ShaderEdgeCoverageWarning`) when ``max_depth`` lets shader edges reach the image
    through paths whose boundary term is not included: a glossy or diffuse vertex seen through a
    smooth mirror or glass (``max_depth`` < 0 or > 3 in a scene with a purely specular BSDF), or any
    glossy or diffuse vertex in front of a shape without a one-to-one uv map (``max_depth`` < 0 or > 2),
    or any glossy or diffuse vertex while geometry moves (the scattering term differentiates the
    shader's parameters, not the edges' motion with the geometry). ``moving``: :func:`geometry_moves`
    if already known."""
    depth = signed_depth(integrator.max_depth)
    if 0 <= depth <= 2:
        return
    unmapped = sorted({shape.id() for shape, _ in surfaces if not supports_parameterization(shape)})
    specular = (depth < 0 or depth > 3) and has_purely_specular(scene)
    moving = geometry_moves(scene) if moving is None else moving
    if not unmapped and not specular and not moving:
        return
    names = sorted({shape.id() for shape, _ in surfaces})
    what = []
    if moving:
        what.append("through glossy or diffuse scattering while geometry moves (the scattering term follows "
                    "the shader's parameters only)")
    if specular:
        what.append("through a glossy or diffuse surface seen in a smooth mirror or through glass")
    if unmapped:
        what.append(f"through glossy or diffuse scattering on {unmapped} (no one-to-one uv parameterization)")
    warnings.warn(
        f"{type(integrator).__name__}: the edges of the shader textures on {names} are differentiated where "
        "they are seen directly, through smooth mirrors and glass, and through glossy or diffuse scattering; "
        f"where they are seen {' or '.join(what)} their motion is missing from the gradient "
        f"(max_depth = {depth} allows such paths)", ShaderEdgeCoverageWarning, stacklevel=3)


#: Mitsuba textures whose value jumps along curves of the surface (``Texture.class_name()``)
DISCONTINUOUS_TEXTURES = ("Checkerboard",)


def warn_texture_edges(integrator, scene, camera_frame: str) -> None:
    """Warn (:class:`ShaderEdgeCoverageWarning`) where texture edges move relative to the points a
    boundary term measures from and no term samples that motion. ``"ray"`` (edge sampling): a
    Mitsuba texture with jumps (:data:`DISCONTINUOUS_TEXTURES`) on a moving shape (its edges move
    on the film with the shape; Penumbra's shader textures have their own term). ``"warp"``
    (warped-area sampling): any such texture or shader texture on any shape while geometry moves
    (within a pixel of a moving silhouette the warp field carries film samples across texture edges
    on static surfaces too, and the shader term measures them relative to the surface)."""
    moving = {m.id() for m in scene_meshes(scene)[1]}
    if not moving:
        return
    found = set()
    for shape in scene.shapes():
        bsdf = shape.bsdf()
        if bsdf is None or (camera_frame == "ray" and shape.id() not in moving):
            continue
        mp = mi.traverse(bsdf)
        nodes = [mp.properties[k][2] for k in mp.keys()]
        if any(getattr(n, "class_name", lambda: "")() in DISCONTINUOUS_TEXTURES for n in nodes) or \
                (camera_frame != "ray" and any(getattr(n, "is_penumbra_shader", False) for n in nodes)):
            found.add(shape.id())
    if found:
        remedy = ("use Penumbra's shader textures, whose edges are differentiated" if camera_frame == "ray"
                  else "use edge_sampling for this scene")
        warnings.warn(
            f"{type(integrator).__name__}: the textures of {sorted(found)} jump along curves that move relative "
            f"to the estimator's sample points while geometry moves, and no boundary term samples that motion: "
            f"the gradient is biased near them ({remedy})", ShaderEdgeCoverageWarning, stacklevel=3)


def shader_boundary_image(integrator, scene, sensor, seed: int, spp: int, camera_frame: str = "ray"):
    """Film-space image (``mi.TensorXf`` (H, W, 3), value 0) whose derivative is the boundary term of
    every differentiable shader texture seen directly or through specular chains, and through glossy
    or diffuse scattering (:mod:`.shader_scatter`); None when there is none.

    ``camera_frame`` as in :func:`.secondary.secondary_boundary_image`: ``"ray"`` (edge sampling) takes
    the edges' motion on the film with the shader's parameters and with the geometry (a textured
    object moving in view), ``"surface"`` (warped-area sampling, whose film warp already moves the
    samples with the geometry) only their motion within the surface, with the shader's parameters."""
    checks.choice("shader_boundary_image(camera_frame=...)", camera_frame, CAMERA_FRAMES)
    warn_texture_edges(integrator, scene, "warp" if camera_frame != "ray" else "ray")
    moving = geometry_moves(scene)
    surfaces = shader_surfaces(scene, moving_geometry=camera_frame == "ray" and moving)
    if not surfaces or spp <= 0:
        return None
    warn_uncovered(integrator, scene, surfaces, moving)
    chain = chain_length(integrator, scene)
    total = None
    for k, (shape, texture) in enumerate(surfaces):
        lookup = CameraLookup(integrator, scene, sensor, shape, chain, follow_shape=camera_frame == "surface")
        term = boundary_image(texture.shader, lookup, spp,
                              seed=stream_seed(seed, "shader_edges", k))
        if supports_parameterization(shape):
            scattered = scatter_boundary_image(integrator, scene, sensor, shape, texture,
                                               stream_seed(seed, "shader_scatter", k), spp)
            if scattered is not None:
                term = term + scattered
        total = term if total is None else total + term
    return total
