"""3D adversarial examples: optimise scene parameters so that an image classifier mislabels renders
of an object from every view (Athalye et al. 2018, "Synthesizing Robust Adversarial Examples"; Liu et
al. 2019, "Beyond Pixel Norm-Balls": parametric lighting and geometry attacks).

The objective renders a few random views per step (Expectation over Transformation, :mod:`.views`)
with a differentiable integrator, passes them to a torch classifier through ``dr.wrap`` (Dr.Jit AD
<-> torch autograd) and minimises a targeted or untargeted loss (:mod:`.losses`). Attacked
parameters, each alone or together (``kinds``), and their budgets (:data:`DEFAULT_BUDGETS`):

========== ======================================================== =================================
kind       parameter                                                budget (projection after each step)
========== ======================================================== =================================
texture    the shape's bitmap reflectance texels                    L-inf ``texture`` around the
                                                                    original, clipped to [0, 1]
vertices   the shape's vertex positions, Large Steps latent          per-vertex displacement norm
           (Nicolet et al. 2021, :mod:`penumbra.optim.large_steps`)  <= ``vertices`` (scene units)
light      every emitter's radiance (constant, area) or environment  relative L-inf ``light``
           map texels; area lights on meshes also move               translation L-inf ``light_position``
pose       a camera offset composed with every view: rotation       ``pose_angle`` degrees per axis,
           about the camera's axes and translation                   ``pose`` scene units per axis
========== ======================================================== =================================

Geometry and pose change visibility: their gradients need the boundary terms of ``edge_sampling``
or ``warped_area`` (``prb`` misses them; ``benchmarks/adversarial_prb.py`` measures the difference).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from penumbra.renderer import checks

from .classifier import Classifier, as_classifier
from .losses import LOSSES, attack_loss, fooled
from .views import EOT, held_out_views, sample_views

KINDS = ("texture", "vertices", "light", "pose")
DEFAULT_BUDGETS = {"texture": 0.06, "vertices": 0.05, "light": 0.5, "light_position": 0.2,
                   "pose": 0.05, "pose_angle": 5.0}
# Adam step sizes as a fraction of each budget (a few steps can cross the budget)
STEP_FRACTION = 0.25


class AttackError(ValueError):
    """The scene, the attacked parameters or the budgets do not fit the requested attack."""


@dataclass
class ViewResult:
    """The classifier's verdict on one held-out view."""
    top5: list          # [(name, index, probability)] * 5
    fooled: bool


@dataclass
class AttackResult:
    true_class: int
    target: int | None
    kinds: tuple
    budgets: dict
    before: list                       # ViewResult per held-out view, clean scene
    after: list                        # ViewResult per held-out view, adversarial scene
    images_before: list                # (H, W, 3) float arrays
    images_after: list
    values: dict                       # attacked parameter name -> final NumPy value
    history: list                      # loss per step
    train_fooled: list                 # fraction of the step's views fooled, per step
    steps: int
    seconds: float
    labels: dict = field(default_factory=dict)   # class index -> name, for the classes above

    @property
    def success_rate(self) -> float:
        return float(np.mean([v.fooled for v in self.after])) if self.after else 0.0

    @property
    def success_rate_before(self) -> float:
        return float(np.mean([v.fooled for v in self.before])) if self.before else 0.0

    def table(self) -> dict:
        """JSON-ready summary: success rates, per-view top-1 before/after, budgets, steps, time."""
        return {"true_class": self.true_class, "true_label": self.labels.get(self.true_class),
                "target": self.target,
                "target_label": self.labels.get(self.target) if self.target is not None else None,
                "kinds": list(self.kinds), "budgets": self.budgets, "steps": self.steps, "seconds": self.seconds,
                "success_rate_before": self.success_rate_before, "success_rate": self.success_rate,
                "views": [{"view": i, "before": b.top5, "after": a.top5, "fooled_before": b.fooled,
                           "fooled_after": a.fooled} for i, (b, a) in enumerate(zip(self.before, self.after))]}


