"""Recover reflectances and light intensity of a scene from a target image.

The target is rendered at high spp with the scene's true values; the job then forgets the chosen
parameters (reflectances to grey, radiance to a guess), and recovers them with Adam through
Mitsuba's ``prb`` integrator (continuous parameters: plain path-replay gradients are correct here).
Writes target / initial / final images, the loss curve, and ``recovered.json`` with the parameter
errors, and prints them.
"""
from __future__ import annotations

import json
import os

import numpy as np

from penumbra.renderer import checks

DEFAULT_PARAMS = ["red.reflectance.value", "green.reflectance.value", "box-mat.reflectance.value",
                  "ball-mat.reflectance.value", "light.emitter.radiance.value"]


def add_parser(sub):
    p = sub.add_parser("materials", help="recover reflectances and light intensity of a scene from a "
                       "target render (the bundled Cornell box by default)")
    p.add_argument("--scene", help="Mitsuba XML scene (default: the bundled Cornell box)")
    p.add_argument("--params", nargs="+", default=None, help="parameter names to recover (default: the "
                   "bundled scene's wall/object reflectances and the light's radiance)")
    p.add_argument("--steps", type=checks.cli_int(lo=1), default=200)
    p.add_argument("--spp", type=checks.cli_int(lo=1), default=8, help="samples per pixel per optimization step")
    p.add_argument("--target-spp", type=checks.cli_int(lo=1), default=256)
    p.add_argument("--res", type=checks.cli_int(lo=1), default=96)
    p.add_argument("--lr", type=checks.cli_float(0.0, open_lo=True), default=0.08)
    p.add_argument("--out", default="out/materials")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args):
    import mitsuba as mi

    from penumbra import optim
    from penumbra import renderer
    from penumbra.assets import asset
    from penumbra.scenes import ParameterMap, load_scene

    scene_path = args.scene or asset("scenes", "cbox", "scene.xml")
    scene = load_scene(scene_path, res=args.res, spp=args.spp)
    params = ParameterMap(scene)
    names = args.params or DEFAULT_PARAMS
    for n in names:
        params.info(n)  # clear error for unknown names
    truth = params.snapshot(names)
    os.makedirs(args.out, exist_ok=True)

    print(f"rendering the target ({args.target_spp} spp, {args.res}x{args.res}) ...")
    target = mi.render(scene, spp=args.target_spp, seed=1234)
    renderer.write_image(os.path.join(args.out, "target.png"), target)

    def is_radiance(n):
        return "radiance" in n or "intensity" in n

    variables = {}
    for n in names:
        v = truth[n]
        init = np.full_like(v, 0.5) if not is_radiance(n) else np.full_like(v, float(np.mean(v)) * 0.4)
        variables[n] = optim.Variable(params.validate(n, init),
                                      optim.Positive() if is_radiance(n) else optim.Unit, lr=args.lr)
    params.update({n: v.init for n, v in variables.items()})
    initial = mi.render(scene, spp=args.target_spp, seed=99)
    renderer.write_image(os.path.join(args.out, "initial.png"), initial)

    step_counter = [0]

    def objective(values):
        params.update(values)
        step_counter[0] += 1
        image = mi.render(scene, params.mitsuba, spp=args.spp, seed=step_counter[0])
        return optim.losses.mse(image, target)

    try:
        result = optim.optimize(objective, variables, args.steps, out_dir=args.out,
                                schedule=optim.schedules.cosine(args.steps, final=0.05),
                                progress=not args.quiet, description="recovering materials")
    finally:
        params.detach()  # also when the run fails: see ParameterSet.detach
    params.update(result.values)
    final = mi.render(scene, spp=args.target_spp, seed=7)
    renderer.write_image(os.path.join(args.out, "final.png"), final)

    report, rows = {}, []
    for n in names:
        t, r = truth[n].ravel(), renderer.to_numpy(result.values[n]).ravel()
        init = renderer.to_numpy(variables[n].init).ravel()
        rel = float(np.linalg.norm(r - t) / max(np.linalg.norm(t), 1e-12))
        report[n] = {"true": t.tolist(), "initial": init.tolist(), "recovered": r.tolist(), "relative_error": rel}
        rows.append((n, np.round(t.astype(float), 3).tolist(), np.round(r.astype(float), 3).tolist(),
                     f"{100 * rel:.1f}%"))
    img_err = {"initial": float(np.mean((np.array(initial) - np.array(target)) ** 2)),
               "final": float(np.mean((np.array(final) - np.array(target)) ** 2))}
    with open(os.path.join(args.out, "recovered.json"), "w") as f:
        json.dump({"parameters": report, "image_mse": img_err, "loss": result.history[-1],
                   "seconds": result.seconds}, f, indent=2)
    w = max(len(r[0]) for r in rows)
    print(f"\n{'parameter'.ljust(w)}  true -> recovered (relative error)")
    for n, t, r, e in rows:
        print(f"{n.ljust(w)}  {t} -> {r} ({e})")
    print(f"image MSE vs target: initial {img_err['initial']:.3g}, final {img_err['final']:.3g}; "
          f"{result.seconds:.1f} s for {args.steps} steps; outputs in {args.out}/")
    return 0
