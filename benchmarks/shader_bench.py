"""Benchmark: fitting a procedural shader with boundary-aware gradients vs plain AD vs finite
differences (the metrics of Yang et al. 2022, "Aδ", Sec. 7: time to reach a loss threshold, and
gradient error at equal time).

Problem: the bundled ``logo`` (:mod:`penumbra.shaders.problems`: a disc of stripes over a checker on
the 2D canvas, 8 scalar parameters, 5 of which only move edges), 64x64, 4 samples per pixel.

1. *Time to threshold.* The same Adam loop (:func:`penumbra.optim.optimize`, cosine schedule) with
   three gradients of the image MSE: boundary-aware (``render_canvas(boundary=True)``), plain AD
   (``boundary=False``), and central finite differences of the loss in each scalar parameter (2 x 8
   renders per step, common random numbers, step ``--fd-step``), as a Dr.Jit custom op so that the
   loop is identical. After each step the image MSE at 64 spp against the target is evaluated
   outside the timed region; the time to reach ``--threshold`` x the initial MSE is reported (wall
   and process CPU time).
2. *Gradient error at equal time.* At the initial parameters, the loss gradient of each estimator
   at several sample counts against a reference by central differences of 4096-spp renders
   (common random numbers, step 2e-3); relative L2 error (RMS over 3 seeds) and time per gradient.

Kernels are compiled before timing (three warm-up gradients per estimator): the times are those of
a running optimization, not of the first step.

The machine is shared: the load average is printed, and times are compared within one run.

    .venv/bin/python benchmarks/shader_bench.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from penumbra import renderer  # noqa: E402

EVAL_SPP = 64


def fd_gradient(problem, values: dict, spp: int, seed: int, h: float) -> dict:
    """Central differences of the image MSE in every scalar parameter (NumPy values, common random
    numbers on both sides)."""
    grads = {}
    for k, v in values.items():
        flat = np.ravel(np.asarray(v, np.float64))
        g = np.zeros_like(flat)
        for i in range(flat.size):
            out = []
            for s in (1.0, -1.0):
                x = flat.copy()
                x[i] += s * h
                vals = dict(values)
                vals[k] = x.reshape(np.shape(v))
                out.append(float(np.mean((problem.image(vals, spp, seed) - problem.target_image) ** 2)))
            g[i] = (out[0] - out[1]) / (2 * h)
        grads[k] = g
    return grads


def ad_gradient(problem, values: dict, spp: int, seed: int, boundary: bool) -> dict:
    import drjit as dr
    import mitsuba as mi
    xs = {k: mi.Float(np.ravel(np.asarray(v, np.float32))) for k, v in values.items()}
    for x in xs.values():
        dr.enable_grad(x)
    img = problem.render(xs, spp, seed, boundary)
    loss = dr.mean(dr.square(img - mi.TensorXf(problem.target_image)), axis=None)
    dr.backward(loss)
    return {k: np.array(dr.grad(x), np.float64) for k, x in xs.items()}


def make_fd_op(problem, spp, h):
    """A Dr.Jit custom op: value = image MSE at ``values``, backward = its central differences."""
    import drjit as dr
    import mitsuba as mi

    class FiniteDifferenceLoss(dr.CustomOp):
        def eval(self, values, seed):
            self.values = {k: np.array(v, np.float64) for k, v in values.items()}
            self.keys, self.seed = list(values), seed
            img = problem.image(self.values, spp, seed)
            return mi.Float(float(np.mean((img - problem.target_image) ** 2)))

        def forward(self):
            raise NotImplementedError("finite-difference loss: reverse mode only")

        def backward(self):
            g = float(np.array(self.grad_out())[0])
            grads = fd_gradient(problem, self.values, spp, self.seed, h)
            self.set_grad_in("values", {k: mi.Float((g * grads[k]).astype(np.float32)) for k in self.keys})

    return lambda values, seed: dr.custom(FiniteDifferenceLoss, values, seed)


def time_to_threshold(problem, method, steps, spp, threshold, h):
    """Run the fit with ``method`` (boundary / plain / fd); returns per-step (wall, cpu, eval MSE)."""
    import mitsuba as mi

    from penumbra import optim
    tgt = mi.TensorXf(problem.target_image)
    fd = make_fd_op(problem, spp, h) if method == "fd" else None
    step = [0]

    def objective(values):
        step[0] += 1
        if fd is not None:
            return fd(values, step[0])
        return optim.losses.mse(problem.render(values, spp, step[0], method == "boundary"), tgt)

    variables = {k: optim.Variable(mi.Float(np.ravel(np.asarray(v, np.float32))), problem.transforms[k],
                                   lr=problem.lrs[k]) for k, v in problem.initial.items()}
    rows, excluded, t0, c0 = [], [0.0, 0.0], time.perf_counter(), time.process_time()

    def callback(i, values, loss):
        w, c = time.perf_counter(), time.process_time()
        mse = float(np.mean((problem.image({k: np.array(v) for k, v in values.items()}, EVAL_SPP, 99)
                             - problem.target_image) ** 2))
        rows.append((w - t0 - excluded[0], c - c0 - excluded[1], mse))
        excluded[0] += time.perf_counter() - w
        excluded[1] += time.process_time() - c

    optim.optimize(objective, variables, steps, schedule=optim.schedules.cosine(steps, final=0.1),
                   progress=False, callback=callback)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="32x32, fewer steps and seeds")
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--threshold", type=float, default=0.1, help="target eval MSE as a fraction of the initial")
    ap.add_argument("--fd-step", type=float, default=1e-2)
    args = ap.parse_args()
    renderer.ensure_variant()
    import drjit as dr
    from penumbra.shaders.problems import make_problem
    res, steps = (32, 40) if args.quick else (64, args.steps)
    problem = make_problem("logo", res)
    problem.target_image = problem.target(256)
    print(f"shader_bench: logo {res}x{res}, 4 spp per step, load average {os.getloadavg()[0]:.1f}, "
          f"Dr.Jit threads {dr.thread_count()}")
    init_mse = float(np.mean((problem.image(problem.initial, EVAL_SPP, 99) - problem.target_image) ** 2))
    goal = args.threshold * init_mse
    print(f"\n1. time to reach eval MSE < {goal:.3g} ({args.threshold:g} x initial {init_mse:.3g}), "
          f"at most {steps} Adam steps")
    for _ in range(3):   # warm-up: compile every estimator's kernels
        for method in ("boundary", "plain"):
            ad_gradient(problem, problem.initial, 4, 1, method == "boundary")
    fd_gradient(problem, problem.initial, 4, 1, args.fd_step)
    reached = {}
    for method in ("boundary", "plain", "fd"):
        rows = time_to_threshold(problem, method, steps, 4, goal, args.fd_step)
        hit = next((r for i, r in enumerate(rows) if r[2] < goal), None)
        step_hit = next((i + 1 for i, r in enumerate(rows) if r[2] < goal), None)
        reached[method] = hit
        last = rows[-1]
        if hit:
            print(f"  {method:8s}: reached at step {step_hit}: {hit[0]:.2f} s wall, {hit[1]:.2f} s CPU "
                  f"(final MSE {last[2]:.3g} after {len(rows)} steps, {last[0]:.1f} s wall)")
        else:
            print(f"  {method:8s}: not reached in {len(rows)} steps ({last[0]:.1f} s wall, {last[1]:.1f} s CPU); "
                  f"final MSE {last[2]:.3g}, best {min(r[2] for r in rows):.3g}")
    if reached["boundary"] and reached["fd"]:
        print(f"  ratio FD / boundary-aware time to threshold: {reached['fd'][0] / reached['boundary'][0]:.1f}x "
              f"wall, {reached['fd'][1] / reached['boundary'][1]:.1f}x CPU")

    ref_spp = 1024 if args.quick else 4096
    print(f"\n2. loss-gradient error at the initial parameters vs central FD of {ref_spp}-spp renders (h = 2e-3)")
    t = time.perf_counter()
    ref = fd_gradient(problem, problem.initial, ref_spp, 5, 2e-3)
    print(f"  reference: {time.perf_counter() - t:.1f} s")
    ref_v = np.concatenate([np.ravel(ref[k]) for k in problem.initial])
    seeds = (11, 12) if args.quick else (11, 12, 13)
    results = []
    configs = [("boundary", s) for s in (1, 4, 16)] + [("plain", 4)] + [("fd", s) for s in (1, 4, 16)]
    for method, spp in configs:
        errs, times = [], []
        for sd in (0,) + seeds:   # seed 0: warm-up (kernel compilation), not counted
            t = time.perf_counter()
            if method == "fd":
                g = fd_gradient(problem, problem.initial, spp, sd, args.fd_step)
            else:
                g = ad_gradient(problem, problem.initial, spp, sd, method == "boundary")
            if sd == 0:
                continue
            times.append(time.perf_counter() - t)
            v = np.concatenate([np.ravel(g[k]) for k in problem.initial])
            errs.append(np.linalg.norm(v - ref_v) / np.linalg.norm(ref_v))
        results.append((method, spp, float(np.median(times)), float(np.sqrt(np.mean(np.square(errs))))))
        print(f"  {method:8s} {spp:3d} spp: {results[-1][2]:6.2f} s per gradient, rel. L2 error {results[-1][3]:.3f}")
    b = next(r for r in results if r[0] == "boundary" and r[1] == 4)
    fd_eq = min((r for r in results if r[0] == "fd"), key=lambda r: abs(np.log(r[2] / b[2])))
    print(f"  at about equal time: boundary-aware 4 spp {b[2]:.2f} s, error {b[3]:.3f}; FD {fd_eq[1]} spp "
          f"{fd_eq[2]:.2f} s, error {fd_eq[3]:.3f} (ratio of errors {fd_eq[3] / b[3]:.1f}x)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
