"""Tutorial 3: a room impulse response, its acoustic metrics, and a gradient through them.

Run:  python docs/tutorials/03_rir.py [--small] [--out DIR]
(``--small`` or PENUMBRA_TUTORIAL_SMALL=1: lower order and fewer rays, as the tests run it)
"""
import argparse
import os

import drjit as dr
import numpy as np

import penumbra as pn

parser = argparse.ArgumentParser()
parser.add_argument("--small", action="store_true", default=bool(os.environ.get("PENUMBRA_TUTORIAL_SMALL")))
parser.add_argument("--out", default="out/tutorials")
args = parser.parse_args()
order, rays = (4, 1000) if args.small else (20, 20000)
os.makedirs(args.out, exist_ok=True)
M = pn.room_metrics

# 1. A shoebox room with bundled materials (energy absorption per octave band, 125 Hz - 8 kHz).
room = pn.shoebox([6, 4, 3], source=[1.1, 1.3, 1.2], receiver=[4.3, 2.9, 1.7],
                  materials={"floor": "carpet_cotton", "ceiling": "ceiling_plasterboard"},  # others: hard_surface
                  air_absorption=True, temperature=20, humidity=50)
print(f"Sabine T60 per band: {np.round(room.sabine(), 2)} s")

# 2. Image sources only (NumPy float64 at room.fs), and pyroomacoustics' conventions sample for sample.
h = pn.rir(room, order=order)
h_pra = pn.rir(room, order=order, conventions="pyroomacoustics")
print(f"{len(h)} samples at {room.fs} Hz; pyroomacoustics preset: {len(h_pra)} samples")

# 3. Image sources + ray-traced late reverberation, and the ISO 3382-1 / IEC 60268-16 metrics.
res = pn.simulate_rir(room, order, tail={"n_rays": rays})
pn.write_wav(os.path.join(args.out, "rir.wav"), res.numpy(), room.fs)
for name, (broadband, _bands) in M.metrics_table(res.numpy(), room.fs).items():
    print(f"{name:>4}: {broadband:.3f}")

# 4. Every quantity is a Dr.Jit float64 parameter: the gradient of a smooth T30 with respect to the
#    absorption of every wall and band (the tail is differentiable w.r.t. the materials). The broadband
#    T30 is dominated by the low bands, where more absorption shortens it.
p = pn.acoustics.default_params(room)
dr.enable_grad(p["absorption"])
t30 = M.t30(pn.simulate_rir(room, order, params=p, tail={"n_rays": rays}).signal, room.fs, smooth=True)
dr.backward(t30)
grad = np.asarray(dr.grad(p["absorption"])).reshape(room.n_walls, -1)
print(f"T30 = {float(t30[0]):.3f} s; d T30 / d absorption (walls x bands):\n{np.round(grad, 3)}")
