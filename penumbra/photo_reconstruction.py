"""Reconstruct an object from calibrated photographs: a coloured mesh and a report, in one call.

:func:`reconstruct_photos` (also ``penumbra reconstruct --photos DIR --cameras FILE``) runs:

1. **Photos** (:func:`~scenes.photo_set.load_photo_set`): the calibration (COLMAP text/binary,
   ``transforms.json`` or Middlebury ``*_par.txt``) becomes one Mitsuba ``perspective`` sensor per
   photo with its principal point; photo and mask are resampled, undistorted, onto a film ``width``
   pixels wide; views are split into training and held-out views.
2. **Initial shape** (:func:`visual_hull`, :func:`initial_mesh`): the visual hull of the training
   masks (Laurentini 1994) is carved on a voxel grid around the point nearest to the rays through
   the masks' centroids, with the masks as they are (``hull_holes="keep"``: see-through gaps in a
   silhouette carve tunnels, so the hull may have holes) or hole-filled (``"fill"``: for masks that
   miss dark parts inside the object's outline). ``init="hull"``: the hull's surface by marching
   cubes (Lorensen and Cline 1987; scikit-image), remeshed to even edges of ``max_edge_px`` film
   pixels (Botsch and Kobbelt 2004; gpytoolbox), any genus; needs the ``photos`` extra and falls back
   to ``"star"`` without scikit-image. ``init="star"``: an icosphere around the hull's innermost voxel,
   shrunk along each vertex's direction to where the ray from that voxel first leaves the hull
   (genus 0). ``init="ellipsoid"``: the ellipsoid inscribed in the hull's bounding box.
3. **Fit** in stages: vertex positions by Large Steps (Nicolet et al. 2021,
   :mod:`optim.large_steps`, λ smoothing, uniform Adam), albedo (starting at the targets' median
   colour) per vertex (``albedo="vertex"``, a ``mesh_attribute`` reflectance) or one RGB value, and,
   with ``lighting="sky"``, the radiance of a uniform sky (otherwise fixed at 1). The renderer is
   ``edge_sampling`` (Li et al. 2018: interior + primary visibility boundary term) with the sky
   hidden, so the background renders black. The loss is the mean L1 difference to the *silhouette +
   shading target*: the photo inside the mask (coverage times the photo, floored at ``floor`` times
   its median inside the mask so that shadowed object pixels still differ from the background),
   black outside. Between stages the mesh is refined by midpoint subdivision while its mean edge is
   longer than ``max_edge_px`` film pixels at the object's distance (:mod:`optim.remesh`,
   coarse-to-fine as in Large Steps).
4. **Outputs** in ``out``: ``mesh.ply`` / ``mesh.obj`` (vertex colours = albedo),
   ``views/NN_<name>.png`` (photo target | render | |error|), ``views.png`` (all views),
   ``turntable.gif`` / ``turntable.png``, ``loss.png`` / ``loss.json`` (all stages),
   ``report.json`` (silhouette IoU and PSNR on training and held-out views, initial and final),
   and ``stages/K/`` with each stage's checkpoint, so that ``resume=True`` continues a run.

Metrics: silhouette IoU of the mesh's silhouette (one ray per film pixel centre) against the mask
(coverage > 0.5); PSNR = 10 log10(1 / MSE) of the render (clipped to [0, 1], linear RGB) against the
silhouette + shading target over the whole film.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import numpy as np

from penumbra.renderer import checks

ALBEDO = ("vertex", "uniform")
LIGHTING = ("fixed", "sky")
INIT = ("hull", "star", "ellipsoid")
HULL_HOLES = ("keep", "fill")


@dataclass
class PhotoReconstruction:
    """Result of :func:`reconstruct_photos`: the mesh (``vertices`` (V, 3), ``faces`` (F, 3)), the
    per-vertex ``albedo`` (V, 3), the sky radiance, the ``report`` dictionary (as ``report.json``)
    and the output folder."""
    vertices: np.ndarray
    faces: np.ndarray
    albedo: np.ndarray
    sky: np.ndarray
    report: dict
    out_dir: str | None


# --- initial shape ----------------------------------------------------------------------------------

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


# --- scene and metrics ------------------------------------------------------------------------------

def build_scene(views, V, F, albedo, sky_radiance, spp: int):
    """Mitsuba scene: every view's sensor, the mesh ``obj`` (flat-shaded diffuse, per-vertex albedo),
    and a hidden uniform sky."""
    import mitsuba as mi

    from penumbra.scenes import load_scene, mesh_from_arrays
    bsdf = mi.load_dict({"type": "diffuse", "reflectance": {"type": "mesh_attribute", "name": "vertex_color"}})
    mesh = mesh_from_arrays(V, F, name="obj", face_normals=True, bsdf=bsdf, allow_degenerate=True)
    mesh.add_attribute("vertex_color", 3, mi.Float(np.asarray(albedo, np.float32).ravel()))
    d = {"type": "scene",
         "integrator": {"type": "edge_sampling", "max_depth": 2, "edge_spp": 4, "hide_emitters": True},
         "sky": {"type": "constant", "radiance": {"type": "rgb", "value": [float(x) for x in sky_radiance]}},
         "obj": mesh}
    names = [f"view{i:05d}" for i in range(len(views))]   # zero-padded: Mitsuba orders sensors by name
    for name, pv in zip(names, views):
        sensor = dict(pv.sensor)
        sensor["sampler"] = {"type": "independent", "sample_count": int(spp)}
        d[name] = sensor
    scene = load_scene(d)
    if [s.id() for s in scene.sensors()] != names:
        raise RuntimeError("reconstruct_photos: the scene's sensors are not in the order of the views")
    return scene


def targets(views, floor: float) -> list[np.ndarray]:
    """Silhouette + shading targets (module docstring, step 3), one (H, W, 3) image per view."""
    out = []
    for pv in views:
        inside = pv.mask > 0.5
        lo = floor * np.median(pv.image[inside], axis=0) if inside.any() else 0.0
        out.append((pv.mask[..., None] * np.maximum(pv.image, lo)).astype(np.float32))
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """10 log10(1 / MSE) of two images with values clipped to [0, 1] (inf when equal)."""
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def evaluate(views, scene, V, F, goal, spp: int, seed: int):
    """Per-view silhouette IoU and PSNR of the mesh (V, F) rendered in ``scene``; returns
    (renders, per-view dicts)."""
    import mitsuba as mi

    from penumbra.jobs.reconstruct import iou, silhouettes
    sil = silhouettes(V, F, [s for s in scene.sensors()])
    renders, rows = [], []
    for i, pv in enumerate(views):
        img = np.array(mi.render(scene, sensor=i, spp=spp, seed=seed + i))[..., :3]
        renders.append(img)
        rows.append({"name": pv.view.name, "held_out": bool(pv.held_out),
                     "iou": iou(sil[i], pv.mask > 0.5), "psnr": psnr(img, goal[i])})
    return renders, rows


def summary(rows) -> dict:
    """Mean IoU and PSNR over training and held-out views."""
    out = {}
    for key, sel in (("train", False), ("held_out", True)):
        r = [x for x in rows if x["held_out"] == sel]
        if r:
            out[key] = {"iou": float(np.mean([x["iou"] for x in r])),
                        "psnr": float(np.mean([x["psnr"] for x in r])), "views": len(r)}
    return out


# --- outputs ----------------------------------------------------------------------------------------

def turntable_cameras(views, centre, frames: int, width: int, spp: int = 16) -> list[dict]:
    """``frames`` perspective sensors on a circle around ``centre`` about the cameras' mean up
    direction, at their mean distance and elevation, with the first view's field of view."""
    import mitsuba as mi
    up = np.mean([-pv.view.R[1] for pv in views], axis=0)
    up /= np.linalg.norm(up)
    offsets = np.array([pv.view.center - centre for pv in views])
    dist = float(np.linalg.norm(offsets, axis=1).mean())
    height = float(np.mean(offsets @ up))
    ring = offsets - np.outer(offsets @ up, up)
    a = ring[0] / max(np.linalg.norm(ring[0]), 1e-12)
    if np.linalg.norm(ring[0]) < 1e-9:
        a = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
        a /= np.linalg.norm(a)
    b = np.cross(up, a)
    radius = np.sqrt(max(dist ** 2 - height ** 2, 1e-12))
    sensor = views[0].sensor
    H = max(1, int(round(width * sensor["film"]["height"] / sensor["film"]["width"])))
    out = []
    for k in range(frames):
        phi = 2 * np.pi * k / frames
        origin = centre + height * up + radius * (np.cos(phi) * a + np.sin(phi) * b)
        out.append({"type": "perspective", "fov_axis": "x", "fov": sensor["fov"],
                    "near_clip": sensor["near_clip"], "far_clip": sensor["far_clip"],
                    "to_world": mi.ScalarTransform4f().look_at(origin=origin.tolist(), target=centre.tolist(),
                                                               up=up.tolist()),
                    "sampler": {"type": "independent", "sample_count": int(spp)},
                    "film": {"type": "hdrfilm", "width": int(width), "height": H, "pixel_format": "rgb",
                             "rfilter": {"type": "box"}}})
    return out


