"""The harness's one report type and tolerance model.

:func:`compare` measures a derivative ``g`` (an image, or a vector of directional derivatives)
against a reference ``r`` (finite differences of an independent model) and returns a
:class:`GradReport`:

- ``mean_rel``: mean over entries of ``|g - r| / max(|r|, floor)``, where
  ``floor = floor_fraction * max|r|`` (a floored denominator, so entries where the reference is ~0
  do not dominate; ``floor_fraction`` 0.05 by default, in the spirit of Mitsuba's own AD tests).
  Being floored, it under-reports errors on sparse derivative images, hence also:
- ``rel_l2``: ``||g - r|| / ||r||``;
- ``sum_rel``: ``|sum g - sum r| / |sum r|``, the error of the image-sum derivative;
- ``sum_rel_l1``: ``|sum g - sum r| / sum |r|``, the same error relative to the reference's L1
  norm, for perturbations whose true image sum is a near-cancelling difference (in-plane motion);
- ``sign``: fraction of significant reference entries (``|r| > sign_threshold * max|r|``) whose
  sign ``g`` reproduces.

:class:`Tolerance` names the thresholds a test asserts; :meth:`GradReport.check` asserts them all
and names each one that fails. Besides the aggregate thresholds above, ``rtol``/``atol``/``rtol_max``
bound every entry: ``|g - r| <= atol + rtol * |r| + rtol_max * max|r|`` (``numpy.allclose`` is
``rtol``/``atol``; a bound relative to the largest reference entry is ``rtol_max``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """Named thresholds; ``None`` (the default) leaves a measure unchecked."""
    mean_rel: float | None = None
    rel_l2: float | None = None
    sum_rel: float | None = None
    sum_rel_l1: float | None = None
    sign: float | None = None           # lower bound on the sign agreement
    rtol: float | None = None           # per entry, relative to |r|
    atol: float | None = None           # per entry, absolute
    rtol_max: float | None = None       # per entry, relative to max|r|

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None and not (np.isfinite(v) and v >= 0):
                raise ValueError(f"Tolerance.{f.name} must be a finite number >= 0, got {v!r}")


@dataclass
class GradReport:
    mean_rel: float
    rel_l2: float
    sum_rel: float
    sign: float
    sum_grad: float
    sum_ref: float
    sum_rel_l1: float
    max_err: float                       # max |g - r|
    max_ref: float                       # max |r|
    grad: np.ndarray = field(repr=False, compare=False, default=None)
    ref: np.ndarray = field(repr=False, compare=False, default=None)

    def __str__(self):
        return (f"mean rel. err {100 * self.mean_rel:.2f}%, rel. L2 err {100 * self.rel_l2:.2f}%, "
                f"image-sum err {100 * self.sum_rel:.2f}% (sum {self.sum_grad:.5g} vs ref {self.sum_ref:.5g}), "
                f"sign agreement {100 * self.sign:.1f}%, max |err| {self.max_err:.4g} (max |ref| {self.max_ref:.4g})")

    def failures(self, tol: Tolerance) -> list[str]:
        """The thresholds of ``tol`` that this report violates, each as ``"name: value vs bound"``."""
        out = []
        for name in ("mean_rel", "rel_l2", "sum_rel", "sum_rel_l1"):
            bound = getattr(tol, name)
            if bound is not None and not getattr(self, name) <= bound:
                out.append(f"{name}: {getattr(self, name):.4g} > {bound:.4g}")
        if tol.sign is not None and not self.sign >= tol.sign:
            out.append(f"sign: {self.sign:.4g} < {tol.sign:.4g}")
        if tol.rtol is not None or tol.atol is not None or tol.rtol_max is not None:
            bound = (tol.atol or 0.0) + (tol.rtol or 0.0) * np.abs(self.ref) + (tol.rtol_max or 0.0) * self.max_ref
            bad = ~(np.abs(self.grad - self.ref) <= bound)
            if bad.any():
                i = np.flatnonzero(bad.ravel())
                out.append(f"entrywise: {len(i)} of {bad.size} entries outside atol {tol.atol} + rtol {tol.rtol} |r| "
                           f"+ rtol_max {tol.rtol_max} max|r| (first: grad {self.grad.ravel()[i[0]]:.6g} vs ref "
                           f"{self.ref.ravel()[i[0]]:.6g})")
        return out

    def check(self, tol: Tolerance, what: str = "") -> "GradReport":
        """Assert every threshold of ``tol``; the message names the failing ones and the report."""
        bad = self.failures(tol)
        assert not bad, f"{what + ': ' if what else ''}{'; '.join(bad)} [{self}]"
        return self


def compare(grad, ref, floor_fraction: float = 0.05, sign_threshold: float = 0.2) -> GradReport:
    """Measure ``grad`` against the reference ``ref`` (same shape); see the module docstring."""
    g = np.asarray(grad, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    if g.shape != r.shape:
        raise ValueError(f"gradient shape {g.shape} != reference shape {r.shape}")
    scale = float(np.max(np.abs(r))) if r.size else 0.0
    if scale == 0:
        raise ValueError("reference derivative is identically zero: the perturbation does not affect the output")
    rel = np.abs(g - r) / np.maximum(np.abs(r), floor_fraction * scale)
    sg, sr = float(g.sum()), float(r.sum())
    sig = np.abs(r) > sign_threshold * scale
    sign = float(np.mean(np.sign(g[sig]) == np.sign(r[sig]))) if sig.any() else 1.0
    return GradReport(mean_rel=float(np.mean(rel)),
                      rel_l2=float(np.linalg.norm(g - r) / np.linalg.norm(r)),
                      sum_rel=abs(sg - sr) / max(abs(sr), 1e-12), sign=sign, sum_grad=sg, sum_ref=sr,
                      sum_rel_l1=abs(sg - sr) / float(np.abs(r).sum()),
                      max_err=float(np.max(np.abs(g - r))), max_ref=scale, grad=g, ref=r)
