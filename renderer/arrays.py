"""Conversions between Dr.Jit arrays and NumPy at the API's edges.

Convention: a nested Dr.Jit array (``Color3f``, ``Point3f``...) maps to a NumPy array of shape
``(N, C)``, component-last, like an image or a vertex list; a flat array maps to ``(N,)``; a tensor
keeps its shape. Scalars (Python numbers, ``ScalarTransform4f``...) go through ``np.asarray``.
"""
from __future__ import annotations

import numpy as np


def is_transform(x) -> bool:
    """True for Mitsuba's (affine) transform types, which wrap a Dr.Jit matrix in ``.matrix``."""
    return "Transform" in type(x).__name__ and hasattr(x, "matrix")


def is_drjit(x) -> bool:
    """True for Dr.Jit arrays/tensors and for Mitsuba transforms."""
    import drjit as dr
    return dr.is_array_v(x) or is_transform(x)


def to_numpy(x) -> np.ndarray:
    """A NumPy copy of ``x`` (Dr.Jit array, tensor, transform, or anything ``np.asarray`` takes)."""
    import drjit as dr
    if is_drjit(x):
        if dr.is_tensor_v(x):
            return np.array(x)
        if is_transform(x):
            return np.array(x.matrix).reshape(4, 4) if dr.width(x.matrix) == 1 else np.array(x.matrix)  # noqa: E501
        a = np.array(x)
        if dr.depth_v(x) > 1 and a.ndim == 2:
            return a.T.copy()  # (C, N) -> (N, C)
        return a
    return np.asarray(x)


def from_numpy(like, a):
    """Build a value of the same Dr.Jit type as ``like`` from the NumPy array ``a`` (see module conventions)."""
    import drjit as dr
    a = np.asarray(a)
    if not is_drjit(like):
        return type(like)(a.item()) if a.size == 1 and np.isscalar(like) else a
    tp = type(like)
    if dr.is_tensor_v(like):
        is_float = "Float" in tp.__name__ or "TensorXf" in tp.__name__
        return tp(np.ascontiguousarray(a, dtype=np.float32 if is_float else None))
    if is_transform(like):
        return tp(np.asarray(a, dtype=np.float64).reshape(4, 4))
    if dr.depth_v(like) > 1:
        a = a.reshape(-1, dr.size_v(like)) if a.ndim != 2 else a
        return tp(np.ascontiguousarray(a.T))
    return tp(np.ascontiguousarray(a.reshape(-1)))


def is_finite(x) -> bool:
    """True when every entry of ``x`` is finite (Dr.Jit or NumPy)."""
    import drjit as dr
    if is_drjit(x):
        if is_transform(x) or dr.is_matrix_v(x):
            return bool(np.all(np.isfinite(to_numpy(x))))
        return bool(dr.all(dr.isfinite(x), axis=None))
    return bool(np.all(np.isfinite(np.asarray(x, dtype=np.float64))))


def upload(tp, a):
    """A Dr.Jit array of type ``tp`` (``mi.Float``, ``mi.UInt32``...) holding the NumPy data ``a``
    (converted to ``tp``'s element type), placed at a 128-byte aligned address. Dr.Jit maps host
    arrays without copying and compiles the alignment it sees into every kernel that reads them, so
    unaligned NumPy buffers make otherwise identical kernels miss the kernel cache (a recompilation
    of tens of milliseconds per kernel, every call)."""
    import drjit as dr
    vt = dr.VarType
    dtype = {vt.Float32: np.float32, vt.Float64: np.float64, vt.UInt32: np.uint32, vt.Int32: np.int32,
             vt.UInt64: np.uint64, vt.Int64: np.int64, vt.Bool: np.bool_, vt.Float16: np.float16}[dr.type_v(tp)]
    a = np.asarray(a).reshape(-1)
    nbytes = a.size * np.dtype(dtype).itemsize
    buf = np.empty(nbytes + 256, dtype=np.uint8)
    off = (-buf.ctypes.data) % 128
    out = buf[off:off + nbytes].view(dtype)
    out[:] = a
    return tp(out)


def upload_tensor(a):
    """A ``mi.TensorXf`` of the NumPy array ``a`` (its shape), placed like :func:`upload`."""
    import mitsuba as mi
    a = np.asarray(a)
    return mi.TensorXf(upload(mi.Float, a), a.shape)


def upload_columns(tp, a):
    """A Dr.Jit vector of type ``tp`` (``mi.Point3f``, ``mi.Vector2f``...) whose components are the
    columns of the NumPy array ``a`` of shape (n, components), each placed like :func:`upload`."""
    import drjit as dr
    a = np.asarray(a)
    return tp(*(upload(dr.value_t(tp), a[:, j]) for j in range(a.shape[1])))
