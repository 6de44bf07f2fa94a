"""Geometry-only adversarial attack with visibility-aware gradients vs plain autodiff, at equal steps.

    .venv/bin/python benchmarks/adversarial_prb.py [--steps 20] [--res 64] [--integrators edge_sampling prb]

Attacks EfficientNet-Lite0 (``penumbra[adversarial]``) through the vertex positions of the bundled ball
(Large Steps latent, per-vertex displacement bound), untargeted, with each integrator and otherwise the
same settings and seeds; prints a Markdown table of the success rate on held-out views, the final
training loss and wall/CPU time. ``prb`` sees only how shading changes with the normals; the boundary
terms of ``edge_sampling``/``warped_area`` also move the silhouette. The machine's load average is printed
beside the times (a shared machine's wall times vary 3-5x).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--budget", type=float, default=0.05, help="max vertex displacement (ball radius 1)")
    ap.add_argument("--views-per-step", type=int, default=2)
    ap.add_argument("--eval-views", type=int, default=8)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--integrators", nargs="+", default=["edge_sampling", "prb"])
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    torch.set_num_threads(1)
    import penumbra as pn
    pn.ensure_variant()
    from penumbra.adversarial import attack, efficientnet_lite0
    from penumbra.assets import asset
    from penumbra.scenes import load_scene

    clf = efficientnet_lite0(input_size=128)
    rows = []
    for integ in args.integrators:
        for seed in args.seeds:
            scene = load_scene(asset("scenes", "adversarial", "scene.xml"), res=args.res)
            t0, c0 = time.perf_counter(), time.process_time()
            # max_depth 3 for both; the ball is convex and shadows nothing in view: no secondary term
            integrator = {"type": integ, "max_depth": 3}
            if integ in ("edge_sampling", "warped_area"):
                integrator["secondary_path_spp"] = 0
            r = attack(scene, clf, "ball", kinds="vertices", budgets={"vertices": args.budget}, steps=args.steps,
                       views_per_step=args.views_per_step, spp=4, integrator=integrator, eval_views=args.eval_views,
                       eval_spp=32, seed=seed, progress=False)
            rows.append((integ, seed, r.success_rate_before, r.success_rate, float(np.mean(r.history[-5:])),
                         time.perf_counter() - t0, time.process_time() - c0))
            print(rows[-1], flush=True)
    print(f"\nvertices attack, budget {args.budget}, {args.steps} steps x {args.views_per_step} views, {args.res}px, "
          f"{args.eval_views} held-out views; load average {os.getloadavg()[0]:.1f}\n")
    print("| integrator | seed | fooled before | fooled after | mean loss, last 5 steps | wall s | CPU s |")
    print("|---|---|---|---|---|---|---|")
    for integ, seed, b, a, loss, wall, cpu in rows:
        print(f"| {integ} | {seed} | {100 * b:.0f} % | {100 * a:.0f} % | {loss:.3f} | {wall:.0f} | {cpu:.0f} |")


if __name__ == "__main__":
    main()
