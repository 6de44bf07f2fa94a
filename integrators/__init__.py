"""Penumbra's integrators. Importing this package registers the path-tracing plugins with Mitsuba
(``edge_sampling``); the vector and acoustic integrators are imported on demand."""
from . import path  # noqa: F401
