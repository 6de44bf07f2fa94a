"""``warped_area``: a path tracer with visibility-aware gradients by warped-area sampling.

Bangaru, Li, Durand 2020, "Unbiased Warped-Area Sampling for Differentiable Rendering".

Like ``edge_sampling``, the derivative is Mitsuba 3.9's ``prb`` interior term plus the boundary
term ``prb`` lacks, but the boundary term is estimated without sampling edges: for pixel j with a
continuous reconstruction filter k_j, the Reynolds transport theorem applied region by region and
the divergence theorem give

    ∂I_j/∂θ = ∫ ∂_θ f_j dx + ∫ ∇·(f_j V) dx,    f_j(x) = k_j(x) L(x) / K,

for any warp field V that is continuous and equals the discontinuities' velocity on them
(:mod:`integrators.path.warp_field` builds one from auxiliary rays). The second integral is
estimated at ordinary film samples x: ``∇·(f V) = ∇f · V + f ∇·V``. Rather than differentiating
with respect to x by hand, the film sample is *reparameterized*: x(θ) = x + ΔX with ΔX a zero-valued
expression whose derivative is V̂(x), the radiance is traced along x(θ) with Dr.Jit AD, weighted by
1 + Δdiv (derivative ∇·V̂) and splatted at x(θ) (the filter's ∇k_j · V); the same estimate at the
fixed x is subtracted, so that ``prb``'s interior term ∂_θ f is not counted twice. The result is a
zero-valued image whose derivative is the boundary term, so forward and reverse mode share the code.
Secondary visibility (shadows, indirect visibility) is the same construction on the sphere of
directions at every path vertex (:mod:`integrators.path.warped_secondary`, ``secondary = "warp"``)
or edge sampling's secondary term (:mod:`.secondary`, ``"edge"``); either measures a camera
vertex's motion with its surface, the frame in which the primary term has already moved the film
sample (a shadow on a moving receiver moves relative to the surface by the shadow's motion minus the
surface's). The default, ``"auto"``, takes
edge sampling's (which also covers static occluders under moving lights): the direction-space warp
is unbiased but variance-limited at any affordable count. Measured on a triangle's shadow under an area
light at 16 spp (16x16, vs FD of ``path``): the warp at its default 4 paths per pixel has relative
L2 errors of 2.5-8.9 (three seeds), 0.39-0.54 at 1024, and needs ~4096 paths per pixel to reach 30 %
(86-89 % of a path's variance is the warp estimate's own at a fixed direction,
``benchmarks/warped_secondary_variance.py``); edge sampling's term reaches 17-24 % at 16. Procedural shaders' own
edges on surfaces seen directly, through smooth mirrors and glass, or through glossy or diffuse
scattering add the line-sample terms of :mod:`.shader_edges` and :mod:`.shader_scatter`.

Parameters (Mitsuba plugin properties; a count not set is derived from the gradient pass's samples
per pixel n and ``boundary_budget`` B):

| property | default | meaning |
|---|---|---|
| ``max_depth``, ``rr_depth``, ``hide_emitters`` | as ``prb`` | as Mitsuba's ``prb`` |
| ``film_spp`` | max(4, ⌈B n⌉) | film samples per pixel for the primary boundary term; 0 disables |
| ``secondary`` | "auto" | secondary-visibility estimator: "edge", "warp" or "auto" (= "edge", above) |
| ``secondary_path_spp`` | max(2, ⌈4 B n⌉) | camera paths per pixel, secondary term (notes 1, 2); 0: off |
| ``boundary_budget`` | 1 | B above |
| ``aux_rays`` | 16 | auxiliary rays per film sample |
| ``primary_kappa`` | 4 | concentration of the film-space Gaussian kernel, 1/σ² in pixels⁻² (note 3) |
| ``power`` | 2 | harmonic exponent γ >= 1 |
| ``antithetic`` | false | film samples in pairs ±δ about the pixel centre (note 4) |
| ``samples_per_pass`` | 2^19 | film samples or camera paths per AD traversal (bounds memory) |
| ``secondary_aux_rays`` | 16 | auxiliary rays per direction sample of the secondary term |
| ``secondary_kappa`` | 1e5 | concentration of the von Mises-Fisher kernel on the sphere of directions (~3 mrad) |
| ``primary_lobes``, ``secondary_lobes`` | "1,30,1000" | proposal lobes of the auxiliary samples (see below) |
| ``camera_spp`` | 4 | samples per pixel for camera pose / fov derivatives (:mod:`.camera_motion`) |
| ``emitter_spp`` | 4 | next-event estimation under moving lights (:mod:`.emitter_motion`) |

Note 1: the camera paths' vertices of depth 0 .. max_depth - 2 are used; with an unbounded depth
(``max_depth = -1``) the paths end by Russian roulette.
Note 2: max(2, ⌈B n / 4⌉) for the direction-space warp.
Note 3: σ = 0.5 px. Measured with nothing else set, 16 spp, 16x16, box filter, three seeds (rel. L2
vs FD of ``path``; κ = 16 / 4 / 2): plane under an environment map 63-72 / 26-41 / 32-37 %, square
emitter 10-23 / 8-10 / 9-10 %, sphere emitter 35-45 / 17-18 / 15-22 %, occluder under an area light
30-66 / 23-47 / 18-65 %; at 1024 film samples per pixel the error fell too (7.9 -> 4.1 %, 5.7 -> 2.4 %,
6.2 -> 4.4 %, 16.4 -> 14.9 %): the wider kernel's smoothing of V costs less than its variance saves.

Note 4: antithetic pairs gave a slightly lower typical error but rare outliers that dominate the
mean squared error: one seed in six to eight 40-60 % rel. L2 off where the others were 5-25 %
(nothing set, 16x16, box filter, vs FD of ``path``; RMS over 6-8 seeds, pairs / independent
samples): scaled sphere emitter 18.9 / 11.4 % at 64 spp and 17.0 / 6.8 % at 256 spp, plane under
an environment map 26.3 / 25.1 % and 49.2 / 12.6 %, square emitter 8.6 / 9.9 % and 3.8 / 3.1 %,
occluder under an area light 23.3 / 17.8 %, moving shadow receiver 30.9 / 22.9 %, self-shadowing
right angle 26.3 / 25.3 % (64 spp), at the same time per gradient. Part of it was the film-sample
distribution of the box filter, which was not symmetric (:func:`_filter_distribution`, fixed):
the sphere emitter's outlier went away (pairs 13.4 / 6.6 %, independent 11.2 / 7.1 %), the plane's
became 26.4 / 9.5 % vs 25.1 / 12.5 %, but the moving receiver keeps one (seed 3 of 8: 60 %; RMS
29.2 vs 23.8 %), so pairs stay off by default.

A lobe entry is a concentration in units of the kernel's; auxiliary sample i is drawn from entry i mod K,
so a repeated entry gets a larger share (:class:`.warp_field.DirectionWarp`). The secondary term runs
wherever a moving mesh can shadow or be seen at a path vertex; it is skipped only where it vanishes
(``max_depth`` < 2, nothing moves, or :func:`.edges.no_secondary_edges`). ``primary_spp`` and
``secondary_spp`` are deprecated names of ``film_spp`` and ``secondary_path_spp``.

Box filters: a box filter's pixel borders are static discontinuities of f_j that the warp field,
which follows the geometry, crosses; the primary term then subtracts their flux
(:mod:`.warped_borders`, ``film_spp`` / 2 samples per pixel edge). The secondary term works with any
filter (it splats at fixed film positions).
"""
from __future__ import annotations

