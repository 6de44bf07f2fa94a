"""Room acoustics benchmark: Penumbra's image sources vs pyroomacoustics, measured in the same run.

    .venv/bin/python benchmarks/acoustic_bench.py [--quick] [--repeats 5]

Prints Markdown tables: RIR time (shoebox orders 2/5/10/20/40 at 16 kHz, flat and octave-band materials;
L-shaped polyhedral room at orders 6/8/10), full-gradient time (reverse mode w.r.t. every parameter)
against the forward time and against the cost of central finite differences (2 forwards per scalar
parameter), and peak memory (peak resident set size growth of a fresh process). RIR times are medians
of alternating warm runs of both libraries (the machine may be shared); Dr.Jit compiles each kernel once
per process, and the first (cold) call is reported separately.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DIMS, SRC, RCV = [6.0, 4.0, 3.0], [1.1, 1.3, 1.2], [4.3, 2.9, 1.7]
BANDED = [0.08, 0.15, 0.3, 0.45, 0.55, 0.6, 0.65]
L_CORNERS = [[0, 0], [6, 0], [6, 3], [3, 3], [3, 6], [0, 6]]
L_SRC, L_RCV = [1.0, 1.0, 1.2], [1.5, 5.0, 1.5]


def paired(fn_a, fn_b, repeats, warmup=5):
    """Alternating runs of two functions (load changes on a shared machine hit both alike): medians of
    the times of each, the median of the per-pair ratios t_a / t_b, and the first (cold) time of fn_b."""
    import drjit as dr
    fn_a()
    t0 = time.perf_counter()
    fn_b()
    dr.sync_thread()
    cold = time.perf_counter() - t0
    for _ in range(warmup):   # allocator caches, page faults: the first few warm calls run slower
        fn_a()
        fn_b()
    dr.sync_thread()
    ta, tb = [], []
    for i in range(repeats):
        for first in ((fn_a, ta), (fn_b, tb)) if i % 2 == 0 else ((fn_b, tb), (fn_a, ta)):
            t0 = time.perf_counter()
            first[0]()
            dr.sync_thread()
            first[1].append(time.perf_counter() - t0)
    ratio = statistics.median(a / b for a, b in zip(ta, tb))
    return statistics.median(ta), statistics.median(tb), cold, ratio


def pra_shoebox(order, banded):
    import pyroomacoustics as pra
    m = pra.Material({"coeffs": BANDED, "center_freqs": [125, 250, 500, 1000, 2000, 4000, 8000]}) if banded \
        else pra.Material(0.3)
    room = pra.ShoeBox(DIMS, fs=16000, materials=m, max_order=order)
    room.add_source(SRC)
    room.add_microphone(RCV)
    room.compute_rir()
    return room.rir[0][0]


def pra_l_room(order):
    import pyroomacoustics as pra
    room = pra.Room.from_corners(np.array(L_CORNERS, float).T, fs=16000, max_order=order, materials=pra.Material(0.2))
    room.extrude(3.0, materials=pra.Material(0.2))
    room.add_source(L_SRC)
    room.add_microphone(L_RCV)
    room.compute_rir()
    return room.rir[0][0]


def pra_l_room_distinct(order):
    """Number of distinct visible image positions of pyroomacoustics' L-room (it lists some twice)."""
    import pyroomacoustics as pra
    room = pra.Room.from_corners(np.array(L_CORNERS, float).T, fs=16000, max_order=order, materials=pra.Material(0.2))
    room.extrude(3.0, materials=pra.Material(0.2))
    room.add_source(L_SRC)
    room.add_microphone(L_RCV)
    room.image_source_model()
    vis = np.asarray(room.visibility[0][0]).astype(bool)
    return len(np.unique(np.round(room.sources[0].images[:, vis].T, 3), axis=0))


def ours_shoebox(order, banded):
    import penumbra.scenes.room as R
    from penumbra.integrators.acoustic import rir
    room = R.shoebox(DIMS, SRC, RCV, materials=BANDED if banded else 0.3)
    return lambda: rir(room, order, "pyroomacoustics")


