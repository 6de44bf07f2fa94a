"""Adam (Kingma & Ba 2015) over a dictionary of named Dr.Jit arrays, with per-parameter learning
rates and a serialisable state (for checkpoints). Works for any integrator's parameters: the
optimizer only sees latent arrays and their gradients.
"""
from __future__ import annotations

import drjit as dr
import numpy as np

from penumbra.renderer import checks
from penumbra.renderer.arrays import from_numpy, to_numpy


class Adam:
    def __init__(self, lr: float = 1e-2, beta_1: float = 0.9, beta_2: float = 0.999, eps: float = 1e-8):
        checks.positive("Adam(lr=...)", lr)
        checks.number("Adam(beta_1=...)", beta_1, 0.0, 1.0, open_hi=True)
        checks.number("Adam(beta_2=...)", beta_2, 0.0, 1.0, open_hi=True)
        checks.positive("Adam(eps=...)", eps)
        self.lr, self.beta_1, self.beta_2, self.eps = lr, beta_1, beta_2, eps
        self.m, self.v, self.t = {}, {}, {}

    def step(self, x: dict, grad: dict, lr: dict | None = None, scale: float = 1.0) -> dict:
        """Return new (detached, evaluated) values for every key of ``grad``.

        ``lr`` optionally maps names to their own learning rate; ``scale`` is the schedule's multiplier.
        """
        out = {}
        for k, g in grad.items():
            g = dr.detach(g)
            if k not in self.m:
                self.m[k], self.v[k], self.t[k] = dr.zeros(type(g), dr.shape(g)), dr.zeros(type(g), dr.shape(g)), 0
            self.t[k] += 1
            t = self.t[k]
            self.m[k] = self.beta_1 * self.m[k] + (1 - self.beta_1) * g
            self.v[k] = self.beta_2 * self.v[k] + (1 - self.beta_2) * dr.square(g)
            rate = (lr or {}).get(k, self.lr) * scale
            rate_t = float(rate * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t))
            out[k] = dr.detach(x[k]) - rate_t * self.m[k] / self._denominator(k)
            dr.schedule(out[k], self.m[k], self.v[k])
        dr.eval()
        return out

    def _denominator(self, k):
        """sqrt(v̂) + eps, per entry (subclasses may pool the second moment)."""
        return dr.sqrt(self.v[k]) + self.eps

    def state_dict(self) -> dict:
        return {"m": {k: to_numpy(v) for k, v in self.m.items()},
                "v": {k: to_numpy(v) for k, v in self.v.items()}, "t": dict(self.t)}

    def load_state_dict(self, state: dict, like: dict):
        """Restore moments saved by :meth:`state_dict`; ``like`` gives each entry's Dr.Jit type."""
        self.m = {k: from_numpy(like[k], a) for k, a in state["m"].items()}
        self.v = {k: from_numpy(like[k], a) for k, a in state["v"].items()}
        self.t = {k: int(t) for k, t in state["t"].items()}
