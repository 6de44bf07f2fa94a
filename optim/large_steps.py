"""Large Steps for mesh vertex positions (Nicolet, Jacobson, Jakob 2021, "Large Steps in Inverse
Rendering of Geometry", ACM TOG 40(6)).

Gradients of a rendering loss w.r.t. vertex positions x (V, 3) are sparse and noisy: a plain
gradient step crumples the mesh. The paper re-parametrises the vertices as

    u = M x,    M = I + λ L                                         (Eq. 6)

with L the mesh Laplacian (here the combinatorial one, L = D - A with A the vertex adjacency and D
its degrees, or the cotangent one), and optimizes u. By the chain rule the gradient w.r.t. u is
M⁻¹ ∂f/∂x (M is symmetric), so a gradient step on u moves x by

    Δx = M⁻¹ Δu = -η M⁻² ∂f/∂x                                       (Eq. 7-8)

i.e. the gradient is smoothed twice by a (λ-dependent) low-pass filter that approximates a
second-order (Sobolev-preconditioned) descent step, while x itself keeps all the mesh's detail.
M is sparse, symmetric positive definite; we factor it once with ``cholespy`` (the authors'
sparse Cholesky solver) and solve M x = u in both the forward and the adjoint direction.

- :func:`laplacian` builds L (SciPy sparse);
- :class:`LargeSteps` is an :class:`optim.Transform` (latent u -> vertex positions x), so a mesh's
  ``<id>.vertex_positions`` is optimized with ``optim.Variable(V, LargeSteps(V, F, λ))``;
- :class:`UniformAdam` is the paper's modified Adam (Sec. 5): for the named parameters the second
  moment is replaced by its maximum over all entries, so each step is a uniformly scaled copy of
  the smoothed gradient (per-entry normalisation would undo the smoothing). Other parameters get
  plain Adam.
"""
from __future__ import annotations

import drjit as dr
import numpy as np
import scipy.sparse as sp

from penumbra.renderer import ensure_variant
from penumbra.renderer.arrays import to_numpy

from .adam import Adam
from .transforms import Transform


def _faces(faces, n_vertices: int) -> np.ndarray:
    F = np.asarray(faces)
    if F.ndim != 2 or F.shape[1] != 3 or not np.issubdtype(F.dtype, np.integer):
        raise ValueError(f"Large Steps: faces must be an integer array of shape (F, 3), got {F.dtype} {F.shape}")
    if F.size and (F.min() < 0 or F.max() >= n_vertices):
        raise ValueError(f"Large Steps: face indices must lie in [0, {n_vertices - 1}], "
                         f"found [{F.min()}, {F.max()}]")
    return F.astype(np.int64)


def laplacian(vertices, faces, kind: str = "combinatorial") -> sp.csc_matrix:
    """The (V, V) mesh Laplacian L (positive semi-definite; L 1 = 0).

    ``kind="combinatorial"``: L = D - A over the undirected edges (the paper's default, independent
    of the geometry); ``"cotangent"``: L_ij = -(cot α_ij + cot β_ij) / 2 for edge ij (the angles
    opposite to it), L_ii = -Σ_j L_ij, evaluated at ``vertices``.
    """
    V = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    F = _faces(faces, len(V))
    n = len(V)
    i = np.concatenate([F[:, 0], F[:, 1], F[:, 2]])
    j = np.concatenate([F[:, 1], F[:, 2], F[:, 0]])
    if kind == "combinatorial":
        A = sp.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
        A = ((A + A.T) > 0).astype(np.float64)           # each undirected edge once, weight 1
    elif kind == "cotangent":
        k = np.concatenate([F[:, 2], F[:, 0], F[:, 1]])  # vertex opposite to edge (i, j)
        a, b = V[i] - V[k], V[j] - V[k]
        cot = np.einsum("ij,ij->i", a, b) / np.maximum(np.linalg.norm(np.cross(a, b), axis=1), 1e-30)
        A = sp.coo_matrix((0.5 * cot, (i, j)), shape=(n, n)).tocsr()
        A = A + A.T
    else:
        raise ValueError(f"Large Steps: unknown Laplacian kind {kind!r} (use 'combinatorial' or 'cotangent')")
    return (sp.diags(np.asarray(A.sum(axis=1)).ravel()) - A).tocsc()


