"""A room's named parameters (room.params) are what the acoustic integrator reads: setting one changes
the impulse response exactly as building the room with that value does, gradients with respect to
them match central differences of the independent NumPy model (tests/acoustic/reference.py), bad
values are refused naming the parameter, and a ParameterMap over a room file's Mitsuba scene shows each
wall's optical and acoustic parameters."""
import drjit as dr
import mitsuba as mi
import numpy as np
import pytest

import penumbra.scenes.room as R
from penumbra.integrators.acoustic import rir, simulate
from penumbra.scenes import ParameterError, ParameterMap, load_scene, save_mesh

from tests.harness.shoebox_reference import shoebox_rir

DIMS, SRC, RCV = np.array([5.3, 4.1, 3.2]), np.array([1.1, 1.3, 1.2]), np.array([3.9, 2.9, 1.7])
FLAT = np.array([0.1, 0.3, 0.2, 0.25, 0.4, 0.15])        # west east south north floor ceiling
ORDER, LENGTH, FS = 3, 1400, 16000
WEIGHTS = np.random.default_rng(11).standard_normal(LENGTH)


def _room(absorption=FLAT, dims=DIMS, src=SRC):
    return R.shoebox(dims, src, RCV, materials=dict(zip(R.SHOEBOX_WALLS, map(float, absorption))), fs=FS)


def _loss_ref(dims=DIMS, src=SRC, absorption=FLAT):
    return float(np.dot(shoebox_rir(dims, src, RCV, absorption, ORDER, fs=FS, length=LENGTH), WEIGHTS))


def _loss(room):
    return dr.sum(simulate(room, ORDER, "penumbra", length=LENGTH).signal * mi.Float64(WEIGHTS))


def test_names_shapes_and_flags():
    p = _room().params
    assert p.keys()[:2] == ["west.absorption", "west.scattering"]
    assert p.keys()[-3:] == ["acoustic.sources", "acoustic.receivers", "acoustic.dims"]
    assert p.info("floor.absorption").shape == (7,) and (p.info("floor.absorption").lower,
                                                        p.info("floor.absorption").upper) == (0.0, 1.0)
    assert p.info("acoustic.sources").shape == (1, 3) and p.geometric() == ["acoustic.dims"]
    assert set(p.differentiable()) == set(p.keys())
    poly = R.extruded_room([[0, 0], [4, 0], [4, 3], [0, 3]], 2.5, [1, 1, 1], [3, 2, 1.5])
    assert "acoustic.vertex_positions" in poly.params and "acoustic.dims" not in poly.params
    assert poly.params.info("acoustic.vertex_positions").shape == (3 * len(poly.vertices),)


def test_setting_a_parameter_changes_the_rir_like_building_the_room_with_it():
    room = _room()
    before = rir(room, ORDER, length=LENGTH)
    room.params["floor.absorption"] = np.full(7, 0.7)
    room.params["acoustic.sources"] = [1.4, 1.0, 1.1]
    after = rir(room, ORDER, length=LENGTH)
    rebuilt = rir(_room(np.r_[FLAT[:4], 0.7, FLAT[5]], src=[1.4, 1.0, 1.1]), ORDER, length=LENGTH)
    assert np.abs(after - before).max() > 1e-3 * np.abs(before).max()
    assert np.array_equal(after, rebuilt)
    room.params["acoustic.dims"] = DIMS + [0.5, 0, 0]
    assert np.allclose(room.box, DIMS + [0.5, 0, 0]) and room.vertices[:, 0].max() == pytest.approx(5.8)
    assert np.array_equal(rir(room, ORDER, length=LENGTH),
                          rir(_room(np.r_[FLAT[:4], 0.7, FLAT[5]], DIMS + [0.5, 0, 0], [1.4, 1.0, 1.1]), ORDER,
                              length=LENGTH))


def _fd(f, x0, h):
    return np.array([(f(x0 + h * e) - f(x0 - h * e)) / (2 * h) for e in np.eye(len(x0))])


def test_absorption_gradient_vs_finite_differences_of_the_reference():
    room = _room()
    x = room.params["floor.absorption"]
    dr.enable_grad(x)
    dr.backward(_loss(room))
    ad = np.array(dr.grad(x))
    # flat materials: one broadband signal from band 0, so only the first band's entry matters
    fd = _fd(lambda a: _loss_ref(absorption=np.r_[FLAT[:4], a[0], FLAT[5]]), np.array([FLAT[4]]), 1e-6)
    assert ad[0] == pytest.approx(fd[0], rel=1e-4) and np.all(ad[1:] == 0)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_source_and_dims_gradients_vs_finite_differences_of_the_reference(mode):
    room = _room()
    src, dims = room.params["acoustic.sources"], room.params["acoustic.dims"]
    dr.enable_grad(src, dims)
    if mode == "reverse":
        dr.backward(_loss(room))
        ad_src, ad_dims = np.array(dr.grad(src)).reshape(-1), np.array(dr.grad(dims)).reshape(-1)
    else:   # one forward pass along a direction mixing both parameters
        u, v = np.array([0.3, -0.5, 0.8]), np.array([-0.2, 0.6, 0.1])
        dr.set_grad(src, mi.Vector3d(*map(float, u)))
        dr.set_grad(dims, mi.Vector3d(*map(float, v)))
        ad_dir = dr.forward_to(_loss(room))[0]
    fd_src = _fd(lambda s: _loss_ref(src=s), SRC, 1e-5)
    fd_dims = _fd(lambda d: _loss_ref(dims=d), DIMS, 1e-5)
    if mode == "reverse":
        assert np.allclose(ad_src, fd_src, rtol=1e-4, atol=1e-6 * np.abs(fd_src).max()), (ad_src, fd_src)
        assert np.allclose(ad_dims, fd_dims, rtol=1e-4, atol=1e-6 * np.abs(fd_dims).max()), (ad_dims, fd_dims)
    else:
        assert ad_dir == pytest.approx(fd_src @ u + fd_dims @ v, rel=1e-4)


