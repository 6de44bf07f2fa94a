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
    scene: object = None                         # the attacked Mitsuba scene, in its adversarial state

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


class SceneFile:
    """A picklable scene source: ``load_scene(path, **defaults)`` in whichever process calls it (the
    driver and every Ray worker of a distributed attack load their own copy)."""

    def __init__(self, path: str, **defaults):
        self.path, self.defaults = str(path), dict(defaults)

    def __call__(self):
        from penumbra.scenes import load_scene
        return load_scene(self.path, **self.defaults)


class AttackScene:
    """The attacked scene in one process: parameter map, shape, camera key, object frame, and the
    lights' original values; sets the attacked parameters from ``values`` and renders views."""

    def __init__(self, scene, shape: str, kinds=(), budgets=None, light_jitter: float = 0.0):
        from penumbra.scenes import ParameterMap
        budgets = budgets or DEFAULT_BUDGETS
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
        # lights: their radiance is attacked or jittered; emitting shapes move under a light_position budget
        self.light_keys = self.light_keys_() if ("light" in kinds or light_jitter > 0) else []
        self.light_ids = self.light_shapes() if ("light" in kinds and budgets["light_position"] > 0) else []
        meshes = [i for i in self.light_ids if f"{i}.to_world" not in self.params]
        if meshes:
            self.params.add_transforms(meshes)
        self.base = {key: self.params.validate(key, self.params.snapshot([key])[key]) for key in self.light_keys}
        import mitsuba as mi
        for lid in self.light_ids:
            self.base[f"{lid}.to_world"] = mi.Transform4f(mi.Matrix4f(
                np.array(self.params[f"{lid}.to_world"].matrix, float).reshape(4, 4).tolist()))

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

    def light_keys_(self) -> list[str]:
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

    @staticmethod
    def pose_offset(values):
        """The attacked camera offset: translation, then rotations about the camera's x, y, z axes (degrees)."""
        import mitsuba as mi
        T = mi.Transform4f()
        if "pose.translation" in values:
            T = T.translate(values["pose.translation"])
        if "pose.rotation" in values:
            r = values["pose.rotation"]
            for axis, angle in (([1, 0, 0], r.x), ([0, 1, 0], r.y), ([0, 0, 1], r.z)):
                T = T @ mi.Transform4f().rotate(mi.Vector3f(axis), angle)
        return T

    def apply(self, values, light_scale: float = 1.0):
        """Set every attacked scene parameter from ``values`` (lights scaled by ``light_scale``)."""
        import drjit as dr
        import mitsuba as mi
        params = self.params
        update = {k: v for k, v in values.items() if k in params and k not in self.light_keys}
        # an opaque factor: a Python float that changes per view would be a literal in the render kernel,
        # recompiling it every time
        scale = dr.opaque(mi.Float, float(light_scale))
        for key in self.light_keys:
            update[key] = values.get(key, self.base[key]) * scale
        for lid in self.light_ids:
            move = mi.Transform4f().translate(values[f"{lid}.translation"])
            update[f"{lid}.to_world"] = move @ self.base[f"{lid}.to_world"]
        for k, v in update.items():
            params[k] = v

    def render(self, camera, values, spp: int, seed: int, integrator=None, light_scale: float = 1.0):
        """Render the camera-to-world matrix ``camera`` (composed with the pose offset in ``values``) with
        the attacked parameters set from ``values``; differentiable with respect to them."""
        import mitsuba as mi
        self.apply(values, light_scale)
        camera = mi.Transform4f(mi.Matrix4f(np.asarray(camera).tolist()))
        self.params[self.camera_key] = camera @ self.pose_offset(values)
        self.params.update()
        return mi.render(self.scene, self.params.mitsuba, spp=spp, seed=seed % 2**32, integrator=integrator)


def view_rng(seed: int, step: int, view: int) -> np.random.Generator:
    """The random stream of training view ``view`` of step ``step``: its camera, light factor and image
    noise depend on (seed, step, view) alone, so any split of a step's views across processes, and a
    resumed run, draw the same numbers."""
    return np.random.default_rng([int(seed), int(step), int(view)])


