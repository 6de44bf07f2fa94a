"""The whole photo reconstruction (:func:`reconstruct_photos`): photos, initial shape, staged fit, outputs."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import numpy as np

from penumbra.renderer import checks

from .appearance import fit_appearance
from .area_lights import fit_radiance, place_lights, write_lights
from .fit import fit_stage
from .initial_shape import HULL_HOLES, INIT, film_pixel_size, initial_mesh, start_shape, visual_hull
from .metrics import evaluate, summary
from .outputs import write_turntable, write_views
from .lighting import initial_envmap, write_envmap
from .scene import Model, build_scene, targets
from .texture import texture_from_photos, uv_atlas, write_textured_obj

ALBEDO = ("vertex", "uniform", "texture")
LIGHTING = ("fixed", "sky", "envmap", "area")


@dataclass
class PhotoReconstruction:
    """Result of :func:`reconstruct_photos`: the mesh (``vertices`` (V, 3), ``faces`` (F, 3)), the
    per-vertex ``albedo`` (V, 3), the sky radiance, the ``report`` dictionary (as ``report.json``)
    and the output folder; with ``albedo="texture"`` the ``texture`` (R, R, 3) and its UV ``atlas``
    (:class:`~.texture.Atlas`), with ``lighting="envmap"`` the ``envmap`` (H, W, 3), with
    ``lighting="area"`` the lights' ``light_frames`` (N, 4, 4) and ``light_radiance`` (N, 3)."""
    vertices: np.ndarray
    faces: np.ndarray
    albedo: np.ndarray
    sky: np.ndarray
    report: dict
    out_dir: str | None
    texture: np.ndarray | None = None
    atlas: object | None = None
    envmap: np.ndarray | None = None
    light_frames: np.ndarray | None = None
    light_radiance: np.ndarray | None = None


