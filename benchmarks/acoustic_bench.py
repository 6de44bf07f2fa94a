"""Room acoustics benchmark: Penumbra's image sources vs pyroomacoustics, measured in the same run.

    .venv/bin/python benchmarks/acoustic_bench.py [--quick] [--repeats 5] [--rooms-only]

Prints Markdown tables: RIR time (shoebox orders 2/5/10/20/40 at 16 kHz, flat and octave-band materials;
L-shaped polyhedral room at orders 6/8/10), full-gradient time (reverse mode w.r.t. every parameter)
against the forward time and against the cost of central finite differences (2 forwards per scalar
parameter), rooms as meshes (a non-prism polyhedron through the complete image tree, a box mesh, the
ray-traced tail, batch RIRs; pyroomacoustics' general polyhedral room built from the same walls), and peak
memory (peak resident set size growth of a fresh process). RIR times are medians
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


def sloped_l_room(sources=(L_SRC,), receivers=(L_RCV,), materials=0.2):
    """The L-shaped room with the ceiling of one arm raised to 3.5 m at its far end (10 planar walls, not
    a prism): the general image tree's benchmark room (tests/acoustic/test_image_tree.py)."""
    import penumbra.scenes.room as R
    room = R.extruded_room(L_CORNERS, 3.0, L_SRC, L_RCV, materials=materials)
    V = room.vertices.copy()
    V[(V[:, 2] > 1) & (V[:, 0] > 4), 2] = 3.5
    return R.load_room((V, room.faces), source=np.asarray(sources), receiver=np.asarray(receivers),
                       materials=materials)


def wall_loops(room):
    """Each wall of a Penumbra room as one polygon (its boundary loop, collinear corners dropped), in the
    winding of the room's faces (the orientation pyroomacoustics expects for its polyhedral rooms)."""
    loops = []
    for w in range(room.n_walls):
        F = room.faces[room.face_wall == w]
        edges = {(int(u), int(v)) for a, b, c in F for u, v in ((a, b), (b, c), (c, a))}
        nxt = {u: v for u, v in edges if (v, u) not in edges}
        start = next(iter(nxt))
        loop, cur = [start], nxt[start]
        while cur != start:
            loop.append(cur)
            cur = nxt[cur]
        if len(loop) != len(nxt):
            raise ValueError(f"wall {room.wall_names[w]} has a hole: no single polygon for pyroomacoustics")
        P = room.vertices[loop]
        keep = [i for i in range(len(P))
                if np.linalg.norm(np.cross(P[i] - P[i - 1], P[(i + 1) % len(P)] - P[i])) > 1e-9]
        loops.append(P[keep])
    return loops


def pra_polyhedral(room, order, absorption=0.2, scattering=0.0, rays=None):
    """pyroomacoustics' general polyhedral room with the walls of ``room`` (all its sources and receivers);
    ``rays``: its hybrid ray tracer with that many rays (receiver radius 0.5 m, 4 ms bins)."""
    import pyroomacoustics as pra
    walls = [pra.wall_factory(P.T, [absorption], [scattering]) for P in wall_loops(room)]
    r = pra.Room(walls, fs=16000, max_order=order, ray_tracing=rays is not None)
    if rays is not None:
        r.set_ray_tracing(n_rays=rays, receiver_radius=0.5, hist_bin_size=0.004)
    for s in room.sources:
        r.add_source(s)
    r.add_microphone_array(np.asarray(room.receivers).T)
    return r


def pra_first_rirs(room, order, repeats):
    """:func:`timed` of pyroomacoustics' ``compute_rir`` on ``repeats`` fresh rooms (each call runs its
    image-source search, as a first call does; the rooms are built before the clock starts), and one of
    those rooms."""
    rooms = [pra_polyhedral(room, order) for _ in range(repeats)]
    fresh = iter(rooms)
    return timed(lambda: next(fresh).compute_rir(), repeats), rooms[0]


def pra_distinct(r):
    """Distinct visible image positions of source 0 at microphone 0 (pyroomacoustics lists some twice)."""
    r.image_source_model()
    vis = np.asarray(r.visibility[0][0]).astype(bool)
    return len(np.unique(np.round(r.sources[0].images[:, vis].T, 3), axis=0))


