"""Parameter transforms: the optimizer works on an unconstrained *latent* variable and the scene
sees ``forward(latent)``. Bounds therefore hold by construction (no clamping that kills gradients).

- :class:`Identity`  value = latent
- :class:`Positive`  value = exp(latent)                    (radiance, widths, scales; log-space steps)
- :class:`Box`       value = lo + (hi - lo) * sigmoid(latent)  (box bounds; :data:`Unit` = [0, 1] colours)
"""
from __future__ import annotations

import drjit as dr


class Transform:
    name = "transform"

    def forward(self, latent):
        raise NotImplementedError

    def inverse(self, value):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class Identity(Transform):
    name = "identity"

    def forward(self, latent):
        return latent

    def inverse(self, value):
        return value


class Positive(Transform):
    """value = exp(latent) > 0. ``floor`` keeps the inverse finite at value 0."""
    name = "positive"

    def __init__(self, floor: float = 1e-8):
        self.floor = floor

    def forward(self, latent):
        return dr.exp(latent)

    def inverse(self, value):
        return dr.log(dr.maximum(value, self.floor))


class Box(Transform):
    """value in the open interval (lo, hi) through a logistic sigmoid."""
    name = "box"

    def __init__(self, lo: float = 0.0, hi: float = 1.0, margin: float = 1e-4):
        if not hi > lo:
            raise ValueError(f"Box transform needs lo < hi, got lo={lo}, hi={hi}")
        self.lo, self.hi, self.margin = float(lo), float(hi), margin

    def forward(self, latent):
        return self.lo + (self.hi - self.lo) * dr.rcp(1.0 + dr.exp(-latent))

    def inverse(self, value):
        t = (value - self.lo) / (self.hi - self.lo)
        t = dr.clip(t, self.margin, 1.0 - self.margin)
        return dr.log(t / (1.0 - t))

    def __repr__(self):
        return f"Box({self.lo}, {self.hi})"


Unit = Box(0.0, 1.0)
