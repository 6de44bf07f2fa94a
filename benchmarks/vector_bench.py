"""Benchmark: forward and backward time of the vector rasterizer on random stroked cubic paths.

Configurations (the issue's): 128 / 512 / 2048 random cubic paths with strokes at 256^2 and 512^2,
2x2 spp, 2 threads. Peers: diffvg is not installable here, so its figures are the ones measured on
this kind of machine and quoted in the issue (512 strokes @ 256^2: 0.6 s fwd + 3 s bwd; 2048 @ 512^2:
5.3 s fwd + 25.6 s bwd); resvg (via resvg-py, forward only, no gradients, 1 thread) is measured in
the same run on the same scene as a runnable baseline. Memory: peak RSS of this process. The
machine is shared: the 1-minute load average before each configuration and the process CPU time
(all threads) are printed beside the wall-clock times, so that runs under load can be judged.

    .venv/bin/python benchmarks/vector_bench.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from penumbra import renderer  # noqa: E402

DIFFVG = {(512, 256): (0.6, 3.0), (2048, 512): (5.3, 25.6)}


def random_scene(n, size, seed=0):
    from penumbra.scenes.vector import VectorScene, path
    rng = np.random.default_rng(seed)
    sc = VectorScene(size, size)
    for i in range(n):
        c = rng.uniform(0, size, 2)
        pts = [c]
        for _ in range(3):  # 3 cubic segments, diffvg-style small random walk (radius ~ 0.05 canvas)
            pts += [pts[-1] + rng.normal(0, 0.05 * size, 2) for _ in range(3)]
        sc.add(path(f"p{i}", np.array(pts), "CCC", stroke=np.append(rng.random(3), rng.uniform(0.5, 1)),
                    stroke_width=rng.uniform(1, 3), fill=None))
    return sc


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(n, size, reps=3):
    import drjit as dr
    import mitsuba as mi
    from penumbra.integrators.vector import rasterize
    from penumbra.scenes.vector import to_svg_string
    sc = random_scene(n, size)
    names = ["*.points", "*.stroke_width", "*.stroke.color"]
    vals = {k: sc.params.pack(k) for k in names}
    w = mi.Float(np.random.default_rng(1).random(size * size * 4).astype(np.float32))
    best_f = best_b = best_cpu = np.inf
    for _ in range(reps):
        xs = {k: mi.Float(v) for k, v in vals.items()}
        for x in xs.values():
            dr.enable_grad(x)
        t0, c0 = time.perf_counter(), time.process_time()
        img = rasterize(sc, size, size, spp=4, params=xs)
        dr.eval(img)
        dr.sync_thread()
        t1 = time.perf_counter()
        loss = dr.sum(img.array * w)
        dr.backward(loss)
        grads = [dr.grad(x) for x in xs.values()]
        dr.eval(grads)
        dr.sync_thread()
        t2, c2 = time.perf_counter(), time.process_time()
        best_f, best_b, best_cpu = min(best_f, t1 - t0), min(best_b, t2 - t1), min(best_cpu, c2 - c0)
    # resvg forward on the same scene
    try:
        import resvg_py
        text = to_svg_string(sc)
        t0 = time.perf_counter()
        resvg_py.svg_to_bytes(svg_string=text)
        t_resvg = time.perf_counter() - t0
    except ImportError:
        t_resvg = float("nan")
    return best_f, best_b, best_cpu, t_resvg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only 128 and 512 paths at 256^2")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    renderer.ensure_variant()
    import drjit as dr
    dr.set_thread_count(args.threads)
    configs = [(128, 256), (512, 256), (2048, 256), (128, 512), (512, 512), (2048, 512)]
    if args.quick:
        configs = configs[:2]
    run(16, 64, reps=1)  # JIT warm-up (kernel compilation is cached afterwards)
    print(f"threads={args.threads}  spp=4 (2x2)  variant={renderer.variant()}")
    print("| paths | size | load | forward s | backward s | fwd+bwd s | CPU s | resvg fwd s | diffvg fwd+bwd s "
          "| speed-up vs diffvg | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, size in configs:
        load = os.getloadavg()[0]
        f, b, c, r = run(n, size)
        d = DIFFVG.get((n, size))
        dv = f"{sum(d):.1f}" if d else "-"
        sp = f"{sum(d) / (f + b):.1f}x" if d else "-"
        print(f"| {n} | {size}^2 | {load:.1f} | {f:.3f} | {b:.3f} | {f + b:.3f} | {c:.2f} | {r:.3f} | {dv} | {sp} "
              f"| {peak_mb():.0f} |", flush=True)


if __name__ == "__main__":
    main()
