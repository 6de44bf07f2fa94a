"""Benchmark: forward and backward time and peak memory of the vector rasterizer on random stroked
cubic paths, against resvg (measured in the same run) and diffvg (published figures).

Scenes: ``n`` random cubic paths (3 segments each, a diffvg-style random walk), stroked, at
``size^2`` pixels, 2x2 spp, box filter; gradients with respect to all points, stroke widths and
stroke colours. Each configuration runs in its own subprocess, so that its peak RSS is its own.
In it: one untimed warm-up call (tracing, kernel compilation or kernel-cache loading: reported as
``first_s`` with the Dr.Jit code generation + LLVM compile time ``jit_compile_s``), then ``--reps``
timed repetitions of

* ``fwd``: ``rasterize`` with gradients enabled (compile, tessellate, bin, sample, composite and the
  boundary-term evaluation), up to an evaluated image;
* ``bwd``: ``dr.backward`` of a weighted image sum, up to evaluated parameter gradients;
* ``primal``: ``rasterize`` without gradients (no boundary term): the job resvg does;
* ``resvg``: ``resvg_py.svg_to_bytes`` of the same scene (parse, render, PNG encode; one thread,
  no system fonts loaded), interleaved with ours so that both see the same machine load.

``dr.sync_thread()`` precedes every clock read. Reported: median and min-max of each, the 1-minute
load average before and after the configuration, and the process's peak RSS after our runs
(before resvg). diffvg is not installable here: its figures are the ones quoted in issue 23 for a
2-core machine (512 paths at 256^2: 0.6 s forward + 3.0 s backward; 2048 at 512^2: 5.3 + 25.6 s).

    .venv/bin/python benchmarks/vector_bench.py [--quick] [--reps 7] [--features off clip+mask markers+pattern]
        [--json benchmarks/results/vector_bench.json]

``--json`` writes every figure with the commit, machine, date and load; ``tests/test_docs.py``
checks that the table in ``docs/results.md`` matches the recorded file.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DIFFVG = {(512, 256): (0.6, 3.0), (2048, 512): (5.3, 25.6)}   # forward, backward seconds (quoted)
CONFIGS = [(128, 256), (512, 256), (2048, 256), (128, 512), (512, 512), (2048, 512)]
QUICK = [(128, 256), (512, 256)]
RECORD = os.path.join(HERE, "results", "vector_bench.json")
SPP = 4


FEATURES = ("off", "clip+mask", "markers+pattern")
FEATURES_DEFS = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="3" markerHeight="3" '
                 'orient="auto"><path d="M0 0 L10 5 L0 10 z" fill="#802020"/></marker>'
                 '<pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(30)">'
                 '<rect width="3" height="8" fill="#d0d8f0"/><circle cx="6" cy="4" r="1.2" fill="#f0d0d0"/>'
                 '</pattern></defs>')


def random_scene(n, size, seed=0, features="off"):
    """``n`` random stroked cubic paths (3 segments each) on a ``size x size`` canvas. With
    ``features="clip+mask"`` they are drawn in one group clipped by a 32-gon (radius 0.45 size, its
    points parameters) and masked by a rectangle with a white-to-grey linear gradient; with
    ``"markers+pattern"`` every path has an arrow-head marker and a pattern fills the background."""
    from penumbra.scenes.vector import VectorScene, path
    from penumbra.scenes.vector.model import Gradient, Group, polygon, rect
    rng = np.random.default_rng(seed)
    sc = VectorScene(size, size)
    for i in range(n):
        c = rng.uniform(0, size, 2)
        pts = [c]
        for _ in range(3):  # 3 cubic segments, diffvg-style small random walk (radius ~ 0.05 canvas)
            pts += [pts[-1] + rng.normal(0, 0.05 * size, 2) for _ in range(3)]
        sc.add(path(f"p{i}", np.array(pts), "CCC", stroke=np.append(rng.random(3), rng.uniform(0.5, 1)),
                    stroke_width=rng.uniform(1, 3), fill=None))
    if features == "clip+mask":
        a = np.linspace(0, 2 * np.pi, 33)
        ring = size * (0.5 + 0.45 * np.stack([np.cos(a), np.sin(a)], 1))
        fade = Gradient("linear", [0, 1], [[1, 1, 1, 1], [0.3, 0.3, 0.3, 1]], start=[0, 0], end=[size, 0])
        sc.root.children = [Group("content", sc.root.children, clip=Group("clip", [polygon("clip_ring", ring)]),
                                  mask=Group("mask", [rect("mask_rect", (0, 0), (size, size), fill=fade)]))]
    elif features == "markers+pattern":
        # every path gets an arrow head (marker-end, placed from its points) and a hatched pattern
        # fills the canvas below the paths (one pattern layer); loaded through load_svg
        from penumbra.scenes.vector import load_svg, to_svg_string
        head, body = to_svg_string(sc).split(">", 1)
        body = body.replace("<path ", '<path marker-end="url(#arrow)" ')
        background = f'<rect width="{size}" height="{size}" fill="url(#hatch)"/>'
        sc = load_svg(head + ">" + FEATURES_DEFS + background + body)
    elif features != "off":
        raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
    return sc


def _stats(v):
    v = np.asarray(v, float)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()), "runs": [float(x) for x in v]}


def measure_row(n, size, reps, threads, features="off"):
    """One configuration, in this process: the figures of the module docstring (a dict)."""
    from penumbra import renderer
    from penumbra.renderer import memory
    renderer.ensure_variant()
    import drjit as dr
    import mitsuba as mi

    from penumbra.integrators.vector import rasterize
    from penumbra.scenes.vector import to_svg_string
    dr.set_thread_count(threads)
    sc = random_scene(n, size, features=features)
    names = ["*.points", "*.stroke_width", "*.stroke.color"]
    vals = {k: sc.params.pack(k) for k in names}
    w = mi.Float(np.random.default_rng(1).random(size * size * 4).astype(np.float32))
    text = to_svg_string(sc)
    try:
        import resvg_py
    except ImportError:
        resvg_py = None

    def clock():
        dr.sync_thread()
        return time.perf_counter()

    def fwd_bwd():
        xs = {k: mi.Float(v) for k, v in vals.items()}
        for x in xs.values():
            dr.enable_grad(x)
        t0 = clock()
        img = rasterize(sc, size, size, spp=SPP, params=xs)
        dr.eval(img)
        t1 = clock()
        dr.backward(dr.sum(img.array * w))
        dr.eval([dr.grad(x) for x in xs.values()])
        t2 = clock()
        return t1 - t0, t2 - t1

    def primal():
        t0 = clock()
        dr.eval(rasterize(sc, size, size, spp=SPP))
        return clock() - t0

    def resvg():
        t0 = time.perf_counter()
        resvg_py.svg_to_bytes(svg_string=text, skip_system_fonts=True)
        return time.perf_counter() - t0

    load0 = os.getloadavg()[0]
    dr.set_flag(dr.JitFlag.KernelHistory, True)
    dr.kernel_history()
    t0 = time.perf_counter()
    fwd_bwd()
    primal()
    first = time.perf_counter() - t0

    def compile_time():
        return sum(k.get("codegen_time", 0.0) + k.get("backend_time", 0.0) for k in dr.kernel_history()
                   if k.get("type") == dr.KernelType.JIT) / 1000.0

    jit_first = compile_time()
    if resvg_py is not None:
        resvg()
    F, B, P, R = [], [], [], []
    cpu0 = time.process_time()
    for _ in range(reps):
        f, b = fwd_bwd()
        F.append(f)
        B.append(b)
        P.append(primal())
    cpu = (time.process_time() - cpu0) / reps
    jit_timed = compile_time()
    rss = memory.peak_resident_bytes() / 2**20
    for _ in range(reps if resvg_py is not None else 0):
        R.append(resvg())
    FB = [f + b for f, b in zip(F, B)]
    return {"paths": n, "size": size, "features": features, "threads": threads, "spp": SPP, "reps": reps,
            "load_before": load0, "load_after": os.getloadavg()[0],
            "first_s": first, "jit_compile_s": jit_first, "jit_compile_timed_s": jit_timed,
            "fwd_s": _stats(F), "bwd_s": _stats(B), "fwd_bwd_s": _stats(FB), "primal_s": _stats(P),
            "cpu_s_per_rep": cpu, "resvg_s": _stats(R) if R else None, "peak_rss_mb": rss}


def machine():
    """CPU model, core count and OS of this machine."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()}-core {model}, {platform.system()} {platform.release()}"