def classifier_function(classifier: Classifier):
    """``f(images) -> logits``: a Dr.Jit tensor (N, H, W, C >= 3) of renders to a Dr.Jit tensor (N, classes),
    differentiable (the torch classifier runs inside Dr.Jit's AD graph through ``dr.wrap``). Pixel values
    are clipped to [0, 1] like a camera's."""
    import drjit as dr

    @dr.wrap(source="drjit", target="torch")
    def f(images):
        if images.requires_grad:
            # hand Dr.Jit a fresh contiguous gradient buffer: Dr.Jit bakes the layout of foreign
            # buffers into its kernels, and a strided view recompiles the render's backward kernels
            images.register_hook(lambda g: g.contiguous().clone())
        return classifier(images[..., :3].clamp(0.0, 1.0).permute(0, 3, 1, 2).contiguous())
    return f


def stack(images):
    """Dr.Jit tensors (H, W, C) of equal shape -> one tensor (N, H, W, C), keeping AD."""
    import drjit as dr
    import mitsuba as mi
    shape = tuple(images[0].shape)
    return mi.TensorXf(dr.concat([im.array for im in images]), shape=(len(images), *shape))


def _check_budgets(kinds, budgets) -> dict:
    out = dict(DEFAULT_BUDGETS)
    for k, v in (budgets or {}).items():
        if k not in DEFAULT_BUDGETS:
            raise AttackError(f"unknown budget {k!r} (budgets: {', '.join(DEFAULT_BUDGETS)})")
        out[k] = v
    need = {"texture": ["texture"], "vertices": ["vertices"], "light": ["light", "light_position"],
            "pose": ["pose", "pose_angle"]}
    for kind in kinds:
        for name in need[kind]:
            lo_ok = name in ("light_position", "pose", "pose_angle")   # these may be 0 (that part stays fixed)
            try:
                out[name] = checks.number(f"budget {name!r}", out[name], 0.0, open_lo=not lo_ok)
            except checks.InputError as e:
                raise AttackError(f"{e}; a budget of 0 allows no change") from None
    if "pose" in kinds and out["pose"] == 0 and out["pose_angle"] == 0:
        raise AttackError("pose attack with budgets 'pose' = 'pose_angle' = 0 allows no change")
    return out


class _Scene:
    """The attacked scene: parameter map, shape, camera key and object frame."""

    def __init__(self, scene, shape: str):
        from penumbra.scenes import ParameterMap
        self.scene, self.params = scene, ParameterMap(scene)
        shapes = {s.id(): s for s in scene.shapes()}
        if shape not in shapes:
            raise AttackError(f"the scene has no shape with id {shape!r} (shapes: {sorted(shapes)})")
        if not scene.sensors():
            raise AttackError("the scene has no sensor")
        self.shape_id, self.shape = shape, shapes[shape]
        sensor = scene.sensors()[0]
        self.camera_key = f"{sensor.id()}.to_world"
        if self.camera_key not in self.params:
            raise AttackError(f"the scene's first sensor ({sensor.id()!r}) is not a perspective camera with a "
                              f"pose parameter {self.camera_key!r}")
        bbox = self.shape.bbox()
        self.center = 0.5 * (np.array(bbox.min, float) + np.array(bbox.max, float))
        cam = np.array(self.params.mitsuba[self.camera_key].matrix, float).reshape(4, 4)
        self.distance = float(np.linalg.norm(cam[:3, 3] - self.center))

    def texture_key(self) -> str:
        keys = [k for k in self.params.keys() if k.startswith(self.shape_id + ".bsdf.") and k.endswith(".data")]
        if not keys:
            bsdf = [k for k in self.params.keys() if k.startswith(self.shape_id + ".bsdf.")]
            raise AttackError(f"texture attack: shape {self.shape_id!r} has no bitmap texture (its BSDF parameters: "
                              f"{bsdf or 'none'}); give it a bitmap reflectance or attack other parameters")
        info = self.params.info(keys[0])
        if not info.differentiable:
            raise AttackError(f"texture attack: {keys[0]!r} is a {info.type} (an 8-bit image is stored as integers "
                              "and cannot carry gradients); load the texture from a float image (EXR/HDR/PFM)")
        return keys[0]

    def light_keys(self) -> list[str]:
        import mitsuba as mi
        props = self.params.mitsuba.properties
        emitters = {k.rsplit(".", 1)[0] for k in props if isinstance(props[k][2], mi.Emitter)}
        keys = [k for k in props if any(k in (e + ".radiance.value", e + ".data") for e in emitters)]
        if not keys:
            raise AttackError("light attack: the scene has no emitter with a radiance or an environment map")
        return keys

    def light_shapes(self) -> list[str]:
        """Ids of the emitting shapes that have (or can be given, for meshes) a ``<id>.to_world``."""
        props = self.params.mitsuba.properties
        return [s.id() for s in self.scene.shapes() if s.is_emitter() and s.id()
                and (f"{s.id()}.to_world" in props or f"{s.id()}.vertex_positions" in props)]


