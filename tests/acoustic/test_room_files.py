"""Rooms from mesh files (OBJ groups/materials, PLY), their up axis and units, and imperfect meshes
(welded vertices, degenerate triangles, small holes tolerated, gross openings refused)."""
import numpy as np
import pytest

import penumbra.scenes.room as R
from penumbra.scenes.mesh_files import detect_up, up_rotation

L_ISSUE = np.array([[0, 0], [15, 0], [15, 5], [5, 5], [5, 10], [0, 10]], float)   # 100 m^2, 10 m high
SRC, RCV = np.array([2.0, 7.3, 1.5]), np.array([12.5, 2.2, 1.7])   # the corner (5, 5) blocks the direct path


def write_obj(path, room, to_file=np.eye(3), mtl=None):
    """``room`` as an OBJ file, one group per wall, vertices mapped by ``to_file`` (3, 3)."""
    with open(path, "w") as f:
        f.write("# written by the test\no room\n")
        for p in room.vertices @ np.asarray(to_file).T:
            f.write("v %.17g %.17g %.17g\n" % tuple(p))
        for w, name in enumerate(room.wall_names):
            f.write(f"g {name}\n")
            if mtl:
                f.write(f"usemtl {mtl(name)}\n")
            for t in room.faces[room.face_wall == w]:
                f.write("f %d/1 %d//2 %d\n" % tuple(t + 1))
    return path


def test_obj_round_trip_with_y_up_centimetres_and_material_names(tmp_path):
    room = R.extruded_room(L_ISSUE, 10.0, SRC, RCV)
    y_up_cm = 100 * np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]])           # room (z up, m) -> file (y up, cm)
    path = write_obj(tmp_path / "l.obj", room, y_up_cm, mtl=lambda n: "carpet" if n == "floor" else "plaster")
    loaded = R.load_room(path, source=y_up_cm @ SRC, receiver=y_up_cm @ RCV, up="y", units="cm",
                         materials={"carpet": 0.3, "plaster": 0.05, "wall0": 0.1})
    assert loaded.wall_names == room.wall_names
    assert loaded.volume() == pytest.approx(1000.0, rel=1e-12)
    assert np.allclose(loaded.vertices[loaded.faces], room.vertices[room.faces], atol=1e-12)
    assert np.allclose(loaded.sources[0], SRC) and np.allclose(loaded.receivers[0], RCV)
    alpha = {n: m.absorption[0] for n, m in zip(loaded.wall_names, loaded.materials)}
    assert alpha["floor"] == 0.3 and alpha["wall0"] == 0.1 and alpha["ceiling"] == 0.05  # wall name wins
    auto = R.load_room(path, source=y_up_cm @ SRC, receiver=y_up_cm @ RCV, up="auto", units=0.01)
    assert np.allclose(auto.frame, loaded.frame)


def test_obj_polygons_are_ear_clipped(tmp_path):
    """A non-convex n-gon floor (as modelling tools export it) keeps its shape."""
    room = R.extruded_room(L_ISSUE, 10.0, SRC, RCV)
    n = len(L_ISSUE)
    with open(tmp_path / "ngon.obj", "w") as f:
        for p in room.vertices:
            f.write("v %g %g %g\n" % tuple(p))
        f.write("g floor\nf " + " ".join(str(i + 1) for i in reversed(range(n))) + "\n")
        f.write("g ceiling\nf " + " ".join(str(n + i + 1) for i in range(n)) + "\n")
        f.write("g walls\n")
        for i in range(n):
            j = (i + 1) % n
            f.write(f"f {i + 1} {j + 1} {n + j + 1} {n + i + 1}\n")
    loaded = R.load_room(tmp_path / "ngon.obj", source=SRC, receiver=RCV)
    assert loaded.volume() == pytest.approx(1000.0, rel=1e-12)
    assert set(loaded.wall_names) >= {"floor", "ceiling", "walls.0"} and loaded.n_walls == 8


