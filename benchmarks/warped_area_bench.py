"""Benchmark: ``warped_area`` against ``edge_sampling`` and Mitsuba's integrators, in the same run.

1. Equal-time gradient error on the primary-visibility configurations of tests/path (Gaussian
   filter, which warped-area sampling requires): each integrator's sample counts are scaled so that
   one forward-mode gradient takes about ``--budget`` seconds (cost measured first at a small count,
   as in benchmarks/path_bench.py); reported: relative L2 and floored mean relative error against a
   high-spp central-FD image of Mitsuba's ``path``, image-sum error, and the L2 ratio to
   ``edge_sampling``, and that ratio times sqrt(time ratio) (error at exactly equal time, as Monte
   Carlo error falls like 1/sqrt(time)). Peak memory: the peak RSS of a fresh process running one
   such gradient (and its growth during the gradient), in forward mode and in reverse mode
   (``render_backward`` with unit weights, same sample counts).
   Secondary visibility: the triangle-shadow configuration of tests/path/test_secondary.py (the
   occluder is out of view, box filter), ``warped_area`` against ``edge_sampling``, both with only
   their secondary terms on (``secondary_spp`` scaled to the budget), plus ``prb`` and
   ``prb_projective``.
2. Large meshes: time per gradient on an icosphere of ~1.3M triangles (``--tris`` levels), for
   ``warped_area`` (no per-edge structure: it traces auxiliary rays) and ``edge_sampling`` (edge
   topology + silhouette selection), at the same sample counts.

    .venv/bin/python benchmarks/warped_area_bench.py [--quick] [--budget SECONDS] [--level 8]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import integrators  # noqa: E402,F401
from path_bench import equal_time as equal_time_gradient, timed_grad  # noqa: E402
from tests.gradcheck import compare, fd_image, offset, reverse_grad  # noqa: E402

PEERS = {
    "warped_area": {"type": "warped_area", "max_depth": 2, "primary_spp": 4},
    "edge_sampling": {"type": "edge_sampling", "max_depth": 2, "primary_spp": 4},
    "prb_projective": {"type": "prb_projective", "max_depth": 2},
    "prb": {"type": "prb", "max_depth": 2},
}


SHADOW_PEERS = {
    "warped_area": {"type": "warped_area", "max_depth": 2, "primary_spp": 0, "secondary_spp": 16},
    "edge_sampling": {"type": "edge_sampling", "max_depth": 2, "primary_spp": 0, "secondary_spp": 16},
    "prb_projective": {"type": "prb_projective", "max_depth": 2},
    "prb": {"type": "prb", "max_depth": 2},
}


def configs(res):
    """name -> (scene, params, perturbation, peers, FD step, reference depth)."""
    from tests.path import test_secondary as S
    from tests.path import test_warped_area as T
    out = {}
    scene, params, V = T.triangle_scene(res)
    out["triangle silhouette (scaling)"] = (scene, params, offset(params, "tri.vertex_positions", V.ravel()),
                                            PEERS, 0.01, 2)
    scene, params, V = T.flat_sphere_scene(res)
    out["flat sphere (depth motion)"] = (scene, params,
                                         offset(params, "ball.vertex_positions", np.tile([0, 0, 1.0], len(V))),
                                         PEERS, 0.01, 2)
    scene, params, perturb, depth = S.triangle_shadow(res)
    out["triangle shadow (secondary, scaling)"] = (scene, params, perturb, SHADOW_PEERS, 0.02, depth)
    return out


def _hwm_mib():
    """This process's peak resident set (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(args):
    """Run one gradient in this fresh process and print its peak RSS (MiB) and time."""
    scene, params, perturb = configs(args.res)[args.config][:3]
    cfg = json.loads(args.cfg)
    base = _hwm_mib()
    if args.reverse:
        W, H = (int(v) for v in scene.sensors()[0].film().crop_size())
        t = time.perf_counter()
        reverse_grad(scene, params, perturb, cfg, np.ones((H, W, 3)), spp=args.spp)
        t = time.perf_counter() - t
    else:
        _, t = timed_grad(scene, params, perturb, cfg, spp=args.spp)
    peak = _hwm_mib()
    print(json.dumps({"peak_mib": peak, "growth_mib": peak - base, "time": t}))


def peak_memory(res, config, cfg, spp, reverse=False):
    out = subprocess.run([sys.executable, __file__, "--child", "--res", str(res), "--config", config,
                          "--cfg", json.dumps(cfg), "--spp", str(spp)] + (["--reverse"] if reverse else []),
                         capture_output=True, text=True)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"peak_mib": float("nan"), "growth_mib": float("nan"), "time": float("nan")}


