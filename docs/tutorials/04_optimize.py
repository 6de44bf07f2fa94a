"""Tutorial 4: inverse rendering with the optimizer layer.

Recover a triangle's size and colour from a target image. The size only changes where the
silhouette is, so the gradient needs a boundary term: the loss is rendered with ``edge_sampling``.

Run:  python docs/tutorials/04_optimize.py [--small] [--out DIR]
(``--small`` or PENUMBRA_TUTORIAL_SMALL=1: fewer pixels, samples and steps, as the tests run it)
"""
import argparse
import os

import mitsuba as mi
import numpy as np

import penumbra as pn
from penumbra import optim
from penumbra.scenes import builders as b

parser = argparse.ArgumentParser()
parser.add_argument("--small", action="store_true", default=bool(os.environ.get("PENUMBRA_TUTORIAL_SMALL")))
parser.add_argument("--out", default="out/tutorials")
args = parser.parse_args()
res, spp, steps = (16, 8, 20) if args.small else (48, 16, 100)

V = np.array([[-0.6, -0.5, 0.0], [0.7, -0.4, 0.0], [0.0, 0.6, 0.2]])
tri = pn.mesh_from_arrays(V, [[0, 1, 2]], name="tri", bsdf=b.diffuse([0.5, 0.5, 0.5]))
scene = pn.load_scene(b.scene(b.camera((0, 0, 3), (0, 0, 0), fov=45, resolution=res),
                              shapes={"tri": tri}, emitters={"sky": b.constant_environment(1.0)}))
params = pn.ParameterMap(scene)
integrator = {"type": "edge_sampling", "edge_spp": 4 * spp}


def apply(values):
    """Write the optimized values into the scene (they stay attached to the AD graph)."""
    params["tri.vertex_positions"] = mi.Float(V.ravel()) * values["scale"]  # a 1-element Float broadcasts
    params["tri.bsdf.reflectance.value"] = values["colour"]
    params.update()


# The target: 1.3 times larger, orange.
true = {"scale": 1.3, "colour": [0.8, 0.3, 0.2]}
apply({"scale": mi.Float(true["scale"]), "colour": mi.Color3f(true["colour"])})
target = pn.render(scene, params, spp=8 * spp, seed=1234, integrator="path")

step = [0]


def objective(values):
    apply(values)
    step[0] += 1
    image = pn.render(scene, params, spp=spp, seed=step[0], integrator=integrator)
    return optim.losses.mse(image, target)


result = optim.optimize(objective, {"scale": optim.Variable([1.0], optim.Positive(), lr=0.05),
                                    # validate() returns the parameter's own type (here mi.Color3f)
                                    "colour": optim.Variable(params.validate("tri.bsdf.reflectance.value",
                                                                             [0.5, 0.5, 0.5]), optim.Unit, lr=0.1)},
                        steps, out_dir=args.out, schedule=optim.schedules.cosine(steps, final=0.1),
                        progress=False)
found = result.numpy()
print(f"loss {result.history[0]:.5f} -> {result.history[-1]:.5f} in {result.seconds:.1f} s")
print(f"scale  {found['scale'][0]:.3f} (true {true['scale']})")
print(f"colour {np.round(found['colour'], 3)} (true {true['colour']})")
assert abs(found["scale"][0] - true["scale"]) < abs(1.0 - true["scale"]), "the size moved towards the target"