def attack(scene, classifier, shape: str, kinds=("texture",), target=None, label=None, loss: str = "cw",
           kappa: float = 5.0, budgets: dict | None = None, steps: int = 40, views_per_step: int = 2,
           spp: int = 4, integrator="edge_sampling", eot: EOT | None = None, eval_views: int = 8,
           eval_spp: int = 16, lambda_: float = 20.0, seed: int = 0, progress: bool = True,
           out_dir: str | None = None) -> AttackResult:
    """Attack ``classifier`` with ``scene``'s object ``shape``; returns an :class:`AttackResult` and leaves
    the scene in its adversarial state (texture, vertices, lights; the pose offset is in ``values``).

    ``target`` (class index or name) makes the attack targeted; otherwise it is untargeted against
    ``label`` (default: the classifier's majority top-1 over the clean held-out views). ``loss`` is "cw"
    (margin, clipped at ``kappa``) or "ce". Each step renders ``views_per_step`` random views at ``spp``
    with ``integrator``; success is measured on ``eval_views`` held-out views at ``eval_spp``.
    """
    import drjit as dr
    import mitsuba as mi
    import torch

    from penumbra import optim
    from penumbra.optim.large_steps import LargeSteps, UniformAdam
    from penumbra.scenes import mesh_arrays

    classifier = as_classifier(classifier)
    kinds = tuple(dict.fromkeys([kinds] if isinstance(kinds, str) else kinds))
    if not kinds:
        raise AttackError("no parameters to attack: give kinds from " + ", ".join(KINDS))
    for k in kinds:
        if k not in KINDS:
            raise AttackError(f"unknown attack kind {k!r} (use any of {', '.join(KINDS)})")
    checks.choice("loss", loss, LOSSES)
    kappa = checks.number("kappa", kappa, 0.0)
    steps = checks.integer("steps", steps, lo=1)
    views_per_step = checks.integer("views_per_step", views_per_step, lo=1)
    spp = checks.integer("spp", spp, lo=1)
    eval_views = checks.integer("eval_views", eval_views, lo=1)
    eval_spp = checks.integer("eval_spp", eval_spp, lo=1)
    eot = (eot or EOT()).check()
    budgets = _check_budgets(kinds, budgets)
    target = None if target is None else classifier.class_index(target)
    s = _Scene(scene, shape)
    params = s.params
    if isinstance(integrator, str):
        integrator = mi.load_dict({"type": integrator})
    elif isinstance(integrator, dict):
        integrator = mi.load_dict(integrator)
    distance = eot.distance or s.distance

    # --- attacked variables ----------------------------------------------------------------------
    variables, uniform = {}, set()
    base = {}
    if "texture" in kinds:
        key = s.texture_key()
        x0 = params.validate(key, params.snapshot([key])[key])
        lo, hi = dr.maximum(x0 - budgets["texture"], 0.0), dr.minimum(x0 + budgets["texture"], 1.0)
        dr.eval(lo, hi)
        variables[key] = optim.Variable(x0, lr=STEP_FRACTION * budgets["texture"],
                                        project=lambda v, lo=lo, hi=hi: dr.clip(v, lo, hi))
    if "vertices" in kinds:
        if not s.shape.is_mesh():
            raise AttackError(f"vertex attack: shape {shape!r} is not a triangle mesh")
        key = f"{shape}.vertex_positions"
        V, F = mesh_arrays(s.shape)
        x0 = params.validate(key, V.ravel())
        bound = budgets["vertices"]

        def project_vertices(v, x0=x0, bound=bound):
            d = dr.unravel(mi.Vector3f, v - x0)
            scale = dr.minimum(1.0, bound / dr.maximum(dr.norm(d), 1e-12))
            return x0 + dr.ravel(d * scale)
        # Large Steps smooths the step (x = M^-1 u): the latent's rate is the whole budget
        variables[key] = optim.Variable(x0, LargeSteps(V, F, lambda_), lr=bound,
                                        project=project_vertices)
        uniform.add(key)
    light_keys, light_ids = [], []
    if "light" in kinds:
        light_keys = s.light_keys()
        for key in light_keys:
            x0 = params.validate(key, params.snapshot([key])[key])
            lo, hi = x0 * (1.0 - budgets["light"]), x0 * (1.0 + budgets["light"])
            dr.eval(lo, hi)
            scale = float(np.max(np.abs(params.snapshot([key])[key]))) or 1.0
            variables[key] = optim.Variable(x0, lr=STEP_FRACTION * budgets["light"] * scale,
                                            project=lambda v, lo=lo, hi=hi: dr.clip(v, lo, hi))
        if budgets["light_position"] > 0:
            light_ids = s.light_shapes()
            meshes = [i for i in light_ids if f"{i}.to_world" not in params]
            if meshes:
                params.add_transforms(meshes)
            for lid in light_ids:
                base[f"{lid}.to_world"] = mi.Transform4f(mi.Matrix4f(
                    np.array(params[f"{lid}.to_world"].matrix, float).reshape(4, 4).tolist()))
                b = budgets["light_position"]
                variables[f"{lid}.translation"] = optim.Variable(
                    mi.Vector3f(0.0), lr=STEP_FRACTION * b, project=lambda v, b=b: dr.clip(v, -b, b))
    else:
        light_keys = [k for k in (s.light_keys() if eot.light_jitter > 0 else [])]
    for key in light_keys:
        base[key] = params.validate(key, params.snapshot([key])[key])
    if "pose" in kinds:
        for name, b in (("pose.translation", budgets["pose"]), ("pose.rotation", budgets["pose_angle"])):
            if b > 0:
                variables[name] = optim.Variable(mi.Vector3f(0.0), lr=STEP_FRACTION * b,
                                                 project=lambda v, b=b: dr.clip(v, -b, b))

    def pose_offset(values):
        T = mi.Transform4f()
        if "pose.translation" in values:
            T = T.translate(values["pose.translation"])
        if "pose.rotation" in values:
            r = values["pose.rotation"]
            for axis, angle in (([1, 0, 0], r.x), ([0, 1, 0], r.y), ([0, 0, 1], r.z)):
                T = T @ mi.Transform4f().rotate(mi.Vector3f(axis), angle)
        return T

    def apply(values, light_scale: float = 1.0):
        """Set every attacked scene parameter from ``values`` (lights scaled by ``light_scale``)."""
        update = {k: v for k, v in values.items() if k in params and k not in light_keys}
        # an opaque factor: a Python float that changes per step would be a literal in the render kernel,
        # recompiling it every step
        scale = dr.opaque(mi.Float, float(light_scale))
        for key in light_keys:
            update[key] = values.get(key, base[key]) * scale
        for lid in light_ids:
            move = mi.Transform4f().translate(values[f"{lid}.translation"])
            update[f"{lid}.to_world"] = move @ base[f"{lid}.to_world"]
        for k, v in update.items():
            params[k] = v

    logits_of = classifier_function(classifier)
    render_integrator = integrator

    def render_views(views, values, spp_, seed_, integ):
        offset = pose_offset(values)
        images = []
        for i, m in enumerate(views):
            params[s.camera_key] = mi.Transform4f(mi.Matrix4f(m.tolist())) @ offset
            params.update()
            images.append(mi.render(s.scene, params.mitsuba, spp=spp_, seed=seed_ + i, integrator=integ))
        return images

    def evaluate(values):
        apply(values)
        imgs = render_views(eval_set, {k: dr.detach(v) for k, v in values.items()}, eval_spp, 7919, None)
        with torch.no_grad():
            logits = classifier(torch.tensor(np.stack([np.clip(np.array(im)[..., :3], 0, 1) for im in imgs]),
                                             dtype=torch.float32).permute(0, 3, 1, 2))
        return [np.array(im)[..., :3] for im in imgs], logits

    eval_set = held_out_views(eot, s.center, distance, eval_views, seed=seed + 12345)
    init_values = {k: dr.detach(v.init) for k, v in variables.items()}
    images_before, logits_before = evaluate(init_values)
    if label is None:
        label = int(np.bincount(logits_before.argmax(1).numpy(), minlength=2).argmax())
    label = classifier.class_index(label)
    cls = target if target is not None else label
    targeted = target is not None
    if targeted and target == label:
        raise AttackError(f"the target class {target} ({classifier.label(target)!r}) is the true class")

    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    train_fooled, step_counter = [], [0]

    def objective(values):
        step = step_counter[0]
        step_counter[0] += 1
        jitter = float(rng.uniform(1.0 - eot.light_jitter, 1.0 + eot.light_jitter))
        apply(values, jitter)
        views = sample_views(eot, s.center, distance, views_per_step, rng)
        images = render_views(views, values, spp, seed * 100003 + step * views_per_step, render_integrator)
        batch = stack(images)
        if eot.noise > 0:
            noise = torch.randn(tuple(batch.shape), generator=gen) * eot.noise
            batch = batch + mi.TensorXf(noise.numpy())
        logits = logits_of(batch)
        loss_fn = _wrapped_loss(cls, targeted, loss, kappa)
        lt = torch.tensor(np.array(logits))
        train_fooled.append(float(fooled(lt, cls, targeted).float().mean()))
        return loss_fn(logits)

    t0 = time.perf_counter()
    result = optim.optimize(objective, variables, steps, optimizer=UniformAdam(uniform=uniform), out_dir=out_dir,
                            progress=progress, description=f"attack ({'+'.join(kinds)})")
    images_after, logits_after = evaluate(result.values)
    seconds = time.perf_counter() - t0

    def verdicts(logits):
        tops = classifier.top_k(logits, 5)
        hit = fooled(logits, cls, targeted).tolist()
        return [ViewResult(t, bool(h)) for t, h in zip(tops, hit)]

    before, after = verdicts(logits_before), verdicts(logits_after)
    names = {i: classifier.label(i) for v in before + after for (_, i, _) in v.top5}
    names[label] = classifier.label(label)
    if target is not None:
        names[target] = classifier.label(target)
    return AttackResult(label, target, kinds, {k: budgets[k] for k in budgets if k.split("_")[0] in kinds},
                        before, after, images_before, images_after,
                        {k: np.array(v) for k, v in result.values.items()}, result.history, train_fooled,
                        steps, seconds, names)


def _wrapped_loss(cls, targeted, kind, kappa):
    import drjit as dr

    @dr.wrap(source="drjit", target="torch")
    def f(logits):
        return attack_loss(logits, cls, targeted, kind, kappa)
    return f
