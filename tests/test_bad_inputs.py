"""Bad inputs get a clear error naming the input, before any kernel runs: one case per rule of the
shared checks (penumbra.renderer.checks / memory), the scene loader, pn.render, the optimizer and its
checkpoints, the acoustic metrics and the CLI parsers."""
import json
import os
import re

import numpy as np
import pytest

import penumbra as pn
from penumbra import optim
from penumbra.assets import asset
from penumbra.renderer import checks, memory

CBOX = asset("scenes", "cbox", "scene.xml")
NAN_SPHERE = ('<scene version="3.0.0"><shape type="sphere" id="ball">'
              '<float name="radius" value="nan"/></shape></scene>')


@pytest.fixture(scope="module")
def small_scene():
    return pn.load_scene(CBOX, res=8, spp=1)


@pytest.mark.parametrize("call, error, match", [
    (lambda: pn.load_scene(CBOX, spp=0), pn.SceneError, "sample_count 0; it must be >= 1"),
    (lambda: pn.load_scene(CBOX, res=0), pn.SceneError, "empty film"),
    (lambda: pn.load_scene(NAN_SPHERE), pn.SceneError, "'ball.to_world' contains NaN"),
], ids=["spp0", "res0", "nan-radius"])
def test_scene_loading(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("kwargs, match", [
    (dict(spp=0), r"render\(spp=...\) must be >= 1, got 0"),
    (dict(spp=2.5), r"render\(spp=...\) must be an integer"),
    (dict(sensor=7), r"render\(sensor=...\) must be in \[0, 0\], got 7"),
    (dict(seed=-1), r"render\(seed=...\) must be in \[0, 4294967295\]"),
], ids=["spp0", "spp-float", "sensor7", "seed-neg"])
def test_render_arguments(small_scene, kwargs, match):
    with pytest.raises(checks.InputError, match=match):
        pn.render(small_scene, **kwargs)


def test_render_memory_guard(monkeypatch):
    scene = pn.load_scene(CBOX, res=28000, spp=1)
    with pytest.raises(memory.MemoryLimitError, match=r"28000x28000 film would need about 46.7 GiB.*"
                       r"reduce the film resolution.*PENUMBRA_MEMORY_LIMIT"):
        pn.render(scene)
    monkeypatch.setenv("PENUMBRA_MEMORY_LIMIT", "1M")
    with pytest.raises(memory.MemoryLimitError, match="limit of 1.0 MiB"):
        pn.render(pn.load_scene(CBOX, res=256, spp=1))


@pytest.mark.parametrize("integrator", ["edge_sampling", "warped_area"])
def test_integrator_memory_guard_through_mitsuba(integrator):
    """The guard also holds when Penumbra's integrators are called through Mitsuba's own API
    (``mi.render``, ``render_forward``), not only through ``pn.render``."""
    import drjit as dr
    import mitsuba as mi
    scene = pn.load_scene(CBOX, res=28000, spp=1)
    integ = mi.load_dict({"type": integrator})
    # mi.render runs inside dr.custom, which re-raises as RuntimeError "(see above)" chained to ours.
    with pytest.raises(RuntimeError) as info:
        mi.render(scene, integrator=integ)
    assert isinstance(info.value.__cause__, memory.MemoryLimitError)
    assert "render of a 28000x28000 film would need about 46.7 GiB" in str(info.value.__cause__)
    params = mi.traverse(scene)
    key = next(k for k in params.keys() if k.endswith("reflectance.value"))
    dr.enable_grad(params[key])
    params.update()
    with pytest.raises(memory.MemoryLimitError, match=r"derivative render of a 28000x28000 film would need about 186.9 GiB"):
        integ.render_forward(scene, params)


def test_memory_limit_settings(monkeypatch):
    monkeypatch.setenv("PENUMBRA_MEMORY_LIMIT", "2G")
    assert memory.memory_limit() == 2 * 2 ** 30
    monkeypatch.setenv("PENUMBRA_MEMORY_LIMIT", "0")
    assert memory.memory_limit() is None
    memory.guard("anything", 1e18, "nothing")          # disabled: no error
    monkeypatch.setenv("PENUMBRA_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="PENUMBRA_MEMORY_LIMIT must be a byte count"):
        memory.memory_limit()
    monkeypatch.delenv("PENUMBRA_MEMORY_LIMIT")
    assert 0 < memory.memory_limit() <= memory.machine_memory()
    memory.set_memory_limit("3M")
    try:
        assert memory.memory_limit() == 3 * 2 ** 20
    finally:
        memory.set_memory_limit(None)


@pytest.mark.parametrize("call, match", [
    (lambda: checks.integer("n", True), "n must be an integer"),
    (lambda: checks.number("humidity", float("nan"), 0, 100), "humidity must be finite"),
    (lambda: checks.number("humidity", 120, 0, 100), r"humidity must be in \[0, 100\], got 120"),
    (lambda: checks.positive("fs", 0), "fs must be > 0"),
    (lambda: checks.finite_array("points", [[0, 1], [np.inf, 2]]), r"entry \(1, 0\) is inf"),
    (lambda: checks.index_array("faces", [[0, 1, 5]], 4), r"must index \[0, 4\); entry 2 \(flat\) is 5"),
    (lambda: checks.index_array("faces", [[0, 1, -1]], 4), r"entry 2 \(flat\) is -1"),
    (lambda: checks.choice("cap", "bevel", ("butt", "round")), "cap must be one of 'butt', 'round'"),
], ids=["bool", "nan", "range", "positive", "finite-array", "index-high", "index-neg", "choice"])
def test_shared_checks(call, match):
    with pytest.raises(checks.InputError, match=match):
        call()


def _quadratic(values):
    import drjit as dr
    return dr.sum(dr.square(values["x"] - 3.0), axis=None)


def test_optimizer_arguments():
    with pytest.raises(ValueError, match="Adam.lr=.... must be > 0"):
        optim.Adam(lr=-0.1)
    with pytest.raises(ValueError, match="learning rate of parameter 'x' must be > 0"):
        optim.optimize(_quadratic, {"x": optim.Variable(np.zeros(2), lr=-1.0)}, steps=2, progress=False)
    with pytest.raises(ValueError, match=r"optimize\(steps=...\) must be >= 0"):
        optim.optimize(_quadratic, {"x": optim.Variable(np.zeros(2))}, steps=-1, progress=False)
    with pytest.raises(ValueError, match=r"schedule\(0\) must be >= 0"):
        optim.optimize(_quadratic, {"x": optim.Variable(np.zeros(2))}, steps=2, progress=False,
                       schedule=lambda step: -1.0)
    result = optim.optimize(_quadratic, {"x": optim.Variable(np.zeros(2))}, steps=0, progress=False)
    assert result.history == [] and np.allclose(result.numpy()["x"], 0)


def _run(out, steps, resume=True, init=np.zeros(2)):
    return optim.optimize(_quadratic, {"x": optim.Variable(init)}, steps=steps, out_dir=str(out),
                          checkpoint_every=2, resume=resume, progress=False)


def test_checkpoint_resume_and_refusals(tmp_path):
    full = _run(tmp_path / "full", 6, resume=False)
    _run(tmp_path / "part", 4, resume=False)
    resumed = _run(tmp_path / "part", 6)
    assert resumed.history == pytest.approx(full.history) and len(resumed.history) == 6
    np.testing.assert_allclose(resumed.numpy()["x"], full.numpy()["x"], rtol=1e-6)
    ckpt = tmp_path / "part" / "checkpoint.npz"
    before = ckpt.read_bytes()
    with pytest.raises(optim.CheckpointError, match=r"checkpoint .*checkpoint.npz is at step 6, beyond steps=3"):
        _run(tmp_path / "part", 3)
    assert ckpt.read_bytes() == before, "a refused resume must not rewrite the checkpoint"
    with pytest.raises(optim.CheckpointError, match=r"parameter 'x' has shape \[2\], the run has \[3\]"):
        _run(tmp_path / "part", 8, init=np.zeros(3))
    with pytest.raises(optim.CheckpointError, match=r"is for parameters \['x'\], not \['y'\]"):
        optim.optimize(lambda v: _quadratic({"x": v["y"]}), {"y": optim.Variable(np.zeros(2))}, steps=8,
                       out_dir=str(tmp_path / "part"), checkpoint_every=2, resume=True, progress=False)
    assert not list((tmp_path / "part").glob("*.tmp*")), "no temporary file is left behind"


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04truncated", None, b"not a zip at all"],
                         ids=["empty", "truncated", "foreign-npz", "garbage"])
def test_unreadable_checkpoint_names_the_file(tmp_path, content):
    path = tmp_path / "checkpoint.npz"
    if content is None:
        np.savez(path, something=np.zeros(3))
    else:
        path.write_bytes(content)
    with pytest.raises(optim.CheckpointError, match=f"checkpoint {path}"):
        _run(tmp_path, 4)


@pytest.mark.parametrize("h, match", [
    (np.zeros(16000), "no energy in the 125 Hz octave band"),
    (np.array([1.0, 0.5, 0.2]), "no energy in the 125 Hz octave band"),
], ids=["all-zero", "three-samples"])
def test_sti_degenerate(h, match):
    from penumbra.integrators.acoustic import metrics
    with pytest.raises(ValueError, match=match):
        metrics.sti(h, 16000)


@pytest.mark.parametrize("argv, match", [
    (["rir", "--fs", "0"], "argument --fs: the value must be >= 1, got 0"),
    (["room-design", "--steps", "0"], "argument --steps: the value must be >= 1, got 0"),
    (["materials", "--steps", "0"], "argument --steps: the value must be >= 1, got 0"),
    (["vectorize", "--lr", "-1"], "argument --lr: the value must be > 0, got -1"),
    (["vectorize", "--size", "nan"], "argument --size: the value must be an integer, got 'nan'"),
    (["rir", "--source", "1", "nan", "2"], "argument --source: the value must be finite"),
    (["reconstruct", "--subdivisions", "12"], r"argument --subdivisions: the value must be in \[0, 8\]"),
], ids=["rir-fs", "room-design-steps", "materials-steps", "vectorize-lr", "size-nan", "source-nan",
        "subdivisions"])
def test_cli_arguments_are_range_checked(argv, match, capsys, tmp_path):
    from penumbra.cli import main
    with pytest.raises(SystemExit) as exit_:
        main(argv + ["--out", str(tmp_path)] if argv[0] != "rir" else argv)
    assert exit_.value.code == 2
    assert re.search(match, capsys.readouterr().err)
    assert not os.listdir(tmp_path), "nothing is written for a refused command"


BAD_PLY = ("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
           "element face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n")


def test_out_of_range_ply_faces_are_refused(tmp_path):
    path = tmp_path / "bad.ply"
    path.write_text(BAD_PLY)
    with pytest.raises(pn.SceneError, match="a face refers to vertex 7, but the mesh has 3 vertices"):
        pn.load_mesh(path)
    xml = f'<scene version="3.0.0"><shape type="ply" id="b"><string name="filename" value="{path}"/></shape></scene>'
    with pytest.raises(pn.SceneError, match="shape 'b': a face refers to vertex 7"):
        pn.load_scene(xml)


def test_saved_svg_ids_are_escaped(tmp_path):
    text = ('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><g id="g&lt;1&quot;">'
            '<rect id="a&amp;b c" width="3" height="4" fill="red"/></g></svg>')
    path = tmp_path / "ids.svg"
    pn.save_svg(pn.load_svg(text), path)
    assert [s.id for s in pn.load_svg(path).shapes()] == ["a&b c"]


@pytest.mark.parametrize("svg, match", [
    ('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8" viewBox="0 0 0 0"/>', "viewBox '0 0 0 0' must"),
    ('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><path d="M 0 0 L nan 3 Z"/></svg>',
     "<path> attribute d='M 0 0 L nan 3 Z' holds a non-finite number"),
    ('<svg xmlns="http://www.w3.org/2000/svg" width="-8" height="8"/>', "needs width/height or a viewBox"),
], ids=["viewbox-zero", "nan-coordinate", "negative-width"])
def test_svg_refusals(svg, match):
    with pytest.raises(pn.SceneError, match=match):
        pn.load_svg(svg)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(width=100000, height=100000), memory.MemoryLimitError, "100000x100000 pixels at spp 4 would need about"),
    (dict(tile=0), checks.InputError, r"rasterize\(tile=...\) must be in \[1, 64\], got 0"),
    (dict(spp=0), checks.InputError, r"rasterize\(spp=...\) must be >= 1"),
    (dict(filter="lanczos"), checks.InputError, r"rasterize\(filter=...\) must be one of"),
    (dict(width=0), checks.InputError, r"rasterize\(width=...\) must be >= 1"),
], ids=["memory", "tile0", "spp0", "filter", "width0"])
def test_rasterize_arguments(kwargs, error, match):
    scene = pn.load_svg(asset("svg", "shapes.svg"))
    with pytest.raises(error, match=match):
        pn.rasterize(scene, **kwargs)


