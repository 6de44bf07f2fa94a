"""Tutorial 1: render a scene, then differentiate an image with respect to geometry.

A triangle grows under a uniform sky. Its silhouette moves, so the derivative of the image is a
boundary term: Mitsuba's ``prb`` misses it, ``edge_sampling`` and ``warped_area`` estimate it. The
script compares the three with central finite differences of Mitsuba's ``path``.

Run:  python docs/tutorials/01_render_and_gradient.py [--small] [--out DIR]
(``--small`` or PENUMBRA_TUTORIAL_SMALL=1: fewer pixels and samples, as the tests run it)
"""
import argparse
import os

import drjit as dr
import mitsuba as mi
import numpy as np

import penumbra as pn
from penumbra.scenes import builders as b

parser = argparse.ArgumentParser()
parser.add_argument("--small", action="store_true", default=bool(os.environ.get("PENUMBRA_TUTORIAL_SMALL")))
parser.add_argument("--out", default="out/tutorials")
args = parser.parse_args()
res, spp, fd_spp = (16, 16, 256) if args.small else (64, 64, 4096)
os.makedirs(args.out, exist_ok=True)

# 1. Load a bundled scene and render it. ParameterMap names every parameter (dotted names).
cbox = pn.load_scene("assets/scenes/cbox/scene.xml", res=res, spp=spp)
cbox_params = pn.ParameterMap(cbox)
print("reflectances:", [n for n in cbox_params.differentiable() if n.endswith("reflectance.value")])
cbox_params["red.reflectance.value"] = [0.8, 0.1, 0.1]  # validated: unknown names, shapes, NaN raise
cbox_params.update()
pn.write_image(os.path.join(args.out, "cbox.png"), pn.render(cbox, cbox_params, integrator="prb"))

# 2. A scene of our own: a triangle under a sky, with a Gaussian film filter (both estimators take
#    any filter; warped_area's primary term has less to do with a smooth one: no pixel-border flux).
V = np.array([[-0.6, -0.5, 0.0], [0.7, -0.4, 0.0], [0.0, 0.6, 0.2]])
tri = pn.mesh_from_arrays(V, [[0, 1, 2]], name="tri", bsdf=b.diffuse([0.8, 0.3, 0.2]))
scene = pn.load_scene(b.scene(b.camera((0, 0, 3), (0, 0, 0), fov=45, resolution=res, filter="gaussian"),
                              shapes={"tri": tri}, emitters={"sky": b.constant_environment(1.0)}))
params = pn.ParameterMap(scene)
print("moves geometry:", params.geometric())


def set_scale(theta):
    """Scale the triangle about the origin by (1 + theta)."""
    params["tri.vertex_positions"] = mi.Float(V.ravel()) * (1.0 + theta)
    params.update()


def mean_brightness(integrator, theta=0.0, spp=spp, seed=0):
    set_scale(theta)
    return dr.mean(pn.render(scene, params, spp=spp, seed=seed, integrator=integrator).array)


# 3. Reverse mode: d mean(image) / d theta with each integrator.
grads = {}
for name, integrator in {"prb": "prb",
                         "edge_sampling": {"type": "edge_sampling", "edge_spp": 4 * spp},
                         "warped_area": {"type": "warped_area", "film_spp": 16 * spp}}.items():
    theta = mi.Float(0.0)
    dr.enable_grad(theta)
    loss = mean_brightness(integrator, theta)
    dr.backward(loss)
    grads[name] = float(dr.grad(theta)[0])

# 4. The reference: central finite differences of Mitsuba's path tracer (same seed on both sides).
h = 0.01
fd = (float(mean_brightness("path", h, fd_spp, seed=7)[0]) -
      float(mean_brightness("path", -h, fd_spp, seed=7)[0])) / (2 * h)
set_scale(0.0)
print(f"finite differences of path: {fd:+.5f}")
for name, g in grads.items():
    print(f"{name:>14}: {g:+.5f}  ({100 * abs(g - fd) / abs(fd):.0f} % off)")
