"""Penumbra's optimizer layer, shared by the path tracer, the vector rasterizer and the acoustic
integrator: transforms (bounds), Adam, learning-rate schedules, losses, item-sum objectives and the optimization
loop."""
from .adam import Adam
from .items import ItemObjective, mean_weight
from .loop import CheckpointError, NonFiniteError, Result, Variable, optimize, plot_loss
from .transforms import Box, Identity, Positive, Transform, Unit
from . import losses, schedules

__all__ = ["Adam", "ItemObjective", "mean_weight", "CheckpointError", "NonFiniteError", "Result", "Variable",
           "optimize", "plot_loss", "Box", "Identity", "Positive", "Transform", "Unit", "losses", "schedules"]
