"""One gradient-check harness for the three engines.

- :mod:`.report`: the one report type (:class:`GradReport`) and tolerance model (:class:`Tolerance`);
- :mod:`.cache`: finite-difference references cached on disk, keyed by a hash of the configuration;
- :mod:`.finite_differences`: central differences with a stated step, of a NumPy/Python function
  (vector and acoustic references) or of a Mitsuba reference renderer (path tracer);
- :mod:`.autodiff`: forward- and reverse-mode directional derivatives of a Dr.Jit loss, and the
  Mitsuba integrator counterparts (``render_forward`` / ``render_backward``);
- :mod:`.coverage`: exact derivative images of a convex object over a constant background (box filter);
- :mod:`.adjoint`: the adjoint test ``<J v, w> == <v, J^T w>``;
- :mod:`.shoebox_reference`: the independent float64 NumPy model of a shoebox room's impulse response.
"""
from .adjoint import assert_adjoint, path_adjoint_test
from .autodiff import attached_theta, directional_derivatives, forward_grad, offset, reverse_grad
from .cache import FDCache, code_version
from .coverage import exact_derivative
from .finite_differences import central_differences, fd_image, scene_fingerprint
from .report import GradReport, Tolerance, compare

__all__ = ["GradReport", "Tolerance", "compare", "FDCache", "code_version", "central_differences", "fd_image",
           "scene_fingerprint", "exact_derivative", "attached_theta", "directional_derivatives", "forward_grad", "offset",
           "reverse_grad", "assert_adjoint", "path_adjoint_test"]
