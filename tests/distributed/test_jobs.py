"""``--workers`` / ``--ray-address`` of the jobs: clear errors without Ray, and (slow) the same results
as one process."""
import json
import sys

import numpy as np
import pytest

from penumbra.cli import main


@pytest.mark.parametrize("job", ["reconstruct", "room-design"])
def test_workers_without_ray_say_what_to_install(job, monkeypatch, tmp_out, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)      # `import ray` raises ImportError
    assert main([job, "--workers", "2", "--steps", "1", "--out", tmp_out]) == 1
    err = capsys.readouterr().err
    assert "--workers 2" in err and "pip install 'penumbra[distributed]'" in err


def test_ray_address_needs_workers(tmp_out, capsys):
    assert main(["room-design", "--ray-address", "auto", "--steps", "1", "--out", tmp_out]) == 1
    assert "--ray-address needs --workers" in capsys.readouterr().err


def _mesh(path):
    return np.array([[float(x) for x in line.split()[1:4]] for line in open(path) if line.startswith("v ")])


@pytest.mark.slow
def test_reconstruct_with_two_workers_matches_one_process(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'penumbra[distributed]')")
    args = ["reconstruct", "--steps", "3", "--res", "16", "--spp", "2", "--target-spp", "8", "--subdivisions", "1",
            "--quiet"]
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    assert main(args + ["--out", one]) == 0
    assert main(args + ["--out", two, "--workers", "2"]) == 0
    np.testing.assert_allclose(json.load(open(f"{two}/loss.json"))["loss"], json.load(open(f"{one}/loss.json"))["loss"],
                               rtol=1e-5)
    v1, v2 = _mesh(f"{one}/mesh.obj"), _mesh(f"{two}/mesh.obj")
    assert np.abs(v1 - v2).max() < 1e-5 and np.abs(v1).max() > 0.1


@pytest.mark.slow
def test_room_design_with_two_workers_matches_one_process(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'penumbra[distributed]')")
    args = ["room-design", "--study", "all", "--steps", "3", "--order", "4", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "one")]) == 0
    assert main(args + ["--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    one = json.load(open(tmp_path / "one" / "summary.json"))
    assert json.load(open(tmp_path / "two" / "summary.json")) == one and set(one) == {"materials", "receiver",
                                                                                      "dimensions"}
