"""The complete image-source tree (integrators/acoustic/image_tree.py) on rooms that are not prisms: it
equals the exact lattice on a box mesh, the exact 2D beam search on the L-shaped prism and the exhaustive
classic method on a sloped-ceiling room, in any orientation, and its memory guard refuses huge trees."""
import numpy as np
import pytest

import penumbra.scenes.room as R
from penumbra.integrators.acoustic import default_params, polyhedral, rir, simulate
from penumbra.renderer import memory

L_CORNERS = np.array([[0, 0], [6, 0], [6, 3], [3, 3], [3, 6], [0, 6]], float)
SRC, RCV = [1.0, 1.0, 1.2], [1.5, 5.0, 1.5]


def _sloped():
    """The L-shaped room with the ceiling of one arm raised to 3.5 m at its far end: not a prism."""
    room = R.extruded_room(L_CORNERS, 3.0, SRC, RCV, materials=0.2)
    V = room.vertices.copy()
    V[(V[:, 2] > 1) & (V[:, 0] > 4), 2] = 3.5
    return R.load_room((V, room.faces), source=SRC, receiver=RCV, materials=0.2)


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_box_mesh_tree_equals_lattice():
    dims, s, r = [6.0, 4.0, 3.0], [1.1, 1.3, 1.2], [4.3, 2.9, 1.7]
    box = R.shoebox(dims, s, r, materials=0.2)
    poly = R.load_room((box.vertices, box.faces), source=s, receiver=r, materials=0.2)
    res = simulate(poly, 6, search="tree")
    assert res.n_paths == 377
    assert _rel(res.numpy(), rir(box, 6)) < 1e-10


@pytest.mark.parametrize("order", [6, pytest.param(10, marks=pytest.mark.slow)])
def test_l_room_tree_equals_prism_beams(order):
    room = R.extruded_room(L_CORNERS, 3.0, SRC, RCV, materials=0.2)
    a, b = simulate(room, order, search="beams"), simulate(room, order, search="tree")
    assert a.n_paths == b.n_paths == {6: 283, 10: 1177}[order]
    assert _rel(b.numpy(), a.numpy()) < 1e-12


def test_sloped_room_tree_equals_exhaustive_classic_method():
    """Order 5: the classic method (every wall sequence, Borish's test, ray-traced validity) finds the
    same paths as the pruned tree, which is what ``search="auto"`` uses for a room that is not a prism."""
    room = _sloped()
    with pytest.raises(ValueError, match="prism"):
        polyhedral.find_paths(room, 2, default_params(room), search="beams")
    a = simulate(room, 5)
    b = simulate(room, 5, search="rays", exhaustive=10 ** 7, n_rays=0)
    assert a.n_paths == b.n_paths > 150
    assert _rel(a.numpy(), b.numpy()) < 1e-10


def _rotation(axis_from, angle):
    a = np.asarray(axis_from, float) / np.linalg.norm(axis_from)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K


def test_sloped_room_in_three_orientations_gives_the_same_rir():
    base = _sloped()
    shift = np.array([3.0, -2.0, 7.0])
    hs = []
    for M in (np.eye(3), np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]), _rotation([1.0, 2.0, 0.5], 0.7)):
        room = R.load_room((base.vertices @ M.T + shift, base.faces), source=M @ base.sources[0] + shift,
                           receiver=M @ base.receivers[0] + shift, materials=0.2)
        hs.append(rir(room, 4))
    assert all(len(h) == len(hs[0]) for h in hs)
    assert max(_rel(h, hs[0]) for h in hs[1:]) < 1e-6


def test_memory_guard_refuses_a_huge_tree():
    room = _sloped()
    memory.set_memory_limit("1M")
    try:
        with pytest.raises(memory.MemoryLimitError, match="image-source tree.*reduce the order"):
            simulate(room, 12)
    finally:
        memory.set_memory_limit(None)


def test_compiled_tree_and_beam_test_equal_numpy():
    """The numba pruning and beam test (tree_kernel.py) against the NumPy versions on the sloped room at
    order 6, three receivers: the same valid paths, the same paths as tracing every node, and the same
    beam masks."""
    from penumbra.integrators.acoustic import image_tree, tree_kernel
    if not tree_kernel.AVAILABLE:
        pytest.skip("numba is not installed (optional 'fast' extra): only the NumPy tree is used")
    room = _sloped()
    V = room.vertices
    n_out, d_out = polyhedral.outward_planes(room, V)
    scene = polyhedral.room_scene(V, room.faces)
    a = image_tree.build(room, V, n_out, d_out, room.sources[0], 6, compiled=False)
    b = image_tree.build(room, V, n_out, d_out, room.sources[0], 6, compiled=True)
    assert 0.99 * a.size < b.size < 1.01 * a.size       # tolerance-thin slivers may differ
    for rcv in ([1.5, 5.0, 1.5], [5.0, 1.0, 2.0], [1.0, 2.0, 0.5]):
        got = {tuple(s) for s in image_tree.valid_paths(scene, room.face_wall, b, rcv)}
        # every node of the NumPy tree traced (no beam test): the reference set
        J = [np.asarray(x, np.float64) for x in a.images]
        every = image_tree.ImageTree(a.source, J, a.parents, a.walls, a.windows, a.counts, a.n_out, a.d_out,
                                     extent=np.inf)
        want = {tuple(s) for s in image_tree.valid_paths(scene, room.face_wall, every, rcv)}
        assert got == want and len(got) > 250
        for k in range(1, 7):
            tol = 1e-4 * a.extent
            compiled = a.in_beam(k, rcv, tol)
            m, o, use = image_tree.side_planes(a.images[k - 1], a.windows[k - 1], a.counts[k - 1])
            inside = np.all((np.einsum("nej,j->ne", m, np.asarray(rcv, float)) - o > -tol) | ~use, axis=1)
            plain = inside & (a.n_out[a.walls[k - 1]] @ np.asarray(rcv, float) - a.d_out[a.walls[k - 1]] < tol)
            assert np.array_equal(compiled, plain)


