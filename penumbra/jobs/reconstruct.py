"""Main job: reconstruct a shape and its reflectance from several views (``penumbra reconstruct``,
also ``penumbra demo``).

With ``--photos DIR --cameras FILE`` the job reconstructs from calibrated photographs instead
(:func:`penumbra.photo_reconstruction.reconstruct_photos`: COLMAP, transforms.json or Middlebury
calibrations, masks, visual-hull start, staged Large Steps with remeshing, per-vertex albedo, report
with held-out IoU and PSNR). The rest of this docstring describes the synthetic mode.

Target images of a scene's mesh are rendered with Mitsuba's ``path`` integrator from every sensor
of the scene. The mesh is then replaced by a sphere (flat-shaded, grey) and its vertex positions
and diffuse reflectance are recovered by gradient descent through ``edge_sampling`` (path replay
interior term + primary-visibility boundary term, so silhouettes pull the surface; Li et al. 2018),
with the vertex positions parametrised by Large Steps (Nicolet, Jacobson, Jakob 2021:
u = (I + λL) x, :mod:`optim.large_steps`) and updated by their uniform Adam. Each step renders a
few views (cycling through all) and minimises the mean L1 image error.

Writes ``target.png`` / ``initial.png`` / ``final.png`` (all views in a row), ``comparison.png``
(rows: target, initial, final), ``loss.png`` / ``loss.json``, the recovered mesh ``mesh.ply`` /
``mesh.obj`` and ``recovered.json`` (reflectance, Chamfer distance and silhouette IoU to the
target, initial vs final), and prints the geometric errors. Flat shading is used because
smooth-shaded low-poly silhouettes have a biased boundary term (docs: engines/path.md, Limitations).

The helpers :func:`silhouettes`, :func:`iou`, :func:`chamfer` and :func:`fit` are shared with the
tests (the Middlebury temple test reconstructs from photographs with them).
"""
from __future__ import annotations

import json
import os

import numpy as np

from penumbra.distributed import options
from penumbra.renderer import checks


