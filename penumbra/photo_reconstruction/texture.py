"""Albedo as a texture: a UV atlas of the recovered mesh, texels filled from per-vertex colours,
bilinear lookups, and the textured OBJ + MTL + PNG writer.

The atlas is made by xatlas (Young, https://github.com/jpcy/xatlas: charts grown by normal
deviation and flattened by least-squares conformal maps, Lévy et al. 2002, then packed), through its
Python bindings, the optional ``photos`` extra. The atlas splits the mesh's vertices along the
charts' seams: :class:`Atlas` keeps, for each atlas vertex, the mesh vertex it copies, so positions
stay one set (optimized on the welded mesh) and the atlas only adds texture coordinates.

Texture coordinates follow Mitsuba's ``bitmap`` lookup: ``u`` along the image's columns, ``v`` along
its rows from the top; the OBJ file stores ``(u, 1 - v)`` (OBJ's ``v`` runs from the bottom row).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


@dataclass
class Atlas:
    """UV atlas of a mesh with ``F`` faces: ``vertex`` (U,) the mesh vertex each atlas vertex copies,
    ``faces`` (F, 3) atlas-vertex indices in the mesh's face order, ``uv`` (U, 2) in [0, 1]."""
    vertex: np.ndarray
    faces: np.ndarray
    uv: np.ndarray


def uv_atlas(vertices, faces, resolution: int) -> Atlas:
    """UV atlas (xatlas) of the mesh (V, F) packed for a ``resolution`` x ``resolution`` texture with
    2 texels of padding between charts. Raises ImportError naming the extra without xatlas."""
    try:
        import xatlas
    except ImportError:
        raise ImportError("albedo='texture' needs the UV atlas library xatlas: pip install 'penumbra[photos]' "
                          "(or use albedo='vertex')") from None
    V = np.ascontiguousarray(vertices, np.float32).reshape(-1, 3)
    F = np.ascontiguousarray(faces, np.uint32).reshape(-1, 3)
    atlas = xatlas.Atlas()
    atlas.add_mesh(V, F)
    pack = xatlas.PackOptions()
    pack.resolution = int(resolution)
    pack.padding = 2
    pack.bilinear = True
    atlas.generate(pack_options=pack)
    vmap, idx, uv = atlas[0]
    idx = np.asarray(idx, np.int64).reshape(-1, 3)
    vmap = np.asarray(vmap, np.int64)
    if idx.shape != F.shape or not np.array_equal(vmap[idx], F.astype(np.int64)):
        raise RuntimeError("uv_atlas: xatlas changed the mesh's faces (expected the same faces in the same order)")
    return Atlas(vmap, idx, np.asarray(uv, np.float64).reshape(-1, 2))


def subdivide_atlas(atlas: Atlas, n_vertices: int, faces, times: int) -> Atlas:
    """The atlas of the mesh after ``times`` midpoint subdivisions (:func:`optim.remesh.subdivide`)
    of the mesh of ``n_vertices`` vertices and ``faces`` (the atlas's mesh): the atlas mesh is
    subdivided the same way, with the midpoints' texture coordinates interpolated (exact: the atlas
    is linear on each face), and each new atlas vertex is mapped to the mesh vertex at the same
    corner of the same face."""
    from penumbra.optim.remesh import subdivide
    F, n = np.asarray(faces, np.int64), int(n_vertices)
    A, uv = atlas.faces, atlas.uv
    for _ in range(int(times)):
        uv3 = np.concatenate([uv, np.zeros((len(uv), 1))], axis=1)
        _, A, uv3 = subdivide(uv3, A, uv3)
        uv = uv3[:, :2]
        V, F = subdivide(np.zeros((n, 3)), F)
        n = len(V)
    vertex = np.empty(len(uv), np.int64)
    vertex[A.ravel()] = F.ravel()
    return Atlas(vertex, A, uv)


