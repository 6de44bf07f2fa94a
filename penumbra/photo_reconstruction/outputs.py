"""Images a photo reconstruction writes: per-view target | render | error rows and a turntable."""
from __future__ import annotations

import os

import numpy as np

from .scene import build_scene


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


def write_turntable(path_stem: str, model, views, frames: int, width: int):
    """Render the :class:`~.scene.Model` ``model`` on ``frames`` turntable cameras; write ``<stem>.gif``
    and ``<stem>.png``."""
    import mitsuba as mi
    from PIL import Image

    from penumbra import renderer
    from penumbra.jobs.reconstruct import side_by_side
    from penumbra.scenes import load_scene
    base = build_scene(views[:1], model, spp=16)
    d = {"type": "scene", "integrator": {"type": "path", "max_depth": 3, "hide_emitters": True}}
    d.update({s.id(): s for s in base.shapes()})           # the object and any area lights
    d["sky"] = next(e for e in base.emitters() if e.id() == "sky")
    for k, cam in enumerate(turntable_cameras(views, np.asarray(model.vertices).mean(axis=0), frames, width)):
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