import math

import drjit as dr
import mitsuba as mi

from .base import signed_depth, budget_option, count_option, derived_count
from .camera import PinholeCamera
from .camera_motion import CameraMotionIntegrator
from .film import filter_integral, term_sampler
from .secondary import SECONDARY_SHARE
from .secondary import secondary_boundary_image as edge_secondary_image
from .shader_edges import shader_boundary_image
from .warp_field import LOBE_SCALES, FilmWarp
from .warped_borders import pixel_border_image
from .warped_secondary import secondary_boundary_image


def _option(props, name, default, kind, check, message):
    value = kind(props.get(name, default))
    if not check(value):
        raise ValueError(f"warped_area: {name} {message}, got {value}")
    return value


def _lobes(props, name, default):
    """Proposal lobes of the auxiliary samples: comma-separated concentrations in units of κ."""
    value = props.get(name, ",".join(f"{m:g}" for m in default))
    try:
        scales = tuple(float(m) for m in str(value).split(","))
    except ValueError:
        scales = ()
    if not scales or not all(math.isfinite(m) and m > 0 for m in scales):
        raise ValueError(f"warped_area: {name} must be a comma-separated list of finite numbers > 0 "
                         f"(lobe concentrations in units of the kernel's), got {value!r}")
    return scales


def _filter_distribution(rfilter, n: int = 512):
    """1D sampling distribution proportional to the reconstruction filter (Mitsuba filters are
    separable), symmetric about 0: the table's end values are the filter's limits from inside its
    support (a box filter evaluates to 1 at -r but 0 at +r, which made the density fall to 0 over
    the last bin at +r only; a sample -δ of an antithetic pair was then weighted by a density that
    was not its own, up to 1000x too large)."""
    r = float(rfilter.radius())
    x = dr.linspace(mi.Float, -r, r, n)
    inside = (1 - 1e-4) * r
    x = dr.clip(x, -inside, inside)
    table = rfilter.eval(x) + rfilter.eval(-x)   # symmetric by construction
    return mi.ContinuousDistribution(mi.ScalarVector2f(-r, r), table)


