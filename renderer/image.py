"""Image I/O: linear RGB inside, sRGB 8-bit PNG (or linear EXR) at the edges.

PNG/JPEG go through imageio with the sRGB transfer curve (IEC 61966-2-1); EXR/HDR go through
Mitsuba's ``Bitmap`` (linear, float32). Images are NumPy arrays of shape (H, W, C).
"""
from __future__ import annotations

import os

import numpy as np

from .arrays import to_numpy

_LINEAR_FORMATS = (".exr", ".hdr", ".pfm")


def srgb_to_linear(x):
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x):
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, None)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def _as_image(img) -> np.ndarray:
    if type(img).__name__ == "Bitmap":
        img = np.array(img)
    a = to_numpy(img).astype(np.float32)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ValueError(f"an image must have shape (H, W) or (H, W, C); got {a.shape}")
    return a


def write_image(path, img, srgb: bool = True) -> str:
    """Write a linear image (NumPy, ``mi.TensorXf`` or ``mi.Bitmap``) to ``path``.

    ``.png``/``.jpg``: clipped to [0, 1], sRGB-encoded (``srgb=False`` writes the values as they
    are), 8 bit. ``.exr``/``.hdr``: linear float32 via Mitsuba.
    """
    path = os.fspath(path)
    a = _as_image(img)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if path.lower().endswith(_LINEAR_FORMATS):
        import mitsuba as mi
        from .backend import ensure_variant
        ensure_variant()
        mi.Bitmap(a).write(path)
        return path
    import imageio.v3 as iio
    if srgb:
        rgb = linear_to_srgb(a[..., :3])
        a = rgb if a.shape[2] < 4 else np.concatenate([rgb, a[..., 3:]], 2)
    u8 = (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)
    iio.imwrite(path, u8[..., 0] if u8.shape[2] == 1 else u8)
    return path


def read_image(path, linear: bool = True) -> np.ndarray:
    """Read an image as float32 (H, W, C). 8-bit files are decoded from sRGB unless ``linear=False``."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"image file not found: {path}")
    if path.lower().endswith(_LINEAR_FORMATS):
        import mitsuba as mi
        from .backend import ensure_variant
        ensure_variant()
        return np.array(mi.Bitmap(path), dtype=np.float32)
    import imageio.v3 as iio
    try:
        a = iio.imread(path)
    except Exception as e:
        raise ValueError(f"cannot read image {path}: {e}") from e
    scale = 65535.0 if a.dtype == np.uint16 else 255.0 if a.dtype == np.uint8 else 1.0
    a = a.astype(np.float32) / scale
    if a.ndim == 2:
        a = a[..., None]
    if linear:
        a = np.concatenate([srgb_to_linear(a[..., :3]), a[..., 3:]], 2) if a.shape[2] == 4 else srgb_to_linear(a)
    return a
