"""``penumbra vectorize IMAGE``: image vectorization / painterly rendering (diffvg's flagship
application, Li et al. 2020 Sec. 6), on Penumbra's rasterizer and optimizer layer.

N closed cubic Bézier blobs (or open strokes with ``--strokes``) start at random places with the
target's colour there; Adam optimizes their control points and colours (and stroke widths)
against the target (L2 in sRGB, composited over white). Writes ``vectorized.svg``, the raster
``vectorized.png``, ``side_by_side.png`` (target | result), ``loss.json`` and ``loss.png``.
Without IMAGE it runs on the bundled, procedurally generated ``assets/svg/default_photo.png``.
"""
from __future__ import annotations

import os

import numpy as np

from penumbra.renderer import checks


def add_parser(sub):
    p = sub.add_parser("vectorize", help="approximate an image by N optimized vector paths (writes SVG, "
                       "raster, side-by-side PNG and the loss curve)")
    p.add_argument("image", nargs="?", help="target image (PNG/JPEG; default: the bundled photo)")
    p.add_argument("--paths", type=checks.cli_int(lo=1), default=96, help="number of paths (default 96)")
    p.add_argument("--segments", type=checks.cli_int(lo=1), default=3, help="cubic segments per path (default 3)")
    p.add_argument("--strokes", action="store_true", help="open stroked paths instead of filled blobs")
    p.add_argument("--steps", type=checks.cli_int(lo=1), default=150)
    p.add_argument("--size", type=checks.cli_int(lo=1), default=96, help="longest side of the working resolution")
    p.add_argument("--spp", type=checks.cli_int(lo=1), default=4)
    p.add_argument("--lr", type=checks.cli_float(0.0, open_lo=True), default=0.5,
                   help="learning rate of the points (pixels)")
    p.add_argument("--seed", type=checks.cli_int(lo=0), default=0)
    p.add_argument("--out", default="out/vectorize")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def initial_scene(target, n, segments, strokes, rng):
    from penumbra.scenes.vector import VectorScene, path
    H, W = target.shape[:2]
    sc = VectorScene(W, H)
    radius = 0.08 * max(W, H)
    for i in range(n):
        c = rng.uniform([0, 0], [W, H])
        col = target[int(min(H - 1, c[1])), int(min(W - 1, c[0])), :3]
        if strokes:
            pts = [c]
            for _ in range(3 * segments):
                pts.append(pts[-1] + rng.normal(0, radius / 2, 2))
            sc.add(path(f"p{i}", np.array(pts), "C" * segments, closed=False, fill=None,
                        stroke=np.append(col, 0.8), stroke_width=rng.uniform(1.0, 3.0), cap="round", join="round"))
        else:
            k = 3 * segments
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))
            r = radius * rng.uniform(0.5, 1.0, k)
            pts = c + np.stack([np.cos(ang) * r, np.sin(ang) * r], 1)
            pts = np.vstack([pts, pts[:1]])
            sc.add(path(f"p{i}", pts, "C" * segments, closed=True, fill=np.append(col, 0.8)))
    return sc


def run(args):
    import drjit as dr
    import mitsuba as mi

    from penumbra import optim
    from penumbra import renderer
    from penumbra.integrators.vector import rasterize
    from penumbra.assets import asset
    from penumbra.scenes.vector import save_svg

    renderer.ensure_variant()
    src = args.image or asset("svg", "default_photo.png")
    if args.paths < 1 or args.steps < 0 or args.size < 8:
        raise ValueError("vectorize: need --paths >= 1, --steps >= 0 and --size >= 8")
    full = renderer.read_image(src, linear=False)[..., :3]   # vector scenes live in sRGB values
    H0, W0 = full.shape[:2]
    s = args.size / max(H0, W0)
    H, W = max(8, int(round(H0 * s))), max(8, int(round(W0 * s)))
    from PIL import Image
    target = np.asarray(Image.fromarray((np.clip(full, 0, 1) * 255).astype(np.uint8)).resize((W, H), Image.LANCZOS),
                        dtype=np.float32) / 255.0
    rng = np.random.default_rng(args.seed)
    scene = initial_scene(target, args.paths, args.segments, args.strokes, rng)
    os.makedirs(args.out, exist_ok=True)
    tgt = mi.Float(target.reshape(-1))
    paint = "*.stroke.color" if args.strokes else "*.fill.color"
    variables = {"*.points": optim.Variable(scene.params.pack("*.points"), lr=args.lr),
                 paint: optim.Variable(np.clip(scene.params.pack(paint), 0.02, 0.98), optim.Unit, lr=0.08)}
    if args.strokes:
        variables["*.stroke_width"] = optim.Variable(scene.params.pack("*.stroke_width"), optim.Positive(), lr=0.05)
    step_seed = [0]

    def over_white(img):
        a = img.array
        n = dr.width(a) // 4
        idx = dr.arange(mi.UInt32, n)
        out = []
        al = dr.gather(mi.Float, a, idx * 4 + 3)
        for c in range(3):
            out.append(dr.gather(mi.Float, a, idx * 4 + c) * al + (1.0 - al))
        return out

    def objective(values):
        step_seed[0] += 1
        img = rasterize(scene, W, H, spp=args.spp, params=values, seed=step_seed[0])
        rgb = over_white(img)
        n = W * H
        idx = dr.arange(mi.UInt32, n)
        loss = mi.Float(0.0)
        for c in range(3):
            d = rgb[c] - dr.gather(mi.Float, tgt, idx * 3 + c)
            loss += dr.sum(d * d)
        return loss / (3 * n)

    result = optim.optimize(objective, variables, args.steps, out_dir=args.out, progress=not args.quiet,
                            description=f"vectorize ({args.paths} paths)")
    scene.params.update({k: np.asarray(v) for k, v in result.numpy().items()})
    svg_path = save_svg(scene, os.path.join(args.out, "vectorized.svg"))
    img = np.array(rasterize(scene, W, H, spp=16))
    rgb = img[..., :3] * img[..., 3:] + (1 - img[..., 3:])
    renderer.write_image(os.path.join(args.out, "vectorized.png"), rgb, srgb=False)
    renderer.write_image(os.path.join(args.out, "side_by_side.png"), np.concatenate([target, rgb], 1), srgb=False)
    final = float(np.mean((rgb - target) ** 2))
    print(f"vectorize: {args.paths} paths, {args.steps} steps, final MSE {final:.5f} "
          f"(PSNR {10 * np.log10(1 / max(final, 1e-12)):.2f} dB) in {result.seconds:.1f} s")
    print(f"wrote {svg_path}, vectorized.png, side_by_side.png, loss.json, loss.png in {args.out}")
    return 0
