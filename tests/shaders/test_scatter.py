"""Shader edges seen through one glossy or diffuse bounce (:mod:`penumbra.integrators.path.shader_scatter`)
against finite differences of ``path``.

Two scenes, the shader-textured card itself out of view so that only the scattered term carries the
derivative: (glossy) a ``roughconductor`` floor (alpha 0.2) reflecting a vertical card under a constant
sky; (diffuse) a diffuse floor lit only by a horizontal directional light reflected off the card
(the light grazes the floor: no direct light there). Without mirrors or glass the shader terms miss
no path at any ``max_depth``, so no ``ShaderEdgeCoverageWarning``.
"""
import warnings

import numpy as np
import pytest

import drjit as dr
import mitsuba as mi

from penumbra.renderer import ensure_variant

ensure_variant()
from penumbra import shaders as sh  # noqa: E402
from penumbra.integrators.path.shader_edges import (ShaderEdgeCoverageWarning, shader_surfaces,  # noqa: E402
                                                    warn_uncovered)
from tests.shaders.test_gradients import derivatives_and_fd, make, rel_l2  # noqa: E402

T = mi.ScalarTransform4f()


def card_scene(S, size, floor, rfilter="box", mirror=False):
    """The shader ``S`` on a diffuse 2 x 1 card standing at z = -1 behind a 6 x 6 floor, seen by a
    camera looking down at the floor (the card is above the view); ``mirror``: a smooth conductor
    beside the floor as well."""
    film = {"type": "hdrfilm", "width": size, "height": size, "rfilter": {"type": rfilter}, "pixel_format": "rgb"}
    scene = {"type": "scene",
             "sensor": {"type": "perspective", "fov": 30, "film": film,
                        "to_world": T.look_at(origin=[0, 1.0, 2.0], target=[0, -0.25, 0], up=[0, 1, 0])},
             "card": {"type": "rectangle", "to_world": T.translate([0, 0.6, -1.0]) @ T.scale([1.0, 0.5, 1.0]),
                      "bsdf": {"type": "diffuse", "reflectance": sh.shader_texture(S)}},
             "floor": {"type": "rectangle", "to_world": T.rotate([1, 0, 0], -90) @ T.scale(3.0)}}
    if mirror:
        scene["mirror"] = {"type": "rectangle", "bsdf": {"type": "conductor"},
                           "to_world": T.translate([2.0, 0.5, 0]) @ T.rotate([0, 1, 0], -90)}
    if floor == "glossy":
        scene["floor"]["bsdf"] = {"type": "roughconductor", "alpha": 0.2}
        scene["sky"] = {"type": "constant", "radiance": 1.0}
    else:
        scene["floor"]["bsdf"] = {"type": "diffuse", "reflectance": 0.8}
        scene["sun"] = {"type": "directional", "direction": [0, 0, -1], "irradiance": 3.0}
    return mi.load_dict(scene, optimize=False)


def scatter_check(case, floor, size, spp, ref_spp, integrator="edge_sampling", rfilter="box", max_depth=3, h=1e-2):
    """(forward derivative image, FD image, reverse-mode gradient of Σ w·image, the same from FD, w) of the
    card's shader parameter along the case's direction; asserts that no coverage warning is raised."""
    S, name, d, _ = make(case)
    scene = card_scene(S, size, floor, rfilter)
    mp = mi.traverse(scene)
    key = f"card.bsdf.reflectance.{name}"
    props = {"type": integrator, "max_depth": max_depth}
    w = np.random.default_rng(2).uniform(0.5, 1.5, (size, size, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShaderEdgeCoverageWarning)
        g, ref, rev, ref_w = derivatives_and_fd(scene, mp, key, d, props, spp, ref_spp, h, w)
    return g, ref, rev, ref_w, w


def check(case, floor, size, spp, ref_spp, integrator="edge_sampling", rfilter="box", max_depth=3, tol=0.25):
    g, ref, rev, ref_w, w = scatter_check(case, floor, size, spp, ref_spp, integrator, rfilter, max_depth)
    assert np.abs(ref).sum() > 1.0  # the edges seen through the floor move
    assert rel_l2(g, ref) < tol, (case, floor, integrator, rel_l2(g, ref))
    assert abs(g.sum() - ref.sum()) < 0.05 * np.abs(ref).sum(), (g.sum(), ref.sum())
    assert abs(rev - ref_w) < 0.05 * np.abs(ref * w).sum(), (rev, ref_w)


def test_shader_edges_in_a_glossy_reflection():
    """A rough conductor floor reflecting the card's threshold edge, edge_sampling, forward and reverse,
    max_depth 4 (the card also lit by the floor: walks of two vertices, the jump at two depths)."""
    check("threshold", "glossy", 8, 64, 16384, max_depth=4)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["threshold", "stripes"])
@pytest.mark.parametrize("floor", ["glossy", "diffuse"])
@pytest.mark.parametrize("integrator", ["edge_sampling", "warped_area"])
@pytest.mark.parametrize("max_depth", [3, -1])
def test_shader_edges_through_glossy_or_diffuse_scattering_slow(case, floor, integrator, max_depth):
    """Both floors, threshold and stripes, one bounce (max_depth 3) and unbounded; warped_area needs a
    continuous pixel filter."""
    check(case, floor, 12, 64, 32768, integrator, "gaussian" if integrator == "warped_area" else "box", max_depth)


def test_coverage_warning_only_for_scattering_seen_through_a_mirror():
    """Without specular BSDFs every path to the card is covered at any max_depth; with a mirror in the
    scene, paths camera → mirror → floor → card (max_depth >= 4) are not, and warn."""
    S, name, _, _ = make("threshold")
    plain = card_scene(S, 4, "diffuse")
    mirrored = card_scene(S, 4, "diffuse", mirror=True)
    for scene in (plain, mirrored):
        mp = mi.traverse(scene)
        key = f"card.bsdf.reflectance.{name}"
        dr.enable_grad(mp[key])
        mp.update()
        try:
            surfaces = shader_surfaces(scene)
            assert [shape.id() for shape, _ in surfaces] == ["card"]
            for depth in (2, 3, 4, -1):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    warn_uncovered(mi.load_dict({"type": "edge_sampling", "max_depth": depth}), scene, surfaces)
                got = [str(c.message) for c in caught if issubclass(c.category, ShaderEdgeCoverageWarning)]
                assert bool(got) == (scene is mirrored and depth in (4, -1)), (depth, got)
                if got:
                    assert "seen in a smooth mirror or through glass" in got[0]
        finally:
            dr.disable_grad(mp[key])


def test_shapes_without_a_one_to_one_uv_map_warn_at_max_depth_3():
    """A cube's six faces share the uv square: the bounce term cannot place its edges, so max_depth 3
    warns for it; rectangles, disks and spheres map uv one-to-one."""
    from penumbra.integrators.path.shader_scatter import supports_parameterization
    shapes = {t: mi.load_dict({"type": t, "id": t}) for t in ("cube", "rectangle", "disk", "sphere")}
    assert {t: supports_parameterization(s) for t, s in shapes.items()} == {
        "cube": False, "rectangle": True, "disk": True, "sphere": True}
    integrator = mi.load_dict({"type": "edge_sampling", "max_depth": 3})
    with pytest.warns(ShaderEdgeCoverageWarning, match=r"on \['cube'\] \(no one-to-one uv parameterization\)"):
        warn_uncovered(integrator, mi.load_dict({"type": "scene"}), [(shapes["cube"], None), (shapes["rectangle"], None)])