@pytest.mark.parametrize("room, match", [
    ({"shoebox": [5, 4, 3], "source": [1, 1, 1], "receiver": [2, 2, 2], "humidity": float("nan")},
     r"room file .*: humidity \(relative, %\) must be finite, got nan"),
    ({"shoebox": [5, 4, 3], "source": [1, 1, 1], "receiver": [2, 2, 2], "humidity": -5},
     r"humidity \(relative, %\) must be in \[0, 100\], got -5"),
    ({"shoebox": [5, 4, 3], "source": [1, 1, 1], "receiver": [2, 2, 2], "fs": 8000.5},
     "sampling rate fs must be an integer, got 8000.5"),
    ({"shoebox": [5, 4], "source": [1, 1, 1], "receiver": [2, 2, 2]},
     r"room file .*: shoebox dimensions must be 3 positive finite lengths"),
    ([1, 2, 3], "must hold a JSON object, got list"),
], ids=["humidity-nan", "humidity-negative", "fs-fraction", "shoebox-2d", "not-an-object"])
def test_room_files_name_the_file(tmp_path, room, match):
    path = tmp_path / "room.json"
    path.write_text(json.dumps(room))
    with pytest.raises(pn.SceneError, match=match):
        pn.load_room(path)


def test_room_file_that_is_not_json(tmp_path):
    path = tmp_path / "room.json"
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(pn.SceneError, match=f"room file {path} is not valid JSON"):
        pn.load_room(path)


