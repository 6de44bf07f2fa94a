"""Tutorial 2: rasterize an SVG and differentiate it with respect to its named parameters.

Run:  python docs/tutorials/02_vector.py [--small] [--out DIR]
(``--small`` or PENUMBRA_TUTORIAL_SMALL=1: fewer pixels and samples, as the tests run it)
"""
import argparse
import os

import drjit as dr
import mitsuba as mi
import numpy as np

import penumbra as pn

parser = argparse.ArgumentParser()
parser.add_argument("--small", action="store_true", default=bool(os.environ.get("PENUMBRA_TUTORIAL_SMALL")))
parser.add_argument("--out", default="out/tutorials")
args = parser.parse_args()
width, height, spp = (48, 36, 4) if args.small else (192, 144, 16)
os.makedirs(args.out, exist_ok=True)
pn.ensure_variant()

# 1. Load an SVG (a file path or an SVG string). Every element's geometry and paint is a named parameter.
scene = pn.load_svg("assets/svg/strokes.svg")
print(scene.params.describe())

# 2. Rasterize: an mi.TensorXf (H, W, 4) of straight-alpha sRGB values.
img = pn.rasterize(scene, width, height, spp=spp)
pn.write_image(os.path.join(args.out, "strokes.png"), img, srgb=False)  # vector scenes already hold sRGB

# 3. Reverse mode: gradient of the image's total with respect to a polyline's points (boundary term by
#    edge sampling + interior term). Values passed in `params` override the scene's, by name or glob.
points = scene.params["polyline1.points"]
x = mi.Float(np.asarray(points, dtype=np.float32).ravel())
dr.enable_grad(x)
img = pn.rasterize(scene, width, height, spp=spp, params={"polyline1.points": x})
dr.backward(dr.sum(img.array))
grad = np.asarray(dr.grad(x)).reshape(-1, 2)
print("d sum(image) / d polyline1.points:\n", np.round(grad, 3))

# 4. Write the scene back as SVG (it renders the same in browsers and in resvg).
pn.save_svg(scene, os.path.join(args.out, "strokes_copy.svg"))