def test_bad_values_are_refused_naming_the_parameter():
    room = _room()
    p = room.params
    with pytest.raises(ParameterError, match=r"'north.scattering': every entry must lie in \[0, 1\]"):
        p["north.scattering"] = [0.2] * 6 + [1.2]
    with pytest.raises(ParameterError, match=r"'acoustic.receivers': receiver 0 at \[9.0, 1.0, 1.0\] is outside"):
        p["acoustic.receivers"] = [9.0, 1.0, 1.0]
    with pytest.raises(ParameterError, match="'acoustic.dims': the new room leaves source 0 .* outside"):
        p["acoustic.dims"] = [5.3, 4.1, 1.1]
    with pytest.raises(ParameterError, match="'acoustic.sources': value contains NaN"):
        p["acoustic.sources"] = [np.nan, 1.0, 1.0]
    with pytest.raises(ParameterError, match="did you mean 'floor.absorption'"):
        p["flor.absorption"]
    assert np.allclose(room.absorption()[:, 0], FLAT) and np.allclose(room.receivers, [RCV])   # unchanged


def test_direct_room_edits_are_seen_by_the_parameters():
    room = _room()
    room.materials[0] = R.material(0.55)
    assert np.allclose(np.array(room.params["west.absorption"]), 0.55)


def test_parameter_map_over_a_room_file_shows_optical_and_acoustic_parameters(tmp_path):
    from penumbra import renderer
    renderer.ensure_variant()
    walls = R.shoebox(DIMS, SRC, RCV).mitsuba_scene_dict()
    shapes = "".join(f'<shape type="ply" id="{w}"><string name="filename" value="{w}.ply"/>'
                     f'<bsdf type="diffuse"><rgb name="reflectance" value="0.5"/></bsdf></shape>'
                     for w in R.SHOEBOX_WALLS)
    for w in R.SHOEBOX_WALLS:
        save_mesh(walls[w], str(tmp_path / f"{w}.ply"))
    (tmp_path / "room.xml").write_text(f'<scene version="3.0.0">{shapes}</scene>')
    scene = load_scene(str(tmp_path / "room.xml"))
    room = R.load_room(scene, source=SRC, receiver=RCV, materials={"floor": 0.4})
    params = R.register_acoustic_parameters(ParameterMap(scene), room)
    for name in ("floor.vertex_positions", "floor.bsdf.reflectance.value", "floor.absorption", "floor.scattering"):
        assert name in params.keys()
    assert params.info("floor.absorption").owner == "AcousticMaterial"
    assert np.allclose(np.array(params["floor.absorption"]), 0.4)
    before = rir(room, 2)
    params.update({"floor.absorption": np.full(7, 0.9), "floor.bsdf.reflectance.value": [0.2, 0.3, 0.4]})
    assert np.allclose(np.array(params["floor.bsdf.reflectance.value"]).ravel(), [0.2, 0.3, 0.4])
    assert not np.allclose(rir(room, 2), before)        # the integrator reads the mounted value
    with pytest.raises(ParameterError, match=r"'floor.absorption': every entry must lie in \[0, 1\]"):
        params["floor.absorption"] = np.full(7, -0.1)


def test_load_room_keyword_rename_keeps_a_deprecation_path():
    box = R.shoebox([5, 4, 3], [1, 1, 1], [4, 3, 2])
    arrays = (box.vertices, box.faces)
    with pytest.warns(DeprecationWarning, match="src="):
        old = R.load_room(arrays, src=[1, 1, 1], receiver=[4, 3, 2])
    with pytest.warns(DeprecationWarning, match="positional|deprecated"):
        positional = R.load_room(arrays, [4, 3, 2], [1, 1, 1])
    new = R.load_room(arrays, source=[1, 1, 1], receiver=[4, 3, 2])
    for r in (old, positional):
        assert np.array_equal(r.sources, new.sources) and np.array_equal(r.receivers, new.receivers)
    with pytest.raises(TypeError, match="once"):
        R.load_room(arrays, source=[1, 1, 1], src=[1, 1, 1], receiver=[4, 3, 2])
