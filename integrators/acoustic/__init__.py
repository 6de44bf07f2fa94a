"""Room acoustics: image sources (shoebox lattice, polyhedral with ray-traced visibility), fractional-delay
RIR synthesis, octave filter bank, and differentiable ISO 3382-1 / IEC 60268-16 metrics."""
from .batch import rirs
from .conventions import PRESETS, Conventions, conventions
from .rir import RIR, default_params, rir, simulate

__all__ = ["PRESETS", "Conventions", "conventions", "RIR", "default_params", "rir", "rirs", "simulate"]