def test_compiled_visibility_equals_mitsuba_tracing():
    """The float64 numba visibility test (visibility_kernel.py, used for rooms of a few hundred triangles)
    against Mitsuba's float32 ray tracing of the same tree on the sloped room at order 5, a source and
    four receivers in general position: the same valid paths. (Positions whose paths run exactly through
    an edge where two walls meet, e.g. a source and a receiver on a line parallel to a wall, may differ:
    float32 rounding decides there; a box mesh's edge paths are checked against the lattice in
    test_box_mesh_tree_equals_lattice.)"""
    from penumbra.integrators.acoustic import image_tree, visibility_kernel
    if not visibility_kernel.AVAILABLE:
        pytest.skip("numba is not installed (optional 'fast' extra): Mitsuba traces every room's paths")
    room = _sloped()
    V = room.vertices
    n_out, d_out = polyhedral.outward_planes(room, V)
    scene = polyhedral.room_scene(V, room.faces)
    mesh = polyhedral.tracer(room, V)
    assert isinstance(mesh, visibility_kernel.TriangleMesh)
    tree = image_tree.build(room, V, n_out, d_out, [1.13, 0.87, 1.21], 5)
    for rcv in ([1.5, 5.0, 1.5], [5.1, 1.2, 2.0], [0.9, 2.1, 0.5], [5.5, 1.7, 3.2]):
        want = {tuple(s) for s in image_tree.valid_paths(scene, room.face_wall, tree, rcv)}
        got = {tuple(s) for s in image_tree.valid_paths(mesh, room.face_wall, tree, rcv)}
        assert got == want and len(got) > 100


def test_receiver_level_equals_full_tree_and_beam_test():
    """The last level built per receiver (image_tree.receiver_level: point-in-beam, no clipped windows),
    and the last two (tree_kernel.two_level_candidates: the middle level unclipped), give the same valid
    paths as the tree built to the full order with the receiver's beam test, on the sloped room and the L
    prism at orders 1-6 over 3 x 3 source/receiver pairs."""
    from penumbra.integrators.acoustic import image_tree, tree_kernel
    if not tree_kernel.AVAILABLE:
        pytest.skip("numba is not installed (optional 'fast' extra): the full tree is built")
    rng = np.random.default_rng(5)
    pts = np.c_[rng.uniform(0.3, 2.7, (6, 2)), rng.uniform(0.3, 2.7, 6)]
    for room in (_sloped(), R.extruded_room(L_CORNERS, 3.0, SRC, RCV, materials=0.2)):
        V = room.vertices
        n_out, d_out = polyhedral.outward_planes(room, V)
        mesh, pr = polyhedral.tracer(room, V), image_tree.pruner(room, V, n_out, d_out)
        for order in range(1, 7):
            for s in pts[:3]:
                full = image_tree.build(room, V, n_out, d_out, s, order)
                short = image_tree.build(room, V, n_out, d_out, s, order - 1)
                shorter = image_tree.build(room, V, n_out, d_out, s, max(order - 2, 0))
                for r in pts[3:]:
                    a = image_tree.valid_paths(mesh, room.face_wall, full, r)
                    b = image_tree.valid_paths(mesh, room.face_wall, short, r, last=pr)
                    assert set(map(tuple, a)) == set(map(tuple, b)), (order, s, r)
                    if order >= 2:
                        c = image_tree.valid_paths(mesh, room.face_wall, shorter, r, last=pr, extra=2)
                        assert np.array_equal(a, c), (order, s, r)


def test_compiled_receiver_pass_equals_level_by_level_search():
    """The receiver's paths of a compiled tree in one compiled pass (path_kernel.py: beam tests, the last
    level, chains and visibility) against the level-by-level search on the same tree (NumPy index arrays
    per level, tree_kernel's beam test and last level, visibility_kernel's test): the same sequences in
    the same order, on the sloped room and the L prism, orders 1-6 (with and without the receiver's
    last level)."""
    import copy
    from penumbra.integrators.acoustic import image_tree, path_kernel
    if not path_kernel.AVAILABLE:
        pytest.skip("numba is not installed (optional 'fast' extra): the level-by-level search is used")
    rng = np.random.default_rng(11)
    pts = np.c_[rng.uniform(0.3, 2.7, (4, 2)), rng.uniform(0.3, 2.7, 4)]
    for room in (_sloped(), R.extruded_room(L_CORNERS, 3.0, SRC, RCV, materials=0.2)):
        V = room.vertices
        n_out, d_out = polyhedral.outward_planes(room, V)
        mesh, pr = polyhedral.tracer(room, V), image_tree.pruner(room, V, n_out, d_out)
        for order in range(0, 6):
            for s in pts[:2]:
                tree = image_tree.build(room, V, n_out, d_out, s, order)
                assert tree.flat is not None
                plain = copy.copy(tree)
                plain.flat = None
                for r in pts[2:]:
                    for last in (None, pr):
                        a = image_tree.valid_paths(mesh, room.face_wall, tree, r, last=last)
                        b = image_tree.valid_paths(mesh, room.face_wall, plain, r, last=last)
                        assert np.array_equal(a, b), (order, s, r, last is None)
