"""The documentation: every tutorial under docs/tutorials runs at its small size, the MkDocs site
builds with warnings as errors (API reference from the docstrings, job option tables from the CLI
parsers), and the README stays short with links that resolve."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("[0-9][0-9]_*.py"))


def test_tutorials_found():
    assert len(TUTORIALS) >= 4, TUTORIALS


@pytest.mark.parametrize("script", TUTORIALS, ids=[t.stem for t in TUTORIALS])
def test_tutorial_runs(script, tmp_path):
    env = {**os.environ, "PENUMBRA_TUTORIAL_SMALL": "1"}
    proc = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert any(tmp_path.iterdir()), f"{script.name} wrote nothing to --out"


def test_site_builds_strict(tmp_path):
    mkdocs = pytest.importorskip("mkdocs")
    del mkdocs
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-5000:]
    api = (tmp_path / "site" / "api" / "path" / "index.html").read_text()
    assert "edge_sampling" in api and "edge_spp" in api  # the plugins' parameter tables
    rir = (tmp_path / "site" / "jobs" / "rir" / "index.html").read_text()
    assert "<code>--order</code>" in rir  # option table generated from the CLI parser
    tutorial = (tmp_path / "site" / "tutorials" / "render_and_gradient" / "index.html").read_text()
    assert "finite differences of path" in tutorial  # the script itself is included


def test_readme_is_short_and_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 150
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert links
    for link in links:
        assert (ROOT / link).exists(), f"README links to missing {link}"
