"""The scene layer shared by Penumbra's integrators: loading, builders, meshes, named parameters,
calibrated photographs (calibration readers, sensors, masks)."""
from .calibrated_view import CalibratedView
from .calibration import check_photos, read_calibration
from .errors import CalibrationError, ParameterError, PhotoError, SceneError
from .loading import load_scene
from .meshes import load_mesh, mesh_arrays, mesh_from_arrays, save_mesh, validate_mesh_arrays
from .parameters import ParameterInfo, ParameterSet
from .params import ParameterMap
from .photo_set import load_photo_set
from .view_sensor import film_map, sensor_dict
from . import builders

__all__ = ["CalibratedView", "CalibrationError", "PhotoError", "check_photos", "read_calibration", "load_photo_set",
           "film_map", "sensor_dict", "ParameterError", "SceneError", "load_scene", "load_mesh", "mesh_arrays",
           "mesh_from_arrays", "save_mesh", "validate_mesh_arrays", "ParameterInfo", "ParameterMap", "ParameterSet",
           "builders"]