def ours_l_room(order):
    import penumbra.scenes.room as R
    from penumbra.integrators.acoustic import rir
    room = R.extruded_room(L_CORNERS, 3.0, L_SRC, L_RCV, materials=0.2)
    return lambda: rir(room, order, "pyroomacoustics")


def gradient_case(room, order, conv="pyroomacoustics"):
    """(forward fn, forward+reverse fn, number of scalar parameters)."""
    import drjit as dr
    from penumbra.integrators.acoustic import default_params, simulate

    def forward():
        with dr.suspend_grad():
            s = simulate(room, order, conv).signal
            dr.eval(s)
            return np.array(s)

    def gradient():
        p = default_params(room)
        for v in p.values():
            dr.enable_grad(v)
        s = simulate(room, order, conv, params=p).signal
        loss = dr.sum(s * s)
        dr.backward(loss)
        return [np.array(dr.grad(v)) for v in p.values()]

    p = default_params(room)
    n = sum(dr.width(v) * (3 if type(v).__name__.startswith("Vector") else 1) for v in p.values())
    return forward, gradient, n


def memory_child(kind, order):
    """Runs in a fresh process: RSS growth (MiB) of one computation."""
    from penumbra import renderer
    renderer.ensure_variant()
    import penumbra.scenes.room as R
    import drjit as dr
    if kind == "pra":
        import pyroomacoustics  # noqa: F401
    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])  # kB
        return 0

    try:  # reset the peak-RSS watermark (Linux >= 4.0) so that imports do not count
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    base = status("VmRSS:")
    if kind == "pra":
        pra_shoebox(order, True)
    else:
        room = R.shoebox(DIMS, SRC, RCV, materials=BANDED)
        fwd, grad, _ = gradient_case(room, order)
        (grad if kind == "ours_grad" else fwd)()
        dr.sync_thread()
    peak = status("VmHWM:") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"mib": (peak - base) / 1024.0}))