def add_parser(sub):
    p = sub.add_parser("reconstruct", aliases=["demo"],
                       help="recover a mesh (Large Steps) and its reflectance from renders of several views "
                       "(main job; `demo` runs it on the bundled blob scene)")
    p.add_argument("--scene", help="Mitsuba XML scene with one or more sensors and the mesh to recover "
                   "(default: the bundled blob)")
    p.add_argument("--shape", default="target", help="id of the mesh to recover (default: target)")
    p.add_argument("--steps", type=checks.cli_int(lo=1), default=160)
    p.add_argument("--views-per-step", type=checks.cli_int(lo=1), default=4,
                   help="views rendered per step (cycling through all)")
    p.add_argument("--spp", type=checks.cli_int(lo=1), default=4, help="samples per pixel per view and step")
    p.add_argument("--target-spp", type=checks.cli_int(lo=1), default=128)
    p.add_argument("--res", type=checks.cli_int(lo=1), default=64)
    p.add_argument("--subdivisions", type=checks.cli_int(lo=0, hi=8), default=3,
                   help="icosphere level of the initial sphere "
                   "(3: 642 vertices)")
    p.add_argument("--radius", type=checks.cli_float(0.0, open_lo=True), default=0.8,
                   help="initial sphere radius, as a fraction of the "
                   "half-diagonal of the target mesh's bounding box divided by sqrt(3)")
    p.add_argument("--lambda", dest="lambda_", type=checks.cli_float(lo=0.0), default=20.0,
                   help="Large Steps smoothing λ")
    p.add_argument("--lr", type=checks.cli_float(0.0, open_lo=True), default=None,
                   help="learning rate of the Large Steps latent (default 0.02; with --photos 0.005 from --init hull, "
                   "else 0.01)")
    p.add_argument("--lr-reflectance", type=checks.cli_float(0.0, open_lo=True), default=0.05)
    p.add_argument("--out", default="out/reconstruct")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("from photographs (--photos and --cameras; --res is the film width)")
    g.add_argument("--photos", help="folder of photographs (names as in the calibration)")
    g.add_argument("--cameras", help="calibration: a COLMAP model folder or cameras/images .txt/.bin, a "
                   "transforms.json, or a Middlebury *_par.txt")
    g.add_argument("--masks", default="alpha", help="object masks: 'alpha' (the images' alpha), a folder of mask "
                   "images (or 'folder:DIR'), 'threshold:T' (brightest sRGB channel > T) or 'border[:T]' "
                   "(background colour from the image border)")
    g.add_argument("--held-out", default="every:2", help="held-out views: 'every:N' (views N-1, 2N-1, ...), "
                   "'names:A,B' or 'none'")
    g.add_argument("--stages", type=checks.cli_int(lo=1), default=2,
                   help="optimization stages; between stages the mesh is subdivided while its edges are longer "
                   "than --max-edge-px")
    g.add_argument("--max-edge-px", type=checks.cli_float(0.0, open_lo=True), default=2.0,
                   help="target mean edge length in film pixels for the remeshing between stages")
    g.add_argument("--hull-resolution", type=checks.cli_int(lo=8, hi=256), default=64,
                   help="voxels along the visual hull grid's longest side")
    g.add_argument("--init", choices=["hull", "star", "ellipsoid"], default="hull",
                   help="initial shape: the visual hull's surface (marching cubes, any genus; needs "
                   "penumbra[photos], else 'star'), the icosphere shrunk onto the hull (star), or the hull box's "
                   "ellipsoid")
    g.add_argument("--hull-holes", choices=["keep", "fill"], default="keep",
                   help="carve the visual hull with the masks as they are (keep: see-through gaps become holes) or "
                   "hole-filled (fill: for masks that miss dark parts inside the object)")
    g.add_argument("--albedo", choices=["vertex", "uniform", "texture"], default="vertex",
                   help="albedo per vertex (mesh colours), one RGB value, or a texture on a UV atlas (needs xatlas: "
                   "pip install 'penumbra[photos]'; mesh.obj + mesh.mtl + mesh.png)")
    g.add_argument("--texture-res", type=checks.cli_int(lo=8, hi=4096), default=128,
                   help="texture size in texels (--albedo texture)")
    g.add_argument("--lighting", choices=["fixed", "sky", "envmap", "area"], default="fixed",
                   help="uniform sky of radiance 1 (fixed), with its RGB radiance optimized (sky), a "
                   "low-resolution environment map optimized with a smoothness prior (envmap; envmap.exr/.png), or "
                   "the sky plus --lights small area lights at fixed places outside every view, their radiance "
                   "optimized (area; lights.json)")
    g.add_argument("--lights", type=checks.cli_int(lo=1, hi=8), default=3,
                   help="number of area lights (--lighting area)")
    g.add_argument("--envmap-width", type=checks.cli_int(lo=4), default=16,
                   help="environment map width in texels (height: half; --lighting envmap)")
    g.add_argument("--envmap-smoothness", type=float, default=0.01,
                   help="weight of the environment map's smoothness prior (squared log-radiance differences)")
    g.add_argument("--appearance-steps", type=checks.cli_int(lo=0), default=0,
                   help="after the geometry stages, steps refining the per-vertex albedo (and the sky with "
                   "--lighting sky) on the fixed mesh, each step under dr.freeze (--albedo vertex, --lighting "
                   "fixed or sky)")
    g.add_argument("--no-freeze", action="store_true",
                   help="trace every appearance step instead of replaying it with dr.freeze (same result, slower)")
    g.add_argument("--turntable", type=checks.cli_int(lo=0), default=24, help="turntable frames (0: none)")
    g.add_argument("--checkpoint-every", type=checks.cli_int(lo=0), default=20,
                   help="steps between checkpoints (0: none)")
    g.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoints")
    options.add_arguments(p, "the views of each step")
    p.set_defaults(func=run)
    return p


# --- shared helpers ---------------------------------------------------------------------------------