def timed(fn, repeats=1):
    """(median wall time, median CPU time of the process) of ``repeats`` calls (after the caller's
    warm-up). CPU time counts every thread (Dr.Jit's pool included) and is less disturbed than wall time
    by other jobs on a shared machine."""
    import drjit as dr
    ts, cs = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        dr.sync_thread()
        ts.append(time.perf_counter() - t0)
        cs.append(time.process_time() - c0)
    return statistics.median(ts), statistics.median(cs)


def ms(t):
    """'wall / CPU ms' of a :func:`timed` result."""
    return f"{t[0] * 1e3:.0f} / {t[1] * 1e3:.0f} ms"


def ratio(a, b):
    """Speed-up of ``b`` over ``a`` (:func:`timed` results), wall / CPU."""
    return f"{a[0] / b[0]:.1f}x / {a[1] / b[1]:.1f}x"


def rooms_from_files_section(quick):
    """Tables for the general polyhedral search, box meshes, the ray-traced tail and batch RIRs."""
    import penumbra.scenes.room as R
    from penumbra.integrators.acoustic import image_tree, rir, rirs, simulate

    def ours_cold_tree(room, order, **kw):
        def fn():
            image_tree.clear_tree_cache()      # each call builds its image tree (no reuse between calls)
            return rir(room, order, "pyroomacoustics", **kw)
        return fn

    print("\n## Polyhedral room that is not a prism (sloped-ceiling L-room, 10 walls): complete image tree\n")
    print("Penumbra warm: kernels compiled, the image tree rebuilt in every call. Both libraries: medians of 11 "
          "calls at orders <= 6, 5 at order 8, one at order 10 (pyroomacoustics on fresh rooms, so that each "
          "call searches its image sources). Paths: ours / pyroomacoustics distinct (it counts some "
          "edge-grazing images twice, hence the larger L2 difference at high order).\n")
    print("Times: wall / CPU (process time, all threads); speed-up: wall / CPU.\n")
    print("| order | paths | pyroomacoustics | Penumbra (cold) | Penumbra (warm) | speed-up | rel. L2 diff |")
    print("|---|---|---|---|---|---|---|")
    room = sloped_l_room()
    for order in ((4, 6, 8) if quick else (4, 6, 8, 10)):
        repeats = 11 if order <= 6 else 5 if order <= 8 else 1   # medians where a call takes < 2 s
        t_pra, r = pra_first_rirs(room, order, repeats)
        ref = r.rir[0][0]
        fn = ours_cold_tree(room, order)
        t_cold = timed(fn)
        t_ours = timed(fn, repeats)
        h = fn()
        n = min(len(h), len(ref))
        err = np.linalg.norm(h[:n] - ref[:n]) / np.linalg.norm(ref)
        paths = simulate(room, order, "pyroomacoustics").n_paths
        print(f"| {order} | {paths} / {pra_distinct(pra_polyhedral(room, order))} | {ms(t_pra)} | "
              f"{t_cold[0] * 1e3:.0f} ms | {ms(t_ours)} | {ratio(t_pra, t_ours)} | {err:.1e} |", flush=True)

    print("\n## A box given as a mesh (shoebox lattice found from the mesh) vs pyroomacoustics' ShoeBox\n")
    print("Wall: medians of alternating runs, speed-up the median of per-pair ratios; CPU: medians of 11 "
          "runs each.\n")
    print("| order | pyroomacoustics ShoeBox (wall / CPU) | Penumbra, box mesh (warm, wall / CPU) | speed-up "
          "(wall / CPU) | rel. L2 diff |")
    print("|---|---|---|---|---|")
    box = R.shoebox(DIMS, SRC, RCV, materials=0.3)
    mesh = R.load_room((box.vertices, box.faces), source=SRC, receiver=RCV, materials=0.3)
    for order in (10, 20):
        fn = (lambda o=order: rir(mesh, o, "pyroomacoustics"))
        fn()
        t_pra, t_ours, _, wall_ratio = paired(lambda o=order: pra_shoebox(o, False), fn, 11, 2)
        c_pra, c_ours = timed(lambda o=order: pra_shoebox(o, False), 11)[1], timed(fn, 11)[1]
        ref, h = pra_shoebox(order, False), fn()
        print(f"| {order} | {t_pra * 1e3:.1f} / {c_pra * 1e3:.1f} ms | {t_ours * 1e3:.1f} / {c_ours * 1e3:.1f} ms | "
              f"{wall_ratio:.1f}x / {c_pra / c_ours:.1f}x | {np.linalg.norm(h - ref) / np.linalg.norm(ref):.1e} |",
              flush=True)

    n_rays = 20000
    print(f"\n## Hybrid RIR: image sources to order 3 + ray-traced tail ({n_rays} rays, absorption 0.2, "
          "scattering 0.1)\n")
    print("Tail = hybrid - image sources only, each library's own. Penumbra warm (kernels compiled). "
          "Times: wall / CPU.\n")
    print("| room | pyroomacoustics ISM | pyroomacoustics hybrid | Penumbra ISM | Penumbra hybrid | tail speed-up |")
    print("|---|---|---|---|---|---|")
    mat = R.material({"absorption": 0.2, "scattering": 0.1})
    for name, ours_room in (("shoebox 6 x 4 x 3 m", R.load_room((box.vertices, box.faces), source=SRC,
                                                                  receiver=RCV, materials=mat)),
                            ("sloped L-room", sloped_l_room(materials=mat))):
        def pra_run(rays):
            r = pra_polyhedral(ours_room, 3, 0.2, 0.1, rays)
            r.compute_rir()
        t_pi, t_ph = timed(lambda: pra_run(None), 3), timed(lambda: pra_run(n_rays), 3)
        ism = ours_cold_tree(ours_room, 3)
        hyb = ours_cold_tree(ours_room, 3, tail={"n_rays": n_rays})
        ism(), hyb()
        t_oi, t_oh = timed(ism, 3), timed(hyb, 3)
        tail_ratio = " / ".join(f"{(t_ph[k] - t_pi[k]) / max(t_oh[k] - t_oi[k], 1e-9):.1f}x" for k in (0, 1))
        print(f"| {name} | {ms(t_pi)} | {ms(t_ph)} | {ms(t_oi)} | {ms(t_oh)} | {tail_ratio} |", flush=True)

    print("\n## Batch RIRs: 4 sources x 8 receivers (32 pairs), sloped L-room\n")
    print("pyroomacoustics: one room with 4 sources and an 8-microphone array (its image sources are computed "
          "once per source). Penumbra: `rirs(room, order)` (one image tree per source, its paths ray-traced per "
          "pair in compiled code, synthesis per pair).\n")
    print("Times: wall / CPU; RIRs/s from the wall time; speed-up: wall / CPU.\n")
    print("| order | pyroomacoustics | RIRs/s | Penumbra batch (warm) | RIRs/s | speed-up |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(1)
    srcs = np.c_[rng.uniform(0.5, 2.5, (4, 2)), rng.uniform(0.5, 2.5, 4)]
    rcvs = np.c_[rng.uniform(0.5, 2.5, (8, 2)), rng.uniform(0.5, 2.5, 8)]
    room = sloped_l_room(srcs, rcvs)
    for order in (3, 6):
        t_pra = timed(lambda o=order: pra_polyhedral(room, o).compute_rir())

        def batch(o=order):
            image_tree.clear_tree_cache()
            return rirs(room, o, "pyroomacoustics")
        batch()
        t_ours = timed(batch, 3)
        print(f"| {order} | {ms(t_pra)} | {32 / t_pra[0]:.0f} | {ms(t_ours)} | {32 / t_ours[0]:.0f} | "
              f"{ratio(t_pra, t_ours)} |", flush=True)


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
    ap.add_argument("--rooms-only", action="store_true",
                    help="only the tables of rooms from files: non-prism polyhedra, box meshes, tail, batch")
    args = ap.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child[0], int(args.memory_child[1]))
    from penumbra import renderer
    renderer.ensure_variant()
    import drjit as dr
    import penumbra.scenes.room as R

    print(f"# Penumbra acoustics benchmark ({os.cpu_count()} CPU cores, Dr.Jit {dr.__version__}, "
          f"variant {renderer.variant()})\n")
    print(f"Load average at start: {os.getloadavg()[0]:.1f}\n")
    if args.rooms_only:
        return rooms_from_files_section(args.quick)
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

    rooms_from_files_section(args.quick)

    print("\n## Peak memory (RSS growth of a fresh process), shoebox 7-band\n")
    print("| order | pyroomacoustics | Penumbra forward | Penumbra forward + gradient |")
    print("|---|---|---|---|")
    for order in (20,) if args.quick else (20, 40):
        print(f"| {order} | {memory('pra', order):.0f} MiB | {memory('ours_fwd', order):.0f} MiB | "
              f"{memory('ours_grad', order):.0f} MiB |", flush=True)


if __name__ == "__main__":
    main()