def rasterize(atlas: Atlas, colours, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Texture (R, R, C) whose texels (centres at ((j + 0.5) / R, (i + 0.5) / R)) inside a chart's
    triangle take the barycentric interpolation of the per-atlas-vertex ``colours`` (U, C), and the
    coverage mask (R, R) of those texels. Texels outside every triangle are left 0."""
    R = int(resolution)
    C = np.asarray(colours, np.float64).reshape(len(atlas.uv), -1)
    tex = np.zeros((R, R, C.shape[1]))
    covered = np.zeros((R, R), bool)
    P = atlas.uv * R - 0.5                              # texel-index coordinates of the corners
    for f in atlas.faces:
        p = P[f]
        lo = np.maximum(np.floor(p.min(axis=0)).astype(int), 0)
        hi = np.minimum(np.ceil(p.max(axis=0)).astype(int), R - 1)
        if np.any(hi < lo):
            continue
        jj, ii = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))
        d1, d2 = p[1] - p[0], p[2] - p[0]
        det = d1[0] * d2[1] - d1[1] * d2[0]
        if abs(det) < 1e-12:
            continue
        qx, qy = jj - p[0, 0], ii - p[0, 1]
        b1 = (qx * d2[1] - qy * d2[0]) / det
        b2 = (d1[0] * qy - d1[1] * qx) / det
        b0 = 1.0 - b1 - b2
        inside = (b0 >= -1e-6) & (b1 >= -1e-6) & (b2 >= -1e-6)
        if not inside.any():
            continue
        w = np.stack([b0[inside], b1[inside], b2[inside]], axis=1)
        tex[ii[inside], jj[inside]] = w @ C[f]
        covered[ii[inside], jj[inside]] = True
    return tex, covered


def dilate(texture, covered) -> np.ndarray:
    """``texture`` with every texel outside ``covered`` set to the nearest covered texel's value, so that
    bilinear lookups and mipmaps near chart borders do not blend in unused texels."""
    from scipy import ndimage
    if not np.any(covered):
        return np.asarray(texture).copy()
    _, (i, j) = ndimage.distance_transform_edt(~np.asarray(covered), return_indices=True)
    return np.asarray(texture)[i, j]


def texture_from_vertex_colours(atlas: Atlas, colours, resolution: int) -> np.ndarray:
    """Texture (R, R, C) of the per-mesh-vertex ``colours`` (V, C) interpolated over the atlas's
    triangles and dilated into the unused texels."""
    tex, covered = rasterize(atlas, np.asarray(colours)[atlas.vertex], resolution)
    return dilate(tex, covered)


def texture_from_photos(atlas: Atlas, vertices, faces, views, images, resolution: int, fallback) -> np.ndarray:
    """Initial texture (R, R, 3) projected from the photos: each texel inside a chart is the point of
    the mesh (V, F) it maps to; its colour is the mean of ``images`` (the views' film-sized targets)
    at that point's film pixel over the ``views`` that see it (in front of the camera, on the film,
    inside the mask, facing the camera, not occluded by the mesh: a Mitsuba ray test), weighted by the
    cosine between the normal and the view direction. Texels that no view sees take ``fallback`` (3,);
    unused texels are dilated."""
    import mitsuba as mi

    from penumbra.scenes import load_scene, mesh_from_arrays

    from .initial_shape import film_projection
    V, F = np.asarray(vertices, np.float64), np.asarray(faces, np.int64)
    fn = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    vn = np.zeros_like(V)
    for c in range(3):
        np.add.at(vn, F[:, c], fn)                    # area-weighted vertex normals
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
    geo, covered = rasterize(atlas, np.concatenate([V, vn], axis=1)[atlas.vertex], resolution)
    P, N = geo[covered][:, :3], geo[covered][:, 3:]
    N /= np.maximum(np.linalg.norm(N, axis=1, keepdims=True), 1e-12)
    scene = load_scene({"type": "scene", "obj": mesh_from_arrays(V, F, name="obj", allow_degenerate=True)})
    eps = 1e-4 * float(np.ptp(V, axis=0).max())
    total, weight = np.zeros((len(P), 3)), np.zeros(len(P))
    for pv, img in zip(views, images):
        to_cam = pv.view.center[None] - P
        dist = np.linalg.norm(to_cam, axis=1)
        d = to_cam / dist[:, None]
        cos = np.einsum("ij,ij->i", N, d)
        front = (pv.view.camera_space(P)[:, 2] > 0) & (cos > 0)
        xy = np.floor(film_projection(pv, np.where(front[:, None], P, pv.view.center + pv.view.R[2]))).astype(np.int64)
        h, w = pv.mask.shape
        ok = front & (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
        ok[ok] = pv.mask[xy[ok, 1], xy[ok, 0]] > 0.5
        o = P + eps * N
        ray = mi.Ray3f(mi.Point3f(*[mi.Float(o[:, i].astype(np.float32)) for i in range(3)]),
                       mi.Vector3f(*[mi.Float(d[:, i].astype(np.float32)) for i in range(3)]))
        ray.maxt = mi.Float((dist * (1 - 1e-3)).astype(np.float32))
        ok &= ~np.array(scene.ray_test(ray), bool)
        total[ok] += cos[ok, None] * img[xy[ok, 1], xy[ok, 0], :3]
        weight[ok] += cos[ok]
    colour = np.where(weight[:, None] > 0, total / np.maximum(weight, 1e-12)[:, None],
                      np.asarray(fallback, np.float64)[None])
    tex = np.zeros((int(resolution), int(resolution), 3))
    tex[covered] = colour
    return dilate(tex, covered)


def sample(texture, uv) -> np.ndarray:
    """Bilinear lookup (clamped at the border, as Mitsuba's ``bitmap`` with ``wrap_mode=clamp``) of
    ``texture`` (R, R', C) at ``uv`` (N, 2)."""
    T = np.asarray(texture, np.float64)
    H, W = T.shape[:2]
    x = np.clip(np.asarray(uv)[:, 0] * W - 0.5, 0, W - 1)
    y = np.clip(np.asarray(uv)[:, 1] * H - 0.5, 0, H - 1)
    x0, y0 = np.minimum(np.floor(x).astype(int), W - 2), np.minimum(np.floor(y).astype(int), H - 2)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    return ((1 - fy) * ((1 - fx) * T[y0, x0] + fx * T[y0, x0 + 1])
            + fy * ((1 - fx) * T[y0 + 1, x0] + fx * T[y0 + 1, x0 + 1]))


def vertex_colours(atlas: Atlas, texture, n_vertices: int) -> np.ndarray:
    """Per-mesh-vertex colours (V, C): the texture at each atlas vertex, averaged over the copies of a
    mesh vertex along seams."""
    c = sample(texture, atlas.uv)
    out = np.zeros((int(n_vertices), c.shape[1]))
    np.add.at(out, atlas.vertex, c)
    count = np.bincount(atlas.vertex, minlength=int(n_vertices))[:, None]
    return out / np.maximum(count, 1)


def write_textured_obj(path: str, vertices, atlas: Atlas, texture) -> list[str]:
    """Write the mesh as ``path`` (OBJ: ``v``, ``vt``, ``f v/vt``, ``mtllib``, ``usemtl``), the material
    ``<stem>.mtl`` (``map_Kd``) and the albedo ``<stem>.png`` (linear ``texture`` in [0, 1] encoded as
    sRGB, 8 bits, unused texels dilated). Returns the three paths."""
    from penumbra.renderer import write_image
    stem = os.path.splitext(path)[0]
    name = os.path.basename(stem)
    mtl, png = stem + ".mtl", stem + ".png"
    T = np.asarray(texture, np.float64)[..., :3]
    _, covered = rasterize(atlas, np.zeros((len(atlas.uv), 1)), T.shape[0])
    write_image(png, np.clip(dilate(T, covered), 0, 1))
    with open(mtl, "w") as f:
        f.write(f"newmtl albedo\nKa 0 0 0\nKd 1 1 1\nKs 0 0 0\nmap_Kd {name}.png\n")
    V = np.asarray(vertices, np.float64).reshape(-1, 3)
    lines = [f"mtllib {name}.mtl\n", "o obj\n"]
    lines += [f"v {x:.9g} {y:.9g} {z:.9g}\n" for x, y, z in V]
    lines += [f"vt {u:.9g} {1.0 - v:.9g}\n" for u, v in atlas.uv]
    lines.append("usemtl albedo\n")
    F, T = np.asarray(atlas.vertex[atlas.faces]) + 1, atlas.faces + 1
    lines += [f"f {a}/{p} {b}/{q} {c}/{r}\n" for (a, b, c), (p, q, r) in zip(F, T)]
    with open(path, "w") as f:
        f.writelines(lines)
    return [path, mtl, png]