class _Solve(dr.CustomOp):
    """x = M⁻¹ u for a symmetric M (so the adjoint and the tangent are solves with M too)."""

    def eval(self, u, transform):
        self.transform = transform
        return transform._solve(u)

    def forward(self):
        self.set_grad_out(self.transform._solve(self.grad_in("u")))

    def backward(self):
        self.set_grad_in("u", self.transform._solve(self.grad_out()))

    def name(self):
        return "LargeSteps.solve"


class LargeSteps(Transform):
    """Latent u = (I + λ L) x for vertex positions x; ``forward(u)`` solves for x (differentiable).

    ``vertices`` (V, 3) and ``faces`` (F, 3) fix the mesh connectivity (and, for the cotangent
    Laplacian, its weights); values are flat Dr.Jit arrays of 3V floats (x0 y0 z0 x1 ...), as
    Mitsuba's ``vertex_positions``. Larger λ smooths more (the paper uses 10-100 for meshes of a
    few thousand vertices).
    """
    name = "large_steps"

    def __init__(self, vertices, faces, lambda_: float = 20.0, laplacian_kind: str = "combinatorial"):
        import cholespy
        V = to_numpy(vertices).reshape(-1, 3) if not isinstance(vertices, np.ndarray) else vertices.reshape(-1, 3)
        if not lambda_ > 0:
            raise ValueError(f"Large Steps: lambda must be > 0, got {lambda_}")
        self.n, self.lambda_ = len(V), float(lambda_)
        self.M = (sp.identity(self.n, format="csc") + self.lambda_ * laplacian(V, faces, laplacian_kind)).tocoo()
        self._solver = cholespy.CholeskySolverF(self.n, self.M.row.astype(np.int32), self.M.col.astype(np.int32),
                                                self.M.data.astype(np.float64), cholespy.MatrixType.COO)
        self.M = self.M.tocsr()

    def _check(self, a):
        if dr.width(a) != 3 * self.n:
            raise ValueError(f"Large Steps: expected {3 * self.n} values (3 x {self.n} vertices), got {dr.width(a)}")

    def _solve(self, u):
        # cholespy reads and writes Dr.Jit buffers in place (DLPack): no NumPy round trip, whose
        # unaligned host buffers would make the renderer's kernels miss Dr.Jit's cache every step
        import mitsuba as mi
        ensure_variant()
        self._check(u)
        b = mi.TensorXf(dr.detach(u) + 0.0, shape=(self.n, 3))
        x = dr.empty(mi.TensorXf, (self.n, 3))
        dr.eval(b, x)
        dr.sync_thread()  # LLVM launches are asynchronous
        self._solver.solve(b, x)
        return x.array

    def forward(self, latent):
        self._check(latent)
        return dr.custom(_Solve, latent, self)

    def inverse(self, value):
        import mitsuba as mi
        ensure_variant()
        self._check(value)
        x = to_numpy(dr.detach(value)).reshape(self.n, 3).astype(np.float64)
        return mi.Float((self.M @ x).astype(np.float32).ravel())

    def __repr__(self):
        return f"LargeSteps(n={self.n}, lambda={self.lambda_})"


class UniformAdam(Adam):
    """Adam whose second-moment estimate is the maximum over all entries for the names in
    ``uniform`` (Nicolet et al. 2021, Sec. 5): the step is the first moment times one scalar, so the
    Large Steps smoothing of the direction survives. Other names get Adam's per-entry rule."""

    def __init__(self, uniform=(), **kwargs):
        super().__init__(**kwargs)
        self.uniform = set(uniform)

    def _denominator(self, k):
        if k in self.uniform:
            return dr.sqrt(dr.max(self.v[k], axis=None)) + self.eps
        return super()._denominator(k)
