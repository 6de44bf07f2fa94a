"""Batch impulse responses (integrators/acoustic/batch.py): every pair equals its own call, the pairs of
one source share one image tree, several rooms go in one call, and bad pair selections name the input."""
import numpy as np
import pytest

import penumbra.scenes.room as R
from penumbra.integrators.acoustic import image_tree, rir, rirs

L_CORNERS = np.array([[0, 0], [6, 0], [6, 3], [3, 3], [3, 6], [0, 6]], float)
SOURCES = [[1.0, 1.0, 1.2], [2.0, 4.5, 1.6]]
RECEIVERS = [[1.5, 5.0, 1.5], [5.0, 2.0, 1.1], [2.2, 2.1, 2.0]]


def _sloped():
    room = R.extruded_room(L_CORNERS, 3.0, SOURCES, RECEIVERS, materials=0.2)
    V = room.vertices.copy()
    V[(V[:, 2] > 1) & (V[:, 0] > 4), 2] = 3.5
    return R.load_room((V, room.faces), source=SOURCES, receiver=RECEIVERS, materials=0.2)


def test_batch_equals_single_calls_and_shares_the_tree(monkeypatch):
    room = _sloped()
    builds = []
    build = image_tree.build

    def counting(*a, **kw):
        builds.append(1)
        return build(*a, **kw)
    monkeypatch.setattr(image_tree, "build", counting)
    image_tree.clear_tree_cache()
    H = rirs(room, 3)
    assert H.shape[0] == 6 and len(builds) == 2          # one tree per source, shared by 3 receivers
    for i, (s, r) in enumerate((s, r) for s in range(2) for r in range(3)):
        h = rir(room, 3, source=s, receiver=r)
        assert np.array_equal(H[i, :len(h)], h) and not H[i, len(h):].any()


def test_batch_of_rooms_and_pair_selection():
    box = R.shoebox([6.0, 4.0, 3.0], [[1.1, 1.3, 1.2], [2.0, 2.0, 2.0]], [[4.3, 2.9, 1.7], [5.0, 1.0, 1.0]],
                    materials=0.3)
    out = rirs([box, _sloped()], 2, pairs=[(1, 0), (0, 1)], length=800)
    assert [h.shape for h in out] == [(2, 800), (2, 800)]
    assert np.array_equal(out[0][0], rir(box, 2, source=1, receiver=0, length=800))
    assert rirs(box, 2, pairs="matched").shape[0] == 2
    with pytest.raises(ValueError, match="matched.*2 sources and 3 receivers"):
        rirs(_sloped(), 2, pairs="matched")
    with pytest.raises(ValueError, match="pair \\(0, 5\\) is out of range"):
        rirs(box, 2, pairs=[(0, 5)])
    with pytest.raises(ValueError, match="rooms must be a Room"):
        rirs([], 2)


def test_batch_tail_traces_one_ray_set_per_source(monkeypatch):
    """With a ray-traced tail, the pairs of one source share one ray set (a receiver sphere each): the
    crossings equal those of one trace per receiver exactly, and every pair equals its own call (to
    float64 rounding: the histograms' scatter_add sums in thread order)."""
    from penumbra.integrators.acoustic import batch, tail
    room = _sloped()
    traces = []
    trace = tail.trace

    def counting(*a, **kw):
        traces.append(np.asarray(kw["receiver"]).shape)
        return trace(*a, **kw)
    monkeypatch.setattr(batch, "trace", counting)
    opts = {"n_rays": 2000, "t_max": 0.3}
    H = rirs(room, 2, tail=opts)
    assert traces == [(3, 3), (3, 3)]                    # one trace per source, its 3 receivers
    for i, (s, r) in enumerate((s, r) for s in range(2) for r in range(3)):
        h = rir(room, 2, source=s, receiver=r, tail=opts)
        assert np.abs(H[i, :len(h)] - h).max() < 1e-12 * np.abs(h).max() and not H[i, len(h):].any()
    together = trace(room, 2, 2000, 0.3, source=room.sources[1], receiver=np.asarray(room.receivers))
    for r, dep in enumerate(together):
        alone = trace(room, 2, 2000, 0.3, source=room.sources[1], receiver=room.receivers[r])
        assert len(alone.time) > 100
        for f in ("time", "length", "weight", "hits", "scat"):
            assert np.array_equal(getattr(dep, f), getattr(alone, f))
