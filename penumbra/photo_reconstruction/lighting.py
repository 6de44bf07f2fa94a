"""Lighting recovered by a photo reconstruction with ``lighting="envmap"``: a low-resolution
environment map (``H = W / 2`` rows of Mitsuba's ``envmap`` latitude-longitude layout) whose texels
are optimized with the shading loss, regularized by a smoothness prior, and written as EXR + PNG.

Prior: the mean squared difference of log radiance between neighbouring texels (horizontal neighbours
wrap around), times a weight; on the log so that it does not depend on the light's overall scale.
Mitsuba stores an environment map with one wrapped column on each side (``W + 2`` columns):
:func:`envmap_data` builds that layout from the optimized ``H x W`` texels.
"""
from __future__ import annotations

import numpy as np


def initial_envmap(width: int, radiance) -> np.ndarray:
    """Uniform environment map (``width / 2``, ``width``, 3) of RGB ``radiance``."""
    w = int(width)
    if w < 4 or w % 2:
        raise ValueError(f"envmap width must be an even integer >= 4, got {width!r}")
    return np.tile(np.asarray(radiance, np.float64).reshape(1, 1, 3), (w // 2, w, 1))


def padded_columns(width: int) -> np.ndarray:
    """Source column of each of the ``width + 2`` columns of Mitsuba's envmap data."""
    return np.concatenate([[width - 1], np.arange(width), [0]])


def envmap_data(env):
    """Mitsuba's ``envmap`` data (H, W + 2, 3) of the texels ``env`` (Dr.Jit tensor (H, W, 3)), through
    a gather (differentiable)."""
    import drjit as dr
    import mitsuba as mi
    H, W, C = env.shape
    rows = np.arange(H)[:, None, None]
    cols = padded_columns(W)[None, :, None]
    idx = ((rows * W + cols) * C + np.arange(C)[None, None, :]).ravel()
    return mi.TensorXf(dr.gather(mi.Float, env.array, mi.UInt32(idx.astype(np.uint32))), (H, W + 2, C))


def smoothness(env):
    """Mean squared difference of log radiance between horizontally (wrapping) and vertically
    neighbouring texels of ``env`` (Dr.Jit tensor (H, W, 3))."""
    import drjit as dr
    import mitsuba as mi
    H, W, C = env.shape
    log = dr.log(dr.maximum(env.array, 1e-6))
    i, j, c = np.meshgrid(np.arange(H), np.arange(W), np.arange(C), indexing="ij")
    here = ((i * W + j) * C + c)
    right = ((i * W + (j + 1) % W) * C + c)
    down = (((i + 1) * W + j) * C + c)[:-1]
    a = mi.UInt32(np.concatenate([here.ravel(), here[:-1].ravel()]).astype(np.uint32))
    b = mi.UInt32(np.concatenate([right.ravel(), down.ravel()]).astype(np.uint32))
    d = dr.gather(mi.Float, log, a) - dr.gather(mi.Float, log, b)
    return dr.mean(d * d)


def write_envmap(path_stem: str, env) -> list[str]:
    """Write the environment map ``env`` (H, W, 3), linear radiance: ``<stem>.exr`` (float, loadable as
    Mitsuba's ``envmap``) and ``<stem>.png`` (sRGB preview scaled by its maximum). Returns the paths."""
    from penumbra import renderer
    E = np.ascontiguousarray(env, np.float32)
    renderer.write_image(path_stem + ".exr", E)
    renderer.write_image(path_stem + ".png", E / max(float(E.max()), 1e-12))
    return [path_stem + ".exr", path_stem + ".png"]
