"""Film helpers shared by the boundary terms of both estimators: the reconstruction filter's
integral, the offset of one-sided film samples, and the random streams of every term.

Each term draws its samples from its own independent stream, ``seed ^ SALTS[term]`` (plus
``0x10000`` per extra pass for multi-pass terms), so that changing one term's sample count never
changes another term's random numbers, and the interior (``prb``, seeded with ``seed`` itself)
stays uncorrelated with all of them.
"""
from __future__ import annotations

import mitsuba as mi
import numpy as np

# Offset of the two one-sided rays, in pixels. It must be smaller than the projected width of any
# face next to an edge: with 1e-3 the rays beside a crease next to a near-edge-on sliver face
# crossed the silhouette too and added its jump (+2.3 % image sum on a flat icosphere(2) moving in
# depth; 0.3 % at 1e-5). Floor: a few float32 ulps of the normalised film position.
EPS_PIXELS = 1e-5

# Seed salts: one random stream per boundary term.
SALTS = {
    "primary_pilot": 0x5EED,         # edge sampling, primary edges: length-proportional pilot
    "primary_guided": 0x6A1D,        # edge sampling, primary edges: guided samples
    "secondary": 0x2ED6E,            # edge sampling, secondary edges (camera paths)
    "terminator": 0x7E4A,            # shading-terminator boundary
    "emitter_motion": 0x5EE1,        # NEE over moving lights
    "camera_interior": 0xCA3E7A,     # camera rotation / fov: interior of the film warp
    "camera_border": 0xB0DE5,        # camera rotation / fov: film border
    "warped_film": 0x3A9F,           # warped-area sampling: film samples
    "warped_secondary": 0x5EC0D,     # warped-area sampling: secondary (camera paths)
    "warped_pixel_border": 0xB0B0,   # warped-area sampling: pixel-border flux (box filter)
    "shader_edges": 0x5AD3,          # procedural shaders' own discontinuities (line samples)
    "shader_scatter": 0x5CA7,        # the same seen through a glossy or diffuse bounce (uv line samples)
}
PASS_STRIDE = 0x10000


def stream_seed(seed: int, term: str, pass_index: int = 0) -> int:
    """The seed of ``term``'s random stream for a render seeded with ``seed``."""
    return (int(seed) ^ SALTS[term]) + PASS_STRIDE * int(pass_index)


def term_sampler(seed: int, term: str, lanes: int, pass_index: int = 0):
    """An ``independent`` sampler seeded with :func:`stream_seed` for ``lanes`` lanes."""
    sampler = mi.load_dict({"type": "independent"})
    sampler.seed(stream_seed(seed, term, pass_index), lanes)
    return sampler


def one_sided_offset(width: int, height: int) -> float:
    """Offset in pixels of one-sided film samples on a ``width`` x ``height`` film:
    :data:`EPS_PIXELS`, or a few float32 ulps of the normalised film position if larger."""
    return max(EPS_PIXELS, 4.0 * max(width, height) * 2.0 ** -24)


def filter_integral(rfilter) -> float:
    """∫ k(x) dx over R² of the (separable) reconstruction filter, as Mitsuba evaluates it."""
    r = float(rfilter.radius())
    if rfilter.is_box_filter():
        return (2 * r) ** 2
    xs = np.linspace(-r, r, 101)  # smooth filters: a coarse grid is enough
    k1 = np.trapezoid(np.array(rfilter.eval(mi.Float(xs)), dtype=np.float64), xs)
    return float(k1 * k1)
