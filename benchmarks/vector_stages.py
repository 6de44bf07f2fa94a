"""Per-stage CPU time of the vector rasterizer on the scenes of ``vector_bench.py``.

Each stage function that ``rasterize`` calls (compile, bind, tessellate, layer table, bin, upload,
pixel samples, each tile group's shading, reconstruction, boundary term) is wrapped for the run:
``dr.sync_thread()`` before and after, so that the kernels a stage launches are charged to it, and
``time.process_time()`` (CPU time of all threads: Python, NumPy and Dr.Jit's workers) around it.
One warm-up call, then ``--reps`` calls with gradients (followed by the backward pass, reported on
its own) and ``--reps`` without (the primal pass). Also printed: Dr.Jit kernel launches per call and
their summed execution time (``dr.kernel_history()``; with gradients including the backward pass).
The syncs between stages cost a little overlap, so the total is an upper bound of an unwrapped
call's CPU time.

    .venv/bin/python benchmarks/vector_stages.py [--config 512 256] [--reps 3]
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

#: (function name in integrators.vector.raster, stage label)
STAGES = [("compile_scene", "compile"), ("bind_parameters", "bind"), ("tessellate", "tessellate"),
          ("layer_table", "layers"), ("concat_edges", "concat"), ("bin_edges", "bin"), ("upload_bins", "upload"),
          ("pixel_samples", "samples"), ("reconstruct", "reconstruct"), ("boundary_term", "boundary"),
          ("straight_alpha_tensor", "tensor")]


def profile(n: int, size: int, reps: int) -> dict:
    """{(mode, stage): CPU seconds per call} and {mode: (kernels per call, kernel seconds per call)}."""
    from penumbra import renderer
    renderer.ensure_variant()
    import drjit as dr
    import mitsuba as mi

    import penumbra.integrators.vector.raster as raster
    from penumbra.integrators.vector.composite import Shading
    from vector_bench import SPP, random_scene

    acc = collections.defaultdict(float)

    def timed(label, f, result=None):
        def run(*a, **k):
            dr.sync_thread()
            t = time.process_time()
            r = f(*a, **k)
            if result is not None:
                dr.eval(result(r))
            dr.sync_thread()
            acc[label] += time.process_time() - t
            return r
        return run

    saved = {name: getattr(raster, name) for name, _ in STAGES}
    shade = Shading.shade
    try:
        for name, label in STAGES:
            setattr(raster, name, timed(label, saved[name]))
        Shading.shade = timed("shade (tile groups)", shade, result=lambda r: r[0])
        sc = random_scene(n, size)
        vals = {k: sc.params.pack(k) for k in ("*.points", "*.stroke_width", "*.stroke.color")}
        w = mi.Float(np.random.default_rng(1).random(size * size * 4).astype(np.float32))

        def call(diff):
            xs = {k: mi.Float(v) for k, v in vals.items()}
            if diff:
                dr.enable_grad(*xs.values())
            dr.sync_thread()
            t0 = time.process_time()
            img = raster.rasterize(sc, size, size, spp=SPP, params=xs if diff else None)
            dr.eval(img)
            dr.sync_thread()
            t1 = time.process_time()
            acc["total"] += t1 - t0
            if diff:
                dr.backward(dr.sum(img.array * w))
                dr.eval([dr.grad(x) for x in xs.values()])
                dr.sync_thread()
                acc["backward"] += time.process_time() - t1

        out, kernels = {}, {}
        dr.set_flag(dr.JitFlag.KernelHistory, True)
        for mode, diff in (("forward (gradients)", True), ("primal", False)):
            call(diff)
            acc.clear()
            dr.kernel_history()
            for _ in range(reps):
                call(diff)
            jit = [k for k in dr.kernel_history() if k.get("type") == dr.KernelType.JIT]
            kernels[mode] = (len(jit) / reps, sum(k.get("execution_time", 0.0) for k in jit) / 1000 / reps)
            out.update({(mode, k): v / reps for k, v in acc.items()})
        return out, kernels
    finally:
        for name, f in saved.items():
            setattr(raster, name, f)
        Shading.shade = shade


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", nargs=2, type=int, action="append", metavar=("PATHS", "SIZE"),
                    help="paths and canvas size (repeatable; default 512 256 and 2048 512)")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    for n, size in args.config or [(512, 256), (2048, 512)]:
        load = os.getloadavg()[0]
        times, kernels = profile(n, size, args.reps)
        print(f"\n{n} paths, {size}^2, {args.reps} calls each, load {load:.1f}-{os.getloadavg()[0]:.1f}: "
              "CPU s per call")
        for mode in ("forward (gradients)", "primal"):
            rows = sorted(((k[1], v) for k, v in times.items() if k[0] == mode), key=lambda kv: -kv[1])
            total = times.get((mode, "total"), 0.0)
            scope = " (forward + backward)" if mode != "primal" else ""
            print(f"  {mode}: {kernels[mode][0]:.0f} kernel launches, {kernels[mode][1]:.3f} s kernel execution{scope}")
            for label, v in rows:
                share = f"{100 * v / total:5.1f} %" if label not in ("total", "backward") and total else ""
                print(f"    {label:20s} {v:7.3f} {share}")


if __name__ == "__main__":
    main()
