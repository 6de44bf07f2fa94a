"""A calibrated photo set, ready for reconstruction: Mitsuba sensors, target images and masks per view.

:func:`load_photo_set` reads the calibration (any format of :mod:`~scenes.calibration`), checks it
against the photo folder, reads each photograph, computes its object mask (:mod:`~scenes.photos`
rules), and resamples photo and mask, undistorted, onto the view's film (:mod:`~scenes.view_sensor`:
``width`` pixels wide, square pixels, principal point kept). Views are split into training and
held-out views by the ``held_out`` option:

* ``"none"``: all views train;
* ``"every:N"``: views N-1, 2N-1, ... (in calibration order) are held out (``every:2``: the odd views);
* ``"names:A,B,..."``: the named images are held out;
* a list of view indices.
"""
from __future__ import annotations

from .calibration import check_photos, read_calibration
from .errors import PhotoError
from .image_files import read_image
from .photos import PhotoView, film_image, parse_mask_option, photo_mask
from .view_sensor import film_map, sensor_dict


def held_out_indices(spec, names: list[str]) -> set[int]:
    """Indices of the held-out views among ``names`` by the ``held_out`` option (module docstring)."""
    n = len(names)
    if isinstance(spec, (list, tuple, set)):
        bad = [i for i in spec if not isinstance(i, int) or not 0 <= i < n]
        if bad:
            raise PhotoError(f"held_out: view indices must lie in [0, {n}), got {bad}")
        return set(spec)
    rule, _, arg = str(spec).partition(":")
    if rule == "none" and not arg:
        return set()
    if rule == "every" and arg.isdigit() and int(arg) >= 2:
        k = int(arg)
        return {i for i in range(n) if i % k == k - 1}
    if rule == "names" and arg:
        wanted = [a.strip() for a in arg.split(",") if a.strip()]
        missing = [a for a in wanted if a not in names]
        if missing:
            raise PhotoError(f"held_out: images {missing} are not in the calibration")
        return {names.index(a) for a in wanted}
    raise PhotoError(f"held_out option {spec!r}: expected 'none', 'every:N' (N >= 2), 'names:A,B' or a list of "
                     f"view indices")


def load_photo_set(photos: str, cameras: str, width: int, height: int | None = None, mask: str = "alpha",
                   held_out="every:2", spp: int = 4, linear: bool = True, near_clip: float = 0.01,
                   far_clip: float = 1e4) -> list[PhotoView]:
    """One :class:`~scenes.photos.PhotoView` per calibrated photo of folder ``photos`` with the
    calibration ``cameras``: a ``perspective`` sensor dictionary on a film ``width`` pixels wide
    (height by :func:`~scenes.view_sensor.film_map`), the photo on that film (linear RGB when
    ``linear``, else as stored), the mask coverage, and whether the view is held out. Raises
    :class:`~scenes.errors.CalibrationError` when the calibration does not match the photos and
    :class:`~scenes.errors.PhotoError` for unreadable images, masks of the wrong size, or a view
    whose mask is empty (it does not see the object)."""
    from penumbra.renderer import srgb_to_linear
    parse_mask_option(mask)
    views = read_calibration(cameras, photos)
    paths = check_photos(views, photos, cameras)
    held = held_out_indices(held_out, [v.name for v in views])
    if len(held) == len(views):
        raise PhotoError(f"held_out={held_out!r} holds out all {len(views)} views: nothing is left to train on")
    out = []
    for i, (v, path) in enumerate(zip(views, paths)):
        colour, alpha = read_image(path)
        m = photo_mask(colour, alpha, mask, v.name, path)
        if not m.any():
            raise PhotoError(f"{path}: the mask ({mask}) is empty: the view does not see the object")
        fm = film_map(v, width, height)
        image = film_image(srgb_to_linear(colour) if linear else colour, v, fm)
        cover = film_image(m.astype("float32"), v, fm)
        if cover.max() <= 0.0:
            raise PhotoError(f"{path}: the object lies outside the {fm.width}x{fm.height} film of this view")
        sensor = sensor_dict(v, fm.width, fm.height, spp=spp, near_clip=near_clip, far_clip=far_clip)
        out.append(PhotoView(v, sensor, image, cover, i in held))
    return out
