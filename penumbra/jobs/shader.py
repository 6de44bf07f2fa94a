"""``penumbra shader``: fit a procedural shader's parameters to a target image, once with plain
automatic differentiation and once with the boundary-aware gradient, and compare.

The bundled problems (:mod:`penumbra.shaders.problems`, ``--problem``):

| problem | engine | fitted parameters (* moved only by the shader's edges) |
|---|---|---|
| ``noise`` | path tracer: ``edge_sampling`` vs ``prb`` | threshold*, noise offset*, two colours |
| ``logo`` | 2D canvas: with / without the boundary term | disc centre* and radius*, stripe phase* and duty*, ink |

For each problem the target is rendered at the true parameters; both runs start from the same wrong
parameters and take the same Adam steps (same seeds, cosine learning-rate schedule). Plain AD sees
only the colours' interior derivative: the threshold, offsets, disc and stripe parameters get a zero
gradient and stay where they started. Writes to ``OUT/<problem>/``: ``target.png``,
``initial.png``, ``final_plain.png``, ``final_boundary.png``, ``side_by_side.png`` (target |
initial | plain | boundary), ``loss.png`` (both loss curves), ``plain/`` and ``boundary/``
(each run's ``loss.json``), and ``OUT/report.json`` with true, initial and recovered parameters,
their errors, image MSEs and times; prints the recovered parameters.
"""
from __future__ import annotations

import json
import os

import numpy as np

from penumbra.renderer import checks

MODES = ("plain", "boundary")


def add_parser(sub):
    p = sub.add_parser("shader", help="fit a procedural shader's parameters (thresholds, masks, stripes) to a "
                       "target image with plain AD and with boundary-aware gradients, side by side")
    p.add_argument("--problem", choices=("noise", "logo", "all"), default="all",
                   help="bundled problem: thresholded noise on a path-traced sphere, a stripes/checker logo "
                   "on the canvas, or both (default)")
    p.add_argument("--steps", type=checks.cli_int(lo=1), default=80, help="Adam steps per run (default 80)")
    p.add_argument("--res", type=checks.cli_int(lo=4), default=None,
                   help="image side in pixels (default: 48 for noise, 64 for logo)")
    p.add_argument("--spp", type=checks.cli_int(lo=1), default=4,
                   help="samples (and boundary line pairs) per pixel per step (default 4)")
    p.add_argument("--target-spp", type=checks.cli_int(lo=1), default=128,
                   help="samples per pixel of the target and of the written images (default 128)")
    p.add_argument("--out", default="out/shader")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def fit(problem, target, boundary: bool, steps: int, spp: int, out_dir=None, progress=False):
    """Fit ``problem``'s parameters to ``target`` (H, W, 3) from its initial values by Adam with
    ``boundary``-aware or plain gradients; returns the :class:`penumbra.optim.Result`."""
    import mitsuba as mi

    from penumbra import optim
    tgt = mi.TensorXf(np.asarray(target, np.float32))
    variables = {k: optim.Variable(mi.Float(np.asarray(v, np.float32).ravel()), problem.transforms[k],
                                   lr=problem.lrs[k]) for k, v in problem.initial.items()}
    step = [0]

    def objective(values):
        step[0] += 1
        return optim.losses.mse(problem.render(values, spp, step[0], boundary), tgt)

    mode = "boundary" if boundary else "plain"
    try:
        return optim.optimize(objective, variables, steps, out_dir=out_dir, progress=progress,
                              schedule=optim.schedules.cosine(steps, final=0.1),
                              description=f"{problem.name} ({mode} gradients)")
    finally:
        problem.release()  # also when the run fails: see ParameterSet.detach


def parameter_errors(truth: dict, values: dict) -> dict:
    """Euclidean error of each parameter against ``truth`` (name -> float)."""
    return {k: float(np.linalg.norm(np.ravel(values[k]) - np.ravel(truth[k]))) for k in truth}


def run_problem(name, args):
    from penumbra import optim
    from penumbra import renderer
    from penumbra.shaders.problems import make_problem

    problem = make_problem(name, args.res)
    out = os.path.join(args.out, name)
    os.makedirs(out, exist_ok=True)
    print(f"{name}: rendering the target ({args.target_spp} spp, {problem.width}x{problem.height}) ...")
    target = problem.target(args.target_spp)
    initial = problem.image(problem.initial, args.target_spp)
    images = {"target": target, "initial": initial}
    report = {"width": problem.width, "height": problem.height, "steps": args.steps, "spp": args.spp,
              "true": {k: np.ravel(v).tolist() for k, v in problem.truth.items()},
              "initial": {k: np.ravel(v).tolist() for k, v in problem.initial.items()},
              "initial_errors": parameter_errors(problem.truth, problem.initial),
              "initial_image_mse": float(np.mean((initial - target) ** 2))}
    histories = {}
    for mode in MODES:
        result = fit(problem, target, mode == "boundary", args.steps, args.spp, os.path.join(out, mode),
                     progress=not args.quiet)
        values = result.numpy()
        images[f"final_{mode}"] = problem.image(values, args.target_spp)
        histories[f"{mode} AD" if mode == "plain" else "boundary-aware"] = result.history
        report[mode] = {"recovered": {k: np.ravel(v).tolist() for k, v in values.items()},
                        "errors": parameter_errors(problem.truth, values),
                        "image_mse": float(np.mean((images[f"final_{mode}"] - target) ** 2)),
                        "final_loss": result.history[-1], "seconds": result.seconds}
    problem.set(problem.truth)
    for k, img in images.items():
        renderer.write_image(os.path.join(out, f"{k}.png"), img)
    renderer.write_image(os.path.join(out, "side_by_side.png"),
                         np.concatenate([images[k] for k in ("target", "initial", "final_plain", "final_boundary")], 1))
    optim.plot_loss(histories, os.path.join(out, "loss.png"), f"{name}: image MSE")
    return report


def print_report(name, r):
    print(f"\n{name}: parameter  true | initial | plain AD | boundary-aware   (error: initial, plain, boundary)")
    for k in r["true"]:
        def fmt(v):
            return "(" + ", ".join(f"{x:.3f}" for x in v) + ")" if len(v) > 1 else f"{v[0]:.3f}"
        print(f"  {k:10s} {fmt(r['true'][k])} | {fmt(r['initial'][k])} | {fmt(r['plain']['recovered'][k])} | "
              f"{fmt(r['boundary']['recovered'][k])}   ({r['initial_errors'][k]:.3f}, "
              f"{r['plain']['errors'][k]:.3f}, {r['boundary']['errors'][k]:.3f})")
    print(f"  image MSE: initial {r['initial_image_mse']:.3g}, plain {r['plain']['image_mse']:.3g}, "
          f"boundary {r['boundary']['image_mse']:.3g}; {r['plain']['seconds']:.1f} s / "
          f"{r['boundary']['seconds']:.1f} s for {r['steps']} steps")


def run(args):
    from penumbra import renderer
    renderer.ensure_variant()
    names = ("noise", "logo") if args.problem == "all" else (args.problem,)
    os.makedirs(args.out, exist_ok=True)
    report = {}
    for name in names:
        report[name] = run_problem(name, args)
        print_report(name, report[name])
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(f"\noutputs in {args.out}/ (report.json, <problem>/side_by_side.png, <problem>/loss.png)")
    return 0