class EOTLoss:
    """The attack's ``loss_fn(values, views, step)`` (:mod:`penumbra.optim.items`): the summed attack loss
    over training views ``views`` of step ``step``. View ``i`` draws from :func:`view_rng` a camera on the
    EOT ring/sphere, a light factor in ``[1 - light_jitter, 1 + light_jitter]`` and Gaussian image noise,
    and is rendered with render seed ``seed * 100003 + step * views_per_step + i``. ``fooled`` records,
    per step, the fraction of its views fooled (as evaluated in this process).

    Each view is differentiated as soon as it is rendered, while the scene holds its camera and light
    factor: Mitsuba's render op replays the render in the backward pass with the scene as it is then,
    so views rendered in a loop and differentiated together would all be differentiated with the last
    view's camera. The returned loss is the first-order expansion at ``values``
    (:func:`penumbra.distributed.gradients.linearized`): its value is the summed loss and its gradient the
    summed views' gradients."""

    def __init__(self, scene: AttackScene, classifier, cls: int, targeted: bool, loss: str, kappa: float, eot: EOT,
                 distance: float, views_per_step: int, spp: int, seed: int, integrator=None):
        self.scene, self.classifier, self.cls, self.targeted = scene, classifier, cls, targeted
        self.eot, self.distance, self.views_per_step, self.spp, self.seed = eot, distance, views_per_step, spp, seed
        self.integrator = integrator
        self.logits_of = classifier_function(classifier)
        self.loss_of = _wrapped_loss(cls, targeted, loss, kappa)
        self.fooled = {}

    def view_loss(self, values, step: int, i: int):
        """``(loss, logits)`` of training view ``i`` of ``step``, attached to ``values``' AD graph."""
        import mitsuba as mi
        rng = view_rng(self.seed, step, i)
        camera = sample_views(self.eot, self.scene.center, self.distance, 1, rng)[0]
        jitter = float(rng.uniform(1.0 - self.eot.light_jitter, 1.0 + self.eot.light_jitter))
        image = self.scene.render(camera, values, self.spp, self.seed * 100003 + step * self.views_per_step + i,
                                  self.integrator, jitter)
        if self.eot.noise > 0:
            image = image + mi.TensorXf(rng.normal(0.0, self.eot.noise, tuple(image.shape)).astype(np.float32))
        logits = self.logits_of(stack([image]))
        return self.loss_of(logits), logits

    def __call__(self, values, views, step):
        import drjit as dr
        import torch

        from penumbra.distributed.gradients import linearized
        from penumbra.renderer.arrays import to_numpy
        total, grads, hits = 0.0, {k: 0.0 for k in values}, []
        for i in views:
            x = {k: dr.detach(v) for k, v in values.items()}
            for v in x.values():
                dr.enable_grad(v)
            loss, logits = self.view_loss(x, step, i)
            total += float(np.asarray(to_numpy(loss)).ravel()[0])
            dr.backward(loss)
            for k, v in x.items():
                grads[k] = grads[k] + to_numpy(dr.grad(v))
            hits.append(bool(fooled(torch.tensor(np.array(logits)), self.cls, self.targeted)[0]))
        self.fooled[int(step)] = float(np.mean(hits))
        return linearized(values, total, grads)


class EOTLossFactory:
    """Builds :class:`EOTLoss` inside a Ray worker (picklable): loads the scene from ``scene_source`` (a
    picklable callable such as :class:`SceneFile`), loads ``integrator`` (a name or a dict) and runs torch
    on ``torch_threads`` threads."""

    def __init__(self, scene_source, shape: str, kinds, budgets: dict, classifier, cls: int, targeted: bool,
                 loss: str, kappa: float, eot: EOT, distance: float, views_per_step: int, spp: int, seed: int,
                 integrator, torch_threads: int = 1):
        self.scene_source, self.shape, self.kinds, self.budgets = scene_source, shape, tuple(kinds), dict(budgets)
        self.classifier, self.cls, self.targeted, self.loss, self.kappa = classifier, cls, targeted, loss, kappa
        self.eot, self.distance, self.views_per_step, self.spp, self.seed = eot, distance, views_per_step, spp, seed
        self.integrator, self.torch_threads = integrator, torch_threads

    def __call__(self):
        import mitsuba as mi
        import torch
        if self.torch_threads:
            torch.set_num_threads(int(self.torch_threads))
        scene = AttackScene(self.scene_source(), self.shape, self.kinds, self.budgets, self.eot.light_jitter)
        integrator = None if self.integrator is None else mi.load_dict(
            {"type": self.integrator} if isinstance(self.integrator, str) else self.integrator)
        return EOTLoss(scene, self.classifier, self.cls, self.targeted, self.loss, self.kappa, self.eot, self.distance,
                       self.views_per_step, self.spp, self.seed, integrator)


