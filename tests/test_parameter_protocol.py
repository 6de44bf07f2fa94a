"""The parameter protocol (scenes/parameters.py) as every scene kind sees it: unknown names, shapes,
NaN, ranges (face indices past the vertex count are refused before they reach a render), glob
patterns, snapshots and restore, and the differentiable / moves-geometry flags."""
import numpy as np
import pytest

from penumbra.scenes import ParameterError, ParameterInfo, ParameterMap, ParameterSet, load_scene
from penumbra.scenes import room as R
from penumbra.scenes.vector import VectorScene, circle, polygon


def _wall_scene():
    """Six one-plane wall meshes (ids west .. ceiling) with diffuse BSDFs."""
    from penumbra import renderer
    renderer.ensure_variant()
    box = R.shoebox([5, 4, 3], [1, 1, 1], [4, 3, 2])
    return load_scene(box.mitsuba_scene_dict())


class _Bag(ParameterSet):
    """A parameter set over a plain dict: only the four protocol methods, everything else inherited."""
    kind = "bag"

    def __init__(self):
        self.values = {"a.gain": np.array([1.0, 2.0]), "a.width": np.array(0.5), "b.gain": np.array([3.0, 4.0])}

    def keys(self):
        return list(self.values)

    def info(self, name):
        self.check_name(name)
        return ParameterInfo(name, "ndarray", np.shape(self.values[name]), True, name.endswith("width"), "bag",
                             lower=0.0 if name.endswith("width") else None)

    def _read(self, name):
        return self.values[name]

    def _write(self, name, value):
        self.values[name] = value


def test_protocol_gives_a_new_scene_kind_validation_globs_and_snapshots():
    p = _Bag()
    with pytest.raises(ParameterError, match="unknown bag parameter 'a.gian'; did you mean 'a.gain'"):
        p["a.gian"]
    with pytest.raises(ParameterError, match=r"'a.gain' expects shape \(2,\)"):
        p["a.gain"] = [1.0, 2.0, 3.0]
    with pytest.raises(ParameterError, match="'b.gain': value contains NaN"):
        p["b.gain"] = [np.nan, 1.0]
    with pytest.raises(ParameterError, match=r"'a.width': every entry must lie in \[0, inf\]"):
        p["a.width"] = -1.0
    assert p.select("*.gain") == ["a.gain", "b.gain"] and p.geometric() == ["a.width"]
    snap = p.snapshot()
    p.update({"*.gain": [5, 6, 7, 8]})
    assert p.pack("*.gain").tolist() == [5, 6, 7, 8]
    with pytest.raises(ParameterError, match="need 4 values, got 3"):
        p.update({"*.gain": [1, 2, 3]})
    p.restore(snap)
    assert p.pack("*").tolist() == [1, 2, 0.5, 3, 4]
    assert "a.width" in p.describe() and "[0, inf]" in p.describe()


def test_parameter_map_refuses_face_indices_past_the_vertex_count():
    params = ParameterMap(_wall_scene())
    info = params.info("west.faces")
    assert (info.lower, info.upper, info.integer, info.differentiable) == (0, 3, True, False)
    faces = np.array(params["west.faces"]).reshape(-1, 3)
    bad = faces.copy()
    bad[1, 2] = 4                                   # the wall has 4 vertices: index 4 does not exist
    with pytest.raises(ParameterError, match=r"'west.faces': every entry must lie in \[0, 3\]; entry 5 is 4"):
        params["west.faces"] = bad
    with pytest.raises(ParameterError, match="'west.faces' holds unsigned integers"):
        params["west.faces"] = -faces.astype(np.int64)
    with pytest.raises(ParameterError, match="'west.faces' holds integers"):
        params["west.faces"] = faces + 0.5
    params["west.faces"] = faces[:, ::-1].copy()    # a valid change is accepted and applied
    params.update()
    assert np.array_equal(np.array(params["west.faces"]).reshape(-1, 3), faces[:, ::-1])