def test_ply_file(tmp_path):
    box = R.shoebox([6, 4, 3], [1, 1, 1], [4, 3, 1.5])
    with open(tmp_path / "box.ply", "w") as f:
        f.write(f"ply\nformat ascii 1.0\nelement vertex {len(box.vertices)}\nproperty float x\nproperty float y\n"
                f"property float z\nelement face {len(box.faces)}\nproperty list uchar int vertex_indices\nend_header\n")
        for p in box.vertices:
            f.write("%g %g %g\n" % tuple(p))
        for t in box.faces:
            f.write("3 %d %d %d\n" % tuple(t))
    room = R.load_room(tmp_path / "box.ply", source=[1, 1, 1], receiver=[4, 3, 1.5], materials=0.2)
    assert room.n_walls == 6 and room.volume() == pytest.approx(72.0, rel=1e-6)
    assert all(n.startswith("box.") for n in room.wall_names)


@pytest.mark.parametrize("up, axis", [("z", "z"), ("y", "y"), ("-x", "x")])
def test_up_axis_detection(up, axis):
    """The L-room is a prism along one axis only (its walls alone would say y: 300 m^2 against 200);
    floor and ceiling have equal areas, so the sign is the positive one (the rule's tie-break)."""
    room = R.extruded_room(L_ISSUE, 10.0, SRC, RCV)
    V = room.vertices @ up_rotation(up)          # the inverse rotation: up axis -> `up`
    assert detect_up(V, room.faces) == axis


def test_clear_errors_for_files(tmp_path):
    bad = tmp_path / "bad.obj"
    bad.write_text("hello\nv 1 2\n")
    with pytest.raises(R.RoomError, match="line 2"):
        R.load_room(bad, source=SRC, receiver=RCV)
    empty = tmp_path / "empty.obj"
    empty.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    with pytest.raises(R.RoomError, match="no triangles"):
        R.load_room(empty, source=SRC, receiver=RCV)
    room = R.extruded_room(L_ISSUE, 10.0, SRC, RCV)
    path = write_obj(tmp_path / "l.obj", room)
    with pytest.raises(R.RoomError, match="unknown up axis 'w'.*'auto'"):
        R.load_room(path, source=SRC, receiver=RCV, up="w")
    with pytest.raises(R.RoomError, match="unknown units 'km'"):
        R.load_room(path, source=SRC, receiver=RCV, units="km")
    with pytest.raises(R.RoomError, match="unknown part.*'stage'"):
        R.load_room(path, source=SRC, receiver=RCV, materials={"stage": 0.2})
    with pytest.raises(FileNotFoundError):
        R.load_room(tmp_path / "missing.obj", source=SRC, receiver=RCV)
    ply = tmp_path / "junk.ply"
    ply.write_text("not a ply file\n")
    with pytest.raises(R.RoomError, match="PLY"):
        R.load_room(ply, source=SRC, receiver=RCV)


ROT = np.array([[0.36, 0.48, -0.8], [-0.8, 0.6, 0.0], [0.48, 0.64, 0.6]])   # a rotation with no zero axis


def _oriented(room, M, shift=0.0, materials=0.2):
    return R.load_room((room.vertices @ M.T + shift, room.faces), source=M @ room.sources[0] + shift,
                       receiver=M @ room.receivers[0] + shift, materials=materials)


def test_the_same_rooms_in_three_orientations_give_the_same_rir():
    """z up, y up and an arbitrary rotation: the prism search finds the extrusion axis, the box goes
    through the lattice, so the impulse responses agree to rounding."""
    from penumbra.integrators.acoustic import rir
    y_up = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float)
    assert np.allclose(ROT @ ROT.T, np.eye(3)) and np.linalg.det(ROT) == pytest.approx(1.0)
    l_room = R.extruded_room(L_ISSUE, 10.0, SRC, RCV, materials=0.2)
    box = R.shoebox([20.0, 2.5, 3.0], [1.0, 1.0, 1.0], [18.0, 2.0, 1.5], materials=0.1)
    for room, order, ref in ((l_room, 6, None), (box, 10, rir(box, 10))):
        hs = [rir(_oriented(room, M, shift, room.materials[0].absorption[0]), order)
              for M, shift in ((np.eye(3), 0.0), (y_up, 0.0), (ROT, 3.0))]
        ref = hs[0] if ref is None else ref
        for h in hs:
            assert len(h) == len(ref) and np.linalg.norm(h - ref) / np.linalg.norm(ref) < 1e-6


