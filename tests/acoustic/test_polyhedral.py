"""Polyhedral image sources with ray-traced visibility: a box meshed as a polyhedron reproduces the exact
shoebox lattice, and a non-convex L-shaped room reproduces pyroomacoustics' polyhedral simulation."""
import functools

import numpy as np
import pytest

import penumbra.scenes.room as R
from penumbra.integrators.acoustic import rir, simulate

L_CORNERS = np.array([[0, 0], [6, 0], [6, 3], [3, 3], [3, 6], [0, 6]], float)
SRC, RCV = [1.0, 1.0, 1.2], [1.5, 5.0, 1.5]


def _box_pair():
    dims, s, r = [6.0, 4.0, 3.0], [1.1, 1.3, 1.2], [4.3, 2.9, 1.7]
    box = R.shoebox(dims, s, r, materials=0.2)
    poly = R.load_room((box.vertices, box.faces), source=s, receiver=r, materials=0.2)
    return box, poly


@pytest.mark.parametrize("order", [0, 1, 3, 6])
def test_box_mesh_equals_lattice(order):
    box, poly = _box_pair()
    a, res = rir(box, order), simulate(poly, order)
    b = res.numpy()
    assert res.n_paths == (2 * order + 1) * (2 * order ** 2 + 2 * order + 3) // 3
    assert len(a) == len(b) and np.linalg.norm(a - b) / np.linalg.norm(a) < 1e-10


def test_box_mesh_beam_search_exact_order_12():
    """A box mesh is a prism: the beam search finds exactly the lattice's (2N+1)(2N^2+2N+3)/3 images."""
    box, poly = _box_pair()
    res = simulate(poly, 12)
    assert res.n_paths == 25 * (2 * 144 + 24 + 3) // 3
    a = rir(box, 12)
    assert np.linalg.norm(a - res.numpy()) / np.linalg.norm(a) < 1e-10


def test_box_mesh_ray_search_order_10():
    """The candidate-ray search (used for rooms that are not prisms): nearly all 1561 images at order 10."""
    box, poly = _box_pair()
    res = simulate(poly, 10, search="rays")   # default n_rays
    assert res.n_paths >= 0.98 * 1561
    a = rir(box, 10)
    assert np.linalg.norm(a - res.numpy()) / np.linalg.norm(a) < 0.05


@functools.lru_cache(maxsize=4)
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


def _image_sets(order, **kw):
    from penumbra.integrators.acoustic import default_params, polyhedral
    _, images = _pra_l_room(order)
    theirs = np.unique(np.round(images.astype(np.float64), 3), axis=0)
    room = R.extruded_room(L_CORNERS, 3.0, SRC, RCV, materials=0.2)
    pos, _, _ = polyhedral.find_paths(room, order, default_params(room), **kw)
    return np.stack([np.array(pos[a]) for a in range(3)], axis=1), theirs


@pytest.mark.parametrize("order", [6, 8])
def test_l_shaped_room_image_set_equals_pyroomacoustics(order):
    """The exact beam search finds the same image set as pyroomacoustics' exhaustive enumeration (which
    counts two edge-grazing paths twice at order 8: as sets the results agree), each image once."""
    ours, theirs = _image_sets(order)
    assert len(np.unique(np.round(ours, 3), axis=0)) == len(ours) == len(theirs)
    for p in theirs:
        assert np.min(np.linalg.norm(ours - p, axis=1)) < 1e-6


@pytest.mark.slow
def test_l_shaped_room_image_set_order_10():
    """Order 10: all 1177 distinct images of pyroomacoustics (which lists 1190: 13 duplicates), no other."""
    ours, theirs = _image_sets(10)
    assert len(theirs) == 1177 and len(ours) == len(theirs)
    assert all(np.min(np.linalg.norm(ours - p, axis=1)) < 1e-6 for p in theirs)


