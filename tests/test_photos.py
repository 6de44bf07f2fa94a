"""Undistortion, film resampling and object masks of calibrated photographs (NumPy only)."""
import numpy as np
import pytest
from PIL import Image

from penumbra.scenes.calibrated_view import CalibratedView, distort
from penumbra.scenes.errors import PhotoError
from penumbra.scenes.image_files import read_image
from penumbra.scenes.photos import border_mask, film_image, parse_mask_option, photo_mask
from penumbra.scenes.undistort import undistort_image, undistort_normalized, undistort_points
from penumbra.scenes.view_sensor import film_map
from tests.scenes_lib import shared_data

W, H = 160, 120
K = np.array([[150.0, 0.0, 83.4], [0.0, 140.0, 56.2], [0.0, 0.0, 1.0]])
OPENCV = (-0.25, 0.08, 0.002, -0.003)


def view(distortion=OPENCV, model="OPENCV"):
    return CalibratedView("a.png", K, np.eye(3), np.array([0.0, 0.0, 2.0]), W, H, model, distortion)


def test_distortion_formula_by_hand():
    np.testing.assert_allclose(distort(np.array([[0.5, 0.0]]), (0.1, 0, 0, 0)), [[0.5125, 0.0]])
    np.testing.assert_allclose(distort(np.array([[0.5, 0.5]]), (0, 0.2, 0, 0)), [[0.525, 0.525]])
    np.testing.assert_allclose(distort(np.array([[0.5, 0.5]]), (0, 0, 0.01, 0)), [[0.505, 0.51]])
    np.testing.assert_allclose(distort(np.array([[0.5, 0.5]]), (0, 0, 0, 0.01)), [[0.51, 0.505]])


def test_newton_inverse():
    xy = np.random.default_rng(1).uniform(-0.6, 0.6, (500, 2))
    back = undistort_normalized(distort(xy, OPENCV), OPENCV)
    assert np.abs(back - xy).max() < 1e-10


def blob_image(centres, sample_points, sigma=1.5):
    d2 = ((sample_points[..., None, :] - centres) ** 2).sum(-1)
    return np.exp(-0.5 * d2 / sigma ** 2).sum(-1)


def centroids(img, guesses, r=6):
    out = []
    for u, v in guesses:
        iu, iv = int(round(u)), int(round(v))
        win = img[iv - r:iv + r + 1, iu - r:iu + r + 1]
        yy, xx = np.mgrid[iv - r:iv + r + 1, iu - r:iu + r + 1]
        out.append([(win * xx).sum() / win.sum(), (win * yy).sum() / win.sum()])
    return np.array(out)


@pytest.mark.parametrize("model,k", [("SIMPLE_RADIAL", (-0.3, 0, 0, 0)), ("RADIAL", (-0.25, 0.08, 0, 0)),
                                     ("OPENCV", OPENCV)])
def test_undistorted_photo_puts_points_where_the_pinhole_does(model, k):
    """A photo taken through the lens model (Gaussian spots around world points, each spot round in
    the pinhole image) undistorts so that the spots' centroids land on the pinhole projections to 0.1 px."""
    Kv = K.copy()
    if model != "OPENCV":
        Kv[1, 1] = Kv[0, 0]
    v = CalibratedView("a.png", Kv, np.eye(3), np.array([0.0, 0.0, 2.0]), W, H, model, k)
    uu, vv = np.meshgrid(np.linspace(14.3, W - 15.1, 5), np.linspace(13.6, H - 14.2, 4))
    Z = 2.0 + 0.1 * np.arange(20)  # world points on a 5 x 4 grid of pinhole pixels, 30 px apart
    X = np.c_[(uu.ravel() - v.cx) / v.fx * Z, (vv.ravel() - v.cy) / v.fy * Z, Z] - v.t
    q = v.project(X, distorted=False)
    np.testing.assert_allclose(q, np.c_[uu.ravel(), vv.ravel()])
    assert np.abs(v.project(X) - q).max() > 2.0  # the lens moves them by pixels
    yy, xx = np.mgrid[0:H, 0:W].astype(float)
    photo = blob_image(q, undistort_points(v, np.stack([xx, yy], -1)))  # what the lens records
    flat, pin = undistort_image(photo, v)
    assert pin.is_pinhole and np.array_equal(pin.K, v.K)
    err = np.abs(centroids(flat, q) - q).max()
    print(f"{model}: max centroid error {err:.4f} px")
    assert err < 0.1, err
    # the distorted spots sit at the distorted projections (to the spot's warp, ~0.1 px)
    assert np.abs(centroids(photo, v.project(X)) - v.project(X)).max() < 0.3


def test_film_image_reproduces_a_linear_ramp():
    """Resampling onto a smaller film with fx != fy: a linear ramp in the photo reads back exactly
    at the photo positions of the film pixel centres (box average of a linear function)."""
    v = view((0, 0, 0, 0), "PINHOLE")
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    ramp = 0.01 * xx - 0.02 * yy + 3.0
    fm = film_map(v, 40)
    assert fm.height == round(H * 40 / W * 150 / 140)
    out = film_image(ramp, v, fm)
    jj, ii = np.mgrid[0:fm.height, 0:fm.width] + 0.5
    p = fm.film_to_photo(np.stack([ii, jj], -1))
    inside = (p[..., 0] > 2) & (p[..., 0] < W - 3) & (p[..., 1] > 2) & (p[..., 1] < H - 3)
    expected = 0.01 * p[..., 0] - 0.02 * p[..., 1] + 3.0
    assert np.abs(out - expected)[inside].max() < 1e-4
    mask = film_image(np.ones((H, W)), v, fm)
    assert np.allclose(mask[inside], 1.0) and mask.min() >= 0.0


