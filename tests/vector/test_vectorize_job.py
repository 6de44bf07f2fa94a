"""The `penumbra vectorize` job end to end on the bundled photo (tiny configuration)."""
import json


def test_vectorize_job_writes_outputs_and_lowers_the_loss(tmp_path):
    from penumbra.cli import main
    out = tmp_path / "vec"
    rc = main(["vectorize", "--paths", "12", "--steps", "12", "--size", "32", "--quiet", "--out", str(out)])
    assert rc == 0
    for f in ("vectorized.svg", "vectorized.png", "side_by_side.png", "loss.json", "loss.png"):
        assert (out / f).exists(), f
    loss = json.load(open(out / "loss.json"))["loss"]
    assert len(loss) == 12 and loss[-1] < 0.8 * loss[0]
    from penumbra.scenes.vector import load_svg
    sc = load_svg(str(out / "vectorized.svg"))
    assert len(sc.shapes()) == 12


def test_vectorize_rejects_missing_image(tmp_path):
    from penumbra.cli import main
    assert main(["vectorize", str(tmp_path / "nope.png"), "--steps", "1", "--quiet", "--out", str(tmp_path)]) == 1
