"""``--workers`` / ``--ray-address`` of the jobs: clear errors without Ray, and (slow) the same results
as one process."""
import json
import sys

import numpy as np
import pytest

from penumbra.cli import main


@pytest.mark.parametrize("job", ["reconstruct", "room-design", "adversarial"])
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


@pytest.mark.slow
def test_adversarial_with_two_workers_matches_one_process(tmp_path):
    """A texture + light attack (texture, sky and lamp radiance, lamp translation; light jitter and image
    noise per view) with 2 views per step: 2 workers, one view each, give the one-process run."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'penumbra[distributed]')")
    pytest.importorskip("torch", reason="the adversarial job needs PyTorch: pip install 'penumbra[torch]'")
    import tests.adversarial.classifiers as classifiers
    # the test classifier's module is not importable from Ray's workers: ship it by value
    ray.cloudpickle.register_pickle_by_value(classifiers)
    args = ["adversarial", "--classifier", "tests.adversarial.classifiers:warm_cool", "--target", "cool",
            "--attack", "texture,light", "--budget-texture", "0.3", "--steps", "3", "--views-per-step", "2",
            "--res", "16", "--spp", "2", "--eval-views", "2", "--eval-spp", "4", "--torch-threads", "1", "--quiet"]
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    try:
        assert main(args + ["--out", one]) == 0
        assert main(args + ["--out", two, "--workers", "2"]) == 0
    finally:
        ray.shutdown()
    l1, l2 = json.load(open(f"{one}/loss.json"))["loss"], json.load(open(f"{two}/loss.json"))["loss"]
    np.testing.assert_allclose(l2, l1, rtol=1e-5)
    assert l1[-1] != l1[0]
    r1, r2 = json.load(open(f"{one}/success.json")), json.load(open(f"{two}/success.json"))
    for v1, v2 in zip(r1["views"], r2["views"]):
        assert [t[1] for t in v1["after"]] == [t[1] for t in v2["after"]]
        np.testing.assert_allclose([t[2] for t in v2["after"]], [t[2] for t in v1["after"]], rtol=1e-4)
