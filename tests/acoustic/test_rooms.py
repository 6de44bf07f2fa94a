"""Rooms: construction, bundled materials, Mitsuba-scene loading, and clear errors for bad input."""
import numpy as np
import pytest

import penumbra.scenes.room as R
from penumbra.scenes.room import RoomError


def test_material_table_and_specs():
    names = R.list_materials()
    assert len(names) >= 15 and "carpet_cotton" in names
    m = R.material("carpet_cotton")
    assert m.absorption.shape == (7,) and 0 < m.absorption[3] < 1
    assert np.allclose(R.material(0.3).absorption, 0.3)
    with pytest.raises(RoomError, match="unknown acoustic material"):
        R.material("no_such_material")


def test_shoebox_geometry_and_reverberation_formulas():
    room = R.shoebox([6, 4, 3], [1, 1, 1], [4, 3, 1.5], materials=0.2)
    assert room.volume() == pytest.approx(72.0)
    assert room.wall_areas().sum() == pytest.approx(2 * (24 + 18 + 12))
    # Sabine: 0.161 V / A with A = S alpha (c = 343 m/s gives 24 ln10 / c = 0.1611)
    assert room.sabine()[0] == pytest.approx(24 * np.log(10) / 343 * 72 / (108 * 0.2))
    assert room.eyring()[0] < room.sabine()[0]


def test_extruded_l_room_and_inside_test():
    room = R.extruded_room([[0, 0], [6, 0], [6, 3], [3, 3], [3, 6], [0, 6]], 3.0, [1, 1, 1], [1, 5, 1.5])
    assert room.volume() == pytest.approx(27 * 3)
    assert room.n_walls == 8
    assert not room.contains([5, 5, 1]) and room.contains([5, 1, 1])


def test_load_room_from_mitsuba_scene_dict_and_xml(tmp_path):
    box = R.shoebox([5, 4, 3], [1, 1, 1], [4, 3, 2])
    scene_dict = box.mitsuba_scene_dict()
    room = R.load_room(scene_dict, source=[1, 1, 1], receiver=[4, 3, 2], materials={"floor": "carpet_cotton"})
    assert room.n_walls == 6 and room.volume() == pytest.approx(60.0)
    assert np.allclose(room.materials[room.wall_names.index("floor")].absorption, R.material("carpet_cotton").absorption)
    # the same room as an XML file of Mitsuba 'cube' shape (renderable by the path tracer)
    xml = tmp_path / "room.xml"
    xml.write_text("""<scene version="3.0.0"><shape type="cube" id="walls">
        <transform name="to_world"><scale value="2.5, 2, 1.5"/><translate value="2.5, 2, 1.5"/></transform>
        </shape></scene>""")
    room = R.load_room(str(xml), source=[1, 1, 1], receiver=[4, 3, 2], default_material="brickwork")
    assert room.n_walls == 6 and room.volume() == pytest.approx(60.0, rel=1e-5)


def test_json_room_description(tmp_path):
    p = tmp_path / "r.json"
    p.write_text('{"shoebox": [6, 4, 3], "source": [1, 1, 1], "receiver": [4, 3, 1.5], "materials": "brickwork", "fs": 8000}')
    room = R.load_room(str(p))
    assert room.fs == 8000 and room.box is not None and room.materials[0].name == "brickwork"


@pytest.mark.parametrize("kwargs, match", [
    (dict(source=[7, 1, 1]), "source 0 .* outside the room"),
    (dict(receiver=[1, 1, -0.5]), "receiver 0 .* outside the room"),
    (dict(source=[1, np.nan, 1]), "NaN"),
    (dict(materials=1.2), "must lie in \\[0, 1\\]"),
    (dict(materials={"floor": [0.1, 0.2, -0.1, 0.3, 0.3, 0.3, 0.3]}), "floor.*must lie in \\[0, 1\\]"),
    (dict(materials={"roof": 0.1}), "unknown wall"),
    (dict(dims=[6, -4, 3]), "positive"),
])
def test_clear_errors(kwargs, match):
    args = dict(dims=[6, 4, 3], source=[1, 1, 1], receiver=[4, 3, 1.5])
    args.update(kwargs)
    with pytest.raises(RoomError, match=match):
        R.shoebox(args.pop("dims"), args.pop("source"), args.pop("receiver"), **args)


def test_open_mesh_is_rejected():
    box = R.shoebox([6, 4, 3], [1, 1, 1], [4, 3, 1.5])
    with pytest.raises(RoomError, match="not closed"):
        R.load_room((box.vertices, box.faces[:-2]), source=[1, 1, 1], receiver=[4, 3, 1.5])


def test_polyhedral_source_outside():
    with pytest.raises(RoomError, match="outside the room"):
        R.extruded_room([[0, 0], [6, 0], [6, 3], [3, 3], [3, 6], [0, 6]], 3.0, [5, 5, 1], [1, 5, 1.5])


def test_acoustic_parameters_in_the_shared_parameter_map():
    from penumbra import renderer
    renderer.ensure_variant()
    from penumbra.scenes import ParameterMap, load_scene
    box = R.shoebox([5, 4, 3], [1, 1, 1], [4, 3, 2])
    scene = load_scene(box.mitsuba_scene_dict())          # the renderable scene of the same walls
    room = R.load_room(scene, source=[1, 1, 1], receiver=[4, 3, 2])
    params = R.register_acoustic_parameters(ParameterMap(scene), room)
    assert "floor.absorption" in params.keys() and "floor.vertex_positions" in params.keys()
    params["floor.absorption"] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    params.update()
    assert np.allclose(room.materials[room.wall_names.index("floor")].absorption, np.arange(1, 8) / 10)
    with pytest.raises(Exception, match="must lie in"):
        params["floor.absorption"] = [1.5] * 7
    with pytest.raises(Exception, match="outside the room"):
        params["acoustic.receivers"] = [9.0, 1.0, 1.0]


def test_simulate_rejects_bad_parameters_and_handles_several_receivers():
    import mitsuba as mi
    from penumbra.integrators.acoustic import default_params, rir, simulate
    room = R.shoebox([6, 4, 3], [1, 1, 1], [[4, 3, 1.5], [2, 2, 2]], materials=0.2)
    assert len(rir(room, 2, receiver=1)) != len(rir(room, 2, receiver=0))
    p = default_params(room)
    p["absorption"] = mi.Float64(np.full(42, 1.3))
    with pytest.raises(RoomError, match="absorption.*must lie in"):
        simulate(room, 2, params=p)
    p = default_params(room)
    p["receiver"] = mi.Vector3d(np.nan, 1.0, 1.0)
    with pytest.raises(RoomError, match="NaN"):
        simulate(room, 2, params=p)
    p = default_params(room)
    p["source"] = mi.Vector3d(1.0, 5.0, 1.0)
    with pytest.raises(RoomError, match="outside the room"):
        simulate(room, 2, params=p)
    p = default_params(room)
    p["dims"] = mi.Vector3d(6.0, 4.0, 0.5)   # the receiver at z = 1.5 is now outside
    with pytest.raises(RoomError, match="outside the room"):
        simulate(room, 2, params=p)
    with pytest.raises(ValueError, match="order"):
        simulate(room, -1)
