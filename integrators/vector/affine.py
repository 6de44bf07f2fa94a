"""2D affine maps as 6-tuples ``(a, b, c, d, e, f)``: ``x' = a x + c y + e``, ``y' = b x + d y + f``
(SVG's matrix order). The entries may be floats, NumPy arrays or Dr.Jit arrays."""
from __future__ import annotations


def compose(A, B):
    """Affine composition ``A o B`` (apply ``B`` first)."""
    a = A[0] * B[0] + A[2] * B[1]
    b = A[1] * B[0] + A[3] * B[1]
    c = A[0] * B[2] + A[2] * B[3]
    d = A[1] * B[2] + A[3] * B[3]
    e = A[0] * B[4] + A[2] * B[5] + A[4]
    f = A[1] * B[4] + A[3] * B[5] + A[5]
    return (a, b, c, d, e, f)


def invert(G):
    """Inverse of the Dr.Jit affine map ``G`` (a determinant below 1e-30 in magnitude is replaced
    by 1e-30, so that degenerate maps give large but finite values)."""
    import drjit as dr
    det = G[0] * G[3] - G[1] * G[2]
    det = dr.select(dr.abs(det) > 1e-30, det, 1e-30)
    ia, ib, ic, id_ = G[3] / det, -G[1] / det, -G[2] / det, G[0] / det
    ie = -(ia * G[4] + ic * G[5])
    if_ = -(ib * G[4] + id_ * G[5])
    return (ia, ib, ic, id_, ie, if_)
