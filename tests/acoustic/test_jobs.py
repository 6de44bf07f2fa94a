"""The `penumbra rir` and `penumbra room-design` jobs run end to end on the bundled rooms."""
import json
import os

import numpy as np
import pytest

from penumbra.cli import main


def test_rir_job_writes_wav_plot_and_metrics(tmp_path):
    out = str(tmp_path / "rir")
    assert main(["rir", "--order", "8", "--out", out]) == 0
    for f in ("rir.wav", "rir.png", "metrics.json", "metrics.txt"):
        assert os.path.exists(os.path.join(out, f)), f
    m = json.load(open(os.path.join(out, "metrics.json")))
    assert 0 < m["EDT"]["broadband"] < 3 and len(m["EDT"]["bands"]) == 7
    from penumbra import renderer
    h, fs = renderer.read_wav(os.path.join(out, "rir.wav"))
    assert fs == 16000 and np.abs(h).max() > 0.9


def test_rir_job_polyhedral_room(tmp_path):
    from penumbra.assets import asset
    out = str(tmp_path / "l")
    assert main(["rir", "--room", asset("rooms", "l_room.json"), "--order", "4", "--conventions",
                 "pyroomacoustics", "--no-tail", "--out", out]) == 0
    assert os.path.exists(os.path.join(out, "rir.wav"))
    assert main(["rir", "--room", asset("rooms", "l_room.json"), "--order", "4", "--conventions",
                 "pyroomacoustics", "--no-tail", "--search", "tree", "--out", out + "_tree"]) == 0
    assert np.allclose(np.load(os.path.join(out + "_tree", "rir.npy")), np.load(os.path.join(out, "rir.npy")))


def test_rir_job_clear_error_for_source_outside(tmp_path, capsys):
    assert main(["rir", "--source", "9", "1", "1", "--out", str(tmp_path)]) == 1
    assert "outside the room" in capsys.readouterr().err


def test_room_design_dimensions_recovers_room(tmp_path):
    out = str(tmp_path / "rd")
    assert main(["room-design", "--study", "dimensions", "--steps", "60", "--order", "8", "--out", out, "--quiet"]) == 0
    s = json.load(open(os.path.join(out, "dimensions", "summary.json")))
    assert max(s["error_m"]) < 0.05 and s["loss_final"] < 0.1 * s["loss_initial"]


@pytest.mark.slow
def test_room_design_materials_and_receiver(tmp_path):
    out = str(tmp_path / "rd")
    assert main(["room-design", "--study", "materials", "--steps", "30", "--out", out, "--quiet"]) == 0
    s = json.load(open(os.path.join(out, "materials", "summary.json")))
    assert s["T20_optimized"] > s["T20_initial"]
    assert s["absorption_area_final"] == pytest.approx(s["absorption_area_budget"], rel=0.05)
    assert main(["room-design", "--study", "receiver", "--steps", "30", "--out", out, "--quiet"]) == 0
    s = json.load(open(os.path.join(out, "receiver", "summary.json")))
    assert s["area_Ts_optimized_ms"] < s["area_Ts_initial_ms"] and s["distance_to_source"] > 1.4
    # the descent ends in the better half of the (shallow) range a 0.5 m grid of positions spans
    assert s["area_Ts_optimized_ms"] <= 0.5 * (s["grid_area_Ts_min_ms"] + s["grid_area_Ts_max_ms"])


def test_rir_job_batch_of_pairs(tmp_path):
    """Two sources x two receivers in the L-shaped room: one RIR per pair, each equal to its own call."""
    from penumbra.assets import asset
    from penumbra.integrators.acoustic import rir
    from penumbra.jobs.rir import load
    out = str(tmp_path / "b")
    args = ["rir", "--room", asset("rooms", "l_room.json"), "--order", "3", "--no-tail", "--out", out,
            "--source", "1", "1", "1.2", "--source", "2", "1.5", "1.4", "--receiver", "1.5", "4", "1.5",
            "--receiver", "2.5", "1", "1.1"]
    assert main(args) == 0
    H = np.load(os.path.join(out, "rirs.npy"))
    rows = json.load(open(os.path.join(out, "pairs.json")))
    assert H.shape[0] == 4 and [(r["source"], r["receiver"]) for r in rows] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert os.path.exists(os.path.join(out, "rir_s1_r0.wav"))
    from penumbra.cli import build_parser
    room = load(build_parser().parse_args(args))
    h = rir(room, 3, source=1, receiver=0)
    assert np.allclose(H[2, :len(h)], h)
