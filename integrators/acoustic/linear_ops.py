"""Linear operators implemented in NumPy/SciPy (FFT filter banks, IIR high-pass, cumulative sums) made
differentiable for Dr.Jit through :class:`drjit.CustomOp`: the forward derivative applies the operator,
the reverse derivative applies its exact adjoint."""
from __future__ import annotations

import drjit as dr
import numpy as np


class _LinearOp(dr.CustomOp):
    def eval(self, x, apply, adjoint):
        self.apply, self.adjoint, self.tp = apply, adjoint, type(x)
        return self.tp(apply(np.asarray(x, dtype=np.float64)))

    def forward(self):
        self.set_grad_out(self.tp(self.apply(np.asarray(self.grad_in("x"), dtype=np.float64))))

    def backward(self):
        self.set_grad_in("x", self.tp(self.adjoint(np.asarray(self.grad_out(), dtype=np.float64))))

    def name(self):
        return "LinearOp"


def linear_op(x, apply, adjoint):
    """y = A x for a Dr.Jit float array ``x``; ``apply(v)`` = A v and ``adjoint(w)`` = A^T w on NumPy vectors."""
    return dr.custom(_LinearOp, x, apply, adjoint)


def reverse_cumsum(x):
    """y[n] = sum_{m >= n} x[m] (Schroeder backward integration); adjoint: forward cumulative sum."""
    return linear_op(x, lambda v: np.cumsum(v[::-1])[::-1], np.cumsum)