def equal_time(res, budget, ref_spp, ref_passes, only=None):
    for name, (scene, params, perturb, peers, h, depth) in configs(res).items():
        if only and only not in name:
            continue
        ref = fd_image(scene, params, perturb, h, reference={"type": "path", "max_depth": depth},
                       spp=ref_spp, passes=ref_passes)
        results = {}
        for peer, cfg in peers.items():
            try:
                big, spp, g, t = equal_time_gradient(scene, params, perturb, cfg, budget)
                mem = peak_memory(res, name, big, spp)
                mem["rev_peak_mib"] = peak_memory(res, name, big, spp, reverse=True)["peak_mib"]
                results[peer] = (compare(g, ref), t, mem)
            except Exception as e:  # a peer that cannot run this scene is reported, not fatal
                results[peer] = (f"{type(e).__name__}: {str(e).splitlines()[0][:60]}", 0.0, None)
        base = results["edge_sampling"][0]
        print(f"\n## {name}")
        print(f"{'integrator':18s} {'time s':>7s} {'rel L2':>8s} {'mean rel':>9s} {'sum err':>8s} {'L2 / ES':>8s} "
              f"{'eff. / ES':>9s} {'peak RSS fwd (growth)':>22s} {'rev':>9s}")
        for peer, (rep, t, mem) in results.items():
            if isinstance(rep, str):
                print(f"{peer:18s} {'':>7s} {rep}")
                continue
            ratio = rep.rel_l2 / max(base.rel_l2, 1e-12) if not isinstance(base, str) else float("nan")
            # Time-normalised: L2 x sqrt(time), as Monte Carlo error falls like 1/sqrt(time).
            eff = ratio * (t / max(results["edge_sampling"][1], 1e-9)) ** 0.5
            print(f"{peer:18s} {t:7.2f} {100 * rep.rel_l2:7.1f}% {100 * rep.mean_rel:8.1f}% "
                  f"{100 * rep.sum_rel:7.1f}% {ratio:8.2f} {eff:9.2f} {mem['peak_mib']:6.0f} MiB "
                  f"(+{mem['growth_mib']:.0f}) {mem['rev_peak_mib']:6.0f} MiB", flush=True)


def large_mesh(level, res, spp):
    import scenes
    from scenes import builders as b
    V, F = b.icosphere(level, 0.6)
    ball = scenes.mesh_from_arrays(V, F, name="ball", bsdf=b.diffuse(0.7))
    scene = scenes.load_scene(b.scene(b.camera((0, 0, 3), (0, 0, 0), fov=40, resolution=res, filter="gaussian"),
                                      shapes={"ball": ball}, emitters={"sky": b.constant_environment(0.3)}))
    params = scenes.ParameterMap(scene)
    perturb = offset(params, "ball.vertex_positions", np.tile([0, 0, 1.0], len(V)))
    print(f"\n## large mesh: icosphere level {level}, {len(F)} triangles, {res}x{res}, "
          f"{spp} spp interior + 4 boundary spp")
    times = {}
    for peer in ("warped_area", "edge_sampling"):
        cfg = PEERS[peer]
        t_first = timed_grad(scene, params, perturb, cfg, spp=spp)[1]    # includes any per-mesh set-up
        t = min(timed_grad(scene, params, perturb, cfg, spp=spp, seed=s)[1] for s in (2, 3))
        times[peer] = t
        print(f"{peer:18s} first gradient {t_first:7.2f} s, then {t:7.2f} s per gradient", flush=True)
    print(f"ratio edge_sampling / warped_area time: {times['edge_sampling'] / times['warped_area']:.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small images, short budget, smaller mesh")
    ap.add_argument("--budget", type=float, default=None, help="seconds per gradient (default 4, quick 1)")
    ap.add_argument("--level", type=int, default=None, help="icosphere subdivision level (8: 1.3M triangles)")
    ap.add_argument("--only", default=None, help="run only the configurations whose name contains this")
    ap.add_argument("--no-large", action="store_true", help="skip the large-mesh timing")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--res", type=int, default=24, help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--cfg", help=argparse.SUPPRESS)
    ap.add_argument("--spp", type=int, default=4, help=argparse.SUPPRESS)
    ap.add_argument("--reverse", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    import mitsuba as mi
    mi.set_log_level(mi.LogLevel.Error)
    if args.child:
        return child(args)
    res = 16 if args.quick else 24
    budget = args.budget or (1.0 if args.quick else 4.0)
    ref_spp, ref_passes = (4096, 2) if args.quick else (8192, 4)
    level = args.level or (6 if args.quick else 8)
    print(f"# warped_area benchmark: {res}x{res}, {budget:.1f} s per gradient, reference FD of path at "
          f"{ref_spp} spp x {ref_passes} passes; variant {mi.variant()}, {os.cpu_count()} CPUs")
    equal_time(res, budget, ref_spp, ref_passes, args.only)
    if not args.no_large:
        large_mesh(level, 32, 4)


if __name__ == "__main__":
    main()
