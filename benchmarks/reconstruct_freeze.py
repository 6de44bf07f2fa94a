"""Benchmark: one reconstruction step with and without ``dr.freeze``.

Geometry step (fails to freeze): the step of :func:`penumbra.photo_reconstruction.fit.fit_stage`
without the optimizer: set the vertex positions, render one view with ``edge_sampling``, mean L1
against a target, ``dr.backward`` to the positions. Plain: the step is traced (Python + Dr.Jit
tracing) every time and its kernels are looked up in the kernel cache. Frozen: ``dr.freeze``
records the step's kernel launches on the first calls and replays them afterwards, skipping the
Python and the tracing. Prints the median per-step wall and process CPU time of the plain step and
the reason freezing fails, from a child process (the recording aborts the process). The step writes
the positions through Mitsuba's own parameters (``ParameterMap.update`` checks the values for NaN
on the host, a read that a recording also refuses).

Appearance step (freezes): :func:`penumbra.photo_reconstruction.appearance.appearance_step` on the
same mesh, fixed (per-vertex albedo + sky radiance, Mitsuba's ``prb``, Adam update inside the step);
prints both medians, their ratio and the largest difference of the parameters after the same steps.

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
    ap.add_argument("--geometry-frozen", action="store_true",
                    help="only try the frozen geometry step (run in a child process: it can abort)")
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
        params.write_mitsuba(key, x)
        params.mitsuba.update()
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

    if a.geometry_frozen:
        try:
            timed(dr.freeze(step), "frozen")
        except Exception as e:  # report why the step cannot be frozen (the recording error is the cause)
            chain = []
            while e is not None:
                chain.append(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                e = e.__cause__ or e.__context__
            print("frozen   failed: " + " <- ".join(chain))
        return
    print(f"load average {os.getloadavg()[0]:.1f}, Dr.Jit threads {dr.thread_count()}")
    timed(step, "plain")
    import subprocess
    child = subprocess.run([sys.executable, os.path.abspath(__file__), "--geometry-frozen", "--res", str(a.res),
                            "--steps", str(a.steps), "--warmup", str(a.warmup), "--subdivisions", str(a.subdivisions)],
                           capture_output=True, text=True)
    lines = [x for x in (child.stdout + child.stderr).splitlines() if x.strip()]
    print(f"frozen   (child process, exit status {child.returncode}): " + (lines[-1] if lines else ""))
    params.detach()
    appearance(a, V, F)


def appearance(a, V, F):
    """Per-step time of the appearance step, plain and frozen, and the parameters' difference."""
    import drjit as dr
    import mitsuba as mi

    from penumbra.photo_reconstruction.appearance import appearance_step, frozen_appearance_step
    from penumbra.scenes import builders, load_scene, mesh_from_arrays
    bsdf = mi.load_dict({"type": "diffuse", "reflectance": {"type": "mesh_attribute", "name": "vertex_color"}})
    mesh = mesh_from_arrays(V, F, name="obj", face_normals=True, bsdf=bsdf)
    mesh.add_attribute("vertex_color", 3, mi.Float(np.full(3 * len(V), 0.5, np.float32)))
    scene = load_scene({"type": "scene", "integrator": {"type": "prb", "max_depth": 2, "hide_emitters": True},
                        "sky": builders.constant_environment(1.0), "obj": mesh,
                        "cam": builders.camera(origin=(0, 1, 4), resolution=a.res, spp=4)})
    mp = mi.traverse(scene)
    target = mi.TensorXf(np.full((a.res, a.res, 3), 0.3, np.float32))
    results = {}
    for label, fn in (("plain", appearance_step), ("frozen", frozen_appearance_step(scene, [0]))):
        lat = {"obj.vertex_color": mi.Float(np.zeros(3 * len(V), np.float32)) + 0,
               "sky.radiance.value": mi.Color3f(0.1, 0.0, -0.1) + 0}
        m = {k: dr.zeros(type(x), dr.width(x)) + 0 for k, x in lat.items()}
        v = {k: dr.zeros(type(x), dr.width(x)) + 0 for k, x in lat.items()}
        dr.make_opaque(lat, m, v, target)
        walls, cpus = [], []
        for s in range(a.warmup + a.steps):
            t, c = time.perf_counter(), time.process_time()
            lat, m, v, loss = fn(scene, mp, lat, m, v, dr.opaque(mi.Float, 0.01), dr.opaque(mi.UInt32, s), target, 0, 4)
            dr.eval(lat, m, v, loss)
            dr.sync_thread()
            if s >= a.warmup:
                walls.append(time.perf_counter() - t)
                cpus.append(time.process_time() - c)
        results[label] = (statistics.median(walls), statistics.median(cpus), lat)
        print(f"appearance {label:8s} median per step: wall {1e3 * results[label][0]:8.1f} ms, "
              f"CPU {1e3 * results[label][1]:8.1f} ms")
    diff = max(float(np.abs(results["plain"][2][k].numpy() - results["frozen"][2][k].numpy()).max())
               for k in results["plain"][2])
    print(f"appearance frozen/plain: wall {results['frozen'][0] / results['plain'][0]:.3f}, "
          f"CPU {results['frozen'][1] / results['plain'][1]:.3f}; largest parameter difference {diff:.2e}")


if __name__ == "__main__":
    main()
