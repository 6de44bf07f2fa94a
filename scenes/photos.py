"""Photographs and object masks of calibrated views, resampled onto Mitsuba films.

**Masks** (``mask=`` option, one rule for all views):

* ``"alpha"``: the image's alpha channel, object where alpha > 0.5 (error if an image has none);
* ``"folder:PATH"``: one mask image per photo in folder PATH, matched by the photo's relative name
  (the same name, or the same stem with any image extension, also in the folder's top level); white
  (mean of the colour channels > 0.5, or alpha when the mask has alpha) is the object. It must have
  the photo's size;
* ``"threshold:T"``: object where the brightest sRGB channel exceeds T in [0, 1] (an object in
  front of a dark background, as the Middlebury sets);
* ``"border"`` or ``"border:T"``: a background model from the image border: the background colour
  b is the per-channel median of a band of ``max(1, round(0.02 min(w, h)))`` pixels along the four
  edges, the distance of a pixel is ``d = max_c |I_c - b_c|`` (sRGB), and the object is where
  d > max(T, 4 median_border(d)) (T = 0.1 by default; the second term adapts to a noisy background).
  Assumes the object does not touch the image border.

**Films**: :func:`film_image` resamples a photo (or mask) onto the film of
:func:`~scenes.view_sensor.film_map`, undistorting it on the way: each film pixel averages
``n x n`` sub-samples spread evenly over it, each read from the photo by bilinear interpolation
(a tent 2 photo pixels wide) at ``photo_pixels(film_to_photo(.))`` (:mod:`~scenes.undistort`);
n = ceil(photo pixels per film pixel / 2), so sub-samples lie at most 2 photo pixels apart and every
photo pixel under the film pixel contributes. A mask becomes a coverage fraction in [0, 1].
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from .calibrated_view import CalibratedView
from .errors import PhotoError
from .image_files import find_image, read_image
from .undistort import photo_pixels, sample_image
from .view_sensor import FilmMap

MASK_RULES = ("alpha", "folder:PATH", "threshold:T", "border[:T]")
BORDER_FRACTION = 0.02
BORDER_NOISE_FACTOR = 4.0


def parse_mask_option(spec: str) -> tuple[str, object]:
    """(rule, argument) of a ``mask=`` option; see the module docstring."""
    rule, _, arg = str(spec).partition(":")
    try:
        if rule == "alpha" and not arg:
            return "alpha", None
        if rule == "folder" and arg:
            return "folder", arg
        if rule == "threshold" and arg and 0.0 <= float(arg) <= 1.0:
            return "threshold", float(arg)
        if rule == "border" and (not arg or float(arg) >= 0.0):
            return "border", float(arg) if arg else 0.1
    except ValueError:
        pass
    raise PhotoError(f"mask option {spec!r}: expected one of {', '.join(MASK_RULES)} (T a number in [0, 1])")


def border_mask(colour: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """Object mask (H, W) bool of an sRGB image (H, W, 3) from its border's background colour."""
    h, w = colour.shape[:2]
    band = max(1, int(round(BORDER_FRACTION * min(w, h))))
    edge = np.zeros((h, w), bool)
    edge[:band], edge[-band:], edge[:, :band], edge[:, -band:] = True, True, True, True
    background = np.median(colour[edge], axis=0)
    d = np.abs(colour - background).max(axis=2)
    return d > max(float(threshold), BORDER_NOISE_FACTOR * float(np.median(d[edge])))


def photo_mask(colour: np.ndarray, alpha, spec: str, name: str, path: str = "") -> np.ndarray:
    """Object mask (H, W) bool of photo ``name`` (sRGB ``colour``, ``alpha`` or None, read from
    ``path``) by the rule ``spec``."""
    rule, arg = parse_mask_option(spec)
    h, w = colour.shape[:2]
    if rule == "alpha":
        if alpha is None:
            raise PhotoError(f"{path or name}: mask='alpha' but the image has no alpha channel")
        return alpha > 0.5
    if rule == "threshold":
        return colour.max(axis=2) > arg
    if rule == "border":
        return border_mask(colour, arg)
    found = find_image(arg, name) or find_image(arg, os.path.basename(name))
    if found is None:
        raise PhotoError(f"mask folder {arg}: no mask for image {name!r} (tried the same name and stem with image "
                         f"extensions)")
    m_colour, m_alpha = read_image(found)
    if m_colour.shape[:2] != (h, w):
        raise PhotoError(f"mask {found} is {m_colour.shape[1]}x{m_colour.shape[0]}, its photo {name!r} is {w}x{h}")
    return (m_alpha if m_alpha is not None else m_colour.mean(axis=2)) > 0.5


def film_image(image: np.ndarray, view: CalibratedView, film: FilmMap, supersample: int | None = None) -> np.ndarray:
    """Photo (or mask) ``image`` of ``view`` resampled, undistorted, onto ``film`` (float32,
    (H, W) or (H, W, C)); film pixels seeing outside the photo are 0."""
    n = supersample or max(1, math.ceil(0.5 * max(1.0 / film.scale_x, 1.0 / film.scale_y) - 1e-9))
    offsets = (np.arange(n) + 0.5) / n
    y = (np.arange(film.height)[:, None] + offsets[None, :]).ravel()
    x = (np.arange(film.width)[:, None] + offsets[None, :]).ravel()
    yy, xx = np.meshgrid(y, x, indexing="ij")
    src = photo_pixels(view, film.film_to_photo(np.stack([xx, yy], axis=-1)))
    values = sample_image(np.asarray(image, np.float32), src)
    shape = (film.height, n, film.width, n) + values.shape[2:]
    return values.reshape(shape).mean(axis=(1, 3)).astype(np.float32)


@dataclass
class PhotoView:
    """One calibrated photograph on its film: the ``view``, its Mitsuba ``sensor`` dictionary, the
    ``image`` (H, W, 3) (linear RGB by default), the object ``mask`` coverage (H, W) in [0, 1], and
    whether it is ``held_out`` from training."""
    view: CalibratedView
    sensor: dict
    image: np.ndarray
    mask: np.ndarray
    held_out: bool
