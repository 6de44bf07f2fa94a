"""Data-parallel scaling on Ray: step time and per-step overhead for 1..N workers against one process.

    .venv/bin/python benchmarks/scaling_bench.py [--views 64] [--res 32] [--spp 1] [--workers 1,2]
                                                 [--steps 3] [--address ADDR] [--variant llvm_ad_rgb]

The step is a reconstruction step of ``penumbra reconstruct`` on the bundled blob scene with ``--views``
sensors on a ring, every view rendered and differentiated each step (``edge_sampling``, as the job).
First the same step runs in this process (Dr.Jit with all cores), then on 1..N Ray workers
(:class:`penumbra.distributed.DataParallel`, cores / N threads each; one GPU each with a CUDA variant).
Per configuration: the median wall time of ``--steps`` warm steps (after one step that compiles the
kernels), the overhead (wall time minus the slowest worker's compute time: broadcast, scheduling,
transfers, summing), the ratio to the one-process step measured in the same run, and the largest
relative difference of the summed gradient from the one-process gradient. Prints a Markdown table
with the commit, machine, load average and date. On a many-core or multi-GPU machine, pass
``--workers 1,2,4,8``.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def ring_scene(views: int, res: int) -> dict:
    """The blob scene with ``views`` perspective sensors on a ring around the mesh (a Mitsuba dict)."""
    import mitsuba as mi

    from penumbra.assets import asset
    from penumbra.scenes import load_scene, mesh_arrays
    base = load_scene(asset("scenes", "blob", "scene.xml"), res=res, spp=1)
    V, F = mesh_arrays({s.id(): s for s in base.shapes()}["target"])
    center = 0.5 * (V.min(0) + V.max(0))
    dist = 2.2 * float(np.linalg.norm(V.max(0) - V.min(0)))
    d = {"type": "scene", "integrator": {"type": "path", "max_depth": 3}}
    for i, e in enumerate(base.emitters()):
        if e.get_shape() is None:
            d[f"emitter{i}"] = e
    for s in base.shapes():
        d[s.id()] = s
    for i in range(views):
        a = 2 * np.pi * i / views
        eye = center + dist * np.array([np.cos(a), 0.35, np.sin(a)])
        d[f"sensor{i}"] = {"type": "perspective", "fov": 35,
                           "to_world": mi.ScalarTransform4f().look_at(eye.tolist(), center.tolist(), [0, 1, 0]),
                           "film": {"type": "hdrfilm", "width": res, "height": res, "rfilter": {"type": "box"}},
                           "sampler": {"type": "independent", "sample_count": 1}}
    return d


class RingFactory:
    """Builds the reconstruction's ``ViewLoss`` on the ring scene (picklable; runs in each worker)."""

    def __init__(self, views, res, spp, targets, V0, F0):
        self.views, self.res, self.spp, self.targets, self.V0, self.F0 = views, res, spp, targets, V0, F0

    def __call__(self):
        from penumbra.jobs.reconstruct import ViewLoss, replace_shape
        from penumbra.scenes import ParameterMap, load_scene
        scene = replace_shape(load_scene(ring_scene(self.views, self.res)), "target", self.V0, self.F0)
        return ViewLoss(ParameterMap(scene), self.targets, self.spp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--views", type=int, default=64)
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--spp", type=int, default=1)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per configuration (after one warm-up)")
    ap.add_argument("--address", default=None, help="existing Ray cluster (default: a local one)")
    ap.add_argument("--variant", default=None)
    args = ap.parse_args()

    from penumbra import renderer
    variant = renderer.set_variant(args.variant)
    import drjit as dr
    import mitsuba as mi

    from penumbra.distributed import DataParallel, local_gradients
    from penumbra.scenes import builders, load_scene, mesh_arrays
    from penumbra.renderer.arrays import to_numpy

    cores = os.cpu_count() or 1
    counts = [int(n) for n in args.workers.split(",")]
    scene = load_scene(ring_scene(args.views, args.res))
    VT, _ = mesh_arrays({s.id(): s for s in scene.shapes()}["target"])
    targets = [np.array(mi.render(scene, sensor=i, spp=16, seed=i)) for i in range(args.views)]
    center, radius = 0.5 * (VT.min(0) + VT.max(0)), 0.4 * float(np.linalg.norm(VT.max(0) - VT.min(0)))
    V0, F0 = builders.icosphere(3, radius, center)
    factory = RingFactory(args.views, args.res, args.spp, targets, V0, F0)
    values = {"target.vertex_positions": mi.Float(V0.ravel().astype(np.float32)),
              "target.bsdf.reflectance.value": mi.Color3f(0.5)}
    types = {k: type(v).__name__ for k, v in values.items()}
    arrays = {k: to_numpy(v) for k, v in values.items()}
    items = list(range(args.views))

    loss_fn = factory()
    times = []
    for step in range(args.steps + 1):
        t0 = time.perf_counter()
        ref_loss, ref = local_gradients(loss_fn, arrays, types, items, step)
        dr.sync_thread()
        times.append(time.perf_counter() - t0)
    one = statistics.median(times[1:])
    rows = [("1 process", one, 0.0, 1.0, 0.0)]
    print(f"1 process: {one:.2f} s per step (first step, compiling: {times[0]:.1f} s)", flush=True)
    for n in counts:
        with DataParallel(factory, args.views, n, weight=lambda items: 1.0, address=args.address,
                          threads=max(1, cores // n)) as engine:
            wall, over = [], []
            for step in range(args.steps + 1):
                loss, grads = engine.gradients(values, step)
                wall.append(engine.timing["seconds"])
                over.append(engine.timing["seconds"] - engine.timing["compute"])
            diff = max(float(np.abs(grads[k] - ref[k]).max() / (np.abs(ref[k]).max() or 1.0)) for k in ref)
            t, o = statistics.median(wall[1:]), statistics.median(over[1:])
            rows.append((f"{n} worker{'s' * (n > 1)}", t, o, one / t, diff))
            print(f"{rows[-1][0]}: {t:.2f} s per step, overhead {o:.3f} s, gradient rel. diff {diff:.1e}", flush=True)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"\n{args.views} views at {args.res}x{args.res}, {args.spp} spp, edge_sampling, {variant}; commit {commit}, "
          f"{platform.node()} ({cores} cores, {platform.processor() or platform.machine()}), load average "
          f"{os.getloadavg()[0]:.1f}, {datetime.date.today()}\n")
    print("| configuration | step (s) | overhead (s) | overhead / step | speed-up vs 1 process | gradient rel. diff |")
    print("|---|---|---|---|---|---|")
    for name, t, o, s, d in rows:
        print(f"| {name} | {t:.2f} | {o:.3f} | {100 * o / t:.1f} % | {s:.2f}x | {d:.1e} |")


if __name__ == "__main__":
    main()
