import os
import subprocess
import sys

import pytest

from penumbra import renderer
from penumbra.renderer import backend


def test_default_variant_is_llvm_without_cuda():
    assert renderer.variant() in ("llvm_ad_rgb", "cuda_ad_rgb")
    if not renderer.cuda_available():
        assert backend.default_variant() in ("llvm_ad_rgb", os.environ.get("PENUMBRA_VARIANT"))


def test_llvm_version_is_at_least_16():
    v = renderer.check_llvm()
    assert v[0] >= backend.MIN_LLVM


def test_configure_libllvm_picks_newest_suitable():
    found = backend.find_libllvm()
    good = [p for major, p in found if major >= backend.MIN_LLVM]
    assert good, "set-up should have installed libLLVM >= 16"
    assert os.environ["DRJIT_LIBLLVM_PATH"]


@pytest.mark.parametrize("name, message", [("nonsense_variant", "unknown Mitsuba variant"),
                                           ("scalar_rgb", "not differentiable")])
def test_bad_variant_names_are_explained(name, message):
    with pytest.raises(renderer.BackendError, match=message):
        renderer.set_variant(name)
    assert renderer.variant() in ("llvm_ad_rgb", "cuda_ad_rgb")  # unchanged


def test_env_override_and_old_llvm_message():
    # In a fresh process: PENUMBRA_VARIANT picks the variant, and a libLLVM 15 forced through
    # DRJIT_LIBLLVM_PATH is refused with the fix instead of crashing inside LLVM.
    code = "from penumbra import renderer; print(renderer.set_variant())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PENUMBRA_VARIANT": "llvm_ad_rgb"})
    assert out.stdout.strip() == "llvm_ad_rgb", out.stderr
    old = [p for major, p in backend.find_libllvm() if major < backend.MIN_LLVM]
    if not old:
        pytest.skip("no libLLVM < 16 on this machine to test the refusal")
    code = ("from penumbra import renderer\ntry:\n    renderer.set_variant('llvm_ad_rgb')\nexcept renderer.BackendError as e:\n"
            "    print('REFUSED', e)\n")
    env = {**os.environ, "DRJIT_LIBLLVM_PATH": old[0]}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "REFUSED" in out.stdout and "libllvm19" in out.stdout, out.stdout + out.stderr