def test_rir_memory_guard(monkeypatch):
    from penumbra.integrators.acoustic.rir import lattice_size
    from penumbra.integrators.acoustic.shoebox import lattice
    assert [lattice_size(n) for n in (0, 1, 3, 10)] == [len(lattice(n)) for n in (0, 1, 3, 10)]
    monkeypatch.setenv("PENUMBRA_MEMORY_LIMIT", "100M")
    room = pn.shoebox([7, 5, 3.2], [1, 1, 1], [2, 2, 2])
    with pytest.raises(memory.MemoryLimitError, match=r"simulate\(order=200\) of a shoebox \(10747201 image sources\)"):
        pn.rir(room, order=200)
    with pytest.raises(memory.MemoryLimitError, match=r"impulse response .* reduce the order, the room size or fs"):
        pn.rir(pn.shoebox([100000, 5, 3.2], [1, 1, 1], [2, 2, 2]), order=10)
    with pytest.raises(memory.MemoryLimitError, match=r"ray-traced tail \(100000000 rays, 6 walls\).*reduce n_rays"):
        pn.rir(room, order=1, tail={"n_rays": 10 ** 8})
    with pytest.raises(checks.InputError, match="n_rays must be >= 1, got 0"):
        pn.rir(room, order=1, tail={"n_rays": 0})
    from penumbra.scenes.room import extruded_room
    l_room = extruded_room([[0, 0], [15, 0], [15, 6], [8, 6], [8, 10], [0, 10]], 10, [2, 2, 1.5], [12, 3, 2], fs=8000)
    monkeypatch.setenv("PENUMBRA_MEMORY_LIMIT", "20M")
    with pytest.raises(memory.MemoryLimitError, match=r"prism image sources at order 25 \(\d+ images\).*reduce the order"):
        pn.rir(l_room, order=25)


