"""Differentiable shape transforms: a named ``<id>.to_world`` parameter per mesh.

Mitsuba bakes a mesh's ``to_world`` into its vertex buffer at load time and exposes no transform
to differentiate. This module attaches one: it records a mesh's *base* vertex positions (and
normals) when registered, and every value written to ``<id>.to_world`` (an affine 4x4
``mi.Transform4f``, identity at registration) rewrites the mesh's ``vertex_positions`` as
``T @ base`` and its ``vertex_normals`` as ``T^-T @ base_normals``. Both go through Dr.Jit, so a
transform built from grad-enabled values (``mi.Transform4f().translate(...)``, ``.rotate(axis,
angle)``, a raw ``mi.Matrix4f``) carries gradients into the vertex buffers, where the path
tracer's interior term (path replay, attached intersections) and its boundary terms (edge sampling
attaches edge points to the same buffers) both see them. Finite differences set the same name with
plain floats.

The transform is *relative to the loaded pose*: base positions are whatever the mesh held at
registration (so an XML ``to_world`` stays baked in). After registration, write the pose through
``<id>.to_world`` only: a direct write to ``<id>.vertex_positions`` is overwritten by the next
transform update.

Analytic shapes (``rectangle``, ``sphere``, ``disk``, ...) already expose ``<id>.to_world`` in
Mitsuba's own parameters and are left alone.
"""
from __future__ import annotations

import numpy as np

from .errors import ParameterError


class MeshTransform:
    """The getter/setter pair behind one mesh's ``<id>.to_world`` parameter."""

    def __init__(self, params, shape_id: str):
        import drjit as dr
        import mitsuba as mi
        self.params, self.id = params, shape_id
        self.key_p = f"{shape_id}.vertex_positions"
        self.key_n = f"{shape_id}.vertex_normals"
        mp = params.mitsuba
        # Deep copies (NumPy round trip): Mitsuba updates the stored buffers in place.
        self.base_p = mi.Point3f(*np.array(dr.detach(mp[self.key_p]), dtype=np.float32).reshape(-1, 3).T)
        n = np.array(dr.detach(mp[self.key_n]), dtype=np.float32) if self.key_n in mp.properties else np.zeros(0)
        self.base_n = mi.Normal3f(*n.reshape(-1, 3).T) if n.size else None
        self.value = mi.Transform4f()

    def get(self):
        return self.value

    def set(self, T):
        import drjit as dr
        m = np.array(dr.detach(T.matrix), dtype=np.float64).reshape(4, 4)
        if not np.allclose(m[3], [0, 0, 0, 1], atol=1e-6):
            raise ParameterError(f"parameter {self.id + '.to_world'!r}: not an affine transform "
                                 f"(last row {m[3].tolist()}, expected [0, 0, 0, 1])")
        det = float(np.linalg.det(m[:3, :3]))
        if not abs(det) > 1e-12:
            raise ParameterError(f"parameter {self.id + '.to_world'!r}: singular transform "
                                 f"(det of the linear part = {det:.3g}); it would flatten the mesh")
        self.value = T
        p = T @ self.base_p
        self.params.write_mitsuba(self.key_p, dr.ravel(p))
        if self.base_n is not None:
            self.params.write_mitsuba(self.key_n, dr.ravel(dr.normalize(T @ self.base_n)))


def register_transforms(params, ids=None) -> list[str]:
    """Register ``<id>.to_world`` for the scene's meshes (all with an id, or those in ``ids``).

    Returns the registered names. Raises :class:`ParameterError` for an unknown id or a shape that
    is not a mesh.
    """
    meshes = {s.id(): s for s in params.scene.shapes() if s.is_mesh()}
    if ids is None:
        ids = [i for i in meshes if f"{i}.vertex_positions" in params.mitsuba.properties
               and f"{i}.to_world" not in params]
    names = []
    for i in ids:
        if i not in meshes or f"{i}.vertex_positions" not in params.mitsuba.properties:
            known = ", ".join(sorted(meshes)) or "none"
            raise ParameterError(f"register_transforms: {i!r} is not a mesh of this scene (meshes: {known})")
        t = MeshTransform(params, i)
        params.register(f"{i}.to_world", t.get, t.set, differentiable=True, moves_geometry=True,
                        owner="MeshTransform")
        names.append(f"{i}.to_world")
    return names
