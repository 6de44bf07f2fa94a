"""Property-based fuzzing of the loaders (tests/fuzz/loaders.py): each loader runs in its own
process, so a crash inside a native loader fails its case instead of aborting the suite."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytest.importorskip("hypothesis", reason="property-based fuzzing needs Hypothesis (the test extra)")


@pytest.mark.parametrize("loaders", ["ply", "obj", "xml", "svg", "room room_obj", "colmap transforms middlebury"])
def test_loader_never_crashes(loaders):
    out = subprocess.run([sys.executable, "-m", "tests.fuzz.loaders", *loaders.split()], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, env={**os.environ, "PENUMBRA_FUZZ_EXAMPLES": "25"})
    assert out.returncode == 0, (f"{loaders} loader failed (exit {out.returncode}; a negative code is a crash "
                                 f"by that signal):\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    for loader in loaders.split():
        assert f"{loader}: ok" in out.stdout