def test_exhaustive_search_is_exact_at_low_order():
    """With a budget covering every wall sequence, the polyhedral search is the classic exhaustive method
    (no rays): the box mesh gives exactly the lattice at order 5."""
    box, poly = _box_pair()
    res = simulate(poly, 5, exhaustive=10 ** 6, n_rays=0)
    assert res.n_paths == 231
    a = rir(box, 5)
    assert np.linalg.norm(a - res.numpy()) / np.linalg.norm(a) < 1e-10




def test_l_shaped_room_rir_matches_pyroomacoustics_with_its_duplicates(monkeypatch):
    """Order 8: pyroomacoustics lists 2 edge-grazing images twice (two wall orders, same image) and sums
    both into its RIR. Counting those twice, our RIR equals its RIR (rel. L2 1e-4, as at low order);
    without them the difference is those two arrivals (2e-2)."""
    import drjit as dr
    import mitsuba as mi
    from penumbra.integrators.acoustic import polyhedral
    ref, images = _pra_l_room(8)
    u, counts = np.unique(np.round(images.astype(np.float64), 3), axis=0, return_counts=True)
    dups = u[counts > 1]
    assert len(dups) == 2
    find = polyhedral.find_paths

    def with_duplicates(*a, **kw):
        pos, hits, orders = find(*a, **kw)
        host = isinstance(pos, np.ndarray)            # simulate's no-gradient path: NumPy (M, 3)
        P = pos if host else np.stack([np.array(pos[k]) for k in range(3)], axis=1)
        idx = np.r_[np.arange(len(P)), [int(np.argmin(np.linalg.norm(P - d, axis=1))) for d in dups]]
        if host:
            return pos[idx], hits[idx], orders[idx]
        g = mi.UInt32(idx.astype(np.uint32))
        return mi.Vector3d(*[dr.gather(mi.Float64, pos[k], g) for k in range(3)]), hits[idx], orders[idx]

    room = R.extruded_room(L_CORNERS, 3.0, SRC, RCV, materials=0.2)
    plain = rir(room, 8, "pyroomacoustics")
    monkeypatch.setattr(polyhedral, "find_paths", with_duplicates)
    h = rir(room, 8, "pyroomacoustics")
    assert np.linalg.norm(h - ref) / np.linalg.norm(ref) < 3e-4
    assert np.linalg.norm(plain - ref) / np.linalg.norm(ref) > 1e-2


def test_prism_with_pillar_equals_exhaustive_search():
    """A vertical prism with a hole (a free-standing pillar shadowing the direct path): the beam search
    equals the classic exhaustive method (every wall sequence, ray-traced visibility) at order 4."""
    H = 3.0
    P = np.array([[0, 0], [6, 0], [6, 5], [0, 5], [2.5, 2.0], [3.5, 2.0], [3.5, 3.0], [2.5, 3.0]], float)
    V = np.concatenate([np.c_[P, np.zeros(8)], np.c_[P, np.full(8, H)]])
    F = []
    for i in range(4):
        j = (i + 1) % 4
        o0, o1, i0, i1 = i, j, 4 + i, 4 + j
        F += [[o0, i1, o1], [o0, i0, i1], [8 + o0, 8 + o1, 8 + i1], [8 + o0, 8 + i1, 8 + i0],   # floor, ceiling
              [o0, o1, 8 + o1], [o0, 8 + o1, 8 + o0], [i0, 8 + i1, i1], [i0, 8 + i0, 8 + i1]]    # walls, pillar
    room = R.load_room((V, np.array(F)), source=[1.13, 0.97, 1.2], receiver=[5.07, 4.21, 1.6], materials=0.2)
    with pytest.raises(ValueError, match="no valid path"):
        simulate(room, 0)                      # the pillar blocks the direct path
    a = simulate(room, 4)
    b = simulate(room, 4, search="rays", exhaustive=10 ** 6, n_rays=0)
    assert a.n_paths == b.n_paths == 37
    assert np.linalg.norm(a.numpy() - b.numpy()) / np.linalg.norm(b.numpy()) < 1e-10