def reconstruct_photos(photos: str, cameras: str, out: str | None = "out/reconstruct", *, width: int = 64,
                       height: int | None = None, mask: str = "alpha", held_out="every:2", steps: int = 160,
                       stages: int = 2, views_per_step: int = 4, spp: int = 4, subdivisions: int = 3,
                       init: str = "hull", hull_resolution: int = 64, hull_holes: str = "keep",
                       max_edge_px: float = 2.0,
                       max_faces: int = 20000, lambda_: float = 20.0, lr: float | None = None, lr_albedo: float = 0.05,
                       albedo: str = "vertex", lighting: str = "fixed", floor: float = 0.5,
                       texture_res: int = 128, envmap_width: int = 16, envmap_smoothness: float = 0.01, lights: int = 3,
                       appearance_steps: int = 0, freeze: bool = True,
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
    ``vertex``, ``uniform`` or ``texture`` (a ``texture_res``^2 texture on a UV atlas, :mod:`.texture`;
    needs xatlas, the ``photos`` extra); ``lighting``: ``fixed`` (uniform sky of radiance 1), ``sky``
    (its RGB radiance is optimized too), ``envmap`` (an ``envmap_width`` x ``envmap_width / 2``
    environment map optimized with a smoothness prior of weight ``envmap_smoothness``,
    :mod:`.lighting`) or ``area`` (``lights`` small emitting squares at fixed places outside every
    view plus the sky, their radiance optimized, :mod:`.area_lights`; ``lights.json``).
    ``appearance_steps``: after the geometry stages, that many steps refining the per-vertex albedo
    (and the sky with ``lighting="sky"``) on the fixed final mesh with ``prb`` (:mod:`.appearance`;
    ``albedo="vertex"`` with ``lighting`` ``fixed`` or ``sky`` only), each step under ``dr.freeze``
    unless ``freeze=False``. ``out=None`` writes nothing (no checkpoints either)."""
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
    checks.integer("texture_res", texture_res, lo=8, hi=4096)
    checks.integer("appearance_steps", appearance_steps, lo=0)
    if appearance_steps and (albedo != "vertex" or lighting not in ("fixed", "sky")):
        raise ValueError(f"reconstruct_photos: appearance_steps needs albedo='vertex' and lighting 'fixed' or "
                         f"'sky', got albedo={albedo!r}, lighting={lighting!r}")
    if envmap_smoothness < 0:
        raise ValueError(f"reconstruct_photos: envmap_smoothness must be >= 0, got {envmap_smoothness!r}")
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
    model = Model(V, F, A, np.ones(3))
    if lighting == "envmap":
        model.envmap = initial_envmap(envmap_width, model.sky)
    if lighting == "area":
        centre = 0.5 * (V.min(axis=0) + V.max(axis=0))
        model.light_frames = place_lights(views, centre, float(np.linalg.norm(V - centre, axis=1).max()), lights)
        model.sky, model.light_radiance = fit_radiance(views, goal, train, model, seed=seed)
    if albedo == "texture":
        model.atlas = uv_atlas(V, F, texture_res)
        model.texture = texture_from_photos(model.atlas, V, F, [views[i] for i in train], [goal[i] for i in train],
                                            texture_res, A[0])
    if out:
        os.makedirs(out, exist_ok=True)

    scene0 = build_scene(views, model, spp=16)
    _, rows0 = evaluate(views, scene0, V, F, goal, spp=16, seed=1000)
    del scene0

    history, stage_info = [], []
    per_stage = [steps // stages + (1 if s < steps % stages else 0) for s in range(stages)]
    for s, n_steps in enumerate(per_stage):
        if s > 0:
            model = refine_model(model, max_edge_px * footprint, max_faces, albedo)
        stage_dir = os.path.join(out, "stages", str(s)) if out else None
        done = os.path.join(stage_dir, "result.npz") if stage_dir else None
        if resume and done and os.path.exists(done):
            model, h = load_stage(done, model)
        else:
            model, h = fit_stage(views, goal, train, model, steps=n_steps, views_per_step=views_per_step,
                                 spp=spp, lambda_=lambda_, lr=lr, lr_albedo=lr_albedo, albedo_mode=albedo,
                                 lighting=lighting, envmap_smoothness=envmap_smoothness, out_dir=stage_dir,
                                 checkpoint_every=checkpoint_every if stage_dir else 0, resume=resume,
                                 progress=progress, description=f"stage {s + 1}/{stages} ({len(model.faces)} faces)",
                                 seed=seed + s)
            if done:
                save_stage(done, model, h)
        history += list(h)
        stage_info.append({"steps": n_steps, "vertices": len(model.vertices), "faces": len(model.faces)})

    appearance = None
    if appearance_steps:
        t1 = time.perf_counter()
        stats = {}
        model, h = fit_appearance(views, goal, train, model, steps=appearance_steps, spp=spp, lr=lr_albedo,
                                  lighting=lighting, frozen=freeze, seed=seed, progress=progress, stats=stats)
        appearance = {"steps": appearance_steps, "frozen": bool(freeze), "recordings": stats["recordings"],
                      "seconds": time.perf_counter() - t1, "loss": {"first": h[0], "last": h[-1]}}
    V, F, A, sky = model.vertices, model.faces, model.albedo, model.sky
    scene1 = build_scene(views, model, spp=16)
    renders, rows1 = evaluate(views, scene1, V, F, goal, spp=16, seed=2000)
    report = {
        "photos": os.path.abspath(photos), "cameras": os.path.abspath(cameras), "mask": mask,
        "held_out": str(held_out), "film": list(goal[0].shape[1::-1]), "init": init, "hull_holes": hull_holes, "lr": lr,
        "albedo": albedo, "lighting": lighting,
        "initial": summary(rows0), "final": summary(rows1),
        "views": [{**r1, "initial_iou": r0["iou"], "initial_psnr": r0["psnr"]} for r0, r1 in zip(rows0, rows1)],
        "stages": stage_info, "steps": steps, "vertices": len(V), "faces": len(F),
        "albedo_mean": A.mean(axis=0).tolist(), "sky": np.asarray(sky).tolist(),
        "loss": {"first": history[0], "last": history[-1]},
        "seconds": time.perf_counter() - t0,
    }
    if appearance is not None:
        report["appearance"] = appearance
    if model.envmap is not None:
        report["envmap_mean"] = model.envmap.reshape(-1, 3).mean(axis=0).tolist()
    if model.light_radiance is not None:
        report["light_radiance"] = np.asarray(model.light_radiance).tolist()
    if out:
        save_mesh((V, F), os.path.join(out, "mesh.ply"), colors=A)
        if model.texture is not None:
            write_textured_obj(os.path.join(out, "mesh.obj"), V, model.atlas, model.texture)
        else:
            save_mesh((V, F), os.path.join(out, "mesh.obj"), colors=A)
        if model.envmap is not None:
            write_envmap(os.path.join(out, "envmap"), model.envmap)
        if model.light_frames is not None:
            write_lights(os.path.join(out, "lights.json"), model.light_frames, model.light_radiance, model.sky)
        write_views(out, views, goal, renders)
        if turntable:
            write_turntable(os.path.join(out, "turntable"), model, views, turntable, goal[0].shape[1])
        from penumbra.optim import plot_loss
        with open(os.path.join(out, "loss.json"), "w") as f:
            json.dump({"loss": history, "stages": stage_info}, f)
        plot_loss(history, os.path.join(out, "loss.png"), "reconstruct (all stages)")
        report["seconds"] = time.perf_counter() - t0
        with open(os.path.join(out, "report.json"), "w") as f:
            json.dump(report, f, indent=2)
    return PhotoReconstruction(V, F, A, np.asarray(sky), report, out, model.texture, model.atlas, model.envmap,
                               model.light_frames, model.light_radiance)


def refine_model(model: Model, max_edge: float, max_faces: int, albedo: str) -> Model:
    """``model`` after :func:`optim.remesh.refine` of its mesh: the per-vertex albedo interpolated at the
    midpoints (one value with ``albedo="uniform"``) and the texture atlas subdivided alike (the texture
    itself is unchanged)."""
    from penumbra.optim.remesh import refine

    from .texture import subdivide_atlas
    V, F, A, n = refine(model.vertices, model.faces, max_edge, max_faces, model.albedo)
    if albedo == "uniform":
        A = np.tile(model.albedo[:1], (len(V), 1))
    atlas = None if model.atlas is None else subdivide_atlas(model.atlas, len(model.vertices), model.faces, n)
    return model.with_(vertices=V, faces=F, albedo=A, atlas=atlas)


def save_stage(path: str, model: Model, history) -> None:
    """Write a finished stage's model and loss history (``result.npz``) for ``resume``."""
    extra = {}
    if model.atlas is not None:
        extra.update(atlas_vertex=model.atlas.vertex, atlas_faces=model.atlas.faces, atlas_uv=model.atlas.uv,
                     texture=model.texture)
    if model.envmap is not None:
        extra["envmap"] = model.envmap
    if model.light_frames is not None:
        extra.update(light_frames=model.light_frames, light_radiance=model.light_radiance)
    np.savez(path, V=model.vertices, F=model.faces, A=model.albedo, sky=model.sky, history=np.asarray(history),
             **extra)


def load_stage(path: str, model: Model) -> tuple[Model, list]:
    """The model and loss history that :func:`save_stage` wrote (fields it did not write kept from ``model``)."""
    from .texture import Atlas
    with np.load(path) as z:
        out = model.with_(vertices=z["V"], faces=z["F"], albedo=z["A"], sky=z["sky"])
        if "atlas_vertex" in z:
            out.atlas = Atlas(z["atlas_vertex"], z["atlas_faces"], z["atlas_uv"])
            out.texture = z["texture"]
        if "envmap" in z:
            out.envmap = z["envmap"]
        if "light_frames" in z:
            out.light_frames, out.light_radiance = z["light_frames"], z["light_radiance"]
        return out, list(z["history"])
