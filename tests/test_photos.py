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