def test_parameter_map_globs_snapshot_and_restore():
    params = ParameterMap(_wall_scene())
    names = params.select("*.bsdf.reflectance.value")
    assert len(names) == 6 and names[0] == "west.bsdf.reflectance.value"
    snap = params.snapshot("*.bsdf.reflectance.value")
    assert set(snap) == set(names) and all(np.allclose(v, 0.6) for v in snap.values())
    params.update({"*.bsdf.reflectance.value": np.linspace(0.1, 0.9, 18)})
    assert np.allclose(params.pack("*.bsdf.reflectance.value"), np.linspace(0.1, 0.9, 18))
    params.restore(snap)
    assert np.allclose(params.pack("*.bsdf.reflectance.value"), 0.6)
    assert "west.vertex_positions" in params.geometric()
    assert "west.bsdf.reflectance.value" in params.differentiable()
    assert "west.bsdf.reflectance.value" not in params.geometric()


def test_vector_parameters_share_the_protocol():
    scene = VectorScene(32, 32, [circle("c", [16, 16], 6, fill=[1, 0, 0], stroke=[0, 0, 1], stroke_width=2),
                                 polygon("p", [[2, 2], [10, 2], [6, 9]], fill=[0, 1, 0])])
    params = scene.params
    assert isinstance(params, ParameterSet)
    assert params.info("c.center").moves_geometry and not params.info("c.fill.color").moves_geometry
    assert params.info("c.stroke_width").lower == 0.0
    with pytest.raises(ParameterError, match=r"unknown vector-scene parameter 'c.centre'; did you mean 'c.center'"):
        params["c.centre"]
    with pytest.raises(ParameterError, match=r"'c.stroke_width': every entry must lie in \[0, inf\]"):
        params["c.stroke_width"] = -1.0
    snap = params.snapshot()
    params.update({"*.fill.color": np.zeros(8)})
    assert np.all(params.pack("*.fill.color") == 0)
    params.restore(snap)
    assert params.pack("c.fill.color").tolist() == [1, 0, 0, 1]
    assert params.select("*.points") == ["p.points"]


def test_detach_frees_later_renders_from_a_scene_left_attached():
    """A scene whose parameters stay attached to the AD graph (an optimization stopped by an exception,
    its traceback kept alive by pytest or a notebook) joins every later render's AD graph: forward-mode
    ``prb`` on *another* scene fails. ``ParameterMap.detach`` (called by the jobs when they stop) ends it."""
    import drjit as dr
    import mitsuba as mi

    from penumbra import renderer
    from penumbra.scenes import builders as b
    renderer.ensure_variant()

    def scene():
        return load_scene(b.scene(b.camera(origin=(0, 0, 3), resolution=(8, 8)), b.integrator("prb", max_depth=2),
                                  shapes={"r": b.rectangle((0, 0, 0), 1, bsdf=b.diffuse(0.5))},
                                  emitters={"sky": b.constant_environment(1.0)}))

    def forward(params):
        theta = mi.Float(0.0)
        dr.enable_grad(theta)
        params["r.bsdf.reflectance.value"] = mi.Color3f(0.5) + theta
        params.update()
        dr.forward(theta, dr.ADFlag.ClearEdges)
        return np.array(mi.load_dict({"type": "prb", "max_depth": 2}).render_forward(params.scene, params.mitsuba,
                                                                                     spp=1))

    left = ParameterMap(scene())
    t = mi.Float(0.0)
    dr.enable_grad(t)
    left["r.bsdf.reflectance.value"] = mi.Color3f(0.5) + t
    left.update()
    other = ParameterMap(scene())
    with pytest.raises(RuntimeError):
        forward(other)
    left.detach()
    assert not any(dr.grad_enabled(left[k]) for k in left.keys())
    grad = forward(other)
    assert np.all(np.isfinite(grad)) and grad.sum() > 0
