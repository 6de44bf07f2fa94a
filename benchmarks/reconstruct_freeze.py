"""Benchmark: one reconstruction step with and without ``dr.freeze``.

The step of :func:`penumbra.photo_reconstruction.fit.fit_stage` without the optimizer: set the vertex
positions, render one view with ``edge_sampling``, mean L1 against a target, ``dr.backward`` to the
positions. Plain: the step is traced (Python + Dr.Jit tracing) every time and its kernels are
looked up in the kernel cache. Frozen: ``dr.freeze`` records the step's kernel launches on the first
calls and replays them afterwards, skipping the Python and the tracing. Prints the median per-step
wall and process CPU time of each (after ``--warmup`` steps), or the reason freezing fails.

    .venv/bin/python benchmarks/reconstruct_freeze.py [--res 64] [--steps 8] [--warmup 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--subdivisions", type=int, default=3)
    a = ap.parse_args()

    import drjit as dr
    import mitsuba as mi

    import penumbra  # noqa: F401  (registers edge_sampling)
    from penumbra.renderer import ensure_variant
    from penumbra.scenes import ParameterMap, builders, load_scene, mesh_from_arrays
    ensure_variant()
    V, F = builders.icosphere(a.subdivisions)
    d = {"type": "scene", "integrator": {"type": "edge_sampling", "max_depth": 2, "hide_emitters": True},
         "sky": builders.constant_environment(1.0),
         "obj": mesh_from_arrays(V, F, name="obj", face_normals=True, bsdf=mi.load_dict(builders.diffuse(0.5))),
         "cam": builders.camera(origin=(0, 1, 4), resolution=a.res, spp=4)}
    scene = load_scene(d)
    params = ParameterMap(scene)
    key = "obj.vertex_positions"
    x0 = np.asarray(V, np.float32).ravel()
    target = mi.TensorXf(np.full((a.res, a.res, 3), 0.3, np.float32))

    def step(x, seed):
        params.update({key: x})
        img = mi.render(params.scene, params.mitsuba, spp=4, seed=seed)
        loss = dr.mean(dr.abs(img - target), axis=None)
        dr.backward(loss)
        return loss

    def timed(fn, label):
        walls, cpus = [], []
        for s in range(a.warmup + a.steps):
            x = mi.Float(x0 * (1.0 + 0.01 * s))
            dr.enable_grad(x)
            t, c = time.perf_counter(), time.process_time()
            loss = fn(x, s)
            g = dr.grad(x)
            dr.eval(loss, g)
            dr.sync_thread()
            if s >= a.warmup:
                walls.append(time.perf_counter() - t)
                cpus.append(time.process_time() - c)
        print(f"{label:8s} median per step: wall {1e3 * statistics.median(walls):8.1f} ms, "
              f"CPU {1e3 * statistics.median(cpus):8.1f} ms  (res {a.res}, {len(F)} faces, {a.steps} steps)")

    print(f"load average {os.getloadavg()[0]:.1f}, Dr.Jit threads {dr.thread_count()}")
    timed(step, "plain")
    try:
        timed(dr.freeze(step), "frozen")
    except Exception as e:  # report why the step cannot be frozen (the recording error is the cause)
        chain = []
        while e is not None:
            chain.append(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            e = e.__cause__ or e.__context__
        print("frozen   failed: " + " <- ".join(chain))


if __name__ == "__main__":
    main()