def write_turntable(path_stem: str, V, F, albedo, sky, views, frames: int, width: int):
    """Render the result on ``frames`` turntable cameras; write ``<stem>.gif`` and ``<stem>.png``."""
    import mitsuba as mi
    from PIL import Image

    from penumbra import renderer
    from penumbra.jobs.reconstruct import side_by_side
    from penumbra.scenes import load_scene
    base = build_scene(views[:1], V, F, albedo, sky, spp=16)
    shape = [s for s in base.shapes()][0]
    d = {"type": "scene", "integrator": {"type": "path", "max_depth": 3, "hide_emitters": True},
         "sky": [e for e in base.emitters()][0], "obj": shape}
    for k, cam in enumerate(turntable_cameras(views, np.asarray(V).mean(axis=0), frames, width)):
        d[f"turn{k}"] = cam
    scene = load_scene(d)
    imgs = [np.array(mi.render(scene, sensor=k, seed=k))[..., :3] for k in range(frames)]
    srgb = [np.clip(renderer.linear_to_srgb(np.clip(i, 0, 1)) * 255, 0, 255).astype(np.uint8) for i in imgs]
    Image.fromarray(srgb[0]).save(path_stem + ".gif", save_all=True, append_images=[Image.fromarray(x) for x in
                                                                                    srgb[1:]],
                                  duration=80, loop=0)
    renderer.write_image(path_stem + ".png", side_by_side([imgs]))


