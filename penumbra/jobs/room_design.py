"""`penumbra room-design`: the three optimisation studies of Zhi et al., "A Differentiable Image Source
Model for Room Acoustics Optimization" (WASPAA 2023), on Penumbra's differentiable image sources:

* ``materials``: redistribute the wall absorption (fixed total absorption area, i.e. the same Sabine
  T60) to maximise the change (increase) in reverberation time (smooth T20) -- possible because the
  field is not diffuse: concentrating absorption leaves flutter paths -- then pick the nearest bundled
  material for each wall;
* ``receiver``: place the receiver (at least 1.5 m from the source) to minimise the centre time Ts
  averaged over a small listening area (multi-start: pointwise Ts is rough and nearly flat, see below);
* ``dimensions``: recover the room dimensions from a "measured" RIR (simulated at the true dimensions),
  starting from wrong ones, by coarse-to-fine matching of low-passed RIRs.
"""
from __future__ import annotations

import json
import os

import numpy as np

from penumbra.distributed import options
from penumbra.renderer import checks

STUDIES = ("materials", "receiver", "dimensions")
SIGMA_MS = 8.0  # envelope smoothing of the dimension study (wide enough for overlapping reflections)


def add_parser(sub):
    p = sub.add_parser("room-design", help="room acoustics design by gradient descent through image sources "
                       "(materials for reverberation change, receiver placement for centre time, dimensions "
                       "from a measured RIR)")
    p.add_argument("--study", choices=STUDIES + ("all",), default="all")
    p.add_argument("--steps", type=checks.cli_int(lo=1), default=60)
    p.add_argument("--order", type=checks.cli_int(lo=0), default=12)
    p.add_argument("--out", default="out/room-design")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    options.add_arguments(p, "the studies (each study runs as one Ray task)")
    p.set_defaults(func=run)
    return p


def _room(dims=(5.0, 4.0, 3.0), src=(1.2, 1.5, 1.4), rcv=(3.6, 2.7, 1.6), absorption=0.3, fs=16000):
    import penumbra.scenes.room as R
    return R.shoebox(list(dims), list(src), list(rcv), materials=absorption, fs=fs)


def study_materials(args, out):
    import drjit as dr
    import mitsuba as mi

    from penumbra import optim
    import penumbra.scenes.room as R
    from penumbra.integrators.acoustic import default_params, metrics, simulate

    init = np.array([0.30, 0.30, 0.30, 0.30, 0.30, 0.30])
    room = _room(absorption=0.3)
    S = room.wall_areas()
    budget = float(S @ init)
    fs = room.fs
    Sd = mi.Float64(S)

    def t20_of(alpha):
        p = default_params(room)
        p["absorption"] = _repeat7(alpha)
        sig = simulate(room, args.order, params=p).signal
        return metrics.t20(sig, fs, smooth=True, tau=2.0)

    with dr.suspend_grad():
        t0 = float(np.array(t20_of(mi.Float64(init)))[0])

    def objective(v):
        a = v["absorption"]
        t = t20_of(a)
        change = (t - t0) / t0
        penalty = dr.square(dr.sum(Sd * a) / budget - 1.0)
        return -change + 50.0 * penalty

    res = optim.optimize(objective, {"absorption": optim.Variable(mi.Float64(init), optim.Box(0.01, 0.99), lr=0.03)},
                         args.steps, out_dir=out, progress=not args.quiet, description="materials")
    a = np.array(res.values["absorption"])
    with dr.suspend_grad():
        t1 = float(np.array(t20_of(mi.Float64(a)))[0])
    table = R.material_table()["materials"]
    names = [n for n in table if n != "rigid"]
    chosen = {}
    for w, name in enumerate(R.SHOEBOX_WALLS):
        best = min(names, key=lambda n: abs(np.mean(table[n]["absorption"][:6]) - a[w]))
        chosen[name] = best
    mats = {k: R.material(v).absorption.mean() for k, v in chosen.items()}
    with dr.suspend_grad():
        t_mat = float(np.array(t20_of(mi.Float64(np.array([mats[n] for n in R.SHOEBOX_WALLS]))))[0])
    summary = {"T20_initial": t0, "T20_optimized": t1, "relative_change": (t1 - t0) / t0,
               "absorption": dict(zip(R.SHOEBOX_WALLS, a.round(3).tolist())),
               "absorption_area_budget": budget, "absorption_area_final": float(S @ a),
               "nearest_materials": chosen, "T20_with_materials": t_mat}
    print(f"materials: T20 {t0:.3f} s -> {t1:.3f} s ({100 * (t1 - t0) / t0:+.1f} %) at the same absorption area; "
          f"walls {summary['absorption']}; nearest materials {chosen} (T20 {t_mat:.3f} s)")
    return summary


