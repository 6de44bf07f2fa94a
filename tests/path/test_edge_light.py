"""The emitter intervals of secondary edge samples (integrators/path/edge_light.py) against brute force.

For random edges, shading points and emitters, the interval of t that :func:`cone_interval` /
:func:`rectangle_interval` return must equal the set of t on a fine grid whose direction lies in the
cone / whose ray meets the rectangle's lit side (NumPy, float64); the mixture of
:func:`sample_edge_point` must be a density (E[1/p(t)] = 1, E[1[t in I]/p(t)] = |I|).
"""
import drjit as dr
import mitsuba as mi
import numpy as np

import penumbra  # noqa: F401  (sets a variant)
from penumbra.integrators.path.edge_light import cone_interval, rectangle_interval, sample_edge_point
from penumbra.integrators.path.edge_tree import EdgeTree, LightCone

GRID = np.linspace(0.0, 1.0, 4001)


def cases(seed, n=300):
    rng = np.random.default_rng(seed)
    o = rng.normal(size=(n, 3)) * 0.5
    v0 = rng.normal(size=(n, 3)) + [0, 0, 1.5]
    v1 = v0 + rng.normal(size=(n, 3))
    return o, v0, v1


def interval_on_grid(inside):
    """(t0, t1, non-empty) of a boolean mask over GRID (rows), asserting it is one interval."""
    out = []
    for row in inside:
        idx = np.flatnonzero(row)
        if len(idx) == 0:
            out.append((0.0, 0.0, False))
            continue
        assert idx[-1] - idx[0] + 1 == len(idx), "not an interval"
        out.append((GRID[idx[0]], GRID[idx[-1]], True))
    return np.array(out)


def check(t0, t1, ok, ref):
    t0, t1, ok = np.array(t0), np.array(t1), np.array(ok)
    step = GRID[1] - GRID[0]
    wide = ref[:, 2].astype(bool) & (ref[:, 1] - ref[:, 0] > 4 * step)
    assert wide.sum() > 20  # the configurations exercise non-trivial intervals
    assert ok[wide].all()
    np.testing.assert_allclose(t0[wide], ref[wide, 0], atol=2 * step)
    np.testing.assert_allclose(t1[wide], ref[wide, 1], atol=2 * step)
    # No interval where the grid finds none (up to a grid step's width).
    assert (~ok | ref[:, 2].astype(bool) | (t1 - t0 <= 2 * step)).all()


def test_cone_interval_matches_brute_force():
    o, v0, v1 = cases(1)
    axis = np.array([0.3, -0.2, 1.0]) / np.linalg.norm([0.3, -0.2, 1.0])
    cos_a = np.cos(0.4)
    y = (v0 - o)[:, None, :] + GRID[None, :, None] * (v1 - v0)[:, None, :]
    inside = (y @ axis) >= cos_a * np.linalg.norm(y, axis=2)
    P = lambda a: mi.Vector3f(*a.T.astype(np.float32))
    t0, t1, ok = cone_interval(P(v0 - o), P(v1 - v0), mi.Vector3f(*axis.tolist()), mi.Float(float(cos_a)))
    check(t0, t1, ok, interval_on_grid(inside))


def test_rectangle_interval_matches_brute_force():
    o, v0, v1 = cases(2)
    o = o + [0, 0, 3.0]  # shading points above, edges between them and a rectangle near z = 0
    v0, v1 = v0 * [1, 1, 0.3] + [0, 0, 1.0], v1 * [1, 1, 0.3] + [0, 0, 1.0]
    to_world = mi.ScalarTransform4f().translate([0.2, 0.1, -0.5]).rotate([1, 0, 0], 20).scale([1.2, 0.7, 1])
    M = np.linalg.inv(np.array(to_world.matrix, dtype=np.float64).reshape(4, 4))
    light = LightCone(centre=mi.ScalarPoint3f(0, 0, 0), radius=1.0, to_local=tuple(M[:3].ravel()))
    # Brute force in the rectangle's frame: the ray from o through p(t) meets z = 0 at s > 0 inside
    # [-1, 1]², and o is on the lit (+z) side.
    h = lambda p, w: p @ M[:3, :3].T + w * M[:3, 3]
    ol = h(o, 1.0)
    y = h(v0 - o, 0.0)[:, None, :] + GRID[None, :, None] * h(v1 - v0, 0.0)[:, None, :]
    s = -ol[:, None, 2] / np.where(y[..., 2] == 0, 1e-300, y[..., 2])
    hit = ol[:, None, :2] + s[..., None] * y[..., :2]
    inside = (s > 0) & (np.abs(hit) <= 1).all(axis=2) & (ol[:, None, 2] > 0)
    P = lambda a: mi.Point3f(*a.T.astype(np.float32))
    t0, t1, ok = rectangle_interval(P(o), P(v0), P(v1), light.to_local)
    check(t0, t1, ok, interval_on_grid(inside))


def test_mixture_is_a_density():
    n = 200_000
    sampler = mi.load_dict({"type": "independent"})
    sampler.seed(3, n)
    o = mi.Point3f(0.0, 0.0, 0.0)
    v0, v1 = mi.Point3f(-1.0, 0.2, 1.0), mi.Point3f(1.0, 0.2, 1.0)
    lights = [LightCone(centre=mi.ScalarPoint3f(0.3, 0.5, 2.0), radius=0.4),
              LightCone(centre=mi.ScalarPoint3f(-0.6, 0.0, 2.0), radius=0.2)]
    active = dr.full(mi.Bool, True, n)
    t, pdf = sample_edge_point(sampler, o, v0, v1, lights, EdgeTree.cones(o, lights), 0.9, active)
    t, pdf = np.array(t), np.array(pdf)
    assert pdf.max() > 2  # the directed strategy concentrates samples
    assert abs(np.mean(1 / pdf) - 1) < 0.01
    for lo, hi in ((0.0, 0.3), (0.45, 0.6), (0.2, 0.9)):
        est = np.mean(((t >= lo) & (t < hi)) / pdf)
        assert abs(est - (hi - lo)) < 0.01, (lo, hi, est)
