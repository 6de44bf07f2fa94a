"""``penumbra shader``: outputs, plain AD leaves the edge parameters where they start, the
boundary-aware run moves them towards the truth (tiny run), and recovers them (full run, slow)."""
import json
import os

import pytest

from penumbra.cli import main

# parameters that only move the shader's edges (plain AD's gradient is exactly zero)
EDGE_PARAMS = {"noise": ["threshold", "offset"], "logo": ["center", "radius", "phase", "duty"]}
FILES = ["target.png", "initial.png", "final_plain.png", "final_boundary.png", "side_by_side.png", "loss.png",
         "plain/loss.json", "boundary/loss.json"]


def read_report(out):
    return json.load(open(os.path.join(out, "report.json")))


def test_shader_job_tiny(tmp_out):
    rc = main(["shader", "--steps", "3", "--res", "12", "--spp", "2", "--target-spp", "16", "--out", tmp_out,
               "--quiet"])
    assert rc == 0
    rep = read_report(tmp_out)
    for problem in ("noise", "logo"):
        for f in FILES:
            assert os.path.getsize(os.path.join(tmp_out, problem, f)) > 50, (problem, f)
        r = rep[problem]
        for k in EDGE_PARAMS[problem]:
            assert r["plain"]["recovered"][k] == pytest.approx(r["initial"][k], abs=1e-6), (problem, k)
            assert r["boundary"]["recovered"][k] != pytest.approx(r["initial"][k], abs=1e-4), (problem, k)
    # scalar edge parameters step towards the truth from the first steps on
    for problem, k in (("noise", "threshold"), ("logo", "radius"), ("logo", "duty")):
        r = rep[problem]
        assert r["boundary"]["errors"][k] < r["initial_errors"][k], (problem, k, r["boundary"]["errors"][k])


def test_shader_job_rejects_bad_options(tmp_out, capsys):
    with pytest.raises(SystemExit):
        main(["shader", "--problem", "nope", "--out", tmp_out])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["shader", "--res", "2", "--out", tmp_out])
    assert "--res" in capsys.readouterr().err


@pytest.mark.slow
def test_shader_job_default_recovers_the_parameters(tmp_out):
    assert main(["shader", "--out", tmp_out, "--quiet"]) == 0
    rep = read_report(tmp_out)
    for problem, names in EDGE_PARAMS.items():
        r = rep[problem]
        for k in names:
            assert r["boundary"]["errors"][k] < 0.1 * r["initial_errors"][k], (problem, k, r["boundary"]["errors"][k])
            assert r["plain"]["errors"][k] == pytest.approx(r["initial_errors"][k], abs=1e-6), (problem, k)
        assert r["boundary"]["image_mse"] < 0.1 * r["plain"]["image_mse"], problem
