"""The whole photo reconstruction (:func:`reconstruct_photos`): photos, initial shape, staged fit, outputs."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import numpy as np

from penumbra.renderer import checks

from .fit import fit_stage
from .initial_shape import HULL_HOLES, INIT, film_pixel_size, initial_mesh, start_shape, visual_hull
from .metrics import evaluate, summary
from .outputs import write_turntable, write_views
from .scene import build_scene, targets

ALBEDO = ("vertex", "uniform")
LIGHTING = ("fixed", "sky")

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