class WarpedAreaIntegrator(CameraMotionIntegrator):
    def __init__(self, props):
        super().__init__(props)
        self.film_spp = count_option(props, "warped_area", "film_spp", "primary_spp")
        self.secondary_path_spp = count_option(props, "warped_area", "secondary_path_spp", "secondary_spp")
        self.boundary_budget = budget_option(props, "warped_area")
        self.secondary = str(props.get("secondary", "auto"))
        if self.secondary not in ("auto", "edge", "warp"):
            raise ValueError(f"warped_area: secondary must be 'auto', 'edge' or 'warp', got {self.secondary!r}")
        self.resolve_counts(None, None, 4)
        self.aux_rays = _option(props, "aux_rays", 16, int, lambda v: v >= 1, "must be >= 1")
        self.secondary_aux_rays = _option(props, "secondary_aux_rays", 16, int, lambda v: v >= 1, "must be >= 1")
        self.primary_kappa = _option(props, "primary_kappa", 4.0, float, lambda v: math.isfinite(v) and v > 0,
                                     "must be a finite number > 0")
        self.power = _option(props, "power", 2.0, float, lambda v: math.isfinite(v) and v >= 1,
                             "(harmonic exponent) must be >= 1 for the warp field to be boundary-consistent")
        self.antithetic = bool(props.get("antithetic", False))
        self.secondary_kappa = _option(props, "secondary_kappa", 1e5, float, lambda v: math.isfinite(v) and v > 0,
                                       "must be a finite number > 0")
        self.primary_lobes = _lobes(props, "primary_lobes", LOBE_SCALES)
        self.secondary_lobes = _lobes(props, "secondary_lobes", LOBE_SCALES)
        self._incident = {}
        self._warp = None   # this render's film warp field (:meth:`_prepare`)
        self.samples_per_pass = _option(props, "samples_per_pass", 1 << 19, int, lambda v: v >= 2, "must be >= 2")
        self._path = mi.load_dict({"type": "path", "max_depth": signed_depth(self.max_depth), "rr_depth": self.rr_depth,
                                   "hide_emitters": self.hide_emitters})

    def resolve_counts(self, scene, sensor, spp):
        """This render's secondary estimator and counts: ``primary_spp`` film samples and
        ``secondary_spp`` camera paths per pixel."""
        self.secondary_mode = "edge" if self.secondary == "auto" else self.secondary
        self.primary_spp = derived_count(self.film_spp, self.boundary_budget, spp, 1.0, 4)
        share = 0.25 if self.secondary_mode == "warp" else SECONDARY_SHARE
        self.secondary_spp = derived_count(self.secondary_path_spp, self.boundary_budget, spp, share, 2)
        self.border_spp = max(1, self.primary_spp // 2)

    def _prepare(self, scene, sensor, spp):
        super()._prepare(scene, sensor, spp)
        # One film warp field per render (building it welds and indexes every static mesh for its
        # edge masks): the primary passes, their pixel-border flux and the secondary term's camera
        # vertices share it; None without a primary term (vertices then move along their rays).
        sensor = self._sensor(scene, sensor)
        self._warp = self.film_warp(scene, sensor, PinholeCamera(sensor)) if self.primary_spp > 0 else None

    # The boundary terms are evaluated in passes: the primary term in blocks of at most
    # ``samples_per_pass`` film samples (whole pixel rows), the secondary term in blocks of at most
    # ``samples_per_pass`` camera paths (whole samples per pixel). In forward mode each pass is
    # traversed on its own, so the AD graph of the reparameterized path evaluations (~0.8 KiB per
    # primary sample) is bounded by the pass size instead of growing with spp x pixels; so does
    # reverse mode (one traversal per pass, :meth:`.base.BoundaryTermIntegrator.render_backward`).
    def _passes(self, sensor):
        W, H = (int(v) for v in sensor.film().crop_size())
        spp = self.primary_spp + self.primary_spp % 2
        rows = max(1, self.samples_per_pass // max(spp * W, 1))
        return [(r, min(r + rows, H)) for r in range(0, H, rows)] if self.primary_spp > 0 else []

    def _secondary_passes(self, sensor):
        W, H = (int(v) for v in sensor.film().crop_size())
        per = max(1, min(self.secondary_spp, self.samples_per_pass // (W * H)))
        return [min(per, self.secondary_spp - k) for k in range(0, self.secondary_spp, per)]

    def extra_terms(self, scene, sensor, seed: int) -> list:
        """The base terms, edge sampling's secondary term where it is this render's secondary
        estimator, and procedural shaders' own edges seen directly or through specular chains
        (:mod:`.shader_edges`, ``film_spp`` line pairs per pixel): the warp field follows geometry
        only, so a shader's edges need their own term here too."""
        terms = super().extra_terms(scene, sensor, seed)
        if self.secondary_mode == "edge":
            # the camera vertices move as the primary term moves film samples (along their rays without it)
            terms.append(edge_secondary_image(self, scene, sensor, seed, self.secondary_spp,
                                              camera_frame="ray" if self._warp is None else "warp",
                                              film_warp=self._warp))
        shader = shader_boundary_image(self, scene, sensor, seed, self.primary_spp, camera_frame="surface")
        if shader is not None:
            terms.append(shader)
        return terms

    def extra_passes(self, scene, sensor, seed):
        """Yield (row0, row1, zero-valued image of those rows) for every pass of both terms; with a box
        filter, each primary pass is followed by its pixel-border flux (:mod:`.warped_borders`)."""
        H = int(sensor.film().crop_size()[1])
        box = sensor.film().rfilter().is_box_filter()
        passes = self._passes(sensor)
        warp = self._warp
        for k, (r0, r1) in enumerate(passes):
            yield r0, r1, self.primary_boundary_image(scene, sensor, seed, r0, r1, k, warp)
            if box:
                top, img = pixel_border_image(self, scene, sensor, warp.camera, warp, seed, self.border_spp,
                                              r0, r1, k)
                yield top, r1, img
        for k, spp in enumerate(self._secondary_passes(sensor) if self.secondary_mode == "warp" else []):
            img = secondary_boundary_image(self, scene, sensor, seed, spp, k, warp)
            yield 0, H, img * (spp / self.secondary_spp)

    def film_warp(self, scene, sensor, cam):
        """The film-space warp field of this integrator's settings (:class:`.warp_field.FilmWarp`)."""
        return FilmWarp(scene, sensor, cam, self.aux_rays, self.primary_kappa, self.power, self.primary_lobes)

    def incident_path(self, max_depth: int):
        """Mitsuba's ``path`` for incident radiance with ``max_depth`` segments (emitters visible)."""
        max_depth = signed_depth(max_depth)  # remaining depth of an unbounded path
        if max_depth not in self._incident:
            self._incident[max_depth] = mi.load_dict({"type": "path", "max_depth": max_depth,
                                                      "rr_depth": self.rr_depth, "hide_emitters": False})
        return self._incident[max_depth]

    def radiance(self, scene, sensor, x, sampler):
        """Radiance through film points ``x`` (pixels), differentiable in x and in the scene."""
        W, H = (int(v) for v in sensor.film().crop_size())
        ray, weight = sensor.sample_ray(sensor.shutter_open(), 0.5, x * mi.ScalarVector2f(1 / W, 1 / H),
                                        mi.Point2f(0.5))
        # Evaluated loops: the AD graph of the path is recorded, so reverse mode works too.
        with dr.scoped_set_flag(dr.JitFlag.SymbolicLoops, False):
            L, _, _ = self._path.sample(scene, sampler, ray)
        return L * weight

    def primary_boundary_image(self, scene, sensor, seed: int, row0: int = 0, row1: int | None = None,
                               pass_index: int = 0, warp: FilmWarp | None = None):
        """Zero-valued image of film rows [row0, row1) whose derivative is the primary boundary term.

        Gathered per pixel: pixel j draws x = c_j + δ, δ distributed like the filter (optionally
        in antithetic pairs ±δ, in which the filter-gradient term ∇k_j · V L, zero-mean wherever
        V L is locally constant, cancels pairwise), so that term does not add noise to every
        covered pixel.
        """
        film = sensor.film()
        rfilter = film.rfilter()
        cam = PinholeCamera(sensor)
        spp = self.primary_spp + self.primary_spp % 2  # whole pairs (antithetic, score baseline)
        row1 = cam.H if row1 is None else row1
        N = spp * cam.W * (row1 - row0)
        sampler = term_sampler(seed, "warped_film", N, pass_index)
        with dr.suspend_grad():
            idx = dr.arange(mi.UInt32, N)
            # Counts and offsets as kernel inputs: literals would compile a kernel per count and pass.
            pix = idx // dr.opaque(mi.UInt32, spp) + dr.opaque(mi.UInt32, row0 * cam.W)
            centre = mi.Point2f(mi.Float(pix % cam.W) + 0.5, mi.Float(pix // cam.W) + 0.5)
            u = sampler.next_2d()
            if self.antithetic:
                u = dr.gather(mi.Point2f, u, idx - idx % 2)
            sign = dr.select((idx % 2 == 0) | (not self.antithetic), 1.0, -1.0)
            # δ drawn from the (separable) filter itself, so that k(δ) / p(δ) is about constant.
            k1 = _filter_distribution(rfilter)
            delta = sign * mi.Vector2f(k1.sample(u.x), k1.sample(u.y))
            pdf = k1.eval_pdf_normalized(delta.x) * k1.eval_pdf_normalized(delta.y)
            x = centre + delta
            # evaluated once (with the sampler's state): every auxiliary-ray and radiance kernel
            # below reads them; left lazy, the filter sampling is traced into each of those kernels
            sampler.schedule_state()
            dr.eval(x, delta, pdf)
        dV, dDiv = (warp or self.film_warp(scene, sensor, cam)).estimate(x, sampler)
        # Control variate: ∫ ∇·(k_j V) dx = 0 (V continuous, k_j zero on its support's border), so
        # any constant C_j may be subtracted from L; L at the pixel centre, traced with the same path
        # random numbers, makes the integrand vanish wherever the filter sees one smooth region.
        with dr.suspend_grad():
            C = self.radiance(scene, sensor, centre, sampler.clone())
        L_att = self.radiance(scene, sensor, x + dV, sampler.clone()) - C
        L_fix = self.radiance(scene, sensor, x, sampler) - C
        d_att = delta + dV
        k_att = rfilter.eval(d_att.x) * rfilter.eval(d_att.y)
        k_fix = dr.detach(rfilter.eval(delta.x) * rfilter.eval(delta.y))
        scale = dr.rcp(pdf * dr.opaque(mi.Float, spp * filter_integral(rfilter)))
        value = (L_att * (k_att * (1 + dDiv)) - L_fix * k_fix) * scale
        img = dr.block_sum(value, spp)
        return mi.TensorXf(dr.ravel(img), shape=(row1 - row0, cam.W, 3))

    def to_string(self):
        return (f"WarpedAreaIntegrator[max_depth = {self.max_depth}, film_spp = {self.film_spp}, "
                f"aux_rays = {self.aux_rays}, secondary_aux_rays = {self.secondary_aux_rays}, "
                f"primary_kappa = {self.primary_kappa}, power = {self.power}, "
                f"antithetic = {self.antithetic}, secondary = {self.secondary}, "
                f"secondary_path_spp = {self.secondary_path_spp}, "
                f"boundary_budget = {self.boundary_budget}, "
                f"primary_lobes = {self.primary_lobes}, secondary_lobes = {self.secondary_lobes}]")


mi.register_integrator("warped_area", lambda props: WarpedAreaIntegrator(props))