def memory(kind, order):
    out = subprocess.run([sys.executable, __file__, "--memory-child", kind, str(order)], capture_output=True,
                         text=True, cwd=ROOT)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])["mib"]
    except Exception:
        return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=21, help="paired runs per shoebox row (L-room: a third)")
    ap.add_argument("--quick", action="store_true", help="orders 10/20 and 6/8 only")
    ap.add_argument("--memory-child", nargs=2)
    args = ap.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child[0], int(args.memory_child[1]))
    from penumbra import renderer
    renderer.ensure_variant()
    import drjit as dr
    import penumbra.scenes.room as R

    print(f"# Penumbra acoustics benchmark ({os.cpu_count()} CPU cores, Dr.Jit {dr.__version__}, "
          f"variant {renderer.variant()})\n")
    print("## RIR forward time, 16 kHz (pyroomacoustics preset; median of warm runs)\n")
    print("Speed-up: median of per-pair ratios of alternating runs. Last columns: the same pairing with Dr.Jit "
          "limited to one thread (pyroomacoustics is single-threaded; on a loaded machine the 2-block kernel "
          "split waits on descheduled workers).\n")
    print("| room | order | paths (L-room: ours / pyroomacoustics distinct) | pyroomacoustics | Penumbra (cold) | "
          "Penumbra (warm) | speed-up | rel. L2 diff | Penumbra, 1 thread | speed-up, 1 thread |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    n_threads = dr.thread_count()

    def single_thread(fn_a, fn_b, repeats, warmup=5):
        dr.set_thread_count(1)
        try:
            return paired(fn_a, fn_b, repeats, warmup)
        finally:
            dr.set_thread_count(n_threads)
    shoebox_orders = (2, 10, 20) if args.quick else (2, 5, 10, 20, 40)
    for banded in (False, True):
        for order in shoebox_orders:
            ref = pra_shoebox(order, banded)
            fn = ours_shoebox(order, banded)
            t_pra, t_ours, cold, ratio = paired(lambda: pra_shoebox(order, banded), fn, args.repeats)
            _, t_one, _, ratio_one = single_thread(lambda: pra_shoebox(order, banded), fn, args.repeats)
            h = fn()
            err = np.linalg.norm(h - ref) / np.linalg.norm(ref)
            M = (2 * order + 1) * (2 * order ** 2 + 2 * order + 3) // 3
            name = "shoebox, 7-band materials" if banded else "shoebox, flat"
            print(f"| {name} | {order} | {M} | {t_pra * 1e3:.1f} ms | {cold * 1e3:.0f} ms | {t_ours * 1e3:.1f} ms | "
                  f"{ratio:.2f}x | {err:.1e} | {t_one * 1e3:.1f} ms | {ratio_one:.2f}x |", flush=True)
    for order in ((6, 8) if args.quick else (6, 8, 10)):
        ref = pra_l_room(order)
        fn = ours_l_room(order)
        w = 2 if order < 10 else 0       # pyroomacoustics needs seconds at order 10
        t_pra, t_ours, cold, ratio = paired(lambda: pra_l_room(order), fn, max(3, args.repeats // 3), w)
        _, t_one, _, ratio_one = single_thread(lambda: pra_l_room(order), fn, 3 if order < 10 else 1, w)
        h = fn()
        from penumbra.integrators.acoustic import simulate
        n = simulate(R.extruded_room(L_CORNERS, 3.0, L_SRC, L_RCV, materials=0.2), order, "pyroomacoustics").n_paths
        err = np.linalg.norm(h - ref) / np.linalg.norm(ref)
        print(f"| L-shaped (8 walls, non-convex) | {order} | {n} / {pra_l_room_distinct(order)} | "
              f"{t_pra * 1e3:.0f} ms | {cold * 1e3:.0f} ms | {t_ours * 1e3:.1f} ms | {ratio:.1f}x | {err:.1e} | "
              f"{t_one * 1e3:.1f} ms | "
              f"{ratio_one:.1f}x |", flush=True)

    print("\n## Full gradient (reverse mode, every parameter) vs forward and vs finite differences\n")
    print("| case | scalar parameters | forward | forward + gradient | ratio | central FD (2 x params forwards) "
          "| FD / gradient |")
    print("|---|---|---|---|---|---|---|")
    cases = [("shoebox 7-band, order 20 (source, receiver, dims, 6x7 absorption)",
              R.shoebox(DIMS, SRC, RCV, materials=BANDED), 20),
             ("shoebox flat, order 20", R.shoebox(DIMS, SRC, RCV, materials=0.3), 20),
             ("L-shaped, order 10 (source, receiver, 16 vertices x 3, 8x7 absorption)",
              R.extruded_room(L_CORNERS, 3.0, L_SRC, L_RCV, materials=0.2), 10)]
    for name, room, order in cases:
        fwd, grad, n = gradient_case(room, order)
        t_g, t_f, _, ratio = paired(grad, fwd, args.repeats)     # alternating; ratio = median t_g / t_f
        print(f"| {name} | {n} | {t_f * 1e3:.1f} ms | {t_g * 1e3:.1f} ms | {ratio:.2f}x | "
              f"{2 * n * t_f * 1e3:.0f} ms | {2 * n * t_f / t_g:.0f}x |", flush=True)

    print("\n## Peak memory (RSS growth of a fresh process), shoebox 7-band\n")
    print("| order | pyroomacoustics | Penumbra forward | Penumbra forward + gradient |")
    print("|---|---|---|---|")
    for order in (20,) if args.quick else (20, 40):
        print(f"| {order} | {memory('pra', order):.0f} MiB | {memory('ours_fwd', order):.0f} MiB | "
              f"{memory('ours_grad', order):.0f} MiB |", flush=True)


if __name__ == "__main__":
    main()
