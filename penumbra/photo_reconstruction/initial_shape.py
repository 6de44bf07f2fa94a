"""The initial shape of a photo reconstruction: the visual hull of the training masks carved on a voxel
grid (Laurentini 1994) and the start mesh made from it (marching cubes and isotropic remeshing, a
star-shaped icosphere or the hull box's ellipsoid)."""
from __future__ import annotations

import numpy as np

INIT = ("hull", "star", "ellipsoid")
HULL_HOLES = ("keep", "fill")

def film_projection(pv, X: np.ndarray) -> np.ndarray:
    """Film corner coordinates (N, 2) of world points ``X`` in the photo view ``pv`` (through the
    lens distortion, the same map the photos were resampled with)."""
    from penumbra.scenes.view_sensor import film_map
    fm = film_map(pv.view, pv.mask.shape[1], pv.mask.shape[0])
    return fm.photo_to_film(pv.view.project(X))


def nearest_point_to_rays(origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """The point minimising the summed squared distances to the lines ``origins + t directions``."""
    d = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    P = np.eye(3)[None] - d[:, :, None] * d[:, None, :]
    return np.linalg.solve(P.sum(axis=0), np.einsum("nij,nj->i", P, origins))


def mask_rays(pv) -> tuple[np.ndarray, np.ndarray, float]:
    """(camera centre, world direction through the mask's centroid, mask radius in film pixels)."""
    m = pv.mask > 0.5
    yy, xx = np.nonzero(m)
    fm_w = pv.mask.shape[1]
    scale = fm_w / pv.view.width
    u, v = (xx.mean() + 0.5) / scale - 0.5, (yy.mean() + 0.5) / (scale * pv.view.fx / pv.view.fy) - 0.5
    d_cam = np.array([(u - pv.view.cx) / pv.view.fx, (v - pv.view.cy) / pv.view.fy, 1.0])
    radius = float(np.sqrt(((xx - xx.mean()) ** 2 + (yy - yy.mean()) ** 2).max())) + 1.0
    return pv.view.center, pv.view.R.T @ d_cam, radius


def visual_hull(views, resolution: int = 64, margin: float = 1.5, holes: str = "keep"):
    """Visual hull of the photo views ``views`` on a ``resolution``^3 grid: (occupancy (n, n, n)
    bool, grid origin (3,), voxel size). The grid is a cube centred on the point nearest to the
    rays through the masks' centroids, ``margin`` times the largest mask radius back-projected to
    that point's depth. A voxel is kept when its centre projects, in every view, inside the film
    onto a mask pixel (coverage >= 0.5; with ``holes="fill"`` the masks' holes are filled first, so
    that dark parts inside an object's outline do not carve it, at the price of closing see-through
    gaps). The largest connected part is kept, its enclosed cavities filled.
    A second pass carves the first hull's bounding box at the same resolution. Raises PhotoError
    naming the views when the hull is empty."""
    from scipy import ndimage

    from penumbra.scenes.errors import PhotoError
    rays = [mask_rays(pv) for pv in views]
    centre = nearest_point_to_rays(np.array([r[0] for r in rays]), np.array([r[1] for r in rays]))
    half = 0.0
    for pv, (o, _, r) in zip(views, rays):
        depth = float(pv.view.camera_space(centre[None])[0, 2])
        if depth <= 0:
            raise PhotoError(f"view {pv.view.name!r}: the object's estimated centre {np.round(centre, 4).tolist()} "
                             "lies behind the camera; the views do not look at a common object")
        f_film = pv.view.fx * pv.mask.shape[1] / pv.view.width
        half = max(half, margin * r * depth / f_film)
    if holes not in HULL_HOLES:
        raise ValueError(f"visual_hull: holes must be one of {HULL_HOLES}, got {holes!r}")
    n = int(resolution)
    insides = [ndimage.binary_fill_holes(pv.mask >= 0.5) if holes == "fill" else pv.mask >= 0.5 for pv in views]
    occ, origin, voxel = carve(views, insides, centre - half, 2.0 * half / n, (n, n, n), centre)
    # second pass: the same resolution over the first hull's bounding box (two voxels of padding)
    idx = np.argwhere(occ)
    lo, hi = origin + (idx.min(axis=0) - 2) * voxel, origin + (idx.max(axis=0) + 3) * voxel
    fine = float((hi - lo).max()) / n
    shape = tuple(int(k) for k in np.ceil((hi - lo) / fine))
    return carve(views, insides, lo, fine, shape, centre)


def carve(views, insides, origin, voxel, shape, centre):
    """Occupancy grid of ``shape`` voxels from ``origin``: voxels whose centre projects into every
    view's ``insides`` mask (see :func:`visual_hull`); the largest connected part, cavities filled."""
    from scipy import ndimage

    from penumbra.scenes.errors import PhotoError
    axes = [origin[i] + (np.arange(shape[i]) + 0.5) * voxel for i in range(3)]
    X = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    keep = np.ones(len(X), bool)
    kept_by_view = []
    for pv, inside in zip(views, insides):
        h, w = inside.shape
        front = pv.view.camera_space(X)[:, 2] > 0
        uv = np.floor(film_projection(pv, np.where(front[:, None], X, centre)))
        x, y = uv[:, 0].astype(np.int64), uv[:, 1].astype(np.int64)
        ok = front & (x >= 0) & (x < w) & (y >= 0) & (y < h)
        ok[ok] = inside[y[ok], x[ok]]
        kept_by_view.append(int(ok.sum()))
        keep &= ok
    if not keep.any():
        blind = [pv.view.name for pv, k in zip(views, kept_by_view) if k == 0]
        raise PhotoError("the visual hull of the training masks is empty: "
                         + (f"views {blind} do not see the object's region" if blind else
                            "the masks of the views do not agree on a common object (check the calibration "
                            "against the photos and the mask option)"))
    labels, count = ndimage.label(keep.reshape(shape))
    largest = 1 + int(np.argmax(ndimage.sum_labels(np.ones_like(labels), labels, range(1, count + 1))))
    return ndimage.binary_fill_holes(labels == largest), np.asarray(origin, np.float64), float(voxel)


def hull_surface(occupancy, origin, voxel, edge: float):
    """Surface (V, F) of the occupancy grid: marching cubes at the 0.5 level of the zero-padded
    grid (outward-facing triangles), then isotropic remeshing to mean edge length ``edge``
    (:func:`optim.remesh.remesh_isotropic`; without gpytoolbox, marching cubes on every k-th voxel
    with k the edge length in voxels). Raises ImportError without scikit-image."""
    from skimage import measure

    from penumbra.optim.remesh import remesh_isotropic
    grid = np.pad(np.asarray(occupancy, np.float32), 1)
    try:
        import gpytoolbox  # noqa: F401
        step = 1
    except ImportError:
        step = max(1, int(round(edge / voxel)))
    V, F, _, _ = measure.marching_cubes(grid, 0.5, step_size=step, allow_degenerate=False)
    V = origin + (V - 0.5) * voxel                 # padded index i is the centre of voxel i - 1
    F = np.ascontiguousarray(F[:, ::-1]).astype(np.int64)   # scikit-image's winding faces inward here
    if step == 1:
        V, F = remesh_isotropic(V, F, edge)
    return V, F


def start_shape(init: str) -> str:
    """The initial shape that runs for option ``init``: ``"star"`` with a warning when ``"hull"``
    is asked for and scikit-image cannot be imported, else ``init``."""
    if init == "hull":
        try:
            import skimage  # noqa: F401
        except ImportError:
            import warnings
            warnings.warn("init='hull' needs scikit-image (pip install 'penumbra[photos]'); starting from the "
                          "star-shaped hull mesh (init='star') instead", stacklevel=3)
            return "star"
    return init


def initial_mesh(occupancy, origin, voxel, subdivisions: int = 3, init: str = "hull", edge: float | None = None):
    """Initial mesh (V, F) from the visual hull (see the module docstring, step 2; ``init`` through
    :func:`start_shape`); ``edge``: the target edge length of ``init="hull"`` (two voxels by default)."""
    from penumbra.scenes import builders
    init = start_shape(init)
    if init == "hull":
        return hull_surface(occupancy, origin, voxel, 2.0 * voxel if edge is None else float(edge))
    idx = np.argwhere(occupancy)
    pts = origin + (idx + 0.5) * voxel
    lo, hi = pts.min(axis=0) - 0.5 * voxel, pts.max(axis=0) + 0.5 * voxel
    S, F = builders.icosphere(subdivisions)
    S = np.asarray(S, np.float64)
    if init == "ellipsoid":
        return 0.5 * (lo + hi) + 0.9 * 0.5 * (hi - lo) * S, F
    from scipy.ndimage import distance_transform_edt
    depth = distance_transform_edt(np.pad(occupancy, 1))[1:-1, 1:-1, 1:-1]
    c = origin + (np.array(np.unravel_index(np.argmax(depth), depth.shape)) + 0.5) * voxel  # deepest voxel
    n = np.array(occupancy.shape)
    t = np.arange(0.0, np.linalg.norm(hi - lo), 0.25 * voxel)
    P = c[None, None] + t[None, :, None] * S[:, None, :]            # (V, T, 3)
    ijk = np.floor((P - origin) / voxel).astype(np.int64)
    valid = np.all((ijk >= 0) & (ijk < n), axis=-1)
    ijk = np.clip(ijk, 0, n - 1)
    inside = valid & occupancy[ijk[..., 0], ijk[..., 1], ijk[..., 2]]
    first_out = np.argmin(inside, axis=1)                             # first sample outside the hull
    first_out[inside.all(axis=1)] = len(t) - 1
    r = np.maximum(t[first_out] - 0.5 * voxel, voxel)
    return c + r[:, None] * S, F


def film_pixel_size(views, point) -> float:
    """Mean over the views of the world size of one film pixel at the depth of ``point``."""
    return float(np.mean([pv.view.camera_space(np.asarray(point)[None])[0, 2] * pv.view.width
                          / (pv.view.fx * pv.mask.shape[1]) for pv in views]))