def write_views(out_dir: str, views, goal, renders):
    """``views/NN_<name>.png`` (target | render | |error|) per view and ``views.png`` with all rows."""
    from penumbra import renderer
    from penumbra.jobs.reconstruct import side_by_side
    os.makedirs(os.path.join(out_dir, "views"), exist_ok=True)
    rows = []
    for i, (pv, t, r) in enumerate(zip(views, goal, renders)):
        row = [t, r, np.abs(r - t)]
        rows.append(row)
        stem = os.path.splitext(os.path.basename(pv.view.name))[0]
        renderer.write_image(os.path.join(out_dir, "views", f"{i:02d}_{stem}.png"), side_by_side([row]))
    renderer.write_image(os.path.join(out_dir, "views.png"), side_by_side(rows))


# --- the fit ----------------------------------------------------------------------------------------

def fit_stage(views, goal, train, V, F, albedo, sky, *, steps, views_per_step, spp, lambda_, lr, lr_albedo,
              albedo_mode, lighting, out_dir, checkpoint_every, resume, progress, description, seed):
    """One stage: optimize positions (Large Steps), albedo and (optionally) the sky on a fixed mesh
    connectivity. Returns (V, albedo, sky, loss history)."""
    import drjit as dr
    import mitsuba as mi

    from penumbra import optim
    from penumbra.optim.large_steps import LargeSteps, UniformAdam
    from penumbra.scenes import ParameterMap
    scene = build_scene(views, V, F, albedo, sky, spp)
    params = ParameterMap(scene)
    pos = "obj.vertex_positions"
    x0 = params.validate(pos, mi.Float(np.asarray(V, np.float32).ravel()))
    variables = {pos: optim.Variable(x0, LargeSteps(np.asarray(V), F, lambda_), lr=lr)}
    if albedo_mode == "vertex":
        a0 = np.clip(np.asarray(albedo, np.float64), 0.02, 0.98).ravel()
        variables["obj.vertex_color"] = optim.Variable(mi.Float(a0.astype(np.float32)), optim.Unit, lr=lr_albedo)
    else:
        a0 = np.clip(np.asarray(albedo, np.float64)[0], 0.02, 0.98)
        variables["albedo"] = optim.Variable(mi.Float(a0.astype(np.float32)), optim.Unit, lr=lr_albedo)
    if lighting == "sky":
        variables["sky.radiance.value"] = optim.Variable(params.validate("sky.radiance.value",
                                                                         mi.Color3f(*[float(s) for s in sky])),
                                                         optim.Positive(), lr=lr_albedo)
    tg = [mi.TensorXf(t) for t in goal]
    k = min(views_per_step, len(train))
    order = np.random.default_rng(seed).permutation(train)
    n_vert = len(V)

    def objective(values):
        values = dict(values)
        if "albedo" in values:
            a = values.pop("albedo")
            values["obj.vertex_color"] = dr.tile(a, n_vert)
        params.update(values)
        s = step_state[0]
        step_state[0] += 1
        total = 0.0
        for j in range(k):
            v = int(order[(s * k + j) % len(order)])
            image = mi.render(params.scene, params.mitsuba, sensor=v, spp=spp, seed=seed * 100003 + s * 97 + v)
            total = total + optim.losses.l1(image, tg[v])
        return total / k

    step_state = [0]
    try:
        result = optim.optimize(objective, variables, steps, optimizer=UniformAdam(uniform={pos}), out_dir=out_dir,
                                schedule=optim.schedules.cosine(steps, final=0.1), progress=progress,
                                checkpoint_every=checkpoint_every, resume=resume, description=description,
                                plot=False)
    finally:
        params.detach()  # also when the run fails: see ParameterSet.detach
    vals = result.numpy()
    V1 = vals[pos].reshape(-1, 3).astype(np.float64)
    A1 = (vals["obj.vertex_color"].reshape(-1, 3) if albedo_mode == "vertex"
          else np.tile(vals["albedo"].reshape(1, 3), (n_vert, 1))).astype(np.float64)
    sky1 = np.asarray(vals["sky.radiance.value"], np.float64).ravel() if lighting == "sky" else np.asarray(sky)
    return V1, A1, sky1, result.history


