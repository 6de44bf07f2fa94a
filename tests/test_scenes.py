import numpy as np
import pytest

from penumbra import scenes
from penumbra.assets import asset
from penumbra.scenes import ParameterError, SceneError
from penumbra.scenes import builders as b

CBOX = asset("scenes", "cbox", "scene.xml")


def test_load_file_dict_and_string():
    s = scenes.load_scene(CBOX, res=16, spp=2)
    assert list(s.sensors()[0].film().size()) == [16, 16]
    d = scenes.load_scene(b.scene(b.camera(resolution=8), shapes={"ball": b.sphere()}))
    assert len(d.shapes()) == 1
    x = scenes.load_scene('<scene version="3.0.0"><shape type="sphere" id="s"/></scene>')
    assert len(x.shapes()) == 1


def test_shapes_keep_their_ids():
    params = scenes.ParameterMap(scenes.load_scene(CBOX, res=16))
    for name in ["floor.to_world", "ceiling.to_world", "back.to_world", "ball.vertex_positions"]:
        assert name in params


@pytest.mark.parametrize("source, error, message", [
    ("/nonexistent/scene.xml", FileNotFoundError, "/nonexistent/scene.xml"),
    ('<scene version="3.0.0"><shape type="sphere">', SceneError, "XML string"),
    ('<scene version="3.0.0"><shape type="spherre"/></scene>', SceneError, "spherre"),
    ({"type": "scene", "thing": {"type": "no_such_plugin"}}, SceneError, "no_such_plugin"),
    ({"shape": {"type": "sphere"}}, SceneError, "'type'"),
])
def test_bad_scenes_get_clear_errors(source, error, message):
    with pytest.raises(error, match=message):
        scenes.load_scene(source)


def test_malformed_xml_file_names_the_file(tmp_path):
    f = tmp_path / "broken.xml"
    f.write_text('<scene version="3.0.0"><shape type="sphere"></scene>')
    with pytest.raises(SceneError, match="broken.xml"):
        scenes.load_scene(f)


def test_parameter_map_flags_and_validation():
    params = scenes.ParameterMap(scenes.load_scene(CBOX, res=16))
    assert params.info("red.reflectance.value").differentiable
    assert not params.info("red.reflectance.value").moves_geometry
    assert "ball.vertex_positions" in params.geometric()
    assert "light.to_world" in params.geometric()
    assert not params.info("ball.faces").differentiable
    assert "red.reflectance.value" in params.describe()

    with pytest.raises(ParameterError, match="did you mean 'red.reflectance.value'"):
        params["red.reflectanse.value"] = [1, 0, 0]
    with pytest.raises(ParameterError, match=r"expects shape \(1, 3\)"):
        params["red.reflectance.value"] = [1, 0]
    with pytest.raises(ParameterError, match="NaN"):
        params["red.reflectance.value"] = [np.nan, 0, 0]
    n = len(np.array(params["ball.vertex_positions"]))
    with pytest.raises(ParameterError, match="NaN"):
        params["ball.vertex_positions"] = np.full(n, np.nan)
    with pytest.raises(ParameterError, match="light.to_world"):
        params["light.to_world"] = np.full((4, 4), np.inf)

    params.update({"red.reflectance.value": [0.2, 0.3, 0.4]})
    assert np.allclose(params.snapshot(["red.reflectance.value"])["red.reflectance.value"], [[0.2, 0.3, 0.4]])
    before = params.snapshot(["ball.vertex_positions"])["ball.vertex_positions"]
    params.update({"ball.vertex_positions": before + 0.1})
    assert np.allclose(np.array(params["ball.vertex_positions"]), before + 0.1)


def test_extra_parameters():
    params = scenes.ParameterMap(scenes.load_scene(CBOX, res=16))
    store = {"v": np.array([1.0])}
    params.register("camera.extra", lambda: store["v"], lambda v: store.update(v=v), moves_geometry=True)
    assert params.info("camera.extra").moves_geometry
    with pytest.raises(ParameterError, match="already exists"):
        params.register("red.reflectance.value", lambda: 0, lambda v: None)


def test_mesh_roundtrip_ply_and_obj(tmp_path):
    V, F = b.icosphere(1)
    mesh = scenes.mesh_from_arrays(V, F, name="ico")
    for ext in ("ply", "obj"):
        path = scenes.save_mesh(mesh, tmp_path / f"m.{ext}")
        V2, F2 = scenes.mesh_arrays(scenes.load_mesh(path))
        assert V2.shape == V.shape and F2.shape == F.shape
        # loaders may reorder vertices; compare the sets of triangles geometrically
        tri = np.sort(np.round(V[F].reshape(len(F), -1), 4), axis=0)
        tri2 = np.sort(np.round(V2[F2].reshape(len(F2), -1), 4), axis=0)
        assert np.allclose(np.sort(tri, axis=None), np.sort(tri2, axis=None), atol=1e-4)


def test_bad_meshes_get_clear_errors(tmp_path):
    V, F = b.icosphere(0)
    with pytest.raises(SceneError, match="NaN"):
        scenes.mesh_from_arrays(np.where(np.arange(len(V))[:, None] == 3, np.nan, V), F)
    with pytest.raises(SceneError, match="degenerate"):
        scenes.mesh_from_arrays(V, np.vstack([F, [[0, 0, 1]]]))
    with pytest.raises(SceneError, match="indices"):
        scenes.mesh_from_arrays(V, F + 100)
    with pytest.raises(SceneError, match="extension"):
        scenes.load_mesh(tmp_path / "mesh.stl")
    with pytest.raises(FileNotFoundError):
        scenes.load_mesh(tmp_path / "missing.ply")
    (tmp_path / "garbage.ply").write_text("ply\nthis is not a mesh\n")
    with pytest.raises(SceneError, match="garbage.ply"):
        scenes.load_mesh(tmp_path / "garbage.ply")


def test_differentiable_value_of_another_type_keeps_its_gradient():
    """A grad-enabled mi.Float written to a Color3f parameter must not be detached (a NumPy round
    trip used to drop the gradient silently)."""
    import drjit as dr
    import mitsuba as mi
    scene = scenes.load_scene("assets/scenes/cbox/scene.xml")
    params = scenes.ParameterMap(scene)
    name = [n for n in params.differentiable() if n.endswith("reflectance.value")][0]
    x = mi.Float(0.3)
    dr.enable_grad(x)
    params[name] = x
    params.update()
    dr.backward(dr.sum(params[name], axis=None))
    assert float(dr.grad(x)[0]) == 3.0
