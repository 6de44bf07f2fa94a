import json
import os
import subprocess
import sys

from penumbra.cli import main


def test_materials_job_writes_its_outputs(tmp_out):
    rc = main(["materials", "--steps", "25", "--res", "24", "--spp", "4", "--target-spp", "64",
               "--out", tmp_out, "--quiet", "--params", "red.reflectance.value", "light.emitter.radiance.value"])
    assert rc == 0
    for f in ["target.png", "initial.png", "final.png", "loss.png", "loss.json", "recovered.json"]:
        assert os.path.getsize(os.path.join(tmp_out, f)) > 100, f
    rep = json.load(open(os.path.join(tmp_out, "recovered.json")))
    assert rep["image_mse"]["final"] < 0.2 * rep["image_mse"]["initial"]
    loss = json.load(open(os.path.join(tmp_out, "loss.json")))["loss"]
    assert loss[-1] < loss[0]


def test_cli_errors_are_clear(tmp_out, capsys):
    assert main(["materials", "--scene", "/nonexistent.xml", "--out", tmp_out]) == 1
    assert "/nonexistent.xml" in capsys.readouterr().err
    assert main(["materials", "--params", "no.such.param", "--out", tmp_out, "--steps", "1", "--res", "8",
                 "--target-spp", "4"]) == 1
    assert "unknown scene parameter 'no.such.param'" in capsys.readouterr().err


def test_console_script_help():
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "penumbra"), "--help"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "materials" in out.stdout


def test_adversarial_job_end_to_end(tmp_out):
    """`penumbra adversarial` on the bundled ball (orange: "warm") against a fixed colour classifier,
    targeted to "cool" through the texture: the job runs, flips held-out views and writes its outputs."""
    import pytest
    pytest.importorskip("torch", reason="the adversarial job needs PyTorch: pip install 'penumbra[torch]'")
    rc = main(["adversarial", "--classifier", "tests.adversarial.classifiers:warm_cool", "--target", "cool",
               "--budget-texture", "0.6", "--steps", "16", "--views-per-step", "1", "--res", "24", "--spp", "2",
               "--eval-views", "2", "--eval-spp", "4", "--torch-threads", "1", "--out", tmp_out, "--quiet"])
    assert rc == 0
    for f in ["before.png", "after.png", "texture.png", "success.json", "loss.json", "loss.png"]:
        assert os.path.getsize(os.path.join(tmp_out, f)) > 100, f
    rep = json.load(open(os.path.join(tmp_out, "success.json")))
    assert rep["success_rate_before"] == 0.0 and rep["success_rate"] == 1.0, rep


def test_adversarial_job_refuses_a_zero_budget(tmp_out, capsys):
    import pytest
    with pytest.raises(SystemExit) as e:
        main(["adversarial", "--budget-texture", "0", "--out", tmp_out])
    assert e.value.code == 2 and "--budget-texture" in capsys.readouterr().err
