"""Packaging: one installed namespace (``penumbra.*``), plugins registered by ``import penumbra``,
and a wheel that installs into a clean virtual environment and renders."""
import os
import shutil
import subprocess
import sys
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOORS = {"penumbra": "penumbra", "renderer": "penumbra.renderer", "scenes": "penumbra.scenes",
          "integrators": "penumbra.integrators", "optim": "penumbra.optim", "assets": "penumbra.data"}


def _python(code, cwd, python=sys.executable, **env):
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=cwd,
                         env={**os.environ, **env}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_every_folder_is_an_installed_package():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        setup = tomllib.load(f)["tool"]["setuptools"]
    listed = set(setup["packages"])
    assert {v: k for k, v in setup["package-dir"].items()} == FLOORS
    found = set()
    for folder, name in FLOORS.items():
        for here, dirs, files in os.walk(os.path.join(ROOT, folder)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            if "__init__.py" in files or folder == "assets":
                rel = os.path.relpath(here, os.path.join(ROOT, folder))
                found.add(name if rel == "." else f"{name}.{rel.replace(os.sep, '.')}")
    assert found == listed, f"pyproject.toml packages differ from the folders: {found ^ listed}"


@pytest.mark.parametrize("order", ["variant_first", "penumbra_first"])
def test_import_penumbra_registers_plugins(tmp_path, order):
    set_variant = "import mitsuba as mi; mi.set_variant('llvm_ad_rgb')"
    steps = [set_variant, "import penumbra"] if order == "variant_first" else ["import penumbra", set_variant]
    code = "\n".join(steps + [
        "for name in ('edge_sampling', 'warped_area'):",
        "    print(type(mi.load_dict({'type': name})).__name__)",
        "mi.set_variant('llvm_ad_mono')",
        "print(type(mi.load_dict({'type': 'edge_sampling'})).__name__)",
        "import penumbra.renderer, penumbra.scenes, penumbra.integrators, penumbra.optim",
        "import importlib.util",
        "print([importlib.util.find_spec(n) is None for n in ('renderer', 'scenes', 'integrators', 'optim')])",
    ])
    out = _python(code, cwd=tmp_path).split("\n")
    assert out[:3] == ["EdgeSamplingIntegrator", "WarpedAreaIntegrator", "EdgeSamplingIntegrator"]
    assert out[3] == "[True, True, True, True]", "generic top-level packages must not be installed"


def test_wheel_installs_and_renders(tmp_path):
    """Build the wheel, install it (no dependencies) into a fresh venv that sees the project's
    dependencies but not its editable install, and render the bundled default scene there."""
    src, dist = tmp_path / "src", tmp_path / "dist"   # a copy: building writes build/ beside the sources
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__",
                                                              ".pytest_cache", "site"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
                   check=True, capture_output=True, timeout=600)
    wheel, = dist.glob("penumbra-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    site = _python("import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path, python=py).strip()
    deps = _python("import drjit, os; print(os.path.dirname(os.path.dirname(drjit.__file__)))", cwd=tmp_path)
    with open(os.path.join(site, "deps.pth"), "w") as f:   # a plain path line: no editable finder
        f.write(deps.strip() + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True, timeout=600)
    code = ("import penumbra as pn, numpy as np\n"
            "assert 'site-packages' in pn.__file__ and pn.__file__.startswith(%r), pn.__file__\n"
            "from penumbra.assets import asset\n"
            "scene = pn.load_scene(asset('scenes', 'cbox', 'scene.xml'), res=16, spp=4)\n"
            "img = np.asarray(pn.render(scene))\n"
            "print(img.shape, float(img.mean()) > 0)\n") % str(venv)
    assert _python(code, cwd=tmp_path, python=py).strip() == "(16, 16, 3) True"


def test_every_public_name_comes_from_the_namespace(tmp_path):
    code = ("import sys, penumbra as pn\n"
            "for name in pn.__all__: getattr(pn, name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('renderer', 'scenes', 'integrators', 'optim')))")
    assert _python(code, cwd=tmp_path).strip() == "[]"