def _repeat7(a):
    import drjit as dr
    import mitsuba as mi
    n = dr.width(a)
    return dr.gather(mi.Float64, a, dr.arange(mi.UInt32, 7 * n) // 7)


# Receiver study: Ts is averaged over a small listening area (a regular tetrahedron of offsets around
# the receiver) and the descent is restarted from a few spread-out positions. Pointwise, Ts(r) is rough
# (arrival-pattern interference gives local slopes of ~100 ms/m, while beyond the critical distance
# (~0.7 m here) the whole room at >= 1.5 m from the source spans only ~26-31 ms), so a single pointwise
# descent stops in the nearest ripple (the gradient itself matches finite differences; see the tests).
AREA = 0.25 * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3.0)
STARTS = np.array([[4.2, 3.3, 2.2], [4.4, 0.7, 1.0], [0.7, 3.4, 2.4], [2.6, 3.4, 0.7]])


def study_receiver(args, out):
    import drjit as dr
    import mitsuba as mi

    from penumbra import optim
    from penumbra.integrators.acoustic import default_params, metrics, simulate

    room = _room(absorption=0.25)
    fs = room.fs
    src = mi.Vector3d(*map(float, room.sources[0]))
    L = room.box

    def ts_of(r):
        p = default_params(room)
        p["receiver"] = r
        sig = simulate(room, args.order, params=p).signal
        return metrics.center_time(sig, fs)

    def area_ts(r):   # mean Ts (ms) over the listening area around r (mi.Vector3d)
        return sum(ts_of(r + mi.Vector3d(*map(float, o))) for o in AREA) * (1e3 / len(AREA))

    lo, hi = np.full(3, 0.55), L - 0.55

    def position(u):  # u in (0, 1)^3 -> point inside the room, the whole area >= 0.3 m from the walls
        return mi.Vector3d(*[float(lo[a]) + float(hi[a] - lo[a]) * dr.gather(mi.Float64, u, mi.UInt32(a))
                             for a in range(3)])

    def objective(v):
        rv = position(v["u"])
        d = dr.norm(rv - src)
        return area_ts(rv) + 10.0 * dr.square(dr.maximum(1.5 - d, 0.0))

    def value(r, fn):
        with dr.suspend_grad():
            return float(np.array(fn(mi.Vector3d(*map(float, r))))[0])

    runs = []
    steps = max(1, args.steps // 3)
    for k, init in enumerate(STARTS):
        u0 = mi.Float64((init - lo) / (hi - lo))
        res = optim.optimize(objective, {"u": optim.Variable(u0, optim.Box(0.0, 1.0), lr=0.05)}, steps,
                             out_dir=os.path.join(out, f"start{k}"), schedule=optim.schedules.cosine(steps, 0.1),
                             progress=not args.quiet, description=f"receiver (start {k})")
        r = lo + (hi - lo) * np.array(res.values["u"])
        runs.append({"initial": init.tolist(), "optimized": r.round(3).tolist(),
                     "area_Ts_initial_ms": value(init, area_ts), "area_Ts_optimized_ms": value(r, area_ts),
                     "Ts_initial_ms": value(init, ts_of) * 1e3, "Ts_optimized_ms": value(r, ts_of) * 1e3,
                     "distance_to_source": float(np.linalg.norm(r - room.sources[0]))})
    best = min(runs, key=lambda x: x["area_Ts_optimized_ms"])
    first = runs[0]
    # reference: the same objective on a 0.5 m grid of admissible positions (how deep is the optimum?)
    axes = [np.arange(lo[a], hi[a] + 1e-9, 0.5) for a in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    grid = grid[np.linalg.norm(grid - room.sources[0], axis=1) >= 1.5]
    grid_ts = np.array([value(g, area_ts) for g in grid])
    summary = {"grid_points": int(len(grid)), "grid_area_Ts_min_ms": float(grid_ts.min()),
               "grid_area_Ts_max_ms": float(grid_ts.max()), "grid_best": grid[np.argmin(grid_ts)].round(3).tolist(),
               "Ts_initial_ms": first["Ts_initial_ms"], "area_Ts_initial_ms": first["area_Ts_initial_ms"],
               "Ts_optimized_ms": best["Ts_optimized_ms"], "area_Ts_optimized_ms": best["area_Ts_optimized_ms"],
               "receiver_initial": first["initial"], "receiver_optimized": best["optimized"],
               "distance_to_source": best["distance_to_source"], "runs": runs}
    print(f"receiver: area-mean Ts {first['area_Ts_initial_ms']:.1f} ms -> {best['area_Ts_optimized_ms']:.1f} ms "
          f"(point Ts {first['Ts_initial_ms']:.1f} -> {best['Ts_optimized_ms']:.1f} ms), receiver "
          f"{first['initial']} -> {best['optimized']} (best of {len(runs)} starts; per start: "
          f"{[round(x['area_Ts_initial_ms'], 1) for x in runs]} -> "
          f"{[round(x['area_Ts_optimized_ms'], 1) for x in runs]} ms); "
          f"a {len(grid)}-point 0.5 m grid spans {grid_ts.min():.1f}-{grid_ts.max():.1f} ms "
          f"(ISO 3382-1 JND of Ts: 10 ms)")
    return summary


def smooth(x, fs, sigma_ms):
    """Gaussian low-pass of a Dr.Jit signal (a symmetric 'same' convolution, hence self-adjoint)."""
    from penumbra.integrators.acoustic.linear_ops import linear_op
    sg = sigma_ms * 1e-3 * fs
    k = np.exp(-0.5 * (np.arange(-int(4 * sg), int(4 * sg) + 1) / sg) ** 2)
    k /= k.sum()
    h = len(k) // 2

    def conv(v):
        return np.convolve(v, k, mode="full")[h:h + len(v)]
    return linear_op(x, conv, conv)


def study_dimensions(args, out):
    """Coarse-to-fine matching of Gaussian-low-passed pressure RIRs (sigma 2, 1, 0.5 ms): the band-limited
    waveform makes the loss smooth in the dimensions over a basin of tens of centimetres (raw waveforms
    and energy envelopes are not: coincident arrivals interfere at the sample scale)."""
    import drjit as dr
    import mitsuba as mi

    from penumbra import optim
    from penumbra.integrators.acoustic import default_params, simulate

    true = np.array([6.0, 4.0, 3.0])
    init = np.array([5.7, 4.25, 2.8])
    room = _room(dims=true, src=(1.2, 1.5, 1.4), rcv=(3.6, 2.7, 1.6))
    fs = room.fs
    N = int(0.05 * fs)
    with dr.suspend_grad():
        measured = simulate(room, args.order, length=N).signal
    lo, hi = np.array([4.0, 3.0, 2.0]), np.array([8.0, 6.0, 4.0])
    u = mi.Float64((init - lo) / (hi - lo))
    history = []
    stages = (2.0, 1.0, 0.5)
    for sigma in stages:
        with dr.suspend_grad():
            target = smooth(measured, fs, sigma)
            norm = float(np.mean(np.array(target) ** 2))

        def objective(v, sigma=sigma, target=target, norm=norm):
            dv = mi.Vector3d(*[float(lo[a]) + float(hi[a] - lo[a]) * dr.gather(mi.Float64, v["u"], mi.UInt32(a))
                               for a in range(3)])
            p = default_params(room)
            p["dims"] = dv
            sig = smooth(simulate(room, args.order, params=p, length=N).signal, fs, sigma)
            return dr.mean(dr.square(sig - target)) / norm

        res = optim.optimize(objective, {"u": optim.Variable(u, optim.Box(0.0, 1.0), lr=0.02)},
                             max(1, args.steps // len(stages)), out_dir=os.path.join(out, f"sigma{sigma}"),
                             progress=not args.quiet, description=f"dimensions (sigma {sigma} ms)")
        u = res.values["u"]
        history += res.history
    d = lo + (hi - lo) * np.array(u)
    optim.plot_loss(history, os.path.join(out, "loss.png"), "dimensions (coarse to fine)")
    summary = {"true": true.tolist(), "initial": init.tolist(), "recovered": d.round(4).tolist(),
               "error_m": np.abs(d - true).round(4).tolist(), "loss_initial": history[0], "loss_final": history[-1]}
    print(f"dimensions: {init.tolist()} -> {d.round(3).tolist()} (true {true.tolist()}), "
          f"error {np.abs(d - true).max():.3f} m")
    return summary


def run_study(task) -> dict:
    """Run one study, ``task = (name, args, out)``, write its ``summary.json`` and return the summary
    (a Ray task with ``--workers``, a plain call otherwise)."""
    name, args, out = task
    fn = {"materials": study_materials, "receiver": study_receiver, "dimensions": study_dimensions}[name]
    os.makedirs(out, exist_ok=True)
    summary = fn(args, out)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def run(args):
    workers = options.requested(args)
    studies = STUDIES if args.study == "all" else (args.study,)
    tasks = [(s, args, os.path.join(args.out, s)) for s in studies]
    if workers:
        from penumbra.distributed import run_batch
        batch = run_batch(run_study, tasks, workers=workers, address=args.ray_address, progress=not args.quiet,
                          description="room-design studies")
        batch.raise_errors()
        summaries = batch.results
    else:
        summaries = [run_study(t) for t in tasks]
    report = dict(zip(studies, summaries))
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(report, f, indent=1)
    return 0
