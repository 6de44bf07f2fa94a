"""The differentiable 2D vector-graphics rasterizer (Penumbra's answer to diffvg, Li, Lukáč,
Gharbi and Ragan-Kelley, SIGGRAPH Asia 2020): tessellation of fills and strokes, tile binning,
winding-number coverage, source-over compositing, and boundary-sampled gradients."""
from .raster import FILTERS, rasterize

__all__ = ["FILTERS", "rasterize"]