def silhouettes(vertices, faces, sensors) -> list[np.ndarray]:
    """Binary (H, W) masks of the mesh seen through each sensor (one ray per pixel centre)."""
    import drjit as dr
    import mitsuba as mi
    from penumbra.scenes import mesh_from_arrays
    scene = mi.load_dict({"type": "scene", "m": mesh_from_arrays(vertices, faces, allow_degenerate=True,
                                                                 face_normals=True)})
    masks = []
    for sensor in sensors:
        W, H = (int(v) for v in sensor.film().crop_size())
        idx = dr.arange(mi.UInt32, W * H)
        pos = mi.Point2f((mi.Float(idx % W) + 0.5) / W, (mi.Float(idx // W) + 0.5) / H)
        ray, _ = sensor.sample_ray(0.0, 0.5, pos, mi.Point2f(0.5))
        masks.append(np.array(scene.ray_intersect(ray).is_valid()).reshape(H, W))
    return masks


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two binary masks (1 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def sample_surface(vertices, faces, n: int, seed: int = 0) -> np.ndarray:
    """``n`` points uniformly distributed (by area) on a triangle mesh."""
    V, F = np.asarray(vertices, float), np.asarray(faces)
    a, b, c = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    rng = np.random.default_rng(seed)
    f = rng.choice(len(F), n, p=area / area.sum())
    r1, r2 = np.sqrt(rng.random(n)), rng.random(n)
    return (1 - r1)[:, None] * a[f] + (r1 * (1 - r2))[:, None] * b[f] + (r1 * r2)[:, None] * c[f]


def chamfer(mesh_a, mesh_b, n: int = 20000) -> float:
    """Symmetric Chamfer distance between two meshes ((V, F) pairs): mean nearest-neighbour distance
    of ``n`` area-uniform surface samples, averaged over both directions (same units as the mesh)."""
    from scipy.spatial import cKDTree
    pa, pb = sample_surface(*mesh_a, n, seed=1), sample_surface(*mesh_b, n, seed=2)
    return float(0.5 * (cKDTree(pb).query(pa)[0].mean() + cKDTree(pa).query(pb)[0].mean()))


def view_schedule(n_views: int, views_per_step: int):
    """The views of each step: a fixed random permutation of all ``n_views`` walked ``views_per_step``
    at a time, as a function ``step -> [view, ...]``."""
    order = np.random.default_rng(0).permutation(n_views)
    k = min(views_per_step, n_views)
    return lambda step: [int(order[(step * k + j) % n_views]) for j in range(k)]


class ViewLoss:
    """The reconstruction's ``loss_fn(values, views, step)`` (:mod:`optim.items`): set the scene
    parameters to ``values`` and sum ``loss(render(view), target[view])`` over ``views``, each view
    rendered at ``spp`` with the seed ``step * n_views + view`` (a function of step and view only)."""

    def __init__(self, params, targets: list, spp: int, loss=None):
        import mitsuba as mi

        from penumbra import optim
        self.params, self.spp, self.loss = params, spp, loss or optim.losses.l1
        self.targets = [t if isinstance(t, mi.TensorXf) else mi.TensorXf(np.asarray(t, np.float32)) for t in targets]

    def __call__(self, values, views, step):
        import mitsuba as mi
        self.params.update(values)
        n, total = len(self.targets), 0.0
        for v in views:
            image = mi.render(self.params.scene, self.params.mitsuba, sensor=v, spp=self.spp, seed=step * n + v)
            total = total + self.loss(image, self.targets[v])
        return total


class ViewLossFactory:
    """Builds :class:`ViewLoss` inside a Ray worker (picklable): loads ``scene`` (a file) at ``res`` and
    replaces its mesh ``shape`` by the initial mesh (``vertices``, ``faces``) as the job does."""

    def __init__(self, scene: str, res: int, spp: int, shape: str, vertices, faces, targets, loss=None):
        self.scene, self.res, self.spp, self.shape, self.loss = scene, res, spp, shape, loss
        self.vertices, self.faces = np.asarray(vertices), np.asarray(faces)
        self.targets = [np.asarray(t, np.float32) for t in targets]

    def __call__(self):
        from penumbra.scenes import ParameterMap, load_scene
        scene = replace_shape(load_scene(self.scene, res=self.res, spp=self.spp), self.shape, self.vertices,
                              self.faces, reflectance=0.5)
        return ViewLoss(ParameterMap(scene), self.targets, self.spp, self.loss)


def fit(scene, params, shape: str, targets: list, faces, steps: int, views_per_step: int = 4, spp: int = 4,
        lambda_: float = 20.0, lr: float = 0.02, lr_reflectance: float | None = 0.05, loss=None,
        out_dir: str | None = None, progress: bool = True, description: str = "reconstructing",
        workers: int = 0, address: str | None = None, factory=None):
    """Optimize ``<shape>.vertex_positions`` (Large Steps) and, unless ``lr_reflectance`` is None,
    ``<shape>.bsdf.reflectance.value`` so that the renders of ``scene``'s sensors match ``targets``
    (a list of (H, W, 3) images, one per sensor). Returns :class:`optim.Result`.

    With ``workers > 0`` the views of each step are rendered and differentiated on that many Ray
    workers (:class:`penumbra.distributed.DataParallel`, cluster at ``address``), each holding the
    scene built by ``factory`` (e.g. :class:`ViewLossFactory`); the result equals the one-process
    result to float rounding."""
    from penumbra import optim
    from penumbra.optim.large_steps import LargeSteps, UniformAdam

    if len(targets) != len(scene.sensors()):
        raise ValueError(f"reconstruct: {len(targets)} target images for {len(scene.sensors())} sensors")
    if steps < 1 or views_per_step < 1:
        raise ValueError(f"reconstruct: steps and views_per_step must be >= 1, got {steps}, {views_per_step}")
    if workers and factory is None:
        raise ValueError("reconstruct: workers > 0 needs a factory that builds the scene in each worker "
                         "(e.g. ViewLossFactory)")
    pos, refl = f"{shape}.vertex_positions", f"{shape}.bsdf.reflectance.value"
    x0 = np.array(params[pos])
    variables = {pos: optim.Variable(x0, LargeSteps(x0.reshape(-1, 3), faces, lambda_), lr=lr)}
    if lr_reflectance is not None:
        # validate() gives the parameter's own type (Color3f): a value of another Dr.Jit type would be
        # converted through NumPy by ParameterMap, silently detaching it from the AD graph
        variables[refl] = optim.Variable(params.validate(refl, params.snapshot([refl])[refl]), optim.Unit,
                                         lr=lr_reflectance)
    n_views = len(targets)
    schedule = view_schedule(n_views, views_per_step)
    if workers:
        from penumbra.distributed import DataParallel
        objective = DataParallel(factory, n_views, workers, schedule, address=address)
    else:
        objective = optim.ItemObjective(ViewLoss(params, targets, spp, loss), n_views, schedule)
    try:
        result = optim.optimize(objective, variables, steps, optimizer=UniformAdam(uniform={pos}), out_dir=out_dir,
                                schedule=optim.schedules.cosine(steps, final=0.1), progress=progress,
                                description=description)
    finally:
        params.detach()  # also when the run fails: see ParameterSet.detach
        if workers:
            objective.shutdown()
    params.update(result.values)
    return result


def replace_shape(scene, shape_id: str, vertices, faces, reflectance=0.5, integrator=None):
    """A new scene with the sensors, emitters and other shapes of ``scene`` and, instead of the mesh
    ``shape_id``, a flat-shaded diffuse mesh (``vertices``, ``faces``) under the same id."""
    import mitsuba as mi

    from penumbra.scenes import builders, load_scene, mesh_from_arrays
    ids = [s.id() for s in scene.shapes()]
    if shape_id not in ids:
        raise KeyError(f"reconstruct: the scene has no shape with id {shape_id!r} (shapes: {ids})")
    d = {"type": "scene", "integrator": integrator or {"type": "edge_sampling", "max_depth": 3}}
    for i, s in enumerate(scene.sensors()):
        d[s.id() or f"sensor{i}"] = s
    for i, e in enumerate(scene.emitters()):
        if e.get_shape() is None:
            d[e.id() or f"emitter{i}"] = e
    for i, s in enumerate(scene.shapes()):
        if s.id() != shape_id:
            d[s.id() or f"shape{i}"] = s
    d[shape_id] = mesh_from_arrays(vertices, faces, name=shape_id, face_normals=True,
                                   bsdf=mi.load_dict(builders.diffuse(reflectance)))
    return load_scene(d)


def side_by_side(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Tile images: one row per list, a 2-pixel gap between tiles."""
    def pad(img):
        return np.pad(np.asarray(img)[..., :3], ((1, 1), (1, 1), (0, 0)), constant_values=1.0)
    return np.concatenate([np.concatenate([pad(i) for i in row], axis=1) for row in rows], axis=0)


# --- the job ----------------------------------------------------------------------------------------

def run_photos(args):
    """``--photos`` / ``--cameras`` mode: :func:`penumbra.photo_reconstruction.reconstruct_photos`."""
    from penumbra.photo_reconstruction import reconstruct_photos
    if not (args.photos and args.cameras):
        raise ValueError("--photos and --cameras go together: give the photo folder and its calibration")
    if getattr(args, "workers", 0) or getattr(args, "ray_address", None):
        raise ValueError("--workers / --ray-address: the photo reconstruction runs in one process (its stages "
                         "remesh between runs); drop --workers, or reconstruct a Mitsuba scene with --scene")
    mask = f"folder:{args.masks}" if os.path.isdir(args.masks) else args.masks
    r = reconstruct_photos(args.photos, args.cameras, args.out, width=args.res, mask=mask, held_out=args.held_out,
                           steps=args.steps, stages=args.stages, views_per_step=args.views_per_step, spp=args.spp,
                           subdivisions=args.subdivisions, init=args.init, hull_resolution=args.hull_resolution,
                           hull_holes=args.hull_holes,
                           max_edge_px=args.max_edge_px,
                           lambda_=args.lambda_, lr=args.lr, lr_albedo=args.lr_reflectance, albedo=args.albedo,
                           lighting=args.lighting, texture_res=args.texture_res, envmap_width=args.envmap_width,
                           envmap_smoothness=args.envmap_smoothness, lights=args.lights,
                           appearance_steps=args.appearance_steps, freeze=not args.no_freeze, turntable=args.turntable,
                           checkpoint_every=args.checkpoint_every,
                           resume=args.resume, progress=not args.quiet)
    for key in ("train", "held_out"):
        if key in r.report["final"]:
            a, b = r.report["initial"][key], r.report["final"][key]
            print(f"{key} views ({b['views']}): silhouette IoU {a['iou']:.3f} -> {b['iou']:.3f}, "
                  f"PSNR {a['psnr']:.2f} -> {b['psnr']:.2f} dB")
    print(f"{len(r.vertices)} vertices, {len(r.faces)} faces; {r.report['seconds']:.1f} s; outputs in {args.out}/")
    return 0


def run(args):
    if args.photos or args.cameras:
        return run_photos(args)
    args.lr = args.lr or 0.02
    import drjit as dr
    import mitsuba as mi

    from penumbra import integrators  # noqa: F401  (registers edge_sampling)
    from penumbra import renderer
    from penumbra.assets import asset
    from penumbra.scenes import ParameterMap, builders, load_scene, mesh_arrays, save_mesh

    for name in ("steps", "res", "spp", "target_spp", "views_per_step"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0 <= args.subdivisions <= 5:
        raise ValueError(f"--subdivisions must lie in [0, 5], got {args.subdivisions}")
    workers = options.requested(args)
    scene_path = args.scene or asset("scenes", "blob", "scene.xml")
    target_scene = load_scene(scene_path, res=args.res, spp=args.spp)
    shapes = {s.id(): s for s in target_scene.shapes()}
    if args.shape not in shapes or not shapes[args.shape].is_mesh():
        raise KeyError(f"reconstruct: {scene_path} has no mesh with id {args.shape!r} "
                       f"(meshes: {[k for k, s in shapes.items() if s.is_mesh()]})")
    sensors = list(target_scene.sensors())
    VT, FT = mesh_arrays(shapes[args.shape])
    true_refl = ParameterMap(target_scene).snapshot([f"{args.shape}.bsdf.reflectance.value"])
    true_refl = next(iter(true_refl.values())).ravel()
    os.makedirs(args.out, exist_ok=True)

    print(f"rendering {len(sensors)} target views with `path` ({args.target_spp} spp, {args.res}x{args.res}) ...")
    targets = [mi.render(target_scene, sensor=i, spp=args.target_spp, seed=1000 + i) for i in range(len(sensors))]

    center = 0.5 * (VT.min(0) + VT.max(0))
    radius = args.radius * 0.5 * float(np.linalg.norm(VT.max(0) - VT.min(0))) / np.sqrt(3)
    V0, F0 = builders.icosphere(args.subdivisions, radius, center)
    scene = replace_shape(target_scene, args.shape, V0, F0, reflectance=0.5)
    params = ParameterMap(scene)

    def render_all(seed):
        return [np.array(mi.render(scene, sensor=i, spp=args.target_spp, seed=seed + i)) for i in range(len(sensors))]

    initial = render_all(2000)
    tg = [np.array(t) for t in targets]
    iou0 = [iou(a, b) for a, b in zip(silhouettes(V0, F0, sensors), silhouettes(VT, FT, sensors))]
    cd0 = chamfer((V0, F0), (VT, FT))

    factory = ViewLossFactory(scene_path, args.res, args.spp, args.shape, V0, F0, targets) if workers else None
    result = fit(scene, params, args.shape, targets, F0, args.steps, args.views_per_step, args.spp,
                 args.lambda_, args.lr, args.lr_reflectance, out_dir=args.out, progress=not args.quiet,
                 description="reconstructing shape + reflectance", workers=workers, address=args.ray_address,
                 factory=factory)
    V1 = np.array(dr.detach(params[f"{args.shape}.vertex_positions"])).reshape(-1, 3)
    refl = np.array(params[f"{args.shape}.bsdf.reflectance.value"]).ravel()
    final = render_all(3000)
    iou1 = [iou(a, b) for a, b in zip(silhouettes(V1, F0, sensors), silhouettes(VT, FT, sensors))]
    cd1 = chamfer((V1, F0), (VT, FT))

    for name, imgs in (("target", tg), ("initial", initial), ("final", final)):
        renderer.write_image(os.path.join(args.out, f"{name}.png"), side_by_side([imgs]))
    renderer.write_image(os.path.join(args.out, "comparison.png"), side_by_side([tg, initial, final]))
    save_mesh((V1, F0), os.path.join(args.out, "mesh.ply"))
    save_mesh((V1, F0), os.path.join(args.out, "mesh.obj"))
    mse = {k: float(np.mean([np.mean((a - b) ** 2) for a, b in zip(imgs, tg)]))
           for k, imgs in (("initial", initial), ("final", final))}
    report = {
        "reflectance": {"true": true_refl.tolist(), "initial": [0.5, 0.5, 0.5], "recovered": refl.tolist(),
                        "relative_error": float(np.linalg.norm(refl - true_refl) / np.linalg.norm(true_refl))},
        "chamfer": {"initial": cd0, "final": cd1, "target_size": float(np.linalg.norm(VT.max(0) - VT.min(0)))},
        "silhouette_iou": {"initial": float(np.mean(iou0)), "final": float(np.mean(iou1)),
                           "per_view_final": iou1},
        "image_mse": mse, "loss": {"first": result.history[0], "last": result.history[-1]},
        "vertices": len(V1), "faces": len(F0), "steps": args.steps, "seconds": result.seconds,
    }
    with open(os.path.join(args.out, "recovered.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nreflectance: true {np.round(true_refl, 3).tolist()} -> recovered {np.round(refl, 3).tolist()} "
          f"({100 * report['reflectance']['relative_error']:.1f}% error)")
    print(f"Chamfer distance to the target: {cd0:.4f} -> {cd1:.4f} "
          f"(target size {report['chamfer']['target_size']:.2f})")
    print(f"silhouette IoU (mean of {len(sensors)} views): {np.mean(iou0):.3f} -> {np.mean(iou1):.3f}")
    print(f"image MSE: {mse['initial']:.4g} -> {mse['final']:.4g}; {result.seconds:.1f} s for {args.steps} steps; "
          f"outputs in {args.out}/")
    return 0
