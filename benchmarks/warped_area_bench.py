"""Benchmark: ``warped_area`` against ``edge_sampling`` on a large mesh, in the same run.

Time per gradient on an icosphere of ~1.3M triangles (``--level`` 8), for ``warped_area`` (no
per-edge structure: its boundary test reads only the triangle an auxiliary ray hits) and
``edge_sampling`` (edge topology on first use, then silhouette selection and projection of every
edge each time), at the same sample counts, with a Gaussian filter (which ``warped_area``'s primary
term needs). The first gradient includes any per-mesh set-up; the steady cost is the best of two
further gradients.

Equal-time gradient error and peak memory of both estimators and Mitsuba's integrators on every
scene of the correctness suite: ``benchmarks/path_bench.py --filter gaussian --memory``.

    .venv/bin/python benchmarks/warped_area_bench.py [--quick] [--level 8]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from penumbra import integrators  # noqa: E402,F401
from path_bench import timed_grad  # noqa: E402
from tests.gradcheck import offset  # noqa: E402

PEERS = {
    "warped_area": {"type": "warped_area", "max_depth": 2, "primary_spp": 4},
    "edge_sampling": {"type": "edge_sampling", "max_depth": 2, "primary_spp": 4},
}


def large_mesh(level, res, spp):
    from penumbra import scenes
    from penumbra.scenes import builders as b
    V, F = b.icosphere(level, 0.6)
    ball = scenes.mesh_from_arrays(V, F, name="ball", bsdf=b.diffuse(0.7))
    scene = scenes.load_scene(b.scene(b.camera((0, 0, 3), (0, 0, 0), fov=40, resolution=res, filter="gaussian"),
                                      shapes={"ball": ball}, emitters={"sky": b.constant_environment(0.3)}))
    params = scenes.ParameterMap(scene)
    perturb = offset(params, "ball.vertex_positions", np.tile([0, 0, 1.0], len(V)))
    print(f"\n## large mesh: icosphere level {level}, {len(F)} triangles, {res}x{res}, "
          f"{spp} spp interior + 4 boundary spp")
    times = {}
    for peer, cfg in PEERS.items():
        t_first = timed_grad(scene, params, perturb, cfg, spp=spp)[1]    # includes any per-mesh set-up
        t = min(timed_grad(scene, params, perturb, cfg, spp=spp, seed=s)[1] for s in (2, 3))
        times[peer] = t
        print(f"{peer:18s} first gradient {t_first:7.2f} s, then {t:7.2f} s per gradient", flush=True)
    print(f"ratio edge_sampling / warped_area time: {times['edge_sampling'] / times['warped_area']:.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller mesh (level 6)")
    ap.add_argument("--level", type=int, default=None, help="icosphere subdivision level (8: 1.3M triangles)")
    args = ap.parse_args()
    import mitsuba as mi
    mi.set_log_level(mi.LogLevel.Error)
    level = args.level or (6 if args.quick else 8)
    print(f"# warped_area large-mesh benchmark; variant {mi.variant()}, {os.cpu_count()} CPUs")
    large_mesh(level, 32, 4)


if __name__ == "__main__":
    main()