def disk(h=H, w=W, r=25.0, c=(70.0, 60.0)):
    yy, xx = np.mgrid[0:h, 0:w]
    return (xx - c[0]) ** 2 + (yy - c[1]) ** 2 < r ** 2


def test_mask_rules(tmp_path):
    obj = disk()
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., :3] = 30
    rgba[obj, :3] = (200, 120, 40)
    rgba[..., 3] = np.where(obj, 255, 0)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    colour, alpha = read_image(str(tmp_path / "a.png"))
    assert np.array_equal(photo_mask(colour, alpha, "alpha", "a.png"), obj)
    assert np.array_equal(photo_mask(colour, None, "threshold:0.5", "a.png"), obj)
    assert np.array_equal(photo_mask(colour, None, "border", "a.png"), obj)
    with pytest.raises(PhotoError, match="mask='alpha' but the image has no alpha"):
        photo_mask(colour, None, "alpha", "a.png", str(tmp_path / "a.png"))
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray((obj * 255).astype(np.uint8)).save(masks / "a.png")
    assert np.array_equal(photo_mask(colour, None, f"folder:{masks}", "sub/a.jpg"), obj)
    with pytest.raises(PhotoError, match="no mask for image 'b.png'"):
        photo_mask(colour, None, f"folder:{masks}", "b.png")
    Image.fromarray(np.zeros((H + 1, W), np.uint8)).save(masks / "a.png")
    with pytest.raises(PhotoError, match=rf"a.png is {W}x{H + 1}, its photo 'a.png' is {W}x{H}"):
        photo_mask(colour, None, f"folder:{masks}", "a.png")


def test_border_mask_on_a_noisy_bright_background():
    rng = np.random.default_rng(3)
    img = np.clip(0.7 + 0.02 * rng.standard_normal((H, W, 3)), 0, 1)
    obj = disk()
    img[obj] = (0.3, 0.5, 0.9)
    m = border_mask(img)
    assert (m & obj).sum() / (m | obj).sum() > 0.99


@pytest.mark.parametrize("spec", ["thresh", "threshold:2", "threshold:x", "folder:", "border:-1", "alpha:1"])
def test_bad_mask_options(spec):
    with pytest.raises(PhotoError, match="mask option"):
        parse_mask_option(spec)


def test_unreadable_image(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(PhotoError, match="cannot read image .*bad.png"):
        read_image(str(tmp_path / "bad.png"))


def test_load_photo_set(tmp_path):
    """Two photos with alpha and a COLMAP model: sensors, linear images, coverage, the held-out split."""
    from penumbra.scenes.errors import CalibrationError
    from penumbra.scenes.photo_set import held_out_indices, load_photo_set
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "cameras.txt").write_text(f"1 SIMPLE_RADIAL {W} {H} 150 80 60 -0.1\n")
    (tmp_path / "model" / "images.txt").write_text("1 1 0 0 0 0 0 2 1 a.png\n\n2 1 0 0 0 0 0 3 1 b.png\n\n")
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[disk(), :] = 255
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(rgba).save(photos / name)
    views = load_photo_set(str(photos), str(tmp_path / "model"), 40, mask="alpha", held_out="every:2")
    assert [pv.held_out for pv in views] == [False, True]
    pv = views[0]
    assert pv.image.shape == (30, 40, 3) and pv.mask.shape == (30, 40) and pv.sensor["type"] == "perspective"
    assert 0.5 < pv.mask.sum() / (np.pi * 25 ** 2 / 16) < 1.5 and np.allclose(pv.image.max(), 1.0, atol=1e-3)
    assert held_out_indices("names:b.png", ["a.png", "b.png"]) == {1}
    with pytest.raises(PhotoError, match="held_out option 'every:1'"):
        load_photo_set(str(photos), str(tmp_path / "model"), 40, held_out="every:1")
    Image.fromarray(np.zeros((H, W, 4), np.uint8)).save(photos / "b.png")
    with pytest.raises(PhotoError, match=r"b.png: the mask \(alpha\) is empty"):
        load_photo_set(str(photos), str(tmp_path / "model"), 40)
    (photos / "b.png").unlink()
    with pytest.raises(CalibrationError, match=r"model does not match the photos .*\['b.png'\]"):
        load_photo_set(str(photos), str(tmp_path / "model"), 40)


@pytest.mark.skipif(shared_data("middlebury", "templeSparseRing") is None, reason="Middlebury data not found")
def test_temple_photo_set():
    """The real temple set: 16 views, the odd ones held out, 95% of each mask inside the rectangle
    around the projected bounding box (the threshold also picks up a few bright background specks)."""
    from penumbra.scenes.photo_set import load_photo_set
    data = shared_data("middlebury", "templeSparseRing")
    views = load_photo_set(data, f"{data}/templeSR_par.txt", 64, mask="threshold:0.2", held_out="every:2")
    assert len(views) == 16 and sum(pv.held_out for pv in views) == 8 and views[1].held_out
    bbox = np.array([[-0.073568, 0.021728, -0.012445], [0.028855, 0.181892, 0.062736]])
    X = np.array([[bbox[i, 0], bbox[j, 1], bbox[k, 2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    for pv in views:
        fm = film_map(pv.view, 64)
        corners = fm.photo_to_film(pv.view.project(X))
        yy, xx = np.nonzero(pv.mask > 0.5)
        assert pv.mask.shape == (fm.height, 64) and len(xx) > 50
        (x0, y0), (x1, y1) = corners.min(axis=0) - 1, corners.max(axis=0) + 1
        assert np.mean((xx + 0.5 > x0) & (xx + 0.5 < x1) & (yy + 0.5 > y0) & (yy + 0.5 < y1)) > 0.95
