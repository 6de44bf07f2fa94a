"""Reading photographs and masks from disk: size from the header, pixels as floats, name lookup.

Pixel values are returned as stored (sRGB-encoded 8/16-bit images scaled to [0, 1]); converting to
linear radiance is the caller's choice (:func:`penumbra.renderer.srgb_to_linear`).
"""
from __future__ import annotations

import os

import numpy as np

from .errors import PhotoError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".JPG", ".JPEG", ".PNG", ".tif", ".tiff", ".bmp")


def find_image(folder: str, name: str) -> str | None:
    """Path of image ``name`` in ``folder``: the exact relative path, else the same name with any
    of :data:`IMAGE_EXTENSIONS` in place of (or added to) its extension; None if none exists."""
    exact = os.path.join(folder, name)
    if os.path.isfile(exact):
        return exact
    for stem in dict.fromkeys((os.path.splitext(exact)[0], exact)):
        for ext in IMAGE_EXTENSIONS:
            if os.path.isfile(stem + ext):
                return stem + ext
    return None


def image_size(path: str, where: str = "") -> tuple[int, int]:
    """(width, height) of an image file, from its header."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError) as e:
        raise PhotoError(f"{where + ': ' if where else ''}cannot read image {path} ({e})") from None


def read_image(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(colour (H, W, 3) float32 in [0, 1] as stored, alpha (H, W) float32 in [0, 1] or None)."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I"):
                a = np.asarray(im, np.float32) / 65535.0  # 16-bit grey (PIL opens 16-bit PNGs as I or I;16)
                return np.repeat(a[..., None], 3, axis=2), None
            has_alpha = "A" in im.getbands() or (mode == "P" and "transparency" in im.info)
            rgba = np.asarray(im.convert("RGBA" if has_alpha else "RGB"), np.float32) / 255.0
    except (OSError, ValueError) as e:
        raise PhotoError(f"cannot read image {path} ({e})") from None
    return rgba[..., :3], (rgba[..., 3] if has_alpha else None)
