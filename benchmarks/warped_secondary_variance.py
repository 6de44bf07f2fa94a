"""Benchmark: where the error of ``warped_area``'s secondary term comes from (bias or heavy tails).

On the triangle-shadow scene of the suite (``tests.scenes_lib.triangle_shadow``: the occluder out
of view, so only the secondary term and ``prb``'s interior term act; ``film_spp`` 0):

- **Per-path contributions.** Rendered at ``--tail-res`` px with one camera path per pixel and a
  box filter, each pixel of (gradient with the secondary term) - (gradient without it) is one
  path's contribution to the boundary term. Reported: the share of paths whose contribution is
  non-zero, quantiles of |c| over those, and the share of Σ|c| carried by the largest 0.1 % and 1 %.
- **Error against the FD reference** (central differences of ``path``, 4 x 8192 spp, 16x16 px) for
  each secondary path count x option set, per seed: relative L2, image sum, and the same for the
  mean over the seeds (which is the estimate at ``seeds x count`` paths). Relative L2 falling as
  1/√count with a seed-averaged image sum on the reference's means variance, not bias.

    .venv/bin/python benchmarks/warped_secondary_variance.py [--counts 64 1024] [--seeds 1 2 3 4]
        [--options '{}' '{"secondary_kappa": 1e4}'] [--tail-res 128]

Each gradient costs ~1 s per 256 paths per pixel at 16x16 on an idle core.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from penumbra import integrators  # noqa: E402,F401
from tests.harness import compare, fd_image, forward_grad  # noqa: E402
from tests.scenes_lib import triangle_shadow  # noqa: E402


def config(depth, count, **options):
    return {"type": "warped_area", "max_depth": depth, "film_spp": 0, "secondary_path_spp": count, **options}


def per_path_contributions(res: int, seed: int, options: dict) -> np.ndarray:
    """One camera path's secondary boundary contribution per pixel (channel sum), ``res`` x ``res``."""
    scene, params, perturb, depth = triangle_shadow(res)
    with_term = forward_grad(scene, params, perturb, config(depth, 1, **options), spp=1, seed=seed)
    without = forward_grad(scene, params, perturb, config(depth, 0, **options), spp=1, seed=seed)
    return (with_term - without).sum(axis=2).ravel()


def tail_report(c: np.ndarray) -> dict:
    a = np.sort(np.abs(c))[::-1]
    nz = a[a > 0]
    total = a.sum()
    return {"paths": int(c.size), "nonzero": round(nz.size / c.size, 4),
            "top_0.1%_share": round(float(a[:max(1, c.size // 1000)].sum() / total), 3) if total else 0.0,
            "top_1%_share": round(float(a[:max(1, c.size // 100)].sum() / total), 3) if total else 0.0,
            "|c| quantiles 50/90/99/99.9 of non-zero": [round(float(q), 3) for q in
                                                       np.quantile(nz, [0.5, 0.9, 0.99, 0.999])] if nz.size else []}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[64, 1024], help="secondary paths per pixel")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--options", nargs="+", default=["{}"], help="JSON dicts of warped_area options")
    ap.add_argument("--tail-res", type=int, default=128, help="film size of the per-path study (0: skip it)")
    args = ap.parse_args()
    options = [json.loads(o) for o in args.options]

    if args.tail_res:
        for opt in options:
            print("per-path", opt, tail_report(per_path_contributions(args.tail_res, args.seeds[0], opt)), flush=True)

    scene, params, perturb, depth = triangle_shadow(16)
    ref = fd_image(scene, params, perturb, 0.02, reference={"type": "path", "max_depth": depth}, spp=8192, passes=4)
    print(f"reference image sum {ref.sum():.2f}")
    for opt in options:
        for count in args.counts:
            t0 = time.time()
            grads = [forward_grad(scene, params, perturb, config(depth, count, **opt), spp=16, seed=s)
                     for s in args.seeds]
            t = (time.time() - t0) / len(grads)
            reps = [compare(g, ref) for g in grads]
            mean = np.mean(grads, axis=0)
            print(f"{json.dumps(opt)} paths/px {count}: rel. L2 per seed {[round(r.rel_l2, 3) for r in reps]}, "
                  f"sums {[round(float(g.sum()), 1) for g in grads]}; mean of {len(grads)} seeds: rel. L2 "
                  f"{compare(mean, ref).rel_l2:.3f}, sum {mean.sum():.2f}; {t:.1f} s per gradient", flush=True)


if __name__ == "__main__":
    main()
