"""Polyhedral image sources with ray-traced visibility: a box meshed as a polyhedron reproduces the exact
shoebox lattice, and a non-convex L-shaped room reproduces pyroomacoustics' polyhedral simulation."""
import numpy as np
import pytest

import scenes.room as R
from integrators.acoustic import rir, simulate

L_CORNERS = np.array([[0, 0], [6, 0], [6, 3], [3, 3], [3, 6], [0, 6]], float)
SRC, RCV = [1.0, 1.0, 1.2], [1.5, 5.0, 1.5]


def _box_pair():
    dims, s, r = [6.0, 4.0, 3.0], [1.1, 1.3, 1.2], [4.3, 2.9, 1.7]
    box = R.shoebox(dims, s, r, materials=0.2)
    poly = R.load_room((box.vertices, box.faces), src=s, receiver=r, materials=0.2)
    return box, poly


@pytest.mark.parametrize("order", [0, 1, 3, 6])
def test_box_mesh_equals_lattice(order):
    box, poly = _box_pair()
    a, res = rir(box, order), simulate(poly, order)
    b = res.numpy()
    assert res.n_paths == (2 * order + 1) * (2 * order ** 2 + 2 * order + 3) // 3
    assert len(a) == len(b) and np.linalg.norm(a - b) / np.linalg.norm(a) < 1e-10


def test_box_mesh_completeness_order_10():
    """Candidates come from rays (+ neighbour refinement): at order 10 nearly all 1561 images are found."""
    box, poly = _box_pair()
    res = simulate(poly, 10)   # default n_rays
    assert res.n_paths >= 0.98 * 1561
    a = rir(box, 10)
    assert np.linalg.norm(a - res.numpy()) / np.linalg.norm(a) < 0.05


def _pra_l_room(order):
    pra = pytest.importorskip("pyroomacoustics")
    room = pra.Room.from_corners(L_CORNERS.T, fs=16000, max_order=order, materials=pra.Material(0.2))
    room.extrude(3.0, materials=pra.Material(0.2))
    room.add_source(SRC)
    room.add_microphone(RCV)
    room.compute_rir()
    vis = np.asarray(room.visibility[0][0]).astype(bool)
    return room.rir[0][0], room.sources[0].images[:, vis].T


@pytest.mark.parametrize("order", [2, 4])
def test_l_shaped_room_matches_pyroomacoustics(order):
    ref, images = _pra_l_room(order)
    n_images = len(images)
    room = R.extruded_room(L_CORNERS, 3.0, SRC, RCV, materials=0.2)
    res = simulate(room, order, "pyroomacoustics")
    assert res.n_paths == n_images
    h = res.numpy()
    assert len(h) == len(ref)
    assert np.linalg.norm(h - ref) / np.linalg.norm(ref) <= 1e-3


def test_shadowed_direct_path():
    """Source and receiver in the two arms of the L: no direct path, yet reflections arrive."""
    room = R.extruded_room(L_CORNERS, 3.0, [5.5, 1.0, 1.5], [1.0, 5.5, 1.5], materials=0.2)
    with pytest.raises(ValueError, match="no valid path"):
        simulate(room, 0)
    res = simulate(room, 2)
    assert res.n_paths > 0
    h = res.numpy()
    direct = int(np.linalg.norm(np.array([5.5, 1.0]) - [1.0, 5.5]) / room.c * room.fs) + 40
    assert np.abs(h[direct - 3:direct + 3]).max() < 0.1 * np.abs(h).max()


@pytest.mark.slow
def test_l_shaped_room_image_set_order_8():
    """At order 8 pyroomacoustics counts two edge-grazing paths twice (two wall orders giving the same
    image, both accepted by its visibility test); as sets of image positions the results agree."""
    import drjit as dr
    from integrators.acoustic import default_params, polyhedral
    _, images = _pra_l_room(8)
    room = R.extruded_room(L_CORNERS, 3.0, SRC, RCV, materials=0.2)
    pos, _, _ = polyhedral.find_paths(room, 8, default_params(room))
    ours = np.stack([np.array(pos[a]) for a in range(3)], axis=1)
    theirs = np.unique(np.round(images.astype(np.float64), 3), axis=0)
    assert len(np.unique(np.round(ours, 3), axis=0)) == len(ours) == len(theirs)
    for p in theirs:
        assert np.min(np.linalg.norm(ours - p, axis=1)) < 1e-3


def test_exhaustive_search_is_exact_at_low_order():
    """With a budget covering every wall sequence, the polyhedral search is the classic exhaustive method
    (no rays): the box mesh gives exactly the lattice at order 5."""
    box, poly = _box_pair()
    res = simulate(poly, 5, exhaustive=10 ** 6, n_rays=0)
    assert res.n_paths == 231
    a = rir(box, 5)
    assert np.linalg.norm(a - res.numpy()) / np.linalg.norm(a) < 1e-10


@pytest.mark.slow
def test_l_shaped_room_image_set_order_10():
    """Order 10: no path that pyroomacoustics lacks, and at least 99 % of its distinct images."""
    from integrators.acoustic import default_params, polyhedral
    _, images = _pra_l_room(10)
    theirs = np.unique(np.round(images.astype(np.float64), 3), axis=0)
    room = R.extruded_room(L_CORNERS, 3.0, SRC, RCV, materials=0.2)
    pos, _, _ = polyhedral.find_paths(room, 10, default_params(room))
    ours = np.stack([np.array(pos[a]) for a in range(3)], axis=1)
    assert all(np.min(np.linalg.norm(theirs - p, axis=1)) < 1e-3 for p in ours)
    assert len(ours) >= 0.99 * len(theirs)
