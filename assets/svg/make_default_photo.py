# Procedurally generated default image for `penumbra vectorize` (no external data): a small
# sunset landscape with soft gradients, a sun, hills, a lake reflection and a tree.
import numpy as np
from PIL import Image
H = W = 128
y, x = np.mgrid[0:H, 0:W].astype(np.float32) + 0.5
img = np.zeros((H, W, 3), np.float32)
t = y / H
sky = np.stack([0.98 - 0.3 * t, 0.55 + 0.25 * t, 0.35 + 0.5 * t], -1)
img[:] = sky
sun = ((x - 84) ** 2 + (y - 46) ** 2) < 13 ** 2
glow = np.exp(-((x - 84) ** 2 + (y - 46) ** 2) / (2 * 26 ** 2))[..., None]
img = img * (1 - 0.35 * glow) + 0.35 * glow * np.array([1.0, 0.85, 0.5])
img[sun] = [1.0, 0.93, 0.62]
hill1 = y > 70 + 10 * np.sin(x / 17.0) + 6 * np.cos(x / 7.3)
img[hill1] = np.stack([0.25 + 0.1 * np.sin(x / 9), 0.42 + 0.08 * np.cos(y / 11), 0.22 + 0 * x], -1)[hill1]
hill2 = y > 88 + 6 * np.sin(x / 11.0 + 1.0)
img[hill2] = np.array([0.13, 0.30, 0.16])
lake = (y > 100) & (np.abs(x - 40) < 30 + 0.4 * (y - 100))
img[lake] = np.stack([0.30 + 0.1 * np.sin(y), 0.45 + 0 * x, 0.70 + 0.05 * np.cos(x / 3)], -1)[lake]
trunk = (np.abs(x - 104) < 2.5) & (y > 72) & (y < 104)
crown = ((x - 104) ** 2 / 13 ** 2 + (y - 66) ** 2 / 17 ** 2) < 1
img[crown] = np.stack([0.10 + 0.05 * np.sin(x / 2), 0.35 + 0.1 * np.cos(y / 3), 0.12 + 0 * x], -1)[crown]
img[trunk] = [0.35, 0.22, 0.12]
Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)).save("assets/svg/default_photo.png")
