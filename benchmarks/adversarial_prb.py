"""Geometry-only adversarial attack with visibility-aware gradients vs plain autodiff, at equal steps.

    .venv/bin/python benchmarks/adversarial_prb.py [--classifier silhouette|efficientnet] [--steps 20]
        [--budget 0.15] [--integrators edge_sampling warped_area prb] [--seeds 0 1] [--out DIR]

Attacks a classifier through the vertex positions of the bundled ball (Large Steps latent, per-vertex
displacement bound) with each integrator and otherwise the same settings and seeds; prints a Markdown
table of the success rate on held-out views, the mean training loss of the last 5 steps and wall/CPU
time, and writes the loss curves (``--out``: ``curves.json``, ``curves.png``). ``prb`` sees only how the
visible surface's shading and texture move with the vertices; the boundary terms of
``edge_sampling``/``warped_area`` also move the silhouette.

Classifiers: ``silhouette`` (default), a small CNN trained here, in seconds, on EOT renders of the ball
("round") and of the ball flattened to 0.8 of its height and widened to 1.1 ("flat"), attacked
targeted round -> flat: its evidence is the object's outline, which a geometry attack changes.
``efficientnet``: EfficientNet-Lite0 (``penumbra[adversarial]``), untargeted; it stays "basketball" under
vertex budgets up to 0.2 of the radius (the texture is its evidence). The machine's load average is
printed beside the times (a shared machine's wall times vary 3-5x).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

FLAT = (1.1, 0.8, 1.1)      # x, y, z scale of the "flat" class


def ball_renders(res: int, scale, n: int, seed: int):
    """``n`` EOT renders (ring views, light jitter, noise) of the bundled ball scaled by ``scale``: (n, 3, H, W)."""
    import mitsuba as mi
    import numpy as np
    import torch
    from penumbra.adversarial import EOT, AttackScene, view_rng
    from penumbra.adversarial.views import sample_views
    from penumbra.assets import asset
    from penumbra.scenes import load_scene
    eot = EOT()
    scene = load_scene(asset("scenes", "adversarial", "scene.xml"), res=res)
    s = AttackScene(scene, "ball", light_jitter=eot.light_jitter)
    V = np.array(s.params["ball.vertex_positions"]).reshape(-1, 3) * np.asarray(scale, np.float32)
    s.params["ball.vertex_positions"] = mi.Float(V.ravel())
    out = []
    for i in range(n):
        rng = view_rng(seed, 0, i)
        cam = sample_views(eot, s.center, s.distance, 1, rng)[0]
        jitter = float(rng.uniform(1 - eot.light_jitter, 1 + eot.light_jitter))
        img = np.array(s.render(cam, {}, 16, seed * 1000 + i, None, jitter))[..., :3]
        out.append(np.clip(img + rng.normal(0, eot.noise, img.shape), 0, 1))
    return torch.tensor(np.stack(out), dtype=torch.float32).permute(0, 3, 1, 2)


def silhouette_classifier(res: int, n: int = 24):
    """A small CNN trained on ``n`` renders of the round and ``n`` of the flat ball (class 0 round, 1 flat)."""
    import torch
    from penumbra.adversarial import Classifier
    from tests.adversarial.classifiers import train
    x = torch.cat([ball_renders(res, (1, 1, 1), n, 1), ball_renders(res, FLAT, n, 2)])
    y = torch.tensor([0] * n + [1] * n)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 2))
    train(net, x, y, lr=0.01, steps=300)
    with torch.no_grad():
        xt = torch.cat([ball_renders(res, (1, 1, 1), 8, 3), ball_renders(res, FLAT, 8, 4)])
        acc = float((net(xt).argmax(1) == torch.tensor([0] * 8 + [1] * 8)).float().mean())
        train = float((net(x).argmax(1) == y).float().mean())
    print(f"silhouette CNN: train accuracy {100 * train:.0f} %, on 16 fresh renders {100 * acc:.0f} %", flush=True)
    return Classifier(net, labels=["round", "flat"], name="round/flat CNN")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classifier", choices=["silhouette", "efficientnet"], default="silhouette")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--res", type=int, default=48)
    ap.add_argument("--budget", type=float, default=0.15, help="max vertex displacement (ball radius 1)")
    ap.add_argument("--views-per-step", type=int, default=2)
    ap.add_argument("--eval-views", type=int, default=8)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--integrators", nargs="+", default=["edge_sampling", "warped_area", "prb"])
    ap.add_argument("--filter", default="box", help="the film's reconstruction filter in the attack (warped_area "
                    "needs a continuous one: tent); the classifier is trained on box-filtered renders")
    ap.add_argument("--out", default=None, help="folder for curves.json / curves.png")
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    torch.set_num_threads(1)
    import penumbra as pn
    pn.ensure_variant()
    from penumbra.adversarial import attack, efficientnet_lite0
    from penumbra.assets import asset
    from penumbra.optim import plot_loss
    from penumbra.scenes import load_scene

    if args.classifier == "silhouette":
        clf, target = silhouette_classifier(args.res), "flat"
    else:
        clf, target = efficientnet_lite0(input_size=128), None
    rows, curves = [], {}
    for integ in args.integrators:
        for seed in args.seeds:
            gc.collect()  # the previous run's scene: live plugins slow every later trace (DEVELOPERS.md)
            scene = load_scene(asset("scenes", "adversarial", "scene.xml"), res=args.res, filter=args.filter)
            t0, c0 = time.perf_counter(), time.process_time()
            # max_depth 3 for all; the ball is convex and shadows nothing in view: no secondary term
            integrator = {"type": integ, "max_depth": 3}
            if integ in ("edge_sampling", "warped_area"):
                integrator["secondary_path_spp"] = 0
            r = attack(scene, clf, "ball", kinds="vertices", target=target, budgets={"vertices": args.budget},
                       steps=args.steps, views_per_step=args.views_per_step, spp=4, integrator=integrator,
                       eval_views=args.eval_views, eval_spp=32, seed=seed, progress=False)
            rows.append((integ, seed, r.success_rate_before, r.success_rate, float(np.mean(r.history[-5:])),
                         float(np.mean(r.train_fooled[-5:])), time.perf_counter() - t0, time.process_time() - c0))
            curves[f"{integ} seed {seed}"] = [float(v) for v in r.history]
            print(rows[-1], flush=True)
            if args.out:     # after every run: a later failure keeps the finished curves
                os.makedirs(args.out, exist_ok=True)
                with open(os.path.join(args.out, "curves.json"), "w") as f:
                    json.dump({"args": vars(args), "loss": curves, "rows": rows}, f, indent=1)
                plot_loss(curves, os.path.join(args.out, "curves.png"), f"vertices attack on {clf.name}")
    goal = f"targeted -> {target!r}" if target else "untargeted"
    print(f"\n{clf.name}, vertices attack ({goal}), budget {args.budget}, {args.steps} steps x {args.views_per_step} "
          f"views, {args.res}px, {args.filter} filter, {args.eval_views} held-out views; "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| integrator | seed | fooled before | fooled after | mean loss, last 5 steps | training views fooled, "
          "last 5 steps | wall s | CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for integ, seed, b, a, loss, tf, wall, cpu in rows:
        print(f"| {integ} | {seed} | {100 * b:.0f} % | {100 * a:.0f} % | {loss:.3f} | {100 * tf:.0f} % | {wall:.0f} "
              f"| {cpu:.0f} |")


if __name__ == "__main__":
    main()
