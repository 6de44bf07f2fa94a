"""A synthetic stand-in for an auditorium model exported from a modelling tool: a fan-shaped hall with a
stage and a sloped ceiling, finely triangulated, written as an unwelded triangle soup with rounding
noise, a few degenerate triangles and small holes."""
import numpy as np

from penumbra.scenes.room import triangulate_polygon

# side section (y, z): stage top, stage riser, floor, back wall, sloped ceiling, front wall
SECTION = np.array([[0.0, 1.0], [5.0, 1.0], [5.0, 0.0], [28.0, 0.0], [28.0, 14.0], [0.0, 10.0]])


def half_width(y):
    return 7.0 + 0.3 * y          # 14 m wide at the stage front, 30.8 m at the back


def fan_hall(levels: int = 4):
    """(vertices, faces) of the closed hall, each coarse triangle split 4**levels times."""
    n = len(SECTION)
    V = [[s * half_width(y), y, z] for s in (-1.0, 1.0) for y, z in SECTION]
    F = []
    tri = triangulate_polygon(SECTION)           # counter-clockwise in (y, z)
    F += [[a, b, c] for a, b, c in tri]           # x < 0 side (outward -x)
    F += [[n + a, n + c, n + b] for a, b, c in tri]
    for i in range(n):
        j = (i + 1) % n
        F += [[i, n + i, n + j], [i, n + j, j]]
    V, F = np.array(V), np.array(F)
    for _ in range(levels):                       # midpoint subdivision (shared edges split alike)
        edges = {}
        newF = []
        Vl = list(V)

        def mid(a, b):
            k = (min(a, b), max(a, b))
            if k not in edges:
                edges[k] = len(Vl)
                Vl.append(0.5 * (Vl[a] + Vl[b]))
            return edges[k]
        for a, b, c in F:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            newF += [[a, ab, ca], [ab, b, bc], [ca, bc, c], [ab, bc, ca]]
        V, F = np.array(Vl), np.array(newF)
    return V, F


def imperfect(V, F, holes=2, degenerate=2, noise=1e-9, seed=0):
    """The mesh as an exporter might write it: a triangle soup (every corner its own vertex) with
    ``noise`` m of rounding, ``degenerate`` zero-area triangles and ``holes`` triangles removed."""
    rng = np.random.default_rng(seed)
    drop = rng.choice(len(F), holes, replace=False)
    keep = np.setdiff1d(np.arange(len(F)), drop)
    S = V[F[keep]].reshape(-1, 3) + rng.uniform(-noise, noise, (3 * len(keep), 3))
    G = np.arange(3 * len(keep)).reshape(-1, 3)
    bad = np.array([[G[k, 0], G[k, 1], G[k, 0]] for k in range(degenerate)])
    return S, np.concatenate([G, bad]), V[F[drop]]