def reconstruct_photos(photos: str, cameras: str, out: str | None = "out/reconstruct", *, width: int = 64,
                       height: int | None = None, mask: str = "alpha", held_out="every:2", steps: int = 160,
                       stages: int = 2, views_per_step: int = 4, spp: int = 4, subdivisions: int = 3,
                       init: str = "hull", hull_resolution: int = 64, hull_holes: str = "keep",
                       max_edge_px: float = 2.0,
                       max_faces: int = 20000, lambda_: float = 20.0, lr: float | None = None, lr_albedo: float = 0.05,
                       albedo: str = "vertex", lighting: str = "fixed", floor: float = 0.5,
                       turntable: int = 24, checkpoint_every: int = 20, resume: bool = False,
                       progress: bool = True, seed: int = 0) -> PhotoReconstruction:
    """Reconstruct the object seen in folder ``photos`` calibrated by ``cameras`` (module docstring).

    ``width``/``height``: film size (height from the photos' aspect by default); ``mask``: the mask
    rule of :mod:`~scenes.photos` (``alpha``, ``folder:DIR``, ``threshold:T``, ``border[:T]``);
    ``held_out``: the held-out views (:mod:`~scenes.photo_set`); ``steps`` in total, split evenly
    over ``stages`` (remeshing between stages); ``init``: ``hull``, ``star`` or ``ellipsoid``;
    ``hull_holes``: ``keep`` or ``fill`` the masks' holes when carving the hull; ``lr``: the Large
    Steps learning rate, by default 0.005 from the marching-cubes hull (its silhouettes are already
    within about a pixel: larger steps lost held-out IoU on the temple) and 0.01 otherwise; ``albedo``:
    ``vertex`` or ``uniform``; ``lighting``: ``fixed`` (uniform sky of radiance 1) or ``sky``
    (its RGB radiance is optimized too). ``out=None`` writes nothing (no checkpoints either)."""
    from penumbra.optim.remesh import refine
    from penumbra.renderer import ensure_variant
    from penumbra.scenes import save_mesh
    from penumbra.scenes.photo_set import load_photo_set
    ensure_variant()
    checks.integer("steps", steps, lo=1)
    checks.integer("stages", stages, lo=1)
    checks.integer("views_per_step", views_per_step, lo=1)
    checks.integer("spp", spp, lo=1)
    checks.integer("subdivisions", subdivisions, lo=0, hi=5)
    checks.integer("turntable", turntable, lo=0)
    checks.positive("max_edge_px", max_edge_px)
    for name, value, allowed in (("albedo", albedo, ALBEDO), ("lighting", lighting, LIGHTING), ("init", init, INIT),
                                 ("hull_holes", hull_holes, HULL_HOLES)):
        if value not in allowed:
            raise ValueError(f"reconstruct_photos: {name} must be one of {allowed}, got {value!r}")
    init = start_shape(init)
    if lr is None:
        lr = 0.005 if init == "hull" else 0.01
    checks.positive("lr", lr)
    if steps < stages:
        raise ValueError(f"reconstruct_photos: steps ({steps}) must be >= stages ({stages})")
    t0 = time.perf_counter()
    views = load_photo_set(photos, cameras, width, height, mask=mask, held_out=held_out, spp=spp)
    train = [i for i, pv in enumerate(views) if not pv.held_out]
    goal = targets(views, floor)
    occ, origin, voxel = visual_hull([views[i] for i in train], hull_resolution, holes=hull_holes)
    footprint = film_pixel_size(views, origin + voxel * (np.argwhere(occ).mean(axis=0) + 0.5))
    V, F = initial_mesh(occ, origin, voxel, subdivisions, init, edge=max_edge_px * footprint)
    # initial albedo: the training targets' median colour inside the masks (a diffuse object under a
    # uniform sky of radiance 1 renders at about its albedo), so that the first steps do not move the
    # geometry to fix a brightness mismatch
    inside = np.concatenate([goal[i][views[i].mask > 0.5] for i in train])
    A = np.tile(np.clip(np.median(inside, axis=0), 0.02, 0.98), (len(V), 1))
    sky = np.ones(3)
    if out:
        os.makedirs(out, exist_ok=True)

    scene0 = build_scene(views, V, F, A, sky, spp=16)
    _, rows0 = evaluate(views, scene0, V, F, goal, spp=16, seed=1000)
    del scene0

    history, stage_info = [], []
    per_stage = [steps // stages + (1 if s < steps % stages else 0) for s in range(stages)]
    for s, n_steps in enumerate(per_stage):
        if s > 0:
            if albedo == "vertex":
                V, F, A, _ = refine(V, F, max_edge_px * footprint, max_faces, A)
            else:
                V, F, _ = refine(V, F, max_edge_px * footprint, max_faces)
                A = np.tile(A[:1], (len(V), 1))
        stage_dir = os.path.join(out, "stages", str(s)) if out else None
        done = os.path.join(stage_dir, "result.npz") if stage_dir else None
        if resume and done and os.path.exists(done):
            with np.load(done) as z:
                V, F, A, sky, h = z["V"], z["F"], z["A"], z["sky"], list(z["history"])
        else:
            V, A, sky, h = fit_stage(views, goal, train, V, F, A, sky, steps=n_steps, views_per_step=views_per_step,
                                     spp=spp, lambda_=lambda_, lr=lr, lr_albedo=lr_albedo, albedo_mode=albedo,
                                     lighting=lighting, out_dir=stage_dir,
                                     checkpoint_every=checkpoint_every if stage_dir else 0, resume=resume,
                                     progress=progress, description=f"stage {s + 1}/{stages} ({len(F)} faces)",
                                     seed=seed + s)
            if done:
                np.savez(done, V=V, F=F, A=A, sky=sky, history=np.asarray(h))
        history += list(h)
        stage_info.append({"steps": n_steps, "vertices": len(V), "faces": len(F)})

    scene1 = build_scene(views, V, F, A, sky, spp=16)
    renders, rows1 = evaluate(views, scene1, V, F, goal, spp=16, seed=2000)
    report = {
        "photos": os.path.abspath(photos), "cameras": os.path.abspath(cameras), "mask": mask,
        "held_out": str(held_out), "film": list(goal[0].shape[1::-1]), "init": init, "hull_holes": hull_holes, "lr": lr,
        "initial": summary(rows0), "final": summary(rows1),
        "views": [{**r1, "initial_iou": r0["iou"], "initial_psnr": r0["psnr"]} for r0, r1 in zip(rows0, rows1)],
        "stages": stage_info, "steps": steps, "vertices": len(V), "faces": len(F),
        "albedo_mean": A.mean(axis=0).tolist(), "sky": np.asarray(sky).tolist(),
        "loss": {"first": history[0], "last": history[-1]},
        "seconds": time.perf_counter() - t0,
    }
    if out:
        save_mesh((V, F), os.path.join(out, "mesh.ply"), colors=A)
        save_mesh((V, F), os.path.join(out, "mesh.obj"), colors=A)
        write_views(out, views, goal, renders)
        if turntable:
            write_turntable(os.path.join(out, "turntable"), V, F, A, sky, views, turntable, goal[0].shape[1])
        from penumbra.optim import plot_loss
        with open(os.path.join(out, "loss.json"), "w") as f:
            json.dump({"loss": history, "stages": stage_info}, f)
        plot_loss(history, os.path.join(out, "loss.png"), "reconstruct (all stages)")
        report["seconds"] = time.perf_counter() - t0
        with open(os.path.join(out, "report.json"), "w") as f:
            json.dump(report, f, indent=2)
    return PhotoReconstruction(V, F, A, np.asarray(sky), report, out)

