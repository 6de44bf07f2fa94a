"""The differentiable 2D vector-graphics rasterizer (Penumbra's answer to diffvg, Li, Lukáč,
Gharbi and Ragan-Kelley, SIGGRAPH Asia 2020), in stages: compile -> tessellate -> bin -> sample
-> composite -> boundary (see :mod:`.raster`)."""
from .raster import FILTERS, rasterize

__all__ = ["FILTERS", "rasterize"]
