# Generates Penumbra's bundled default for `penumbra reconstruct` / `penumbra demo` (no external
# data): target.ply, a smooth "blob" (an icosphere(4) whose radius is displaced by a few low-order
# harmonics, with concave dents), and scene.xml (8 cameras around it, a dim sky and a
# rectangular area light). Run from the repository root: .venv/bin/python assets/scenes/blob/make_scene.py
import numpy as np

from penumbra import renderer
from penumbra.scenes import builders, save_mesh

renderer.ensure_variant()
V, F = builders.icosphere(4)
x, y, z = V.T
r = 1 + 0.3 * np.sin(3 * x + 1.0) * np.cos(2 * y) + 0.22 * np.cos(4 * z + 0.5) * (1 - y * y) - 0.15 * y ** 3
V = V * r[:, None] * np.array([1.1, 0.95, 1.0])
save_mesh((V, F), "assets/scenes/blob/target.ply")

cams = []
for k in range(8):
    az, el = np.radians(45 * k + 10), np.radians(28 if k % 2 == 0 else -12)
    o = 4.2 * np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])
    cams.append(f"""    <sensor type="perspective" id="view{k}">
        <float name="fov" value="40"/>
        <transform name="to_world">
            <lookat origin="{o[0]:.4f}, {o[1]:.4f}, {o[2]:.4f}" target="0, 0, 0" up="0, 1, 0"/>
        </transform>
        <sampler type="independent"><integer name="sample_count" value="$spp"/></sampler>
        <film type="hdrfilm">
            <integer name="width" value="$res"/><integer name="height" value="$res"/>
            <string name="pixel_format" value="rgb"/><rfilter type="box"/><boolean name="sample_border" value="true"/>
        </film>
    </sensor>""")
xml = f"""<?xml version="1.0"?>
<!-- Penumbra's bundled default for `penumbra reconstruct` (and `penumbra demo`), written by
     make_scene.py: a flat-shaded diffuse blob (target.ply, id "target"), 8 cameras on two rings
     around it, a dim constant sky and a rectangular area light above-front-left.
     Parameters: target.vertex_positions, target.bsdf.reflectance.value.
     Override defaults with load_scene(path, spp=..., res=...). -->
<scene version="3.0.0">
    <default name="spp" value="16"/>
    <default name="res" value="64"/>
    <default name="max_depth" value="3"/>

    <integrator type="path"><integer name="max_depth" value="$max_depth"/></integrator>

{chr(10).join(cams)}

    <emitter type="constant" id="sky"><rgb name="radiance" value="0.25, 0.28, 0.33"/></emitter>
    <shape type="rectangle" id="light">
        <transform name="to_world">
            <scale value="2"/>
            <lookat origin="-2, 6, 2.5" target="0, 0, 0" up="0, 1, 0"/>
        </transform>
        <emitter type="area"><rgb name="radiance" value="7, 6.8, 6.3"/></emitter>
    </shape>
    <shape type="ply" id="target">
        <string name="filename" value="target.ply"/>
        <boolean name="face_normals" value="true"/>
        <bsdf type="diffuse"><rgb name="reflectance" value="0.75, 0.45, 0.25"/></bsdf>
    </shape>
</scene>
"""
open("assets/scenes/blob/scene.xml", "w").write(xml)
