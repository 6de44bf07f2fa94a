"""The main job (``penumbra reconstruct`` = ``penumbra demo``) at tiny settings, and its helpers."""
import json
import os

import numpy as np
import pytest

from penumbra.cli import main


def test_reconstruct_job_writes_its_outputs_and_improves(tmp_out):
    rc = main(["reconstruct", "--steps", "10", "--res", "24", "--spp", "2", "--target-spp", "16",
               "--views-per-step", "2", "--subdivisions", "2", "--lr", "0.03", "--out", tmp_out, "--quiet"])
    assert rc == 0
    for f in ["target.png", "initial.png", "final.png", "comparison.png", "loss.png", "loss.json",
              "recovered.json", "mesh.ply", "mesh.obj"]:
        assert os.path.getsize(os.path.join(tmp_out, f)) > 100, f
    rep = json.load(open(os.path.join(tmp_out, "recovered.json")))
    loss = json.load(open(os.path.join(tmp_out, "loss.json")))["loss"]
    print(rep["silhouette_iou"], rep["chamfer"], rep["reflectance"]["relative_error"], loss[:3], loss[-3:])
    assert len(loss) == 10 and np.mean(loss[-3:]) < np.mean(loss[:3])
    assert rep["silhouette_iou"]["final"] > rep["silhouette_iou"]["initial"]
    assert rep["chamfer"]["final"] < rep["chamfer"]["initial"]
    assert rep["reflectance"]["relative_error"] < 0.39  # 0.39: the initial grey's error


def test_demo_is_reconstruct():
    from penumbra.cli import build_parser
    args = build_parser().parse_args(["demo"])
    assert args.func.__module__ == "penumbra.jobs.reconstruct"
    assert build_parser().parse_args(["materials"]).func.__module__ == "penumbra.jobs.materials"


def test_reconstruct_errors_are_clear(tmp_out, capsys):
    assert main(["reconstruct", "--shape", "nope", "--out", tmp_out, "--res", "8", "--steps", "1"]) == 1
    assert "no mesh with id 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:   # a usage error of the parser, before any work
        main(["reconstruct", "--steps", "0", "--out", tmp_out])
    assert exit_.value.code == 2
    assert "argument --steps: the value must be >= 1, got 0" in capsys.readouterr().err


def test_metrics_closed_forms():
    """Chamfer distance of concentric spheres ~ their radius difference; IoU of known masks."""
    from penumbra.jobs.reconstruct import chamfer, iou
    from penumbra.scenes.builders import icosphere
    V, F = icosphere(4)
    assert chamfer((V, F), (1.1 * V, F)) == pytest.approx(0.1, rel=0.05)
    a = np.zeros((4, 4), bool)
    b = a.copy()
    a[:2], b[1:3] = True, True
    assert iou(a, b) == pytest.approx(4 / 12)
    assert iou(a & False, b & False) == 1.0
