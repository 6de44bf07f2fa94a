"""Per-view metrics of a photo reconstruction: silhouette IoU against the masks and PSNR against the
targets, and their means over training and held-out views."""
from __future__ import annotations

import numpy as np


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