def test_l_room_from_a_y_up_obj_file_matches_pyroomacoustics(tmp_path):
    """An L-shaped room (1000 m^3, 10 m high, 15 m x 10 m, direct path occluded), written as a
    y-up OBJ file, against pyroomacoustics' extruded L-room (tolerance of test_polyhedral.py)."""
    pra = pytest.importorskip("pyroomacoustics")
    from penumbra.integrators.acoustic import simulate
    order = 3
    ref_room = pra.Room.from_corners(L_ISSUE.T, fs=16000, max_order=order, materials=pra.Material(0.2))
    ref_room.extrude(10.0, materials=pra.Material(0.2))
    ref_room.add_source(SRC)
    ref_room.add_microphone(RCV)
    ref_room.compute_rir()
    ref = ref_room.rir[0][0]
    n_images = int(np.asarray(ref_room.visibility[0][0]).astype(bool).sum())
    y_up = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float)
    path = write_obj(tmp_path / "l_room.obj", R.extruded_room(L_ISSUE, 10.0, SRC, RCV), y_up)
    room = R.load_room(path, source=y_up @ SRC, receiver=y_up @ RCV, up="auto", materials=0.2)
    res = simulate(room, order, "pyroomacoustics")
    h = res.numpy()
    assert res.n_paths == n_images and len(h) == len(ref)
    assert np.linalg.norm(h - ref) / np.linalg.norm(ref) <= 1e-3


def test_imperfect_hall_loads_and_simulates_with_a_plausible_decay():
    """A 5,120-triangle fan-shaped hall with a stage, as an unwelded soup with 1e-9 m noise, 2 degenerate
    triangles and 2 missing triangles (holes of ~0.77 m^2 in 2,525 m^2): welded, repaired, the holes
    tolerated and reported; image sources to order 3 + ray tail give a T30 between Eyring and 1.25 x
    Sabine (specular walls in a non-diffuse hall decay a little slower than Sabine's diffuse field)."""
    from .halls import fan_hall, imperfect
    from penumbra.integrators.acoustic import metrics, simulate
    V, F = fan_hall(4)
    S, G, removed = imperfect(V, F)
    with pytest.warns(R.RoomWarning, match="2 small hole"):
        room = R.load_room((S, G), source=[0, 3, 2.5], receiver=[3, 18, 1.5], materials=0.15)
    assert room.repairs["degenerate_triangles"] == 2 and len(room.vertices) == len(V) and room.n_walls == 8
    assert len(room.holes) == 2
    for h in room.holes:
        assert h["edges"] == 3 and min(np.linalg.norm(removed.mean(axis=1) - h["centre"], axis=1)) < 1e-6
    res = simulate(room, 3, tail={"n_rays": 3000})
    assert res.escaped_rays > 0
    t30 = float(np.array(metrics.t30(res.numpy(), room.fs))[0])
    assert room.eyring()[0] < t30 < 1.25 * room.sabine()[0]


def test_gross_openings_are_refused_naming_them():
    V, F = R.shoebox([6, 4, 3], [1, 1, 1], [4, 3, 1.5]).vertices, R.shoebox([6, 4, 3], [1, 1, 1], [4, 3, 1.5]).faces
    with pytest.raises(R.RoomError, match=r"not closed.*1 opening.*hole at \[.*area 24 m\^2"):   # the ceiling, 6 m x 4 m
        R.load_room((V, F[:-2]), source=[1, 1, 1], receiver=[4, 3, 1.5])
    with pytest.raises(R.RoomError, match="no hole is tolerated"):
        R.load_room((V, F[:-1]), source=[1, 1, 1], receiver=[4, 3, 1.5], max_hole=0)
