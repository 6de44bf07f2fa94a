"""Benchmark: visibility-gradient error at equal time, and forward throughput, for ``edge_sampling``.

For each scene of the correctness suite (tests/path), a high-spp central finite-difference image
of Mitsuba's ``path`` is the reference. Every integrator first runs one gradient at a small
sample count to measure its cost, then runs again with the sample count scaled so that one
gradient takes about ``--budget`` seconds; the table reports the error of that equal-time
gradient image (relative L2 and the floored mean relative error of tests/harness/report.py) and its
ratio to ``edge_sampling``'s. The reference is itself noisy, which pulls every ratio towards 1:
it is rendered as two independent halves a, b, and the squared error is also reported with the
reference's own variance |a - b|²/4 removed (E|g - ref|² = E|g - true|² + E|ref - true|² for
independent g, ref); the ratio column uses that corrected relative L2. Peers, measured in the same
run: Mitsuba 3.9's ``prb_projective`` and ``direct_projective`` (default guiding and
``guiding='none'``) and ``prb``. Forward throughput: samples/s of ``edge_sampling``'s primal render
against Mitsuba's ``path`` on the same
scene at 128x128, 64 spp (at 16x16 both are dominated by per-call tracing overhead).

    .venv/bin/python benchmarks/path_bench.py [--quick] [--budget SECONDS] [--filter gaussian] [--memory]
                                              [--only SCENE-NAME-PART]

``warped_area`` is a peer too (with a box filter its primary term adds the pixel-border flux of
:mod:`penumbra.integrators.path.warped_borders`); ``--filter gaussian`` runs every integrator and the
reference with that filter. ``--memory`` adds
each integrator's peak memory: the peak resident set (VmHWM) of a fresh process that builds the
scenes and runs that equal-time gradient once in forward mode and once in reverse mode
(``render_backward`` with unit weights), and its growth during the gradient.

One gradient's error is itself a random number (one seed of a heavy-tailed estimator can sit far
from its expectation): at the equal-time configuration each integrator runs ``--seeds`` gradients
(default 3, new seeds) and the corrected relative L2 is the root of their mean squared error; time,
rel. L2, mean rel., sum error and sign agreement are those of the first seed.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from penumbra import integrators  # noqa: E402,F401
from penumbra.renderer import memory  # noqa: E402
from tests.harness import compare, exact_derivative, fd_image, forward_grad, offset, reverse_grad  # noqa: E402


def scenes_under_test(res):
    """name -> a function that builds (scene, params, perturbation, max_depth, exact derivative image
    or None). Built one at a time, the previous one freed: tracing a virtual call (a BSDF, emitter or
    shape method) traces every live instance of that plugin class in the process, not only the
    scene's, so scenes kept alive make every later gradient slower (measured: an ``edge_sampling``
    gradient of 94 ms took 537 ms with the other scenes alive at both resolutions), and integrators
    that trace more calls per gradient lose more."""
    from tests import scenes_lib as S

    def triangle():
        # A convex diffuse object under a uniform sky: the derivative is known exactly from pixel
        # coverage (tests/harness/coverage.py; radiances from the scene's albedo x sky), checked
        # against the FD reference.
        scene, params, V = S.triangle_scene(res)
        return (scene, params, offset(params, "tri.vertex_positions", V.ravel()), 2,
                lambda: exact_derivative(scene.sensors()[0], V, V, [0.8, 0.3, 0.2], [1.0] * 3))

    def flat_sphere(sun):
        scene, params, V = (S.flat_sphere_sun_scene if sun else S.flat_sphere_scene)(res)
        D = np.tile([0, 0, 1.0], (len(V), 1))
        exact = None if sun else (lambda: exact_derivative(scene.sensors()[0], V, D, [0.21] * 3, [0.3] * 3))
        return scene, params, offset(params, "ball.vertex_positions", D.ravel()), 2, exact

    out = {"triangle silhouette": triangle,
           "flat sphere, depth motion": lambda: flat_sphere(False),
           # its creases carry real jumps under a sun (FD reference only)
           "flat sphere under a sun, depth motion": lambda: flat_sphere(True),
           "triangle shadow": lambda: S.triangle_shadow(res) + (None,),
           "sphere-mesh shadow": lambda: S.sphere_shadow(res, flat=False) + (None,),
           "indirect occluder": lambda: S.indirect_occluder(res) + (None,)}
    # Configurations in the style of Mitsuba's test_ad_integrators.py (tests/scenes_lib.py).
    folder = tempfile.mkdtemp(prefix="path_bench_")
    for name, build in S.MITSUBA_STYLE.items():
        out[f"Mitsuba-style: {name}"] = lambda build=build: build(res, folder) + (None,)
    return out


def peers(depth):
    # Our estimators with default settings: their boundary counts follow the render spp.
    es = {"type": "edge_sampling", "max_depth": depth}
    return {
        "edge_sampling": (es, "spp"),
        "prb_projective": ({"type": "prb_projective", "max_depth": depth}, "spp"),
        "prb_projective (no guiding)": ({"type": "prb_projective", "max_depth": depth, "guiding": "none"}, "spp"),
        "direct_projective": ({"type": "direct_projective"}, "spp"),
        "direct_projective (no guiding)": ({"type": "direct_projective", "guiding": "none"}, "spp"),
        "prb": ({"type": "prb", "max_depth": depth}, "spp"),
        "warped_area": ({"type": "warped_area", "max_depth": depth}, "spp"),
    }


def scaled(cfg, k):
    """The configuration with its non-zero extra sample counts multiplied by k (0 stays off)."""
    out = dict(cfg)
    for key in ("edge_spp", "film_spp", "secondary_path_spp", "sppc", "sppp", "sppi"):
        if out.get(key, 0) > 0:
            out[key] = max(1, int(round(out[key] * k)))
    return out


def timed_grad(scene, params, perturb, cfg, spp, seed=1):
    t = time.perf_counter()
    g = forward_grad(scene, params, perturb, cfg, spp=spp, seed=seed)
    return g, time.perf_counter() - t


def equal_time(scene, params, perturb, cfg, budget):
    """Scale ``cfg``'s sample counts (and the render spp, 4 x k) until one gradient takes ``budget``
    seconds (within 25 %; at most five rescales: cost is not linear in the counts at small sizes,
    per-call overhead and fixed guiding costs). Returns (config, spp, gradient image, seconds)."""
    timed_grad(scene, params, perturb, cfg, spp=4)          # compile / warm up
    _, t = timed_grad(scene, params, perturb, cfg, spp=4)
    k = 1.0
    for _ in range(5):
        k = max(k * budget / max(t, 1e-3), 1.0)
        big, spp = scaled(cfg, k), max(1, int(4 * k))
        timed_grad(scene, params, perturb, big, spp=spp, seed=2)   # kernels for these sizes
        g, t = timed_grad(scene, params, perturb, big, spp=spp)
        if abs(t / budget - 1) < 0.25 or (k == 1.0 and t > budget):
            break
    return big, spp, g, t


def child(args):
    """Run one gradient of scene ``args.scene`` in this fresh process; print peak RSS (MiB) and time."""
    scene, params, perturb = scenes_under_test(args.res)[args.scene]()[:3]
    cfg = json.loads(args.cfg)
    base = memory.peak_resident_bytes() / 2**20
    t = time.perf_counter()
    if args.reverse:
        W, H = (int(v) for v in scene.sensors()[0].film().crop_size())
        reverse_grad(scene, params, perturb, cfg, np.ones((H, W, 3)), spp=args.spp)
    else:
        forward_grad(scene, params, perturb, cfg, spp=args.spp)
    t = time.perf_counter() - t
    peak = memory.peak_resident_bytes() / 2**20
    print(json.dumps({"peak_mib": peak, "growth_mib": peak - base, "time": t}))


def peak_memory(args, scene, cfg, spp, reverse=False):
    """Peak RSS of a fresh process running one gradient (see :func:`child`); NaNs if it failed."""
    out = subprocess.run([sys.executable, __file__, "--child", "--res", str(args.res), "--filter", args.filter,
                          "--scene", scene, "--cfg", json.dumps(cfg), "--spp", str(spp)]
                         + (["--reverse"] if reverse else []), capture_output=True, text=True)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"peak_mib": float("nan"), "growth_mib": float("nan"), "time": float("nan")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small images, short budget")
    ap.add_argument("--budget", type=float, default=None, help="seconds per gradient (default 4, quick 1)")
    ap.add_argument("--filter", default="box", help="reconstruction filter of every scene (box, gaussian...)")
    ap.add_argument("--seeds", type=int, default=3, help="gradients (seeds) per integrator at equal time; the "
                    "corrected L2 is their root-mean-square")
    ap.add_argument("--ref-passes", type=int, default=None, help="FD passes of the reference (default 16, "
                    "quick 8; its own noise falls as 1/sqrt of it)")
    ap.add_argument("--only", default=None, help="run only the scenes whose name contains this")
    ap.add_argument("--memory", action="store_true", help="also measure each integrator's peak memory "
                    "(fresh process per gradient, forward and reverse mode)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--res", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--scene", help=argparse.SUPPRESS)
    ap.add_argument("--cfg", help=argparse.SUPPRESS)
    ap.add_argument("--spp", type=int, default=4, help=argparse.SUPPRESS)
    ap.add_argument("--reverse", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.filter != "box":  # the same scenes, every integrator and the reference with this filter
        import functools
        from unittest import mock
        from penumbra.scenes import builders
        mock.patch.object(builders, "camera", functools.partial(builders.camera, filter=args.filter)).start()
    import mitsuba as mi
    mi.set_log_level(mi.LogLevel.Error)
    if args.child:
        return child(args)
    res = args.res = args.res or (16 if args.quick else 32)
    budget = args.budget or (1.0 if args.quick else 4.0)
    # FD step: with h = 0.02 edges moved ~0.4 px across box-filtered pixel borders and every
    # integrator agreed with the others but not with the FD image (11.5 % rel. L2 floor on the
    # triangle); h = 0.005 keeps the motion ~0.1 px, with more passes for the 4x noisier quotient.
    h = 0.005
    ref_spp, ref_passes = (4096, args.ref_passes or 8) if args.quick else (8192, args.ref_passes or 16)
    from penumbra.renderer import ensure_variant
    ensure_variant()
    scenes = scenes_under_test(res)
    print(f"# edge_sampling benchmark: {res}x{res}, {args.filter} filter, {budget:.1f} s per gradient, "
          f"reference FD of path at {ref_spp} spp x {ref_passes} passes, h = {h}; variant {mi.variant()}, "
          f"{os.cpu_count()} CPUs")
    spp_tp, tp_res = 64, max(res, 128)
    tp_scenes = scenes_under_test(tp_res)  # the same scenes at the throughput resolution
    for name, build in scenes.items():
        if args.only and args.only not in name:
            continue
        gc.collect()  # the previous scene's plugins: see scenes_under_test
        scene, params, perturb, depth, exact = build()
        halves = [fd_image(scene, params, perturb, h, reference={"type": "path", "max_depth": depth},
                           spp=ref_spp, passes=ref_passes // 2, seed=7 + 1000 * i) for i in range(2)]
        ref = (halves[0] + halves[1]) / 2
        noise2 = float(np.sum((halves[0] - halves[1]) ** 2)) / 4  # variance of ref, summed over pixels
        check = ""
        if exact is not None and args.filter == "box":  # pixel coverage = box filter; replaces FD once they agree
            ex = exact()
            fd_vs_exact = compare(ref, ex)
            if fd_vs_exact.sum_rel > 0.02 or fd_vs_exact.rel_l2 > 0.1:
                raise RuntimeError(f"{name}: the exact-coverage reference disagrees with FD of path: {fd_vs_exact}")
            check = f"; exact coverage derivative used, FD of path vs it: rel L2 {100 * fd_vs_exact.rel_l2:.1f}%"
            ref, noise2 = ex, 0.0
        ref_norm = float(np.linalg.norm(ref))

        def corrected(images):
            """Root-mean-square over ``images`` of the relative L2 with the reference's variance removed."""
            return np.sqrt(max(np.mean([float(np.sum((g - ref) ** 2)) for g in images]) - noise2, 0.0)) / ref_norm
        results = {}
        for peer, (cfg, _) in peers(depth).items():
            try:
                big, spp, g, t = equal_time(scene, params, perturb, cfg, budget)
                mem = ""
                if args.memory:
                    fwd, rev = (peak_memory(args, name, big, spp, reverse=r) for r in (False, True))
                    mem = f" {fwd['peak_mib']:6.0f} MiB (+{fwd['growth_mib']:.0f}) {rev['peak_mib']:6.0f} MiB"
                more = [timed_grad(scene, params, perturb, big, spp=spp, seed=10 + i)[0] for i in range(args.seeds - 1)]
                results[peer] = (compare(g, ref), t, corrected([g] + more), mem)
            except Exception as e:  # a peer that cannot run this scene is reported, not fatal
                results[peer] = (f"{type(e).__name__}: {str(e).splitlines()[0][:60]}", 0.0, None, "")
        base = results["edge_sampling"][2]
        print(f"\n## {name} (reference self-noise: rel L2 {100 * np.sqrt(noise2) / ref_norm:.1f}%{check})")
        print(f"{'integrator':32s} {'time s':>7s} {'rel L2':>8s} {'corr. L2':>9s} {'mean rel':>9s} {'sum err':>8s} "
              f"{'sign':>6s} {'L2 / ES':>8s}"
              + (f" {'peak RSS fwd (growth)':>22s} {'rev':>10s}" if args.memory else ""))
        for peer, (rep, t, c, mem) in results.items():
            if isinstance(rep, str):
                print(f"{peer:32s} {'':>7s} {rep}")
                continue
            # No ratio when edge_sampling's corrected error is 0 (below the reference's noise).
            ratio = f"{c / base:8.2f}" if base else f"{'-':>8s}"
            print(f"{peer:32s} {t:7.2f} {100 * rep.rel_l2:7.1f}% {100 * c:8.1f}% {100 * rep.mean_rel:8.1f}% "
                  f"{100 * rep.sum_rel:7.1f}% {100 * rep.sign:5.0f}% {ratio}{mem}", flush=True)

        # Forward throughput: primal render, same spp, vs Mitsuba's path, at a size where the
        # per-call overhead (Python tracing, kernel-cache lookup) does not dominate.
        del scene, params, perturb, exact
        gc.collect()
        scene = tp_scenes[name]()[0]
        tp = {}
        for peer, cfg in (("path", {"type": "path", "max_depth": depth}),
                          ("edge_sampling", {"type": "edge_sampling", "max_depth": depth})):
            integrator = mi.load_dict(cfg)
            mi.render(scene, integrator=integrator, spp=spp_tp)
            t = time.perf_counter()
            img = mi.render(scene, integrator=integrator, spp=spp_tp)
            np.array(img)
            tp[peer] = tp_res * tp_res * spp_tp / (time.perf_counter() - t)
        print(f"forward: edge_sampling {tp['edge_sampling'] / 1e6:.2f} Msamples/s, path "
              f"{tp['path'] / 1e6:.2f} Msamples/s, ratio path/edge_sampling {tp['path'] / tp['edge_sampling']:.2f}")


if __name__ == "__main__":
    main()
