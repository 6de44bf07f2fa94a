"""A gradient with another seed or other sample counts reuses the compiled kernels.

Seeds, sample counts and the NumPy arrays of edge tables enter the kernels as inputs
(``dr.opaque``, ``renderer.arrays.upload``), not as literals or alignments compiled into them: a
literal made every new seed or count recompile the path kernels (tens of seconds each on a loaded
machine). Checked with Dr.Jit's kernel history: after two warm-up gradients (the first call also
compiles one-off set-up kernels), a gradient with a new seed, a new interior spp and new boundary
counts launches only kernels whose hashes were already seen.

Mitsuba's own ``sample_rays`` divides the sample index by the spp with a shift when the spp is a
power of two and with a division otherwise, so each of those two kinds of count compiles once;
the counts here are powers of two.

Each check runs in a fresh process (``python -m tests.path.test_kernel_cache NAME``): which kernels a
process has already compiled, and the AD state earlier tests leave behind, are process state, and
in a shared test worker they made the check depend on the order of the test files.
"""
import os
import subprocess
import sys

import drjit as dr
import pytest

from penumbra import integrators  # noqa: F401  (registers the estimators)
from tests.harness import forward_grad
from tests.scenes_lib import icosphere_scene, scale_about_centre, with_gaussian_filter


def launched_hashes(run):
    """Hashes of the JIT kernels that ``run()`` launched."""
    dr.kernel_history()  # (clears the history)
    run()
    return {k["hash"] for k in dr.kernel_history() if k["type"] == dr.KernelType.JIT}


def check_no_new_kernels(integrator, counts, other_counts, gaussian=False):
    """Two warm-up gradients with ``counts``, then one with a new seed, spp and ``other_counts``."""
    build = icosphere_scene if not gaussian else with_gaussian_filter(icosphere_scene)
    scene, params, _ = build(res=8, flat=False, sun=True)
    perturb = scale_about_centre(params, "ball.vertex_positions", [0, 0, 0])
    cfg = {"type": integrator, "max_depth": 3}
    seen = set()
    for seed in (1, 1):
        seen |= launched_hashes(lambda: forward_grad(scene, params, perturb, {**cfg, **counts}, spp=16, seed=seed))
    new = launched_hashes(lambda: forward_grad(scene, params, perturb, {**cfg, **other_counts}, spp=32, seed=7))
    fresh = new - seen
    assert new and not fresh, f"{len(fresh)} of {len(new)} kernels compiled anew"


CHECKS = {
    # Smooth sphere under a sun: primary silhouette, shading terminator and shadowless secondary terms.
    "edge_sampling": lambda: check_no_new_kernels("edge_sampling", {"edge_spp": 16, "secondary_path_spp": 2},
                                                  {"edge_spp": 64, "secondary_path_spp": 4}),
    "warped_area": lambda: check_no_new_kernels("warped_area", {"film_spp": 16, "secondary_path_spp": 2},
                                                {"film_spp": 64, "secondary_path_spp": 4}, gaussian=True),
}


def run_in_fresh_process(name):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-m", "tests.path.test_kernel_cache", name], cwd=root,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0 and f"{name}: ok" in out.stdout, out.stdout[-2000:] + out.stderr[-4000:]


def test_edge_sampling_new_seed_and_counts_hit_the_kernel_cache():
    run_in_fresh_process("edge_sampling")


@pytest.mark.slow
def test_warped_area_new_seed_and_counts_hit_the_kernel_cache():
    run_in_fresh_process("warped_area")


if __name__ == "__main__":
    from penumbra import renderer
    renderer.ensure_variant()
    dr.set_flag(dr.JitFlag.KernelHistory, True)
    for name in sys.argv[1:]:
        CHECKS[name]()
        print(f"{name}: ok", flush=True)