def test_unnamed_objects_get_stable_parameter_names():
    xml = ('<scene version="3.0.0"><sensor type="perspective"/><shape type="sphere"/>'
           '<shape type="rectangle"><emitter type="area"/></shape><shape type="sphere" id="shape0"/>'
           '<emitter type="constant"/></scene>')
    names = [set(pn.ParameterMap(pn.load_scene(xml)).keys()) for _ in range(2)]
    assert names[0] == names[1]
    assert {"sensor0.x_fov", "shape0_.to_world", "shape1.emitter.radiance.value", "shape0.to_world",
            "emitter0.radiance.value"} <= names[0]
    assert not any(n.startswith("object_") for n in names[0])


@pytest.mark.parametrize("floor, match", [
    ([[0, 0], [4, 0], [0, 3], [4, 3]], r"not simple: side 1 \(corners 1-2\) meets side 3"),
    ([[0, 0], [4, 0], [4, 0], [0, 3]], "not simple"),
    ([[0, 0], [4, 0], [8, 0]], "zero area"),
], ids=["bow-tie", "repeated-corner", "collinear"])
def test_floor_polygon_must_be_simple(floor, match):
    with pytest.raises(pn.SceneError, match=match):
        pn.extruded_room(floor, 3.0, [1, 1, 1], [2, 1.5, 1])


def test_shader_canvas_arguments_and_memory():
    from penumbra import shaders
    from penumbra.shaders.canvas import render_canvas
    S = shaders.Shader(lambda uv, p: shaders.step(uv[0] - p["t"]) * 1.0, {"t": 0.5})
    with pytest.raises(checks.InputError, match=r"render_canvas\(spp=...\) must be >= 1, got 0"):
        render_canvas(S, 8, 8, spp=0)
    with pytest.raises(memory.MemoryLimitError, match=r"render_canvas\(\) of 100000x100000 pixels at spp 16"):
        render_canvas(S, 100000, 100000)
