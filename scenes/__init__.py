"""The scene layer shared by Penumbra's integrators: loading, builders, meshes, named parameters."""
from .errors import ParameterError, SceneError
from .loading import load_scene
from .meshes import load_mesh, mesh_arrays, mesh_from_arrays, save_mesh, validate_mesh_arrays
from .parameters import ParameterInfo, ParameterSet
from .params import ParameterMap
from . import builders

__all__ = ["ParameterError", "SceneError", "load_scene", "load_mesh", "mesh_arrays", "mesh_from_arrays",
           "save_mesh", "validate_mesh_arrays", "ParameterInfo", "ParameterMap", "ParameterSet", "builders"]
