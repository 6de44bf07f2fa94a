"""Physically based path tracing with visibility-aware gradients (registers Mitsuba plugins)."""
from penumbra import renderer

renderer.ensure_variant()

from .edge_sampling import EdgeSamplingIntegrator  # noqa: E402,F401  (registers "edge_sampling")
from .warped_area import WarpedAreaIntegrator  # noqa: E402,F401  (registers "warped_area")
