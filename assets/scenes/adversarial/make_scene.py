"""Writes the bundled scene of ``penumbra adversarial``: a textured ball (``ball.ply``, a UV sphere with
texture coordinates; ``ball.exr``, a procedural basketball: orange pebbled leather with black seams) under
a sky and a rectangular area light, seen by one camera (the attack moves it on a ring).

Run from anywhere: ``python assets/scenes/adversarial/make_scene.py``.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def uv_sphere(n_lon=48, n_lat=24, radius=1.0):
    """Vertices, texture coordinates and faces of a UV sphere (one duplicated meridian: the texture seam)."""
    V, UV, F = [], [], []
    for i in range(n_lat + 1):
        th = np.pi * i / n_lat
        for j in range(n_lon + 1):
            ph = 2 * np.pi * j / n_lon
            V.append([radius * np.sin(th) * np.sin(ph), radius * np.cos(th), radius * np.sin(th) * np.cos(ph)])
            UV.append([j / n_lon, i / n_lat])
    w = n_lon + 1
    for i in range(n_lat):
        for j in range(n_lon):
            a, b, c, d = i * w + j, i * w + j + 1, (i + 1) * w + j, (i + 1) * w + j + 1
            if i > 0:
                F.append([a, c, b])
            if i < n_lat - 1:
                F.append([b, c, d])
    return np.array(V, np.float32), np.array(UV, np.float32), np.array(F, np.int32)


def basketball(width=256, height=128, seed=0):
    """An equirectangular basketball texture (u: longitude, v: colatitude)."""
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid((np.arange(width) + 0.5) / width, (np.arange(height) + 0.5) / height)
    lon, colat = 2 * np.pi * u, np.pi * v
    p = np.stack([np.sin(colat) * np.sin(lon), np.cos(colat), np.sin(colat) * np.cos(lon)], -1)
    base = np.array([0.78, 0.30, 0.08])
    img = base * (0.85 + 0.15 * rng.random((height, width, 1)))          # pebbled leather
    seams = (np.abs(p[..., 0]) < 0.035) | (np.abs(p[..., 1]) < 0.035)     # two great circles
    curve = np.abs(np.abs(p[..., 2]) - 0.72 - 0.25 * p[..., 1] ** 2) < 0.03   # the two curved seams
    img[seams | curve] = 0.04
    return np.clip(img, 0, 1)


def write_ply(path, V, UV, F):
    with open(path, "wb") as f:
        f.write((f"ply\nformat binary_little_endian 1.0\nelement vertex {len(V)}\nproperty float x\nproperty float y\n"
                 f"property float z\nproperty float u\nproperty float v\nelement face {len(F)}\n"
                 "property list uchar int vertex_indices\nend_header\n").encode())
        f.write(np.concatenate([V, UV], 1).astype("<f4").tobytes())
        rows = np.zeros(len(F), dtype=[("n", "u1"), ("i", "<i4", 3)])
        rows["n"], rows["i"] = 3, F
        f.write(rows.tobytes())


if __name__ == "__main__":
    V, UV, F = uv_sphere()
    write_ply(os.path.join(HERE, "ball.ply"), V, UV, F)
    # float32 EXR: an 8-bit texture would load as integers, which carry no gradients
    import mitsuba as mi
    mi.set_variant("scalar_rgb")
    mi.Bitmap(basketball().astype(np.float32)).write(os.path.join(HERE, "ball.exr"))
    print(f"wrote ball.ply ({len(V)} vertices, {len(F)} faces) and ball.exr")
