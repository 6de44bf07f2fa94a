import numpy as np
import pytest

from penumbra import renderer


def test_png_roundtrip_is_srgb_encoded(tmp_path):
    img = np.linspace(0, 1, 4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)
    renderer.write_image(tmp_path / "a.png", img)
    back = renderer.read_image(tmp_path / "a.png")
    assert back.shape == (4, 5, 3)
    assert np.allclose(back, img, atol=0.02)  # 8-bit sRGB quantisation
    raw = renderer.read_image(tmp_path / "a.png", linear=False)
    assert np.allclose(raw, renderer.linear_to_srgb(img), atol=1 / 255)


def test_exr_roundtrip_is_exact(tmp_path):
    img = np.random.default_rng(0).random((6, 7, 3)).astype(np.float32) * 10
    renderer.write_image(tmp_path / "a.exr", img)
    assert np.array_equal(renderer.read_image(tmp_path / "a.exr"), img)


def test_srgb_curve_inverse():
    x = np.linspace(0, 1, 101, dtype=np.float32)
    assert np.allclose(renderer.srgb_to_linear(renderer.linear_to_srgb(x)), x, atol=1e-5)


def test_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        renderer.read_image(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png"):
        renderer.read_image(tmp_path / "bad.png")


def test_wav_roundtrip(tmp_path):
    fs = 16000
    x = np.sin(2 * np.pi * 440 * np.arange(fs // 10) / fs) * 0.5
    renderer.write_wav(tmp_path / "a.wav", x, fs, normalize=False)
    y, fs2 = renderer.read_wav(tmp_path / "a.wav")
    assert fs2 == fs and np.allclose(x, y, atol=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        renderer.write_wav(tmp_path / "b.wav", np.array([0.0, np.nan]), fs)