def commit():
    """Short commit of the working tree (``+dirty`` with uncommitted changes to tracked files)."""
    try:
        c = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                           check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return c + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def speedup(row):
    """fwd+bwd speed-up over diffvg's quoted figures (median), or ``None`` without a figure."""
    d = DIFFVG.get((row["paths"], row["size"]))
    return sum(d) / row["fwd_bwd_s"]["median"] if d else None


def _ms(s):
    return f"{s['median'] * 1e3:.0f} ({s['min'] * 1e3:.0f}-{s['max'] * 1e3:.0f})"


def table(rows):
    """The Markdown table of ``rows`` (the one in docs/results.md): times in ms, median (min-max)."""
    feat = any(r.get("features", "off") != "off" for r in rows)   # the column only when some row has them on
    out = ["| paths | size |" + (" features |" if feat else "") + " load | forward ms | backward ms | fwd+bwd ms "
           "| vs diffvg | primal ms | resvg ms | primal / resvg | first call s (JIT compile s) | peak RSS MB |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if feat else "")]
    for r in rows:
        sp = speedup(r) if r.get("features", "off") == "off" else None
        rv = r["resvg_s"]
        ratio = f"{r['primal_s']['median'] / rv['median']:.2f}" if rv else "-"
        fc = f" {r.get('features', 'off')} |" if feat else ""
        load = f"{r['load_before']:.1f}-{r['load_after']:.1f}"
        out.append(f"| {r['paths']} | {r['size']}^2 |{fc} {load} | {_ms(r['fwd_s'])} "
                   f"| {_ms(r['bwd_s'])} | {_ms(r['fwd_bwd_s'])} | {f'{sp:.1f}x' if sp else '-'} "
                   f"| {_ms(r['primal_s'])} | {_ms(rv) if rv else '-'} | {ratio} "
                   f"| {r['first_s']:.2f} ({r['jit_compile_s']:.2f}) | {r['peak_rss_mb']:.0f} |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only 128 and 512 paths at 256^2")
    ap.add_argument("--config", nargs=2, type=int, action="append", metavar=("PATHS", "SIZE"),
                    help="run this configuration (repeatable) instead of the default six")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7, help="timed repetitions per configuration (>= 5 for the docs)")
    ap.add_argument("--json", metavar="PATH", help=f"write all figures there (the docs' record: {RECORD})")
    ap.add_argument("--features", nargs="+", choices=FEATURES, default=["off"],
                    help="each configuration without (off) and/or with a clip path and a mask on all paths "
                         "(clip+mask), or an arrow-head marker on every path over a pattern background "
                         "(markers+pattern)")
    ap.add_argument("--row", nargs=2, type=int, help=argparse.SUPPRESS)   # child process: one configuration
    args = ap.parse_args(argv)
    if args.row:
        print(json.dumps(measure_row(*args.row, args.reps, args.threads, args.features[0])))
        return
    configs = [tuple(c) for c in args.config] if args.config else QUICK if args.quick else CONFIGS
    rows = []
    for (n, size), features in ((c, f) for c in configs for f in args.features):
        res = subprocess.run([sys.executable, os.path.abspath(__file__), "--row", str(n), str(size), "--reps",
                              str(args.reps), "--threads", str(args.threads), "--features", features],
                             capture_output=True, text=True)
        if res.returncode:
            sys.exit(f"configuration {n} paths / {size}^2 ({features}) failed:\n{res.stderr}")
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(f"{n} paths {size}^2 {features}: fwd+bwd {_ms(rows[-1]['fwd_bwd_s'])} ms", file=sys.stderr, flush=True)
    record = {"commit": commit(), "machine": machine(), "date": datetime.date.today().isoformat(),
              "threads": args.threads, "reps": args.reps, "rows": rows}
    print(f"commit {record['commit']}, {record['machine']}, {record['date']}, {args.threads} threads, "
          f"{args.reps} timed runs per row")
    print(table(rows))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