def attack(scene, classifier, shape: str, kinds=("texture",), target=None, label=None, loss: str = "cw",
           kappa: float = 5.0, budgets: dict | None = None, steps: int = 40, views_per_step: int = 2,
           spp: int = 4, integrator="edge_sampling", eot: EOT | None = None, eval_views: int = 8,
           eval_spp: int = 16, lambda_: float = 20.0, seed: int = 0, progress: bool = True,
           out_dir: str | None = None, workers: int = 0, address: str | None = None,
           torch_threads: int = 1) -> AttackResult:
    """Attack ``classifier`` with ``scene``'s object ``shape``; returns an :class:`AttackResult` and leaves
    the scene in its adversarial state (texture, vertices, lights; the pose offset is in ``values``).

    ``scene`` is a Mitsuba scene or a picklable callable returning one (e.g. :class:`SceneFile`).
    ``target`` (class index or name) makes the attack targeted; otherwise it is untargeted against
    ``label`` (default: the classifier's majority top-1 over the clean held-out views). ``loss`` is "cw"
    (margin, clipped at ``kappa``) or "ce". Each step renders ``views_per_step`` random views at ``spp``
    with ``integrator`` (:class:`EOTLoss`); success is measured on ``eval_views`` held-out views at
    ``eval_spp``. With ``workers > 0`` the views of each step are rendered and differentiated on that
    many Ray workers (:class:`penumbra.distributed.DataParallel`, cluster at ``address``, torch on
    ``torch_threads`` threads in each); this needs ``scene`` as a callable and ``integrator`` as a name
    or dict, and gives the one-process result to float rounding (``train_fooled`` is then not recorded).
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
    workers = checks.integer("workers", workers, lo=0)
    eot = (eot or EOT()).check()
    budgets = _check_budgets(kinds, budgets)
    target = None if target is None else classifier.class_index(target)
    scene_source = None
    if not isinstance(scene, mi.Scene):
        if not callable(scene):
            raise AttackError(f"scene must be a Mitsuba scene or a callable returning one, got {type(scene).__name__}")
        scene_source, scene = scene, scene()
    if workers and scene_source is None:
        raise AttackError("workers > 0: give the scene as a picklable callable that loads it in each worker "
                          "(e.g. SceneFile(path, res=...)), not as a loaded Mitsuba scene")
    if workers and not (integrator is None or isinstance(integrator, (str, dict))):
        raise AttackError("workers > 0: give the integrator as a name or a dict (a loaded integrator cannot be "
                          "sent to the workers)")
    s = AttackScene(scene, shape, kinds, budgets, eot.light_jitter)
    params = s.params
    integrator_spec = integrator
    if isinstance(integrator, str):
        integrator = mi.load_dict({"type": integrator})
    elif isinstance(integrator, dict):
        integrator = mi.load_dict(integrator)
    distance = eot.distance or s.distance

    # --- attacked variables ----------------------------------------------------------------------
    variables, uniform = {}, set()
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
    if "light" in kinds:
        for key in s.light_keys:
            x0 = s.base[key]
            lo, hi = x0 * (1.0 - budgets["light"]), x0 * (1.0 + budgets["light"])
            dr.eval(lo, hi)
            scale = float(np.max(np.abs(params.snapshot([key])[key]))) or 1.0
            variables[key] = optim.Variable(x0, lr=STEP_FRACTION * budgets["light"] * scale,
                                            project=lambda v, lo=lo, hi=hi: dr.clip(v, lo, hi))
        for lid in s.light_ids:
            b = budgets["light_position"]
            variables[f"{lid}.translation"] = optim.Variable(
                mi.Vector3f(0.0), lr=STEP_FRACTION * b, project=lambda v, b=b: dr.clip(v, -b, b))
    if "pose" in kinds:
        for name, b in (("pose.translation", budgets["pose"]), ("pose.rotation", budgets["pose_angle"])):
            if b > 0:
                variables[name] = optim.Variable(mi.Vector3f(0.0), lr=STEP_FRACTION * b,
                                                 project=lambda v, b=b: dr.clip(v, -b, b))

    def evaluate(values):
        values = {k: dr.detach(v) for k, v in values.items()}
        imgs = [s.render(m, values, eval_spp, 7919 + i) for i, m in enumerate(eval_set)]
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

    description = f"attack ({'+'.join(kinds)})"
    t0 = time.perf_counter()
    if workers:
        from penumbra.distributed import DataParallel
        factory = EOTLossFactory(scene_source, shape, kinds, budgets, classifier, cls, targeted, loss, kappa, eot,
                                 distance, views_per_step, spp, seed, integrator_spec, torch_threads)
        objective = DataParallel(factory, views_per_step, workers, address=address)
        try:
            result = optim.optimize(objective, variables, steps, optimizer=UniformAdam(uniform=uniform),
                                    out_dir=out_dir, progress=progress, description=description)
        finally:
            objective.shutdown()
        train_fooled = []
    else:
        loss_fn = EOTLoss(s, classifier, cls, targeted, loss, kappa, eot, distance, views_per_step, spp, seed,
                          integrator)
        objective = optim.ItemObjective(loss_fn, views_per_step)
        try:
            result = optim.optimize(objective, variables, steps, optimizer=UniformAdam(uniform=uniform),
                                    out_dir=out_dir, progress=progress, description=description)
        finally:
            params.detach()  # also when the run fails: see ParameterSet.detach
        train_fooled = [loss_fn.fooled[k] for k in sorted(loss_fn.fooled)]
    images_after, logits_after = evaluate(result.values)     # leaves the scene in the adversarial state
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
                        steps, seconds, names, scene)


def _wrapped_loss(cls, targeted, kind, kappa):
    import drjit as dr

    @dr.wrap(source="drjit", target="torch")
    def f(logits):
        return attack_loss(logits, cls, targeted, kind, kappa)
    return f
